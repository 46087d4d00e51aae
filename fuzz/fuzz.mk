# `make fuzz`: fuzz the dump reader with libFuzzer for FUZZ_SECONDS (60), seeded with real dumps
# of the test programs.  Crashes land in build/fuzz/ as crash-*; fix them and make the input a case
# of the `dump` suite (tests/test_dump.c), so `make test` keeps it fixed.
FUZZ_SECONDS ?= 60
FUZZ_DIR := $(BUILD)/fuzz
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -Isrc -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined

$(FUZZ_DIR)/dump_fuzz: fuzz/dump_fuzz.c src/dump_read.c src/leaks.c src/suppress.c src/symbolize.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -o $@ $^ -ldw -lelf -lz -lstdc++

.PHONY: fuzz
fuzz: $(FUZZ_DIR)/dump_fuzz $(LIB) $(PROGS)
	@mkdir -p $(FUZZ_DIR)/corpus
	@for prog in "widgets" "leaks tree" "mappings" "threads"; do \
		LD_PRELOAD=$(abspath $(LIB)) LEAKSCOPE_OUT=$(FUZZ_DIR)/corpus LEAKSCOPE_QUIET=1 LEAKSCOPE_INTERVAL=0.01 \
			$(BUILD)/tests/progs/$$prog > /dev/null; done
	cd $(FUZZ_DIR) && ./dump_fuzz -max_total_time=$(FUZZ_SECONDS) -max_len=65536 corpus
