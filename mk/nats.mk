# nats.mk: the NATS data plane's integration tests: real pmesh nodes on
# loopback with the real nats-servers they supervise, observed through the
# monitoring endpoints and real messages (tests/integration/nats/natsprobe,
# a raw NATS protocol + HTTP probe). Ports 25000-25999.
#
# The supervisor's unit tests (tests/unit/test_node_natsd.c) are discovered
# by the root Makefile.

NATS_PROBE := $(BUILD)/tests/natsprobe
NATS_IT := grow super
NATS_IT_CHECKS := $(addprefix check-nats-,$(NATS_IT))
BINS += $(NATS_PROBE)
CHECKS += $(NATS_IT_CHECKS)

$(NATS_PROBE): tests/integration/nats/natsprobe.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LDFLAGS) -lcjson

.PHONY: $(NATS_IT_CHECKS)
# Each bounded at 150 s; together they take about two minutes.
$(NATS_IT_CHECKS): check-nats-%: $(BUILD)/pmesh $(NATS_PROBE)
	@PMESH=$(BUILD)/pmesh NATSPROBE=$(NATS_PROBE) \
	    $(RUN) integration/nats_$* 150 tests/integration/nats/t_$*.sh
