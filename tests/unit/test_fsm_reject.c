/* test_fsm_reject.c: the table of rejected keys, values and commands, each
 * with its exact error text and code. Commands are checked twice: by
 * fsm_validate() (what the proposer sees) and by fsm_apply() (the recorded
 * no-op must give the same verdict and change nothing). */
#include "test_fsm_util.h"

static char long_key[300], deep_key[64], long_seg_key[80], long_value[70000],
    deep_value[80], quotes_value[40010];

static void init_inputs(void)
{
    memset(long_key, 'k', 257);
    long_key[257] = 0;
    strcpy(deep_key, "a");
    for (int i = 1; i < 17; i++)
        strcat(deep_key, ".a");
    memset(long_seg_key, 's', 65);
    long_seg_key[65] = 0;
    memset(long_value, 'x', 65537);
    long_value[65537] = 0;
    memset(deep_value, '[', 33);
    memset(deep_value + 33, ']', 33);
    deep_value[66] = 0;
    memset(quotes_value, '"', 40000);
    quotes_value[40000] = 0;
}

/* ---- keys ---------------------------------------------------------------- */
struct key_row {
    const char *key;
    size_t len; /* 0: strlen */
    int rc;
    const char *err;
};

static void rejected_keys(void **state)
{
    (void)state;
    const struct key_row rows[] = {
        {"", 0, -PM_EINVAL, "key is empty"},
        {"a..b", 0, -PM_EINVAL,
         "key 'a..b' has an empty segment (leading, trailing or doubled dot)"},
        {".a", 0, -PM_EINVAL,
         "key '.a' has an empty segment (leading, trailing or doubled dot)"},
        {"a.", 0, -PM_EINVAL,
         "key 'a.' has an empty segment (leading, trailing or doubled dot)"},
        {".", 0, -PM_EINVAL,
         "key '.' has an empty segment (leading, trailing or doubled dot)"},
        {"a b", 0, -PM_EINVAL,
         "key 'a b': character ' ' is not allowed (use A-Z a-z 0-9 _ - and "
         "dots between segments)"},
        {"a/b", 0, -PM_EINVAL,
         "key 'a/b': character '/' is not allowed (use A-Z a-z 0-9 _ - and "
         "dots between segments)"},
        {"a=b", 0, -PM_EINVAL,
         "key 'a=b': character '=' is not allowed (use A-Z a-z 0-9 _ - and "
         "dots between segments)"},
        {"a*", 0, -PM_EINVAL,
         "key 'a*': character '*' is not allowed (use A-Z a-z 0-9 _ - and "
         "dots between segments)"},
        {"a\x01", 0, -PM_EINVAL,
         "key 'a?': byte 0x01 is not allowed (use A-Z a-z 0-9 _ - and dots "
         "between segments)"},
        {"caf\xc3\xa9", 0, -PM_EINVAL,
         "key 'caf?" "?': byte 0xc3 is not allowed (use A-Z a-z 0-9 _ - and "
         "dots between segments)"},
        {"a\0b", 3, -PM_EINVAL,
         "key 'a?b': byte 0x00 is not allowed (use A-Z a-z 0-9 _ - and dots "
         "between segments)"},
        {long_key, 0, -PM_ETOOBIG, "key is 257 bytes long (at most 256)"},
        {deep_key, 0, -PM_ETOOBIG,
         "key 'a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a' has more than 16 segments"},
        {long_seg_key, 0, -PM_ETOOBIG,
         "key 'ssssssssssssssssssssssssssssssssssssssssssssssss...': a "
         "segment is longer than 64 bytes"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char err[FSM_ERR_LEN];
        size_t len = rows[i].len ? rows[i].len : strlen(rows[i].key);
        int rc = fsm_key_check(rows[i].key, len, err, sizeof err);
        if (rc != rows[i].rc || strcmp(err, rows[i].err) != 0)
            fail_msg("key row %zu: got %d '%s'", i, rc, err);
    }
}

/* ---- values (user text) ---------------------------------------------------- */
struct value_row {
    const char *raw;
    size_t len; /* 0: strlen */
    int rc;
    const char *err;
};

static void rejected_values(void **state)
{
    (void)state;
    const struct value_row rows[] = {
        {"\xff", 0, -PM_EINVAL,
         "value: byte 1 is not valid UTF-8 text (or is NUL)"},
        {"ab\0c", 4, -PM_EINVAL,
         "value: byte 3 is not valid UTF-8 text (or is NUL)"},
        {"\xc0\xaf", 0, -PM_EINVAL,
         "value: byte 1 is not valid UTF-8 text (or is NUL)"},
        {"ok\xed\xa0\x80", 0, -PM_EINVAL, /* a UTF-16 surrogate */
         "value: byte 3 is not valid UTF-8 text (or is NUL)"},
        {long_value, 0, -PM_ETOOBIG,
         "value is 65537 bytes long (at most 65536)"},
        {quotes_value, 0, -PM_ETOOBIG,
         "value is 80002 bytes long as JSON (at most 65536)"},
        {deep_value, 0, -PM_ETOOBIG,
         "value: nested deeper than 32 arrays/objects"},
        {"1e400", 0, -PM_EINVAL, "value: number out of range"},
        {"1e16", 0, -PM_EINVAL,
         "value: number 10000000000000000 is outside +-2^53 and would lose "
         "precision; quote it to store a string"},
        {"[-12345678901234567890]", 0, -PM_EINVAL,
         "value: number -1.2345678901234567e+19 is outside +-2^53 and would "
         "lose precision; quote it to store a string"},
        {"{\"a\":1,\"a\":2}", 0, -PM_EINVAL,
         "value: object has the member 'a' twice"},
        {"\"a\\u0000b\"", 0, -PM_EINVAL,
         "value: JSON strings may not contain \\u0000"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char err[FSM_ERR_LEN] = "";
        char *json = NULL;
        size_t n;
        size_t len = rows[i].len ? rows[i].len : strlen(rows[i].raw);
        int rc = fsm_value_normalize(rows[i].raw, len, &json, &n, err,
                                     sizeof err);
        if (rc != rows[i].rc || strcmp(err, rows[i].err) != 0)
            fail_msg("value row %zu: got %d '%s'", i, rc, err);
        assert_null(json);
    }
}

/* ---- commands against a state -------------------------------------------- */
static void mk_set_noncanon(struct fsm_cmd *c) { *c = t_set("k", "{ }"); }
static void mk_set_notjson(struct fsm_cmd *c) { *c = t_set("k", "hello"); }
static void mk_set_empty(struct fsm_cmd *c) { *c = t_set("k", ""); }
static void mk_set_badkey(struct fsm_cmd *c) { *c = t_set("k k", "1"); }
static void mk_set_below(struct fsm_cmd *c) { *c = t_set("a.b.c", "1"); }
static void mk_unset_missing(struct fsm_cmd *c) { *c = t_unset("nope"); }
static void mk_unset_inside(struct fsm_cmd *c) { *c = t_unset("obj.x"); }
static void mk_add_taken(struct fsm_cmd *c)
{
    *c = t_add(5, "seed", "eu", FSM_ROLE_LEARNER);
}
static void mk_add_voter(struct fsm_cmd *c)
{
    *c = t_add(5, "e", "eu", FSM_ROLE_VOTER);
}
static void mk_add_id(struct fsm_cmd *c)
{
    *c = t_add(1, "e", "eu", FSM_ROLE_LEARNER);
    c->member.peer_port = 9999;
    c->member.nats_client_port = 20000;
}
static void mk_add_badname(struct fsm_cmd *c)
{
    *c = t_add(5, "a b", "eu", FSM_ROLE_LEARNER);
}
static void mk_add_longcluster(struct fsm_cmd *c)
{
    *c = t_add(5, "e", "x", FSM_ROLE_LEARNER);
    memset(c->member.cluster, 'c', 63);
    c->member.cluster[63] = 0;
    c->member.cluster[0] = '!';
}
static void mk_add_unspec(struct fsm_cmd *c)
{
    *c = t_add(5, "e", "eu", FSM_ROLE_LEARNER);
    strcpy(c->member.peer_host, "0.0.0.0");
}
static void mk_add_badhost(struct fsm_cmd *c)
{
    *c = t_add(5, "e", "eu", FSM_ROLE_LEARNER);
    strcpy(c->member.nats_host, "bad_host!");
}
static void mk_add_clash(struct fsm_cmd *c)
{
    *c = t_add(5, "e", "eu", FSM_ROLE_LEARNER);
    c->member.peer_port = 8001; /* the seed's peer port */
}
static void mk_add_sameports(struct fsm_cmd *c)
{
    *c = t_add(5, "e", "eu", FSM_ROLE_LEARNER);
    c->member.nats_cluster_port = c->member.nats_client_port;
}
static void mk_add_port0(struct fsm_cmd *c)
{
    *c = t_add(5, "e", "eu", FSM_ROLE_LEARNER);
    c->member.nats_leaf_port = 0;
}
static void mk_add_seedflag(struct fsm_cmd *c)
{
    *c = t_add(5, "e", "eu", FSM_ROLE_REPLICA);
    c->member.seed = 1;
}
static void mk_bootstrap_again(struct fsm_cmd *c) { *c = t_bootstrap(); }
static void mk_promote_unknown(struct fsm_cmd *c)
{
    *c = t_id_cmd(FSM_CMD_MEMBER_PROMOTE, 42);
}
static void mk_promote_voter(struct fsm_cmd *c)
{
    *c = t_id_cmd(FSM_CMD_MEMBER_PROMOTE, 1);
}
static void mk_remove_last(struct fsm_cmd *c)
{
    *c = t_id_cmd(FSM_CMD_MEMBER_REMOVE, 1);
}
static void mk_rename_merge(struct fsm_cmd *c)
{
    *c = t_cmd(FSM_CMD_CLUSTER_RENAME);
    c->cluster_from = (struct fsm_str){"eu", 2};
    c->cluster_to = (struct fsm_str){"us", 2};
}
static void mk_rename_missing(struct fsm_cmd *c)
{
    *c = t_cmd(FSM_CMD_CLUSTER_RENAME);
    c->cluster_from = (struct fsm_str){"asia", 4};
    c->cluster_to = (struct fsm_str){"apac", 4};
}
static void mk_seq0(struct fsm_cmd *c)
{
    *c = t_set("k", "1");
    c->client_id = 9;
}
static void mk_recover_self(struct fsm_cmd *c)
{
    *c = t_id_cmd(FSM_CMD_FORCE_RECOVER, 1);
    c->n_remove = 1;
    c->remove_ids[0] = 1;
}
static void mk_recover_replica(struct fsm_cmd *c)
{
    *c = t_id_cmd(FSM_CMD_FORCE_RECOVER, 3);
}
static void mk_address_unknown(struct fsm_cmd *c)
{
    *c = t_add(42, "x", "x", FSM_ROLE_VOTER);
    c->type = FSM_CMD_MEMBER_ADDRESS;
}
static void mk_bad_type(struct fsm_cmd *c) { *c = t_cmd(42); }

struct cmd_row {
    void (*mk)(struct fsm_cmd *c);
    int rc;
    const char *err;
};

static void rejected_commands(void **state)
{
    (void)state;
    const struct cmd_row rows[] = {
        {mk_set_noncanon, -PM_EINVAL,
         "value is not in canonical form (use fsm_value_normalize)"},
        {mk_set_notjson, -PM_EINVAL, "value is not JSON text"},
        {mk_set_empty, -PM_EINVAL, "value is empty (not JSON)"},
        {mk_set_badkey, -PM_EINVAL,
         "key 'k k': character ' ' is not allowed (use A-Z a-z 0-9 _ - and "
         "dots between segments)"},
        {mk_set_below, -PM_EREJECTED,
         "cannot set 'a.b.c': 'a.b' holds a value; unset it or set 'a.b' as "
         "a whole"},
        {mk_unset_missing, -PM_ENOTFOUND, "key 'nope' is not set"},
        {mk_unset_inside, -PM_EREJECTED,
         "cannot unset 'obj.x': it is inside the value of 'obj'; set 'obj' "
         "as a whole"},
        {mk_add_taken, -PM_EEXIST, "member name 'seed' is taken"},
        {mk_add_voter, -PM_EINVAL,
         "a member joins as learner or replica; promote it to make it a "
         "voter"},
        {mk_add_id, -PM_EEXIST, "member id 1 exists ('seed')"},
        {mk_add_badname, -PM_EINVAL,
         "member name 'a b' may only hold A-Z a-z 0-9 _ -"},
        {mk_add_longcluster, -PM_EINVAL,
         "cluster label '!cccccccccccccccccccccccccccccccccccccccccccccc"
         "c...' may only hold A-Z a-z 0-9 _ -"},
        {mk_add_unspec, -PM_EINVAL,
         "peer host '0.0.0.0' is an unspecified address; others must be "
         "able to dial it"},
        {mk_add_badhost, -PM_EINVAL,
         "NATS host 'bad_host!' is not a host name or IP address"},
        {mk_add_clash, -PM_EEXIST,
         "address 127.0.0.1:8001 is already used by member 'seed'"},
        {mk_add_sameports, -PM_EINVAL,
         "NATS client and cluster ports are both 10050"},
        {mk_add_port0, -PM_EINVAL, "NATS leaf node port is 0"},
        {mk_add_seedflag, -PM_EINVAL, "only the bootstrap member is the seed"},
        {mk_bootstrap_again, -PM_EEXIST, "the mesh is already bootstrapped"},
        {mk_promote_unknown, -PM_ENOTFOUND, "no member with id 42"},
        {mk_promote_voter, -PM_EEXIST, "member 'seed' is already a voter"},
        {mk_remove_last, -PM_EREJECTED,
         "member 'seed' is the last voter and cannot be removed"},
        {mk_rename_merge, -PM_EEXIST,
         "cluster 'us' exists; renaming would merge clusters"},
        {mk_rename_missing, -PM_ENOTFOUND, "no member is in cluster 'asia'"},
        {mk_seq0, -PM_EINVAL, "request sequence number is 0"},
        {mk_recover_self, -PM_EINVAL,
         "the recovering member cannot remove itself"},
        {mk_recover_replica, -PM_EREJECTED,
         "member 'r' is not a voter and cannot recover the mesh"},
        {mk_address_unknown, -PM_ENOTFOUND, "no member with id 42"},
        {mk_bad_type, -PM_EINVAL, "command type 42 is unknown"},
    };
    /* The state: seed (voter, eu), r (replica, us), a.b = 1, obj = {x:1}. */
    struct fsm *f = t_fsm_booted();
    struct fsm_cmd c = t_add(3, "r", "us", FSM_ROLE_REPLICA);
    assert_int_equal(t_apply(f, &c, NULL), 0);
    c = t_set("a.b", "1");
    assert_int_equal(t_apply(f, &c, NULL), 0);
    c = t_set("obj", "{\"x\":1}");
    assert_int_equal(t_apply(f, &c, NULL), 0);

    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char err[FSM_ERR_LEN] = "";
        rows[i].mk(&c);
        int rc = fsm_validate(f, &c, err, sizeof err);
        if (rc != rows[i].rc || strcmp(err, rows[i].err) != 0)
            fail_msg("command row %zu: got %d '%s'", i, rc, err);
        if (c.type > FSM_CMD__MAX)
            continue; /* cannot be encoded */
        /* Applied anyway: a no-op with the same verdict. */
        fsm_changes_clear(f);
        char *before = t_get(f, NULL);
        size_t nm = fsm_member_count(f);
        struct fsm_member ms[4];
        for (size_t k = 0; k < nm; k++)
            ms[k] = *fsm_member_at(f, k);
        struct fsm_result r;
        uint64_t a = fsm_applied(f);
        assert_int_equal(t_apply(f, &c, &r), rows[i].rc);
        assert_string_equal(r.error, rows[i].err);
        assert_int_equal(r.changed, 0);
        assert_int_equal(fsm_applied(f), a + 1);
        struct fsm_changes ch;
        fsm_changes(f, &ch);
        assert_int_equal(ch.n, 0);
        t_assert_get(f, NULL, before);
        free(before);
        assert_int_equal(fsm_member_count(f), nm);
        for (size_t k = 0; k < nm; k++)
            assert_memory_equal(&ms[k], fsm_member_at(f, k), sizeof ms[k]);
    }
    assert_true(sizeof rows / sizeof rows[0] +
                    15 /* keys */ + 12 /* values */ >= 30);
    fsm_free(f);
}

/* Stateless validation (no FSM) catches syntax but not state conflicts. */
static void stateless_validation(void **state)
{
    (void)state;
    char err[FSM_ERR_LEN];
    struct fsm_cmd c = t_add(1, "seed", "eu", FSM_ROLE_LEARNER);
    assert_int_equal(fsm_validate(NULL, &c, err, sizeof err), 0);
    c = t_set("a", "{ }");
    assert_int_equal(fsm_validate(NULL, &c, err, sizeof err), -PM_EINVAL);
    c = t_set("a", "1");
    struct fsm *f;
    assert_int_equal(fsm_new(&f), 0);
    assert_int_equal(fsm_validate(f, &c, err, sizeof err), -PM_ESTATE);
    assert_string_equal(err, "the mesh is not bootstrapped");
    fsm_free(f);
}

int main(void)
{
    init_inputs();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rejected_keys),
        cmocka_unit_test(rejected_values),
        cmocka_unit_test(rejected_commands),
        cmocka_unit_test(stateless_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
