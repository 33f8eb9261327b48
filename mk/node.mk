# node.mk: the node's multi-process integration tests and `make demo`.
#
# Each test runs real $(BUILD)/pmesh processes on loopback in a temporary
# directory and kills every process it started, also on failure.

NODE_IT := grow kill_leader two_voters replica membership join_retry leave_stall \
           client hostile compact_crash
NODE_IT_CHECKS := $(addprefix check-node-,$(NODE_IT))
CHECKS += $(NODE_IT_CHECKS)

# A small driver of src/node (setup, start, raw requests) for debugging;
# built by `make` so that it keeps compiling.
BINS += $(BUILD)/nodectl
$(BUILD)/nodectl: tests/integration/node/nodectl.c $(LIBFILES)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LIBFILES) $(LDFLAGS) $(LDLIBS)

.PHONY: $(NODE_IT_CHECKS) demo
$(NODE_IT_CHECKS): check-node-%: $(BUILD)/pmesh
	@PMESH=$(BUILD)/pmesh $(RUN) integration/node_$* 120 tests/integration/node/t_$*.sh

demo:
	@$(MAKE) --no-print-directory -j2 $(BUILD)/pmesh
	@scripts/demo.sh $(BUILD)/pmesh
