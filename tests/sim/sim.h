/* sim.h: the deterministic cluster simulator around the real Raft core.
 *
 * One struct sim is one seeded run: up to SIM_SLOTS nodes, each a real
 * struct raft with a fake disk (disk.h), a fake FSM and a shadow of its
 * log for the checker (check.h), connected by a fake network whose faults
 * and the crashes, restarts, churn and client traffic are all drawn from one
 * seeded PRNG. Time is simulated (milliseconds); events are processed in
 * (time, push order) order from one heap, so a run is a pure function of the
 * seed and the options.
 */
#ifndef SIM_SIM_H
#define SIM_SIM_H

#include <stdint.h>

#include "check.h"
#include "disk.h"
#include "raft/raft.h"
#include "simlib.h"

#define SIM_SLOTS 12        /* nodes alive at once (voters + learners) */
#define SIM_VOTERS_MAX 7
#define SIM_PROPS_MAX 32    /* outstanding proposals per node */
#define SIM_READS_MAX 8     /* outstanding reads per node */

/* Options from the command line. A knob < 0 means "drawn per seed", so one
 * seed range covers many fault mixes; a repro line gives the same flags. */
struct sim_opts {
    uint64_t seed_lo, seed_hi;
    int voters_lo, voters_hi;
    int learners_lo, learners_hi;
    uint64_t steps;
    int jobs;
    int verbose;
    int quiet;
    int keep_going;
    int no_liveness;
    int drift;              /* -1: per seed; 0/1: clock drift off/on */
    /* probabilities in parts per million; -1: per seed */
    int64_t drop_ppm, dup_ppm, reorder_ppm;
    int64_t delay_max_ms;
    int64_t partition_ppm, crash_ppm, churn_ppm, compact_ppm, away_ppm;
    int64_t transfer_ppm, force_ppm, pause_ppm;
    uint64_t liveness_ms;   /* bound for the healed cluster to commit */
    char nodes_spec[32], learners_spec[32];
};

/* The concrete fault mix of one seed. */
struct sim_profile {
    int voters, learners;
    int grow;               /* start from the seed alone and join the rest */
    uint32_t drop_ppm, dup_ppm, reorder_ppm;
    uint32_t delay_min_ms, delay_max_ms, reorder_max_ms;
    uint32_t disk_min_ms, disk_max_ms;
    uint32_t partition_ppm, heal_ppm, crash_ppm, churn_ppm, compact_ppm;
    uint32_t away_ppm, transfer_ppm, force_ppm, campaign_ppm;
    uint32_t chaos_min_ms, chaos_max_ms;
    uint32_t client_min_ms, client_max_ms;
    uint32_t read_ppm;      /* of client actions, reads */
    uint32_t append_max, inflight_max, election_ms; /* core options */
    uint32_t crash_elected_ppm; /* crash a new leader within a few ms */
    uint32_t crash_commit_ppm;  /* crash a leader right after it commits */
    int drift;                  /* node clocks run at different rates */
    uint32_t batch_ppm;         /* proposals sent as PROPOSE_BATCH */
    uint32_t pause_ppm;         /* per chaos event: freeze a node */
    uint32_t notice_ms;         /* core option commit_notice_ms */
};

struct sim_prop {
    uint64_t index, term, pid;
    int key;
};

struct sim_read {
    uint64_t rid;
    uint64_t wm;            /* highest acked write index at read start */
    uint64_t index;         /* read index once known */
    int have_index;
};

struct sim_node {
    int used;               /* slot holds a node (up or down) */
    uint64_t id;
    int up;
    int gone;               /* removed / retired: never restarts */
    int joining;            /* started, not yet in any configuration */
    int away;               /* a learner away for a long stretch */
    uint64_t gen;           /* incarnation, bumped by every crash */
    struct raft *r;
    struct sim_disk disk;
    struct chk_log log;     /* hashes of the core's in-memory log */
    struct sim_fsm fsm;     /* volatile FSM */
    int fsm_dirty;          /* applied something not yet in a disk write */
    uint64_t commit;        /* last commit index seen (floor: durable) */
    uint64_t hs_term, hs_vote;
    uint8_t role;
    uint64_t term, leader;
    uint64_t lead_pending;  /* leader of this term, term not yet durable */
    uint32_t rate_permille; /* clock rate: local ms per 1000 simulated ms */
    uint64_t paused_until;  /* process pause (GC, VM stall): events wait */
    int held_down;          /* liveness phase: kept down on purpose */
    uint64_t tick_at, tick_gen;
    uint64_t restart_at;    /* down: when it comes back (0: not planned) */
    struct sim_prop props[SIM_PROPS_MAX];
    int n_props;
    struct sim_read reads[SIM_READS_MAX];
    int n_reads;
};

struct sim_stats {
    uint64_t steps, msgs, dropped, elections, commits, applied;
    uint64_t crashes, restarts, partitions, changes, changes_rejected;
    uint64_t snaps_sent, snaps_installed, compactions, reads_ok, acks;
    uint64_t forced, transfers;
};

struct sim {
    const struct sim_opts *o;
    struct sim_profile p;
    uint64_t seed;
    struct sim_rng rng;
    struct sim_heap heap;
    struct sim_trace trace;
    struct chk chk;
    struct sim_node nodes[SIM_SLOTS];
    uint8_t blocked[SIM_SLOTS][SIM_SLOTS]; /* [from][to]: link cut */
    uint64_t now_ms;
    uint64_t next_id;       /* node ids are never reused */
    uint64_t next_pid, next_rid;
    uint64_t gen_seq, tick_seq; /* incarnations and tick ids, never reused */
    uint64_t heal_acks;     /* n_acks when the liveness phase began */
    uint64_t ack_max;       /* highest index of an acknowledged write */
    struct sim_prop *acks;  /* every acknowledged proposal */
    uint64_t n_acks, cap_acks;
    int healed;             /* liveness phase: no more faults */
    uint64_t force_victim;  /* id of the tie-breaker lost for good (0: none;
                             * its slot may be reused by a later node) */
    int failed;
    char fail_msg[800];
    struct sim_stats st;
    struct raft_options ropt;
};

/* Run one seed; 0 on success, -1 on a violation (s->fail_msg, trace). */
int sim_run(struct sim *s, const struct sim_opts *o, uint64_t seed);
void sim_destroy(struct sim *s);

/* node.c */
void sim_fail(struct sim *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int sim_node_start(struct sim *s, int slot, uint64_t id,
                   const struct pm_entry *boot);
void sim_node_crash(struct sim *s, int slot, const char *why);
void sim_node_restart(struct sim *s, int slot);
int sim_node_step(struct sim *s, int slot, const struct raft_event *ev,
                  uint64_t *prop_index, uint64_t *prop_term);
void sim_deliver(struct sim *s, struct sim_ev *ev);
void sim_disk_done(struct sim *s, int slot);
void sim_tick(struct sim *s, int slot);
void sim_leader_snapshot(struct sim *s, int slot);
void sim_compact(struct sim *s, int slot);
int sim_slot_of(const struct sim *s, uint64_t id);
uint64_t sim_entry_hash(const struct pm_entry *e);
void sim_fsm_init_boot(struct sim_fsm *f, const struct pm_entry *boot);
void sim_push(struct sim *s, uint64_t at_ms, int kind, int slot, uint64_t gen,
              void *ptr);
void sim_msg_free_all(struct sim *s);
/* A machine lost for good: its messages in flight vanish with it. */
void sim_purge_from(struct sim *s, int slot);

/* chaos.c */
void sim_chaos(struct sim *s);
void sim_client(struct sim *s);
/* A client read that reaches SLOT (e.g. right as it resumes from a pause). */
void sim_client_read_at(struct sim *s, int slot);
int sim_leader_slot(const struct sim *s);
void sim_heal(struct sim *s);
void sim_force_recover(struct sim *s, int slot);

#endif
