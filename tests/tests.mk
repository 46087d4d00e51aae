# The shared scenarios (../shared/scenarios, read-only), built with the flags
# their own Makefile uses, into our build directory.
SCENARIO_DIR   := $(abspath ../shared/scenarios)
SCENARIO_NAMES := retained_after_free cleared_table blocked_producer madv_free_arena timer_accumulation \
                  interior_retention resources_in_loop unstopped_ticker unreachable_cycle plain_leak
SCENARIOS      := $(if $(wildcard $(SCENARIO_DIR)/plain_leak.c),$(SCENARIO_NAMES:%=$(BUILD)/scenarios/%))

$(BUILD)/scenarios/%: $(SCENARIO_DIR)/%.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) -g -O0 -fno-omit-frame-pointer -pthread -Wall -Wextra -o $@ $<

# `make test`: one Criterion binary with every suite, plus the small programs
# the end-to-end suites run under the preload.

TEST_BIN   := $(BUILD)/tests/leakscope-tests
TEST_SRCS  := tests/helpers.c tests/test_engine.c tests/test_dump.c tests/test_preload.c \
              tests/test_tool.c tests/test_real.c tests/test_leaks.c tests/test_rss.c tests/test_export.c tests/test_reliability.c \
              tests/test_sample.c tests/test_unwind.c
TEST_OBJS  := $(TEST_SRCS:%.c=$(BUILD)/obj/%.o)
TEST_CFLAGS := -std=c11 $(WARN) -O1 -g -Isrc -Itests -pthread -DSCENARIO_DIR='"$(SCENARIO_DIR)"' \
               -DLEAKSCOPE_BUILD_DIR='"$(abspath $(BUILD))"' -DLEAKSCOPE_SOURCE_DIR='"$(CURDIR)"'
PROG_NAMES := widgets heap_calls mappings threads forker snapshot leaks blocked own_handler crasher hostile grow \
              realign big_frame sigmask many_returns
PROGS      := $(PROG_NAMES:%=$(BUILD)/tests/progs/%) $(BUILD)/tests/progs/cxx_objects \
              $(BUILD)/tests/progs/widgets-nopie $(BUILD)/tests/progs/widgets-stripped \
              $(BUILD)/tests/progs/debuglink/widgets $(BUILD)/tests/progs/unload \
              $(BUILD)/tests/progs/handler_alloc $(BUILD)/tests/progs/slow_mallinfo.so
TEST_DEPS_STAMP := $(BUILD)/.deps-test

$(TEST_DEPS_STAMP):
	@sh scripts/install-deps.sh test
	@mkdir -p $(BUILD) && touch $@

$(BUILD)/obj/tests/%.o: tests/%.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -MMD -MP -c -o $@ $<

# Programs are built as users build theirs: -O1 -g, no frame pointers forced.
$(BUILD)/tests/progs/%: tests/progs/%.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(WARN) -O1 -g -pthread -o $@ $<

$(BUILD)/tests/progs/cxx_objects: tests/progs/cxx_objects.cc | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 $(WARN) -O1 -g -pthread -o $@ $<

$(TEST_BIN): $(TEST_OBJS) $(sort $(ENGINE_OBJS) $(READER_OBJS))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lcriterion -lunwind -ldw -lelf -lz -lm -lstdc++ -pthread

.PHONY: test
test: $(TEST_DEPS_STAMP) $(LIB) $(TOOL) $(PROGS) $(SCENARIOS) $(BUILD)/bench/stress $(BUILD)/bench/stress-fp $(TEST_BIN)
	$(TEST_BIN) $(TEST_ARGS)

# `make test-real`: only the suites that run real programs (python3, perl, sqlite3, gcc, git, C++ threads,
# fork and exec) and hostile ones (own signal handlers, crashes, closed descriptors, _exit, 1,000 threads,
# vfork, ulimit -v, no /proc, a full disk), with and without the preload.  `make test` runs them too.
.PHONY: test-real
test-real:
	$(MAKE) test TEST_ARGS="--filter '@(real|reliability)/*'"

# `make test-valgrind`: every tool command under valgrind memcheck; an error or a definite leak fails.
.PHONY: test-valgrind
test-valgrind: $(TEST_DEPS_STAMP) $(LIB) $(TOOL) $(PROGS)
	sh tests/check-tools.sh "valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=9" \
		$(TOOL) $(LIB) $(BUILD)/tests/progs

# Symbolization cases: a non-PIE executable, a stripped one (module+offset), and one whose
# debug info lives in a separate file found through .gnu_debuglink.
# Built with frame pointers, so leakscope walks their stacks (tests/test_unwind.c).
$(BUILD)/tests/progs/unload $(BUILD)/tests/progs/handler_alloc: $(BUILD)/tests/progs/%: tests/progs/%.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(WARN) -O1 -g -fno-omit-frame-pointer -o $@ $< -ldl

$(BUILD)/tests/progs/slow_mallinfo.so: tests/progs/slow_mallinfo.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(WARN) -O1 -g -fPIC -shared -o $@ $< -ldl

$(BUILD)/tests/progs/widgets-nopie: tests/progs/widgets.c | $(DEPS_STAMP)
	$(CC) -std=c11 $(WARN) -O1 -g -fno-pie -no-pie -o $@ $<

$(BUILD)/tests/progs/widgets-stripped: $(BUILD)/tests/progs/widgets
	strip --strip-all -o $@ $<

$(BUILD)/tests/progs/debuglink/widgets: $(BUILD)/tests/progs/widgets
	@mkdir -p $(dir $@)
	objcopy --only-keep-debug $< $(dir $@)widgets.debug
	strip --strip-debug -o $@ $<
	objcopy --add-gnu-debuglink=$(dir $@)widgets.debug $@
