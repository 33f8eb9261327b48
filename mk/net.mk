# mk/net.mk: src/net's fuzz targets (libFuzzer, `make fuzz`) and the check
# that replays their committed corpora through the decoders with the normal
# compiler (`make check`; under `make asan` with the sanitizers).

NET_FUZZ_TARGETS := body raft handshake
NET_FUZZ_CC      ?= clang
NET_FUZZ_FLAGS   := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
                    -fno-omit-frame-pointer -g -O1
# The decoders need only these sources (no libev, no sockets).
NET_FUZZ_SRCS    := src/net/wire.c src/net/seal.c src/base/err.c
NET_FUZZ_HDRS    := src/net/wire.h src/net/seal.h src/net/net.h src/raft/raft.h

CHECKS  += check-net-fuzz-corpus
FUZZERS += $(addprefix fuzz-net-,$(NET_FUZZ_TARGETS))
.PHONY: check-net-fuzz-corpus $(addprefix fuzz-net-,$(NET_FUZZ_TARGETS))

# Replay binaries: target + fuzz_net_replay.c main, built like the tests.
$(BUILD)/fuzz/replay_net_%: tests/fuzz/fuzz_net_%.c tests/fuzz/fuzz_net_replay.c \
                            $(call mod_libs,net)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< tests/fuzz/fuzz_net_replay.c \
	    $(call mod_libs,net) $(LDFLAGS) $(LDLIBS)

check-net-fuzz-corpus: $(addprefix $(BUILD)/fuzz/replay_net_,$(NET_FUZZ_TARGETS))
	@for t in $(NET_FUZZ_TARGETS); do \
	    $(RUN) net/replay-$$t 60 $(BUILD)/fuzz/replay_net_$$t tests/fuzz/corpus/net_$$t; \
	done

# libFuzzer binaries and runs (FUZZ_SECONDS each; new inputs go to a
# scratch corpus in $(BUILD), never into the committed one).
$(BUILD)/fuzz/fuzz_net_%: tests/fuzz/fuzz_net_%.c $(NET_FUZZ_SRCS) $(NET_FUZZ_HDRS)
	@mkdir -p $(@D)
	$(NET_FUZZ_CC) -D_GNU_SOURCE -Isrc -std=c11 -Wall -Wextra -Werror \
	    $(NET_FUZZ_FLAGS) -o $@ $< $(NET_FUZZ_SRCS) -lmsgpackc -lsodium

# (Phony targets get no pattern rules, hence one rule per target.)
define net_fuzz_run
fuzz-net-$(1): $(BUILD)/fuzz/fuzz_net_$(1)
	@mkdir -p $(BUILD)/fuzz/net_$(1)-corpus
	$(BUILD)/fuzz/fuzz_net_$(1) -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	    -rss_limit_mb=2048 -artifact_prefix=$(BUILD)/fuzz/net_$(1)- \
	    $(BUILD)/fuzz/net_$(1)-corpus tests/fuzz/corpus/net_$(1)
endef
$(foreach t,$(NET_FUZZ_TARGETS),$(eval $(call net_fuzz_run,$(t))))
