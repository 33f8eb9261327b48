/* test_fsm_state.c: determinism, the stored key/values, snapshots.
 *
 * The determinism test applies one random command sequence (valid,
 * invalid, duplicate and garbage entries) to four FSMs that differ in how
 * they get there: entry by entry; in random batches; with snapshot/restore
 * into a new FSM at random points; with a "restart" (rebuild from the
 * emulated store via fsm_load_kv) at random points. All four must end with
 * byte-identical snapshots, stores and files. */
#include "test_fsm_util.h"

/* ---- an emulated store: what the node keeps through log_write ---------- */
struct kv {
    uint8_t *key, *val;
    uint32_t klen, vlen;
};
struct store {
    struct kv *kv;
    size_t n, cap;
};

static int kv_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al < bl ? -1 : al > bl);
}

static void store_clear(struct store *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->kv[i].key);
        free(s->kv[i].val);
    }
    s->n = 0;
}

static void store_free(struct store *s)
{
    store_clear(s);
    free(s->kv);
    memset(s, 0, sizeof *s);
}

static void store_put(struct store *s, const void *k, uint32_t kl,
                      const void *v, uint32_t vl)
{
    size_t i = 0;
    while (i < s->n && kv_cmp(s->kv[i].key, s->kv[i].klen, k, kl) < 0)
        i++;
    int found = i < s->n && kv_cmp(s->kv[i].key, s->kv[i].klen, k, kl) == 0;
    if (!v) {
        if (found) {
            free(s->kv[i].key);
            free(s->kv[i].val);
            memmove(&s->kv[i], &s->kv[i + 1], (s->n - i - 1) * sizeof *s->kv);
            s->n--;
        }
        return;
    }
    if (!found) {
        if (s->n == s->cap) {
            s->cap = s->cap ? 2 * s->cap : 64;
            s->kv = realloc(s->kv, s->cap * sizeof *s->kv);
        }
        memmove(&s->kv[i + 1], &s->kv[i], (s->n - i) * sizeof *s->kv);
        s->n++;
        s->kv[i].key = malloc(kl);
        memcpy(s->kv[i].key, k, kl);
        s->kv[i].klen = kl;
    } else {
        free(s->kv[i].val);
    }
    s->kv[i].val = malloc(vl ? vl : 1);
    memcpy(s->kv[i].val, v, vl);
    s->kv[i].vlen = vl;
}

/* The node's side of a batch: write the changes, forget them. */
static void store_take(struct store *s, struct fsm *f)
{
    struct fsm_changes ch;
    fsm_changes(f, &ch);
    if (ch.clear)
        store_clear(s);
    for (size_t i = 0; i < ch.n; i++)
        store_put(s, ch.kv[i].key, ch.kv[i].key_len, ch.kv[i].val,
                  ch.kv[i].val_len);
    fsm_changes_clear(f);
}

static struct fsm *load_from(const struct store *s, uint64_t applied)
{
    struct fsm *f;
    assert_int_equal(fsm_new(&f), 0);
    for (size_t i = 0; i < s->n; i++)
        assert_int_equal(fsm_load_kv(f, s->kv[i].key, s->kv[i].klen,
                                     s->kv[i].val, s->kv[i].vlen),
                         0);
    assert_int_equal(fsm_load_done(f, applied), 0);
    return f;
}

static void assert_same_store(const struct store *a, const struct store *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal(a->kv[i].klen, b->kv[i].klen);
        assert_memory_equal(a->kv[i].key, b->kv[i].key, a->kv[i].klen);
        assert_int_equal(a->kv[i].vlen, b->kv[i].vlen);
        assert_memory_equal(a->kv[i].val, b->kv[i].val, a->kv[i].vlen);
    }
}

/* ---- random entries ------------------------------------------------------ */
struct ent {
    uint8_t type;
    uint8_t *data;
    size_t len;
};

static const char *const segs[] = {"a", "b", "c", "dd"};
static const char *const vals[] = {"1", "\"x\"", "[1,2]", "{\"k\":true}",
                                   "null", "-2.5", "{}"};
static const char *const clusters[] = {"eu", "us", "ap"};

static struct ent random_entry(uint64_t *rng, uint64_t seqs[9])
{
    struct ent e = {.type = PM_ENTRY_COMMAND};
    struct fsm_cmd c;
    char key[32];
    uint64_t r = t_rand(rng) % 100;
    uint64_t id = 2 + t_rand(rng) % 10;
    char name[16];
    snprintf(name, sizeof name, "n%llu", (unsigned long long)id);

    if (r < 40) {
        int depth = 1 + (int)(t_rand(rng) % 3);
        key[0] = 0;
        for (int i = 0; i < depth; i++) {
            if (i)
                strcat(key, ".");
            strcat(key, segs[t_rand(rng) % 4]);
        }
        c = r < 32 ? t_set(key, vals[t_rand(rng) % 7]) : t_unset(key);
    } else if (r < 55) {
        c = t_add(id, name, clusters[t_rand(rng) % 3],
                  t_rand(rng) % 2 ? FSM_ROLE_LEARNER : FSM_ROLE_REPLICA);
        e.type = PM_ENTRY_CONFIG;
    } else if (r < 62) {
        c = t_id_cmd(FSM_CMD_MEMBER_PROMOTE, id);
        e.type = PM_ENTRY_CONFIG;
    } else if (r < 68) {
        c = t_id_cmd(FSM_CMD_MEMBER_REMOVE, t_rand(rng) % 12);
        e.type = PM_ENTRY_CONFIG;
    } else if (r < 71) {
        c = t_cmd(FSM_CMD_CLUSTER_RENAME);
        const char *from = clusters[t_rand(rng) % 3];
        const char *to = clusters[t_rand(rng) % 3];
        c.cluster_from = (struct fsm_str){from, (uint32_t)strlen(from)};
        c.cluster_to = (struct fsm_str){to, (uint32_t)strlen(to)};
    } else if (r < 74) {
        c = t_add(id, name, "eu", FSM_ROLE_VOTER);
        c.type = FSM_CMD_MEMBER_ADDRESS;
        c.member.peer_port = (uint16_t)(20000 + t_rand(rng) % 100);
    } else if (r < 76) {
        c = t_id_cmd(FSM_CMD_FORCE_RECOVER, 1 + t_rand(rng) % 4);
        c.n_remove = 1;
        c.remove_ids[0] = id;
        e.type = PM_ENTRY_CONFIG;
    } else if (r < 82) {
        e.type = (uint8_t)(t_rand(rng) % 2 ? PM_ENTRY_NOOP : PM_ENTRY_CONFIG);
        return e;
    } else if (r < 85) {
        e.len = 1 + t_rand(rng) % 12;
        e.data = malloc(e.len);
        for (size_t i = 0; i < e.len; i++)
            e.data[i] = (uint8_t)t_rand(rng);
        return e;
    } else {
        /* A client request, sometimes a retry of the previous one. */
        uint64_t client = 1 + t_rand(rng) % 8;
        if (t_rand(rng) % 3)
            seqs[client]++;
        snprintf(key, sizeof key, "cl.c%llu", (unsigned long long)client);
        c = t_set(key, vals[t_rand(rng) % 7]);
        c.client_id = client;
        c.seq = seqs[client] ? seqs[client] : 1;
    }
    c.time_ms = 1000 + t_rand(rng) % 1000;
    assert_int_equal(fsm_cmd_encode(&c, &e.data, &e.len), 0);
    return e;
}

/* Apply E; returns the result status. */
static int feed(struct fsm *f, const struct ent *e)
{
    struct pm_entry pe = {.index = fsm_applied(f) + 1, .term = 3,
                          .type = e->type, .data = e->data,
                          .len = (uint32_t)e->len};
    struct fsm_result r;
    assert_int_equal(fsm_apply(f, &pe, &r), 0);
    return r.status;
}

static void assert_same_fsm(const struct fsm *a, const struct fsm *b)
{
    uint8_t *sa, *sb;
    size_t la, lb;
    assert_int_equal(fsm_snapshot(a, &sa, &la), 0);
    assert_int_equal(fsm_snapshot(b, &sb, &lb), 0);
    assert_int_equal(la, lb);
    assert_memory_equal(sa, sb, la);
    free(sa);
    free(sb);
    if (fsm_member_count(a) == 0)
        return;
    uint64_t id = fsm_member_at(a, 0)->id;
    char *fa, *fb;
    assert_int_equal(fsm_render_settings(a, id, &fa, NULL), 0);
    assert_int_equal(fsm_render_settings(b, id, &fb, NULL), 0);
    assert_string_equal(fa, fb);
    free(fa);
    free(fb);
    assert_int_equal(fsm_render_nats(a, id, "/var/lib/pmesh", &fa, NULL), 0);
    assert_int_equal(fsm_render_nats(b, id, "/var/lib/pmesh", &fb, NULL), 0);
    assert_string_equal(fa, fb);
    free(fa);
    free(fb);
}

static void one_seed(uint64_t seed, size_t n)
{
    uint64_t rng = seed, seqs[9] = {0};
    struct ent *es = calloc(n, sizeof *es);
    struct fsm_cmd boot = t_bootstrap();
    assert_int_equal(fsm_cmd_encode(&boot, &es[0].data, &es[0].len), 0);
    es[0].type = PM_ENTRY_COMMAND;
    for (size_t i = 1; i < n; i++)
        es[i] = random_entry(&rng, seqs);

    struct fsm *a, *b, *c, *d;
    struct store sa = {0}, sb = {0}, sc = {0}, sd = {0};
    assert_int_equal(fsm_new(&a), 0);
    assert_int_equal(fsm_new(&b), 0);
    assert_int_equal(fsm_new(&c), 0);
    assert_int_equal(fsm_new(&d), 0);
    size_t ib = 0, ok = 0, dups = 0, members_max = 0;
    for (size_t i = 0; i < n; i++) {
        int st = feed(a, &es[i]);
        ok += st == 0;
        dups += st == -PM_EEXIST;
        if (fsm_member_count(a) > members_max)
            members_max = fsm_member_count(a);
        store_take(&sa, a);
        /* B catches up in random batches and must then equal A. */
        if (i + 1 == n || t_rand(&rng) % 40 == 0) {
            for (; ib <= i; ib++)
                feed(b, &es[ib]);
            store_take(&sb, b);
            char ha[FSM_HASH_HEX_LEN], hb[FSM_HASH_HEX_LEN];
            assert_int_equal(fsm_state_hash(a, ha), 0);
            assert_int_equal(fsm_state_hash(b, hb), 0);
            assert_string_equal(ha, hb);
        }
        feed(c, &es[i]);
        if (t_rand(&rng) % 97 == 0) {
            uint8_t *snap;
            size_t len;
            struct fsm *c2;
            assert_int_equal(fsm_snapshot(c, &snap, &len), 0);
            assert_int_equal(fsm_new(&c2), 0);
            assert_int_equal(fsm_restore(c2, snap, len), 0);
            free(snap);
            fsm_free(c);
            c = c2;
        }
        store_take(&sc, c);
        feed(d, &es[i]);
        store_take(&sd, d);
        if (t_rand(&rng) % 89 == 0) {
            uint64_t applied = fsm_applied(d);
            fsm_free(d);
            d = load_from(&sd, applied);
        }
    }
    assert_same_fsm(a, b);
    assert_same_fsm(a, c);
    assert_same_fsm(a, d);
    assert_same_store(&sa, &sb);
    assert_same_store(&sa, &sc);
    assert_same_store(&sa, &sd);
    /* The store alone rebuilds the same state. */
    struct fsm *e = load_from(&sa, fsm_applied(a));
    assert_same_fsm(a, e);
    fsm_free(e);
    /* The sequence exercised real changes, not just rejections. */
    assert_true(ok > n / 3);
    assert_true(dups > 0);
    assert_true(members_max >= 4);

    fsm_free(a);
    fsm_free(b);
    fsm_free(c);
    fsm_free(d);
    store_free(&sa);
    store_free(&sb);
    store_free(&sc);
    store_free(&sd);
    for (size_t i = 0; i < n; i++)
        free(es[i].data);
    free(es);
}

/* A client's requests between two state writes leave one dedup record to
 * write (each replaces the one before), also when clients are evicted
 * from the table and come back in the same window: the store written in
 * one window equals the store written after every entry, and rebuilds the
 * same FSM. */
static void dedup_records_coalesce_within_a_write(void **state)
{
    (void)state;
    struct fsm *a, *b;
    struct store sa = {0}, sb = {0};
    assert_int_equal(fsm_new(&a), 0);
    assert_int_equal(fsm_new(&b), 0);
    struct ent boot = {.type = PM_ENTRY_COMMAND};
    struct fsm_cmd bc = t_bootstrap();
    assert_int_equal(fsm_cmd_encode(&bc, &boot.data, &boot.len), 0);
    feed(a, &boot);
    feed(b, &boot);
    store_take(&sa, a);
    store_take(&sb, b);
    uint64_t seqs[FSM_DEDUP_MAX + 40] = {0};
    uint64_t rng = 7;
    /* Clients 1..N+39 with N = FSM_DEDUP_MAX: the first ones are evicted
     * and then come back, while client 1..8 keep sending throughout. */
    for (int i = 0; i < 3 * (FSM_DEDUP_MAX + 40); i++) {
        uint64_t client = i % 3 == 0 ? 1 + t_rand(&rng) % 8
                                     : 1 + (uint64_t)(i / 3) %
                                               (FSM_DEDUP_MAX + 39);
        struct fsm_cmd c = t_set("cl.k", vals[t_rand(&rng) % 7]);
        c.client_id = client;
        c.seq = ++seqs[client];
        struct ent e = {.type = PM_ENTRY_COMMAND};
        assert_int_equal(fsm_cmd_encode(&c, &e.data, &e.len), 0);
        feed(a, &e);
        feed(b, &e);
        store_take(&sb, b); /* b writes after every entry */
        free(e.data);
        if (i == 2 * (FSM_DEDUP_MAX + 40))
            store_take(&sa, a); /* a: two windows in all */
    }
    struct fsm_changes ch;
    fsm_changes(a, &ch);
    /* Fewer records than requests: the window's repeats were replaced. */
    assert_true(ch.n < 2 * (size_t)(FSM_DEDUP_MAX + 40));
    store_take(&sa, a);
    assert_same_store(&sa, &sb);
    struct fsm *e = load_from(&sa, fsm_applied(a));
    assert_same_fsm(a, e);
    fsm_free(e);
    fsm_free(a);
    fsm_free(b);
    store_free(&sa);
    store_free(&sb);
    free(boot.data);
}

static void random_sequences_are_deterministic(void **state)
{
    (void)state;
    int seeds = getenv("PMESH_ASAN") ? 6 : 40;
    for (int s = 1; s <= seeds; s++)
        one_seed((uint64_t)s * 7919, 3000);
}

/* ---- snapshots -------------------------------------------------------------- */

static struct fsm *sample(void)
{
    struct fsm *f = t_fsm_booted();
    struct fsm_cmd c = t_add(2, "b", "us", FSM_ROLE_REPLICA);
    assert_int_equal(t_apply(f, &c, NULL), 0);
    c = t_set("app.port", "8080");
    c.client_id = 3;
    c.seq = 1;
    assert_int_equal(t_apply(f, &c, NULL), 0);
    c = t_set("app.name", "\"demo\"");
    assert_int_equal(t_apply(f, &c, NULL), 0);
    fsm_changes_clear(f);
    return f;
}

static void snapshot_round_trip(void **state)
{
    (void)state;
    struct fsm *f = sample(), *g;
    uint8_t *s1, *s2;
    size_t l1, l2;
    assert_int_equal(fsm_snapshot(f, &s1, &l1), 0);
    /* Restore over a different, non-empty state. */
    g = t_fsm_booted();
    struct fsm_cmd c = t_set("other", "1");
    assert_int_equal(t_apply(g, &c, NULL), 0);
    assert_int_equal(fsm_restore(g, s1, l1), 0);
    assert_int_equal(fsm_applied(g), fsm_applied(f));
    assert_int_equal(fsm_snapshot(g, &s2, &l2), 0);
    assert_int_equal(l1, l2);
    assert_memory_equal(s1, s2, l1);
    t_assert_get(g, "other", NULL);
    t_assert_get(g, "app.port", "8080");
    /* The restore queued a full rewrite of the store. */
    struct fsm_changes ch;
    fsm_changes(g, &ch);
    assert_int_equal(ch.clear, 1);
    assert_int_equal(ch.n, 1 + 2 + 2 + 1); /* globals, members, keys, dedup */
    /* Dedup state travels with the snapshot. */
    c = t_set("app.port", "1");
    c.client_id = 3;
    c.seq = 1;
    assert_int_equal(t_apply(g, &c, NULL), -PM_EEXIST);
    /* Hashes: equal states, equal hashes; 64 hex digits. */
    char h1[FSM_HASH_HEX_LEN], h2[FSM_HASH_HEX_LEN];
    assert_int_equal(fsm_state_hash(f, h1), 0);
    assert_int_equal(strlen(h1), 64);
    fsm_free(g);
    assert_int_equal(fsm_new(&g), 0);
    assert_int_equal(fsm_restore(g, s1, l1), 0);
    assert_int_equal(fsm_state_hash(g, h2), 0);
    assert_string_equal(h1, h2);
    free(s1);
    free(s2);
    fsm_free(f);
    fsm_free(g);
}

/* Every truncation and every single-byte change of a snapshot either fails
 * cleanly, leaving the FSM as it was, or restores a state that passes all
 * checks (a changed port is still a valid snapshot). */
static void corrupted_snapshots_fail_cleanly(void **state)
{
    (void)state;
    struct fsm *f = sample(), *g = t_fsm_booted();
    uint8_t *s;
    size_t len;
    char h0[FSM_HASH_HEX_LEN], h[FSM_HASH_HEX_LEN];
    assert_int_equal(fsm_snapshot(f, &s, &len), 0);
    assert_int_equal(fsm_state_hash(g, h0), 0);
    for (size_t n = 0; n < len; n++) {
        assert_int_not_equal(fsm_restore(g, s, n), 0);
        assert_int_equal(fsm_state_hash(g, h), 0);
        assert_string_equal(h, h0);
    }
    uint8_t *m = malloc(len);
    int failed = 0, passed = 0;
    static const uint8_t flips[] = {0x01, 0x80, 0xff};
    for (size_t i = 0; i < len; i++) {
        for (size_t k = 0; k < sizeof flips; k++) {
            memcpy(m, s, len);
            m[i] ^= flips[k];
            struct fsm *x;
            assert_int_equal(fsm_new(&x), 0);
            int rc = fsm_restore(x, m, len);
            if (rc) {
                assert_true(rc == -PM_ECORRUPT || rc == -PM_EVERSION);
                failed++;
            } else {
                /* Whatever restored must snapshot and load back. */
                uint8_t *s2;
                size_t l2;
                assert_int_equal(fsm_snapshot(x, &s2, &l2), 0);
                struct fsm *y;
                assert_int_equal(fsm_new(&y), 0);
                assert_int_equal(fsm_restore(y, s2, l2), 0);
                free(s2);
                fsm_free(y);
                passed++;
            }
            fsm_free(x);
        }
    }
    assert_true(failed > 0);
    /* Wrong version. */
    memcpy(m, s, len);
    m[1] = 9;
    assert_int_equal(fsm_restore(g, m, len), -PM_EVERSION);
    free(m);
    free(s);
    (void)passed;
    fsm_free(f);
    fsm_free(g);
}

static void snapshot_invariants_are_checked(void **state)
{
    (void)state;
    /* Hand-built snapshots with a valid shape but broken invariants. */
    struct fsm *f = sample();
    uint8_t *s;
    size_t len;
    assert_int_equal(fsm_snapshot(f, &s, &len), 0);
    /* applied (byte 2, a fixint here) below the bootstrap index */
    assert_true(s[2] < 0x80);
    uint8_t saved = s[2];
    s[2] = 0;
    struct fsm *g;
    assert_int_equal(fsm_new(&g), 0);
    assert_int_equal(fsm_restore(g, s, len), -PM_ECORRUPT);
    s[2] = saved;
    assert_int_equal(fsm_restore(g, s, len), 0);
    free(s);
    fsm_free(g);
    fsm_free(f);
}

static void load_rejects_damaged_store(void **state)
{
    (void)state;
    struct fsm *f;
    assert_int_equal(fsm_new(&f), 0);
    assert_int_equal(fsm_load_kv(f, "x/1", 3, "1", 1), -PM_ECORRUPT);
    assert_int_equal(fsm_load_kv(f, "s/a b", 5, "1", 1), -PM_ECORRUPT);
    assert_int_equal(fsm_load_kv(f, "s/a", 3, "{ }", 3), -PM_ECORRUPT);
    assert_int_equal(fsm_load_kv(f, "g/mesh", 6, "\xc1", 1), -PM_ECORRUPT);
    assert_int_equal(fsm_load_kv(f, "m/12345678", 10, "\x90", 1),
                     -PM_ECORRUPT);
    assert_int_equal(fsm_load_kv(f, "s/a", 3, "1", 1), 0);
    assert_int_equal(fsm_load_kv(f, "s/a.b", 5, "1", 1), -PM_ECORRUPT);
    /* settings without a bootstrapped mesh */
    assert_int_equal(fsm_load_done(f, 5), -PM_ECORRUPT);
    fsm_free(f);
}

/* The same state reached in another order has the same snapshot bytes. */
static void same_state_same_snapshot(void **state)
{
    (void)state;
    static const char *const keys[] = {"z.a", "a", "m.x.y", "m.b", "b-1"};
    struct fsm *f = t_fsm_booted(), *g = t_fsm_booted();
    for (int i = 0; i < 5; i++) {
        struct fsm_cmd c = t_set(keys[i], "[true]");
        assert_int_equal(t_apply(f, &c, NULL), 0);
        c = t_set(keys[4 - i], "[true]");
        assert_int_equal(t_apply(g, &c, NULL), 0);
    }
    assert_same_fsm(f, g);
    t_assert_get(f, NULL, "{\"a\":[true],\"b-1\":[true],\"m\":{\"b\":[true],"
                          "\"x\":{\"y\":[true]}},\"z\":{\"a\":[true]}}");
    fsm_free(f);
    fsm_free(g);
}

/* Eviction order of the request table survives a reload from the store
 * and a snapshot: all three FSMs forget the same clients afterwards. */
static void dedup_order_survives_reload_and_snapshot(void **state)
{
    (void)state;
    struct fsm *a = t_fsm_booted(), *b, *c;
    struct store s = {0};
    struct fsm_cmd cmd = t_set("k", "1");
    cmd.seq = 1;
    /* Fill the table, then touch client 1 so that 2 becomes the oldest. */
    for (uint64_t id = 1; id <= FSM_DEDUP_MAX; id++) {
        cmd.client_id = id;
        assert_int_equal(t_apply(a, &cmd, NULL), 0);
    }
    cmd.client_id = 1;
    cmd.seq = 2;
    assert_int_equal(t_apply(a, &cmd, NULL), 0);
    fsm_changes_clear(a);
    assert_int_equal(fsm_restore(a, NULL, 0), -PM_ECORRUPT);
    /* B: the store, as written by a node; C: a snapshot. */
    uint8_t *snap;
    size_t len;
    assert_int_equal(fsm_snapshot(a, &snap, &len), 0);
    assert_int_equal(fsm_new(&c), 0);
    assert_int_equal(fsm_restore(c, snap, len), 0);
    store_take(&s, c); /* clear + every key */
    free(snap);
    b = load_from(&s, fsm_applied(a));
    struct fsm *all[3] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        struct fsm_result r;
        cmd.seq = 1;
        cmd.client_id = FSM_DEDUP_MAX + 1; /* new: evicts client 2 */
        assert_int_equal(t_apply(all[i], &cmd, &r), 0);
        cmd.client_id = 1;
        assert_int_equal(t_apply(all[i], &cmd, &r), -PM_EEXIST);
        cmd.client_id = 3;
        assert_int_equal(t_apply(all[i], &cmd, &r), -PM_EEXIST);
        cmd.client_id = 2;
        assert_int_equal(t_apply(all[i], &cmd, &r), 0);
    }
    assert_same_fsm(a, b);
    assert_same_fsm(a, c);
    fsm_free(a);
    fsm_free(b);
    fsm_free(c);
    store_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_sequences_are_deterministic),
        cmocka_unit_test(dedup_records_coalesce_within_a_write),
        cmocka_unit_test(snapshot_round_trip),
        cmocka_unit_test(corrupted_snapshots_fail_cleanly),
        cmocka_unit_test(snapshot_invariants_are_checked),
        cmocka_unit_test(load_rejects_damaged_store),
        cmocka_unit_test(dedup_order_survives_reload_and_snapshot),
        cmocka_unit_test(same_state_same_snapshot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
