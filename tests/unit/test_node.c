/* test_node.c: the node's home directory, identity file and setup. (The
 * running node is tested with real processes in tests/integration/node.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/err.h"
#include "base/seedurl.h"
#include "node/home.h"
#include "node/node.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *tmp_home(void)
{
    char *d = strdup("/tmp/pmesh-test-node-XXXXXX");
    assert_non_null(mkdtemp(d));
    return d;
}

static void rm_rf(const char *d)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    assert_int_equal(system(cmd), 0);
}

static unsigned file_mode(const char *dir, const char *leaf)
{
    char p[1100];
    struct stat st;
    snprintf(p, sizeof p, "%.512s/%.64s", dir, leaf);
    if (stat(p, &st) != 0)
        return 0;
    return st.st_mode & 0777;
}

static void identity_round_trips(void **state)
{
    (void)state;
    char *d = tmp_home();
    struct home_identity a, b;
    memset(&a, 0, sizeof a);
    a.role = NODE_ROLE_REPLICA;
    a.node_id = UINT64_MAX - 5; /* above 2^53: must survive JSON */
    a.mesh_id = 0x8000000000000001ull;
    snprintf(a.name, sizeof a.name, "r-1");
    snprintf(a.cluster, sizeof a.cluster, "eu");
    snprintf(a.listen, sizeof a.listen, "0.0.0.0:9000");
    snprintf(a.advertise, sizeof a.advertise, "[::1]:9000");
    snprintf(a.nats_host, sizeof a.nats_host, "127.0.0.1");
    for (int i = 0; i < 5; i++)
        a.nats_ports[i] = (uint16_t)(4222 + i);
    for (int i = 0; i < 32; i++)
        a.secret[i] = (uint8_t)(i * 7);
    a.has_secret = 1;
    a.n_peers = 2;
    a.peers[0].id = 1;
    snprintf(a.peers[0].addr, sizeof a.peers[0].addr, "127.0.0.1:8443");
    a.peers[1].id = 2;
    snprintf(a.peers[1].addr, sizeof a.peers[1].addr, "h.example:8444");
    assert_int_equal(home_identity_write(d, &a), 0);
    assert_int_equal(file_mode(d, "identity.json"), 0600);
    assert_int_equal(home_identity_read(d, &b), 0);
    assert_int_equal(b.role, a.role);
    assert_true(b.node_id == a.node_id);
    assert_true(b.mesh_id == a.mesh_id);
    assert_string_equal(b.name, a.name);
    assert_string_equal(b.advertise, a.advertise);
    assert_memory_equal(b.secret, a.secret, 32);
    assert_int_equal(b.n_peers, 2);
    assert_string_equal(b.peers[1].addr, "h.example:8444");
    assert_int_equal(b.nats_ports[4], 4226);
    rm_rf(d);
    free(d);
}

static void identity_damaged_is_corrupt(void **state)
{
    (void)state;
    char *d = tmp_home();
    struct home_identity id;
    assert_int_equal(home_identity_read(d, &id), -PM_ENOTFOUND);
    const char *bad = "{\"role\":\"voter\",\"node_id\":\"x\"}";
    assert_int_equal(home_write_file(d, "identity.json", bad, strlen(bad),
                                     0600), 0);
    assert_int_equal(home_identity_read(d, &id), -PM_ECORRUPT);
    const char *garbage = "\x01\x02 not json";
    assert_int_equal(home_write_file(d, "identity.json", garbage,
                                     strlen(garbage), 0600), 0);
    assert_int_equal(home_identity_read(d, &id), -PM_ECORRUPT);
    rm_rf(d);
    free(d);
}

static void secret_text_round_trips(void **state)
{
    (void)state;
    uint8_t s[32], t[32];
    for (int i = 0; i < 32; i++)
        s[i] = (uint8_t)(255 - i);
    char text[44];
    home_secret_encode(s, text);
    assert_int_equal(strlen(text), 43);
    assert_int_equal(home_secret_decode(text, t), 0);
    assert_memory_equal(s, t, 32);
    assert_int_equal(home_secret_decode("short", t), -PM_EINVAL);
}

static void setup_seed_creates_home(void **state)
{
    (void)state;
    char *d = tmp_home();
    char home[512];
    snprintf(home, sizeof home, "%s/seed", d);
    struct node_setup s = {.home = home, .name = "alpha",
                           .listen = "127.0.0.1:18443", .nats_port = 14222};
    char err[NODE_ERR_LEN] = "";
    char *url = NULL;
    int rc = node_setup_seed(&s, &url, err, sizeof err);
    assert_int_equal(rc, 0);
    assert_non_null(url);
    struct pm_seedurl u;
    assert_int_equal(pm_seedurl_parse(url, &u, NULL, 0), 0);
    assert_int_equal(u.n_hosts, 1);
    assert_int_equal(u.hosts[0].port, 18443);
    assert_int_equal(file_mode(d, "seed"), 0700);
    assert_int_equal(file_mode(home, "identity.json"), 0600);
    assert_int_equal(file_mode(home, "settings.json"), 0600);
    assert_int_equal(file_mode(home, "nats.conf"), 0600);

    struct node_home_info info;
    assert_int_equal(node_home_info(home, &info, err, sizeof err), 0);
    assert_int_equal(info.role, NODE_ROLE_VOTER);
    assert_true(info.node_id != 0 && info.mesh_id != 0);
    assert_string_equal(info.name, "alpha");
    assert_memory_equal(info.secret, u.secret, 32);
    assert_non_null(strstr(info.control_path, "control.sock"));

    /* A second setup of the same home is refused. */
    char *url2 = NULL;
    assert_int_equal(node_setup_seed(&s, &url2, err, sizeof err),
                     -PM_EEXIST);
    assert_null(url2);
    assert_non_null(strstr(err, "already set up"));
    free(url);
    rm_rf(d);
    free(d);
}

static void setup_rejects_bad_input(void **state)
{
    (void)state;
    char *d = tmp_home();
    char home[512];
    snprintf(home, sizeof home, "%s/h", d);
    char err[NODE_ERR_LEN] = "";
    char *url = NULL;
    struct node_setup s = {.home = home, .name = "bad name!"};
    assert_int_equal(node_setup_seed(&s, &url, err, sizeof err), -PM_EINVAL);
    assert_non_null(strstr(err, "name"));
    struct node_setup s2 = {.home = home, .name = "ok", .listen = "nohost"};
    assert_int_equal(node_setup_seed(&s2, &url, err, sizeof err), -PM_EINVAL);
    assert_non_null(strstr(err, "listen"));
    struct node_setup s3 = {.home = home, .name = "ok",
                            .listen = "127.0.0.1:1", .secret = "tooshort"};
    assert_int_equal(node_setup_seed(&s3, &url, err, sizeof err), -PM_EINVAL);
    assert_non_null(strstr(err, "secret"));
    struct node_setup s4 = {.home = home, .name = "j"};
    assert_int_equal(node_setup_join(&s4, "http://nope", 0, err, sizeof err),
                     -PM_EINVAL);
    assert_non_null(strstr(err, "seed URL"));
    assert_null(url);
    rm_rf(d);
    free(d);
}

static void setup_client_and_run_refuses(void **state)
{
    (void)state;
    char *d = tmp_home();
    char home[512];
    snprintf(home, sizeof home, "%s/c", d);
    char err[NODE_ERR_LEN] = "";
    uint8_t sec[32] = {1, 2, 3};
    char sect[PM_SEED_SECRET_TEXT_LEN + 1];
    assert_true(pm_seed_secret_format(sec, sect, sizeof sect) > 0);
    char url[256];
    snprintf(url, sizeof url, "pmtp://%s@127.0.0.1:1,127.0.0.2:2", sect);
    assert_int_equal(node_setup_client(home, url, NULL, err, sizeof err), 0);
    assert_int_equal(file_mode(home, "settings.json"), 0600);
    struct node_home_info info;
    assert_int_equal(node_home_info(home, &info, err, sizeof err), 0);
    assert_int_equal(info.role, NODE_ROLE_CLIENT);
    assert_int_equal(info.n_servers, 2);
    assert_string_equal(info.servers[1], "127.0.0.2:2");
    assert_memory_equal(info.secret, sec, 32);
    assert_int_equal(node_run(home, NULL, err, sizeof err), -PM_ESTATE);
    assert_non_null(strstr(err, "client"));

    char missing[512];
    snprintf(missing, sizeof missing, "%s/none", d);
    assert_int_equal(node_run(missing, NULL, err, sizeof err), -PM_ENOTFOUND);
    assert_int_equal(node_home_info(missing, &info, err, sizeof err),
                     -PM_ENOTFOUND);
    assert_int_equal(node_setup_client(missing, NULL, NULL, err, sizeof err),
                     -PM_EINVAL);
    rm_rf(d);
    free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(identity_round_trips),
        cmocka_unit_test(identity_damaged_is_corrupt),
        cmocka_unit_test(secret_text_round_trips),
        cmocka_unit_test(setup_seed_creates_home),
        cmocka_unit_test(setup_rejects_bad_input),
        cmocka_unit_test(setup_client_and_run_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
