# log.mk: src/log's extra programs: the kill -9 crash test (run by
# `make check`) and the store benchmark (run by `make bench`).

LOG_LIBS  := $(BUILD)/liblog.a $(BUILD)/libbase.a
LOG_CRASH := $(BUILD)/tests/log-crash
LOG_BENCH := $(BUILD)/bench/log-bench
BINS      += $(LOG_CRASH) $(LOG_BENCH)
CHECKS    += check-log-crash
BENCHES   += bench-log

$(LOG_CRASH): tests/log/crash.c tests/log/util.h $(LOG_LIBS)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -Itests $(CFLAGS) -o $@ $< $(LOG_LIBS) $(LDFLAGS) $(LDLIBS)

$(LOG_BENCH): bench/log.c $(LOG_LIBS)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LOG_LIBS) $(LDFLAGS) $(LDLIBS)

.PHONY: check-log-crash bench-log
# At least 200 SIGKILLs at random moments (the seed is printed in the log).
check-log-crash: $(LOG_CRASH)
	@$(RUN) log/crash 120 $(LOG_CRASH) -k 250

bench-log: $(LOG_BENCH)
	@$(LOG_BENCH)

# --- fuzz target: the journal (src/log/journal.c) -----------------------------
# The Makefile's fuzz_target builds it: `make fuzz-log-journal` runs it, and
# `make check` replays the committed corpus.
FUZZ_SRCS_log_journal   := $(wildcard src/log/*.c src/base/*.c)
FUZZ_LIBS_log_journal   := -llmdb -lisal -lsodium
REPLAY_MOD_log_journal  := log
FUZZ_MAXLEN_log_journal := 20000
FUZZERS += fuzz-log-journal
CHECKS  += check-log-journal-corpus
.PHONY: fuzz-log-journal check-log-journal-corpus
$(eval $(call fuzz_target,log_journal))

check-log-journal-corpus: $(BUILD)/fuzz/replay_log_journal
	@$(RUN) log/replay-journal 60 $(BUILD)/fuzz/replay_log_journal tests/fuzz/corpus/log_journal
