/* disk.c: the fake disk (see disk.h). */
#include "disk.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "simlib.h"

void disk_init(struct sim_disk *d)
{
    memset(d, 0, sizeof(*d));
    d->next_id = 1;
}

static void snap_free(struct disk_snap *s)
{
    free(s->config);
    free(s->data);
    memset(s, 0, sizeof(*s));
}

static void log_drop_range(struct sim_disk *d, uint64_t from_k, uint64_t to_k)
{
    for (uint64_t k = from_k; k < to_k; k++)
        free((void *)d->log[k].data);
}

void disk_crash(struct sim_disk *d)
{
    while (d->head) {
        struct disk_write *w = d->head;
        d->head = w->next;
        disk_write_free(w);
    }
    d->tail = NULL;
    d->pending = 0;
    d->last_done_ms = 0;
}

void disk_free(struct sim_disk *d)
{
    disk_crash(d);
    log_drop_range(d, 0, d->n);
    free(d->log);
    snap_free(&d->snap);
    memset(d, 0, sizeof(*d));
}

struct disk_write *disk_write_new(void)
{
    return sim_xcalloc(1, sizeof(struct disk_write));
}

void disk_write_set_entries(struct disk_write *w, const struct pm_entry *e,
                            size_t n)
{
    assert(!w->entries);
    if (n == 0)
        return;
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += e[i].len;
    w->entries = sim_xcalloc(n, sizeof(*e));
    w->payload_block = sim_xrealloc(NULL, bytes);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        w->entries[i] = e[i];
        if (e[i].len)
            memcpy(w->payload_block + off, e[i].data, e[i].len);
        w->entries[i].data = w->payload_block + off;
        off += e[i].len;
    }
    w->n_entries = n;
}

static uint8_t *dup_bytes(const uint8_t *p, uint32_t len)
{
    uint8_t *q = sim_xrealloc(NULL, len);
    if (len)
        memcpy(q, p, len);
    return q;
}

void disk_write_set_snap(struct disk_write *w, uint64_t index, uint64_t term,
                         const uint8_t *config, uint32_t config_len,
                         const uint8_t *data, uint32_t data_len)
{
    snap_free(&w->snap);
    w->has_snap = 1;
    w->snap.index = index;
    w->snap.term = term;
    w->snap.config = dup_bytes(config, config_len);
    w->snap.config_len = config_len;
    w->snap.data = dup_bytes(data, data_len);
    w->snap.data_len = data_len;
}

void disk_write_hold(struct disk_write *w, void *msg)
{
    if (w->n_held == w->cap_held) {
        w->cap_held = w->cap_held ? 2 * w->cap_held : 8;
        w->held = sim_xrealloc(w->held, w->cap_held * sizeof(void *));
    }
    w->held[w->n_held++] = msg;
}

void disk_write_free(struct disk_write *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n_held; i++)
        free(w->held[i]);
    free(w->held);
    free(w->entries);
    free(w->payload_block);
    free(w->tags);
    snap_free(&w->snap);
    free(w);
}

uint64_t disk_submit(struct sim_disk *d, struct disk_write *w, uint64_t now_ms,
                     uint64_t delay_ms)
{
    w->id = d->next_id++;
    uint64_t done = now_ms + delay_ms;
    if (done < d->last_done_ms)
        done = d->last_done_ms; /* FIFO: a write never overtakes another */
    w->done_ms = done;
    d->last_done_ms = done;
    w->next = NULL;
    if (d->tail)
        d->tail->next = w;
    else
        d->head = w;
    d->tail = w;
    d->pending++;
    return w->id;
}

uint64_t disk_last(const struct sim_disk *d)
{
    return d->base_index + d->n;
}

const struct pm_entry *disk_entry(const struct sim_disk *d, uint64_t index)
{
    if (index <= d->base_index || index > d->base_index + d->n)
        return NULL;
    return &d->log[index - d->base_index - 1];
}

static void apply_truncate(struct sim_disk *d, uint64_t from)
{
    if (from <= d->base_index)
        from = d->base_index + 1;
    if (from > disk_last(d))
        return;
    uint64_t k = from - d->base_index - 1;
    log_drop_range(d, k, d->n);
    d->n = k;
}

static void apply_append(struct sim_disk *d, const struct disk_write *w)
{
    for (size_t i = 0; i < w->n_entries; i++) {
        const struct pm_entry *e = &w->entries[i];
        /* The host only ever hands the disk what the core produced; a gap
         * is a simulator (host) bug, not a core bug. */
        assert(e->index == disk_last(d) + 1);
        if (d->n == d->cap) {
            d->cap = d->cap ? d->cap * 2 : 256;
            d->log = sim_xrealloc(d->log, d->cap * sizeof(*d->log));
        }
        struct pm_entry c = *e;
        c.data = dup_bytes(e->data, e->len);
        d->log[d->n++] = c;
    }
}

static void apply_compact(struct sim_disk *d, uint64_t index, uint64_t term)
{
    if (index <= d->base_index)
        return;
    if (index >= disk_last(d)) {
        log_drop_range(d, 0, d->n);
        d->n = 0;
    } else {
        uint64_t drop = index - d->base_index;
        log_drop_range(d, 0, drop);
        memmove(d->log, d->log + drop, (d->n - drop) * sizeof(*d->log));
        d->n -= drop;
    }
    d->base_index = index;
    d->base_term = term;
}

struct disk_write *disk_complete(struct sim_disk *d)
{
    struct disk_write *w = d->head;
    if (!w)
        return NULL;
    d->head = w->next;
    if (!d->head)
        d->tail = NULL;
    d->pending--;
    /* Same order as struct log_batch: truncate, append, hard state, FSM,
     * snapshot, compaction. */
    if (w->truncate_from)
        apply_truncate(d, w->truncate_from);
    apply_append(d, w);
    if (w->has_hs) {
        d->term = w->term;
        d->vote = w->vote;
        d->commit = w->commit;
    }
    if (w->has_fsm)
        d->fsm = w->fsm;
    if (w->has_snap) {
        snap_free(&d->snap);
        d->snap = w->snap;
        d->has_snap = 1;
        memset(&w->snap, 0, sizeof(w->snap));
        w->has_snap = 1; /* still tells the caller what happened */
    }
    if (w->compact_index)
        apply_compact(d, w->compact_index, w->compact_term);
    d->writes_done++;
    return w;
}
