/* render.c: turn the node's JSON replies (docs/control-protocol.md) into
 * what a person reads: aligned tables, plain values, one-line results.
 * A field the reply lacks shows as "-", so an older or newer node still
 * renders. --json output is the node's reply itself. */
#include "cli/cli.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- tables ---------------------------------------------------------- */

#define TABLE_COLS_MAX 8
/* A reply is at most one frame (16 MiB), so rows are bounded by it; this
 * bound only keeps a corrupt reply from exhausting memory. */
#define TABLE_ROWS_MAX 1000000u

struct table {
    int ncols;
    size_t nrows, cap;
    char **cells; /* nrows * ncols, malloc'd strings */
    int failed;
};

static void table_add(struct table *t, const char *const *row)
{
    if (t->failed)
        return;
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **cells;
        if (cap > TABLE_ROWS_MAX ||
            (cells = realloc(t->cells, cap * (size_t)t->ncols *
                                           sizeof *cells)) == NULL) {
            t->failed = 1;
            return;
        }
        t->cells = cells;
        t->cap = cap;
    }
    for (int i = 0; i < t->ncols; i++) {
        char *s = strdup(row[i] ? row[i] : "-");
        if (s == NULL)
            t->failed = 1;
        t->cells[t->nrows * (size_t)t->ncols + (size_t)i] = s;
    }
    t->nrows++;
}

/* Print with columns padded to their widest cell, two spaces apart; the
 * last column is not padded. Frees the table. */
static int table_print(struct table *t)
{
    size_t width[TABLE_COLS_MAX] = {0};
    int ok = !t->failed;
    for (size_t r = 0; ok && r < t->nrows; r++)
        for (int i = 0; i < t->ncols; i++) {
            size_t w = strlen(t->cells[r * (size_t)t->ncols + (size_t)i]);
            if (w > width[i])
                width[i] = w;
        }
    for (size_t r = 0; ok && r < t->nrows; r++) {
        for (int i = 0; i < t->ncols; i++) {
            const char *s = t->cells[r * (size_t)t->ncols + (size_t)i];
            if (i + 1 < t->ncols)
                printf("%-*s  ", (int)width[i], s);
            else
                printf("%s\n", s);
        }
    }
    for (size_t k = 0; k < t->nrows * (size_t)t->ncols; k++)
        free(t->cells[k]);
    free(t->cells);
    t->cells = NULL;
    return ok ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

/* ---- fields ---------------------------------------------------------- */

/* Field K of O as text in BUF: strings as they are, integers in decimal,
 * booleans yes/no, null or missing "-", anything else compact JSON. */
static const char *field(const cJSON *o, const char *k, char *buf,
                         size_t len)
{
    const cJSON *v = k ? cJSON_GetObjectItemCaseSensitive(o, k) : o;
    if (v == NULL || cJSON_IsNull(v))
        return "-";
    if (cJSON_IsString(v))
        return v->valuestring;
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v) ? "yes" : "no";
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == floor(d) && fabs(d) < 9.007199254740992e15)
            snprintf(buf, len, "%.0f", d);
        else
            snprintf(buf, len, "%g", d);
        return buf;
    }
    char *s = cJSON_PrintUnformatted(v);
    snprintf(buf, len, "%s", s ? s : "?");
    cJSON_free(s);
    return buf;
}

/* Like field() but into a malloc'd string with no length limit (for JSON
 * values in the last table column). */
static char *field_dup(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (v != NULL && !cJSON_IsNull(v) && (cJSON_IsObject(v) || cJSON_IsArray(v)))
        return cJSON_PrintUnformatted(v);
    char buf[64];
    const char *s = field(o, k, buf, sizeof buf);
    return strdup(s);
}

static void time_text(const cJSON *o, const char *k, char *buf, size_t len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v) || v->valuedouble <= 0) {
        snprintf(buf, len, "-");
        return;
    }
    time_t s = (time_t)(v->valuedouble / 1000.0);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- output ---------------------------------------------------------- */

char *cli_json_text(const cJSON *j, int pretty)
{
    if (!pretty)
        return cJSON_PrintUnformatted(j);
    char *s = cJSON_Print(j);
    if (s == NULL)
        return NULL;
    /* cJSON indents with tabs and puts a tab after ':'. Inside strings it
     * escapes every control character, so each raw tab is layout: make it
     * two spaces at the start of a line and one space elsewhere. */
    size_t tabs = 0, n = 0;
    for (const char *p = s; *p; p++, n++)
        tabs += *p == '\t';
    char *out = malloc(n + tabs + 1);
    if (out == NULL)
        return s;
    size_t o = 0;
    int line_start = 1;
    for (const char *p = s; *p; p++) {
        if (*p == '\t') {
            if (line_start) {
                out[o++] = ' ';
                out[o++] = ' ';
            } else {
                out[o++] = ' ';
            }
            continue;
        }
        line_start = *p == '\n';
        out[o++] = *p;
    }
    out[o] = 0;
    cJSON_free(s);
    return out;
}

int cli_print_json(const struct cli *c, const char *body, size_t len)
{
    cJSON *j = cJSON_ParseWithLength(body, len);
    if (j == NULL)
        return cli_fail(c, CLI_EXIT_FAIL, "the node's reply is not JSON");
    if (c->json_pretty) {
        char *s = cli_json_text(j, 1);
        if (s != NULL)
            puts(s);
        free(s);
    } else {
        /* Compact output is the node's own bytes: nothing re-encoded. */
        fwrite(body, 1, len, stdout);
        putchar('\n');
    }
    cJSON_Delete(j);
    return CLI_EXIT_OK;
}

/* A value as `get` prints it: strings unquoted, scalars compact, objects
 * and arrays as indented JSON. */
static void print_value(const cJSON *v)
{
    if (cJSON_IsString(v)) {
        puts(v->valuestring);
        return;
    }
    char *s = cli_json_text(v, cJSON_IsObject(v) || cJSON_IsArray(v));
    if (s != NULL)
        puts(s);
    free(s);
}

/* The "nats" object of status: the supervised nats-server's health. */
static void render_nats(const cJSON *nats)
{
    char a[64], b[64], d[64], e[64];
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(nats, "supervised"))) {
        printf("nats     not supervised (--no-nats)\n");
        return;
    }
    printf("nats     %s, pid %s, up %s ms (starts %s, crashes %s, ",
           field(nats, "state", a, sizeof a), field(nats, "pid", b, sizeof b),
           field(nats, "up_ms", d, sizeof d),
           field(nats, "starts", e, sizeof e),
           field(nats, "crashes", a, sizeof a));
    printf("reloads %s, restarts %s)\n", field(nats, "reloads", b, sizeof b),
           field(nats, "restarts", d, sizeof d));
    const cJSON *due = cJSON_GetObjectItemCaseSensitive(nats, "restart_in_ms");
    if (cJSON_IsNumber(due) && due->valuedouble > 0)
        printf("         restarting for a config change in %.0f ms\n",
               due->valuedouble);
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(nats, "error");
    if (cJSON_IsString(err))
        printf("         problem: %s\n", err->valuestring);
    if (cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(nats,
                                                      "monitor_age_ms"))) {
        printf("         no monitoring data yet\n");
        return;
    }
    printf("         routes %s, leaf nodes %s, clients %s, gateways to",
           field(nats, "routes", a, sizeof a),
           field(nats, "leafnodes", b, sizeof b),
           field(nats, "connections", d, sizeof d));
    const cJSON *gw = cJSON_GetObjectItemCaseSensitive(nats, "gateways");
    const cJSON *g;
    int ng = 0;
    cJSON_ArrayForEach(g, gw)
    {
        if (cJSON_IsString(g))
            printf("%s %s", ng++ ? "," : "", g->valuestring);
    }
    printf("%s\n", ng ? "" : " none");
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(nats, "jetstream")))
        printf("         jetstream off\n");
    else if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(nats,
                                                            "js_clustered")))
        printf("         jetstream standalone\n");
    else
        printf("         jetstream meta leader %s (group of %s)\n",
               field(nats, "js_meta_leader", a, sizeof a),
               field(nats, "js_cluster_size", b, sizeof b));
}

static int render_status(const cJSON *j)
{
    char a[64], b[64], d[64], e[64];
    printf("name     %s (id %s)\n", field(j, "name", a, sizeof a),
           field(j, "id", b, sizeof b));
    printf("state    %s, %s, cluster %s\n", field(j, "state", a, sizeof a),
           field(j, "role", b, sizeof b), field(j, "cluster", d, sizeof d));
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(j, "leader");
    if (cJSON_IsObject(l))
        printf("leader   %s (id %s)\n", field(l, "name", a, sizeof a),
               field(l, "id", b, sizeof b));
    else
        printf("leader   none known\n");
    printf("term     %s\n", field(j, "term", a, sizeof a));
    printf("log      first %s, last %s, commit %s, applied %s\n",
           field(j, "first_index", a, sizeof a),
           field(j, "last_index", b, sizeof b),
           field(j, "commit_index", d, sizeof d),
           field(j, "applied_index", e, sizeof e));
    const cJSON *ap = cJSON_GetObjectItemCaseSensitive(j, "applied_index");
    const cJSON *lc = cJSON_GetObjectItemCaseSensitive(j, "leader_commit_index");
    if (cJSON_IsNumber(ap) && cJSON_IsNumber(lc) &&
        lc->valuedouble > ap->valuedouble)
        printf("catch-up applied %.0f of %.0f (%.0f%%)\n", ap->valuedouble,
               lc->valuedouble, 100.0 * ap->valuedouble / lc->valuedouble);
    const cJSON *nats = cJSON_GetObjectItemCaseSensitive(j, "nats");
    if (cJSON_IsObject(nats))
        render_nats(nats);
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(j, "members");
    if (!cJSON_IsArray(ms) || cJSON_GetArraySize(ms) == 0)
        return CLI_EXIT_OK;
    putchar('\n');
    struct table t = {.ncols = 8};
    const char *head[8] = {"NAME",  "ID",  "ROLE",       "CLUSTER",
                           "MATCH", "LAG", "CONTACT_MS", "REACHABLE"};
    table_add(&t, head);
    const cJSON *m;
    cJSON_ArrayForEach(m, ms)
    {
        char f[8][64];
        const char *row[8] = {
            field(m, "name", f[0], 64),        field(m, "id", f[1], 64),
            field(m, "role", f[2], 64),        field(m, "cluster", f[3], 64),
            field(m, "match_index", f[4], 64), field(m, "lag", f[5], 64),
            field(m, "last_contact_ms", f[6], 64),
            field(m, "reachable", f[7], 64)};
        table_add(&t, row);
    }
    return table_print(&t);
}

static int render_members(const cJSON *j)
{
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(j, "members");
    if (!cJSON_IsArray(ms))
        return CLI_EXIT_FAIL;
    struct table t = {.ncols = 7};
    const char *head[7] = {"NAME", "ID",   "ROLE", "CLUSTER",
                           "PEER", "NATS", "FLAGS"};
    table_add(&t, head);
    const cJSON *m;
    cJSON_ArrayForEach(m, ms)
    {
        char f[6][300];
        char flags[32] = "";
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "seed")))
            strcat(flags, "seed");
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "leader")))
            strcat(flags, flags[0] ? ",leader" : "leader");
        const char *row[7] = {
            field(m, "name", f[0], 300), field(m, "id", f[1], 300),
            field(m, "role", f[2], 300), field(m, "cluster", f[3], 300),
            field(m, "peer", f[4], 300), field(m, "nats", f[5], 300),
            flags[0] ? flags : "-"};
        table_add(&t, row);
    }
    return table_print(&t);
}

/* log and history: one row per record; the JSON columns come last. */
static int render_records(const cJSON *j, int history)
{
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(j, "records");
    if (!cJSON_IsArray(rs))
        return CLI_EXIT_FAIL;
    struct table t = {.ncols = history ? 7 : 6};
    const char *head_log[6] = {"INDEX",    "TERM", "TIME",
                               "PROPOSER", "TYPE", "COMMAND"};
    const char *head_hist[7] = {"INDEX", "TERM", "TIME", "PROPOSER",
                                "OP",    "OLD",  "NEW"};
    table_add(&t, history ? head_hist : head_log);
    const cJSON *r;
    cJSON_ArrayForEach(r, rs)
    {
        char f[5][64];
        time_text(r, "time_ms", f[2], 64);
        char *x = field_dup(r, history ? "old" : "command");
        char *y = history ? field_dup(r, "new") : NULL;
        const char *row[7] = {field(r, "index", f[0], 64),
                              field(r, "term", f[1], 64),
                              f[2],
                              field(r, "proposer", f[3], 64),
                              field(r, history ? "op" : "type", f[4], 64),
                              x,
                              y};
        table_add(&t, row);
        free(x);
        free(y);
    }
    return table_print(&t);
}

static int render_replay(const cJSON *j)
{
    char a[128], b[128];
    printf("index       %s\n", field(j, "index", a, sizeof a));
    const char *state = field(j, "state_hash", a, sizeof a);
    const char *live = field(j, "live_hash", b, sizeof b);
    printf("state hash  %s\n", state);
    if (strcmp(live, "-") == 0)
        printf("live hash   - (not compared)\n");
    else
        printf("live hash   %s (%s)\n", live,
               strcmp(live, state) == 0 ? "same" : "DIFFERENT");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "settings");
    if (s != NULL) {
        printf("settings:\n");
        print_value(s);
    }
    return CLI_EXIT_OK;
}

static int render_index(const struct cli *c, const cJSON *j)
{
    char a[64];
    const char *idx = field(j, "index", a, sizeof a);
    const char *op = c->cmd->name;
    if (strcmp(op, "set") == 0 || strcmp(op, "unset") == 0)
        puts(idx);
    else if (strcmp(op, "leave") == 0)
        printf("left the mesh at index %s; the node stops\n", idx);
    else if (strcmp(op, "remove") == 0)
        printf("removed '%s' at index %s\n", c->pos[0], idx);
    else if (strcmp(op, "promote") == 0)
        printf("promoted '%s' at index %s\n", c->pos[0], idx);
    else
        printf("recovered as the only voter at index %s\n", idx);
    return CLI_EXIT_OK;
}

static int render_text_field(const cJSON *j, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    if (!cJSON_IsString(v))
        return CLI_EXIT_FAIL;
    size_t n = strlen(v->valuestring);
    fputs(v->valuestring, stdout);
    if (n == 0 || v->valuestring[n - 1] != '\n')
        putchar('\n');
    return CLI_EXIT_OK;
}

/* nats-urls: a table of the servers, then the connection string. */
static int render_nats_urls(const cJSON *j)
{
    const cJSON *ss = cJSON_GetObjectItemCaseSensitive(j, "servers");
    const cJSON *conn = cJSON_GetObjectItemCaseSensitive(j, "connect");
    if (!cJSON_IsArray(ss) || !cJSON_IsString(conn))
        return CLI_EXIT_FAIL;
    struct table t = {.ncols = 4};
    const char *head[4] = {"URL", "NAME", "CLUSTER", "ROLE"};
    table_add(&t, head);
    const cJSON *s;
    cJSON_ArrayForEach(s, ss)
    {
        char f[4][300];
        const char *row[4] = {field(s, "url", f[0], 300),
                              field(s, "name", f[1], 300),
                              field(s, "cluster", f[2], 300),
                              field(s, "role", f[3], 300)};
        table_add(&t, row);
    }
    int rc = table_print(&t);
    if (rc == CLI_EXIT_OK)
        printf("\nconnect: %s\n", conn->valuestring);
    return rc;
}

int cli_render(const struct cli *c, const char *op, const char *body,
               size_t len)
{
    cJSON *j = cJSON_ParseWithLength(body, len);
    if (j == NULL)
        return cli_fail(c, CLI_EXIT_FAIL, "the node's reply is not JSON");
    int rc = CLI_EXIT_OK;
    if (strcmp(op, "status") == 0) {
        rc = render_status(j);
    } else if (strcmp(op, "members") == 0) {
        rc = render_members(j);
    } else if (strcmp(op, "get") == 0) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "value");
        if (v == NULL)
            rc = CLI_EXIT_FAIL;
        else
            print_value(v);
    } else if (strcmp(op, "log") == 0) {
        rc = render_records(j, 0);
    } else if (strcmp(op, "history") == 0) {
        rc = render_records(j, 1);
    } else if (strcmp(op, "replay") == 0) {
        rc = render_replay(j);
    } else if (strcmp(op, "get-seed") == 0) {
        rc = render_text_field(j, "seed_url");
    } else if (strcmp(op, "nats-config") == 0) {
        rc = render_text_field(j, "conf");
    } else if (strcmp(op, "nats-urls") == 0) {
        rc = render_nats_urls(j);
    } else if (strcmp(op, "stop") == 0) {
        rc = CLI_EXIT_OK;
    } else {
        rc = render_index(c, j);
    }
    cJSON_Delete(j);
    if (rc != CLI_EXIT_OK)
        return cli_fail(c, rc, "unexpected reply from the node: %.80s", body);
    return rc;
}
