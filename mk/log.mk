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
