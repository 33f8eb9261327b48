/* lincheck.c: linearizability of register histories (see lincheck.h). */
#include "chaos/lincheck.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define LC_TOKEN_MAX 255
#define LC_NIL 0u                       /* interned id of "-" */
#define LC_NEVER INT64_MAX              /* return time of an unknown op */
#define LC_STEPS_DEFAULT 50000000ull
#define LC_CACHE_BYTES_MAX (512ull << 20)

enum lc_status { ST_OK, ST_FAIL, ST_INFO };

struct lc_op {
    char proc[32];
    int is_write;
    uint32_t key, val;                  /* interned ids */
    int64_t inv, ret;
    enum lc_status status;
    int line;
};

struct lc_history {
    struct lc_op *ops;
    size_t n, cap;
    /* String interning: strs[id] is the text; a hash table of ids. */
    char **strs;
    size_t n_strs, cap_strs;
    uint32_t *tab;                      /* id + 1, 0 = empty */
    size_t tab_cap;                     /* power of two */
    int lines;                          /* lines parsed so far (for errors) */
};

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* --- interning ---------------------------------------------------------- */

static int tab_grow(struct lc_history *h)
{
    size_t cap = h->tab_cap ? h->tab_cap * 2 : 1024;
    uint32_t *t = calloc(cap, sizeof *t);
    if (!t)
        return -1;
    for (size_t i = 0; i < h->n_strs; i++) {
        size_t j = hash_str(h->strs[i]) & (cap - 1);
        while (t[j])
            j = (j + 1) & (cap - 1);
        t[j] = (uint32_t)i + 1;
    }
    free(h->tab);
    h->tab = t;
    h->tab_cap = cap;
    return 0;
}

/* The id of S, adding it if new; -1 on allocation failure. */
static int64_t intern(struct lc_history *h, const char *s)
{
    if ((h->n_strs + 1) * 2 > h->tab_cap && tab_grow(h) != 0)
        return -1;
    size_t j = hash_str(s) & (h->tab_cap - 1);
    while (h->tab[j]) {
        uint32_t id = h->tab[j] - 1;
        if (strcmp(h->strs[id], s) == 0)
            return id;
        j = (j + 1) & (h->tab_cap - 1);
    }
    if (h->n_strs == h->cap_strs) {
        size_t cap = h->cap_strs ? h->cap_strs * 2 : 256;
        char **p = realloc(h->strs, cap * sizeof *p);
        if (!p)
            return -1;
        h->strs = p;
        h->cap_strs = cap;
    }
    char *copy = strdup(s);
    if (!copy)
        return -1;
    h->strs[h->n_strs] = copy;
    h->tab[j] = (uint32_t)h->n_strs + 1;
    return (int64_t)h->n_strs++;
}

static struct lc_history *history_new(void)
{
    struct lc_history *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    if (intern(h, "-") != LC_NIL) {
        lc_free(h);
        return NULL;
    }
    return h;
}

void lc_free(struct lc_history *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n_strs; i++)
        free(h->strs[i]);
    free(h->strs);
    free(h->tab);
    free(h->ops);
    free(h);
}

/* --- parsing ------------------------------------------------------------ */

static int perr(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int perr(char *err, size_t err_len, const char *fmt, ...)
{
    if (err && err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int parse_time(const char *s, int64_t *out)
{
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int parse_line(struct lc_history *h, char *line, int lineno,
                      char *err, size_t err_len)
{
    char *f[8];
    int nf = 0;
    char *save = NULL;
    for (char *t = strtok_r(line, " \t\r", &save); t;
         t = strtok_r(NULL, " \t\r", &save)) {
        if (*t == '#')
            break;
        if (nf == 8)
            return perr(err, err_len, "line %d: more than 7 fields", lineno);
        if (strlen(t) > LC_TOKEN_MAX)
            return perr(err, err_len, "line %d: token over %d bytes", lineno,
                        LC_TOKEN_MAX);
        f[nf++] = t;
    }
    if (nf == 0)
        return 0;
    if (nf != 7)
        return perr(err, err_len,
                    "line %d: expected PROC OP KEY VALUE INVOKE RETURN STATUS",
                    lineno);
    struct lc_op op;
    memset(&op, 0, sizeof op);
    op.line = lineno;
    snprintf(op.proc, sizeof op.proc, "%s", f[0]);
    if (strcmp(f[1], "w") == 0)
        op.is_write = 1;
    else if (strcmp(f[1], "r") != 0)
        return perr(err, err_len, "line %d: OP must be w or r", lineno);
    if (strcmp(f[2], "-") == 0)
        return perr(err, err_len, "line %d: KEY must not be '-'", lineno);
    if (parse_time(f[4], &op.inv) != 0)
        return perr(err, err_len, "line %d: bad INVOKE time", lineno);
    if (strcmp(f[5], "-") == 0)
        op.ret = LC_NEVER;
    else if (parse_time(f[5], &op.ret) != 0)
        return perr(err, err_len, "line %d: bad RETURN time", lineno);
    if (strcmp(f[6], "ok") == 0)
        op.status = ST_OK;
    else if (strcmp(f[6], "fail") == 0)
        op.status = ST_FAIL;
    else if (strcmp(f[6], "info") == 0)
        op.status = ST_INFO;
    else
        return perr(err, err_len, "line %d: STATUS must be ok, fail or info",
                    lineno);
    if (op.status == ST_OK && op.ret == LC_NEVER)
        return perr(err, err_len, "line %d: an ok operation needs RETURN",
                    lineno);
    if (op.ret < op.inv)
        return perr(err, err_len, "line %d: RETURN before INVOKE", lineno);
    int64_t k = intern(h, f[2]), v = intern(h, f[3]);
    if (k < 0 || v < 0)
        return perr(err, err_len, "out of memory");
    op.key = (uint32_t)k;
    op.val = (uint32_t)v;
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 1024;
        struct lc_op *p = realloc(h->ops, cap * sizeof *p);
        if (!p)
            return perr(err, err_len, "out of memory");
        h->ops = p;
        h->cap = cap;
    }
    h->ops[h->n++] = op;
    return 0;
}

int lc_parse(struct lc_history **hp, const char *text, size_t len, char *err,
             size_t err_len)
{
    if (!*hp && !(*hp = history_new()))
        return perr(err, err_len, "out of memory");
    struct lc_history *h = *hp;
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && text[j] != '\n')
            j++;
        h->lines++;
        char *line = malloc(j - i + 1);
        if (!line)
            return perr(err, err_len, "out of memory");
        memcpy(line, text + i, j - i);
        line[j - i] = 0;
        int rc = 0;
        if (memchr(line, 0, j - i))
            rc = perr(err, err_len, "line %d: NUL byte", h->lines);
        else
            rc = parse_line(h, line, h->lines, err, err_len);
        free(line);
        if (rc != 0)
            return rc;
        i = j + 1;
    }
    return 0;
}

int lc_parse_file(struct lc_history **h, const char *path, char *err,
                  size_t err_len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return perr(err, err_len, "%s: %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 65536 > cap) {
            cap = cap ? cap * 2 : 1 << 20;
            char *p = realloc(buf, cap);
            if (!p) {
                free(buf);
                fclose(f);
                return perr(err, err_len, "out of memory");
            }
            buf = p;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    int rc = bad ? perr(err, err_len, "%s: read error", path)
                 : lc_parse(h, buf, len, err, err_len);
    free(buf);
    return rc;
}

/* --- the search --------------------------------------------------------- */

struct ev {
    int op;                 /* index into the key's op list */
    int is_call;
    int64_t t;
    struct ev *prev, *next, *match;
};

/* Memo of configurations already explored: (linearized bitset, value). */
struct memo {
    size_t nw;              /* words per bitset */
    uint64_t *pool;         /* entries of nw + 1 words */
    size_t n, cap;
    uint32_t *tab;          /* entry + 1, 0 = empty */
    size_t tab_cap;
};

static uint64_t memo_hash(const uint64_t *bits, size_t nw, uint64_t val)
{
    uint64_t h = mix64(val + 0x9e3779b97f4a7c15ull);
    for (size_t i = 0; i < nw; i++)
        h = mix64(h ^ bits[i]) + i;
    return h;
}

static int memo_rehash(struct memo *m, size_t cap)
{
    uint32_t *t = calloc(cap, sizeof *t);
    if (!t)
        return -1;
    for (size_t e = 0; e < m->n; e++) {
        const uint64_t *p = m->pool + e * (m->nw + 1);
        size_t j = memo_hash(p, m->nw, p[m->nw]) & (cap - 1);
        while (t[j])
            j = (j + 1) & (cap - 1);
        t[j] = (uint32_t)e + 1;
    }
    free(m->tab);
    m->tab = t;
    m->tab_cap = cap;
    return 0;
}

/* 1 if (BITS, VAL) was new and is now remembered, 0 if seen before, -1 if
 * the memo would exceed its memory bound. */
static int memo_add(struct memo *m, const uint64_t *bits, uint64_t val)
{
    size_t stride = m->nw + 1;
    if ((m->n + 1) * 2 > m->tab_cap &&
        memo_rehash(m, m->tab_cap ? m->tab_cap * 2 : 4096) != 0)
        return -1;
    size_t j = memo_hash(bits, m->nw, val) & (m->tab_cap - 1);
    while (m->tab[j]) {
        const uint64_t *p = m->pool + (size_t)(m->tab[j] - 1) * stride;
        if (p[m->nw] == val && memcmp(p, bits, m->nw * 8) == 0)
            return 0;
        j = (j + 1) & (m->tab_cap - 1);
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 1024;
        if (cap * stride * 8 > LC_CACHE_BYTES_MAX || cap > UINT32_MAX - 1)
            return -1;
        uint64_t *p = realloc(m->pool, cap * stride * 8);
        if (!p)
            return -1;
        m->pool = p;
        m->cap = cap;
    }
    uint64_t *p = m->pool + m->n * stride;
    memcpy(p, bits, m->nw * 8);
    p[m->nw] = val;
    m->tab[j] = (uint32_t)m->n + 1;
    m->n++;
    return 1;
}

static int ev_cmp(const void *a, const void *b)
{
    const struct ev *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    /* Equal times: calls first, so that touching intervals count as
     * concurrent (the permissive reading of a clock tie). */
    if (x->is_call != y->is_call)
        return x->is_call ? -1 : 1;
    return x->op - y->op;
}

static void lift(struct ev *call)
{
    struct ev *ret = call->match;
    call->prev->next = call->next;
    call->next->prev = call->prev;
    ret->prev->next = ret->next;
    if (ret->next)
        ret->next->prev = ret->prev;
}

static void unlift(struct ev *call)
{
    struct ev *ret = call->match;
    ret->prev->next = ret;
    if (ret->next)
        ret->next->prev = ret;
    call->prev->next = call;
    call->next->prev = call;
}

static const char *str(const struct lc_history *h, uint32_t id)
{
    return h->strs[id];
}

static void print_op(FILE *out, const struct lc_history *h,
                     const struct lc_op *o)
{
    fprintf(out, "    line %d: %s %s %s %s [%" PRId64 ", ", o->line, o->proc,
            o->is_write ? "w" : "r", str(h, o->key), str(h, o->val), o->inv);
    if (o->ret == LC_NEVER)
        fprintf(out, "never]");
    else
        fprintf(out, "%" PRId64 "]", o->ret);
    fprintf(out, " %s\n", o->status == ST_OK ? "ok" : "info");
}

/* Check the N operations OPS of one key (already pruned). */
static enum lc_verdict check_key(const struct lc_history *h,
                                 const struct lc_op *ops, size_t n,
                                 uint64_t steps_max, FILE *report,
                                 struct lc_stats *st)
{
    if (n == 0)
        return LC_OK;
    enum lc_verdict verdict = LC_OK;
    struct ev *evs = calloc(2 * n, sizeof *evs);
    struct ev head;
    size_t nw = (n + 63) / 64;
    uint64_t *lin = calloc(nw, 8), *best_lin = calloc(nw, 8);
    struct { struct ev *call; uint32_t state; } *stack =
        malloc(n * sizeof *stack);
    struct memo m = { .nw = nw };
    if (!evs || !lin || !best_lin || !stack) {
        verdict = LC_UNDECIDED;
        if (report)
            fprintf(report, "key %s: out of memory\n", str(h, ops[0].key));
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        evs[2 * i] = (struct ev){ .op = (int)i, .is_call = 1, .t = ops[i].inv };
        evs[2 * i + 1] = (struct ev){ .op = (int)i, .t = ops[i].ret };
    }
    qsort(evs, 2 * n, sizeof *evs, ev_cmp);
    /* Matching after sorting: remember each op's call and return. */
    {
        struct ev **call_of = calloc(n, sizeof *call_of);
        if (!call_of) {
            verdict = LC_UNDECIDED;
            goto out;
        }
        for (size_t i = 0; i < 2 * n; i++)
            if (evs[i].is_call)
                call_of[evs[i].op] = &evs[i];
        for (size_t i = 0; i < 2 * n; i++)
            if (!evs[i].is_call)
                call_of[evs[i].op]->match = &evs[i];
        free(call_of);
    }
    head = (struct ev){ .op = -1 };
    struct ev *prev = &head;
    for (size_t i = 0; i < 2 * n; i++) {
        evs[i].prev = prev;
        prev->next = &evs[i];
        prev = &evs[i];
    }
    prev->next = NULL;

    uint32_t state = LC_NIL, best_state = LC_NIL;
    size_t sp = 0, best_sp = 0;
    int best_op = -1;
    uint64_t steps = 0;
    struct ev *e = head.next;
    while (head.next) {
        if (++steps > steps_max) {
            verdict = LC_UNDECIDED;
            if (report)
                fprintf(report, "key %s: undecided after %" PRIu64
                        " search steps\n", str(h, ops[0].key), steps_max);
            break;
        }
        if (e->is_call) {
            const struct lc_op *o = &ops[e->op];
            int legal = o->is_write || o->val == state;
            uint32_t next_state = o->is_write ? o->val : state;
            if (legal) {
                lin[e->op / 64] |= 1ull << (e->op % 64);
                int fresh = memo_add(&m, lin, next_state);
                if (fresh < 0) {
                    verdict = LC_UNDECIDED;
                    if (report)
                        fprintf(report, "key %s: undecided: memo table over "
                                "%llu MiB\n", str(h, o->key),
                                LC_CACHE_BYTES_MAX >> 20);
                    break;
                }
                if (fresh) {
                    stack[sp].call = e;
                    stack[sp].state = state;
                    sp++;
                    state = next_state;
                    lift(e);
                    e = head.next;
                    continue;
                }
                lin[e->op / 64] &= ~(1ull << (e->op % 64));
            }
            e = e->next;
        } else {
            /* An operation returned before it could be placed: undo. */
            if (best_op < 0 || sp > best_sp) {
                best_sp = sp;
                best_op = e->op;
                best_state = state;
                memcpy(best_lin, lin, nw * 8);
            }
            if (sp == 0) {
                verdict = LC_VIOLATION;
                break;
            }
            sp--;
            struct ev *c = stack[sp].call;
            state = stack[sp].state;
            lin[c->op / 64] &= ~(1ull << (c->op % 64));
            unlift(c);
            e = c->next;
        }
    }
    if (verdict == LC_VIOLATION && report) {
        const struct lc_op *o = &ops[best_op];
        fprintf(report, "key %s: NOT linearizable. At best %zu of %zu "
                "operations could be placed, leaving the register at '%s'; "
                "then this operation could not be placed:\n",
                str(h, o->key), best_sp, n, str(h, best_state));
        print_op(report, h, o);
        fprintf(report, "  unplaced operations invoked before it returned:\n");
        int shown = 0;
        for (size_t i = 0; i < n && shown < 20; i++) {
            if (best_lin[i / 64] & (1ull << (i % 64)) || (int)i == best_op)
                continue;
            if (ops[i].inv <= o->ret) {
                print_op(report, h, &ops[i]);
                shown++;
            }
        }
        if (shown == 0)
            fprintf(report, "    (none: it conflicts with what was placed "
                    "before it)\n");
    }
    st->steps += steps;
    if (m.n > st->cache_max)
        st->cache_max = m.n;
out:
    free(evs);
    free(lin);
    free(best_lin);
    free(stack);
    free(m.pool);
    free(m.tab);
    return verdict;
}

static int op_key_cmp(const void *a, const void *b)
{
    const struct lc_op *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->line - y->line;
}

enum lc_verdict lc_check(const struct lc_history *h, uint64_t steps_max,
                         FILE *report, struct lc_stats *stats)
{
    struct lc_stats local;
    struct lc_stats *st = stats ? stats : &local;
    memset(st, 0, sizeof *st);
    if (!h)
        return LC_OK;
    if (steps_max == 0)
        steps_max = LC_STEPS_DEFAULT;
    st->ops = h->n;
    enum lc_verdict verdict = LC_OK;
    struct lc_op *ops = malloc((h->n ? h->n : 1) * sizeof *ops);
    /* Per value id: 1 read by an ok read, 2 written by an ok/info write,
     * 4 written by a failed write. */
    uint8_t *seen = calloc(h->n_strs, 1);
    if (!ops || !seen) {
        free(ops);
        free(seen);
        if (report)
            fprintf(report, "out of memory\n");
        return LC_UNDECIDED;
    }
    if (h->n)
        memcpy(ops, h->ops, h->n * sizeof *ops);
    qsort(ops, h->n, sizeof *ops, op_key_cmp);

    size_t i = 0;
    while (i < h->n) {
        size_t j = i;
        while (j < h->n && ops[j].key == ops[i].key)
            j++;
        st->keys++;
        /* Values are per key: reset the marks of this key's values. */
        for (size_t k = i; k < j; k++)
            seen[ops[k].val] = 0;
        for (size_t k = i; k < j; k++) {
            const struct lc_op *o = &ops[k];
            if (!o->is_write && o->status == ST_OK)
                seen[o->val] |= 1;
            else if (o->is_write && o->status != ST_FAIL)
                seen[o->val] |= 2;
            else if (o->is_write)
                seen[o->val] |= 4;
        }
        /* Keep the ops that enter the search, compacted in place. */
        size_t m = i;
        for (size_t k = i; k < j; k++) {
            struct lc_op o = ops[k];
            if (o.is_write) {
                if (o.status == ST_OK)
                    st->writes_ok++;
                else if (o.status == ST_FAIL) {
                    st->writes_fail++;
                    continue;
                } else {
                    st->writes_info++;
                    if (!(seen[o.val] & 1)) {
                        st->info_dropped++;
                        continue;
                    }
                    o.ret = LC_NEVER;
                }
            } else {
                if (o.status != ST_OK) {
                    st->reads_dropped++;
                    continue;
                }
                st->reads_ok++;
                if (o.val != LC_NIL && !(seen[o.val] & 2)) {
                    verdict = LC_VIOLATION;
                    if (report) {
                        fprintf(report, "key %s: read of '%s', which %s:\n",
                                str(h, o.key), str(h, o.val),
                                (seen[o.val] & 4)
                                    ? "only a failed write wrote"
                                    : "no write wrote");
                        print_op(report, h, &o);
                    }
                }
            }
            ops[m++] = o;
        }
        st->ops_checked += m - i;
        enum lc_verdict v =
            check_key(h, ops + i, m - i, steps_max, report, st);
        if (v == LC_VIOLATION || (v == LC_UNDECIDED && verdict == LC_OK))
            verdict = v;
        i = j;
    }
    free(ops);
    free(seen);
    return verdict;
}
