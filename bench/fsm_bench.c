/* fsm_bench.c: the FSM's costs that a user feels, one grep-friendly line
 * each:
 *   fsm apply_eps=...          committed SET entries applied per second,
 *                              with stored mutations queued and collected
 *                              every 64 entries as the node does per batch
 *   fsm gen_1000_members_ms=...  one node's settings.json + nats.conf for
 *                              a 1,000-member mesh (what every membership
 *                              change costs each node)
 *   fsm gen_all_1000_members_ms=...  the same for all 1,000 members
 *   fsm replay_1m_s=...        replaying one million entries from scratch
 *                              into a scratch FSM (audit replay)
 * The mesh: 10 clusters of 3 voters each, 970 replicas, 20 settings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/entry.h"
#include "base/err.h"
#include "fsm/fsm.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "fsm-bench: %s: %s\n", what, pm_strerror(rc));
    exit(1);
}

static struct fsm_member member(uint64_t id, int role)
{
    struct fsm_member m;
    memset(&m, 0, sizeof m);
    m.id = id;
    snprintf(m.name, sizeof m.name, "node-%04llu", (unsigned long long)id);
    snprintf(m.cluster, sizeof m.cluster, "region-%llu",
             (unsigned long long)(id % 10));
    m.role = (uint8_t)role;
    /* One host per member, the default ports. */
    snprintf(m.peer_host, sizeof m.peer_host, "10.%llu.%llu.%llu",
             (unsigned long long)(id >> 16 & 255),
             (unsigned long long)(id >> 8 & 255),
             (unsigned long long)(id & 255));
    memcpy(m.nats_host, m.peer_host, sizeof m.nats_host);
    m.peer_port = 8443;
    m.nats_client_port = 4222;
    m.nats_cluster_port = 4223;
    m.nats_gateway_port = 4224;
    m.nats_leaf_port = 4225;
    m.nats_http_port = 4226;
    return m;
}

/* Encode C and apply it as the next entry. */
static void apply(struct fsm *f, const struct fsm_cmd *c)
{
    uint8_t *buf;
    size_t len;
    struct fsm_result r;
    int rc = fsm_cmd_encode(c, &buf, &len);
    if (rc)
        die("encode", rc);
    struct pm_entry e = {.index = fsm_applied(f) + 1, .term = 1,
                         .type = PM_ENTRY_COMMAND, .data = buf,
                         .len = (uint32_t)len};
    if ((rc = fsm_apply(f, &e, &r)))
        die("apply", rc);
    if (r.status)
        die(r.error, r.status);
    free(buf);
}

static struct fsm_cmd bootstrap(void)
{
    struct fsm_cmd c;
    memset(&c, 0, sizeof c);
    c.type = FSM_CMD_BOOTSTRAP;
    c.mesh_id = 42;
    memset(c.secret, 0x5a, sizeof c.secret);
    c.member = member(1, FSM_ROLE_VOTER);
    c.member.seed = 1;
    return c;
}

/* Pre-encoded entries, one buffer. */
struct entries {
    uint8_t *bytes;
    size_t *off;
    size_t n, used, cap;
};

static void add_entry(struct entries *es, const struct fsm_cmd *c)
{
    uint8_t *buf;
    size_t len;
    int rc = fsm_cmd_encode(c, &buf, &len);
    if (rc)
        die("encode", rc);
    while (es->used + len > es->cap) {
        es->cap = es->cap ? 2 * es->cap : (1 << 20);
        es->bytes = realloc(es->bytes, es->cap);
        if (!es->bytes)
            die("alloc", -PM_ENOMEM);
    }
    memcpy(es->bytes + es->used, buf, len);
    es->off[es->n++] = es->used;
    es->used += len;
    free(buf);
}

/* N entries: mostly SETs over 5,000 keys (some with a client id), some
 * UNSETs and NOOPs. */
static struct entries make_entries(size_t n)
{
    struct entries es = {0};
    es.off = malloc((n + 1) * sizeof *es.off);
    struct fsm_cmd c = bootstrap();
    add_entry(&es, &c);
    char key[64], val[32];
    for (size_t i = 1; i < n; i++) {
        memset(&c, 0, sizeof c);
        c.proposer = 1;
        c.time_ms = 1764150000000ull + i;
        snprintf(key, sizeof key, "app.svc%zu.k%zu", i % 50, i % 100);
        if (i % 20 == 7) {
            c.type = FSM_CMD_UNSET;
        } else if (i % 50 == 3) {
            c.type = FSM_CMD_NOOP;
        } else {
            c.type = FSM_CMD_SET;
            snprintf(val, sizeof val, "%zu", i);
            c.value.p = val;
            c.value.len = (uint32_t)strlen(val);
        }
        if (i % 4 == 0) {
            c.client_id = 1 + i % 3000;
            c.seq = i;
        }
        c.key.p = key;
        c.key.len = (uint32_t)strlen(key);
        add_entry(&es, &c);
    }
    es.off[es.n] = es.used;
    return es;
}

static double run(struct entries *es, int track)
{
    struct fsm *f;
    int rc = fsm_new(&f);
    if (rc)
        die("new", rc);
    fsm_track_changes(f, track);
    double t0 = now_s();
    for (size_t i = 0; i < es->n; i++) {
        struct pm_entry e = {.index = i + 1, .term = 1,
                             .type = PM_ENTRY_COMMAND,
                             .data = es->bytes + es->off[i],
                             .len = (uint32_t)(es->off[i + 1] - es->off[i])};
        if ((rc = fsm_apply(f, &e, NULL)))
            die("apply", rc);
        if (track && i % 64 == 63) {
            struct fsm_changes ch;
            fsm_changes(f, &ch);
            fsm_changes_clear(f);
        }
    }
    double dt = now_s() - t0;
    fsm_free(f);
    return dt;
}

int main(int argc, char **argv)
{
    size_t n_apply = 200000, n_replay = 1000000;
    if (argc > 1 && strcmp(argv[1], "--quick") == 0) {
        n_apply = 20000;
        n_replay = 100000;
    }

    /* 1. apply throughput (tracked, as on a node). */
    struct entries es = make_entries(n_apply);
    double dt = run(&es, 1);
    printf("fsm apply_eps=%.0f (entries=%zu)\n", (double)es.n / dt, es.n);
    free(es.bytes);
    free(es.off);

    /* 2. configs of a 1,000-member mesh. */
    struct fsm *f;
    int rc = fsm_new(&f);
    if (rc)
        die("new", rc);
    struct fsm_cmd c = bootstrap();
    apply(f, &c);
    for (uint64_t id = 2; id <= 1000; id++) {
        memset(&c, 0, sizeof c);
        c.type = FSM_CMD_MEMBER_ADD;
        c.member = member(id, FSM_ROLE_LEARNER);
        if (id > 30)
            c.member.role = FSM_ROLE_REPLICA;
        apply(f, &c);
        if (id <= 30) {
            memset(&c, 0, sizeof c);
            c.type = FSM_CMD_MEMBER_PROMOTE;
            c.member_id = id;
            apply(f, &c);
        }
    }
    for (int i = 0; i < 20; i++) {
        char key[32];
        snprintf(key, sizeof key, "app.setting%d", i);
        memset(&c, 0, sizeof c);
        c.type = FSM_CMD_SET;
        c.key = (struct fsm_str){key, (uint32_t)strlen(key)};
        c.value = (struct fsm_str){"{\"on\":true,\"n\":5}", 17};
        apply(f, &c);
    }
    char *s, *n;
    size_t bytes = 0;
    double t0 = now_s();
    if ((rc = fsm_render_settings(f, 7, &s, NULL)) ||
        (rc = fsm_render_nats(f, 7, "/var/lib/pmesh", &n, NULL)))
        die("render", rc);
    double one_ms = (now_s() - t0) * 1e3;
    printf("fsm gen_1000_members_ms=%.2f (settings.json %zu B, nats.conf "
           "%zu B)\n",
           one_ms, strlen(s), strlen(n));
    free(s);
    free(n);
    t0 = now_s();
    for (size_t i = 0; i < fsm_member_count(f); i++) {
        uint64_t id = fsm_member_at(f, i)->id;
        if ((rc = fsm_render_settings(f, id, &s, NULL)) ||
            (rc = fsm_render_nats(f, id, "/var/lib/pmesh", &n, NULL)))
            die("render", rc);
        bytes += strlen(s) + strlen(n);
        free(s);
        free(n);
    }
    printf("fsm gen_all_1000_members_ms=%.1f (%.1f MB)\n",
           (now_s() - t0) * 1e3, (double)bytes / 1e6);
    fsm_free(f);

    /* 3. replay of one million entries (untracked scratch FSM). */
    es = make_entries(n_replay);
    dt = run(&es, 0);
    printf("fsm replay_1m_s=%.2f (entries=%zu)\n", dt * 1e6 / (double)es.n,
           es.n);
    free(es.bytes);
    free(es.off);
    return 0;
}
