/* internal.h: what the files of src/fsm share. Not part of the contract;
 * names carry the fsm__ prefix. */
#ifndef PM_FSM_INTERNAL_H
#define PM_FSM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "fsm/fsm.h"

/* ---- msgpack guard (mpcheck.c) -------------------------------------------
 * msgpack-c's unpacker allocates room for a container's claimed element
 * count before reading the elements, so 5 untrusted bytes claiming 2^32
 * elements make it allocate ~100 GB. fsm__mp_check walks the encoding
 * first (headers only) and accepts it only when every container claims no
 * more elements than bytes remain, nesting is at most DEPTH_MAX, and
 * exactly one object fills the LEN bytes. Returns 0 or -PM_EPROTO. */
int fsm__mp_check(const uint8_t *buf, size_t len, unsigned depth_max);

/* ---- growing byte buffer (mpcheck.c), also a msgpack-c write target ----- */
struct fsm__buf {
    char *p;
    size_t len, cap;
    int oom;   /* an append failed: the content is incomplete */
};
/* Append; on failure sets oom and returns -1 (msgpack_packer_write). */
int fsm__buf_write(void *buf, const char *data, size_t len);
void fsm__buf_free(struct fsm__buf *b);

/* ---- settings tree (settings.c) ------------------------------------------
 * A trie over key segments. A node that holds a value has no children (no
 * stored key lies below another stored key). Children are kept sorted by
 * segment bytes, so every walk is in one deterministic order. */
struct fsm__node {
    char *seg;                 /* NUL-terminated; NULL for the root */
    uint32_t seg_len;
    char *val;                 /* canonical JSON, NUL-terminated; NULL: inner */
    uint32_t val_len;
    struct fsm__node *parent;
    struct fsm__node **kids;   /* sorted by segment (output order) */
    uint32_t n_kids, cap_kids;
    /* With many kids, also a hash index of them (open addressing, linear
     * probing, hx_cap a power of two, at most half full): a lookup is one
     * probe instead of a binary search whose every step is a cache miss.
     * Only a lookup aid: NULL (e.g. after running out of memory) is always
     * correct. */
    struct fsm__node **hx;
    uint32_t hx_cap;
};

struct fsm__settings {
    struct fsm__node root;
    size_t n_keys;   /* nodes holding a value */
    size_t bytes;    /* sum of key + value lengths of those */
};

void fsm__settings_init(struct fsm__settings *s);
void fsm__settings_free(struct fsm__settings *s);
/* Find the node of KEY (already checked), or NULL. */
struct fsm__node *fsm__settings_find(const struct fsm__settings *s,
                                     const char *key, size_t len);
/* The deepest node holding a value that is KEY itself or an ancestor of
 * it, or NULL. */
struct fsm__node *fsm__settings_holder(const struct fsm__settings *s,
                                       const char *key, size_t len);
/* Both in one walk down the tree (a segment among many siblings is a
 * binary search; `set` checks both for every entry on every node): returns
 * fsm__settings_find(KEY), and *HOLDER gets fsm__settings_holder(KEY). */
struct fsm__node *fsm__settings_lookup(const struct fsm__settings *s,
                                       const char *key, size_t len,
                                       const struct fsm__node **holder);
/* Callback for every key removed or replaced by a change (audit, stored
 * deletes); KEY is the full dotted key. Returns 0 or -PM_ENOMEM. */
typedef int (*fsm__key_fn)(void *ctx, const char *key, size_t key_len,
                           const char *old_val, const char *new_val);
/* Store VAL at KEY, dropping everything below KEY. Preconditions (checked
 * by the caller): no ancestor holds a value; limits respected. FN (may be
 * NULL) hears every removed key (new NULL) and then KEY itself. */
int fsm__settings_set(struct fsm__settings *s, const char *key, size_t klen,
                      const char *val, size_t vlen, fsm__key_fn fn, void *ctx);
/* Remove KEY and everything below it; FN hears each removed key.
 * Returns the number of keys removed (>= 0) or -PM_ENOMEM. */
int fsm__settings_unset(struct fsm__settings *s, const char *key, size_t klen,
                        fsm__key_fn fn, void *ctx);
/* Visit every stored key in tree order (segments sorted by bytes). FN's
 * non-zero return stops the walk and is returned. */
int fsm__settings_walk(const struct fsm__settings *s, fsm__key_fn fn,
                       void *ctx);
/* Build the full dotted key of N into BUF (FSM_KEY_MAX + 1 bytes); returns
 * its length. */
size_t fsm__node_key(const struct fsm__node *n, char *buf);
/* Compact JSON of the value or subtree at KEY (NULL: all); see fsm_get. */
int fsm__settings_get(const struct fsm__settings *s, const char *key,
                      char **json, size_t *json_len);
/* The settings tree as a cJSON object (void * keeps cJSON out of this
 * header); NULL on allocation failure. */
void *fsm__settings_to_cjson(const struct fsm__settings *s);
/* The settings tree as cJSON_Print would print that object when it is
 * reached at printer depth DEPTH (1 for a member of the root object), into
 * *OUT (malloc'd, NUL-terminated). 0 or -PM_ENOMEM. */
int fsm__settings_print(const struct fsm__settings *s, unsigned depth,
                        char **out);

/* ---- checks (check.c) ---------------------------------------------------- */
/* Is VAL (LEN bytes) canonical JSON within the value limits? 0 or
 * -PM_EINVAL / -PM_ETOOBIG with ERR. */
int fsm__value_check(const char *val, size_t len, char *err, size_t err_len);
/* 1 if S (LEN bytes) is only bytes 0x20-0x7e other than '"' and '\\'
 * (text that is a JSON string's body as it is), else 0. */
int fsm__plain_text(const char *s, size_t len);
/* Member fields: syntax and limits (not uniqueness). */
int fsm__member_check(const struct fsm_member *m, char *err, size_t err_len);
int fsm__name_check(const char *what, const char *s, size_t len, char *err,
                    size_t err_len);
void fsm__errf(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- the machine (fsm.c) ------------------------------------------------- */
struct fsm__dedup {
    uint64_t client_id;
    uint64_t seq;    /* highest applied sequence number of the client */
    uint64_t index;  /* entry that applied it */
    int32_t prev, next; /* list in index order (oldest first); -1 ends */
    /* Its record in the pending change list (fsm->ch), position + 1, in
     * change-list generation ch_gen: a client's next request overwrites
     * it instead of queueing another (fsm__queue_dedup). 0: none. */
    uint32_t ch_at, ch_gen;
};

struct fsm {
    uint64_t applied;
    /* mesh globals */
    int bootstrapped;
    uint64_t mesh_id;
    uint8_t secret[32];
    uint64_t seed_id;
    uint64_t bootstrap_index;
    uint64_t recovery_index;
    /* members, sorted by id */
    struct fsm_member *members;
    size_t n_members, cap_members;
    struct fsm__settings settings;
    /* dedup table: slots + open-addressing index + list by index */
    struct fsm__dedup *dd;        /* FSM_DEDUP_MAX slots */
    uint32_t dd_used;
    int32_t *dd_hash;             /* FSM__DD_HASH slots of slot index or -1 */
    int32_t dd_head, dd_tail;     /* oldest, newest */
    /* pending stored mutations; each kv.key is one malloc'd block that
     * also holds the value */
    int track;                    /* 0: do not queue mutations (audit) */
    int clear;
    struct fsm_kv *ch;
    size_t n_ch, cap_ch;
    uint32_t ch_gen;     /* +1 each time the change list is emptied */
    /* audit hook while applying (audit.c) */
    fsm__key_fn audit_fn;
    void *audit_ctx;
    /* render.c's cache; allocated by fsm_new, never NULL */
    struct fsm__render_cache *render;
};

#define FSM__DD_HASH (2 * FSM_DEDUP_MAX)

/* The mesh-wide part of settings.json (everything but the "node" object),
 * rendered once and spliced per node by fsm_render_settings() (render.c):
 * rendering every node's file of a 1,000-member mesh then costs one render
 * plus 1,000 copies. Owned by its struct fsm, which points to it so that
 * the const rendering functions may fill it: the cache is not state (it
 * is never stored, hashed or compared) and every mutation of the state
 * drops it (fsm__render_invalidate). It holds the seed URL, hence the
 * secret: wiped when dropped. */
struct fsm_natsconf_member;
struct fsm_natsconf_ctx;
struct fsm__render_cache {
    char *shared;   /* cJSON_Print of the shared root object, or NULL */
    size_t len;
    /* nats.conf: the members as the generator sees them (their strings
     * point into struct fsm's members) and the prepared mesh, or NULL. */
    struct fsm_natsconf_member *nats_members;
    struct fsm_natsconf_ctx *nats;
};
void fsm__render_invalidate(struct fsm *fsm);

/* Queue stored mutations. VAL NULL deletes. Returns 0 or -PM_ENOMEM. */
int fsm__queue(struct fsm *fsm, const void *key, size_t klen, const void *val,
               size_t vlen);
int fsm__queue_member(struct fsm *fsm, const struct fsm_member *m);
int fsm__queue_member_del(struct fsm *fsm, uint64_t id);
int fsm__queue_globals(struct fsm *fsm);
int fsm__queue_dedup(struct fsm *fsm, struct fsm__dedup *d);
int fsm__queue_dedup_del(struct fsm *fsm, uint64_t client_id);
/* Queue the whole state (after a restore). */
int fsm__queue_all(struct fsm *fsm);

/* fsm_apply, also giving the decoded command (borrowing from E->data). */
int fsm__apply(struct fsm *fsm, const struct pm_entry *e,
               struct fsm_result *res, struct fsm_cmd *cmd);
/* Cross-checks of a whole state (after load or restore): 0 or
 * -PM_ECORRUPT. */
int fsm__state_check(const struct fsm *fsm);

/* Dedup table operations. */
struct fsm__dedup *fsm__dedup_find(const struct fsm *fsm, uint64_t client_id);
/* Record that CLIENT's SEQ applied at INDEX; evicts the oldest client when
 * full (its id in *EVICTED, else 0). */
void fsm__dedup_put(struct fsm *fsm, uint64_t client_id, uint64_t seq,
                    uint64_t index, uint64_t *evicted);
/* Rebuild the index-ordered list after loading slots in any order. */
void fsm__dedup_relink(struct fsm *fsm);

/* Members. */
struct fsm_member *fsm__member_find(const struct fsm *fsm, uint64_t id);
int fsm__member_insert(struct fsm *fsm, const struct fsm_member *m);
void fsm__member_erase(struct fsm *fsm, uint64_t id);

/* ---- msgpack helpers for state records (cmd.c, store.c) ------------------------- */
struct msgpack_packer;
void fsm__pack_member(struct msgpack_packer *pk, const struct fsm_member *m);
void fsm__pack_globals(struct msgpack_packer *pk, const struct fsm *fsm);
struct msgpack_object;
/* Decode a member record; -PM_EPROTO if malformed (syntax is checked). */
int fsm__unpack_member(const struct msgpack_object *o, struct fsm_member *m);

#endif
