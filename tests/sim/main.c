/* main.c: pmesh-sim, the seeded deterministic cluster simulator.
 *
 *   pmesh-sim --seed S | --seeds A-B [--nodes N|A-B] [--learners L|A-B]
 *             [--steps K] [--jobs J] [-v] [fault knobs...]
 *
 * Each seed is one run: boot a cluster of real Raft cores, drive K steps of
 * network, disk, crash, churn and client events while checking the safety
 * invariants after every step, then heal everything and check that the
 * cluster elects a leader and commits within a bound of simulated time. A
 * failure prints the violated rule, the last SIM_TRACE_LINES events and the
 * command line that reproduces it. See tests/sim/README.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/err.h"
#include "sim.h"

/* --- one run ---------------------------------------------------------------- */

static uint32_t pick_u32(struct sim_rng *r, const uint32_t *v, size_t n)
{
    return v[sim_rng_below(r, n)];
}
#define PICK(r, ...)                                                         \
    pick_u32((r), (const uint32_t[]){__VA_ARGS__},                           \
             sizeof((const uint32_t[]){__VA_ARGS__}) / sizeof(uint32_t))

static uint32_t knob(int64_t forced, uint32_t drawn)
{
    return forced >= 0 ? (uint32_t)forced : drawn;
}

/* The fault mix of a seed: drawn from the seed unless a flag fixes it. The
 * draws happen in a fixed order whatever the flags say, so fixing one knob
 * does not change the others. */
static void derive_profile(struct sim *s)
{
    const struct sim_opts *o = s->o;
    struct sim_profile *p = &s->p;
    struct sim_rng *r = &s->rng;
    p->voters = (int)sim_rng_range(r, (uint64_t)o->voters_lo,
                                   (uint64_t)o->voters_hi);
    p->learners = (int)sim_rng_range(r, (uint64_t)o->learners_lo,
                                     (uint64_t)o->learners_hi);
    if (p->voters + p->learners > SIM_SLOTS - 2)
        p->learners = SIM_SLOTS - 2 - p->voters;
    if (p->learners < 0)
        p->learners = 0;
    p->grow = p->voters > 1 && sim_rng_ppm(r, 250000);
    p->drop_ppm = knob(o->drop_ppm, PICK(r, 0, 0, 10000, 50000, 200000));
    p->dup_ppm = knob(o->dup_ppm, PICK(r, 0, 10000, 50000));
    p->reorder_ppm = knob(o->reorder_ppm, PICK(r, 0, 50000, 200000));
    p->delay_min_ms = 1;
    p->delay_max_ms = knob(o->delay_max_ms, PICK(r, 2, 10, 30));
    if (p->delay_max_ms < 1)
        p->delay_max_ms = 1;
    p->reorder_max_ms = 40;
    p->disk_min_ms = 0;
    p->disk_max_ms = PICK(r, 0, 3, 5, 20, 60);
    p->partition_ppm = knob(o->partition_ppm,
                            PICK(r, 0, 50000, 150000, 300000));
    p->heal_ppm = 300000;
    p->crash_ppm = knob(o->crash_ppm, PICK(r, 0, 30000, 100000, 300000));
    p->churn_ppm = knob(o->churn_ppm, PICK(r, 0, 50000, 200000));
    if (p->grow && o->churn_ppm < 0 && p->churn_ppm < 200000)
        p->churn_ppm = 200000;
    p->compact_ppm = knob(o->compact_ppm, PICK(r, 20000, 100000));
    p->away_ppm = knob(o->away_ppm, PICK(r, 0, 20000));
    p->transfer_ppm = knob(o->transfer_ppm, PICK(r, 0, 20000));
    p->force_ppm = knob(o->force_ppm, PICK(r, 0, 0, 0, 20000));
    p->campaign_ppm = 10000;
    p->chaos_min_ms = 10;
    p->chaos_max_ms = 60;
    p->client_min_ms = 1;
    p->client_max_ms = PICK(r, 5, 20);
    p->read_ppm = 250000;
    /* Core knobs: small batches and windows separate old-term entries from
     * a new leader's NOOP, which is where commit rules are tested. */
    p->append_max = PICK(r, 1, 2, 4, 8, 64);
    p->inflight_max = PICK(r, 1, 2, 4, 16);
    p->election_ms = PICK(r, 60, 100, 150);
    /* Targeted crashes at the moments the commit rules matter (Raft paper
     * Figure 8): a leader just elected, a leader that just committed. */
    p->crash_elected_ppm = o->crash_ppm == 0 ? 0 : PICK(r, 0, 50000, 200000);
    p->crash_commit_ppm = o->crash_ppm == 0 ? 0 : PICK(r, 0, 10000, 50000);
    p->drift = o->drift >= 0 ? o->drift : (int)sim_rng_below(r, 2);
    p->batch_ppm = PICK(r, 0, 200000, 500000);
    p->pause_ppm = knob(o->pause_ppm, PICK(r, 0, 0, 30000, 100000));
    /* From the seed alone, not the stream: adding this knob left every
     * other draw of every seed (and the seeds MUTATIONS.md names) as it
     * was. */
    static const uint32_t notice[] = {0, 1, 3, 10};
    p->notice_ms = notice[((s->seed * 0x9E3779B97F4A7C15ULL) >> 40) % 4];
}

static void register_boot(struct sim *s, const struct pm_entry *boot)
{
    uint64_t eh = sim_entry_hash(boot);
    struct sim_fsm f;
    sim_fsm_init_boot(&f, boot);
    chk_commit(&s->chk, 1, boot->term, eh, chk_phash_next(0, boot->term, eh),
               0);
    chk_applied(&s->chk, 1, boot->term, eh, f.chain);
}

static int boot_cluster(struct sim *s)
{
    struct raft_config c;
    memset(&c, 0, sizeof(c));
    int v = s->p.voters, l = s->p.learners;
    int members = s->p.grow ? 1 : v + l;
    for (int i = 0; i < members; i++)
        raft_config_set(&c, (uint64_t)i + 1, i < v ? RAFT_VOTER : RAFT_LEARNER);
    c.tiebreaker = 1;
    c.weighted = raft_config_voters(&c) == 2;
    uint8_t *payload;
    uint32_t len;
    static const uint8_t app[] = "sim-boot";
    int rc = raft_config_payload_encode(&c, app, sizeof(app) - 1, &payload,
                                        &len);
    if (rc != 0) {
        sim_fail(s, "boot config does not encode: %s", pm_strerror(rc));
        return -1;
    }
    struct pm_entry boot = {.index = 1, .term = 1, .type = PM_ENTRY_CONFIG,
                            .data = payload, .len = len};
    register_boot(s, &boot);
    for (int i = 0; i < v + l; i++) {
        sim_node_start(s, i, (uint64_t)i + 1, i < members ? &boot : NULL);
        s->nodes[i].joining = i >= members;
    }
    s->next_id = (uint64_t)(v + l) + 1;
    free(payload);
    sim_trace(&s->trace, "boot: %d voters, %d learners%s", v, l,
              s->p.grow ? " (grow from the seed)" : "");
    return 0;
}

static int dispatch(struct sim *s, struct sim_ev *ev)
{
    struct sim_node *n = ev->node >= 0 ? &s->nodes[ev->node] : NULL;
    /* A paused process handles nothing until it resumes; what reaches it
     * meanwhile waits, in order. */
    if (n && n->used && n->up && s->now_ms < n->paused_until &&
        ev->kind != SIM_EV_CRASH) {
        struct sim_ev again = *ev;
        again.at_ms = n->paused_until;
        sim_heap_push(&s->heap, again);
        return 0;
    }
    switch (ev->kind) {
    case SIM_EV_DELIVER:
        sim_deliver(s, ev);
        return 1;
    case SIM_EV_DISK:
        if (!n->used || !n->up || n->gen != ev->gen)
            return 0;
        sim_disk_done(s, ev->node);
        return 1;
    case SIM_EV_TICK:
        if (!n->used || !n->up || n->tick_gen != ev->gen)
            return 0;
        sim_tick(s, ev->node);
        return 1;
    case SIM_EV_CHAOS:
        if (s->healed)
            return 0;
        sim_chaos(s);
        return 1;
    case SIM_EV_CLIENT:
        if (n) {
            if (n->used && n->up && n->gen == ev->gen)
                sim_client_read_at(s, ev->node);
            return 1;
        }
        sim_client(s);
        return 1;
    case SIM_EV_CRASH:
        if (s->healed || !n->used || !n->up || n->gen != ev->gen)
            return 0;
        sim_node_crash(s, ev->node, "targeted");
        n->restart_at = s->now_ms + sim_rng_range(&s->rng, 10, 400);
        return 1;
    case SIM_EV_SNAPSHOT:
        if (!n->used || !n->up || n->gen != ev->gen)
            return 0;
        if (ev->ptr)
            sim_leader_snapshot(s, ev->node);
        else
            sim_compact(s, ev->node);
        return 1;
    }
    return 0;
}

/* Far above any healthy run (a few thousand events in flight): more means
 * a message storm, which is a bug of its own. */
#define SIM_EVENTS_MAX 1000000

static int step_once(struct sim *s)
{
    struct sim_ev ev;
    if (s->heap.n > SIM_EVENTS_MAX) {
        sim_fail(s, "over %d events pending: a message storm", SIM_EVENTS_MAX);
        return -1;
    }
    if (sim_heap_pop(&s->heap, &ev) != 0)
        return -1;
    if (ev.at_ms > s->now_ms)
        s->now_ms = ev.at_ms;
    return dispatch(s, &ev);
}

/* Liveness: the healed cluster has a leader, commits new proposals, and
 * every member applies every acknowledged write. */
static int converged(struct sim *s)
{
    int l = sim_leader_slot(s);
    if (l < 0 || s->n_acks <= s->heal_acks)
        return 0;
    const struct raft_config *c = raft_config_latest(s->nodes[l].r);
    uint64_t need = s->ack_max;
    for (uint32_t i = 0; i < c->n; i++) {
        int slot = sim_slot_of(s, c->servers[i].id);
        if (slot < 0 || s->nodes[slot].gone || s->nodes[slot].held_down)
            continue;
        if (!s->nodes[slot].up || s->nodes[slot].fsm.applied < need)
            return 0;
    }
    return 1;
}

/* A measure of progress: entries applied plus entries replicated. */
static uint64_t applied_sum(const struct sim *s)
{
    uint64_t sum = 0;
    for (int i = 0; i < SIM_SLOTS; i++)
        if (s->nodes[i].used && s->nodes[i].up)
            sum += s->nodes[i].fsm.applied + s->nodes[i].log.last;
    return sum;
}

static void final_checks(struct sim *s)
{
    for (uint64_t i = 0; i < s->n_acks && !s->failed; i++) {
        struct chk_commit rec;
        const struct sim_prop *a = &s->acks[i];
        if (!chk_get(&s->chk, a->index, &rec) || rec.term != a->term)
            sim_fail(s, "acknowledged proposal %" PRIu64 " (index %" PRIu64
                     " term %" PRIu64 ") was lost", a->pid, a->index, a->term);
    }
}

void sim_destroy(struct sim *s)
{
    for (int i = 0; i < SIM_SLOTS; i++) {
        struct sim_node *n = &s->nodes[i];
        if (!n->used)
            continue;
        if (n->r)
            raft_free(n->r);
        disk_free(&n->disk);
        chk_log_free(&n->log);
    }
    sim_msg_free_all(s);
    sim_heap_free(&s->heap);
    chk_free(&s->chk);
    free(s->acks);
}

int sim_run(struct sim *s, const struct sim_opts *o, uint64_t seed)
{
    memset(s, 0, sizeof(*s));
    s->o = o;
    s->seed = seed;
    s->trace.verbose = o->verbose;
    sim_rng_seed(&s->rng, seed);
    derive_profile(s);
    sim_heap_init(&s->heap);
    chk_init(&s->chk);
    s->ropt = (struct raft_options){
        .election_timeout_ms = s->p.election_ms,
        .heartbeat_ms = s->p.election_ms / 5,
        .append_entries_max = s->p.append_max,
        .append_bytes_max = 4096,
        .inflight_max = s->p.inflight_max,
        .inflight_bytes_max = 16384,
        .snapshot_chunk_bytes = 700,
        .log_bytes_compact = 16384,
        .reads_max = 64,
        .commit_notice_ms = s->p.notice_ms,
    };
    s->now_ms = 1;
    if (boot_cluster(s) != 0)
        return -1;
    sim_push(s, s->now_ms + s->p.chaos_min_ms, SIM_EV_CHAOS, -1, 0, NULL);
    sim_push(s, s->now_ms + 1, SIM_EV_CLIENT, -1, 0, NULL);

    while (!s->failed && s->st.steps < o->steps) {
        int r = step_once(s);
        if (r < 0)
            break;
        s->st.steps += (uint64_t)r;
    }
    if (!s->failed && !o->no_liveness) {
        sim_trace(&s->trace, "t=%" PRIu64 " HEAL: liveness phase",
                  s->now_ms);
        sim_heal(s);
        s->heal_acks = s->n_acks;
        /* Progress, not speed: the bound restarts whenever some member
         * applies or replicates more (a follower far behind with small
         * APPEND batches may need long to catch up), up to ten bounds. */
        uint64_t deadline = s->now_ms + o->liveness_ms;
        uint64_t cap = s->now_ms + 10 * o->liveness_ms;
        uint64_t guard = 0, seen = applied_sum(s);
        while (!s->failed && !converged(s)) {
            uint64_t a = applied_sum(s);
            if (a > seen) {
                seen = a;
                deadline = s->now_ms + o->liveness_ms;
            }
            if (s->now_ms > deadline || s->now_ms > cap || ++guard > 20000000) {
                int l = sim_leader_slot(s);
                char who[400];
                size_t w = 0;
                who[0] = 0;
                for (int i = 0; i < SIM_SLOTS && w < sizeof(who) - 40; i++) {
                    const struct sim_node *n = &s->nodes[i];
                    if (!n->used || n->gone)
                        continue;
                    w += (size_t)snprintf(
                        who + w, sizeof(who) - w,
                        " n%" PRIu64 ":%s/c%" PRIu64 "/a%" PRIu64,
                        n->id,
                        !n->up ? (n->held_down ? "held-down" : "down")
                               : raft_role_name(n->role),
                        n->commit, n->fsm.applied);
                }
                /* The configuration as the most advanced server sees it. */
                int best = -1;
                for (int i = 0; i < SIM_SLOTS; i++)
                    if (s->nodes[i].used && s->nodes[i].up &&
                        (best < 0 || s->nodes[i].commit > s->nodes[best].commit))
                        best = i;
                if (best >= 0 && w < sizeof(who) - 60) {
                    const struct raft_config *c =
                        raft_config_latest(s->nodes[best].r);
                    w += (size_t)snprintf(who + w, sizeof(who) - w,
                                          "; config of n%" PRIu64 ":",
                                          s->nodes[best].id);
                    for (uint32_t k = 0; k < c->n && w < sizeof(who) - 30; k++)
                        w += (size_t)snprintf(
                            who + w, sizeof(who) - w, " n%" PRIu64 "%s",
                            c->servers[k].id,
                            c->servers[k].role == RAFT_VOTER ? "" : "(l)");
                    if (w < sizeof(who) - 30)
                        snprintf(who + w, sizeof(who) - w,
                                 " tb n%" PRIu64 "%s%s", c->tiebreaker,
                                 c->weighted ? " weighted" : "",
                                 c->forced ? " forced" : "");
                }
                sim_fail(s, "liveness: no progress for %" PRIu64 " ms after "
                         "healing (leader %s, acks %" PRIu64 " -> %" PRIu64
                         ", highest acked index %" PRIu64 ");%s",
                         o->liveness_ms,
                         l < 0 ? "none" : "present", s->heal_acks, s->n_acks,
                         s->ack_max, who);
                break;
            }
            if (step_once(s) < 0)
                break;
        }
    }
    if (!s->failed)
        final_checks(s);
    return s->failed ? -1 : 0;
}

/* --- command line ---------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
"usage: pmesh-sim [--seed S | --seeds A-B] [options]\n"
"  --nodes N|A-B         voters per run (1-7; default 1-7, drawn per seed)\n"
"  --learners L|A-B      learners per run (default 0-2)\n"
"  --steps K             steps before healing (default 2000)\n"
"  --jobs J              run seeds in J processes (default 1)\n"
"  --liveness-ms MS      bound for the healed cluster to commit (30000)\n"
"  -v                    print every event; -q: only failures\n"
"  --keep-going          go on after a failure (one line per further one)\n"
"  --no-liveness         skip the heal-and-progress phase (safety only)\n"
"  --drift, --no-drift   node clocks at different rates (default per seed)\n"
"fault knobs (probabilities 0..1; default: drawn per seed):\n"
"  --drop P --dup P --reorder P   per message\n"
"  --delay-max MS                 network delay 1..MS\n"
"  --partition P --crash P --churn P --compact P --away P\n"
"  --transfer P --force P --pause P  per chaos event (every 10-60 ms)\n"
"  --no-faults                    all of the above 0\n");
}

static int parse_range(const char *v, int *lo, int *hi)
{
    char *end;
    long a = strtol(v, &end, 10);
    long b = a;
    if (end == v)
        return -1;
    if (*end == '-') {
        const char *q = end + 1;
        b = strtol(q, &end, 10);
        if (end == q)
            return -1;
    }
    if (*end || a < 0 || b < a || b > 64)
        return -1;
    *lo = (int)a;
    *hi = (int)b;
    return 0;
}

static int parse_u64_range(const char *v, uint64_t *lo, uint64_t *hi)
{
    char *end;
    errno = 0;
    unsigned long long a = strtoull(v, &end, 10), b = a;
    if (end == v || errno)
        return -1;
    if (*end == '-') {
        const char *q = end + 1;
        b = strtoull(q, &end, 10);
        if (end == q || errno)
            return -1;
    }
    if (*end || b < a)
        return -1;
    *lo = a;
    *hi = b;
    return 0;
}

static int parse_prob(const char *v, int64_t *ppm)
{
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || d < 0 || d > 1)
        return -1;
    *ppm = (int64_t)(d * 1e6 + 0.5);
    return 0;
}

static void print_repro(FILE *f, const char *argv0, const struct sim_opts *o,
                        uint64_t seed)
{
    fprintf(f, "  reproduce: %s --seed %" PRIu64 " --nodes %s --learners %s "
            "--steps %" PRIu64, argv0, seed, o->nodes_spec, o->learners_spec,
            o->steps);
    struct {
        const char *name;
        int64_t v;
    } k[] = {{"drop", o->drop_ppm},         {"dup", o->dup_ppm},
             {"reorder", o->reorder_ppm},   {"partition", o->partition_ppm},
             {"crash", o->crash_ppm},       {"churn", o->churn_ppm},
             {"compact", o->compact_ppm},   {"away", o->away_ppm},
             {"transfer", o->transfer_ppm}, {"force", o->force_ppm},
             {"pause", o->pause_ppm}};
    for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++)
        if (k[i].v >= 0)
            fprintf(f, " --%s %g", k[i].name, (double)k[i].v / 1e6);
    if (o->delay_max_ms >= 0)
        fprintf(f, " --delay-max %" PRId64, o->delay_max_ms);
    if (o->no_liveness)
        fprintf(f, " --no-liveness");
    if (o->drift >= 0)
        fprintf(f, " %s", o->drift ? "--drift" : "--no-drift");
    if (o->liveness_ms != 30000)
        fprintf(f, " --liveness-ms %" PRIu64, o->liveness_ms);
    fprintf(f, " -v\n");
}

static void print_stats(const struct sim *s, uint64_t seed)
{
    const struct sim_stats *t = &s->st;
    printf("seed %" PRIu64 ": %d voters %d learners%s, %" PRIu64 " steps, "
           "%" PRIu64 " ms simulated; leaders %" PRIu64 ", committed %"
           PRIu64 ", acked %" PRIu64 ", reads %" PRIu64 ", crashes %" PRIu64
           ", changes %" PRIu64 " (+%" PRIu64 " refused), snapshots %" PRIu64
           ", compactions %" PRIu64 ", forced %" PRIu64 "\n",
           seed, s->p.voters, s->p.learners, s->p.grow ? " grow" : "",
           t->steps, s->now_ms, t->elections, t->commits, t->acks,
           t->reads_ok, t->crashes, t->changes, t->changes_rejected,
           t->snaps_installed, t->compactions, t->forced);
}

/* Run seeds lo, lo+stride, ... <= hi. Returns the number of failures. */
static int run_seeds(const struct sim_opts *o, const char *argv0, uint64_t lo,
                     uint64_t hi, uint64_t stride)
{
    static struct sim s; /* large: keep it off the stack */
    int failures = 0;
    uint64_t n = 0, steps = 0, commits = 0, forced = 0, snaps = 0;
    for (uint64_t seed = lo; seed <= hi; seed += stride) {
        int rc = sim_run(&s, o, seed);
        n++;
        steps += s.st.steps;
        commits += s.st.commits;
        forced += s.st.forced;
        snaps += s.st.snaps_installed;
        if (rc != 0 && o->keep_going && failures > 0) {
            failures++;
            fprintf(stderr, "FAIL seed %" PRIu64 ": %s\n", seed, s.fail_msg);
            sim_destroy(&s);
            continue;
        }
        if (rc != 0) {
            failures++;
            fflush(stdout);
            fprintf(stderr, "FAIL seed %" PRIu64 ": %s\n", seed, s.fail_msg);
            if (!o->verbose) {
                fprintf(stderr, "  last events (oldest first):\n");
                sim_trace_dump(&s.trace, stderr);
            }
            print_stats(&s, seed);
            print_repro(stderr, argv0, o, seed);
            sim_destroy(&s);
            if (o->keep_going)
                continue;
            break; /* the first failure of a process is the useful one */
        }
        if (o->verbose || (!o->quiet && lo == hi))
            print_stats(&s, seed);
        sim_destroy(&s);
        if (seed > UINT64_MAX - stride)
            break;
    }
    if (!o->quiet)
        printf("pmesh-sim: %" PRIu64 " seeds from %" PRIu64 " (stride %"
               PRIu64 "): %d failed; %" PRIu64 " steps, %" PRIu64
               " entries committed, %" PRIu64 " snapshots installed, %"
               PRIu64 " forced recoveries\n",
               n, lo, stride, failures, steps, commits, snaps, forced);
    fflush(stdout);
    return failures;
}

int main(int argc, char **argv)
{
    struct sim_opts o = {
        .seed_lo = 1, .seed_hi = 1,
        .voters_lo = 1, .voters_hi = 7,
        .learners_lo = 0, .learners_hi = 2,
        .steps = 2000, .jobs = 1, .liveness_ms = 30000,
        .drop_ppm = -1, .dup_ppm = -1, .reorder_ppm = -1, .delay_max_ms = -1,
        .partition_ppm = -1, .crash_ppm = -1, .churn_ppm = -1,
        .compact_ppm = -1, .away_ppm = -1, .transfer_ppm = -1,
        .force_ppm = -1, .drift = -1, .pause_ppm = -1,
    };
    snprintf(o.nodes_spec, sizeof(o.nodes_spec), "1-7");
    snprintf(o.learners_spec, sizeof(o.learners_spec), "0-2");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0, takes = 1;
        if (!strcmp(a, "-v")) {
            o.verbose = 1;
            takes = 0;
        } else if (!strcmp(a, "--drift") || !strcmp(a, "--no-drift")) {
            o.drift = a[2] == 'd';
            takes = 0;
        } else if (!strcmp(a, "--no-liveness")) {
            o.no_liveness = 1;
            takes = 0;
        } else if (!strcmp(a, "--keep-going")) {
            o.keep_going = 1;
            takes = 0;
        } else if (!strcmp(a, "-q")) {
            o.quiet = 1;
            takes = 0;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--no-faults")) {
            o.drop_ppm = o.dup_ppm = o.reorder_ppm = 0;
            o.partition_ppm = o.crash_ppm = o.churn_ppm = 0;
            o.away_ppm = o.transfer_ppm = o.force_ppm = o.pause_ppm = 0;
            takes = 0;
        } else if (!v) {
            bad = 1;
        } else if (!strcmp(a, "--seed") || !strcmp(a, "--seeds")) {
            bad = parse_u64_range(v, &o.seed_lo, &o.seed_hi);
        } else if (!strcmp(a, "--nodes")) {
            bad = parse_range(v, &o.voters_lo, &o.voters_hi) ||
                  o.voters_lo < 1 || o.voters_hi > SIM_VOTERS_MAX;
            snprintf(o.nodes_spec, sizeof(o.nodes_spec), "%s", v);
        } else if (!strcmp(a, "--learners")) {
            bad = parse_range(v, &o.learners_lo, &o.learners_hi) ||
                  o.learners_hi > SIM_SLOTS - 3;
            snprintf(o.learners_spec, sizeof(o.learners_spec), "%s", v);
        } else if (!strcmp(a, "--steps")) {
            uint64_t x, y;
            bad = parse_u64_range(v, &x, &y) || x != y;
            o.steps = x;
        } else if (!strcmp(a, "--jobs")) {
            int x, y;
            bad = parse_range(v, &x, &y) || x != y || x < 1;
            o.jobs = x;
        } else if (!strcmp(a, "--liveness-ms")) {
            uint64_t x, y;
            bad = parse_u64_range(v, &x, &y) || x != y || x == 0;
            o.liveness_ms = x;
        } else if (!strcmp(a, "--delay-max")) {
            uint64_t x, y;
            bad = parse_u64_range(v, &x, &y) || x != y || x > 10000;
            o.delay_max_ms = (int64_t)x;
        } else {
            struct {
                const char *name;
                int64_t *p;
            } k[] = {{"--drop", &o.drop_ppm},
                     {"--dup", &o.dup_ppm},
                     {"--reorder", &o.reorder_ppm},
                     {"--partition", &o.partition_ppm},
                     {"--crash", &o.crash_ppm},
                     {"--churn", &o.churn_ppm},
                     {"--compact", &o.compact_ppm},
                     {"--away", &o.away_ppm},
                     {"--transfer", &o.transfer_ppm},
                     {"--force", &o.force_ppm},
                     {"--pause", &o.pause_ppm}};
            bad = 2;
            for (size_t j = 0; j < sizeof(k) / sizeof(k[0]); j++)
                if (!strcmp(a, k[j].name))
                    bad = parse_prob(v, k[j].p) ? 1 : 0;
        }
        if (bad) {
            fprintf(stderr, "pmesh-sim: %s '%s'\n",
                    bad == 2 ? "unknown option" : "bad value for",
                    bad == 2 ? a : (v ? v : a));
            usage(stderr);
            return 2;
        }
        i += takes;
    }
    if (o.learners_lo + o.voters_lo > SIM_SLOTS - 2) {
        fprintf(stderr, "pmesh-sim: too many nodes (at most %d)\n",
                SIM_SLOTS - 2);
        return 2;
    }
    uint64_t count = o.seed_hi - o.seed_lo + 1;
    if (o.jobs > 1 && count > 1) {
        int jobs = (uint64_t)o.jobs < count ? o.jobs : (int)count;
        pid_t pids[64];
        if (jobs > 64)
            jobs = 64;
        fflush(stdout);
        for (int j = 0; j < jobs; j++) {
            pids[j] = fork();
            if (pids[j] < 0) {
                perror("pmesh-sim: fork");
                return 2;
            }
            if (pids[j] == 0)
                _exit(run_seeds(&o, argv[0], o.seed_lo + (uint64_t)j,
                                o.seed_hi, (uint64_t)jobs) ? 1 : 0);
        }
        int failed = 0;
        for (int j = 0; j < jobs; j++) {
            int st = 0;
            if (waitpid(pids[j], &st, 0) < 0 || !WIFEXITED(st) ||
                WEXITSTATUS(st) != 0)
                failed = 1;
        }
        printf("pmesh-sim: seeds %" PRIu64 "-%" PRIu64 ": %s\n", o.seed_lo,
               o.seed_hi, failed ? "FAILED" : "all passed");
        return failed;
    }
    return run_seeds(&o, argv[0], o.seed_lo, o.seed_hi, 1) ? 1 : 0;
}
