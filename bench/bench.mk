# Benchmarks (never part of `make test`).  `make bench-scan`: the reachability scan's stop-the-world
# pause and throughput, scanning a fork()ed copy and scanning in place, at 10k, 100k and 1M blocks.
BENCH_SCAN_SIZES ?= 10000 100000 1000000

$(BUILD)/bench/scan_heap: bench/scan_heap.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(WARN) -O2 -g -o $@ $<

.PHONY: bench-scan
bench-scan: $(TEST_DEPS_STAMP) $(LIB) $(TOOL) $(BUILD)/bench/scan_heap
	python3 bench/scan.py $(BUILD) $(BENCH_SCAN_SIZES)
