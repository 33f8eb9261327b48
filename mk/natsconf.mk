# natsconf.mk: the nats.conf generator's integration test against REAL
# stock nats-server processes (eight canonical mesh shapes) and its bench.
#
# The unit tests (tests/unit/test_fsm_natsconf.c, golden files under
# tests/golden/natsconf/) are discovered by the root Makefile.

NATSCONF_IT := $(BUILD)/tests/natsconf_it
BINS += $(NATSCONF_IT)
CHECKS += check-natsconf-it
BENCHES += bench-natsconf

$(NATSCONF_IT): tests/integration/natsconf/natsconf_it.c $(call mod_libs,fsm)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(call mod_libs,fsm) $(LDFLAGS) $(LDLIBS)

.PHONY: check-natsconf-it bench-natsconf
# Every shape in sequence; about a minute, bounded at 200 s.
check-natsconf-it: $(NATSCONF_IT)
	@$(RUN) integration/natsconf 200 $(NATSCONF_IT)

# Time rendering every member's config of a 1,000-member mesh.
bench-natsconf: $(BUILD)/tests/test_fsm_natsconf
	@PMESH_NATSCONF_BENCH=1 $(BUILD)/tests/test_fsm_natsconf
