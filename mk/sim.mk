# sim.mk: the deterministic cluster simulator (tests/sim) and the raft-core
# replication bench (bench/raft_bench.c). See tests/sim/README.md.

SIM_SRCS := $(wildcard tests/sim/*.c)
SIM_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(SIM_SRCS))
SIM_LIBS := $(BUILD)/libraft.a $(BUILD)/libbase.a

BINS += $(BUILD)/pmesh-sim $(BUILD)/raft-bench

$(BUILD)/pmesh-sim: $(SIM_OBJS) $(SIM_LIBS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $(SIM_OBJS) $(SIM_LIBS) $(LDFLAGS) $(LDLIBS)

$(BUILD)/raft-bench: bench/raft_bench.c $(SIM_LIBS)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(SIM_LIBS) $(LDFLAGS) $(LDLIBS)

# make check: two tiers (keep tests/sim/mutate.sh in step):
#  - 2,000 seeds x 2,000 steps, mixed sizes (1-7 voters, 0-2 learners) and
#    fault mixes drawn per seed;
#  - 1,500 seeds x 20,000 steps with 3-5 voters: long histories with many
#    leader changes, where Figure-8-style commit bugs show up.
# Split over two processes each. Under the sanitizers (PMESH_ASAN=1) a
# quarter and a fifteenth of that (ASan costs about 3x).
SIM_TIER1 := $(if $(PMESH_ASAN),1-500,1-2000) --steps 2000
SIM_TIER2 := $(if $(PMESH_ASAN),1-100,1-1500) --steps 20000 --nodes 3-5
.PHONY: check-sim sim bench-raft
CHECKS += check-sim
check-sim: $(BUILD)/pmesh-sim
	@$(RUN) sim/mixed 300 $(BUILD)/pmesh-sim --seeds $(SIM_TIER1) --jobs 2
	@$(RUN) sim/long 300 $(BUILD)/pmesh-sim --seeds $(SIM_TIER2) --jobs 2

# make sim SEEDS=A-B [SIM_ARGS="--nodes 3 --drop 0.1"]: any seed range.
SEEDS ?= 1-100
sim: $(BUILD)/pmesh-sim
	$(BUILD)/pmesh-sim --seeds $(SEEDS) --jobs 2 $(SIM_ARGS)

BENCHES += bench-raft
bench-raft: $(BUILD)/raft-bench
	@$(BUILD)/raft-bench
