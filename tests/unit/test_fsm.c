/* test_fsm.c: command codec, apply, the settings tree semantics, duplicate
 * requests, membership and invalid-at-apply no-ops; replays the fuzz
 * corpus through the decoder. */
#include "test_fsm_util.h"
#include "fsm/internal.h"

#include <dirent.h>

static void codec_round_trips_every_type(void **state)
{
    (void)state;
    struct fsm_cmd cs[10];
    int n = 0;
    cs[n++] = t_cmd(FSM_CMD_NOOP);
    cs[n++] = t_bootstrap();
    cs[n++] = t_add(2, "b", "us", FSM_ROLE_LEARNER);
    cs[n++] = t_id_cmd(FSM_CMD_MEMBER_PROMOTE, 2);
    cs[n++] = t_id_cmd(FSM_CMD_MEMBER_REMOVE, 2);
    cs[n++] = t_set("a.b", "{\"x\":[1,2]}");
    cs[n++] = t_unset("a");
    cs[n] = t_cmd(FSM_CMD_CLUSTER_RENAME);
    cs[n].cluster_from = (struct fsm_str){"eu", 2};
    cs[n++].cluster_to = (struct fsm_str){"europe", 6};
    cs[n] = t_cmd(FSM_CMD_FORCE_RECOVER);
    cs[n].member_id = 3;
    cs[n].n_remove = 2;
    cs[n].remove_ids[0] = 1;
    cs[n++].remove_ids[1] = 2;
    cs[n++] = t_add(4, "d", "eu", FSM_ROLE_REPLICA);
    cs[n - 1].type = FSM_CMD_MEMBER_ADDRESS;
    for (int i = 0; i < n; i++) {
        cs[i].proposer = 7;
        cs[i].time_ms = 123456789;
        cs[i].client_id = 99;
        cs[i].seq = (uint64_t)i + 1;
        uint8_t *buf, *buf2;
        size_t len, len2;
        struct fsm_cmd d;
        assert_int_equal(fsm_cmd_encode(&cs[i], &buf, &len), 0);
        assert_int_equal(fsm_cmd_decode(buf, len, &d, NULL, 0), 0);
        assert_int_equal(d.type, cs[i].type);
        assert_int_equal(d.proposer, 7);
        assert_int_equal(d.time_ms, 123456789);
        assert_int_equal(d.client_id, 99);
        assert_int_equal(d.seq, (uint64_t)i + 1);
        /* Re-encoding the decoded command gives the same bytes. */
        assert_int_equal(fsm_cmd_encode(&d, &buf2, &len2), 0);
        assert_int_equal(len, len2);
        assert_memory_equal(buf, buf2, len);
        /* Strings borrow from the input buffer. */
        if (d.key.len)
            assert_true(d.key.p >= (const char *)buf &&
                        d.key.p < (const char *)buf + len);
        free(buf);
        free(buf2);
    }
}

static void decode_rejects_malformed_input(void **state)
{
    (void)state;
    struct fsm_cmd c = t_set("k", "1"), d;
    uint8_t *buf;
    size_t len;
    char why[FSM_ERR_LEN];
    assert_int_equal(fsm_cmd_encode(&c, &buf, &len), 0);
    /* Every strict prefix fails cleanly. */
    for (size_t n = 0; n < len; n++)
        assert_int_equal(fsm_cmd_decode(buf, n, &d, why, sizeof why),
                         -PM_EPROTO);
    /* Trailing garbage. */
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, buf, len);
    longer[len] = 0xc0;
    assert_int_equal(fsm_cmd_decode(longer, len + 1, &d, why, sizeof why),
                     -PM_EPROTO);
    free(longer);
    /* Another version. */
    buf[1] = 2;
    assert_int_equal(fsm_cmd_decode(buf, len, &d, why, sizeof why),
                     -PM_EVERSION);
    assert_string_equal(why, "command: format version 2 is not supported "
                             "(this node speaks 1)");
    free(buf);
    /* A huge claimed array must not make the decoder allocate it. */
    const uint8_t huge[] = {0xdd, 0x7f, 0xff, 0xff, 0xff};
    assert_int_equal(fsm_cmd_decode(huge, sizeof huge, &d, why, sizeof why),
                     -PM_EPROTO);
    /* Deep nesting. */
    uint8_t deep[64];
    memset(deep, 0x91, sizeof deep);
    deep[63] = 0x01;
    assert_int_equal(fsm_cmd_decode(deep, sizeof deep, &d, why, sizeof why),
                     -PM_EPROTO);
    /* Right shape, wrong field types. */
    const uint8_t wrong[] = {0x97, 0x01, 0x06, 0x01, 0x01, 0x00, 0x00,
                             0x92, 0x01, 0x02};
    assert_int_equal(fsm_cmd_decode(wrong, sizeof wrong, &d, why, sizeof why),
                     -PM_EPROTO);
    assert_string_equal(why, "command: key or value is not a string");
}

static void decode_ignores_appended_body_fields(void **state)
{
    (void)state;
    /* [1, UNSET, 0, 0, 0, 0, ["k", "future"]]: a later revision of the
     * same version may append fields. */
    const uint8_t b[] = {0x97, 0x01, 0x07, 0x00, 0x00, 0x00, 0x00, 0x92,
                         0xa1, 'k', 0xa6, 'f', 'u', 't', 'u', 'r', 'e'};
    struct fsm_cmd d;
    assert_int_equal(fsm_cmd_decode(b, sizeof b, &d, NULL, 0), 0);
    assert_int_equal(d.type, FSM_CMD_UNSET);
    assert_int_equal(d.key.len, 1);
}

static void set_then_set_parent_replaces_subtree(void **state)
{
    (void)state;
    struct fsm *f = t_fsm_booted();
    struct fsm_cmd c;
    struct fsm_result r;
    c = t_set("a.b", "1");
    assert_int_equal(t_apply(f, &c, &r), 0);
    assert_int_equal(r.changed, FSM_CHANGED_SETTINGS);
    c = t_set("a.c.d", "\"x\"");
    assert_int_equal(t_apply(f, &c, NULL), 0);
    t_assert_get(f, "a", "{\"b\":1,\"c\":{\"d\":\"x\"}}");
    t_assert_get(f, "a.c", "{\"d\":\"x\"}");
    /* Assigning the parent replaces everything under it. */
    c = t_set("a", "2");
    assert_int_equal(t_apply(f, &c, NULL), 0);
    t_assert_get(f, "a", "2");
    t_assert_get(f, "a.b", NULL);
    t_assert_get(f, NULL, "{\"a\":2}");
    fsm_free(f);
}

static void set_below_a_value_is_rejected(void **state)
{
    (void)state;
    struct fsm *f = t_fsm_booted();
    struct fsm_cmd c = t_set("a", "2");
    struct fsm_result r;
    char err[FSM_ERR_LEN];
    assert_int_equal(t_apply(f, &c, NULL), 0);
    c = t_set("a.b", "1");
    assert_int_equal(fsm_validate(f, &c, err, sizeof err), -PM_EREJECTED);
    assert_string_equal(err, "cannot set 'a.b': 'a' holds a value; unset it "
                             "or set 'a' as a whole");
    /* Reaching apply anyway: a recorded no-op with the same verdict. */
    uint64_t before = fsm_applied(f);
    assert_int_equal(t_apply(f, &c, &r), -PM_EREJECTED);
    assert_string_equal(r.error, err);
    assert_int_equal(r.changed, 0);
    assert_int_equal(fsm_applied(f), before + 1);
    t_assert_get(f, NULL, "{\"a\":2}");
    fsm_free(f);
}

static void get_reads_inside_object_values(void **state)
{
    (void)state;
    struct fsm *f = t_fsm_booted();
    struct fsm_cmd c = t_set("app", "{\"db\":{\"port\":5432},\"l\":[1]}");
    assert_int_equal(t_apply(f, &c, NULL), 0);
    t_assert_get(f, "app.db.port", "5432");
    t_assert_get(f, "app.db", "{\"port\":5432}");
    t_assert_get(f, "app.l.x", NULL);
    t_assert_get(f, "app.nope", NULL);
    t_assert_get(f, "zzz", NULL);
    char *j;
    assert_int_equal(fsm_get(f, "bad key", &j, NULL), -PM_EINVAL);
    assert_int_equal(fsm_get(f, "zzz", &j, NULL), -PM_ENOTFOUND);
    /* unset inside the value is refused, not silently ignored */
    c = t_unset("app.db");
    assert_int_equal(t_apply(f, &c, NULL), -PM_EREJECTED);
    fsm_free(f);
}

static void unset_removes_subtree_and_prunes(void **state)
{
    (void)state;
    struct fsm *f = t_fsm_booted();
    struct fsm_cmd c = t_set("x.y.z", "1");
    assert_int_equal(t_apply(f, &c, NULL), 0);
    c = t_set("x.w", "true");
    assert_int_equal(t_apply(f, &c, NULL), 0);
    c = t_unset("x.y");
    assert_int_equal(t_apply(f, &c, NULL), 0);
    t_assert_get(f, NULL, "{\"x\":{\"w\":true}}");
    c = t_unset("x");
    assert_int_equal(t_apply(f, &c, NULL), 0);
    t_assert_get(f, NULL, "{}");
    c = t_unset("x");
    assert_int_equal(t_apply(f, &c, NULL), -PM_ENOTFOUND);
    fsm_free(f);
}

static void normalize_turns_text_into_json(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"42", "42"},
        {" true ", "true"},
        {"hello world", "\"hello world\""},
        {"\"quoted\"", "\"quoted\""},
        {"{ \"a\" : [1, 2.5, null] }", "{\"a\":[1,2.5,null]}"},
        {"", "\"\""},
        {"{bad", "\"{bad\""},
        {"caf\xc3\xa9", "\"caf\xc3\xa9\""},
        {"-0", "-0"},
        {"1e3", "1000"},
        /* Plain text (the fast path) and its neighbours (the parse). */
        {"abc/def ~!", "\"abc/def ~!\""},
        {"Infinity", "\"Infinity\""},
        {"nul", "\"nul\""},
        {"a\"b\\c", "\"a\\\"b\\\\c\""},
        {"tab\there", "\"tab\\there\""},
        {"x\x7f", "\"x\x7f\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *j;
        size_t n;
        assert_int_equal(fsm_value_normalize(cases[i][0], strlen(cases[i][0]),
                                             &j, &n, NULL, 0),
                         0);
        assert_string_equal(j, cases[i][1]);
        assert_int_equal(n, strlen(cases[i][1]));
        free(j);
    }
}

/* The word-at-a-time plain-text test agrees with the byte rule for every
 * byte value at every position of strings of 1-40 bytes, alone and next
 * to each byte value up to 17 bytes (a borrow or carry from one byte must never hide or
 * invent a verdict on its neighbour). */
static int plain_ref(const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x20 || s[i] > 0x7e || s[i] == '"' || s[i] == '\\')
            return 0;
    return 1;
}

static void plain_text_matches_the_byte_rule(void **state)
{
    (void)state;
    unsigned char s[40];
    for (size_t len = 1; len <= sizeof s; len++)
        for (size_t at = 0; at < len; at++)
            for (unsigned b = 0; b < 256; b++) {
                memset(s, 'a', len);
                s[at] = (unsigned char)b;
                /* Neighbours: up to 17 bytes (two words and a tail). */
                int nbs = at + 1 < len && len <= 17;
                for (unsigned nb = 0; nb < 256; nb += nbs ? 1 : 256) {
                    if (nbs)
                        s[at + 1] = (unsigned char)nb;
                    assert_int_equal(fsm__plain_text((const char *)s, len),
                                     plain_ref(s, len));
                }
            }
    assert_int_equal(fsm__plain_text("", 0), 1);
}

/* Keys visited in order by fsm__settings_walk. */
struct seen {
    char prev[64];
    size_t n;
    int sorted;
};

static int count_key(void *ctx, const char *key, size_t len, const char *old,
                     const char *val)
{
    (void)old;
    (void)val;
    struct seen *s = ctx;
    char k[64];
    snprintf(k, sizeof k, "%.*s", (int)len, key);
    if (s->n > 0 && strcmp(s->prev, k) >= 0)
        s->sorted = 0;
    snprintf(s->prev, sizeof s->prev, "%s", k);
    s->n++;
    return 0;
}

/* A node with many kids gets a hash index beside its sorted array (and
 * loses it as they go): random sets and unsets of 300 siblings, and now
 * and then of their parent as a whole, always find exactly the keys a
 * model holds, with their values, and the walk stays in key order. */
static void many_siblings_are_found_as_they_come_and_go(void **state)
{
    (void)state;
    enum { K = 300 };
    int present[K] = {0};
    struct fsm__settings s;
    fsm__settings_init(&s);
    uint64_t x = 88172645463325252ull;
    char key[32], val[32];
    for (int step = 0; step < 40000; step++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int i = (int)(x % K);
        int op = (int)((x >> 32) % 100);
        snprintf(key, sizeof key, "a.k%03d", i);
        if (op < 60) {
            snprintf(val, sizeof val, "%d", step);
            assert_int_equal(fsm__settings_set(&s, key, strlen(key), val,
                                               strlen(val), NULL, NULL), 0);
            present[i] = step + 1;
        } else if (op < 99) {
            assert_true(fsm__settings_unset(&s, key, strlen(key), NULL,
                                            NULL) >= 0);
            present[i] = 0;
        } else {
            assert_true(fsm__settings_unset(&s, "a", 1, NULL, NULL) >= 0);
            memset(present, 0, sizeof present);
        }
        if (step % 97 != 0 && step < 39990)
            continue;
        size_t n = 0;
        for (int k = 0; k < K; k++) {
            snprintf(key, sizeof key, "a.k%03d", k);
            const struct fsm__node *h;
            const struct fsm__node *f =
                fsm__settings_lookup(&s, key, strlen(key), &h);
            assert_ptr_equal(f, fsm__settings_find(&s, key, strlen(key)));
            if (!present[k]) {
                assert_null(f);
                continue;
            }
            n++;
            assert_non_null(f);
            assert_ptr_equal(h, f);
            snprintf(val, sizeof val, "%d", present[k] - 1);
            assert_string_equal(f->val, val);
        }
        struct seen sn = {.sorted = 1};
        assert_int_equal(fsm__settings_walk(&s, count_key, &sn), 0);
        assert_int_equal(sn.n, n);
        assert_true(sn.sorted);
        assert_int_equal(s.n_keys, n);
    }
    fsm__settings_free(&s);
}

/* Normalizing the normal form changes nothing (F2 of tests/chaos/FINDINGS.md:
 * an escaped backslash before "u0000" was taken for a \u0000 escape, so the
 * second pass refused what the first had produced). Each normal form is also
 * applied (apply requires exactly that form) and read back unchanged. */
static void normalize_is_idempotent(void **state)
{
    (void)state;
    struct fsm *f = t_fsm_booted();
    static const char *const inputs[] = {
        "c1s17\\u0000",           /* the fuzzer's input */
        "a\\u0000",               /* plain text: backslash, "u0000" */
        "\"a\\\\u0000\"",        /* JSON: the string a\u0000 */
        "\"\\\\\\\\u0000\"",      /* JSON: two escaped backslashes */
        "{\"k\\\\u0000\":\"\\\\u0000x\"}", /* in a name and a value */
        "\"tab\\there\\u0041\"",    /* other escapes */
        "\"q\\\"u0000\"",           /* escaped quote, then text */
        "[\"\\\\\", \"u0000\"]",
        "\\",
        "\"\\u00e9\\ud83d\\ude00\"",
        "hello world",
        "{ \"b\" : [1, 2.5e3, null], \"a\": {} }",
        "1e3",
        "-0",
    };
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        char err[FSM_ERR_LEN] = "";
        char *once, *twice;
        size_t n1, n2;
        int rc = fsm_value_normalize(inputs[i], strlen(inputs[i]), &once, &n1,
                                     err, sizeof err);
        if (rc != 0)
            fail_msg("input %zu '%s': %d '%s'", i, inputs[i], rc, err);
        rc = fsm_value_normalize(once, n1, &twice, &n2, err, sizeof err);
        if (rc != 0)
            fail_msg("input %zu, second pass on '%s': %d '%s'", i, once, rc,
                     err);
        assert_int_equal(n2, n1);
        assert_memory_equal(twice, once, n1);
        struct fsm_cmd c = t_set("k", once);
        assert_int_equal(t_apply(f, &c, NULL), 0);
        t_assert_get(f, "k", once);
        free(once);
        free(twice);
    }
    /* A real escape is still refused, also after an escaped backslash. */
    static const char *const refused[] = {
        "\"a\\u0000b\"",
        "\"\\\\\\u0000\"",
        "{\"\\u0000\":1}",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        char *j = NULL;
        size_t n;
        assert_int_equal(fsm_value_normalize(refused[i], strlen(refused[i]),
                                             &j, &n, NULL, 0),
                         -PM_EINVAL);
        assert_null(j);
    }
    fsm_free(f);
}

static void duplicate_request_applies_once(void **state)
{
    (void)state;
    struct fsm *f = t_fsm_booted();
    struct fsm_cmd c = t_set("k", "1");
    struct fsm_result r;
    c.client_id = 77;
    c.seq = 5;
    assert_int_equal(t_apply(f, &c, &r), 0);
    uint64_t first = r.index;
    /* A retry (same client and sequence) with another value is dropped and
     * names the original index. */
    c.value = (struct fsm_str){"2", 1};
    assert_int_equal(t_apply(f, &c, &r), -PM_EEXIST);
    assert_int_equal(r.dup_index, first);
    t_assert_get(f, "k", "1");
    /* An older sequence is a duplicate too, without an index. */
    c.seq = 4;
    assert_int_equal(t_apply(f, &c, &r), -PM_EEXIST);
    assert_int_equal(r.dup_index, 0);
    /* The next sequence applies. */
    c.seq = 6;
    assert_int_equal(t_apply(f, &c, &r), 0);
    t_assert_get(f, "k", "2");
    /* A rejected request is not remembered: its retry is judged again. */
    c = t_unset("nope");
    c.client_id = 78;
    c.seq = 1;
    assert_int_equal(t_apply(f, &c, &r), -PM_ENOTFOUND);
    assert_int_equal(t_apply(f, &c, &r), -PM_ENOTFOUND);
    fsm_free(f);
}

static void dedup_table_evicts_oldest_client(void **state)
{
    (void)state;
    struct fsm *f = t_fsm_booted();
    struct fsm_cmd c = t_set("k", "1");
    struct fsm_result r;
    c.seq = 1;
    /* FSM_DEDUP_MAX + 1 clients: client 1 (oldest) is forgotten. */
    for (uint64_t id = 1; id <= FSM_DEDUP_MAX + 1; id++) {
        c.client_id = id;
        assert_int_equal(t_apply(f, &c, NULL), 0);
        fsm_changes_clear(f);
    }
    c.client_id = 2;
    assert_int_equal(t_apply(f, &c, &r), -PM_EEXIST);
    c.client_id = 1;
    assert_int_equal(t_apply(f, &c, &r), 0); /* re-enters, evicts 2 */
    c.client_id = 3;
    assert_int_equal(t_apply(f, &c, &r), -PM_EEXIST); /* still known */
    c.client_id = 2;
    assert_int_equal(t_apply(f, &c, &r), 0); /* forgotten; evicts 3 */
    c.client_id = 3;
    assert_int_equal(t_apply(f, &c, &r), 0);
    fsm_free(f);
}

static void membership_lifecycle(void **state)
{
    (void)state;
    struct fsm *f = t_fsm_booted();
    struct fsm_cmd c;
    struct fsm_result r;
    char err[FSM_ERR_LEN];

    c = t_add(2, "b", "eu", FSM_ROLE_LEARNER);
    assert_int_equal(t_apply(f, &c, &r), 0);
    assert_int_equal(r.changed, FSM_CHANGED_MEMBERS);
    c = t_add(3, "c", "us", FSM_ROLE_REPLICA);
    assert_int_equal(t_apply(f, &c, NULL), 0);
    assert_int_equal(fsm_member_count(f), 3);
    assert_int_equal(fsm_member_by_name(f, "b")->role, FSM_ROLE_LEARNER);
    c = t_id_cmd(FSM_CMD_MEMBER_PROMOTE, 2);
    assert_int_equal(t_apply(f, &c, NULL), 0);
    assert_int_equal(fsm_member_by_id(f, 2)->role, FSM_ROLE_VOTER);
    assert_int_equal(fsm_next_member_id(f), 4);
    /* Removing the seed moves the tie-breaker to the lowest-id voter. */
    c = t_id_cmd(FSM_CMD_MEMBER_REMOVE, 1);
    assert_int_equal(t_apply(f, &c, &r), 0);
    assert_int_equal(fsm_seed_id(f), 2);
    assert_true(fsm_member_by_id(f, 2)->seed);
    /* The last voter stays. */
    c = t_id_cmd(FSM_CMD_MEMBER_REMOVE, 2);
    assert_int_equal(fsm_validate(f, &c, err, sizeof err), -PM_EREJECTED);
    assert_string_equal(err, "member 'b' is the last voter and cannot be "
                             "removed");
    /* Cluster rename and address change. */
    c = t_cmd(FSM_CMD_CLUSTER_RENAME);
    c.cluster_from = (struct fsm_str){"us", 2};
    c.cluster_to = (struct fsm_str){"america", 7};
    assert_int_equal(t_apply(f, &c, NULL), 0);
    assert_string_equal(fsm_member_by_id(f, 3)->cluster, "america");
    c = t_add(3, "ignored", "ignored", FSM_ROLE_VOTER);
    c.type = FSM_CMD_MEMBER_ADDRESS;
    snprintf(c.member.peer_host, sizeof c.member.peer_host, "10.0.0.3");
    assert_int_equal(t_apply(f, &c, NULL), 0);
    assert_string_equal(fsm_member_by_id(f, 3)->peer_host, "10.0.0.3");
    assert_string_equal(fsm_member_by_id(f, 3)->name, "c");
    /* Forced recovery: 3 is not a voter; promote it, then recover. */
    c = t_id_cmd(FSM_CMD_FORCE_RECOVER, 3);
    assert_int_equal(t_apply(f, &c, NULL), -PM_EREJECTED);
    c = t_id_cmd(FSM_CMD_MEMBER_PROMOTE, 3);
    assert_int_equal(t_apply(f, &c, NULL), 0);
    c = t_id_cmd(FSM_CMD_FORCE_RECOVER, 3);
    c.n_remove = 1;
    c.remove_ids[0] = 2;
    assert_int_equal(t_apply(f, &c, &r), 0);
    assert_int_equal(fsm_member_count(f), 1);
    assert_int_equal(fsm_seed_id(f), 3);
    fsm_free(f);
}

static void config_entries_carry_member_commands(void **state)
{
    (void)state;
    struct fsm *f = t_fsm_booted();
    struct fsm_cmd c = t_add(2, "b", "eu", FSM_ROLE_LEARNER);
    uint8_t *buf;
    size_t len;
    struct fsm_result r;
    assert_int_equal(fsm_cmd_encode(&c, &buf, &len), 0);
    assert_int_equal(t_apply_bytes(f, PM_ENTRY_CONFIG, buf, len, &r), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(fsm_member_by_id(f, 2));
    free(buf);
    /* An empty app blob is a raft-only change; NOOP entries advance. */
    uint64_t a = fsm_applied(f);
    assert_int_equal(t_apply_bytes(f, PM_ENTRY_CONFIG, NULL, 0, &r), 0);
    assert_int_equal(r.status, 0);
    assert_int_equal(t_apply_bytes(f, PM_ENTRY_NOOP, NULL, 0, &r), 0);
    assert_int_equal(fsm_applied(f), a + 2);
    /* Garbage is a recorded no-op; an unknown entry type too. */
    const uint8_t junk[] = {0xff, 0x00, 0x13};
    assert_int_equal(t_apply_bytes(f, PM_ENTRY_COMMAND, junk, 3, &r), 0);
    assert_int_equal(r.status, -PM_EPROTO);
    assert_int_equal(t_apply_bytes(f, 9, junk, 3, &r), 0);
    assert_int_equal(r.status, -PM_EPROTO);
    assert_string_equal(r.error, "unknown entry type 9");
    fsm_free(f);
}

static void apply_requires_the_next_index(void **state)
{
    (void)state;
    struct fsm *f;
    assert_int_equal(fsm_new(&f), 0);
    struct pm_entry e = {.index = 2, .term = 1, .type = PM_ENTRY_NOOP};
    assert_int_equal(fsm_apply(f, &e, NULL), -PM_ERANGE);
    e.index = 1;
    assert_int_equal(fsm_apply(f, &e, NULL), 0);
    assert_int_equal(fsm_apply(f, &e, NULL), -PM_ERANGE);
    /* Commands before bootstrap are refused. */
    struct fsm_cmd c = t_set("a", "1");
    assert_int_equal(t_apply(f, &c, NULL), -PM_ESTATE);
    fsm_free(f);
}

static void changes_describe_the_stored_state(void **state)
{
    (void)state;
    struct fsm *f;
    struct fsm_changes ch;
    assert_int_equal(fsm_new(&f), 0);
    struct fsm_cmd c = t_bootstrap();
    assert_int_equal(t_apply(f, &c, NULL), 0);
    fsm_changes(f, &ch);
    assert_int_equal(ch.clear, 0);
    assert_int_equal(ch.applied, 1);
    assert_int_equal(ch.n, 2); /* member, globals */
    fsm_changes_clear(f);
    c = t_set("a.b", "1");
    assert_int_equal(t_apply(f, &c, NULL), 0);
    c = t_set("a", "[]");
    assert_int_equal(t_apply(f, &c, NULL), 0);
    fsm_changes(f, &ch);
    assert_int_equal(ch.n, 3); /* put a.b, delete a.b, put a */
    assert_memory_equal(ch.kv[0].key, "s/a.b", 5);
    assert_null(ch.kv[1].val);
    assert_memory_equal(ch.kv[2].key, "s/a", 3);
    assert_int_equal(ch.kv[2].val_len, 2);
    assert_int_equal(ch.applied, 3);
    /* Untracked FSMs queue nothing. */
    fsm_track_changes(f, 0);
    c = t_set("b", "1");
    assert_int_equal(t_apply(f, &c, NULL), 0);
    fsm_changes(f, &ch);
    assert_int_equal(ch.n, 0);
    fsm_free(f);
}

/* Every file of the fuzz corpus decodes or fails cleanly, and applying it
 * to a bootstrapped FSM never crashes. */
static void fuzz_corpus_replays(void **state)
{
    (void)state;
    const char *dir = "tests/fuzz/corpus/fsm_command";
    DIR *d = opendir(dir);
    assert_non_null(d);
    int files = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        FILE *fp = fopen(path, "rb");
        assert_non_null(fp);
        uint8_t buf[8192];
        size_t n = fread(buf, 1, sizeof buf, fp);
        fclose(fp);
        struct fsm_cmd c;
        char why[FSM_ERR_LEN];
        int rc = fsm_cmd_decode(buf, n, &c, why, sizeof why);
        assert_true(rc == 0 || rc == -PM_EPROTO || rc == -PM_EVERSION);
        struct fsm *f = t_fsm_booted();
        struct fsm_result r;
        assert_int_equal(t_apply_bytes(f, PM_ENTRY_COMMAND, buf, n, &r), 0);
        fsm_free(f);
        files++;
    }
    closedir(d);
    assert_true(files >= 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(codec_round_trips_every_type),
        cmocka_unit_test(decode_rejects_malformed_input),
        cmocka_unit_test(decode_ignores_appended_body_fields),
        cmocka_unit_test(set_then_set_parent_replaces_subtree),
        cmocka_unit_test(set_below_a_value_is_rejected),
        cmocka_unit_test(get_reads_inside_object_values),
        cmocka_unit_test(unset_removes_subtree_and_prunes),
        cmocka_unit_test(normalize_turns_text_into_json),
        cmocka_unit_test(normalize_is_idempotent),
        cmocka_unit_test(plain_text_matches_the_byte_rule),
        cmocka_unit_test(many_siblings_are_found_as_they_come_and_go),
        cmocka_unit_test(duplicate_request_applies_once),
        cmocka_unit_test(dedup_table_evicts_oldest_client),
        cmocka_unit_test(membership_lifecycle),
        cmocka_unit_test(config_entries_carry_member_commands),
        cmocka_unit_test(apply_requires_the_next_index),
        cmocka_unit_test(changes_describe_the_stored_state),
        cmocka_unit_test(fuzz_corpus_replays),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
