/* home.c: the home directory, identity.json, atomic file writes. */
#include "node/home.h"

#include "base/err.h"

#include <cjson/cJSON.h>
#include <sodium.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int home_fail(char *err, size_t err_len, int code, const char *fmt, ...)
{
    if (err != NULL && err_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return code;
}

int home_path(char *out, size_t out_len, const char *home, const char *leaf)
{
    int n = snprintf(out, out_len, "%s/%s", home, leaf);
    if (n < 0 || (size_t)n >= out_len)
        return -PM_ETOOBIG;
    return 0;
}

int home_create(const char *home)
{
    char buf[4096];
    size_t len = strlen(home);
    if (len == 0 || len >= sizeof buf)
        return -PM_EINVAL;
    memcpy(buf, home, len + 1);
    /* mkdir -p: parents get 0700 too, which is harmless for a home tree. */
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return pm_from_errno(errno);
        buf[i] = c;
    }
    if (chmod(home, 0700) != 0)
        return pm_from_errno(errno);
    return 0;
}

int home_is_setup(const char *home)
{
    char p[4096];
    if (home_path(p, sizeof p, home, "identity.json") != 0)
        return 0;
    return access(p, F_OK) == 0;
}

static int fsync_dir(const char *home)
{
    int fd = open(home, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return pm_from_errno(errno);
    int rc = fsync(fd) == 0 ? 0 : pm_from_errno(errno);
    close(fd);
    return rc;
}

int home_write_file(const char *home, const char *leaf, const void *bytes,
                    size_t len, unsigned mode)
{
    char path[4096], tmp[4096];
    int rc = home_path(path, sizeof path, home, leaf);
    if (rc != 0)
        return rc;
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return -PM_ETOOBIG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return pm_from_errno(errno);
    /* open() honours the umask; the mode must be exact (owner-only). */
    if (fchmod(fd, mode) != 0)
        goto fail;
    const char *p = bytes;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            goto fail;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0)
        goto fail;
    close(fd);
    if (rename(tmp, path) != 0) {
        rc = pm_from_errno(errno);
        unlink(tmp);
        return rc;
    }
    return fsync_dir(home);
fail:
    rc = pm_from_errno(errno);
    close(fd);
    unlink(tmp);
    return rc;
}

int home_sync(const char *home) { return fsync_dir(home); }

int home_rename_file(const char *home, const char *from, const char *to,
                     int durable)
{
    char a[4096], b[4096];
    int rc = home_path(a, sizeof a, home, from);
    if (rc == 0)
        rc = home_path(b, sizeof b, home, to);
    if (rc != 0)
        return rc;
    if (rename(a, b) != 0)
        return errno == ENOENT ? -PM_ENOTFOUND : pm_from_errno(errno);
    return durable ? fsync_dir(home) : 0;
}

void home_secret_encode(const uint8_t secret[32], char out[44])
{
    sodium_bin2base64(out, 44, secret, 32,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

int home_secret_decode(const char *text, uint8_t secret[32])
{
    size_t n = 0;
    const char *end = NULL;
    if (sodium_base642bin(secret, 32, text, strlen(text), NULL, &n, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        n != 32 || (end != NULL && *end != '\0'))
        return -PM_EINVAL;
    return 0;
}

/* --- identity.json ------------------------------------------------------ */

static const char *role_name(enum node_role r)
{
    switch (r) {
    case NODE_ROLE_VOTER: return "voter";
    case NODE_ROLE_REPLICA: return "replica";
    case NODE_ROLE_CLIENT: return "client";
    }
    return "?";
}

/* u64 ids travel as decimal strings: JSON numbers lose bits above 2^53. */
static cJSON *u64_json(uint64_t v)
{
    char b[24];
    snprintf(b, sizeof b, "%" PRIu64, v);
    return cJSON_CreateString(b);
}

static int u64_from(const cJSON *o, const char *k, uint64_t *v)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsString(j))
        return -PM_ECORRUPT;
    char *end = NULL;
    errno = 0;
    unsigned long long x = strtoull(j->valuestring, &end, 10);
    if (errno != 0 || end == j->valuestring || *end != '\0')
        return -PM_ECORRUPT;
    *v = x;
    return 0;
}

static int str_from(const cJSON *o, const char *k, char *out, size_t len)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsString(j) || strlen(j->valuestring) >= len)
        return -PM_ECORRUPT;
    strcpy(out, j->valuestring);
    return 0;
}

int home_identity_write(const char *home, const struct home_identity *id)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return -PM_ENOMEM;
    cJSON_AddNumberToObject(o, "version", 1);
    cJSON_AddStringToObject(o, "role", role_name(id->role));
    cJSON_AddItemToObject(o, "node_id", u64_json(id->node_id));
    cJSON_AddItemToObject(o, "mesh_id", u64_json(id->mesh_id));
    cJSON_AddStringToObject(o, "name", id->name);
    cJSON_AddStringToObject(o, "cluster", id->cluster);
    cJSON_AddStringToObject(o, "listen", id->listen);
    cJSON_AddStringToObject(o, "advertise", id->advertise);
    cJSON_AddStringToObject(o, "nats_host", id->nats_host);
    cJSON *ports = cJSON_AddArrayToObject(o, "nats_ports");
    for (int i = 0; i < 5; i++)
        cJSON_AddItemToArray(ports, cJSON_CreateNumber(id->nats_ports[i]));
    if (id->has_secret) {
        char sec[44];
        home_secret_encode(id->secret, sec);
        cJSON_AddStringToObject(o, "secret", sec);
        sodium_memzero(sec, sizeof sec);
    }
    cJSON *peers = cJSON_AddArrayToObject(o, "peers");
    for (int i = 0; i < id->n_peers; i++) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddItemToObject(p, "id", u64_json(id->peers[i].id));
        cJSON_AddStringToObject(p, "addr", id->peers[i].addr);
        cJSON_AddItemToArray(peers, p);
    }
    cJSON_AddStringToObject(o, "nats_url", id->nats_url);
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (text == NULL)
        return -PM_ENOMEM;
    size_t len = strlen(text);
    int rc = home_write_file(home, "identity.json", text, len, 0600);
    sodium_memzero(text, len);
    free(text);
    return rc;
}

int home_identity_read(const char *home, struct home_identity *id)
{
    char path[4096];
    int rc = home_path(path, sizeof path, home, "identity.json");
    if (rc != 0)
        return rc;
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return errno == ENOENT ? -PM_ENOTFOUND : pm_from_errno(errno);
    char buf[16384];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    int too_big = !feof(f);
    fclose(f);
    if (too_big)
        return -PM_ECORRUPT;
    buf[n] = '\0';
    cJSON *o = cJSON_Parse(buf);
    sodium_memzero(buf, sizeof buf);
    if (o == NULL)
        return -PM_ECORRUPT;
    memset(id, 0, sizeof *id);
    char role[16];
    rc = -PM_ECORRUPT;
    if (str_from(o, "role", role, sizeof role) != 0)
        goto out;
    if (strcmp(role, "voter") == 0)
        id->role = NODE_ROLE_VOTER;
    else if (strcmp(role, "replica") == 0)
        id->role = NODE_ROLE_REPLICA;
    else if (strcmp(role, "client") == 0)
        id->role = NODE_ROLE_CLIENT;
    else
        goto out;
    if (u64_from(o, "node_id", &id->node_id) != 0 ||
        u64_from(o, "mesh_id", &id->mesh_id) != 0 ||
        str_from(o, "name", id->name, sizeof id->name) != 0 ||
        str_from(o, "cluster", id->cluster, sizeof id->cluster) != 0 ||
        str_from(o, "listen", id->listen, sizeof id->listen) != 0 ||
        str_from(o, "advertise", id->advertise, sizeof id->advertise) != 0 ||
        str_from(o, "nats_host", id->nats_host, sizeof id->nats_host) != 0 ||
        str_from(o, "nats_url", id->nats_url, sizeof id->nats_url) != 0)
        goto out;
    const cJSON *ports = cJSON_GetObjectItemCaseSensitive(o, "nats_ports");
    if (!cJSON_IsArray(ports) || cJSON_GetArraySize(ports) != 5)
        goto out;
    for (int i = 0; i < 5; i++) {
        const cJSON *p = cJSON_GetArrayItem(ports, i);
        if (!cJSON_IsNumber(p) || p->valuedouble < 0 || p->valuedouble > 65535)
            goto out;
        id->nats_ports[i] = (uint16_t)p->valuedouble;
    }
    const cJSON *sec = cJSON_GetObjectItemCaseSensitive(o, "secret");
    if (sec != NULL) {
        if (!cJSON_IsString(sec) ||
            home_secret_decode(sec->valuestring, id->secret) != 0)
            goto out;
        id->has_secret = 1;
    }
    const cJSON *peers = cJSON_GetObjectItemCaseSensitive(o, "peers");
    if (!cJSON_IsArray(peers) || cJSON_GetArraySize(peers) > HOME_PEERS_MAX)
        goto out;
    const cJSON *p;
    cJSON_ArrayForEach(p, peers) {
        struct home_peer *hp = &id->peers[id->n_peers];
        if (u64_from(p, "id", &hp->id) != 0 ||
            str_from(p, "addr", hp->addr, sizeof hp->addr) != 0)
            goto out;
        id->n_peers++;
    }
    rc = 0;
out:
    cJSON_Delete(o);
    return rc;
}

int node_home_info(const char *home, struct node_home_info *out, char *err,
                   size_t err_len)
{
    struct home_identity id;
    int rc = home_identity_read(home, &id);
    if (rc == -PM_ENOTFOUND)
        return home_fail(err, err_len, rc,
                         "%s is not set up (run 'pmesh setup' first)", home);
    if (rc != 0)
        return home_fail(err, err_len, rc, "%s/identity.json: %s", home,
                         pm_strerror(rc));
    memset(out, 0, sizeof *out);
    out->role = id.role;
    out->node_id = id.node_id;
    out->mesh_id = id.mesh_id;
    snprintf(out->name, sizeof out->name, "%s", id.name);
    if (id.role != NODE_ROLE_CLIENT &&
        home_path(out->control_path, sizeof out->control_path, home,
                  "control.sock") != 0)
        return home_fail(err, err_len, -PM_ETOOBIG, "home path too long");
    memcpy(out->secret, id.secret, 32);
    out->has_secret = id.has_secret;
    for (int i = 0; i < id.n_peers && i < 16; i++)
        snprintf(out->servers[i], sizeof out->servers[i], "%s",
                 id.peers[i].addr);
    out->n_servers = id.n_peers < 16 ? id.n_peers : 16;
    snprintf(out->nats_url, sizeof out->nats_url, "%s", id.nats_url);
    sodium_memzero(&id, sizeof id);
    return 0;
}
