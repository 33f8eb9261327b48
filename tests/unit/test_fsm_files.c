/* test_fsm_files.c: settings.json (golden files of canonical meshes, the
 * node-independent part identical on every node), the seed URL, nats.conf
 * through the generator, and the atomic writer.
 *
 * Golden files live in tests/golden/fsm/. After an intended format change,
 * regenerate them with PMESH_UPDATE_GOLDEN=1 and review the diff. */
#include "test_fsm_util.h"
#include "fsm/natsconf.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#define GOLDEN_DIR "tests/golden/fsm/"

static void check_golden(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, GOLDEN_DIR "%s", name);
    if (getenv("PMESH_UPDATE_GOLDEN")) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
        return;
    }
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("missing golden file %s (PMESH_UPDATE_GOLDEN=1 makes it)",
                 path);
    static char want[1 << 16];
    size_t n = fread(want, 1, sizeof want - 1, f);
    fclose(f);
    want[n] = 0;
    assert_string_equal(text, want);
}

static struct fsm *supercluster(void)
{
    struct fsm *f = t_fsm_booted();
    struct fsm_cmd c;
    c = t_add(2, "b", "eu", FSM_ROLE_LEARNER);
    assert_int_equal(t_apply(f, &c, NULL), 0);
    c = t_id_cmd(FSM_CMD_MEMBER_PROMOTE, 2);
    assert_int_equal(t_apply(f, &c, NULL), 0);
    c = t_add(3, "c", "us", FSM_ROLE_LEARNER);
    assert_int_equal(t_apply(f, &c, NULL), 0);
    c = t_id_cmd(FSM_CMD_MEMBER_PROMOTE, 3);
    assert_int_equal(t_apply(f, &c, NULL), 0);
    c = t_add(4, "d", "us", FSM_ROLE_REPLICA);
    assert_int_equal(t_apply(f, &c, NULL), 0);
    c = t_add(5, "e", "eu", FSM_ROLE_LEARNER);
    assert_int_equal(t_apply(f, &c, NULL), 0);
    c = t_set("app.name", "\"demo\"");
    assert_int_equal(t_apply(f, &c, NULL), 0);
    c = t_set("app.limits", "{\"rps\":100,\"burst\":[1,2]}");
    assert_int_equal(t_apply(f, &c, NULL), 0);
    c = t_set("nats.max_payload", "1048576");
    assert_int_equal(t_apply(f, &c, NULL), 0);
    c = t_set("feature-x", "true");
    assert_int_equal(t_apply(f, &c, NULL), 0);
    fsm_changes_clear(f);
    return f;
}

static void golden_settings_json(void **state)
{
    (void)state;
    struct fsm *f = t_fsm_booted();
    char *text;
    size_t len;
    assert_int_equal(fsm_render_settings(f, 1, &text, &len), 0);
    assert_int_equal(len, strlen(text));
    check_golden("settings_lone_seed.json", text);
    free(text);
    fsm_free(f);

    f = supercluster();
    assert_int_equal(fsm_render_settings(f, 4, &text, &len), 0);
    check_golden("settings_supercluster_replica.json", text);
    free(text);
    assert_int_equal(fsm_render_settings(f, 1, &text, &len), 0);
    check_golden("settings_supercluster_seed.json", text);
    /* Rendering is stable. */
    char *again;
    assert_int_equal(fsm_render_settings(f, 1, &again, NULL), 0);
    assert_string_equal(text, again);
    free(again);
    free(text);
    assert_int_equal(fsm_render_settings(f, 99, &text, &len), -PM_ENOTFOUND);
    fsm_free(f);
    assert_int_equal(fsm_new(&f), 0);
    assert_int_equal(fsm_render_settings(f, 1, &text, &len), -PM_ESTATE);
    fsm_free(f);
}

static void mesh_part_is_identical_on_every_node(void **state)
{
    (void)state;
    struct fsm *f = supercluster();
    char *first = NULL;
    for (size_t i = 0; i < fsm_member_count(f); i++) {
        char *text;
        uint64_t id = fsm_member_at(f, i)->id;
        assert_int_equal(fsm_render_settings(f, id, &text, NULL), 0);
        cJSON *j = cJSON_Parse(text);
        assert_non_null(j);
        cJSON *node = cJSON_GetObjectItem(j, "node");
        assert_non_null(node);
        assert_int_equal(cJSON_GetObjectItem(node, "id")->valuedouble,
                         (double)id);
        cJSON_DeleteItemFromObject(j, "node");
        char *rest = cJSON_Print(j);
        cJSON_Delete(j);
        free(text);
        if (!first)
            first = rest;
        else {
            assert_string_equal(rest, first);
            free(rest);
        }
    }
    free(first);
    fsm_free(f);
}

static void seed_url_lists_voters_seed_first(void **state)
{
    (void)state;
    struct fsm *f = supercluster();
    char url[1024];
    assert_int_equal(fsm_seed_url(f, url, sizeof url), 0);
    /* secret bytes i*7+1 in URL-safe base64 without padding */
    assert_non_null(strstr(url, "@127.0.0.1:8001,127.0.0.1:8002,"
                                "127.0.0.1:8003"));
    assert_int_equal(strncmp(url, "pmtp://", 7), 0);
    assert_null(strstr(url, ":8004")); /* replica */
    assert_null(strstr(url, ":8005")); /* learner */
    assert_int_equal(fsm_seed_url(f, url, 10), -PM_ETOOBIG);
    /* IPv6 voters appear in brackets. */
    struct fsm_cmd c = t_add(7, "v6", "eu", FSM_ROLE_LEARNER);
    strcpy(c.member.peer_host, "::1");
    assert_int_equal(t_apply(f, &c, NULL), 0);
    c = t_id_cmd(FSM_CMD_MEMBER_PROMOTE, 7);
    assert_int_equal(t_apply(f, &c, NULL), 0);
    assert_int_equal(fsm_seed_url(f, url, sizeof url), 0);
    assert_non_null(strstr(url, ",127.0.0.1:8003,[::1]:8007"));
    fsm_free(f);
}

static void nats_conf_comes_from_the_generator(void **state)
{
    (void)state;
    struct fsm *f = supercluster();
    char *conf, *conf2;
    size_t len;
    assert_int_equal(fsm_render_nats(f, 1, "/home/p", &conf, &len), 0);
    assert_non_null(strstr(conf, "server_name"));
    assert_non_null(strstr(conf, "store_dir: \"/home/p/"));
    /* The secret itself never appears (only derived credentials). */
    assert_int_equal(fsm_render_nats(f, 4, "/home/p", &conf2, &len), 0);
    assert_string_not_equal(conf, conf2);
    assert_int_equal(fsm_nats_change(conf, conf), FSM_NATS_SAME);
    assert_int_equal(fsm_nats_change(NULL, conf), FSM_NATS_RESTART);
    free(conf2);
    /* A new replica changes nothing that needs a restart on the seed. */
    struct fsm_cmd c = t_add(6, "f", "eu", FSM_ROLE_REPLICA);
    assert_int_equal(t_apply(f, &c, NULL), 0);
    assert_int_equal(fsm_render_nats(f, 1, "/home/p", &conf2, &len), 0);
    int change = fsm_nats_change(conf, conf2);
    assert_true(change == FSM_NATS_SAME || change == FSM_NATS_RELOAD);
    free(conf);
    free(conf2);
    assert_int_equal(fsm_render_nats(f, 99, "/home/p", &conf, &len),
                     -PM_ENOTFOUND);
    fsm_free(f);
}

static void write_file_is_atomic_private_and_lazy(void **state)
{
    (void)state;
    char *dir = t_tmpdir();
    char path[512];
    struct stat st1, st2;
    int written;
    snprintf(path, sizeof path, "%s/f.json", dir);
    mode_t old = umask(0);
    assert_int_equal(fsm_write_file(path, "abc", 3, &written), 0);
    umask(old);
    assert_int_equal(written, 1);
    assert_int_equal(stat(path, &st1), 0);
    assert_int_equal(st1.st_mode & 0777, 0600);
    assert_int_equal(st1.st_size, 3);
    /* Same bytes: not rewritten (same inode, nothing written). */
    assert_int_equal(fsm_write_file(path, "abc", 3, &written), 0);
    assert_int_equal(written, 0);
    assert_int_equal(stat(path, &st2), 0);
    assert_int_equal(st1.st_ino, st2.st_ino);
    /* New bytes: replaced by rename (new inode), no temp file left. */
    assert_int_equal(fsm_write_file(path, "abcd", 4, &written), 0);
    assert_int_equal(written, 1);
    assert_int_equal(stat(path, &st2), 0);
    assert_int_not_equal(st1.st_ino, st2.st_ino);
    assert_int_equal(st2.st_size, 4);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_not_equal(access(tmp, F_OK), 0);
    /* Same bytes but a loose mode: rewritten 0600. */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(fsm_write_file(path, "abcd", 4, &written), 0);
    assert_int_equal(written, 1);
    assert_int_equal(stat(path, &st2), 0);
    assert_int_equal(st2.st_mode & 0777, 0600);
    /* A directory that does not exist: an error, no crash. */
    snprintf(path, sizeof path, "%s/missing/f.json", dir);
    assert_true(fsm_write_file(path, "x", 1, &written) < 0);
    assert_int_equal(written, 0);
    t_rmdir(dir);
}

static void materialize_writes_both_files_when_changed(void **state)
{
    (void)state;
    char *dir = t_tmpdir();
    struct fsm *f = supercluster();
    int sw, nc;
    char path[512];
    struct stat st;
    assert_int_equal(fsm_materialize(f, 1, dir, &sw, &nc), 0);
    assert_int_equal(sw, 1);
    assert_int_equal(nc, FSM_NATS_RESTART); /* nothing ran before */
    snprintf(path, sizeof path, "%s/nats.conf", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(path, sizeof path, "%s/settings.json", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* Nothing changed: nothing written. */
    assert_int_equal(fsm_materialize(f, 1, dir, &sw, &nc), 0);
    assert_int_equal(sw, 0);
    assert_int_equal(nc, FSM_NATS_SAME);
    /* A setting changes settings.json only. */
    struct fsm_cmd c = t_set("app.name", "\"other\"");
    assert_int_equal(t_apply(f, &c, NULL), 0);
    assert_int_equal(fsm_materialize(f, 1, dir, &sw, &nc), 0);
    assert_int_equal(sw, 1);
    assert_int_equal(nc, FSM_NATS_SAME);
    fsm_free(f);
    t_rmdir(dir);
}

/* fsm_render_settings keeps the mesh-wide part between calls: every
 * change of the state (apply, restore) must show in the next render, on
 * every node. */
static void render_follows_every_change(void **state)
{
    (void)state;
    struct fsm *f = supercluster();
    char *before, *text;
    uint8_t *snap;
    size_t snap_len;
    assert_int_equal(fsm_render_settings(f, 1, &before, NULL), 0);
    assert_int_equal(fsm_snapshot(f, &snap, &snap_len), 0);
    struct fsm_cmd c = t_set("app.name", "\"changed\"");
    assert_int_equal(t_apply(f, &c, NULL), 0);
    for (uint64_t id = 1; id <= 5; id++) {
        assert_int_equal(fsm_render_settings(f, id, &text, NULL), 0);
        assert_non_null(strstr(text, "\"changed\""));
        assert_null(strstr(text, "\"demo\""));
        free(text);
    }
    /* A rejected command changes nothing, and the render says so. */
    c = t_id_cmd(FSM_CMD_MEMBER_PROMOTE, 99);
    assert_int_not_equal(t_apply(f, &c, NULL), 0);
    assert_int_equal(fsm_render_settings(f, 1, &text, NULL), 0);
    assert_non_null(strstr(text, "\"changed\""));
    free(text);
    c = t_id_cmd(FSM_CMD_MEMBER_REMOVE, 5);
    assert_int_equal(t_apply(f, &c, NULL), 0);
    assert_int_equal(fsm_render_settings(f, 1, &text, NULL), 0);
    assert_null(strstr(text, "\"e\""));
    free(text);
    assert_int_equal(fsm_render_settings(f, 5, &text, NULL), -PM_ENOTFOUND);
    /* Back to the snapshot: byte for byte the first render. */
    assert_int_equal(fsm_restore(f, snap, snap_len), 0);
    assert_int_equal(fsm_render_settings(f, 1, &text, NULL), 0);
    assert_string_equal(text, before);
    free(text);
    free(before);
    free(snap);
    fsm_free(f);
}

/* settings.json is laid out without cJSON (settings.c); its bytes must be
 * what cJSON_Print makes of the same document, for every shape of value:
 * nested objects and arrays, empty ones, escapes, numbers. */
static void settings_layout_is_cjson_print(void **state)
{
    (void)state;
    struct fsm *f = supercluster();
    static const char *const kv[][2] = {
        {"deep.a.b.c", "{\"x\":[1,{\"y\":[],\"z\":{}},[[\"s\"]]],\"w\":null}"},
        {"deep.empty_obj", "{}"},
        {"deep.empty_arr", "[]"},
        {"esc", "\"quote \\\" brace { colon : comma , tab \\t\""},
        {"nums", "[-0,1.5,1e15,2,-7.25e-3]"},
        {"obj_in_arr", "[{\"a\":1,\"b\":[true,false]},{}]"},
        {"plain", "\"abc\""},
    };
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
        char *json;
        size_t n;
        assert_int_equal(fsm_value_normalize(kv[i][1], strlen(kv[i][1]),
                                             &json, &n, NULL, 0), 0);
        struct fsm_cmd c = t_set(kv[i][0], json);
        assert_int_equal(t_apply(f, &c, NULL), 0);
        free(json);
    }
    for (uint64_t id = 1; id <= 5; id++) {
        char *text;
        size_t len;
        assert_int_equal(fsm_render_settings(f, id, &text, &len), 0);
        cJSON *j = cJSON_Parse(text);
        assert_non_null(j);
        char *again = cJSON_Print(j);
        cJSON_Delete(j);
        assert_non_null(again);
        assert_int_equal(len, strlen(again) + 1);
        assert_memory_equal(text, again, len - 1);
        assert_int_equal(text[len - 1], '\n');
        free(again);
        free(text);
    }
    fsm_free(f);
}

/* fsm_render_nats keeps the prepared mesh between calls: every member's
 * nats.conf is what the generator makes of the members directly, before
 * and after a change (a promotion turns a leaf into a server). */
static void render_nats_matches_the_generator(void **state)
{
    (void)state;
    struct fsm *f = supercluster();
    for (int round = 0; round < 2; round++) {
        size_t n = fsm_member_count(f);
        struct fsm_natsconf_member *ms = calloc(n, sizeof *ms);
        assert_non_null(ms);
        for (size_t i = 0; i < n; i++) {
            const struct fsm_member *m = fsm_member_at(f, i);
            ms[i] = (struct fsm_natsconf_member){
                .id = m->id, .name = m->name, .cluster = m->cluster,
                .role = m->role == FSM_ROLE_VOTER ? FSM_NATSCONF_VOTER
                                                  : FSM_NATSCONF_REPLICA,
                .seed = m->id == 1, .host = m->nats_host,
                .client_port = m->nats_client_port,
                .cluster_port = m->nats_cluster_port,
                .gateway_port = m->nats_gateway_port,
                .leafnode_port = m->nats_leaf_port,
                .http_port = m->nats_http_port};
        }
        uint8_t secret[32];
        for (int i = 0; i < 32; i++)
            secret[i] = (uint8_t)(i * 7 + 1); /* t_bootstrap's */
        for (size_t i = 0; i < n; i++) {
            struct fsm_natsconf_input in = {
                .members = ms, .members_len = n, .secret = secret,
                .secret_len = sizeof secret,
                .self_id = fsm_member_at(f, i)->id, .home = "/home/p"};
            char *want, *got;
            assert_int_equal(fsm_natsconf_render(&in, &want, NULL), 0);
            assert_int_equal(fsm_render_nats(f, in.self_id, "/home/p", &got,
                                             NULL), 0);
            assert_string_equal(got, want);
            free(want);
            free(got);
        }
        free(ms);
        if (round == 0) {
            struct fsm_cmd c = t_id_cmd(FSM_CMD_MEMBER_PROMOTE, 5);
            assert_int_equal(t_apply(f, &c, NULL), 0);
        }
    }
    fsm_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(golden_settings_json),
        cmocka_unit_test(render_follows_every_change),
        cmocka_unit_test(render_nats_matches_the_generator),
        cmocka_unit_test(settings_layout_is_cjson_print),
        cmocka_unit_test(mesh_part_is_identical_on_every_node),
        cmocka_unit_test(seed_url_lists_voters_seed_first),
        cmocka_unit_test(nats_conf_comes_from_the_generator),
        cmocka_unit_test(write_file_is_atomic_private_and_lazy),
        cmocka_unit_test(materialize_writes_both_files_when_changed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
