/* test_fsm_audit.c: audit records, the history of one key, and replay to
 * any index (from scratch or from a snapshot) reproducing the files and the
 * state hash of the live FSM. */
#include "test_fsm_util.h"

#include <cjson/cJSON.h>

/* A small log: the entries and, for each index, the settings.json and
 * nats.conf the live FSM rendered right after applying it. */
#define N_LOG 12
struct log {
    uint8_t *data[N_LOG + 1];
    size_t len[N_LOG + 1];
    uint8_t type[N_LOG + 1];
    char *settings[N_LOG + 1];
    char *nats[N_LOG + 1];
    char hash[FSM_HASH_HEX_LEN];
};

static void build_log(struct log *lg)
{
    struct fsm_cmd cs[N_LOG + 1];
    int n = 1;
    cs[n++] = t_bootstrap();                                 /* 1 */
    cs[n++] = t_set("a.b", "1");                             /* 2 */
    cs[n++] = t_set("other", "\"x\"");                       /* 3 */
    cs[n++] = t_add(2, "b", "us", FSM_ROLE_LEARNER);         /* 4 */
    cs[n++] = t_set("a", "{\"z\":true}");                    /* 5 */
    cs[n] = t_set("a", "2");                                 /* 6: dup */
    cs[n].client_id = 4;
    cs[n++].seq = 1;
    cs[n] = t_set("a", "3");                                 /* 7: dup */
    cs[n].client_id = 4;
    cs[n++].seq = 1;
    cs[n++] = t_set("a.c", "1");                             /* 8: rejected */
    cs[n++] = t_id_cmd(FSM_CMD_MEMBER_PROMOTE, 2);           /* 9 */
    cs[n++] = t_unset("a");                                  /* 10 */
    cs[n++] = t_id_cmd(FSM_CMD_MEMBER_REMOVE, 2);            /* 11 */
    cs[n++] = t_cmd(FSM_CMD_NOOP);                           /* 12 */
    struct fsm *live;
    assert_int_equal(fsm_new(&live), 0);
    for (int i = 1; i <= N_LOG; i++) {
        cs[i].time_ms = 1000 + (uint64_t)i;
        cs[i].proposer = 1;
        assert_int_equal(fsm_cmd_encode(&cs[i], &lg->data[i], &lg->len[i]),
                         0);
        lg->type[i] = (cs[i].type == FSM_CMD_MEMBER_ADD ||
                       cs[i].type == FSM_CMD_MEMBER_PROMOTE ||
                       cs[i].type == FSM_CMD_MEMBER_REMOVE)
                          ? PM_ENTRY_CONFIG
                          : PM_ENTRY_COMMAND;
        assert_int_equal(t_apply_bytes(live, lg->type[i], lg->data[i],
                                       lg->len[i], NULL),
                         0);
        assert_int_equal(fsm_render_settings(live, 1, &lg->settings[i], NULL),
                         0);
        assert_int_equal(fsm_render_nats(live, 1, "/h", &lg->nats[i], NULL),
                         0);
    }
    assert_int_equal(fsm_state_hash(live, lg->hash), 0);
    fsm_free(live);
}

static void free_log(struct log *lg)
{
    for (int i = 1; i <= N_LOG; i++) {
        free(lg->data[i]);
        free(lg->settings[i]);
        free(lg->nats[i]);
    }
}

static char *audit_one(struct fsm *f, const struct log *lg, int i,
                       const char *key)
{
    struct pm_entry e = {.index = (uint64_t)i, .term = 2, .type = lg->type[i],
                         .data = lg->data[i], .len = (uint32_t)lg->len[i]};
    char *rec = NULL;
    struct fsm_result r;
    assert_int_equal(fsm_apply_audit(f, &e, key, &r, &rec), 0);
    return rec;
}

static void records_describe_each_entry(void **state)
{
    (void)state;
    struct log lg;
    build_log(&lg);
    struct fsm *f;
    assert_int_equal(fsm_new(&f), 0);
    fsm_track_changes(f, 0);
    char *recs[N_LOG + 1];
    for (int i = 1; i <= N_LOG; i++) {
        recs[i] = audit_one(f, &lg, i, NULL);
        assert_non_null(recs[i]);
        cJSON *j = cJSON_Parse(recs[i]);
        assert_non_null(j); /* valid JSON */
        assert_int_equal(cJSON_GetObjectItem(j, "index")->valuedouble, i);
        assert_int_equal(cJSON_GetObjectItem(j, "time_ms")->valuedouble,
                         1000 + i);
        cJSON_Delete(j);
    }
    /* The secret is redacted: neither its text form nor its bytes. */
    assert_non_null(strstr(recs[1], "\"secret\":\"<redacted>\""));
    assert_null(strstr(recs[1], "AQgPFh0k"));
    assert_non_null(strstr(recs[1], "\"type\":\"bootstrap\""));
    /* Old -> new, including keys removed by a replacement. */
    assert_non_null(strstr(recs[2], "\"changes\":[{\"key\":\"a.b\","
                                    "\"old\":null,\"new\":1}]"));
    assert_non_null(strstr(recs[5], "\"changes\":[{\"key\":\"a.b\",\"old\":1,"
                                    "\"new\":null},{\"key\":\"a\",\"old\":"
                                    "null,\"new\":{\"z\":true}}]"));
    assert_non_null(strstr(recs[6], "\"result\":\"applied\""));
    assert_non_null(strstr(recs[6], "\"client\":{\"id\":4,\"seq\":1}"));
    assert_non_null(strstr(recs[7], "\"result\":\"duplicate\""));
    assert_non_null(strstr(recs[7], "\"changes\":[]"));
    assert_non_null(strstr(recs[8], "\"result\":\"rejected\""));
    assert_non_null(strstr(recs[8], "\"error\":\"cannot set 'a.c': 'a' holds"
                                    " a value; unset it or set 'a' as a "
                                    "whole\""));
    /* A removal names the member as it was. */
    assert_non_null(strstr(recs[11], "\"type\":\"member-remove\""));
    assert_non_null(strstr(recs[11], "\"member\":{\"id\":2,\"name\":\"b\"}"));
    for (int i = 1; i <= N_LOG; i++)
        free(recs[i]);
    fsm_free(f);
    free_log(&lg);
}

static void history_of_one_key(void **state)
{
    (void)state;
    struct log lg;
    build_log(&lg);
    struct fsm *f;
    assert_int_equal(fsm_new(&f), 0);
    fsm_track_changes(f, 0);
    int hits[N_LOG + 1] = {0};
    char *recs[N_LOG + 1] = {0};
    for (int i = 1; i <= N_LOG; i++) {
        recs[i] = audit_one(f, &lg, i, "a.b");
        hits[i] = recs[i] != NULL;
    }
    /* set a.b (2), set a replacing it (5), set a = 2 (6: the view of a.b
     * stays absent, but a, above it, was set), the duplicate set of a (7,
     * recorded as such), unset a (10). Not: other (3), members, the
     * rejected a.c (a sibling, not an ancestor). */
    const int want[N_LOG + 1] = {0, 0, 1, 0, 0, 1, 1, 1, 0, 0, 1, 0, 0};
    for (int i = 1; i <= N_LOG; i++)
        if (hits[i] != want[i])
            fail_msg("history entry %d: got %d", i, hits[i]);
    assert_string_equal(recs[2], "{\"index\":2,\"term\":2,\"time_ms\":1002,"
                                 "\"proposer\":1,\"op\":\"set\",\"old\":null,"
                                 "\"new\":1,\"result\":\"applied\"}");
    assert_non_null(strstr(recs[5], "\"old\":1,\"new\":null"));
    assert_non_null(strstr(recs[7], "\"op\":\"set\",\"old\":null,"
                                    "\"new\":null,\"result\":"
                                    "\"duplicate\""));
    for (int i = 1; i <= N_LOG; i++)
        free(recs[i]);
    fsm_free(f);
    free_log(&lg);
}

static void replay_reproduces_every_index(void **state)
{
    (void)state;
    struct log lg;
    build_log(&lg);
    for (int upto = 1; upto <= N_LOG; upto++) {
        struct fsm *f;
        assert_int_equal(fsm_new(&f), 0);
        fsm_track_changes(f, 0);
        for (int i = 1; i <= upto; i++)
            free(audit_one(f, &lg, i, NULL));
        char *s, *n;
        assert_int_equal(fsm_render_settings(f, 1, &s, NULL), 0);
        assert_int_equal(fsm_render_nats(f, 1, "/h", &n, NULL), 0);
        assert_string_equal(s, lg.settings[upto]);
        assert_string_equal(n, lg.nats[upto]);
        free(s);
        free(n);
        if (upto == N_LOG) {
            char h[FSM_HASH_HEX_LEN];
            assert_int_equal(fsm_state_hash(f, h), 0);
            assert_string_equal(h, lg.hash);
        }
        fsm_free(f);
    }
    /* From a snapshot taken at index 5 (a compacted log). */
    struct fsm *f, *g;
    assert_int_equal(fsm_new(&f), 0);
    for (int i = 1; i <= 5; i++)
        free(audit_one(f, &lg, i, NULL));
    uint8_t *snap;
    size_t len;
    assert_int_equal(fsm_snapshot(f, &snap, &len), 0);
    fsm_free(f);
    assert_int_equal(fsm_new(&g), 0);
    fsm_track_changes(g, 0);
    assert_int_equal(fsm_restore(g, snap, len), 0);
    free(snap);
    /* Entry 5 again is refused: it is already in the snapshot. */
    struct pm_entry e = {.index = 5, .type = PM_ENTRY_NOOP};
    char *rec;
    assert_int_equal(fsm_apply_audit(g, &e, NULL, NULL, &rec), -PM_ERANGE);
    for (int i = 6; i <= N_LOG; i++)
        free(audit_one(g, &lg, i, NULL));
    char h[FSM_HASH_HEX_LEN];
    assert_int_equal(fsm_state_hash(g, h), 0);
    assert_string_equal(h, lg.hash);
    fsm_free(g);
    free_log(&lg);
}

static void garbage_entries_get_records_too(void **state)
{
    (void)state;
    struct fsm *f = t_fsm_booted();
    const uint8_t junk[] = {0x97, 0x01, 0x06, 0xff};
    struct pm_entry e = {.index = 2, .term = 1, .type = PM_ENTRY_COMMAND,
                         .data = junk, .len = sizeof junk};
    char *rec;
    struct fsm_result r;
    assert_int_equal(fsm_apply_audit(f, &e, NULL, &r, &rec), 0);
    assert_int_equal(r.status, -PM_EPROTO);
    assert_non_null(strstr(rec, "\"type\":\"undecodable\""));
    assert_non_null(strstr(rec, "\"result\":\"rejected\""));
    free(rec);
    e = (struct pm_entry){.index = 3, .term = 1, .type = PM_ENTRY_NOOP};
    assert_int_equal(fsm_apply_audit(f, &e, NULL, &r, &rec), 0);
    assert_non_null(strstr(rec, "\"type\":\"noop\""));
    free(rec);
    fsm_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(records_describe_each_entry),
        cmocka_unit_test(history_of_one_key),
        cmocka_unit_test(replay_reproduces_every_index),
        cmocka_unit_test(garbage_entries_get_records_too),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
