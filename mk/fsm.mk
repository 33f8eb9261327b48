# fsm.mk: src/fsm's extra programs: the benchmark (`make bench`) and the
# libFuzzer target for the command decoder (`make fuzz`).
#
# The unit tests (tests/unit/test_fsm*.c, golden files under
# tests/golden/fsm/) are discovered by the root Makefile.

FSM_BENCH := $(BUILD)/bench/fsm-bench
FSM_FUZZ  := $(BUILD)/fuzz/fuzz_fsm_command
BINS      += $(FSM_BENCH)
BENCHES   += bench-fsm
FUZZERS   += fuzz-fsm

$(FSM_BENCH): bench/fsm_bench.c $(call mod_libs,fsm)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(call mod_libs,fsm) $(LDFLAGS) $(LDLIBS)

# Built from source with clang so the whole FSM is instrumented.
$(FSM_FUZZ): tests/fuzz/fuzz_fsm_command.c $(wildcard src/fsm/*.c src/fsm/*.h) \
		$(wildcard src/base/*.c src/base/*.h)
	@mkdir -p $(@D)
	clang -std=c11 -D_GNU_SOURCE -Isrc -g -O1 \
	    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	    -o $@ $< $(wildcard src/fsm/*.c src/base/*.c) \
	    -lmsgpackc -lcjson -lsodium -lm

.PHONY: bench-fsm fuzz-fsm
bench-fsm: $(FSM_BENCH)
	@$(FSM_BENCH)

# New inputs go to a scratch corpus in the build tree; the seed corpus in
# tests/fuzz/corpus/fsm_command/ stays as committed.
fuzz-fsm: $(FSM_FUZZ)
	@mkdir -p $(BUILD)/fuzz/corpus-fsm
	$(FSM_FUZZ) -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	    -timeout=10 $(BUILD)/fuzz/corpus-fsm tests/fuzz/corpus/fsm_command
