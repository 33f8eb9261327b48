/* check.c: every rule a command must satisfy, with the error text the user
 * sees. Used at proposal (fsm_validate) and again at apply, where a
 * failure makes the entry a recorded no-op; one function for both keeps the
 * two verdicts identical. */
#include "fsm/internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/err.h"
#include "base/seedurl.h"

void fsm__errf(char *err, size_t err_len, const char *fmt, ...)
{
    if (!err || err_len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

/* Untrusted text quoted in an error: printable ASCII only, at most 48
 * bytes (then "..."). OUT has room for 64 bytes. */
static const char *show(const char *s, size_t len, char out[64])
{
    size_t n = 0;
    for (size_t i = 0; i < len && n < 48; i++) {
        unsigned char c = (unsigned char)s[i];
        out[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (len > 48) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = 0;
    return out;
}

static int seg_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-';
}

int fsm_key_check(const char *key, size_t len, char *err, size_t err_len)
{
    char sh[64];
    if (!key || len == 0) {
        fsm__errf(err, err_len, "key is empty");
        return -PM_EINVAL;
    }
    if (len > FSM_KEY_MAX) {
        fsm__errf(err, err_len, "key is %zu bytes long (at most %d)", len,
                  FSM_KEY_MAX);
        return -PM_ETOOBIG;
    }
    unsigned depth = 1;
    size_t seg = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)key[i];
        if (c == '.') {
            if (seg == 0)
                goto empty;
            seg = 0;
            if (++depth > FSM_KEY_DEPTH_MAX) {
                fsm__errf(err, err_len,
                          "key '%s' has more than %d segments",
                          show(key, len, sh), FSM_KEY_DEPTH_MAX);
                return -PM_ETOOBIG;
            }
            continue;
        }
        if (!seg_char(c)) {
            if (c >= 0x20 && c < 0x7f)
                fsm__errf(err, err_len,
                          "key '%s': character '%c' is not allowed (use "
                          "A-Z a-z 0-9 _ - and dots between segments)",
                          show(key, len, sh), c);
            else
                fsm__errf(err, err_len,
                          "key '%s': byte 0x%02x is not allowed (use "
                          "A-Z a-z 0-9 _ - and dots between segments)",
                          show(key, len, sh), c);
            return -PM_EINVAL;
        }
        if (++seg > FSM_SEGMENT_MAX) {
            fsm__errf(err, err_len,
                      "key '%s': a segment is longer than %d bytes",
                      show(key, len, sh), FSM_SEGMENT_MAX);
            return -PM_ETOOBIG;
        }
    }
    if (seg == 0)
        goto empty;
    return 0;
empty:
    fsm__errf(err, err_len,
              "key '%s' has an empty segment (leading, trailing or doubled "
              "dot)",
              show(key, len, sh));
    return -PM_EINVAL;
}

/* 0 if S is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF)
 * and holds no NUL byte; else the offending offset + 1. */
static size_t utf8_bad(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned c = p[i];
        unsigned n;
        uint32_t cp;
        if (c == 0)
            return i + 1;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return i + 1;
        }
        if (len - i <= n)
            return i + 1;
        for (unsigned k = 1; k <= n; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return i + 1;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return i + 1;
        i += n + 1;
    }
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The value rules cJSON does not enforce: depth, finite and exact numbers,
 * unique object member names. */
static int walk_value(const cJSON *v, unsigned depth, char *err,
                      size_t err_len)
{
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (!isfinite(d)) {
            fsm__errf(err, err_len, "value: number out of range");
            return -PM_EINVAL;
        }
        if (fabs(d) > 9007199254740992.0) {
            fsm__errf(err, err_len,
                      "value: number %.17g is outside +-2^53 and would lose "
                      "precision; quote it to store a string",
                      d);
            return -PM_EINVAL;
        }
        return 0;
    }
    if (!cJSON_IsArray(v) && !cJSON_IsObject(v))
        return 0;
    if (depth >= FSM_VALUE_DEPTH_MAX) {
        fsm__errf(err, err_len,
                  "value: nested deeper than %d arrays/objects",
                  FSM_VALUE_DEPTH_MAX);
        return -PM_ETOOBIG;
    }
    size_t n = 0;
    for (const cJSON *c = v->child; c; c = c->next) {
        int rc = walk_value(c, depth + 1, err, err_len);
        if (rc)
            return rc;
        n++;
    }
    if (cJSON_IsObject(v) && n > 1) {
        const char **names = malloc(n * sizeof *names);
        if (!names)
            return -PM_ENOMEM;
        size_t i = 0;
        for (const cJSON *c = v->child; c; c = c->next)
            names[i++] = c->string ? c->string : "";
        qsort(names, n, sizeof *names, cmp_names);
        for (i = 1; i < n; i++) {
            if (strcmp(names[i - 1], names[i]) == 0) {
                char sh[64];
                fsm__errf(err, err_len,
                          "value: object has the member '%s' twice",
                          show(names[i], strlen(names[i]), sh));
                free(names);
                return -PM_EINVAL;
            }
        }
        free(names);
    }
    return 0;
}

/* 1 if the JSON text TEXT (already known to parse) holds a \u0000 escape
 * inside a string or member name. A lexical scan, because cJSON decodes the
 * escape into a NUL that silently cuts the string there, so the decoded tree
 * cannot show it. Only a real escape counts: in "a\\u0000" the backslash is
 * itself escaped and "u0000" is plain text. Escapes are skipped as a unit,
 * so an escaped quote does not end the string. */
static int has_nul_escape(const char *text, size_t len)
{
    int in_string = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (!in_string) {
            in_string = c == '"';
        } else if (c == '"') {
            in_string = 0;
        } else if (c == '\\') {
            if (len - i >= 6 && memcmp(text + i + 1, "u0000", 5) == 0)
                return 1;
            i++; /* the escaped character; \uXXXX digits are plain hex */
        }
    }
    return 0;
}

/* Parse NUL-terminated TEXT as one JSON value: the tree, or NULL if it is
 * not JSON. *NUL_ESCAPE set when one of its strings holds a \u0000 escape
 * (cJSON would cut the string there). */
static cJSON *parse_json(const char *text, size_t len, int *nul_escape)
{
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(text, len + 1, &end, 1);
    *nul_escape = v && has_nul_escape(text, len);
    return v;
}

/* Byte-parallel tests on 8 bytes at once. Each says whether ANY byte of X
 * qualifies (a borrow or carry can mark bytes after a qualifying one, never
 * when none qualifies). */
#define B8(c) (0x0101010101010101ULL * (uint64_t)(c))
static uint64_t any_zero(uint64_t x) { return (x - B8(1)) & ~x & B8(0x80); }
static uint64_t any_below(uint64_t x, unsigned n) /* n <= 128 */
{
    return (x - B8(n)) & ~x & B8(0x80);
}
static uint64_t any_above_7e(uint64_t x) { return ((x + B8(1)) | x) & B8(0x80); }

/* Plain text: bytes 0x20-0x7e other than '"' and '\\'. Inside a JSON
 * string cJSON prints such bytes as they are, so no escaping is needed.
 * This runs for every `set` on every node, several times: eight bytes per
 * step (the byte loop, which GCC does not vectorize at -O2, was ~10% of a
 * leader's time at 256 clients). */
int fsm__plain_text(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    uint64_t bad = 0;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t x;
        memcpy(&x, p + i, 8);
        bad |= any_below(x, 0x20) | any_above_7e(x) |
               any_zero(x ^ B8('"')) | any_zero(x ^ B8('\\'));
    }
    for (; i < len; i++) {
        unsigned c = p[i];
        bad |= (uint64_t)((c < 0x20) | (c > 0x7e) | (c == '"') |
                          (c == '\\'));
    }
    return bad == 0;
}

/* Can a JSON value start with byte C? (cJSON also skips leading bytes up
 * to 0x20 first.) Anything else makes the parse fail at once. */
static int json_start(unsigned char c)
{
    return c <= 0x20 || c == '{' || c == '[' || c == '"' || c == '-' ||
           (c >= '0' && c <= '9') || c == 't' || c == 'f' || c == 'n';
}

int fsm_value_normalize(const char *raw, size_t raw_len, char **json,
                        size_t *json_len, char *err, size_t err_len)
{
    *json = NULL;
    if (raw_len > FSM_VALUE_MAX) {
        fsm__errf(err, err_len, "value is %zu bytes long (at most %d)",
                  raw_len, FSM_VALUE_MAX);
        return -PM_ETOOBIG;
    }
    /* The common case, without a parse: plain text that cannot be JSON is
     * the string of itself, quoted (what the slow path below prints). */
    if (raw_len > 0 && !json_start((unsigned char)raw[0]) &&
        fsm__plain_text(raw, raw_len)) {
        if (raw_len + 2 > FSM_VALUE_MAX) {
            fsm__errf(err, err_len,
                      "value is %zu bytes long as JSON (at most %d)",
                      raw_len + 2, FSM_VALUE_MAX);
            return -PM_ETOOBIG;
        }
        char *q = malloc(raw_len + 3);
        if (!q)
            return -PM_ENOMEM;
        q[0] = '"';
        memcpy(q + 1, raw, raw_len);
        q[raw_len + 1] = '"';
        q[raw_len + 2] = 0;
        *json = q;
        *json_len = raw_len + 2;
        return 0;
    }
    size_t bad = utf8_bad(raw, raw_len);
    if (bad) {
        fsm__errf(err, err_len,
                  "value: byte %zu is not valid UTF-8 text (or is NUL)", bad);
        return -PM_EINVAL;
    }
    char *text = malloc(raw_len + 1);
    if (!text)
        return -PM_ENOMEM;
    memcpy(text, raw, raw_len);
    text[raw_len] = 0;
    int nul_escape;
    cJSON *v = parse_json(text, raw_len, &nul_escape);
    int rc = 0;
    if (v && nul_escape) {
        fsm__errf(err, err_len, "value: JSON strings may not contain \\u0000");
        rc = -PM_EINVAL;
        goto out;
    }
    if (v) {
        rc = walk_value(v, 0, err, err_len);
        if (rc)
            goto out;
    } else {
        /* Not JSON: the text is a string value, as the user typed it. */
        v = cJSON_CreateString(text);
        if (!v) {
            rc = -PM_ENOMEM;
            goto out;
        }
    }
    char *out = cJSON_PrintUnformatted(v);
    if (!out) {
        rc = -PM_ENOMEM;
        goto out;
    }
    size_t n = strlen(out);
    if (n > FSM_VALUE_MAX) {
        fsm__errf(err, err_len,
                  "value is %zu bytes long as JSON (at most %d)", n,
                  FSM_VALUE_MAX);
        free(out);
        rc = -PM_ETOOBIG;
        goto out;
    }
    *json = out;
    *json_len = n;
out:
    cJSON_Delete(v);
    free(text);
    return rc;
}

int fsm__value_check(const char *val, size_t len, char *err, size_t err_len)
{
    if (len == 0) {
        fsm__errf(err, err_len, "value is empty (not JSON)");
        return -PM_EINVAL;
    }
    if (len > FSM_VALUE_MAX) {
        fsm__errf(err, err_len, "value is %zu bytes long (at most %d)", len,
                  FSM_VALUE_MAX);
        return -PM_ETOOBIG;
    }
    /* A quoted plain string is its own normal form; this check runs for
     * every `set` on every node, so the common case skips the parse. */
    if (len >= 2 && val[0] == '"' && val[len - 1] == '"' &&
        fsm__plain_text(val + 1, len - 2))
        return 0;
    /* The value must be JSON already (a string arrives quoted) and equal
     * to its own normal form: parse once, check, print, compare. */
    char *text = malloc(len + 1);
    if (!text)
        return -PM_ENOMEM;
    memcpy(text, val, len);
    text[len] = 0;
    int nul_escape = 0;
    cJSON *v = utf8_bad(val, len) == 0 ? parse_json(text, len, &nul_escape)
                                        : NULL;
    int rc = 0;
    if (!v) {
        fsm__errf(err, err_len, "value is not JSON text");
        rc = -PM_EINVAL;
    } else if (nul_escape) {
        fsm__errf(err, err_len,
                  "value: JSON strings may not contain \\u0000");
        rc = -PM_EINVAL;
    } else if ((rc = walk_value(v, 0, err, err_len)) == 0) {
        char *canon = cJSON_PrintUnformatted(v);
        if (!canon) {
            rc = -PM_ENOMEM;
        } else if (strlen(canon) != len || memcmp(canon, val, len) != 0) {
            fsm__errf(err, err_len, "value is not in canonical form (use "
                      "fsm_value_normalize)");
            rc = -PM_EINVAL;
        }
        free(canon);
    }
    cJSON_Delete(v);
    free(text);
    return rc;
}

int fsm__name_check(const char *what, const char *s, size_t len, char *err,
                    size_t err_len)
{
    char sh[64];
    if (len == 0) {
        fsm__errf(err, err_len, "%s is empty", what);
        return -PM_EINVAL;
    }
    if (len > FSM_NAME_MAX) {
        fsm__errf(err, err_len, "%s is %zu bytes long (at most %d)", what,
                  len, FSM_NAME_MAX);
        return -PM_ETOOBIG;
    }
    for (size_t i = 0; i < len; i++) {
        if (!seg_char((unsigned char)s[i])) {
            fsm__errf(err, err_len,
                      "%s '%s' may only hold A-Z a-z 0-9 _ -", what,
                      show(s, len, sh));
            return -PM_EINVAL;
        }
    }
    return 0;
}

static int host_check(const char *what, const char *host, uint16_t port,
                      char *err, size_t err_len)
{
    size_t len = strnlen(host, FSM_HOST_MAX + 1);
    char text[FSM_HOST_MAX + 16];
    char why[PM_SEEDURL_WHY_LEN];
    struct pm_hostport hp;
    char sh[64];

    if (len == 0) {
        fsm__errf(err, err_len, "%s host is empty", what);
        return -PM_EINVAL;
    }
    if (len > FSM_HOST_MAX) {
        fsm__errf(err, err_len, "%s host is longer than %d bytes", what,
                  FSM_HOST_MAX);
        return -PM_ETOOBIG;
    }
    if (port == 0) {
        fsm__errf(err, err_len, "%s port is 0", what);
        return -PM_EINVAL;
    }
    /* IPv6 literals are stored without brackets; the parser wants them. */
    int n = snprintf(text, sizeof text, memchr(host, ':', len) ? "[%s]:%u"
                                                                 : "%s:%u",
                     host, port);
    if (n < 0 || (size_t)n >= sizeof text ||
        pm_hostport_parse(text, (size_t)n, &hp, why, sizeof why) != 0) {
        fsm__errf(err, err_len, "%s host '%s' is not a host name or IP "
                  "address", what, show(host, len, sh));
        return -PM_EINVAL;
    }
    if (pm_host_is_unspecified(&hp)) {
        fsm__errf(err, err_len,
                  "%s host '%s' is an unspecified address; others must be "
                  "able to dial it", what, show(host, len, sh));
        return -PM_EINVAL;
    }
    return 0;
}

int fsm__member_check(const struct fsm_member *m, char *err, size_t err_len)
{
    int rc;
    if (m->id == 0) {
        fsm__errf(err, err_len, "member id is 0");
        return -PM_EINVAL;
    }
    if ((rc = fsm__name_check("member name", m->name,
                              strnlen(m->name, sizeof m->name), err,
                              err_len)))
        return rc;
    if ((rc = fsm__name_check("cluster label", m->cluster,
                              strnlen(m->cluster, sizeof m->cluster), err,
                              err_len)))
        return rc;
    if (m->role < FSM_ROLE_VOTER || m->role > FSM_ROLE_REPLICA) {
        fsm__errf(err, err_len, "member role %u is unknown", m->role);
        return -PM_EINVAL;
    }
    if (m->seed > 1) {
        fsm__errf(err, err_len, "member seed flag %u is not 0 or 1",
                  m->seed);
        return -PM_EINVAL;
    }
    if ((rc = host_check("peer", m->peer_host, m->peer_port, err, err_len)))
        return rc;
    if ((rc = host_check("NATS", m->nats_host, m->nats_client_port, err,
                         err_len)))
        return rc;
    const uint16_t ports[5] = {m->nats_client_port, m->nats_cluster_port,
                               m->nats_gateway_port, m->nats_leaf_port,
                               m->nats_http_port};
    static const char *const names[5] = {"client", "cluster", "gateway",
                                         "leaf node", "monitoring"};
    for (int i = 0; i < 5; i++) {
        if (ports[i] == 0) {
            fsm__errf(err, err_len, "NATS %s port is 0", names[i]);
            return -PM_EINVAL;
        }
        for (int j = 0; j < i; j++) {
            if (ports[i] == ports[j]) {
                fsm__errf(err, err_len,
                          "NATS %s and %s ports are both %u", names[j],
                          names[i], ports[i]);
                return -PM_EINVAL;
            }
        }
        if (strcmp(m->peer_host, m->nats_host) == 0 &&
            ports[i] == m->peer_port) {
            fsm__errf(err, err_len,
                      "peer port %u is also the NATS %s port", m->peer_port,
                      names[i]);
            return -PM_EINVAL;
        }
    }
    return 0;
}

/* Does member A listen on an address member B also uses? */
static int addr_clash(const struct fsm_member *a, const struct fsm_member *b,
                      char *err, size_t err_len)
{
    const uint16_t pa[6] = {a->peer_port, a->nats_client_port,
                            a->nats_cluster_port, a->nats_gateway_port,
                            a->nats_leaf_port, a->nats_http_port};
    const uint16_t pb[6] = {b->peer_port, b->nats_client_port,
                            b->nats_cluster_port, b->nats_gateway_port,
                            b->nats_leaf_port, b->nats_http_port};
    for (int i = 0; i < 6; i++) {
        const char *ha = i ? a->nats_host : a->peer_host;
        for (int j = 0; j < 6; j++) {
            const char *hb = j ? b->nats_host : b->peer_host;
            if (pa[i] == pb[j] && strcmp(ha, hb) == 0) {
                fsm__errf(err, err_len,
                          "address %s:%u is already used by member '%s'",
                          ha, pa[i], b->name);
                return -PM_EEXIST;
            }
        }
    }
    return 0;
}

static size_t count_voters(const struct fsm *fsm)
{
    size_t n = 0;
    for (size_t i = 0; i < fsm->n_members; i++)
        n += fsm->members[i].role == FSM_ROLE_VOTER;
    return n;
}

static int member_state_check(const struct fsm *fsm,
                              const struct fsm_member *m, int adding,
                              char *err, size_t err_len)
{
    for (size_t i = 0; i < fsm->n_members; i++) {
        const struct fsm_member *o = &fsm->members[i];
        if (o->id == m->id) {
            if (adding) {
                fsm__errf(err, err_len, "member id %llu exists ('%s')",
                          (unsigned long long)m->id, o->name);
                return -PM_EEXIST;
            }
            continue;
        }
        if (adding && strcmp(o->name, m->name) == 0) {
            fsm__errf(err, err_len, "member name '%s' is taken", m->name);
            return -PM_EEXIST;
        }
        int rc = addr_clash(m, o, err, err_len);
        if (rc)
            return rc;
    }
    return 0;
}

static int need_bootstrapped(const struct fsm *fsm, char *err, size_t err_len)
{
    if (fsm && !fsm->bootstrapped) {
        fsm__errf(err, err_len, "the mesh is not bootstrapped");
        return -PM_ESTATE;
    }
    return 0;
}

static const struct fsm_member *need_member(const struct fsm *fsm,
                                            uint64_t id, char *err,
                                            size_t err_len)
{
    const struct fsm_member *m = fsm ? fsm__member_find(fsm, id) : NULL;
    if (fsm && !m)
        fsm__errf(err, err_len, "no member with id %llu",
                  (unsigned long long)id);
    return m;
}

static int check_set(const struct fsm *fsm, const struct fsm_cmd *c,
                     char *err, size_t err_len)
{
    char sh[64];
    int rc = fsm_key_check(c->key.p, c->key.len, err, err_len);
    if (rc)
        return rc;
    if ((rc = fsm__value_check(c->value.p, c->value.len, err, err_len)))
        return rc;
    if (!fsm)
        return 0;
    const struct fsm__node *h;
    const struct fsm__node *same =
        fsm__settings_lookup(&fsm->settings, c->key.p, c->key.len, &h);
    if (h && h != same) {
        char hk[FSM_KEY_MAX + 1];
        size_t hl = fsm__node_key(h, hk);
        fsm__errf(err, err_len,
                  "cannot set '%s': '%s' holds a value; unset it or set "
                  "'%s' as a whole",
                  show(c->key.p, c->key.len, sh), hk, hk);
        (void)hl;
        return -PM_EREJECTED;
    }
    /* Limits on the whole tree, counted as if the key were new (a
     * replacement only frees room, so this never rejects a valid change
     * that keeps the tree within bounds by much). */
    if (!same && fsm->settings.n_keys >= FSM_SETTINGS_MAX) {
        fsm__errf(err, err_len, "the mesh holds %d settings already (the "
                  "limit)", FSM_SETTINGS_MAX);
        return -PM_ETOOBIG;
    }
    if (fsm->settings.bytes + c->key.len + c->value.len >
        FSM_SETTINGS_BYTES_MAX) {
        fsm__errf(err, err_len, "the settings would exceed %u bytes",
                  FSM_SETTINGS_BYTES_MAX);
        return -PM_ETOOBIG;
    }
    return 0;
}

static int check_unset(const struct fsm *fsm, const struct fsm_cmd *c,
                       char *err, size_t err_len)
{
    char sh[64];
    int rc = fsm_key_check(c->key.p, c->key.len, err, err_len);
    if (rc || !fsm)
        return rc;
    const struct fsm__node *h;
    const struct fsm__node *n =
        fsm__settings_lookup(&fsm->settings, c->key.p, c->key.len, &h);
    if (h && h != n) {
        char hk[FSM_KEY_MAX + 1];
        fsm__node_key(h, hk);
        fsm__errf(err, err_len,
                  "cannot unset '%s': it is inside the value of '%s'; set "
                  "'%s' as a whole",
                  show(c->key.p, c->key.len, sh), hk, hk);
        return -PM_EREJECTED;
    }
    if (!n) {
        fsm__errf(err, err_len, "key '%s' is not set",
                  show(c->key.p, c->key.len, sh));
        return -PM_ENOTFOUND;
    }
    return 0;
}

int fsm_validate(const struct fsm *fsm, const struct fsm_cmd *c, char *err,
                 size_t err_len)
{
    int rc;
    const struct fsm_member *m;
    char sh[64];

    if (err && err_len)
        err[0] = 0;
    if (c->type < FSM_CMD_NOOP || c->type > FSM_CMD__MAX) {
        fsm__errf(err, err_len, "command type %u is unknown", c->type);
        return -PM_EINVAL;
    }
    if (c->client_id != 0 && c->seq == 0) {
        fsm__errf(err, err_len, "request sequence number is 0");
        return -PM_EINVAL;
    }
    switch (c->type) {
    case FSM_CMD_NOOP:
        return 0;
    case FSM_CMD_BOOTSTRAP: {
        static const uint8_t zero[32];
        if (c->mesh_id == 0) {
            fsm__errf(err, err_len, "mesh id is 0");
            return -PM_EINVAL;
        }
        if (memcmp(c->secret, zero, sizeof zero) == 0) {
            fsm__errf(err, err_len, "mesh secret is all zero bytes");
            return -PM_EINVAL;
        }
        if ((rc = fsm__member_check(&c->member, err, err_len)))
            return rc;
        if (c->member.role != FSM_ROLE_VOTER || !c->member.seed) {
            fsm__errf(err, err_len,
                      "the bootstrap member must be a voter and the seed");
            return -PM_EINVAL;
        }
        if (fsm && fsm->bootstrapped) {
            fsm__errf(err, err_len, "the mesh is already bootstrapped");
            return -PM_EEXIST;
        }
        return 0;
    }
    case FSM_CMD_MEMBER_ADD:
        if ((rc = fsm__member_check(&c->member, err, err_len)))
            return rc;
        if (c->member.role == FSM_ROLE_VOTER) {
            fsm__errf(err, err_len,
                      "a member joins as learner or replica; promote it "
                      "to make it a voter");
            return -PM_EINVAL;
        }
        if (c->member.seed) {
            fsm__errf(err, err_len, "only the bootstrap member is the seed");
            return -PM_EINVAL;
        }
        if ((rc = need_bootstrapped(fsm, err, err_len)))
            return rc;
        if (fsm && fsm->n_members >= FSM_MEMBERS_MAX) {
            fsm__errf(err, err_len, "the mesh has %d members (the limit)",
                      FSM_MEMBERS_MAX);
            return -PM_ETOOBIG;
        }
        return fsm ? member_state_check(fsm, &c->member, 1, err, err_len)
                   : 0;
    case FSM_CMD_MEMBER_PROMOTE:
    case FSM_CMD_MEMBER_REMOVE:
        if ((rc = need_bootstrapped(fsm, err, err_len)))
            return rc;
        if (c->member_id == 0) {
            fsm__errf(err, err_len, "member id is 0");
            return -PM_EINVAL;
        }
        if (!fsm)
            return 0;
        if (!(m = need_member(fsm, c->member_id, err, err_len)))
            return -PM_ENOTFOUND;
        if (c->type == FSM_CMD_MEMBER_PROMOTE && m->role == FSM_ROLE_VOTER) {
            fsm__errf(err, err_len, "member '%s' is already a voter",
                      m->name);
            return -PM_EEXIST;
        }
        if (c->type == FSM_CMD_MEMBER_REMOVE && m->role == FSM_ROLE_VOTER &&
            count_voters(fsm) == 1) {
            fsm__errf(err, err_len,
                      "member '%s' is the last voter and cannot be removed",
                      m->name);
            return -PM_EREJECTED;
        }
        return 0;
    case FSM_CMD_SET:
        if ((rc = need_bootstrapped(fsm, err, err_len)))
            return rc;
        return check_set(fsm, c, err, err_len);
    case FSM_CMD_UNSET:
        if ((rc = need_bootstrapped(fsm, err, err_len)))
            return rc;
        return check_unset(fsm, c, err, err_len);
    case FSM_CMD_CLUSTER_RENAME: {
        if ((rc = fsm__name_check("cluster label", c->cluster_from.p,
                                  c->cluster_from.len, err, err_len)) ||
            (rc = fsm__name_check("cluster label", c->cluster_to.p,
                                  c->cluster_to.len, err, err_len)))
            return rc;
        if ((rc = need_bootstrapped(fsm, err, err_len)))
            return rc;
        if (!fsm)
            return 0;
        int from = 0, to = 0;
        for (size_t i = 0; i < fsm->n_members; i++) {
            const char *cl = fsm->members[i].cluster;
            from |= strlen(cl) == c->cluster_from.len &&
                    memcmp(cl, c->cluster_from.p, c->cluster_from.len) == 0;
            to |= strlen(cl) == c->cluster_to.len &&
                  memcmp(cl, c->cluster_to.p, c->cluster_to.len) == 0;
        }
        if (!from) {
            fsm__errf(err, err_len, "no member is in cluster '%s'",
                      show(c->cluster_from.p, c->cluster_from.len, sh));
            return -PM_ENOTFOUND;
        }
        if (to) {
            fsm__errf(err, err_len,
                      "cluster '%s' exists; renaming would merge clusters",
                      show(c->cluster_to.p, c->cluster_to.len, sh));
            return -PM_EEXIST;
        }
        return 0;
    }
    case FSM_CMD_MEMBER_ADDRESS: {
        if ((rc = need_bootstrapped(fsm, err, err_len)))
            return rc;
        /* Only the addresses count; check them with the member's own
         * identity fields so the name/role checks cannot fail here. */
        struct fsm_member probe = c->member;
        if (fsm) {
            if (!(m = need_member(fsm, c->member.id, err, err_len)))
                return -PM_ENOTFOUND;
            memcpy(probe.name, m->name, sizeof probe.name);
            memcpy(probe.cluster, m->cluster, sizeof probe.cluster);
            probe.role = m->role;
            probe.seed = m->seed;
        } else {
            strcpy(probe.name, "x");
            strcpy(probe.cluster, "x");
            probe.role = FSM_ROLE_VOTER;
            probe.seed = 0;
        }
        if ((rc = fsm__member_check(&probe, err, err_len)))
            return rc;
        return fsm ? member_state_check(fsm, &probe, 0, err, err_len) : 0;
    }
    case FSM_CMD_FORCE_RECOVER:
        if ((rc = need_bootstrapped(fsm, err, err_len)))
            return rc;
        if (c->member_id == 0) {
            fsm__errf(err, err_len, "member id is 0");
            return -PM_EINVAL;
        }
        if (c->n_remove > FSM_RECOVER_REMOVE_MAX) {
            fsm__errf(err, err_len,
                      "a recovery removes at most %d members",
                      FSM_RECOVER_REMOVE_MAX);
            return -PM_ETOOBIG;
        }
        for (uint32_t i = 0; i < c->n_remove; i++) {
            if (c->remove_ids[i] == c->member_id) {
                fsm__errf(err, err_len,
                          "the recovering member cannot remove itself");
                return -PM_EINVAL;
            }
            for (uint32_t j = 0; j < i; j++) {
                if (c->remove_ids[i] == c->remove_ids[j]) {
                    fsm__errf(err, err_len,
                              "member id %llu is listed twice",
                              (unsigned long long)c->remove_ids[i]);
                    return -PM_EINVAL;
                }
            }
        }
        if (!fsm)
            return 0;
        if (!(m = need_member(fsm, c->member_id, err, err_len)))
            return -PM_ENOTFOUND;
        if (m->role != FSM_ROLE_VOTER) {
            fsm__errf(err, err_len,
                      "member '%s' is not a voter and cannot recover the "
                      "mesh", m->name);
            return -PM_EREJECTED;
        }
        for (uint32_t i = 0; i < c->n_remove; i++)
            if (!need_member(fsm, c->remove_ids[i], err, err_len))
                return -PM_ENOTFOUND;
        return 0;
    }
    return -PM_EINVAL;
}
