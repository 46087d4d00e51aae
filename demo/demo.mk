# `make demo`: build the leaking example and run it under leakscope.
DEMO_BIN := $(BUILD)/demo/leaky_server

$(DEMO_BIN): demo/leaky_server.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(WARN) -O1 -g -o $@ $<

.PHONY: demo
demo: $(LIB) $(TOOL) $(DEMO_BIN)
	@mkdir -p $(BUILD)/demo/dumps
	@rm -f $(BUILD)/demo/dumps/*.lsd
	$(TOOL) run --out $(BUILD)/demo/dumps --top 5 -- $(DEMO_BIN)
