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
# Built like mk/chaos.mk's targets: libFuzzer with clang for `make
# fuzz-log-journal`, and a replay build of the committed corpus for `make
# check` (under the sanitizers in `make asan`).
FUZZ_LOG_FLAGS := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
                  -fno-omit-frame-pointer -g -O1
FUZZERS += fuzz-log-journal
CHECKS  += check-log-journal-corpus
.PHONY: fuzz-log-journal check-log-journal-corpus

$(BUILD)/fuzz/fuzz_log_journal: tests/fuzz/fuzz_log_journal.c $(wildcard src/log/*.c src/log/*.h src/base/*.c)
	@mkdir -p $(@D)
	clang -D_GNU_SOURCE -Isrc -std=c11 $(FUZZ_LOG_FLAGS) -o $@ $< \
	    $(wildcard src/log/*.c) $(wildcard src/base/*.c) -llmdb -lisal -lsodium

$(BUILD)/fuzz/replay_log_journal: tests/fuzz/fuzz_log_journal.c tests/fuzz/fuzz_net_replay.c $(LOG_LIBS)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< tests/fuzz/fuzz_net_replay.c \
	    $(LOG_LIBS) $(LDFLAGS) $(LDLIBS)

fuzz-log-journal: $(BUILD)/fuzz/fuzz_log_journal
	@mkdir -p $(BUILD)/fuzz/log_journal-corpus
	$(BUILD)/fuzz/fuzz_log_journal -max_total_time=$(FUZZ_SECONDS) \
	    -max_len=20000 -rss_limit_mb=2048 -timeout=10 \
	    -artifact_prefix=$(BUILD)/fuzz/log_journal- \
	    $(BUILD)/fuzz/log_journal-corpus tests/fuzz/corpus/log_journal

check-log-journal-corpus: $(BUILD)/fuzz/replay_log_journal
	@$(RUN) log/replay-journal 60 $(BUILD)/fuzz/replay_log_journal tests/fuzz/corpus/log_journal
