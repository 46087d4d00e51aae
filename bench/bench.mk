# Benchmarks (never part of `make test`).  `make bench-scan`: the reachability scan's stop-the-world
# pause and throughput, scanning a fork()ed copy and scanning in place, at 10k, 100k and 1M blocks
# (BENCH_SCAN_SIZES), on a random graph held through one table and on one list in a random order.
BENCH_SCAN_SIZES ?= 10000 100000 1000000

$(BUILD)/bench/scan_heap: bench/scan_heap.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(WARN) -O2 -g -o $@ $<

.PHONY: bench-scan
bench-scan: $(TEST_DEPS_STAMP) $(LIB) $(TOOL) $(BUILD)/bench/scan_heap
	python3 bench/scan.py $(BUILD) $(BENCH_SCAN_SIZES)

# `make bench-symbolize`: symbolizing a dump of 16,384 distinct stacks (report, pprof, flame).
$(BUILD)/bench/many_stacks: bench/many_stacks.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(WARN) -O1 -g -o $@ $<

.PHONY: bench-symbolize
bench-symbolize: $(LIB) $(TOOL) $(BUILD)/bench/many_stacks
	@rm -rf $(BUILD)/bench/stacks && mkdir -p $(BUILD)/bench/stacks
	@LD_PRELOAD=$(abspath $(LIB)) LEAKSCOPE_OUT=$(BUILD)/bench/stacks LEAKSCOPE_QUIET=1 LEAKSCOPE_LEAK_CHECK=0 \
		$(BUILD)/bench/many_stacks 14
	@dump=$$(ls $(BUILD)/bench/stacks/leakscope.*.lsd); \
	echo "sites in the dump: $$($(TOOL) report --format json --top 1 $$dump | sed -n 's/.*"sites": \([0-9]*\)}.*/\1/p')"; \
	for cmd in "report --top 0" "flame" "pprof -o $(BUILD)/bench/stacks/p.pb.gz"; do \
		start=$$(date +%s.%N); $(TOOL) $$cmd $$dump > /dev/null; end=$$(date +%s.%N); \
		echo "leakscope $$cmd: $$(awk "BEGIN { printf \"%.2f\", $$end - $$start }") s"; done

# `make bench`: every workload (bench/compare.py) plain and under leakscope, heaptrack, LeakSanitizer and,
# on the small input, valgrind memcheck, interleaved; BENCH_ROUNDS (3), BENCH_ONLY=stress,perl to pick.
# `make bench-scaling` adds how the cost grows with stack depth, threads and live blocks (BENCH_FULL=1: 10M).
# stress-fp: the same program built with frame pointers, as Fedora and Ubuntu 24.04 build theirs.
$(BUILD)/bench/stress: bench/stress.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(WARN) -O2 -g -pthread -o $@ $<
$(BUILD)/bench/stress-fp: bench/stress.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(WARN) -O2 -g -fno-omit-frame-pointer -pthread -o $@ $<

.PHONY: bench bench-scaling
$(BUILD)/.deps-bench:
	@sh scripts/install-deps.sh bench
	@mkdir -p $(BUILD) && touch $@
bench: $(BUILD)/.deps-bench $(LIB) $(TOOL) $(BUILD)/bench/stress $(BUILD)/bench/stress-fp
	python3 bench/compare.py $(BUILD)
bench-scaling: $(BUILD)/.deps-bench $(LIB) $(TOOL) $(BUILD)/bench/stress
	python3 bench/compare.py $(BUILD) --scaling --only none
