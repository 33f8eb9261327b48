/* natsconf.c: the nats.conf generator and the reload/restart classifier.
 * The plan and its reasons are in natsconf.h. */
#include "fsm/natsconf.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/err.h"

#define NC_SYS_ACCOUNT "SYS"
#define NC_APP_ACCOUNT "MESH"
#define NC_JS_DOMAIN "mesh"
#define NC_PW_BYTES 18 /* 144 bits from BLAKE2b: 24 base64url characters */
#define NC_PW_LEN FSM_NATSCONF_PASSWORD_LEN
_Static_assert(NC_PW_LEN == (NC_PW_BYTES + 2) / 3 * 4, "base64 of NC_PW_BYTES");

enum nc_user { NC_ROUTE, NC_GATEWAY, NC_LEAF, NC_APP, NC_SYS, NC_USERS };
static const char *const nc_user_names[NC_USERS] = {
    [NC_ROUTE] = "route", [NC_GATEWAY] = "gateway", [NC_LEAF] = "leaf",
    [NC_APP] = "app",     [NC_SYS] = "sys",
};

enum nc_port { NC_CLIENT, NC_CLUSTER, NC_GW, NC_LEAFPORT, NC_HTTP, NC_PORTS };

/* A run of servers sharing one cluster label inside ctx.servers. */
struct nc_cluster {
    const char *label;
    size_t first; /* index into ctx.servers */
    size_t len;
};

/* Everything derived once from the input; shared by the renders of
 * fsm_natsconf_render_all so that a 1,000-member mesh is sorted once. */
struct nc_ctx {
    const struct fsm_natsconf_input *in;
    const struct fsm_natsconf_member **by_id;   /* all members, by id */
    const struct fsm_natsconf_member **servers; /* voters, by (label, id) */
    struct nc_cluster *clusters;                /* by label */
    size_t n, servers_len, clusters_len;
    const struct fsm_natsconf_member *primary;
    size_t primary_cluster;
    size_t primary_idx; /* index of the primary in servers */
    char pw[NC_USERS][NC_PW_LEN + 1];
    /* The route, gateway and leaf URLs of every server, formatted once:
     * a mesh's configs list the same URLs over and over. url_off[3 i + k]
     * is the offset in urls of URL kind k (enum nc_url_kind) of
     * servers[i]. */
    char *urls;
    size_t *url_off;
};

enum nc_url_kind { NC_URL_ROUTE, NC_URL_GATEWAY, NC_URL_LEAF, NC_URL_KINDS };

static int nc_urls_init(struct nc_ctx *c);

/* The role one member plays, computed by nc_plan. */
struct nc_plan {
    const struct fsm_natsconf_member *self;
    enum fsm_natsconf_mode mode;
    bool js, js_clustered;
    const struct nc_cluster *own;      /* CLUSTER mode: own label's run */
    bool cluster_block, gateway_block;
    /* LEAF mode: the hubs, a range of ctx.servers, optionally preceded by
     * the primary (S == 2 puts the primary first). */
    const struct fsm_natsconf_member *hubs_first; /* listed first, or NULL */
    size_t hubs_from, hubs_len;                   /* range in ctx.servers */
    uint32_t hubs_count;
};

/* ---------------------------------------------------------------- input */

static int nc_check_name(const char *s)
{
    if (s == NULL)
        return -PM_EINVAL;
    size_t len = 0;
    for (; s[len] != '\0'; len++) {
        char c = s[len];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '_' || c == '-';
        if (!ok)
            return -PM_EINVAL;
        if (len >= FSM_NATSCONF_NAME_LEN_MAX)
            return -PM_ETOOBIG;
    }
    return len == 0 ? -PM_EINVAL : 0;
}

static int nc_check_host(const char *s)
{
    if (s == NULL || s[0] == '\0')
        return -PM_EINVAL;
    size_t len = strlen(s);
    if (len > FSM_NATSCONF_HOST_LEN_MAX)
        return -PM_ETOOBIG;
    bool only_zero = true; /* 0.0.0.0, ::, 0:0::0 ... bind-all addresses */
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '.' || c == '-' || c == ':';
        if (!ok)
            return -PM_EINVAL;
        if (c != '0' && c != '.' && c != ':')
            only_zero = false;
    }
    if (only_zero)
        return -PM_EINVAL; /* the others would dial "0.0.0.0" */
    return 0;
}

static int nc_check_home(const char *s)
{
    if (s == NULL || s[0] != '/')
        return -PM_EINVAL;
    size_t len = strlen(s);
    if (len > FSM_NATSCONF_HOME_LEN_MAX)
        return -PM_ETOOBIG;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
            return -PM_EINVAL;
    }
    return 0;
}

/* The five listener ports of m after defaults; -PM_EINVAL if one is out of
 * range or two coincide. */
static int nc_ports(const struct fsm_natsconf_member *m, uint16_t out[NC_PORTS])
{
    uint32_t client = m->client_port ? m->client_port : FSM_NATSCONF_PORT_DEFAULT;
    const uint16_t given[NC_PORTS] = {0, m->cluster_port, m->gateway_port,
                                      m->leafnode_port, m->http_port};
    for (int i = 0; i < NC_PORTS; i++) {
        uint32_t p = i == NC_CLIENT ? client
                                    : (given[i] ? given[i] : client + (uint32_t)i);
        if (p == 0 || p > 65535)
            return -PM_EINVAL;
        out[i] = (uint16_t)p;
    }
    for (int i = 0; i < NC_PORTS; i++)
        for (int j = 0; j < i; j++)
            if (out[i] == out[j])
                return -PM_EINVAL;
    return 0;
}

/* The password of one user: base64url(BLAKE2b-144 keyed by the mesh
 * secret over a fixed label), never the secret itself. The hash needs no
 * sodium_init (that only picks a faster implementation of the same
 * function), so a failure of it changes nothing. */
static void nc_password(const uint8_t *secret, size_t secret_len, enum nc_user u,
                        char out[NC_PW_LEN + 1])
{
    char msg[64];
    unsigned char h[NC_PW_BYTES];
    if (sodium_init() < 0) {
        /* keep going: crypto_generichash works without it */
    }
    int ml = snprintf(msg, sizeof msg, "pmesh nats %s v1", nc_user_names[u]);
    crypto_generichash(h, sizeof h, (const unsigned char *)msg, (size_t)ml, secret,
                       secret_len);
    sodium_bin2base64(out, NC_PW_LEN + 1, h, sizeof h,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(h, sizeof h);
}

int fsm_natsconf_sys_password(const uint8_t *secret, size_t secret_len,
                              char pw[FSM_NATSCONF_PASSWORD_LEN + 1])
{
    if (secret == NULL || pw == NULL || secret_len < FSM_NATSCONF_SECRET_LEN_MIN ||
        secret_len > FSM_NATSCONF_SECRET_LEN_MAX)
        return -PM_EINVAL;
    nc_password(secret, secret_len, NC_SYS, pw);
    return 0;
}

static int nc_cmp_id(const void *a, const void *b)
{
    const struct fsm_natsconf_member *x = *(const struct fsm_natsconf_member *const *)a;
    const struct fsm_natsconf_member *y = *(const struct fsm_natsconf_member *const *)b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int nc_cmp_name(const void *a, const void *b)
{
    const struct fsm_natsconf_member *x = *(const struct fsm_natsconf_member *const *)a;
    const struct fsm_natsconf_member *y = *(const struct fsm_natsconf_member *const *)b;
    return strcmp(x->name, y->name);
}

static int nc_cmp_label_id(const void *a, const void *b)
{
    const struct fsm_natsconf_member *x = *(const struct fsm_natsconf_member *const *)a;
    const struct fsm_natsconf_member *y = *(const struct fsm_natsconf_member *const *)b;
    int c = strcmp(x->cluster, y->cluster);
    if (c != 0)
        return c;
    return x->id < y->id ? -1 : x->id > y->id;
}

struct nc_listener {
    const char *host;
    uint16_t port;
};

static int nc_cmp_listener(const void *a, const void *b)
{
    const struct nc_listener *x = a, *y = b;
    int c = strcmp(x->host, y->host);
    if (c != 0)
        return c;
    return (int)x->port - (int)y->port;
}

static void nc_ctx_free(struct nc_ctx *c)
{
    free(c->urls);
    free(c->url_off);
    free(c->by_id);
    free(c->servers);
    free(c->clusters);
    memset(c, 0, sizeof *c);
}

/* Validate the mesh-wide part of the input (not self_id, not home) and
 * derive the sorted views and the credentials. */
static int nc_ctx_init(struct nc_ctx *c, const struct fsm_natsconf_input *in)
{
    memset(c, 0, sizeof *c);
    if (in == NULL || in->members == NULL || in->members_len == 0)
        return -PM_EINVAL;
    if (in->members_len > FSM_NATSCONF_MEMBERS_MAX)
        return -PM_ETOOBIG;
    if (in->secret == NULL || in->secret_len < FSM_NATSCONF_SECRET_LEN_MIN ||
        in->secret_len > FSM_NATSCONF_SECRET_LEN_MAX)
        return -PM_EINVAL;
    c->in = in;
    c->n = in->members_len;

    size_t seeds = 0, servers = 0;
    for (size_t i = 0; i < c->n; i++) {
        const struct fsm_natsconf_member *m = &in->members[i];
        uint16_t ports[NC_PORTS];
        int rc;
        if (m->id == 0)
            return -PM_EINVAL;
        if (m->role != FSM_NATSCONF_VOTER && m->role != FSM_NATSCONF_REPLICA)
            return -PM_EINVAL;
        if ((rc = nc_check_name(m->name)) != 0 ||
            (rc = nc_check_name(m->cluster)) != 0 ||
            (rc = nc_check_host(m->host)) != 0 || (rc = nc_ports(m, ports)) != 0)
            return rc;
        seeds += m->seed;
        servers += m->role == FSM_NATSCONF_VOTER;
    }
    if (seeds > 1 || servers == 0)
        return -PM_EINVAL; /* a replica with no server to attach to */

    int rc = -PM_ENOMEM;
    struct nc_listener *ls = NULL;
    c->by_id = malloc(c->n * sizeof *c->by_id);
    c->servers = malloc(c->n * sizeof *c->servers);
    c->clusters = malloc(c->n * sizeof *c->clusters);
    ls = malloc(c->n * NC_PORTS * sizeof *ls);
    if (c->by_id == NULL || c->servers == NULL || c->clusters == NULL || ls == NULL)
        goto fail;

    /* Unique names: sort a scratch view by name. */
    for (size_t i = 0; i < c->n; i++)
        c->servers[i] = &in->members[i];
    qsort(c->servers, c->n, sizeof *c->servers, nc_cmp_name);
    rc = -PM_EINVAL;
    for (size_t i = 1; i < c->n; i++)
        if (strcmp(c->servers[i - 1]->name, c->servers[i]->name) == 0)
            goto fail;

    /* Unique ids. */
    for (size_t i = 0; i < c->n; i++)
        c->by_id[i] = &in->members[i];
    qsort(c->by_id, c->n, sizeof *c->by_id, nc_cmp_id);
    for (size_t i = 1; i < c->n; i++)
        if (c->by_id[i - 1]->id == c->by_id[i]->id)
            goto fail;

    /* No two listeners on one host:port (same host spelling). */
    size_t nl = 0;
    for (size_t i = 0; i < c->n; i++) {
        uint16_t ports[NC_PORTS];
        (void)nc_ports(&in->members[i], ports); /* checked above */
        for (int k = 0; k < NC_PORTS; k++)
            ls[nl++] = (struct nc_listener){in->members[i].host, ports[k]};
    }
    qsort(ls, nl, sizeof *ls, nc_cmp_listener);
    for (size_t i = 1; i < nl; i++)
        if (nc_cmp_listener(&ls[i - 1], &ls[i]) == 0)
            goto fail;

    /* Servers grouped by label, each group by id. */
    c->servers_len = 0;
    for (size_t i = 0; i < c->n; i++)
        if (c->by_id[i]->role == FSM_NATSCONF_VOTER)
            c->servers[c->servers_len++] = c->by_id[i];
    qsort(c->servers, c->servers_len, sizeof *c->servers, nc_cmp_label_id);
    for (size_t i = 0; i < c->servers_len; i++) {
        if (i == 0 || strcmp(c->servers[i]->cluster, c->servers[i - 1]->cluster) != 0)
            c->clusters[c->clusters_len++] =
                (struct nc_cluster){c->servers[i]->cluster, i, 0};
        c->clusters[c->clusters_len - 1].len++;
    }

    /* The primary: the seed if it is a server, else the lowest server id. */
    c->primary = NULL;
    for (size_t i = 0; i < c->n && c->primary == NULL; i++)
        if (c->by_id[i]->seed && c->by_id[i]->role == FSM_NATSCONF_VOTER)
            c->primary = c->by_id[i];
    for (size_t i = 0; i < c->n && c->primary == NULL; i++)
        if (c->by_id[i]->role == FSM_NATSCONF_VOTER)
            c->primary = c->by_id[i];
    for (size_t k = 0; k < c->clusters_len; k++)
        if (strcmp(c->clusters[k].label, c->primary->cluster) == 0)
            c->primary_cluster = k;
    for (size_t i = 0; i < c->servers_len; i++)
        if (c->servers[i] == c->primary)
            c->primary_idx = i;

    for (int u = 0; u < NC_USERS; u++)
        nc_password(in->secret, in->secret_len, (enum nc_user)u, c->pw[u]);
    rc = nc_urls_init(c);
    if (rc != 0)
        goto fail;
    free(ls);
    return 0;
fail:
    free(ls);
    nc_ctx_free(c);
    return rc;
}

static const struct fsm_natsconf_member *nc_find(const struct nc_ctx *c, uint64_t id)
{
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->by_id[mid]->id == id)
            return c->by_id[mid];
        if (c->by_id[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static const struct nc_cluster *nc_cluster_of(const struct nc_ctx *c, const char *label)
{
    size_t lo = 0, hi = c->clusters_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(c->clusters[mid].label, label);
        if (cmp == 0)
            return &c->clusters[mid];
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Decide the role of member self_id (natsconf.h, "The plan"). */
static int nc_plan(const struct nc_ctx *c, uint64_t self_id, struct nc_plan *p)
{
    memset(p, 0, sizeof *p);
    p->self = nc_find(c, self_id);
    if (p->self == NULL)
        return -PM_EINVAL;
    size_t s = c->servers_len;
    /* nc_ctx_init refuses a mesh without servers, so there is a primary. */
    assert(s >= 1 && c->primary != NULL && c->clusters_len >= 1);
    const struct nc_cluster *pc = &c->clusters[c->primary_cluster];

    if (p->self->role == FSM_NATSCONF_VOTER) {
        if (s == 1 || p->self == c->primary) {
            if (s <= 2) {
                p->mode = FSM_NATSCONF_MODE_LONE;
                p->js = true;
                return 0;
            }
        } else if (s == 2) {
            /* The second server: a leaf of the primary. */
            p->mode = FSM_NATSCONF_MODE_LEAF;
            p->hubs_first = c->primary;
            p->hubs_count = 1;
            return 0;
        }
        p->mode = FSM_NATSCONF_MODE_CLUSTER;
        p->js = true;
        p->js_clustered = true;
        p->own = nc_cluster_of(c, p->self->cluster);
        assert(p->own != NULL); /* every server's label has a run */
        /* Always a cluster{} block, with a route to itself when the label
         * has no other server: clustered JetStream refuses to start without
         * configured routes, and nats-server ignores a route to itself. */
        p->cluster_block = true;
        p->gateway_block = c->clusters_len >= 2;
        return 0;
    }

    p->mode = FSM_NATSCONF_MODE_LEAF;
    if (s == 2) {
        /* The primary only: the second server is itself a leaf (spoke) of
         * the primary, and a replica hanging off it would make a daisy
         * chain, whose interest propagation stock nats-server 2.9.10 does
         * not get right (natsconf.h). */
        p->hubs_first = c->primary;
        p->hubs_count = 1;
        return 0;
    }
    const struct nc_cluster *own = nc_cluster_of(c, p->self->cluster);
    if (own == NULL)
        own = pc;
    p->hubs_from = own->first;
    p->hubs_len = own->len;
    p->hubs_count = (uint32_t)own->len;
    return 0;
}

/* -------------------------------------------------------------- output */

struct nc_buf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void nc_reserve(struct nc_buf *b, size_t more)
{
    if (b->oom || b->len + more + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *np = realloc(b->p, cap);
    if (np == NULL) {
        b->oom = true;
        return;
    }
    b->p = np;
    b->cap = cap;
}

__attribute__((format(printf, 2, 3))) static void nc_printf(struct nc_buf *b,
                                                             const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[512];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = true;
        return;
    }
    nc_reserve(b, (size_t)n);
    if (b->oom)
        return;
    if ((size_t)n < sizeof tmp) {
        memcpy(b->p + b->len, tmp, (size_t)n + 1);
    } else {
        va_start(ap, fmt);
        vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

/* "host:port", IPv6 literals bracketed. */
static void nc_hostport(char *out, size_t cap, const char *host, uint16_t port)
{
    if (strchr(host, ':') != NULL)
        snprintf(out, cap, "[%s]:%u", host, (unsigned)port);
    else
        snprintf(out, cap, "%s:%u", host, (unsigned)port);
}

static void nc_put(struct nc_buf *b, const char *s, size_t n)
{
    nc_reserve(b, n);
    if (b->oom)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static int nc_urls_init(struct nc_ctx *c)
{
    static const char *const scheme[NC_URL_KINDS] = {"nats-route", "nats", "nats-leaf"};
    static const enum nc_user user[NC_URL_KINDS] = {NC_ROUTE, NC_GATEWAY, NC_LEAF};
    static const enum nc_port port[NC_URL_KINDS] = {NC_CLUSTER, NC_GW, NC_LEAFPORT};
    struct nc_buf b = {0};
    c->url_off = malloc((c->servers_len * NC_URL_KINDS + 1) * sizeof *c->url_off);
    if (c->url_off == NULL)
        return -PM_ENOMEM;
    for (size_t i = 0; i < c->servers_len; i++) {
        uint16_t ports[NC_PORTS];
        char hp[FSM_NATSCONF_HOST_LEN_MAX + 16];
        (void)nc_ports(c->servers[i], ports); /* validated in nc_ctx_init */
        for (int k = 0; k < NC_URL_KINDS; k++) {
            nc_hostport(hp, sizeof hp, c->servers[i]->host, ports[port[k]]);
            c->url_off[i * NC_URL_KINDS + (size_t)k] = b.len;
            nc_printf(&b, "%s://%s:%s@%s", scheme[k], nc_user_names[user[k]],
                      c->pw[user[k]], hp);
            nc_put(&b, "", 1); /* keep the NUL: offsets name C strings */
        }
    }
    if (b.oom) {
        free(b.p);
        return -PM_ENOMEM;
    }
    c->urls = b.p;
    return 0;
}

/* One quoted URL line of server servers[idx]. */
static void nc_url(struct nc_buf *b, const struct nc_ctx *c, const char *indent,
                   size_t idx, enum nc_url_kind kind, bool comma)
{
    const char *url = c->urls + c->url_off[idx * NC_URL_KINDS + kind];
    nc_put(b, indent, strlen(indent));
    nc_put(b, "\"", 1);
    nc_put(b, url, strlen(url));
    nc_put(b, comma ? "\",\n" : "\"\n", comma ? 3 : 2);
}

static void nc_render_plan(const struct nc_ctx *c, const struct nc_plan *p,
                           const char *home, struct nc_buf *b)
{
    const struct fsm_natsconf_member *m = p->self;
    const struct fsm_natsconf_input *in = c->in;
    uint16_t ports[NC_PORTS];
    char hp[FSM_NATSCONF_HOST_LEN_MAX + 16];
    (void)nc_ports(m, ports);
    bool server = m->role == FSM_NATSCONF_VOTER;

    nc_printf(b, "# nats.conf of member \"%s\", generated by pmesh from the mesh "
                 "membership.\n", m->name);
    nc_printf(b, "# Do not edit: pmesh rewrites it. It holds credentials derived "
                 "from the mesh secret.\n");
    nc_printf(b, "server_name: \"%s\"\n", m->name);
    nc_printf(b, "host: \"%s\"\n", m->host);
    nc_printf(b, "port: %u\n", (unsigned)ports[NC_CLIENT]);
    nc_hostport(hp, sizeof hp, m->host, ports[NC_HTTP]);
    nc_printf(b, "http: \"%s\"\n", hp);

    nc_printf(b, "\n# Anonymous clients land in " NC_APP_ACCOUNT "; " NC_SYS_ACCOUNT
                 " is the system account that gateways and\n# leaf nodes need "
                 "together.\n");
    nc_printf(b, "system_account: \"" NC_SYS_ACCOUNT "\"\n");
    nc_printf(b, "no_auth_user: \"%s\"\n", nc_user_names[NC_APP]);
    nc_printf(b, "accounts {\n");
    nc_printf(b, "  " NC_SYS_ACCOUNT " {\n    users: [\n");
    nc_printf(b, "      { user: \"%s\", password: \"%s\" }\n", nc_user_names[NC_SYS],
              c->pw[NC_SYS]);
    nc_printf(b, "    ]\n  }\n");
    nc_printf(b, "  " NC_APP_ACCOUNT " {\n");
    if (p->js)
        nc_printf(b, "    jetstream: enabled\n");
    nc_printf(b, "    users: [\n");
    nc_printf(b, "      { user: \"%s\", password: \"%s\" }\n", nc_user_names[NC_APP],
              c->pw[NC_APP]);
    nc_printf(b, "    ]\n  }\n}\n");

    if (p->js) {
        uint64_t mem = in->js_max_memory_bytes ? in->js_max_memory_bytes
                                               : FSM_NATSCONF_JS_MEMORY_DEFAULT_BYTES;
        uint64_t file = in->js_max_file_bytes ? in->js_max_file_bytes
                                              : FSM_NATSCONF_JS_FILE_DEFAULT_BYTES;
        nc_printf(b, "\n# %s; nats-server keeps the data in store_dir/jetstream.\n",
                  p->js_clustered ? "Clustered JetStream (meta group: every server)"
                                  : "Standalone JetStream");
        nc_printf(b, "jetstream {\n");
        nc_printf(b, "  domain: \"" NC_JS_DOMAIN "\"\n");
        nc_printf(b, "  store_dir: \"%s/nats\"\n", home);
        nc_printf(b, "  max_memory_store: %llu\n", (unsigned long long)mem);
        nc_printf(b, "  max_file_store: %llu\n", (unsigned long long)file);
        nc_printf(b, "}\n");
    }

    if (p->cluster_block) {
        const struct nc_cluster *own = p->own;
        nc_printf(b, "\ncluster {\n");
        nc_printf(b, "  name: \"%s\"\n", own->label);
        nc_printf(b, "  host: \"%s\"\n", m->host);
        nc_printf(b, "  port: %u\n", (unsigned)ports[NC_CLUSTER]);
        nc_printf(b, "  authorization {\n    user: \"%s\"\n    password: \"%s\"\n  }\n",
                  nc_user_names[NC_ROUTE], c->pw[NC_ROUTE]);
        nc_printf(b, "  routes: [\n");
        size_t left = own->len == 1 ? 1 : own->len - 1;
        for (size_t i = own->first; i < own->first + own->len; i++) {
            const struct fsm_natsconf_member *o = c->servers[i];
            if (o == m && own->len > 1)
                continue;
            nc_url(b, c, "    ", i, NC_URL_ROUTE, --left > 0);
        }
        nc_printf(b, "  ]\n}\n");
    }

    if (p->gateway_block) {
        nc_printf(b, "\ngateway {\n");
        nc_printf(b, "  name: \"%s\"\n", m->cluster);
        nc_printf(b, "  host: \"%s\"\n", m->host);
        nc_printf(b, "  port: %u\n", (unsigned)ports[NC_GW]);
        nc_printf(b, "  authorization {\n    user: \"%s\"\n    password: \"%s\"\n  }\n",
                  nc_user_names[NC_GATEWAY], c->pw[NC_GATEWAY]);
        nc_printf(b, "  gateways: [\n");
        size_t left = c->clusters_len - 1;
        for (size_t k = 0; k < c->clusters_len; k++) {
            const struct nc_cluster *cl = &c->clusters[k];
            if (cl == p->own)
                continue;
            nc_printf(b, "    {\n      name: \"%s\"\n      urls: [\n", cl->label);
            for (size_t i = cl->first; i < cl->first + cl->len; i++)
                nc_url(b, c, "        ", i, NC_URL_GATEWAY, i + 1 < cl->first + cl->len);
            nc_printf(b, "      ]\n    }%s\n", --left > 0 ? "," : "");
        }
        nc_printf(b, "  ]\n}\n");
    }

    nc_printf(b, "\nleafnodes {\n");
    if (server) {
        nc_printf(b, "  host: \"%s\"\n", m->host);
        nc_printf(b, "  port: %u\n", (unsigned)ports[NC_LEAFPORT]);
        nc_printf(b, "  authorization {\n    user: \"%s\"\n    password: \"%s\"\n"
                     "    account: \"" NC_APP_ACCOUNT "\"\n  }\n",
                  nc_user_names[NC_LEAF], c->pw[NC_LEAF]);
    }
    if (p->mode == FSM_NATSCONF_MODE_LEAF) {
        assert(p->hubs_count >= 1 && p->hubs_count <= c->servers_len);
        nc_printf(b, "  remotes: [\n    {\n      account: \"" NC_APP_ACCOUNT "\"\n"
                     "      urls: [\n");
        uint32_t left = p->hubs_count;
        if (p->hubs_first != NULL)
            nc_url(b, c, "        ", c->primary_idx, NC_URL_LEAF, --left > 0);
        for (size_t i = p->hubs_from; i < p->hubs_from + p->hubs_len; i++) {
            const struct fsm_natsconf_member *o = c->servers[i];
            if (o == p->hubs_first)
                continue;
            nc_url(b, c, "        ", i, NC_URL_LEAF, --left > 0);
        }
        nc_printf(b, "      ]\n    }\n  ]\n");
    }
    nc_printf(b, "}\n");
}

static int nc_render_one(const struct nc_ctx *c, uint64_t self_id, const char *home,
                         char **out, size_t *out_len)
{
    struct nc_plan p;
    int rc = nc_check_home(home);
    if (rc != 0)
        return rc;
    if ((rc = nc_plan(c, self_id, &p)) != 0)
        return rc;
    struct nc_buf b = {0};
    /* A guess that usually avoids regrowing: a leaf lists its hubs, a
     * server at most every server once; nc_printf grows it if needed. */
    size_t urls = p.mode == FSM_NATSCONF_MODE_LEAF ? p.hubs_count : c->servers_len + 1;
    nc_reserve(&b, 2048 + strlen(home) + 160 * urls);
    nc_render_plan(c, &p, home, &b);
    if (b.oom) {
        free(b.p);
        return -PM_ENOMEM;
    }
    *out = b.p;
    if (out_len != NULL)
        *out_len = b.len;
    return 0;
}

int fsm_natsconf_render(const struct fsm_natsconf_input *in, char **out,
                        size_t *out_len)
{
    if (out == NULL)
        return -PM_EINVAL;
    *out = NULL;
    struct nc_ctx c;
    int rc = nc_ctx_init(&c, in);
    if (rc != 0)
        return rc;
    rc = nc_render_one(&c, in->self_id, in->home, out, out_len);
    nc_ctx_free(&c);
    return rc;
}

struct fsm_natsconf_ctx {
    struct fsm_natsconf_input in; /* copy; members and secret borrowed */
    struct nc_ctx c;              /* c.in points at the copy */
};

int fsm_natsconf_prepare(const struct fsm_natsconf_input *in,
                         struct fsm_natsconf_ctx **out)
{
    if (out == NULL)
        return -PM_EINVAL;
    *out = NULL;
    if (in == NULL)
        return -PM_EINVAL;
    struct fsm_natsconf_ctx *x = calloc(1, sizeof *x);
    if (x == NULL)
        return -PM_ENOMEM;
    x->in = *in;
    int rc = nc_ctx_init(&x->c, &x->in);
    if (rc != 0) {
        free(x);
        return rc;
    }
    *out = x;
    return 0;
}

int fsm_natsconf_render_prepared(const struct fsm_natsconf_ctx *x,
                                 uint64_t self_id, const char *home,
                                 char **out, size_t *out_len)
{
    if (out == NULL)
        return -PM_EINVAL;
    *out = NULL;
    if (x == NULL)
        return -PM_EINVAL;
    return nc_render_one(&x->c, self_id, home, out, out_len);
}

void fsm_natsconf_ctx_free(struct fsm_natsconf_ctx *x)
{
    if (x == NULL)
        return;
    nc_ctx_free(&x->c);
    sodium_memzero(x, sizeof *x); /* the derived passwords */
    free(x);
}

int fsm_natsconf_render_all(const struct fsm_natsconf_input *in, size_t *bytes_out)
{
    struct nc_ctx c;
    int rc = nc_ctx_init(&c, in);
    if (rc != 0)
        return rc;
    size_t total = 0;
    for (size_t i = 0; i < c.n && rc == 0; i++) {
        char *text = NULL;
        size_t len = 0;
        rc = nc_render_one(&c, c.by_id[i]->id, in->home, &text, &len);
        total += len;
        free(text);
    }
    nc_ctx_free(&c);
    if (rc == 0 && bytes_out != NULL)
        *bytes_out = total;
    return rc;
}

int fsm_natsconf_describe(const struct fsm_natsconf_input *in,
                          struct fsm_natsconf_shape *shape)
{
    if (shape == NULL)
        return -PM_EINVAL;
    memset(shape, 0, sizeof *shape);
    struct nc_ctx c;
    int rc = nc_ctx_init(&c, in);
    if (rc != 0)
        return rc;
    struct nc_plan p;
    if ((rc = nc_check_home(in->home)) != 0 || (rc = nc_plan(&c, in->self_id, &p)) != 0) {
        nc_ctx_free(&c);
        return rc;
    }
    shape->mode = (uint8_t)p.mode;
    shape->jetstream = p.js;
    shape->js_clustered = p.js_clustered;
    shape->routes = p.cluster_block ? (uint32_t)p.own->len - 1 : 0;
    shape->gateways = p.gateway_block ? (uint32_t)c.clusters_len - 1 : 0;
    shape->leaf_remotes = p.hubs_count;
    shape->js_cluster_size = p.js_clustered ? (uint32_t)c.servers_len : 0;
    if (p.mode == FSM_NATSCONF_MODE_CLUSTER && (p.cluster_block || p.gateway_block))
        snprintf(shape->cluster, sizeof shape->cluster, "%s", p.self->cluster);
    nc_ctx_free(&c);
    return 0;
}

/* ---------------------------------------------------------- classifier */

/* A config is compared as a list of top-level items: an item starts at a
 * line whose first column holds neither blank, '#', '}' nor ']', and runs
 * to the next such line. Blank and comment lines are ignored, so two texts
 * that differ only in comments need nothing. */
#define NC_ITEMS_MAX 256

struct nc_item {
    const char *key;
    size_t key_len;
    const char *start, *end; /* lines [start, end) */
};

/* Next significant line in [*p, end): sets *ls and *ll (trailing blanks and CR
 * stripped), advances *p; false at the end. */
static bool nc_next_line(const char **p, const char *end, const char **ls, size_t *ll)
{
    while (*p < end) {
        const char *s = *p;
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *e = nl ? nl : end;
        *p = nl ? nl + 1 : end;
        const char *t = s;
        while (t < e && (*t == ' ' || *t == '\t'))
            t++;
        if (t == e || *t == '#')
            continue;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
            e--;
        *ls = s;
        *ll = (size_t)(e - s);
        return true;
    }
    return false;
}

static bool nc_region_eq(const char *a, const char *ae, const char *b, const char *be)
{
    for (;;) {
        const char *la, *lb;
        size_t na, nb;
        bool ha = nc_next_line(&a, ae, &la, &na);
        bool hb = nc_next_line(&b, be, &lb, &nb);
        if (!ha || !hb)
            return ha == hb;
        if (na != nb || memcmp(la, lb, na) != 0)
            return false;
    }
}

/* Split [text, end) into items whose starting lines have exactly `indent`
 * leading spaces. Returns the count, or -1 if over NC_ITEMS_MAX. */
static int nc_split(const char *text, const char *end, size_t indent,
                    struct nc_item *items)
{
    int n = 0;
    const char *p = text;
    while (p < end) {
        const char *s = p;
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        p = nl ? nl + 1 : end;
        size_t sp = 0;
        while (s + sp < p && s[sp] == ' ')
            sp++;
        const char *t = s + sp;
        bool starts = sp == indent && t < p && *t != '\n' && *t != '\r' &&
                      *t != '#' && *t != '}' && *t != ']' && *t != '\t';
        if (starts) {
            if (n == NC_ITEMS_MAX)
                return -1;
            size_t kl = 0;
            while (t + kl < p && strchr(" \t:={\r\n", t[kl]) == NULL)
                kl++;
            items[n++] = (struct nc_item){t, kl, s, p};
        } else if (n > 0) {
            items[n - 1].end = p;
        }
    }
    return n;
}

static bool nc_key_is(const struct nc_item *it, const char *key)
{
    return it->key_len == strlen(key) && memcmp(it->key, key, it->key_len) == 0;
}

static bool nc_same_key(const struct nc_item *a, const struct nc_item *b)
{
    return a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0;
}

/* Do the items with key k (taken from `probe`) read the same in both? */
static bool nc_key_eq(const struct nc_item *probe, const struct nc_item *a, int na,
                      const struct nc_item *b, int nb, int *count_a, int *count_b)
{
    int i = 0, j = 0;
    bool eq = true;
    *count_a = *count_b = 0;
    for (;;) {
        while (i < na && !nc_same_key(&a[i], probe))
            i++;
        while (j < nb && !nc_same_key(&b[j], probe))
            j++;
        if (i == na || j == nb) {
            for (; i < na; i++)
                if (nc_same_key(&a[i], probe))
                    eq = false, (*count_a)++;
            for (; j < nb; j++)
                if (nc_same_key(&b[j], probe))
                    eq = false, (*count_b)++;
            return eq;
        }
        (*count_a)++;
        (*count_b)++;
        if (!nc_region_eq(a[i].start, a[i].end, b[j].start, b[j].end))
            eq = false;
        i++;
        j++;
    }
}

static const struct nc_item *nc_find_key(const struct nc_item *it, int n, const char *key)
{
    for (int i = 0; i < n; i++)
        if (nc_key_is(&it[i], key))
            return &it[i];
    return NULL;
}

/* Items whose change nats-server 2.9.10 applies on reload (FACTS).
 * Measured: no_auth_user is NOT among them ("config reload not supported
 * for NoAuthUser"). */
static bool nc_reloadable(const struct nc_item *it, bool in_cluster)
{
    if (in_cluster)
        return nc_key_is(it, "routes") || nc_key_is(it, "authorization");
    return nc_key_is(it, "accounts") || nc_key_is(it, "authorization");
}

static enum fsm_natsconf_change nc_compare(const struct nc_item *a, int na,
                                           const struct nc_item *b, int nb,
                                           bool in_cluster, int depth);

/* The cluster{} block exists in both and differs: look inside. */
static enum fsm_natsconf_change nc_compare_cluster(const struct nc_item *a,
                                                   const struct nc_item *b, int depth)
{
    if (depth > 0)
        return FSM_NATSCONF_RESTART;
    struct nc_item *ia = malloc(2 * NC_ITEMS_MAX * sizeof *ia);
    if (ia == NULL)
        return FSM_NATSCONF_RESTART;
    struct nc_item *ib = ia + NC_ITEMS_MAX;
    /* Skip the opening line; sub-items are indented by two spaces. */
    const char *sa = memchr(a->start, '\n', (size_t)(a->end - a->start));
    const char *sb = memchr(b->start, '\n', (size_t)(b->end - b->start));
    enum fsm_natsconf_change r = FSM_NATSCONF_RESTART;
    if (sa != NULL && sb != NULL) {
        int na = nc_split(sa + 1, a->end, 2, ia);
        int nb = nc_split(sb + 1, b->end, 2, ib);
        if (na >= 0 && nb >= 0)
            r = nc_compare(ia, na, ib, nb, true, depth + 1);
    }
    free(ia);
    return r;
}

static enum fsm_natsconf_change nc_compare(const struct nc_item *a, int na,
                                           const struct nc_item *b, int nb,
                                           bool in_cluster, int depth)
{
    enum fsm_natsconf_change r = FSM_NATSCONF_NONE;
    for (int side = 0; side < 2; side++) {
        const struct nc_item *it = side == 0 ? a : b;
        int n = side == 0 ? na : nb;
        for (int i = 0; i < n && r != FSM_NATSCONF_RESTART; i++) {
            /* Each key once: skip it if seen earlier on this side or, on
             * the second side, anywhere on the first. */
            bool seen = false;
            for (int k = 0; k < i && !seen; k++)
                seen = nc_same_key(&it[k], &it[i]);
            for (int k = 0; side == 1 && k < na && !seen; k++)
                seen = nc_same_key(&a[k], &it[i]);
            if (seen)
                continue;
            int ca, cb;
            if (nc_key_eq(&it[i], a, na, b, nb, &ca, &cb))
                continue;
            enum fsm_natsconf_change c;
            if (nc_reloadable(&it[i], in_cluster))
                c = FSM_NATSCONF_RELOAD;
            else if (!in_cluster && nc_key_is(&it[i], "cluster") && ca == 1 && cb == 1)
                c = nc_compare_cluster(nc_find_key(a, na, "cluster"),
                                       nc_find_key(b, nb, "cluster"), depth);
            else
                c = FSM_NATSCONF_RESTART;
            if (c > r)
                r = c;
        }
    }
    return r;
}

enum fsm_natsconf_change fsm_natsconf_classify_text(const char *old_conf,
                                                    const char *new_conf)
{
    if (old_conf == NULL || new_conf == NULL)
        return FSM_NATSCONF_RESTART;
    if (strcmp(old_conf, new_conf) == 0)
        return FSM_NATSCONF_NONE;
    struct nc_item *ia = malloc(2 * NC_ITEMS_MAX * sizeof *ia);
    if (ia == NULL)
        return FSM_NATSCONF_RESTART; /* the safe answer */
    struct nc_item *ib = ia + NC_ITEMS_MAX;
    int na = nc_split(old_conf, old_conf + strlen(old_conf), 0, ia);
    int nb = nc_split(new_conf, new_conf + strlen(new_conf), 0, ib);
    enum fsm_natsconf_change r = FSM_NATSCONF_RESTART;
    if (na >= 0 && nb >= 0)
        r = nc_compare(ia, na, ib, nb, false, 0);
    free(ia);
    return r;
}

int fsm_natsconf_classify(const struct fsm_natsconf_input *old_in,
                          const struct fsm_natsconf_input *new_in,
                          enum fsm_natsconf_change *change)
{
    if (change == NULL)
        return -PM_EINVAL;
    *change = FSM_NATSCONF_RESTART;
    char *new_text = NULL, *old_text = NULL;
    int rc = fsm_natsconf_render(new_in, &new_text, NULL);
    if (rc != 0)
        return rc;
    if (old_in != NULL) {
        rc = fsm_natsconf_render(old_in, &old_text, NULL);
        if (rc == 0)
            *change = fsm_natsconf_classify_text(old_text, new_text);
    }
    free(old_text);
    free(new_text);
    return rc;
}
