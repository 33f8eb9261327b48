# bench.mk: the end-to-end `set` benchmark (bench/mesh.sh driving real pmesh
# processes with bench/load.c), the etcd anchor beside it, and the plot.
#
#   make bench          everything in BENCHES (this area's `bench-mesh` runs
#                       short: 3-node and 1-node meshes, 1/16/64/256 clients)
#   make bench-full     longer runs (more sets per client count)
#   make bench-etcd     etcd's own benchmark on the same machine, when
#                       ETCD_BENCH (path to etcd-bench.sh) is given or
#                       ../shared/anchors/etcd-bench.sh exists; else skipped
#   make bench-plot     bench/throughput.png from the last result files
#   make bench-compare  pmesh (3 voters) and etcd in ROUNDS interleaved
#                       rounds (default 5) at CLIENTS (default 1 64 256):
#                       per-round ratios and their median (bench/compare.sh)
#   check-bench-smoke   (in `make check`) pipelined sets all succeed
#
# Results go to $(BUILD)/bench/results/*.txt (one line per measurement).

BENCH_LOAD := $(BUILD)/bench/pmesh-load
BINS       += $(BENCH_LOAD)
BENCHES    += bench-mesh
CHECKS     += check-bench-smoke
BENCH_OUT  := $(BUILD)/bench/results
ETCD_BENCH ?= $(wildcard ../shared/anchors/etcd-bench.sh)

$(BENCH_LOAD): bench/load.c $(LIBFILES)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LIBFILES) $(LDFLAGS) $(LDLIBS)

.PHONY: bench-mesh bench-full bench-etcd bench-plot bench-compare check-bench-smoke
# Correctness only (never speed): 64 pipelined clients on a 1-node mesh get
# every one of 500 sets answered with success.
check-bench-smoke: $(BUILD)/pmesh $(BENCH_LOAD)
	@$(RUN) bench/smoke 60 env PMESH=$(BUILD)/pmesh LOAD=$(BENCH_LOAD) \
	    NODES=1 CLIENTS=64 TOTAL=500 bench/mesh.sh

# The lines "nodes=3 via=follower" are sets sent through a follower (the
# CLI's path on any node but the leader); the plot leaves them out.
bench-mesh: $(BUILD)/pmesh $(BENCH_LOAD)
	@mkdir -p $(BENCH_OUT)
	@PMESH=$(BUILD)/pmesh LOAD=$(BENCH_LOAD) bench/mesh.sh | tee $(BENCH_OUT)/pmesh.txt
	@PMESH=$(BUILD)/pmesh LOAD=$(BENCH_LOAD) NODES=3 CLIENTS="1 64" VIA=follower \
	    bench/mesh.sh | tee -a $(BENCH_OUT)/pmesh.txt

bench-full: $(BUILD)/pmesh $(BENCH_LOAD)
	@mkdir -p $(BENCH_OUT)
	@PMESH=$(BUILD)/pmesh LOAD=$(BENCH_LOAD) FULL=1 bench/mesh.sh | tee $(BENCH_OUT)/pmesh.txt

bench-etcd:
	@mkdir -p $(BENCH_OUT)
	@if [ -n "$(ETCD_BENCH)" ] && [ -f "$(ETCD_BENCH)" ]; then \
	    bench/etcd.sh "$(ETCD_BENCH)" | tee $(BENCH_OUT)/etcd.txt; \
	else echo "bench-etcd: skipped (no ETCD_BENCH and no ../shared/anchors/etcd-bench.sh)"; fi

bench-compare: $(BUILD)/pmesh $(BENCH_LOAD)
	@mkdir -p $(BENCH_OUT)
	@if [ -n "$(ETCD_BENCH)" ] && [ -f "$(ETCD_BENCH)" ]; then \
	    PMESH=$(BUILD)/pmesh LOAD=$(BENCH_LOAD) bench/compare.sh "$(ETCD_BENCH)" \
	        | tee $(BENCH_OUT)/compare.txt; \
	else echo "bench-compare: skipped (no ETCD_BENCH and no ../shared/anchors/etcd-bench.sh)"; fi

bench-plot:
	@bench/plot.sh $(BENCH_OUT)/pmesh.txt $(BENCH_OUT)/etcd.txt bench/throughput.png
