# pmesh build. `make` builds everything, `make test` is what CI runs.
#
# Layout: every directory src/<module>/ becomes build/lib<module>.a; every
# tests/unit/test_*.c becomes a test binary linked with all of them; the CLI
# (src/cli) becomes build/pmesh. Areas with extra binaries, checks or benches
# add them in their own fragment mk/<area>.mk (see mk/README), so the root
# Makefile stays small and areas do not edit each other's rules.

BUILD    ?= build
CC       ?= cc
OPT      ?= -O2
SAN      ?=
CPPFLAGS += -D_GNU_SOURCE -Isrc
CFLAGS   += -std=c11 $(OPT) -g -Wall -Wextra -Werror -MMD -MP $(SAN)
LDFLAGS  += $(SAN)
# Third-party libraries, from Debian 12 (scripts/deps.sh installs them).
LDLIBS   += -llmdb -lmsgpackc -lev -lcjson -lsodium -lisal -lnats -lm -lpthread

# Link order: a module may only depend on modules to its right.
MODULES  := node net fsm raft log base
LIBS      = $(foreach m,$(MODULES),$(wildcard $(BUILD)/lib$(m).a))
LIBFILES := $(foreach m,$(MODULES),$(if $(wildcard src/$(m)/*.c),$(BUILD)/lib$(m).a))

BINS        := $(BUILD)/pmesh
UNIT_SRCS   := $(wildcard tests/unit/test_*.c)
UNIT_TESTS  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
# Fragments append: BINS, CHECKS (targets run by `make check`), BENCHES.
CHECKS      :=
BENCHES     :=
FUZZERS     :=

.PHONY: all deps test check asan clean bench demo fuzz install
all: $(LIBFILES) $(BINS) $(UNIT_TESTS)

# --- modules ---------------------------------------------------------------
define module_rules
$(1)_SRCS := $$(wildcard src/$(1)/*.c)
$(1)_OBJS := $$(patsubst src/%.c,$(BUILD)/obj/%.o,$$($(1)_SRCS))
# Archives are made anew: `ar rcs` never drops a member, so a deleted or
# renamed source would otherwise live on inside the library.
$(BUILD)/lib$(1).a: $$($(1)_OBJS)
	@mkdir -p $$(@D)
	@rm -f $$@
	$$(AR) rcs $$@ $$^
endef
$(foreach m,$(MODULES),$(eval $(call module_rules,$(m))))

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<
$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/pmesh: $(LIBFILES) $(wildcard src/cli/*.c)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $(wildcard src/cli/*.c) $(LIBFILES) $(LDFLAGS) $(LDLIBS)

# Which modules each module links against (itself first). A unit test
# tests/unit/test_<module>[_<topic>].c links exactly these, so an area being
# edited does not break the build of an unrelated area's tests.
DEPS_base := base
DEPS_log  := log base
DEPS_raft := raft base
DEPS_fsm  := fsm base
DEPS_net  := net raft base
DEPS_node := node net fsm raft log base
mod_libs  = $(filter $(LIBFILES),$(foreach d,$(or $(DEPS_$(1)),$(MODULES)),$(BUILD)/lib$(d).a))
stem_mod  = $(firstword $(subst _, ,$(1)))

# Unit tests: one binary per file, cmocka.
.SECONDEXPANSION:
$(BUILD)/tests/test_%: tests/unit/test_%.c $$(call mod_libs,$$(call stem_mod,$$*))
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -Itests $(CFLAGS) -o $@ $< $(call mod_libs,$(call stem_mod,$*)) $(LDFLAGS) $(LDLIBS) -lcmocka

# $(call fuzz_target,NAME) for tests/fuzz/fuzz_NAME.c, given FUZZ_SRCS_NAME,
# FUZZ_LIBS_NAME, REPLAY_MOD_NAME (the module whose libraries a replay
# links) and FUZZ_MAXLEN_NAME: $(BUILD)/fuzz/fuzz_NAME, libFuzzer built
# with clang from source so every parser is instrumented (no -Werror: it
# compiles other areas' sources, and clang warns about things gcc does
# not); $(BUILD)/fuzz/replay_NAME, the normal compiler with
# tests/fuzz/fuzz_net_replay.c's main, which replays a committed corpus in
# `make check` (and under the sanitizers in `make asan`); and the phony
# fuzz-NAME (underscores as dashes) that runs the fuzzer. The caller adds
# fuzz-NAME to FUZZERS and runs the replay from a check of its own.
FUZZ_FLAGS := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
              -fno-omit-frame-pointer -g -O1
define fuzz_target
$(BUILD)/fuzz/fuzz_$(1): tests/fuzz/fuzz_$(1).c $$(FUZZ_SRCS_$(1)) $$(wildcard src/*/*.h)
	@mkdir -p $$(@D)
	clang -D_GNU_SOURCE -Isrc -std=c11 $(FUZZ_FLAGS) \
	    -o $$@ $$< $$(FUZZ_SRCS_$(1)) $$(FUZZ_LIBS_$(1))

$(BUILD)/fuzz/replay_$(1): tests/fuzz/fuzz_$(1).c tests/fuzz/fuzz_net_replay.c \
                           $$(call mod_libs,$$(REPLAY_MOD_$(1)))
	@mkdir -p $$(@D)
	$$(CC) $$(CPPFLAGS) $$(CFLAGS) -o $$@ $$< tests/fuzz/fuzz_net_replay.c \
	    $$(call mod_libs,$$(REPLAY_MOD_$(1))) $$(LDFLAGS) $$(LDLIBS)

fuzz-$(subst _,-,$(1)): $(BUILD)/fuzz/fuzz_$(1)
	@mkdir -p $(BUILD)/fuzz/$(1)-corpus
	$(BUILD)/fuzz/fuzz_$(1) -max_total_time=$$(FUZZ_SECONDS) \
	    -max_len=$$(FUZZ_MAXLEN_$(1)) -rss_limit_mb=2048 -timeout=10 \
	    -artifact_prefix=$(BUILD)/fuzz/$(1)- \
	    $(BUILD)/fuzz/$(1)-corpus tests/fuzz/corpus/$(1)
endef

-include mk/*.mk
-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# --- checking --------------------------------------------------------------
# Every suite runs (one failing does not hide the others); the summary line
# at the end counts suites and fails the build if any failed.
RUN := scripts/run-check.sh $(BUILD)/results
check-unit: all
	@for t in $(UNIT_TESTS); do $(RUN) unit/$$(basename $$t) 120 $$t; done

check: export PMESH_BUILD := $(BUILD)
check:
	@rm -rf $(BUILD)/results
	@$(MAKE) --no-print-directory check-unit $(CHECKS)
	@scripts/summary.sh $(BUILD)/results

deps:
	@scripts/deps.sh

test: deps
	@$(MAKE) --no-print-directory -j2 all
	@$(MAKE) --no-print-directory check

# Same suite under address + undefined-behaviour sanitizers, separate tree.
# ASAN_BUILD: where the sanitized build goes (several checkouts' helpers
# can keep theirs apart: make asan ASAN_BUILD=build/x-asan).
ASAN_BUILD ?= build/asan
asan: deps
	@$(MAKE) --no-print-directory -j2 BUILD=$(ASAN_BUILD) OPT=-O1 \
	    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" all
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    $(MAKE) --no-print-directory BUILD=$(ASAN_BUILD) OPT=-O1 \
	    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" PMESH_ASAN=1 check

bench: deps
	@$(MAKE) --no-print-directory -j2 all
	@$(MAKE) --no-print-directory $(BENCHES)

# libFuzzer runs (clang); each fragment adds its own targets to FUZZERS.
# FUZZ_SECONDS bounds each target's run.
FUZZ_SECONDS ?= 60
fuzz: deps
	@$(MAKE) --no-print-directory $(FUZZERS)

clean:
	rm -rf build
