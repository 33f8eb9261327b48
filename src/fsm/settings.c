/* settings.c: the settings tree.
 *
 * Semantics (also in docs/limits.md), chosen so that the tree behaves like
 * one JSON document that users edit by path:
 *   - `set a.b 1` creates a.b (and the object a around it);
 *   - `set a 2` afterwards REPLACES the whole subtree a (a.b is removed and
 *     the audit records that removal): assigning a path assigns everything
 *     under it, as `doc.a = 2` would;
 *   - `set a.b.c 3` while a.b holds a value (a number, or an object given
 *     as one JSON value) is REJECTED: silently turning a value into an
 *     object would lose data; unset it or set the parent as a whole;
 *   - `unset a` removes a and everything below it;
 *   - `get a` returns a's value, or the object built from the keys below
 *     it, or the member of an object value on the way (get a.b after
 *     set a '{"b":1}').
 * Internally a trie over segments; a node holds a value or children, never
 * both, and children are sorted by segment bytes so that every walk (get,
 * snapshot, settings.json) has one order on every node. */
#include "fsm/internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/err.h"

void fsm__settings_init(struct fsm__settings *s)
{
    memset(s, 0, sizeof *s);
}

/* ---- the kids' hash index (struct fsm__node, hx) ------------------------ */

#define HX_MIN_KIDS 64

static uint32_t seg_hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static void hx_drop(struct fsm__node *n)
{
    free(n->hx);
    n->hx = NULL;
    n->hx_cap = 0;
}

static void hx_put(struct fsm__node *n, struct fsm__node *k)
{
    uint32_t m = n->hx_cap - 1;
    uint32_t i = seg_hash(k->seg, k->seg_len) & m;
    while (n->hx[i] != NULL)
        i = (i + 1) & m;
    n->hx[i] = k;
}

/* (Re)build N's index of all its kids; none below HX_MIN_KIDS, or when
 * out of memory. At most half full, so a probe always ends. */
static void hx_build(struct fsm__node *n)
{
    hx_drop(n);
    if (n->n_kids < HX_MIN_KIDS)
        return;
    uint32_t cap = 128;
    while (cap < 2 * n->n_kids)
        cap *= 2;
    n->hx = calloc(cap, sizeof *n->hx);
    if (n->hx == NULL)
        return;
    n->hx_cap = cap;
    for (uint32_t i = 0; i < n->n_kids; i++)
        hx_put(n, n->kids[i]);
}

/* K was just added to N->kids (and counted in n_kids). */
static void hx_added(struct fsm__node *n, struct fsm__node *k)
{
    if (n->hx == NULL || 2 * n->n_kids > n->hx_cap)
        hx_build(n);
    else
        hx_put(n, k);
}

/* K is leaving N->kids: take it out, moving later entries of its probe
 * run back so that every lookup still finds its kid. */
static void hx_removed(struct fsm__node *n, const struct fsm__node *k)
{
    if (n->hx == NULL)
        return;
    uint32_t m = n->hx_cap - 1;
    uint32_t i = seg_hash(k->seg, k->seg_len) & m;
    while (n->hx[i] != k) {
        if (n->hx[i] == NULL)
            return; /* not indexed: cannot happen */
        i = (i + 1) & m;
    }
    n->hx[i] = NULL;
    for (uint32_t j = (i + 1) & m; n->hx[j] != NULL; j = (j + 1) & m) {
        struct fsm__node *e = n->hx[j];
        uint32_t home = seg_hash(e->seg, e->seg_len) & m;
        /* E may move to the hole at I if its home is not in (I, J]. */
        if (((j - home) & m) >= ((j - i) & m)) {
            n->hx[i] = e;
            n->hx[j] = NULL;
            i = j;
        }
    }
}

static void node_free(struct fsm__node *n)
{
    /* Depth is bounded by FSM_KEY_DEPTH_MAX, so recursion is bounded. */
    for (uint32_t i = 0; i < n->n_kids; i++) {
        node_free(n->kids[i]);
        free(n->kids[i]);
    }
    hx_drop(n);
    free(n->kids);
    free(n->seg);
    free(n->val);
    n->kids = NULL;
    n->n_kids = n->cap_kids = 0;
    n->seg = n->val = NULL;
}

void fsm__settings_free(struct fsm__settings *s)
{
    node_free(&s->root);
    fsm__settings_init(s);
}

static int seg_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen;
}

/* Index of the child named SEG, or -(insertion point) - 1. Keys often
 * come in order (numbered ones), so a SEG after the last kid is found
 * without a binary search. */
static long kid_search(const struct fsm__node *n, const char *seg,
                       size_t len)
{
    if (n->n_kids > 0) {
        const struct fsm__node *last = n->kids[n->n_kids - 1];
        if (seg_cmp(last->seg, last->seg_len, seg, len) < 0)
            return -(long)n->n_kids - 1;
    }
    long lo = 0, hi = (long)n->n_kids - 1;
    while (lo <= hi) {
        long mid = lo + (hi - lo) / 2;
        const struct fsm__node *k = n->kids[mid];
        int c = seg_cmp(k->seg, k->seg_len, seg, len);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -lo - 1;
}

/* The kid of N named SEG, or NULL. */
static struct fsm__node *kid_find(const struct fsm__node *n, const char *seg,
                                  size_t len)
{
    if (n->hx != NULL) {
        uint32_t m = n->hx_cap - 1;
        for (uint32_t i = seg_hash(seg, len) & m; n->hx[i] != NULL;
             i = (i + 1) & m) {
            const struct fsm__node *k = n->hx[i];
            if (k->seg_len == len && memcmp(k->seg, seg, len) == 0)
                return n->hx[i];
        }
        return NULL;
    }
    long i = kid_search(n, seg, len);
    return i < 0 ? NULL : n->kids[i];
}

static size_t seg_len_at(const char *key, size_t len, size_t off)
{
    const char *dot = memchr(key + off, '.', len - off);
    return dot ? (size_t)(dot - (key + off)) : len - off;
}

struct fsm__node *fsm__settings_find(const struct fsm__settings *s,
                                     const char *key, size_t len)
{
    const struct fsm__node *holder;
    return fsm__settings_lookup(s, key, len, &holder);
}

struct fsm__node *fsm__settings_holder(const struct fsm__settings *s,
                                       const char *key, size_t len)
{
    const struct fsm__node *holder;
    fsm__settings_lookup(s, key, len, &holder);
    return (struct fsm__node *)holder;
}

/* Walk KEY's segments down from the root: the node at KEY (NULL when a
 * segment is missing), and the first node on the way that holds a value. */
struct fsm__node *fsm__settings_lookup(const struct fsm__settings *s,
                                       const char *key, size_t len,
                                       const struct fsm__node **holder)
{
    const struct fsm__node *n = &s->root;
    size_t off = 0;
    *holder = NULL;
    while (off < len) {
        size_t sl = seg_len_at(key, len, off);
        n = kid_find(n, key + off, sl);
        if (n == NULL)
            return NULL;
        if (*holder == NULL && n->val)
            *holder = n;
        off += sl + 1;
    }
    return (struct fsm__node *)n;
}

size_t fsm__node_key(const struct fsm__node *n, char *buf)
{
    /* Segments from the leaf up, then written back to front. */
    const struct fsm__node *path[FSM_KEY_DEPTH_MAX];
    size_t depth = 0, len = 0;
    for (; n && n->seg; n = n->parent)
        path[depth++] = n;
    for (size_t i = depth; i-- > 0;) {
        memcpy(buf + len, path[i]->seg, path[i]->seg_len);
        len += path[i]->seg_len;
        if (i)
            buf[len++] = '.';
    }
    buf[len] = 0;
    return len;
}

/* Report and drop every value at or below N (N itself included). */
static int drop_values(struct fsm__settings *s, struct fsm__node *n,
                       fsm__key_fn fn, void *ctx, int *count)
{
    if (n->val) {
        char key[FSM_KEY_MAX + 1];
        size_t kl = fsm__node_key(n, key);
        if (fn) {
            int rc = fn(ctx, key, kl, n->val, NULL);
            if (rc)
                return rc;
        }
        s->n_keys--;
        s->bytes -= kl + n->val_len;
        free(n->val);
        n->val = NULL;
        n->val_len = 0;
        (*count)++;
    }
    for (uint32_t i = 0; i < n->n_kids; i++) {
        int rc = drop_values(s, n->kids[i], fn, ctx, count);
        if (rc)
            return rc;
    }
    return 0;
}

static void drop_kids(struct fsm__node *n)
{
    for (uint32_t i = 0; i < n->n_kids; i++) {
        node_free(n->kids[i]);
        free(n->kids[i]);
    }
    hx_drop(n);
    free(n->kids);
    n->kids = NULL;
    n->n_kids = n->cap_kids = 0;
}

/* Remove N from its parent, and ancestors left empty. */
static void prune(struct fsm__node *n)
{
    while (n->parent && !n->val && n->n_kids == 0) {
        struct fsm__node *p = n->parent;
        long i = kid_search(p, n->seg, n->seg_len);
        hx_removed(p, n);
        memmove(&p->kids[i], &p->kids[i + 1],
                (p->n_kids - (size_t)i - 1) * sizeof *p->kids);
        p->n_kids--;
        node_free(n);
        free(n);
        n = p;
    }
}

int fsm__settings_set(struct fsm__settings *s, const char *key, size_t klen,
                      const char *val, size_t vlen, fsm__key_fn fn, void *ctx)
{
    struct fsm__node *n = &s->root;
    size_t off = 0;
    char *copy = malloc(vlen + 1);
    if (!copy)
        return -PM_ENOMEM;
    memcpy(copy, val, vlen);
    copy[vlen] = 0;
    while (off < klen) {
        size_t sl = seg_len_at(key, klen, off);
        struct fsm__node *found = kid_find(n, key + off, sl);
        if (found != NULL) {
            n = found;
            off += sl + 1;
            continue;
        }
        long i = kid_search(n, key + off, sl);
        if (i >= 0) { /* the index missed it: cannot happen; rebuild */
            hx_build(n);
        } else {
            i = -i - 1;
            if (n->n_kids == n->cap_kids) {
                uint32_t cap = n->cap_kids ? 2 * n->cap_kids : 4;
                struct fsm__node **k = realloc(n->kids, cap * sizeof *k);
                if (!k)
                    goto nomem;
                n->kids = k;
                n->cap_kids = cap;
            }
            struct fsm__node *c = calloc(1, sizeof *c);
            if (!c || !(c->seg = malloc(sl + 1))) {
                free(c);
                goto nomem;
            }
            memcpy(c->seg, key + off, sl);
            c->seg[sl] = 0;
            c->seg_len = (uint32_t)sl;
            c->parent = n;
            memmove(&n->kids[i + 1], &n->kids[i],
                    (n->n_kids - (size_t)i) * sizeof *n->kids);
            n->kids[i] = c;
            n->n_kids++;
            hx_added(n, c);
        }
        n = n->kids[i];
        off += sl + 1;
    }
    /* Replace the subtree: report the keys below, then the key itself. */
    int dropped = 0;
    for (uint32_t i = 0; i < n->n_kids; i++) {
        int rc = drop_values(s, n->kids[i], fn, ctx, &dropped);
        if (rc) {
            free(copy);
            return rc;
        }
    }
    drop_kids(n);
    if (fn) {
        int rc = fn(ctx, key, klen, n->val, copy);
        if (rc) {
            free(copy);
            return rc;
        }
    }
    if (n->val) {
        s->bytes -= klen + n->val_len;
        s->n_keys--;
        free(n->val);
    }
    n->val = copy;
    n->val_len = (uint32_t)vlen;
    s->n_keys++;
    s->bytes += klen + vlen;
    /* A value holder is a leaf, and the caller checked that no ancestor
     * holds a value. */
    assert(n->n_kids == 0 && n != &s->root);
    return 0;
nomem:
    free(copy);
    prune(n);
    return -PM_ENOMEM;
}

int fsm__settings_unset(struct fsm__settings *s, const char *key, size_t klen,
                        fsm__key_fn fn, void *ctx)
{
    struct fsm__node *n = fsm__settings_find(s, key, klen);
    if (!n || n == &s->root)
        return 0;
    int dropped = 0;
    int rc = drop_values(s, n, fn, ctx, &dropped);
    if (rc)
        return rc;
    drop_kids(n);
    prune(n);
    return dropped;
}

static int walk(const struct fsm__node *n, fsm__key_fn fn, void *ctx)
{
    if (n->val) {
        char key[FSM_KEY_MAX + 1];
        size_t kl = fsm__node_key(n, key);
        return fn(ctx, key, kl, n->val, n->val);
    }
    for (uint32_t i = 0; i < n->n_kids; i++) {
        int rc = walk(n->kids[i], fn, ctx);
        if (rc)
            return rc;
    }
    return 0;
}

int fsm__settings_walk(const struct fsm__settings *s, fsm__key_fn fn,
                       void *ctx)
{
    return walk(&s->root, fn, ctx);
}

/* cJSON of node N: its value, or an object of its children. */
static cJSON *node_json(const struct fsm__node *n)
{
    if (n->val)
        return cJSON_Parse(n->val);
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    for (uint32_t i = 0; i < n->n_kids; i++) {
        cJSON *k = node_json(n->kids[i]);
        if (!k || !cJSON_AddItemToObject(o, n->kids[i]->seg, k)) {
            cJSON_Delete(k);
            cJSON_Delete(o);
            return NULL;
        }
    }
    return o;
}

/* ---- printing settings.json's "settings" member without cJSON ----------
 * Rendering builds settings.json with cJSON_Print (formatted). Going
 * through cJSON for the settings tree meant parsing every stored value
 * back into a tree and printing it again: ~45 ms for 20,000 keys, a stall
 * of the node's loop at every rewrite. The stored values are already in
 * cJSON's compact print (fsm__value_check), so the formatted text is a
 * lexical re-layout of them, following cJSON 1.7's print_object and
 * print_array exactly: an object is "{" "\n", each member indented one
 * tab deeper than the object's depth as "\"key\":\t" value, members
 * separated by ",\n", then "\n", the object's own indentation and "}"
 * (an empty object is "{\n" + indentation + "}"); an array is "[" its
 * elements separated by ", " "]"; scalars print as they are stored. The
 * golden files and the round-trip test in test_fsm_files.c pin the bytes. */

static void put(struct fsm__buf *b, const char *p, size_t n)
{
    fsm__buf_write(b, p, n);
}

static void tabs(struct fsm__buf *b, unsigned n)
{
    static const char t[] = "\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t";
    while (n > 0) {
        unsigned k = n < sizeof t - 1 ? n : (unsigned)(sizeof t - 1);
        put(b, t, k);
        n -= k;
    }
}

/* Re-lay out the compact JSON VAL as cJSON_Print would print it at DEPTH
 * (the printer's depth when it reaches this value). */
static void print_value_at(struct fsm__buf *b, const char *val, unsigned depth)
{
    char kind[FSM_VALUE_DEPTH_MAX + 1]; /* '{' or '[' per open container */
    unsigned top = 0, d = depth;
    size_t i = 0, run = 0; /* bytes copied through as they are */
    for (; val[i]; i++) {
        char c = val[i];
        if (c == '"') {
            /* A string (value or member name): copy to its closing quote. */
            size_t j = i + 1;
            while (val[j] && val[j] != '"')
                j += val[j] == '\\' && val[j + 1] ? 2 : 1;
            i = val[j] ? j : j - 1;
            continue;
        }
        if (c != '{' && c != '}' && c != '[' && c != ']' && c != ':' &&
            c != ',')
            continue;
        put(b, val + run, i - run);
        run = i + 1;
        switch (c) {
        case '{':
            d++;
            if (val[i + 1] == '}') {
                put(b, "{\n", 2);
                tabs(b, d - 1);
                put(b, "}", 1);
                d--;
                i++;
                run = i + 1;
                break;
            }
            if (top < sizeof kind)
                kind[top] = '{';
            top++;
            put(b, "{\n", 2);
            tabs(b, d);
            break;
        case '}':
            put(b, "\n", 1);
            tabs(b, d - 1);
            put(b, "}", 1);
            d--;
            top--;
            break;
        case '[':
            d++;
            if (top < sizeof kind)
                kind[top] = '[';
            top++;
            put(b, "[", 1);
            break;
        case ']':
            put(b, "]", 1);
            d--;
            top--;
            break;
        case ':':
            put(b, ":\t", 2);
            break;
        case ',':
            if (top > 0 && top <= sizeof kind && kind[top - 1] == '{') {
                put(b, ",\n", 2);
                tabs(b, d);
            } else {
                put(b, ", ", 2);
            }
            break;
        }
    }
    put(b, val + run, i - run);
}

static void print_node_at(struct fsm__buf *b, const struct fsm__node *n,
                          unsigned depth)
{
    if (n->val) {
        if (n->val[0] == '{' || n->val[0] == '[')
            print_value_at(b, n->val, depth);
        else
            put(b, n->val, n->val_len); /* a scalar prints as stored */
        return;
    }
    put(b, "{\n", 2);
    for (uint32_t i = 0; i < n->n_kids; i++) {
        const struct fsm__node *k = n->kids[i];
        tabs(b, depth + 1);
        put(b, "\"", 1); /* segments are [A-Za-z0-9_-]: nothing to escape */
        put(b, k->seg, k->seg_len);
        put(b, "\":\t", 3);
        print_node_at(b, k, depth + 1);
        if (i + 1 < n->n_kids)
            put(b, ",", 1);
        put(b, "\n", 1);
    }
    tabs(b, depth);
    put(b, "}", 1);
}

int fsm__settings_print(const struct fsm__settings *s, unsigned depth,
                        char **out)
{
    struct fsm__buf b = {0};
    /* Room for the stored bytes plus their layout, grown if needed. */
    size_t want = s->bytes + s->n_keys * (2 * depth + 8) + 64;
    char *p = malloc(want);
    if (p) {
        b.p = p;
        b.cap = want;
    }
    print_node_at(&b, &s->root, depth);
    fsm__buf_write(&b, "", 1); /* the NUL */
    if (b.oom) {
        fsm__buf_free(&b);
        return -PM_ENOMEM;
    }
    *out = b.p;
    return 0;
}

void *fsm__settings_to_cjson(const struct fsm__settings *s)
{
    return node_json(&s->root);
}

int fsm__settings_get(const struct fsm__settings *s, const char *key,
                      char **json, size_t *json_len)
{
    *json = NULL;
    cJSON *v = NULL;
    if (!key) {
        v = node_json(&s->root);
    } else {
        size_t klen = strlen(key);
        int rc = fsm_key_check(key, klen, NULL, 0);
        if (rc)
            return -PM_EINVAL;
        const struct fsm__node *n = fsm__settings_find(s, key, klen);
        if (n) {
            v = node_json(n);
        } else {
            const struct fsm__node *h = fsm__settings_holder(s, key, klen);
            if (!h)
                return -PM_ENOTFOUND;
            /* Descend into the stored object value along the rest of the
             * key. */
            cJSON *doc = cJSON_Parse(h->val);
            if (!doc)
                return -PM_ENOMEM;
            char hk[FSM_KEY_MAX + 1];
            size_t off = fsm__node_key(h, hk) + 1;
            cJSON *cur = doc;
            while (cur && off <= klen) {
                size_t sl = seg_len_at(key, klen, off);
                char seg[FSM_SEGMENT_MAX + 1];
                memcpy(seg, key + off, sl);
                seg[sl] = 0;
                cur = cJSON_IsObject(cur)
                          ? cJSON_GetObjectItemCaseSensitive(cur, seg)
                          : NULL;
                off += sl + 1;
            }
            if (!cur) {
                cJSON_Delete(doc);
                return -PM_ENOTFOUND;
            }
            char *out = cJSON_PrintUnformatted(cur);
            cJSON_Delete(doc);
            if (!out)
                return -PM_ENOMEM;
            *json = out;
            if (json_len)
                *json_len = strlen(out);
            return 0;
        }
    }
    if (!v)
        return -PM_ENOMEM;
    char *out = cJSON_PrintUnformatted(v);
    cJSON_Delete(v);
    if (!out)
        return -PM_ENOMEM;
    *json = out;
    if (json_len)
        *json_len = strlen(out);
    return 0;
}
