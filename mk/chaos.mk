# chaos.mk: reliability under faults (docs/reliability.md).
#
#  - the linearizability checker (tests/chaos/lincheck.c) and its test;
#  - the chaos harness (tests/chaos/chaos.sh): real pmesh processes in
#    network namespaces with a seeded nemesis; a short run in `make check`,
#    the full 20-schedule run in `make chaos`;
#  - disk-fault tests (tests/disk) and security tests (tests/security);
#  - fuzz targets for JSON values and identity.json (`make fuzz`), whose
#    committed corpora `make check` replays.

CHAOS_LINCHECK := $(BUILD)/tests/chaos-lincheck
CHAOS_LC_TEST  := $(BUILD)/tests/chaos-lincheck-test
BINS += $(CHAOS_LINCHECK) $(CHAOS_LC_TEST)

$(CHAOS_LINCHECK): tests/chaos/lincheck_main.c tests/chaos/lincheck.c tests/chaos/lincheck.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -Itests $(CFLAGS) -o $@ tests/chaos/lincheck_main.c \
	    tests/chaos/lincheck.c $(LDFLAGS)

$(CHAOS_LC_TEST): tests/chaos/test_lincheck.c tests/chaos/lincheck.c tests/chaos/lincheck.h \
                  tests/chaos/histories/seed19-3nodes.hist
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -Itests $(CFLAGS) -o $@ tests/chaos/test_lincheck.c \
	    tests/chaos/lincheck.c $(LDFLAGS) -lcmocka

.PHONY: check-chaos-lincheck check-chaos-short check-chaos-cleanup chaos
CHECKS += check-chaos-lincheck check-chaos-short check-chaos-cleanup

check-chaos-lincheck: $(CHAOS_LC_TEST)
	@$(RUN) chaos/lincheck 60 $(CHAOS_LC_TEST)

# Two schedules (3 and 5 nodes) of 40 s each, well under 3 minutes in all.
# PMESH_BG_FLUSH_MIN=1: every write of a leader has its flush in the
# background (src/node/run.c), the path load takes, under the faults.
CHAOS_SHORT_SECS := 40
check-chaos-short: $(BUILD)/pmesh $(CHAOS_LINCHECK)
	@PMESH_BG_FLUSH_MIN=1 $(RUN) chaos/short 240 tests/chaos/run-many.sh --pmesh $(BUILD)/pmesh \
	    --lincheck $(CHAOS_LINCHECK) --seeds "101 102" \
	    --duration $(CHAOS_SHORT_SECS) --out $(BUILD)/chaos-short

# The harness leaves no namespace, process or directory behind when its
# setup fails or when it is stopped mid-run.
check-chaos-cleanup: $(BUILD)/pmesh $(CHAOS_LINCHECK)
	@$(RUN) chaos/cleanup 90 tests/chaos/t_cleanup.sh $(BUILD)/pmesh $(CHAOS_LINCHECK)

# make chaos [CHAOS_SEEDS="1 2 ..."] [CHAOS_SECS=60]: odd seeds run 3
# nodes, even seeds 5; every failure prints the command that reruns it.
CHAOS_SEEDS ?= $(shell seq 1 20)
CHAOS_SECS  ?= 60
chaos:
	@$(MAKE) --no-print-directory -j2 $(BUILD)/pmesh $(CHAOS_LINCHECK)
	@tests/chaos/run-many.sh --pmesh $(BUILD)/pmesh --lincheck $(CHAOS_LINCHECK) \
	    --seeds "$(CHAOS_SEEDS)" --duration $(CHAOS_SECS) --out $(BUILD)/chaos-runs
	@echo "chaos: negative control: reads from local state (--stale-reads) must be caught"
	@if tests/chaos/chaos.sh --seed 7 --nodes 3 --duration 20 --pmesh $(BUILD)/pmesh \
	        --lincheck $(CHAOS_LINCHECK) --stale-reads >$(BUILD)/chaos-negative.log 2>&1; then \
	    echo "chaos: FAIL: stale reads were not detected"; exit 1; \
	elif grep -q 'NOT LINEARIZABLE' $(BUILD)/chaos-negative.log; then \
	    echo "chaos: negative control caught: $$(grep -c 'NOT linearizable' $(BUILD)/chaos-negative.log) key(s) not linearizable"; \
	else echo "chaos: FAIL: negative control failed for another reason:"; \
	    tail -n 5 $(BUILD)/chaos-negative.log; exit 1; fi

# --- fuzz targets: JSON values (fsm) and identity.json (node home) ---------
# Built by the Makefile's fuzz_target (libFuzzer build, replay build, run).
CHAOS_FUZZ_TARGETS := json_value identity
FUZZ_SRCS_json_value := $(wildcard src/fsm/*.c src/base/*.c)
FUZZ_LIBS_json_value := -lmsgpackc -lcjson -lsodium -lm
FUZZ_SRCS_identity   := src/node/home.c $(wildcard src/base/*.c)
FUZZ_LIBS_identity   := -lcjson -lsodium
REPLAY_MOD_json_value := fsm
REPLAY_MOD_identity   := node
FUZZ_MAXLEN_json_value := 70000
FUZZ_MAXLEN_identity   := 17000

FUZZERS += $(addprefix fuzz-,$(subst _,-,$(CHAOS_FUZZ_TARGETS)))
CHECKS  += check-chaos-fuzz-corpus
.PHONY: check-chaos-fuzz-corpus $(addprefix fuzz-,$(subst _,-,$(CHAOS_FUZZ_TARGETS)))

$(foreach t,$(CHAOS_FUZZ_TARGETS),$(eval $(call fuzz_target,$(t))))

# The FSM command decoder's corpus (mk/fsm.mk fuzzes it but has no replay
# in `make check`) is replayed here too.
$(BUILD)/fuzz/replay_fsm_command: tests/fuzz/fuzz_fsm_command.c tests/fuzz/fuzz_net_replay.c \
                                  $(call mod_libs,fsm)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< tests/fuzz/fuzz_net_replay.c \
	    $(call mod_libs,fsm) $(LDFLAGS) $(LDLIBS)

CHAOS_REPLAYS := $(CHAOS_FUZZ_TARGETS) fsm_command
check-chaos-fuzz-corpus: $(addprefix $(BUILD)/fuzz/replay_,$(CHAOS_REPLAYS))
	@for t in $(CHAOS_REPLAYS); do \
	    $(RUN) chaos/replay-$$t 60 $(BUILD)/fuzz/replay_$$t tests/fuzz/corpus/$$t; \
	done

# --- disk faults and security ------------------------------------------------
# KNOWN_FINDINGS names findings of tests/chaos/FINDINGS.md whose assertions
# print XFAIL instead of failing, so that `make check` stays green until the
# owner's fix lands; drop a name once its fix is in (the test then prints
# XPASS as a reminder if it is still listed).
CHAOS_KNOWN_FINDINGS ?=
DISK_TESTS     := full corrupt torn pages
SECURITY_TESTS := modes secrets unauth
CHECKS += $(addprefix check-disk-,$(DISK_TESTS)) $(addprefix check-security-,$(SECURITY_TESTS))
.PHONY: $(addprefix check-disk-,$(DISK_TESTS)) $(addprefix check-security-,$(SECURITY_TESTS))

$(addprefix check-disk-,$(DISK_TESTS)): check-disk-%: $(BUILD)/pmesh
	@PMESH=$(BUILD)/pmesh KNOWN_FINDINGS="$(CHAOS_KNOWN_FINDINGS)" \
	    $(RUN) disk/$* 120 tests/disk/t_$*.sh

$(addprefix check-security-,$(SECURITY_TESTS)): check-security-%: $(BUILD)/pmesh
	@PMESH=$(BUILD)/pmesh KNOWN_FINDINGS="$(CHAOS_KNOWN_FINDINGS)" \
	    $(RUN) security/$* 120 tests/security/t_$*.sh
