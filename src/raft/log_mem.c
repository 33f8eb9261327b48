/* log_mem.c: the in-memory copy of the log after the last snapshot.
 *
 * Payloads are owned copies, allocated once per batch (struct raft__block,
 * reference counted by the entries using it) rather than once per entry. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "raft/raft_int.h"

void raft__log_init(struct raft__log *l)
{
    memset(l, 0, sizeof *l);
}

static void block_unref(struct raft__block *b)
{
    if (b != NULL && --b->refs == 0)
        free(b);
}

void raft__log_free(struct raft__log *l)
{
    for (size_t i = 0; i < l->n; i++)
        block_unref(l->blk[i]);
    free(l->e);
    free(l->blk);
    raft__log_init(l);
}

uint64_t raft__log_last(const struct raft__log *l)
{
    return l->base + l->n;
}

uint64_t raft__log_last_term(const struct raft__log *l)
{
    return l->n > 0 ? l->e[l->n - 1].term : l->base_term;
}

uint64_t raft__log_term(const struct raft__log *l, uint64_t index)
{
    if (index == l->base)
        return l->base_term;
    if (index < l->base || index > l->base + l->n)
        return 0;
    return l->e[index - l->base - 1].term;
}

const struct pm_entry *raft__log_get(const struct raft__log *l,
                                     uint64_t index)
{
    if (index <= l->base || index > l->base + l->n)
        return NULL;
    return &l->e[index - l->base - 1];
}

static int reserve(struct raft__log *l, size_t extra)
{
    if (l->n + extra <= l->cap)
        return 0;
    size_t cap = l->cap ? l->cap : 64;
    while (cap < l->n + extra)
        cap *= 2;
    struct pm_entry *e = realloc(l->e, cap * sizeof *e);
    if (e == NULL)
        return -PM_ENOMEM;
    l->e = e;
    struct raft__block **b = realloc(l->blk, cap * sizeof *b);
    if (b == NULL)
        return -PM_ENOMEM;
    l->blk = b;
    l->cap = cap;
    return 0;
}

int raft__log_append(struct raft__log *l, const struct pm_entry *es, size_t n)
{
    if (n == 0)
        return 0;
    if (reserve(l, n) != 0)
        return -PM_ENOMEM;
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += es[i].len;
    struct raft__block *b = NULL;
    if (total > 0) {
        b = malloc(sizeof *b + total);
        if (b == NULL)
            return -PM_ENOMEM;
        b->refs = 0;
    }
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        assert(es[i].index == raft__log_last(l) + 1);
        struct pm_entry *d = &l->e[l->n];
        *d = es[i];
        if (es[i].len > 0) {
            memcpy(b->data + off, es[i].data, es[i].len);
            d->data = b->data + off;
            off += es[i].len;
            b->refs++;
            l->blk[l->n] = b;
        } else {
            d->data = NULL;
            l->blk[l->n] = NULL;
        }
        l->bytes += es[i].len;
        l->n++;
    }
    return 0;
}

int raft__log_append_one(struct raft__log *l, uint64_t term, uint8_t type,
                         const uint8_t *data, uint32_t len)
{
    struct pm_entry e = {
        .index = raft__log_last(l) + 1,
        .term = term,
        .type = type,
        .data = data,
        .len = len,
    };
    return raft__log_append(l, &e, 1);
}

void raft__log_truncate(struct raft__log *l, uint64_t from)
{
    assert(from > l->base);
    if (from > raft__log_last(l))
        return;
    size_t keep = (size_t)(from - l->base - 1);
    for (size_t i = keep; i < l->n; i++) {
        l->bytes -= l->e[i].len;
        block_unref(l->blk[i]);
    }
    l->n = keep;
}

void raft__log_compact(struct raft__log *l, uint64_t index, uint64_t term)
{
    if (index <= l->base)
        return;
    size_t drop = index - l->base >= l->n ? l->n : (size_t)(index - l->base);
    for (size_t i = 0; i < drop; i++) {
        l->bytes -= l->e[i].len;
        block_unref(l->blk[i]);
    }
    if (l->n > drop) {
        memmove(l->e, l->e + drop, (l->n - drop) * sizeof *l->e);
        memmove(l->blk, l->blk + drop, (l->n - drop) * sizeof *l->blk);
    }
    l->n -= drop;
    l->base = index;
    l->base_term = term;
}
