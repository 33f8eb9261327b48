/* test_fsm_natsconf.c: the nats.conf generator (src/fsm/natsconf.h).
 *
 * Golden files: tests/golden/natsconf/<mesh>/<member>.conf, compared byte
 * for byte; PMESH_UPDATE_GOLDEN=1 rewrites them (review the diff!).
 * PMESH_GOLDEN_DIR overrides the directory (default: relative to the
 * repository root, where `make check` runs). PMESH_NATSCONF_BENCH=1 also
 * times the worst-case mesh.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <cmocka.h>

#include <sodium.h>

#include "base/err.h"
#include "fsm/natsconf.h"

#define MAXM 8

/* Printable on purpose, so that a leak of the raw bytes would be visible. */
static const uint8_t secret[32] = "s3cret-mesh-key-0123456789abcdef";

struct spec {
    const char *name;
    uint8_t role;
    const char *cluster;
    bool seed;
};

struct mesh {
    const char *name;
    size_t n;
    struct spec m[MAXM];
};

#define V FSM_NATSCONF_VOTER
#define R FSM_NATSCONF_REPLICA
/* The canonical shapes of the brief, plus a lone label inside a
 * supercluster and a replica whose label has no server. */
static const struct mesh meshes[] = {
    {"seed", 1, {{"a", V, "east", true}}},
    {"seed+1", 2, {{"a", V, "east", true}, {"b", V, "east", false}}},
    {"3", 3, {{"a", V, "east", true}, {"b", V, "east", false}, {"c", V, "east", false}}},
    {"5", 5,
     {{"a", V, "east", true}, {"b", V, "east", false}, {"c", V, "east", false},
      {"d", V, "east", false}, {"e", V, "east", false}}},
    {"3+3", 6,
     {{"a", V, "east", true}, {"b", V, "east", false}, {"c", V, "east", false},
      {"d", V, "west", false}, {"e", V, "west", false}, {"f", V, "west", false}}},
    {"1+1", 2, {{"a", V, "east", true}, {"b", V, "west", false}}},
    {"3+1r", 4,
     {{"a", V, "east", true}, {"b", V, "east", false}, {"c", V, "east", false},
      {"r", R, "east", false}}},
    {"seed+1r", 2, {{"a", V, "east", true}, {"r", R, "east", false}}},
    {"3+1", 4,
     {{"a", V, "east", true}, {"b", V, "east", false}, {"c", V, "east", false},
      {"d", V, "west", false}}},
    {"seed+1+1r-elsewhere", 3,
     {{"a", V, "east", true}, {"b", V, "west", false}, {"r", R, "north", false}}},
    {"1+2+1r-elsewhere", 4,
     {{"a", V, "west", false}, {"b", V, "east", true}, {"c", V, "east", false},
      {"r", R, "north", false}}},
};
#undef V
#undef R

/* Members on distinct hosts with the default ports (10.0.0.1, ...), ids in
 * a non-sorted order so that sorting is exercised. */
static void build(const struct mesh *ms, struct fsm_natsconf_member *out, char hosts[][16])
{
    for (size_t i = 0; i < ms->n; i++) {
        snprintf(hosts[i], 16, "10.0.0.%u", (unsigned)(i + 1) % 256);
        out[i] = (struct fsm_natsconf_member){
            .id = 1000 - 7 * i, .name = ms->m[i].name, .role = ms->m[i].role,
            .seed = ms->m[i].seed, .cluster = ms->m[i].cluster, .host = hosts[i],
        };
    }
}

static struct fsm_natsconf_input input(const struct fsm_natsconf_member *m, size_t n,
                                       uint64_t self, const char *home)
{
    return (struct fsm_natsconf_input){
        .members = m, .members_len = n, .secret = secret, .secret_len = sizeof secret,
        .self_id = self, .home = home,
    };
}

static char *render_ok(const struct fsm_natsconf_input *in)
{
    char *text = NULL;
    size_t len = 0;
    int rc = fsm_natsconf_render(in, &text, &len);
    if (rc != 0)
        fail_msg("render: %s", pm_strerror(rc));
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    return text;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap);
            assert_non_null(nb);
            buf = nb;
        }
        size_t r = fread(buf + len, 1, cap - len - 1, f);
        len += r;
        if (r == 0)
            break;
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

static const char *golden_dir(void)
{
    const char *d = getenv("PMESH_GOLDEN_DIR");
    return d && *d ? d : "tests/golden/natsconf";
}

static void golden_files_match(void **state)
{
    (void)state;
    bool update = getenv("PMESH_UPDATE_GOLDEN") && strcmp(getenv("PMESH_UPDATE_GOLDEN"), "1") == 0;
    for (size_t k = 0; k < sizeof meshes / sizeof meshes[0]; k++) {
        const struct mesh *ms = &meshes[k];
        struct fsm_natsconf_member m[MAXM];
        char hosts[MAXM][16];
        build(ms, m, hosts);
        char dir[512];
        snprintf(dir, sizeof dir, "%s/%s", golden_dir(), ms->name);
        if (update)
            (void)mkdir(dir, 0755);
        for (size_t i = 0; i < ms->n; i++) {
            char home[64], path[600];
            snprintf(home, sizeof home, "/var/lib/pmesh/%s", m[i].name);
            snprintf(path, sizeof path, "%s/%s.conf", dir, m[i].name);
            struct fsm_natsconf_input in = input(m, ms->n, m[i].id, home);
            char *text = render_ok(&in);
            if (update) {
                FILE *f = fopen(path, "wb");
                if (f == NULL)
                    fail_msg("cannot write %s: %s", path, strerror(errno));
                fputs(text, f);
                fclose(f);
            }
            char *want = slurp(path);
            if (want == NULL)
                fail_msg("missing golden file %s (PMESH_UPDATE_GOLDEN=1 creates it)", path);
            if (strcmp(want, text) != 0) {
                size_t at = 0, line = 1;
                while (want[at] && want[at] == text[at])
                    line += want[at++] == '\n';
                fail_msg("%s differs from the generator at line %zu", path, line);
            }
            free(want);
            free(text);
        }
    }
}

/* Same membership in any order, rendered any number of times: same bytes. */
static void output_is_deterministic(void **state)
{
    (void)state;
    const struct mesh *ms = &meshes[4]; /* 3+3 */
    struct fsm_natsconf_member m[MAXM], p[MAXM];
    char hosts[MAXM][16];
    build(ms, m, hosts);
    for (size_t i = 0; i < ms->n; i++) {
        struct fsm_natsconf_input in = input(m, ms->n, m[i].id, "/h");
        char *ref = render_ok(&in);
        for (unsigned perm = 1; perm < 40; perm++) {
            /* A deterministic shuffle of the member array. */
            memcpy(p, m, sizeof m);
            for (size_t j = ms->n - 1; j > 0; j--) {
                size_t r = (perm * 2654435761u + j * 40503u) % (j + 1);
                struct fsm_natsconf_member t = p[j];
                p[j] = p[r];
                p[r] = t;
            }
            struct fsm_natsconf_input pin = input(p, ms->n, m[i].id, "/h");
            char *again = render_ok(&pin);
            assert_string_equal(ref, again);
            free(again);
        }
        free(ref);
    }
}

/* The secret never appears: raw, hex, or base64 in any variant. */
static void secret_never_in_output(void **state)
{
    (void)state;
    assert_true(sodium_init() >= 0);
    char hex[2 * sizeof secret + 1], b64[4][64];
    sodium_bin2hex(hex, sizeof hex, secret, sizeof secret);
    const int variants[4] = {sodium_base64_VARIANT_ORIGINAL,
                             sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
                             sodium_base64_VARIANT_URLSAFE,
                             sodium_base64_VARIANT_URLSAFE_NO_PADDING};
    for (int v = 0; v < 4; v++)
        sodium_bin2base64(b64[v], sizeof b64[v], secret, sizeof secret, variants[v]);
    char raw[sizeof secret + 1];
    memcpy(raw, secret, sizeof secret);
    raw[sizeof secret] = '\0';
    for (size_t k = 0; k < sizeof meshes / sizeof meshes[0]; k++) {
        struct fsm_natsconf_member m[MAXM];
        char hosts[MAXM][16];
        build(&meshes[k], m, hosts);
        for (size_t i = 0; i < meshes[k].n; i++) {
            struct fsm_natsconf_input in = input(m, meshes[k].n, m[i].id, "/h");
            char *text = render_ok(&in);
            assert_null(strstr(text, raw));
            assert_null(strstr(text, hex));
            /* Even a 16-character window of the text forms is absent. */
            char piece[17];
            for (int v = 0; v < 4; v++) {
                memcpy(piece, b64[v], 16);
                piece[16] = '\0';
                assert_null(strstr(text, piece));
            }
            memcpy(piece, raw, 16);
            assert_null(strstr(text, piece));
            free(text);
        }
    }
}

/* Credentials change with the secret (they are derived from it). */
static void credentials_follow_the_secret(void **state)
{
    (void)state;
    struct fsm_natsconf_member m[MAXM];
    char hosts[MAXM][16];
    build(&meshes[2], m, hosts);
    struct fsm_natsconf_input in = input(m, 3, m[0].id, "/h");
    char *a = render_ok(&in);
    uint8_t other[32];
    memcpy(other, secret, sizeof other);
    other[31] ^= 1;
    in.secret = other;
    char *b = render_ok(&in);
    assert_string_not_equal(a, b);
    /* Only password lines differ. */
    char *sa, *sb, *pa = a, *pb = b;
    for (;;) {
        char *la = strtok_r(pa, "\n", &sa), *lb = strtok_r(pb, "\n", &sb);
        pa = pb = NULL;
        if (la == NULL || lb == NULL) {
            assert_true(la == lb);
            break;
        }
        if (strcmp(la, lb) != 0)
            assert_true(strstr(la, "password") != NULL || strstr(la, "://") != NULL);
    }
    free(a);
    free(b);
}

static size_t count(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* The plan, checked on the text of the canonical shapes. */
static void plan_per_shape(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof meshes / sizeof meshes[0]; k++) {
        const struct mesh *ms = &meshes[k];
        struct fsm_natsconf_member m[MAXM];
        char hosts[MAXM][16];
        build(ms, m, hosts);
        size_t servers = 0;
        for (size_t i = 0; i < ms->n; i++)
            servers += m[i].role == FSM_NATSCONF_VOTER;
        for (size_t i = 0; i < ms->n; i++) {
            struct fsm_natsconf_input in = input(m, ms->n, m[i].id, "/var/lib/x");
            char *t = render_ok(&in);
            struct fsm_natsconf_shape s;
            assert_int_equal(fsm_natsconf_describe(&in, &s), 0);
            bool seed_or_alone = m[i].seed || servers == 1;
            bool server = m[i].role == FSM_NATSCONF_VOTER;
            /* Every listener bound to the member's host; every port line
             * has its host line (client, cluster, gateway, leaf). */
            char hostline[64];
            snprintf(hostline, sizeof hostline, "host: \"%s\"", m[i].host);
            assert_int_equal(count(t, "\nhost: "), 1);
            assert_int_equal(count(t, "  port: ") + 1, count(t, hostline));
            assert_int_equal(count(t, hostline), count(t, "host: "));
            char http[64];
            snprintf(http, sizeof http, "http: \"%s:4226\"", m[i].host);
            assert_non_null(strstr(t, http));
            char sn[64];
            snprintf(sn, sizeof sn, "server_name: \"%s\"\n", m[i].name);
            assert_non_null(strstr(t, sn));
            assert_non_null(strstr(t, "system_account: \"SYS\""));
            if (s.jetstream) {
                assert_non_null(strstr(t, "store_dir: \"/var/lib/x/nats\""));
                assert_non_null(strstr(t, "max_memory_store: 268435456\n"));
                assert_non_null(strstr(t, "max_file_store: 1073741824\n"));
                assert_non_null(strstr(t, "jetstream: enabled"));
            } else {
                assert_null(strstr(t, "jetstream"));
            }
            if (servers <= 2) {
                /* No cluster, no gateway, no clustered JetStream. */
                assert_null(strstr(t, "cluster {"));
                assert_null(strstr(t, "gateway {"));
                assert_false(s.js_clustered);
                if (server && seed_or_alone) {
                    assert_int_equal(s.mode, FSM_NATSCONF_MODE_LONE);
                    assert_true(s.jetstream);
                    assert_null(strstr(t, "remotes"));
                } else {
                    assert_int_equal(s.mode, FSM_NATSCONF_MODE_LEAF);
                    assert_false(s.jetstream);
                    assert_non_null(strstr(t, "remotes"));
                    /* The seed is the only hub: no daisy chain through
                     * the second server. */
                    assert_int_equal(s.leaf_remotes, 1);
                    assert_int_equal(count(t, "nats-leaf://"), 1);
                    assert_non_null(strstr(t, "@10.0.0.1:4225\""));
                }
            } else if (server) {
                assert_int_equal(s.mode, FSM_NATSCONF_MODE_CLUSTER);
                assert_true(s.js_clustered);
                assert_int_equal(s.js_cluster_size, servers);
                assert_non_null(strstr(t, "cluster {"));
                assert_null(strstr(t, "remotes"));
                size_t same = 0, labels_other = 0;
                for (size_t j = 0; j < ms->n; j++)
                    same += m[j].role == FSM_NATSCONF_VOTER &&
                            strcmp(m[j].cluster, m[i].cluster) == 0;
                assert_int_equal(s.routes, same - 1);
                /* Routes to the others, or to itself when alone. */
                assert_int_equal(count(t, "nats-route://"), same > 1 ? same - 1 : 1);
                for (size_t j = 0; j < ms->n; j++) {
                    bool seen = false;
                    for (size_t l = 0; l < j; l++)
                        seen = seen || (m[l].role == FSM_NATSCONF_VOTER &&
                                        strcmp(m[l].cluster, m[j].cluster) == 0);
                    labels_other += m[j].role == FSM_NATSCONF_VOTER && !seen &&
                                    strcmp(m[j].cluster, m[i].cluster) != 0;
                }
                assert_int_equal(s.gateways, labels_other);
                assert_int_equal(strstr(t, "gateway {") != NULL, labels_other > 0);
                assert_int_equal(count(t, "nats://gateway:"), servers - same);
            } else {
                assert_int_equal(s.mode, FSM_NATSCONF_MODE_LEAF);
                assert_null(strstr(t, "cluster {"));
            }
            if (!server) {
                /* A replica listens for nothing but clients and http. */
                assert_int_equal(count(t, "  port: "), 0);
                assert_true(s.leaf_remotes >= 1);
                assert_int_equal(count(t, "nats-leaf://"), s.leaf_remotes);
            }
            free(t);
        }
    }
}

/* --------------------------------------------------------- classifier */

struct world {
    struct fsm_natsconf_member m[MAXM];
    char hosts[MAXM][16];
    size_t n;
};

static void world_3r(struct world *w)
{
    build(&meshes[6], w->m, w->hosts); /* 3 + 1 replica */
    w->n = 4;
}

static enum fsm_natsconf_change classify(const struct world *a, const struct world *b,
                                         size_t self, const char *home_a,
                                         const char *home_b)
{
    struct fsm_natsconf_input ia = input(a->m, a->n, a->m[self].id, home_a);
    struct fsm_natsconf_input ib = input(b->m, b->n, a->m[self].id, home_b);
    enum fsm_natsconf_change c;
    assert_int_equal(fsm_natsconf_classify(&ia, &ib, &c), 0);
    return c;
}

static void classify_none(void **state)
{
    (void)state;
    struct world a, b;
    world_3r(&a);
    b = a;
    for (size_t i = 0; i < a.n; i++)
        assert_int_equal(classify(&a, &b, i, "/h", "/h"), FSM_NATSCONF_NONE);
    /* Reordered members: nothing to do. */
    b.m[0] = a.m[3];
    b.m[3] = a.m[0];
    assert_int_equal(classify(&a, &b, 0, "/h", "/h"), FSM_NATSCONF_NONE);
    /* Comments and blank lines are not configuration. */
    const char *x = "port: 1\n# one\n\nhost: \"h\"\n";
    const char *y = "# other\nport: 1\nhost: \"h\"   \n\n";
    assert_int_equal(fsm_natsconf_classify_text(x, y), FSM_NATSCONF_NONE);
}

static void classify_reloadable_changes(void **state)
{
    (void)state;
    struct world a, b;
    world_3r(&a);
    /* A fourth server in the label: routes only, for the servers. */
    b = a;
    b.m[b.n] = (struct fsm_natsconf_member){.id = 5, .name = "d", .role = FSM_NATSCONF_VOTER,
                                            .cluster = "east", .host = "10.0.0.9"};
    b.n++;
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(classify(&a, &b, i, "/h", "/h"), FSM_NATSCONF_RELOAD);
    /* ... and back. */
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(classify(&b, &a, i, "/h", "/h"), FSM_NATSCONF_RELOAD);
    /* A route's address changes (server c moved): routes only, for a. */
    b = a;
    b.m[2].cluster_port = 7000;
    assert_int_equal(classify(&a, &b, 0, "/h", "/h"), FSM_NATSCONF_RELOAD);
    /* A replica joining or leaving touches no server. */
    b = a;
    b.n = 3;
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(classify(&a, &b, i, "/h", "/h"), FSM_NATSCONF_NONE);

    /* Text level: accounts, users and cluster authorization reload. */
    struct fsm_natsconf_input in = input(a.m, a.n, a.m[0].id, "/h");
    char *t = render_ok(&in);
    char *u = strdup(t);
    assert_non_null(u);
    char *pw = strstr(strstr(u, "accounts {"), "password: \"") + 11;
    pw[0] = pw[0] == 'x' ? 'y' : 'x';
    assert_int_equal(fsm_natsconf_classify_text(t, u), FSM_NATSCONF_RELOAD);
    strcpy(u, t);
    pw = strstr(strstr(u, "cluster {"), "password: \"") + 11;
    pw[0] = pw[0] == 'x' ? 'y' : 'x';
    assert_int_equal(fsm_natsconf_classify_text(t, u), FSM_NATSCONF_RELOAD);
    free(u);
    free(t);
}

static void classify_restart_changes(void **state)
{
    (void)state;
    struct world a, b;
    world_3r(&a);
    /* Each non-reloadable item of the member's own config. */
    b = a;
    b.m[0].client_port = 5222; /* port, and the listeners that follow it */
    assert_int_equal(classify(&a, &b, 0, "/h", "/h"), FSM_NATSCONF_RESTART);
    b = a;
    b.m[0].http_port = 8222;
    assert_int_equal(classify(&a, &b, 0, "/h", "/h"), FSM_NATSCONF_RESTART);
    b = a;
    b.m[0].cluster_port = 6222; /* own cluster port */
    assert_int_equal(classify(&a, &b, 0, "/h", "/h"), FSM_NATSCONF_RESTART);
    b = a;
    b.m[0].leafnode_port = 7422;
    assert_int_equal(classify(&a, &b, 0, "/h", "/h"), FSM_NATSCONF_RESTART);
    b = a;
    b.m[0].host = "10.9.9.9";
    assert_int_equal(classify(&a, &b, 0, "/h", "/h"), FSM_NATSCONF_RESTART);
    b = a;
    b.m[0].name = "renamed";
    assert_int_equal(classify(&a, &b, 0, "/h", "/h"), FSM_NATSCONF_RESTART);
    /* JetStream store_dir and limits. */
    assert_int_equal(classify(&a, &a, 0, "/h", "/other"), FSM_NATSCONF_RESTART);
    {
        struct fsm_natsconf_input ia = input(a.m, a.n, a.m[0].id, "/h");
        struct fsm_natsconf_input ib = ia;
        enum fsm_natsconf_change c;
        ib.js_max_memory_bytes = 1 << 20;
        assert_int_equal(fsm_natsconf_classify(&ia, &ib, &c), 0);
        assert_int_equal(c, FSM_NATSCONF_RESTART);
        ib = ia;
        ib.js_max_file_bytes = 1 << 20;
        assert_int_equal(fsm_natsconf_classify(&ia, &ib, &c), 0);
        assert_int_equal(c, FSM_NATSCONF_RESTART);
    }
    /* A second label appears: a gateway block for everyone. */
    b = a;
    b.m[b.n] = (struct fsm_natsconf_member){.id = 5, .name = "w", .role = FSM_NATSCONF_VOTER,
                                            .cluster = "west", .host = "10.0.0.9"};
    b.n++;
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(classify(&a, &b, i, "/h", "/h"), FSM_NATSCONF_RESTART);
    /* The replica's hubs change: the leafnodes block restarts it. */
    b = a;
    b.m[1].leafnode_port = 9000;
    assert_int_equal(classify(&a, &b, 3, "/h", "/h"), FSM_NATSCONF_RESTART);
    /* 2 -> 3 servers: the seed gains cluster{}, the second stops being a
     * leaf. */
    struct world two, three;
    build(&meshes[1], two.m, two.hosts);
    two.n = 2;
    three = two;
    three.m[2] = (struct fsm_natsconf_member){.id = 5, .name = "c", .role = FSM_NATSCONF_VOTER,
                                              .cluster = "east", .host = "10.0.0.9"};
    three.n = 3;
    assert_int_equal(classify(&two, &three, 0, "/h", "/h"), FSM_NATSCONF_RESTART);
    assert_int_equal(classify(&two, &three, 1, "/h", "/h"), FSM_NATSCONF_RESTART);
    /* 1 -> 2 servers: the seed keeps running untouched. */
    struct world one = two;
    one.n = 1;
    assert_int_equal(classify(&one, &two, 0, "/h", "/h"), FSM_NATSCONF_NONE);

    /* Text level: cluster name, system_account, gateway, leafnodes. */
    struct fsm_natsconf_input in = input(a.m, a.n, a.m[0].id, "/h");
    char *t = render_ok(&in);
    char *u = strdup(t);
    assert_non_null(u);
    char *nm = strstr(strstr(u, "cluster {"), "name: \"east\"");
    nm[7] = 'E';
    assert_int_equal(fsm_natsconf_classify_text(t, u), FSM_NATSCONF_RESTART);
    strcpy(u, t);
    nm = strstr(u, "system_account: \"SYS\"");
    nm[17] = 'X';
    assert_int_equal(fsm_natsconf_classify_text(t, u), FSM_NATSCONF_RESTART);
    /* no_auth_user looks like auth but nats-server refuses to reload it. */
    strcpy(u, t);
    nm = strstr(u, "no_auth_user: \"app\"");
    nm[15] = 'b';
    assert_int_equal(fsm_natsconf_classify_text(t, u), FSM_NATSCONF_RESTART);
    strcpy(u, t);
    nm = strstr(strstr(u, "leafnodes {"), "password: \"") + 11;
    nm[0] = nm[0] == 'x' ? 'y' : 'x';
    assert_int_equal(fsm_natsconf_classify_text(t, u), FSM_NATSCONF_RESTART);
    /* Reload + restart in one change: restart wins. */
    nm = strstr(strstr(u, "accounts {"), "password: \"") + 11;
    nm[0] = nm[0] == 'x' ? 'y' : 'x';
    assert_int_equal(fsm_natsconf_classify_text(t, u), FSM_NATSCONF_RESTART);
    free(u);
    free(t);

    /* Nothing running yet, foreign text, or an unrenderable input. */
    assert_int_equal(fsm_natsconf_classify_text(NULL, "port: 1\n"), FSM_NATSCONF_RESTART);
    assert_int_equal(fsm_natsconf_classify_text("port: 1\n", "port: 2\n"),
                     FSM_NATSCONF_RESTART);
    assert_int_equal(fsm_natsconf_classify_text("include x.conf\n", "port: 2\n"),
                     FSM_NATSCONF_RESTART);
    enum fsm_natsconf_change c = FSM_NATSCONF_NONE;
    struct fsm_natsconf_input ia = input(a.m, a.n, a.m[0].id, "/h");
    assert_int_equal(fsm_natsconf_classify(NULL, &ia, &c), 0);
    assert_int_equal(c, FSM_NATSCONF_RESTART);
    struct fsm_natsconf_input bad = ia;
    bad.self_id = 424242;
    assert_int_equal(fsm_natsconf_classify(&ia, &bad, &c), -PM_EINVAL);
    assert_int_equal(c, FSM_NATSCONF_RESTART);
}

/* ---------------------------------------------------------- bad input */

static int try_render(const struct fsm_natsconf_member *m, size_t n, uint64_t self,
                      const char *home)
{
    struct fsm_natsconf_input in = input(m, n, self, home);
    char *text = (char *)1;
    int rc = fsm_natsconf_render(&in, &text, NULL);
    if (rc == 0)
        free(text);
    else
        assert_null(text);
    return rc;
}

static void bad_input_is_rejected(void **state)
{
    (void)state;
    struct world w;
    world_3r(&w);
    struct fsm_natsconf_member m[MAXM];
    uint64_t self = w.m[0].id;
#define EXPECT(rc, edit, home)                                                       \
    do {                                                                            \
        memcpy(m, w.m, sizeof m);                                                   \
        edit;                                                                       \
        assert_int_equal(try_render(m, w.n, self, home), rc);                       \
    } while (0)
    EXPECT(0, (void)0, "/h");
    EXPECT(-PM_EINVAL, self = 77, "/h");
    self = w.m[0].id;
    EXPECT(-PM_EINVAL, m[1].id = m[0].id, "/h");
    EXPECT(-PM_EINVAL, m[1].id = 0, "/h");
    EXPECT(-PM_EINVAL, m[1].name = "a", "/h");
    EXPECT(-PM_EINVAL, m[1].name = "", "/h");
    EXPECT(-PM_EINVAL, m[1].name = NULL, "/h");
    EXPECT(-PM_EINVAL, m[1].name = "b c", "/h");
    EXPECT(-PM_EINVAL, m[1].name = "b\"", "/h");
    EXPECT(-PM_ETOOBIG, m[1].name = "0123456789012345678901234567890123456789012345678901234567890123", "/h");
    EXPECT(0, m[1].name = "012345678901234567890123456789012345678901234567890123456789012", "/h");
    EXPECT(-PM_EINVAL, m[1].cluster = "ea st", "/h");
    EXPECT(-PM_EINVAL, m[1].cluster = NULL, "/h");
    EXPECT(-PM_EINVAL, m[1].host = "0.0.0.0", "/h");
    EXPECT(-PM_EINVAL, m[1].host = "::", "/h");
    EXPECT(-PM_EINVAL, m[1].host = "", "/h");
    EXPECT(-PM_EINVAL, m[1].host = "a b", "/h");
    EXPECT(-PM_EINVAL, m[1].host = "h\"", "/h");
    EXPECT(0, m[1].host = "node-2.example.org", "/h");
    EXPECT(0, m[1].host = "fd00::2", "/h");
    EXPECT(-PM_EINVAL, m[1].role = 0, "/h");
    EXPECT(-PM_EINVAL, m[1].role = 3, "/h");
    EXPECT(-PM_EINVAL, m[1].seed = true, "/h");
    EXPECT(-PM_EINVAL, m[1].client_port = 65533, "/h"); /* +4 overflows */
    EXPECT(0, (m[1].client_port = 65531), "/h");
    EXPECT(-PM_EINVAL, m[1].cluster_port = 4222, "/h"); /* = its client port */
    EXPECT(-PM_EINVAL, (m[1].host = "10.0.0.1"), "/h"); /* = a's listeners */
    EXPECT(0, (m[1].host = "10.0.0.1", m[1].client_port = 5222), "/h");
    EXPECT(-PM_EINVAL, (m[0].role = m[1].role = m[2].role = FSM_NATSCONF_REPLICA), "/h");
    EXPECT(-PM_EINVAL, (void)0, "relative/home");
    EXPECT(-PM_EINVAL, (void)0, "/ho\"me");
    EXPECT(-PM_EINVAL, (void)0, "/ho\\me");
    EXPECT(-PM_EINVAL, (void)0, "/ho\nme");
    EXPECT(-PM_EINVAL, (void)0, NULL);
#undef EXPECT

    struct fsm_natsconf_input in = input(w.m, w.n, w.m[0].id, "/h");
    char *text = NULL;
    in.secret_len = 15;
    assert_int_equal(fsm_natsconf_render(&in, &text, NULL), -PM_EINVAL);
    in.secret_len = 65;
    assert_int_equal(fsm_natsconf_render(&in, &text, NULL), -PM_EINVAL);
    in.secret_len = 32;
    in.secret = NULL;
    assert_int_equal(fsm_natsconf_render(&in, &text, NULL), -PM_EINVAL);
    in = input(NULL, 0, 1, "/h");
    assert_int_equal(fsm_natsconf_render(&in, &text, NULL), -PM_EINVAL);
    in = input(w.m, FSM_NATSCONF_MEMBERS_MAX + 1, 1, "/h");
    assert_int_equal(fsm_natsconf_render(&in, &text, NULL), -PM_ETOOBIG);
    assert_int_equal(fsm_natsconf_render(NULL, &text, NULL), -PM_EINVAL);
    in = input(w.m, w.n, w.m[0].id, "/h");
    assert_int_equal(fsm_natsconf_render(&in, NULL, NULL), -PM_EINVAL);
    assert_int_equal(fsm_natsconf_describe(&in, NULL), -PM_EINVAL);
    char big[FSM_NATSCONF_HOME_LEN_MAX + 2];
    memset(big, 'a', sizeof big - 1);
    big[0] = '/';
    big[sizeof big - 1] = '\0';
    in.home = big;
    assert_int_equal(fsm_natsconf_render(&in, &text, NULL), -PM_ETOOBIG);
}

/* IPv6 literals are bracketed wherever a port follows them. */
static void ipv6_hosts_are_bracketed(void **state)
{
    (void)state;
    struct world w;
    world_3r(&w);
    w.m[0].host = "fd00::1";
    w.m[1].host = "fd00::2";
    struct fsm_natsconf_input in = input(w.m, w.n, w.m[0].id, "/h");
    char *t = render_ok(&in);
    assert_non_null(strstr(t, "host: \"fd00::1\"\n"));
    assert_non_null(strstr(t, "http: \"[fd00::1]:4226\"\n"));
    assert_non_null(strstr(t, "@[fd00::2]:4223\""));
    free(t);
}

/* Damaged or foreign text never crashes the classifier, and a change it
 * cannot place is a restart. */
static void classify_survives_garbage(void **state)
{
    (void)state;
    struct world w;
    world_3r(&w);
    struct fsm_natsconf_input in = input(w.m, w.n, w.m[0].id, "/h");
    char *t = render_ok(&in);
    size_t len = strlen(t);
    char *u = malloc(len + 1);
    assert_non_null(u);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int round = 0; round < 2000; round++) {
        memcpy(u, t, len + 1);
        int flips = 1 + round % 4;
        for (int f = 0; f < flips; f++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
            size_t at = (size_t)(x % len);
            const char pool[] = "{}[]\n \t#:=\"x0";
            u[at] = pool[(x >> 32) % (sizeof pool - 1)];
        }
        if (round % 5 == 0)
            u[(size_t)(x >> 20) % len] = '\0'; /* truncated */
        enum fsm_natsconf_change c = fsm_natsconf_classify_text(t, u);
        assert_true(c == FSM_NATSCONF_NONE || c == FSM_NATSCONF_RELOAD ||
                    c == FSM_NATSCONF_RESTART);
        assert_int_equal(fsm_natsconf_classify_text(u, u), FSM_NATSCONF_NONE);
        c = fsm_natsconf_classify_text(u, t);
        assert_true(c <= FSM_NATSCONF_RESTART);
    }
    /* More top-level items than the classifier tracks: a restart. */
    size_t big_len = 300 * 8 + 1;
    char *big = malloc(big_len), *big2 = malloc(big_len);
    assert_true(big && big2);
    big[0] = big2[0] = '\0';
    for (int i = 0; i < 300; i++) {
        strcat(big, "k: 1\n");
        strcat(big2, i == 299 ? "k: 2\n" : "k: 1\n");
    }
    assert_int_equal(fsm_natsconf_classify_text(big, big2), FSM_NATSCONF_RESTART);
    free(big);
    free(big2);
    free(u);
    free(t);
}

/* The system user's password is the one in the rendered configs. */
static void sys_password_matches_config(void **state)
{
    (void)state;
    struct world w;
    world_3r(&w);
    struct fsm_natsconf_input in = input(w.m, w.n, w.m[0].id, "/h");
    char *t = render_ok(&in);
    char pw[FSM_NATSCONF_PASSWORD_LEN + 1], line[128];
    memset(pw, 'x', sizeof pw);
    assert_int_equal(fsm_natsconf_sys_password(secret, sizeof secret, pw), 0);
    assert_int_equal(strlen(pw), FSM_NATSCONF_PASSWORD_LEN);
    snprintf(line, sizeof line, "{ user: \"%s\", password: \"%s\" }",
             FSM_NATSCONF_SYS_USER, pw);
    assert_non_null(strstr(t, line));
    assert_int_equal(fsm_natsconf_sys_password(secret, 15, pw), -PM_EINVAL);
    assert_int_equal(fsm_natsconf_sys_password(NULL, 32, pw), -PM_EINVAL);
    assert_int_equal(fsm_natsconf_sys_password(secret, sizeof secret, NULL), -PM_EINVAL);
    free(t);
}

/* --------------------------------------------------------------- bench */

/* A 1,000-member mesh: `servers` voters spread over `labels` labels, the
 * rest replicas (some in labels without servers). Returns the time to
 * render every member's config, in ms. */
static double bench_mesh(size_t members, size_t servers, size_t labels, size_t *bytes)
{
    struct fsm_natsconf_member *m = calloc(members, sizeof *m);
    char(*names)[32] = calloc(members, 32);
    char(*hosts)[48] = calloc(members, 48);
    char(*lbl)[32] = calloc(labels + 1, 32);
    assert_true(m && names && hosts && lbl);
    for (size_t l = 0; l <= labels; l++)
        snprintf(lbl[l], 32, "region%zu", l);
    for (size_t i = 0; i < members; i++) {
        snprintf(names[i], 32, "node%zu", i);
        snprintf(hosts[i], 48, "10.%zu.%zu.%zu", i / 65536, (i / 256) % 256, i % 256);
        bool server = i < servers;
        m[i] = (struct fsm_natsconf_member){
            .id = 1 + (i * 7919) % 1000003, .name = names[i],
            .role = server ? FSM_NATSCONF_VOTER : FSM_NATSCONF_REPLICA,
            .seed = i == 0, .cluster = lbl[server ? i % labels : i % (labels + 1)],
            .host = hosts[i],
        };
    }
    struct fsm_natsconf_input in = input(m, members, m[0].id, "/var/lib/pmesh");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(fsm_natsconf_render_all(&in, bytes), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    free(m);
    free(names);
    free(hosts);
    free(lbl);
    return (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
}

static void bench_thousand_members(void **state)
{
    (void)state;
    size_t bytes = 0;
    /* 15 servers in 3 regions, 985 replicas. */
    double ms = bench_mesh(1000, 15, 3, &bytes);
    printf("natsconf bench: 1000 members (15 servers in 3 labels): all configs in "
           "%.1f ms, %zu bytes\n", ms, bytes);
    /* Generous: a sanitizer build is ~10x slower than the 50 ms aim. */
    assert_true(ms < 2000.0);
    if (getenv("PMESH_NATSCONF_BENCH")) {
        ms = bench_mesh(1000, 1000, 10, &bytes);
        printf("natsconf bench: 1000 servers in 10 labels (worst case): %.1f ms, "
               "%zu bytes\n", ms, bytes);
        ms = bench_mesh(1000, 100, 5, &bytes);
        printf("natsconf bench: 1000 members (100 servers in 5 labels): %.1f ms, "
               "%zu bytes\n", ms, bytes);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(golden_files_match),
        cmocka_unit_test(output_is_deterministic),
        cmocka_unit_test(secret_never_in_output),
        cmocka_unit_test(credentials_follow_the_secret),
        cmocka_unit_test(plan_per_shape),
        cmocka_unit_test(classify_none),
        cmocka_unit_test(classify_reloadable_changes),
        cmocka_unit_test(classify_restart_changes),
        cmocka_unit_test(bad_input_is_rejected),
        cmocka_unit_test(ipv6_hosts_are_bracketed),
        cmocka_unit_test(sys_password_matches_config),
        cmocka_unit_test(classify_survives_garbage),
        cmocka_unit_test(bench_thousand_members),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
