/* disk.h: the simulator's fake disk, one per node.
 *
 * It models what the node's LMDB store guarantees (src/log/log.h): a write
 * is one transaction that either survives a crash completely or not at all.
 * Writes are queued and complete in FIFO order after a simulated delay; only
 * a completed write is durable, and the host tells the core "persisted"
 * only then. A crash discards every write still pending. A restart sees the
 * durable state alone.
 *
 * The FSM's state travels in the same write as the entries and hard state
 * of that turn (as the node's group commit stores the applied index with
 * the FSM state it describes).
 */
#ifndef SIM_DISK_H
#define SIM_DISK_H

#include <stddef.h>
#include <stdint.h>

#include "base/entry.h"

#define SIM_KEYS 8
#define SIM_CONFIG_BYTES_MAX 192 /* > raft_config_encoded_len() of 16 */

/* The fake state machine: a hash chain of applied commands plus a tiny
 * key/value map (key -> proposal id and the index that wrote it), enough
 * to check state machine safety and ReadIndex freshness. */
struct sim_fsm {
    uint64_t applied;      /* last applied index */
    uint64_t applied_term;
    uint64_t chain;        /* hash over every applied entry, in order */
    uint64_t val[SIM_KEYS];
    uint64_t at[SIM_KEYS]; /* index that wrote val[k] */
    uint32_t config_len;   /* latest applied configuration, encoded */
    uint8_t config[SIM_CONFIG_BYTES_MAX];
};

/* An owned snapshot: metadata, the core's config bytes, the FSM bytes. */
struct disk_snap {
    uint64_t index, term;
    uint8_t *config;
    uint32_t config_len;
    uint8_t *data;
    uint32_t data_len;
};

struct disk_write {
    uint64_t id;
    uint64_t done_ms;
    uint64_t truncate_from;     /* 0: none */
    struct pm_entry *entries;   /* owned: one array + one payload block */
    size_t n_entries;
    uint8_t *payload_block;
    uint64_t *tags;             /* per entry, the host's (checker's prefix
                                 * hash); owned, may be NULL */
    int has_hs;
    uint64_t term, vote, commit;
    int has_fsm;
    struct sim_fsm fsm;
    int has_snap;               /* install (follower) or take (compaction) */
    struct disk_snap snap;      /* owned */
    uint64_t compact_index;     /* 0: none; drop entries <= it */
    uint64_t compact_term;
    /* What the host reports to the core when the write completes. */
    int report_persisted;       /* RAFT_EV_PERSISTED (persist_index/term) */
    uint64_t persist_index, persist_term;
    int report_installed;       /* RAFT_EV_SNAPSHOT_INSTALLED (snap.index) */
    int report_compacted;       /* RAFT_EV_COMPACTED (compact_index) */
    uint64_t installed_index;
    /* Messages that may leave only once this write is durable (the core's
     * msgs_after); each one malloc'd block, freed with the write. */
    void **held;
    size_t n_held, cap_held;
    struct disk_write *next;
};

struct sim_disk {
    /* durable */
    uint64_t term, vote, commit;
    uint64_t base_index, base_term;  /* entries <= base are compacted */
    struct pm_entry *log;            /* base+1 .. base+n; payloads owned */
    uint64_t n, cap;
    int has_snap;
    struct disk_snap snap;
    struct sim_fsm fsm;
    /* pending, FIFO */
    struct disk_write *head, *tail;
    size_t pending;
    uint64_t next_id;
    uint64_t last_done_ms;
    uint64_t writes_done;
};

void disk_init(struct sim_disk *d);
void disk_free(struct sim_disk *d);

/* Allocate a write (zeroed, owned by the caller until disk_submit). */
struct disk_write *disk_write_new(void);
/* Copy ENTRIES (payloads too) into the write: the caller's buffers may go
 * away afterwards. */
void disk_write_set_entries(struct disk_write *w, const struct pm_entry *e,
                            size_t n);
/* Copy a snapshot into the write. */
void disk_write_set_snap(struct disk_write *w, uint64_t index, uint64_t term,
                         const uint8_t *config, uint32_t config_len,
                         const uint8_t *data, uint32_t data_len);
/* Hold MSG (one malloc'd block, ownership passes) until W completes. */
void disk_write_hold(struct disk_write *w, void *msg);
/* Frees W and everything it still owns (held messages included). */
void disk_write_free(struct disk_write *w);

/* Queue W (ownership passes to the disk) to complete at or after
 * NOW_MS + DELAY_MS, never before an earlier write. Returns its id and sets
 * w->done_ms. */
uint64_t disk_submit(struct sim_disk *d, struct disk_write *w, uint64_t now_ms,
                     uint64_t delay_ms);
/* Complete the oldest pending write: make it durable. Returns it (the caller
 * frees it with disk_write_free after looking at it) or NULL if none. */
struct disk_write *disk_complete(struct sim_disk *d);
/* Crash: every pending write is lost. */
void disk_crash(struct sim_disk *d);

/* Durable entry at INDEX or NULL. */
const struct pm_entry *disk_entry(const struct sim_disk *d, uint64_t index);
uint64_t disk_last(const struct sim_disk *d);

#endif
