# leakscope: `make` builds build/libleakscope.so and build/leakscope;
# `make demo` runs a leaking example under it; `make test` runs the test suite.
# Missing Debian packages are installed first (scripts/install-deps.sh).

CC       ?= cc
CXX      ?= c++
BUILD    := build
WARN     := -Wall -Wextra -Werror
CFLAGS   ?= -O2 -g
# Frame pointers in leakscope's own code: the stack walk starts in it (src/unwind.c).
ALL_CFLAGS := -std=c11 $(WARN) $(CFLAGS) -Isrc -fPIC -fvisibility=hidden -fno-omit-frame-pointer -pthread

# Engine: linked into the preloaded library (and the unit tests).
ENGINE_SRCS := src/arena.c src/sites.c src/live.c src/regions.c src/modules.c src/options.c \
               src/engine.c src/dump_write.c src/sysmon.c src/util.c \
               src/memmap.c src/world.c src/scan.c src/leakcheck.c src/suppress.c \
               src/procfs.c src/timeline.c src/rss.c src/insight.c src/unwind.c
# Reader side: linked into the tool (and the tests).
READER_SRCS := src/dump_read.c src/symbolize.c src/report.c src/rssreport.c src/leaks.c src/pprof.c src/util.c src/options.c src/suppress.c \
               src/rss.c
TOOL_SRCS   := tools/leakscope.c tools/cmd_run.c tools/cmd_report.c tools/cmd_top.c tools/cmd_export.c \
               tools/cmd_diff.c tools/cmd_html.c

ENGINE_OBJS := $(ENGINE_SRCS:%.c=$(BUILD)/obj/%.o)
READER_OBJS := $(READER_SRCS:%.c=$(BUILD)/obj/%.o)
TOOL_OBJS   := $(TOOL_SRCS:%.c=$(BUILD)/obj/%.o)
PRELOAD_OBJ := $(BUILD)/obj/preload/preload.o

LIB  := $(BUILD)/libleakscope.so
TOOL := $(BUILD)/leakscope
DEPS_STAMP := $(BUILD)/.deps-build

.PHONY: all deps test demo clean install

PREFIX  ?= /usr/local
DESTDIR ?=

all: $(LIB) $(TOOL)

# Install missing packages once per build directory (the stamp), or whenever asked.
$(DEPS_STAMP):
	@sh scripts/install-deps.sh build
	@mkdir -p $(BUILD) && touch $@
deps: ; @sh scripts/install-deps.sh build

$(BUILD)/obj/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

# The HTML report's template, as a C string literal (one quoted line per line of the file).
$(BUILD)/obj/tools/report_template.inc: tools/report_template.html
	@mkdir -p $(dir $@)
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $< > $@
$(BUILD)/obj/tools/cmd_html.o: $(BUILD)/obj/tools/report_template.inc
$(BUILD)/obj/tools/cmd_html.o: ALL_CFLAGS += -I$(BUILD)/obj/tools

$(LIB): $(ENGINE_OBJS) $(PRELOAD_OBJ)
	$(CC) $(LDFLAGS) -shared -o $@ $^ -Wl,-z,defs -Wl,--as-needed -lunwind -lz -lm -ldl -pthread

$(TOOL): $(TOOL_OBJS) $(READER_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ -ldw -lelf -lz -lstdc++ -pthread

include tests/tests.mk
include demo/demo.mk
include bench/bench.mk
include fuzz/fuzz.mk

# leakscope finds the library in ../lib/leakscope/ relative to its own binary.
install: $(LIB) $(TOOL)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/leakscope
	install -m 755 $(TOOL) $(DESTDIR)$(PREFIX)/bin/leakscope
	install -m 755 $(LIB) $(DESTDIR)$(PREFIX)/lib/leakscope/libleakscope.so

# `make test-asan`: the engine's unit suites and every tool command under AddressSanitizer and
# UBSan (build-asan/).  The preloaded library itself cannot run under ASan, whose runtime must be
# loaded first; the commands read dumps written by the normal build.
SANITIZE := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
.PHONY: test-asan
test-asan: all $(PROGS)
	$(MAKE) BUILD=build-asan CFLAGS="$(SANITIZE)" LDFLAGS="$(SANITIZE)" build-asan/leakscope build-asan/tests/leakscope-tests
	ASAN_OPTIONS=detect_leaks=1 build-asan/tests/leakscope-tests --filter '@(sites|live|regions|options|dump|growth|decomposition)/*'
	ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		sh tests/check-tools.sh "" build-asan/leakscope $(LIB) $(BUILD)/tests/progs

clean:
	rm -rf $(BUILD) build-asan

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
