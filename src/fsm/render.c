/* render.c: the files the FSM materializes on a node, settings.json and
 * nats.conf, the seed URL, and the atomic file writer.
 *
 * Determinism of the mesh-wide parts: members are walked in id order,
 * clusters in label byte order, settings in tree order; nothing depends on
 * the node except the "node" object (and nats.conf, which is per node by
 * nature). Numbers that may exceed 2^53 (ids) are written as raw JSON
 * integers so no reader-side double rounding is baked in. */
#include "fsm/internal.h"
#include "fsm/json.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "base/err.h"
#include "base/seedurl.h"
#include "fsm/natsconf.h"

_Static_assert(FSM_NATS_SAME == (int)FSM_NATSCONF_NONE, "nats change codes");
_Static_assert(FSM_NATS_RELOAD == (int)FSM_NATSCONF_RELOAD, "nats codes");
_Static_assert(FSM_NATS_RESTART == (int)FSM_NATSCONF_RESTART, "nats codes");

/* HP for HOST:PORT, its kind as the seed URL parser sees it (validation
 * already accepted the host with that parser). */
static void host_kind(struct pm_hostport *hp, const char *host, uint16_t port)
{
    char text[FSM_HOST_MAX + 16];
    int n = snprintf(text, sizeof text, strchr(host, ':') ? "[%s]:%u" : "%s:%u",
                     host, port);
    if (n > 0 && (size_t)n < sizeof text &&
        pm_hostport_parse(text, (size_t)n, hp, NULL, 0) == 0)
        return;
    /* Not reachable for a validated member; keep the text as a name. */
    snprintf(hp->host, sizeof hp->host, "%s", host);
    hp->port = port;
    hp->kind = strchr(host, ':') ? PM_HOST_IPV6 : PM_HOST_NAME;
}

int fsm_seed_url(const struct fsm *fsm, char *buf, size_t buf_len)
{
    struct pm_seedurl u;
    if (!fsm->bootstrapped)
        return -PM_ESTATE;
    memset(&u, 0, sizeof u);
    memcpy(u.secret, fsm->secret, sizeof u.secret);
    const struct fsm_member *seed = fsm__member_find(fsm, fsm->seed_id);
    if (seed)
        host_kind(&u.hosts[u.n_hosts++], seed->peer_host, seed->peer_port);
    for (size_t i = 0; i < fsm->n_members && u.n_hosts < PM_SEED_HOSTS_MAX;
         i++) {
        const struct fsm_member *m = &fsm->members[i];
        if (m->role == FSM_ROLE_VOTER && m != seed)
            host_kind(&u.hosts[u.n_hosts++], m->peer_host, m->peer_port);
    }
    int rc = pm_seedurl_format(&u, buf, buf_len);
    sodium_memzero(u.secret, sizeof u.secret);
    return rc < 0 ? rc : 0;
}

/* "host:port", with brackets for IPv6. */
static void hostport(char *buf, size_t len, const char *host, uint16_t port)
{
    snprintf(buf, len, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
}

static void push(cJSON *a, cJSON *item, int *ok)
{
    if (!item || !cJSON_AddItemToArray(a, item)) {
        cJSON_Delete(item);
        *ok = 0;
    }
}

static cJSON *nats_url(const struct fsm_member *m)
{
    char hp[FSM_HOST_MAX + 16], url[FSM_HOST_MAX + 32];
    hostport(hp, sizeof hp, m->nats_host, m->nats_client_port);
    snprintf(url, sizeof url, "nats://%s", hp);
    return cJSON_CreateString(url);
}

static cJSON *node_json(const struct fsm *fsm, const struct fsm_member *m,
                        int *ok)
{
    char hp[FSM_HOST_MAX + 16];
    cJSON *o = cJSON_CreateObject(), *n = cJSON_CreateObject();
    if (!o || !n) {
        cJSON_Delete(o);
        cJSON_Delete(n);
        *ok = 0;
        return NULL;
    }
    fsm__json_add(o, "id", fsm__json_u64(m->id), ok);
    fsm__json_add(o, "name", cJSON_CreateString(m->name), ok);
    fsm__json_add(o, "role", cJSON_CreateString(fsm_role_name(m->role)), ok);
    fsm__json_add(o, "cluster", cJSON_CreateString(m->cluster), ok);
    fsm__json_add(o, "seed", cJSON_CreateBool(m->id == fsm->seed_id), ok);
    hostport(hp, sizeof hp, m->peer_host, m->peer_port);
    fsm__json_add(o, "peer", cJSON_CreateString(hp), ok);
    fsm__json_add(n, "host", cJSON_CreateString(m->nats_host), ok);
    fsm__json_add(n, "client_port", cJSON_CreateNumber(m->nats_client_port), ok);
    fsm__json_add(n, "cluster_port", cJSON_CreateNumber(m->nats_cluster_port), ok);
    fsm__json_add(n, "gateway_port", cJSON_CreateNumber(m->nats_gateway_port), ok);
    fsm__json_add(n, "leaf_port", cJSON_CreateNumber(m->nats_leaf_port), ok);
    fsm__json_add(n, "http_port", cJSON_CreateNumber(m->nats_http_port), ok);
    fsm__json_add(n, "url", nats_url(m), ok);
    fsm__json_add(o, "nats", n, ok);
    return o;
}

static int cmp_cluster(const void *a, const void *b)
{
    const struct fsm_member *x = *(const struct fsm_member *const *)a;
    const struct fsm_member *y = *(const struct fsm_member *const *)b;
    int c = strcmp(x->cluster, y->cluster);
    if (c)
        return c;
    return x->id < y->id ? -1 : x->id > y->id;
}

static cJSON *topology_json(const struct fsm *fsm, int *ok)
{
    cJSON *top = cJSON_CreateObject(), *clusters = cJSON_CreateObject();
    const struct fsm_member **by = NULL;
    if (!top || !clusters ||
        !(by = malloc((fsm->n_members + 1) * sizeof *by))) {
        cJSON_Delete(top);
        cJSON_Delete(clusters);
        *ok = 0;
        return NULL;
    }
    for (size_t i = 0; i < fsm->n_members; i++)
        by[i] = &fsm->members[i];
    qsort(by, fsm->n_members, sizeof *by, cmp_cluster);
    cJSON *cl = NULL, *servers = NULL, *leafs = NULL;
    for (size_t i = 0; i < fsm->n_members && *ok; i++) {
        const struct fsm_member *m = by[i];
        if (!cl || strcmp(by[i - 1]->cluster, m->cluster) != 0) {
            cl = cJSON_CreateObject();
            servers = cJSON_CreateArray();
            leafs = cJSON_CreateArray();
            fsm__json_add(clusters, m->cluster, cl, ok);
            if (!*ok)
                break;
            fsm__json_add(cl, "servers", servers, ok);
            fsm__json_add(cl, "leaf_nodes", leafs, ok);
            if (!*ok)
                break;
        }
        char hp[FSM_HOST_MAX + 16];
        cJSON *s = cJSON_CreateObject();
        if (!s) {
            *ok = 0;
            break;
        }
        fsm__json_add(s, "name", cJSON_CreateString(m->name), ok);
        fsm__json_add(s, "id", fsm__json_u64(m->id), ok);
        fsm__json_add(s, "role", cJSON_CreateString(fsm_role_name(m->role)), ok);
        hostport(hp, sizeof hp, m->peer_host, m->peer_port);
        fsm__json_add(s, "peer", cJSON_CreateString(hp), ok);
        fsm__json_add(s, "nats", nats_url(m), ok);
        push(m->role == FSM_ROLE_VOTER ? servers : leafs, s, ok);
    }
    free(by);
    fsm__json_add(top, "clusters", clusters, ok);
    return top;
}

void fsm__render_invalidate(struct fsm *fsm)
{
    struct fsm__render_cache *c = fsm->render;
    if (!c)
        return;
    if (c->shared) {
        sodium_memzero(c->shared, c->len);
        free(c->shared);
        c->shared = NULL;
        c->len = 0;
    }
    fsm_natsconf_ctx_free(c->nats);
    c->nats = NULL;
    free(c->nats_members);
    c->nats_members = NULL;
}

/* cJSON_Print of ROOT (consumed) into *OUT / *LEN. */
static int print_root(cJSON *root, int ok, char **out, size_t *len)
{
    char *text = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!text)
        return -PM_ENOMEM;
    *out = text;
    *len = strlen(text);
    return 0;
}

/* The mesh-wide members of the settings.json root object, as a root
 * object of their own: "{\n\t\"mesh\":...\n}". */
static int render_shared(const struct fsm *fsm, char **out, size_t *len)
{
    char url[PM_SEEDURL_TEXT_MAX];
    int ok = 1, rc;

    if ((rc = fsm_seed_url(fsm, url, sizeof url)))
        return rc;
    cJSON *root = cJSON_CreateObject();
    cJSON *mesh = cJSON_CreateObject();
    cJSON *urls = cJSON_CreateArray();
    if (!root || !mesh || !urls) {
        cJSON_Delete(root);
        cJSON_Delete(mesh);
        cJSON_Delete(urls);
        sodium_memzero(url, sizeof url);
        return -PM_ENOMEM;
    }
    const struct fsm_member *seed = fsm__member_find(fsm, fsm->seed_id);
    fsm__json_add(mesh, "id", fsm__json_u64_str(fsm->mesh_id), &ok);
    fsm__json_add(mesh, "seed", seed ? cJSON_CreateString(seed->name) : cJSON_CreateNull(),
        &ok);
    fsm__json_add(mesh, "seed_url", cJSON_CreateString(url), &ok);
    fsm__json_add(root, "mesh", mesh, &ok);
    /* The settings are laid out directly (settings.c), then printed
     * verbatim as a raw member: the same bytes, without a parse of every
     * stored value. */
    char *settings = NULL;
    if (fsm__settings_print(&fsm->settings, 1, &settings) != 0)
        ok = 0;
    fsm__json_add(root, "settings", settings ? cJSON_CreateRaw(settings) : NULL, &ok);
    free(settings);
    fsm__json_add(root, "topology", topology_json(fsm, &ok), &ok);
    for (size_t i = 0; i < fsm->n_members; i++)
        if (fsm->members[i].role == FSM_ROLE_VOTER)
            push(urls, nats_url(&fsm->members[i]), &ok);
    fsm__json_add(root, "nats_urls", urls, &ok);
    sodium_memzero(url, sizeof url);
    return print_root(root, ok, out, len);
}

/* settings.json is one JSON object whose first member, "node", is the only
 * part that differs between nodes. cJSON prints an object as "{\n", then
 * each member indented one tab and separated by ",\n", then "\n}"; so the
 * whole file is the node-only object without its closing "\n}", then
 * ",\n", then the mesh-wide object (rendered once, cached) without its
 * opening "{\n", then a final newline. The bytes are those of printing
 * the whole object at once (tests/golden/fsm pins them). */
int fsm_render_settings(const struct fsm *fsm, uint64_t node_id, char **out,
                        size_t *out_len)
{
    int ok = 1, rc;

    *out = NULL;
    if (!fsm->bootstrapped)
        return -PM_ESTATE;
    const struct fsm_member *self = fsm__member_find(fsm, node_id);
    if (!self)
        return -PM_ENOTFOUND;
    struct fsm__render_cache *cache = fsm->render;
    if (!cache->shared &&
        (rc = render_shared(fsm, &cache->shared, &cache->len)))
        return rc;
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return -PM_ENOMEM;
    fsm__json_add(root, "node", node_json(fsm, self, &ok), &ok);
    char *mine;
    size_t mine_len;
    if ((rc = print_root(root, ok, &mine, &mine_len)))
        return rc;
    /* Both are objects with at least one member: "{\n\t...\n}". */
    assert(mine_len >= 4 && memcmp(mine + mine_len - 2, "\n}", 2) == 0);
    assert(cache->len >= 4 && memcmp(cache->shared, "{\n", 2) == 0);
    size_t head = mine_len - 2, tail = cache->len - 2;
    size_t n = head + 2 + tail + 1;
    char *text = malloc(n + 1);
    if (!text) {
        free(mine);
        return -PM_ENOMEM;
    }
    memcpy(text, mine, head);
    memcpy(text + head, ",\n", 2);
    memcpy(text + head + 2, cache->shared + 2, tail);
    text[n - 1] = '\n';
    text[n] = 0;
    free(mine);
    *out = text;
    if (out_len)
        *out_len = n;
    return 0;
}

int fsm_render_nats(const struct fsm *fsm, uint64_t node_id, const char *home,
                    char **out, size_t *out_len)
{
    *out = NULL;
    if (!fsm->bootstrapped)
        return -PM_ESTATE;
    if (!fsm__member_find(fsm, node_id))
        return -PM_ENOTFOUND;
    /* The members and the prepared mesh are kept until the next change
     * (like settings.json's shared part), so rendering every node's file
     * sorts and derives once. */
    struct fsm__render_cache *cache = fsm->render;
    if (!cache->nats) {
        struct fsm_natsconf_member *ms = calloc(fsm->n_members, sizeof *ms);
        if (!ms)
            return -PM_ENOMEM;
        for (size_t i = 0; i < fsm->n_members; i++) {
            const struct fsm_member *m = &fsm->members[i];
            ms[i].id = m->id;
            ms[i].name = m->name;
            /* A learner is not a NATS server yet: it stays a leaf node
             * until promoted, like a replica. */
            ms[i].role = m->role == FSM_ROLE_VOTER ? FSM_NATSCONF_VOTER
                                                   : FSM_NATSCONF_REPLICA;
            ms[i].seed = m->id == fsm->seed_id;
            ms[i].cluster = m->cluster;
            ms[i].host = m->nats_host;
            ms[i].client_port = m->nats_client_port;
            ms[i].cluster_port = m->nats_cluster_port;
            ms[i].gateway_port = m->nats_gateway_port;
            ms[i].leafnode_port = m->nats_leaf_port;
            ms[i].http_port = m->nats_http_port;
        }
        struct fsm_natsconf_input in = {
            .members = ms,
            .members_len = fsm->n_members,
            .secret = fsm->secret,
            .secret_len = sizeof fsm->secret,
        };
        int rc = fsm_natsconf_prepare(&in, &cache->nats);
        if (rc != 0) {
            free(ms);
            return rc;
        }
        cache->nats_members = ms;
    }
    return fsm_natsconf_render_prepared(cache->nats, node_id, home, out,
                                        out_len);
}

int fsm_nats_change(const char *old_conf, const char *new_conf)
{
    return (int)fsm_natsconf_classify_text(old_conf, new_conf);
}

/* Read PATH whole into *OUT (malloc'd, NUL-terminated). -PM_ENOTFOUND if
 * absent. Bounded: files over 64 MiB are treated as different. */
static int read_file(const char *path, char **out, size_t *len)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? -PM_ENOTFOUND : pm_from_errno(errno);
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size > (64 << 20)) {
        close(fd);
        return -PM_EIO;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        close(fd);
        return -PM_ENOMEM;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = 0;
    *out = buf;
    *len = got;
    return 0;
}

static int write_all(int fd, const void *bytes, size_t len)
{
    const char *p = bytes;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return pm_from_errno(errno);
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int fsm_write_file(const char *path, const void *bytes, size_t len,
                   int *written)
{
    char *old = NULL;
    size_t old_len = 0;
    int rc;

    if (written)
        *written = 0;
    if (read_file(path, &old, &old_len) == 0) {
        int same = old_len == len && memcmp(old, bytes, len) == 0;
        free(old);
        struct stat st;
        if (same && stat(path, &st) == 0 && (st.st_mode & 0777) == 0600)
            return 0;
    }
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    char *dir = malloc(plen + 2);
    if (!tmp || !dir) {
        free(tmp);
        free(dir);
        return -PM_ENOMEM;
    }
    snprintf(tmp, plen + 16, "%s.tmp", path);
    memcpy(dir, path, plen + 1);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = 0;
    else if (slash)
        *slash = 0;
    else
        strcpy(dir, ".");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = pm_from_errno(errno);
        goto out;
    }
    /* An old temp file of another mode may have been reused. rc stays 0
     * when fchmod or fsync fails, so errno is what names the failure. */
    rc = 0;
    if (fchmod(fd, 0600) != 0 || (rc = write_all(fd, bytes, len)) != 0 ||
        fsync(fd) != 0) {
        rc = rc ? rc : pm_from_errno(errno);
        close(fd);
        unlink(tmp);
        goto out;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        rc = pm_from_errno(errno);
        unlink(tmp);
        goto out;
    }
    /* The rename is durable only once the directory is synced. */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0) {
        rc = pm_from_errno(errno);
        if (dfd >= 0)
            close(dfd);
        goto out;
    }
    close(dfd);
    rc = 0;
    if (written)
        *written = 1;
out:
    free(tmp);
    free(dir);
    return rc;
}

int fsm_materialize(const struct fsm *fsm, uint64_t node_id, const char *home,
                    int *settings_written, int *nats_change)
{
    if (nats_change)
        *nats_change = FSM_NATS_SAME;
    int rc = fsm_materialize_settings(fsm, node_id, home, settings_written);
    return rc ? rc : fsm_materialize_nats(fsm, node_id, home, nats_change);
}

/* HOME/LEAF, malloc'd; NULL when out of memory. */
static char *home_file(const char *home, const char *leaf)
{
    size_t n = strlen(home) + strlen(leaf) + 2;
    char *path = malloc(n);
    if (path)
        snprintf(path, n, "%s/%s", home, leaf);
    return path;
}

int fsm_materialize_settings(const struct fsm *fsm, uint64_t node_id,
                             const char *home, int *written)
{
    char *text = NULL;
    size_t len;
    char *path = home_file(home, "settings.json");
    if (written)
        *written = 0;
    if (!path)
        return -PM_ENOMEM;
    int rc = fsm_render_settings(fsm, node_id, &text, &len);
    if (rc == 0)
        rc = fsm_write_file(path, text, len, written);
    free(text);
    free(path);
    return rc;
}

int fsm_materialize_nats(const struct fsm *fsm, uint64_t node_id,
                         const char *home, int *nats_change)
{
    char *text = NULL, *old = NULL;
    size_t len, old_len;
    int rc;
    char *path = home_file(home, "nats.conf");
    if (nats_change)
        *nats_change = FSM_NATS_SAME;
    if (!path)
        return -PM_ENOMEM;
    if ((rc = fsm_render_nats(fsm, node_id, home, &text, &len)))
        goto out;
    int have_old = read_file(path, &old, &old_len) == 0;
    if (nats_change)
        *nats_change = fsm_nats_change(have_old ? old : NULL, text);
    rc = fsm_write_file(path, text, len, NULL);
out:
    free(old);
    free(text);
    free(path);
    return rc;
}
