/* fsm.h: the deterministic state machine of a pmesh mesh.
 *
 * This header is the contract with src/node (and the tests). Every function
 * that can fail returns 0 or a negative enum pm_err code (base/err.h).
 * Nothing here exposes a third-party type; msgpack-c and cJSON stay inside.
 *
 * What the FSM holds (the "mesh state"):
 *   - mesh globals: mesh id, the 32-byte secret, the seed member id, the
 *     index of the bootstrap entry and of the last forced recovery;
 *   - members: id, name, role (voter / learner / replica), cluster label,
 *     advertised peer address, NATS host and ports;
 *   - settings: a tree of dotted keys holding JSON values;
 *   - a bounded table of client request ids, so retries apply once;
 *   - the applied index.
 *
 * Determinism (DESIGN.md §3): the same entries applied to the same state
 * give byte-identical state, snapshots, stored key/values and mesh-wide file
 * content on every node. Apply reads no clock, no environment and never
 * iterates in hash order. The leader's wall-clock time travels inside each
 * command as data for the audit only.
 *
 * Flow on a node:
 *   propose:  fill a struct fsm_cmd, fsm_validate() it (clear error text on
 *             rejection), fsm_cmd_encode() it, propose the bytes (COMMAND
 *             entry payload, or the app blob of a CONFIG entry for member
 *             add / promote / remove / force-recover).
 *   apply:    fsm_apply() every committed entry in index order; then take
 *             fsm_changes() and write them with log_write() in the same
 *             transaction as changes.applied; then fsm_changes_clear().
 *   files:    fsm_materialize() after a batch (rewrites settings.json and
 *             nats.conf only if their bytes changed).
 *   start:    fsm_load_kv() for every stored (key, value), fsm_load_done().
 *   snapshot: fsm_snapshot() / fsm_restore() (restore also queues a full
 *             rewrite of the stored state: changes.clear = 1).
 *
 * Threading: a struct fsm is used from one thread. Functions taking a
 * const struct fsm * do not modify its state (fsm_render_settings keeps a
 * private cache of the mesh-wide text, dropped by every change).
 */
#ifndef PM_FSM_H
#define PM_FSM_H

#include <stddef.h>
#include <stdint.h>

#include "base/entry.h"

struct fsm; /* opaque; see "The state machine" below */

/* ---------------------------------------------------------------------------
 * Limits (also in docs/limits.md). Checked by fsm_validate() at proposal and
 * again by fsm_apply(), where a violation makes the entry a recorded no-op.
 */
#define FSM_NAME_MAX 63          /* member name, cluster label: [A-Za-z0-9_-] */
#define FSM_HOST_MAX 253         /* DNS name / IPv4 / IPv6 (no brackets) */
#define FSM_MEMBERS_MAX 4096     /* members of one mesh */
#define FSM_RECOVER_REMOVE_MAX 16 /* members one recovery removes */
/* Settings keys: dotted paths of 1..FSM_KEY_DEPTH_MAX segments, each segment
 * 1..FSM_SEGMENT_MAX bytes of [A-Za-z0-9_-]; the whole key at most
 * FSM_KEY_MAX bytes. No leading, trailing or doubled dot. Case-sensitive. */
#define FSM_KEY_MAX 256
#define FSM_KEY_DEPTH_MAX 16
#define FSM_SEGMENT_MAX 64
/* The tree (docs/limits.md): the settings behave like one JSON document
 * edited by path. SET a.b creates a.b inside object a; a later SET a
 * replaces the whole subtree a (a.b is removed, and the audit says so); SET
 * a.b.c while a.b holds a value (any JSON value, objects included) is
 * rejected, since it would silently destroy that value; UNSET a removes a
 * and everything below it. */
/* Values: canonical JSON text of at most FSM_VALUE_MAX bytes, nested at
 * most FSM_VALUE_DEPTH_MAX arrays/objects deep; strings valid UTF-8 without
 * NUL; numbers finite, and integers within +-2^53 (exact in a double). */
#define FSM_VALUE_MAX 65536
#define FSM_VALUE_DEPTH_MAX 32
#define FSM_SETTINGS_MAX 100000          /* stored keys */
#define FSM_SETTINGS_BYTES_MAX (64u << 20) /* keys + values, bytes */
/* Client request ids remembered for duplicate detection. */
#define FSM_DEDUP_MAX 4096
/* Room for an error text (always NUL-terminated, truncated to fit). */
#define FSM_ERR_LEN 256

/* ---------------------------------------------------------------------------
 * Members.
 */
enum fsm_role {
    FSM_ROLE_VOTER = 1,   /* votes (Raft voter) */
    FSM_ROLE_LEARNER = 2, /* non-voting while catching up; to be promoted */
    FSM_ROLE_REPLICA = 3, /* non-voting for good (Raft learner) */
};

/* "voter", "learner", "replica"; "unknown" for other values. */
const char *fsm_role_name(int role);

struct fsm_member {
    uint64_t id;                     /* non-zero, unique */
    char name[FSM_NAME_MAX + 1];     /* unique, [A-Za-z0-9_-]{1,63} */
    char cluster[FSM_NAME_MAX + 1];  /* NATS cluster label, same charset */
    uint8_t role;                    /* enum fsm_role */
    uint8_t seed;                    /* 1: the two-voter tie-breaker */
    char peer_host[FSM_HOST_MAX + 1];/* advertised peer address */
    uint16_t peer_port;
    char nats_host[FSM_HOST_MAX + 1];/* host NATS binds and advertises */
    uint16_t nats_client_port;
    uint16_t nats_cluster_port;
    uint16_t nats_gateway_port;
    uint16_t nats_leaf_port;
    uint16_t nats_http_port;         /* monitoring */
};

/* ---------------------------------------------------------------------------
 * Commands. The payload of a COMMAND entry, or the app blob of a CONFIG
 * entry, is one encoded struct fsm_cmd.
 *
 * Wire format (msgpack): an array
 *   [version, type, proposer, time_ms, client_id, seq, body]
 * where version is FSM_CMD_VERSION and body is an array whose layout is
 * fixed per type. A decoder rejects other versions with -PM_EVERSION.
 * Within a version, fields are only ever appended to a body; a decoder
 * ignores trailing body fields it does not know, so a format can grow.
 */
#define FSM_CMD_VERSION 1

enum fsm_cmd_type {
    FSM_CMD_NOOP = 1,           /* nothing (tests, leader probes) */
    FSM_CMD_BOOTSTRAP = 2,      /* mesh_id, secret, member (the seed) */
    FSM_CMD_MEMBER_ADD = 3,     /* member (role LEARNER or REPLICA) */
    FSM_CMD_MEMBER_PROMOTE = 4, /* member_id: learner/replica -> voter */
    FSM_CMD_MEMBER_REMOVE = 5,  /* member_id */
    FSM_CMD_SET = 6,            /* key, value (canonical JSON) */
    FSM_CMD_UNSET = 7,          /* key (and everything below it) */
    FSM_CMD_CLUSTER_RENAME = 8, /* cluster_from -> cluster_to */
    FSM_CMD_MEMBER_ADDRESS = 9, /* member: new peer/NATS addresses of id */
    FSM_CMD_FORCE_RECOVER = 10, /* member_id becomes seed; removes listed */
    FSM_CMD__MAX = 10
};

/* "noop", "bootstrap", "member-add", ...; "unknown" for other values. */
const char *fsm_cmd_type_name(int type);

/* A byte string that is not NUL-terminated. */
struct fsm_str {
    const char *p;
    uint32_t len;
};

/* A command. Which fields are meaningful depends on type (see the enum);
 * others are ignored by encode and zeroed by decode. After
 * fsm_cmd_decode() the fsm_str fields point INTO the decoded bytes: keep
 * those bytes alive while using the command. */
struct fsm_cmd {
    uint8_t type;         /* enum fsm_cmd_type */
    uint64_t proposer;    /* node id of the proposer */
    uint64_t time_ms;     /* leader's wall clock at proposal (audit only) */
    uint64_t client_id;   /* 0: no duplicate detection */
    uint64_t seq;         /* client's request sequence number */

    uint64_t mesh_id;                 /* BOOTSTRAP: non-zero */
    uint8_t secret[32];               /* BOOTSTRAP: the mesh secret */
    struct fsm_member member;         /* BOOTSTRAP, MEMBER_ADD, MEMBER_ADDRESS
                                       * (id selects; name, role, seed and
                                       * cluster are ignored by ADDRESS) */
    uint64_t member_id;               /* PROMOTE, REMOVE, FORCE_RECOVER */
    struct fsm_str key;               /* SET, UNSET */
    struct fsm_str value;             /* SET: canonical JSON (see
                                       * fsm_value_normalize) */
    struct fsm_str cluster_from;      /* CLUSTER_RENAME */
    struct fsm_str cluster_to;        /* CLUSTER_RENAME */
    uint32_t n_remove;                /* FORCE_RECOVER */
    uint64_t remove_ids[FSM_RECOVER_REMOVE_MAX];
};

/* Encode CMD into a malloc'd buffer (*OUT, *OUT_LEN; caller frees).
 * Encoding does not validate content beyond what the format needs: call
 * fsm_validate() first. -PM_EINVAL unknown type; -PM_ENOMEM. */
int fsm_cmd_encode(const struct fsm_cmd *cmd, uint8_t **out, size_t *out_len);

/* Decode LEN untrusted bytes at BUF into *CMD (borrowing from BUF, see
 * struct fsm_cmd). The structure is checked (msgpack well-formed and
 * bounded, field types, string sizes, counts); content rules (key syntax,
 * names, addresses) and the state are fsm_validate()'s. -PM_EVERSION other format version; -PM_EPROTO malformed
 * (WHY, if not NULL, gets a phrase; WHY_LEN bytes); -PM_ENOMEM. Never
 * crashes on any input. */
int fsm_cmd_decode(const uint8_t *buf, size_t len, struct fsm_cmd *cmd,
                   char *why, size_t why_len);

/* Check CMD before proposing it: field syntax and limits, and, when FSM is
 * not NULL, its effect on the current state (unknown member, name taken,
 * last voter, setting below a value, ...). Returns 0, or -PM_EINVAL (bad
 * syntax), -PM_ETOOBIG (over a limit), -PM_ENOTFOUND (no such member /
 * key), -PM_EEXIST (name/id/address taken, already bootstrapped),
 * -PM_ESTATE (not bootstrapped yet), -PM_EREJECTED (refused by the state)
 * with one line of plain ASCII text in ERR (FSM_ERR_LEN is a good size;
 * the table in tests/unit/test_fsm_reject.c lists the texts). fsm_apply() runs the same checks, so a command that passes
 * here may still become a no-op if the state changed in between. */
int fsm_validate(const struct fsm *fsm, const struct fsm_cmd *cmd, char *err,
                 size_t err_len);

/* Check a settings key (see the limits). 0 or -PM_EINVAL/-PM_ETOOBIG with
 * the reason in ERR. */
int fsm_key_check(const char *key, size_t len, char *err, size_t err_len);

/* Turn user text into the canonical JSON value a SET carries: RAW is
 * parsed as JSON when it is valid JSON, else it is taken as a string.
 * The result (*JSON, malloc'd, NUL-terminated, *JSON_LEN bytes without the
 * NUL; caller frees) is compact JSON with object members in input order.
 * -PM_EINVAL (bad UTF-8, NUL byte, non-finite or inexact number) or
 * -PM_ETOOBIG (over FSM_VALUE_MAX or FSM_VALUE_DEPTH_MAX), with ERR. */
int fsm_value_normalize(const char *raw, size_t raw_len, char **json,
                        size_t *json_len, char *err, size_t err_len);

/* ---------------------------------------------------------------------------
 * The state machine.
 */

/* A new, empty (not bootstrapped) FSM with applied index 0. */
int fsm_new(struct fsm **out);
void fsm_free(struct fsm *fsm);

/* Outcome of applying one entry. */
struct fsm_result {
    uint64_t index;     /* the entry's index */
    int status;         /* 0: applied. -PM_EEXIST: duplicate client
                         * request, dropped (dup_index). Other negative
                         * codes: rejected at apply (invalid command, or
                         * refused by the state): a recorded no-op, with
                         * the reason in error. */
    uint64_t dup_index; /* duplicate: index that applied the original (0 if
                         * the original is older than the last remembered
                         * request of that client) */
    unsigned changed;   /* FSM_CHANGED_* bits: what the entry changed */
    uint8_t cmd_type;   /* the decoded command type (0: none/undecodable) */
    char error[FSM_ERR_LEN];
};
#define FSM_CHANGED_SETTINGS 1u /* settings tree */
#define FSM_CHANGED_MEMBERS 2u  /* members or their addresses/roles */
#define FSM_CHANGED_MESH 4u     /* mesh id / secret / seed */

/* Apply committed entry E. E->index must be fsm_applied() + 1. For
 * PM_ENTRY_COMMAND, E->data is an encoded command. For PM_ENTRY_CONFIG the
 * node passes the CONFIG entry's app blob as E->data/E->len (an encoded
 * member add / promote / remove / force-recover; an empty blob is a
 * raft-only configuration change and a no-op here). PM_ENTRY_NOOP only
 * advances the applied index. Commands that do not decode or are invalid
 * for the state are recorded no-ops (RES->status < 0): never a crash, and
 * every node reaches the same verdict. RES may be NULL.
 * Returns 0 when the entry was consumed (whatever RES->status says);
 * -PM_ERANGE if E->index is not applied + 1 (nothing done); -PM_ENOMEM:
 * the FSM is then unusable and must be freed (state may be partial). */
int fsm_apply(struct fsm *fsm, const struct pm_entry *e,
              struct fsm_result *res);

uint64_t fsm_applied(const struct fsm *fsm);
/* The settings' size: the sum of their keys' and values' lengths (what
 * settings.json grows with). */
size_t fsm_settings_bytes(const struct fsm *fsm);

/* ---------------------------------------------------------------------------
 * Persistence. Stored key layout (byte strings, owned by this module):
 *   "g/mesh"          mesh globals (msgpack)
 *   "m/" + id (8 bytes big-endian)      a member (msgpack)
 *   "s/" + dotted key                   a setting (canonical JSON text)
 *   "d/" + client id (8 bytes BE)       last request of a client (msgpack)
 */
/* Field for field the layout of struct log_kv (src/log/log.h), so the node
 * may pass an array of these as log_batch.state; keep the two in step. */
struct fsm_kv {
    const void *key;
    uint32_t key_len;
    const void *val;       /* NULL: delete the key */
    uint32_t val_len;
};

/* Mutations since the last fsm_changes_clear(), in order (a key may appear
 * more than once; the last one wins). CLEAR = 1: delete every stored FSM
 * key before writing these (after fsm_restore()). APPLIED: the applied
 * index the mutations bring the store to. */
struct fsm_changes {
    int clear;
    const struct fsm_kv *kv;
    size_t n;
    uint64_t applied;
};

/* Queue mutations (1, the default) or not (0: a scratch FSM replaying the
 * log for the audit, whose state is never stored). 0 also drops pending
 * ones. */
void fsm_track_changes(struct fsm *fsm, int enabled);

/* Borrowed view of the pending mutations: valid until the next call that
 * modifies FSM. */
void fsm_changes(const struct fsm *fsm, struct fsm_changes *out);
/* The node wrote them (log_write returned 0): forget them. */
void fsm_changes_clear(struct fsm *fsm);

/* Rebuild the state at start from the store, on a fresh fsm_new(): call
 * fsm_load_kv() for every stored (key, value) (any order), then
 * fsm_load_done() with the store's applied index. Bytes are copied.
 * -PM_ECORRUPT for a malformed key or value (the store is damaged);
 * fsm_load_done() also checks cross-references (exactly one seed, ...).
 * No changes are queued by loading. */
int fsm_load_kv(struct fsm *fsm, const void *key, uint32_t key_len,
                const void *val, uint32_t val_len);
int fsm_load_done(struct fsm *fsm, uint64_t applied);

/* ---------------------------------------------------------------------------
 * Snapshots (msgpack). Identical state gives identical bytes.
 */
/* Serialize the whole state (including the applied index) into *OUT
 * (malloc'd; caller frees). -PM_ENOMEM. */
int fsm_snapshot(const struct fsm *fsm, uint8_t **out, size_t *out_len);

/* Replace the whole state by the snapshot at BUF (untrusted). Everything is
 * validated before the state is touched: on error the FSM is unchanged.
 * On success the pending changes become clear = 1 plus every key of the new
 * state, applied = the snapshot's index. -PM_ECORRUPT malformed;
 * -PM_EVERSION other snapshot version; -PM_ENOMEM. */
int fsm_restore(struct fsm *fsm, const uint8_t *buf, size_t len);

/* Hash of the snapshot bytes (BLAKE2b-256, libsodium's
 * crypto_generichash) as 64 lowercase hex digits + NUL in HEX. Two FSMs
 * have the same hash iff they have the same state. -PM_ENOMEM. */
#define FSM_HASH_HEX_LEN 65
int fsm_state_hash(const struct fsm *fsm, char hex[FSM_HASH_HEX_LEN]);

/* ---------------------------------------------------------------------------
 * Reading the state.
 */
int fsm_bootstrapped(const struct fsm *fsm);       /* 1 after BOOTSTRAP */
uint64_t fsm_mesh_id(const struct fsm *fsm);       /* 0 before bootstrap */
/* The 32-byte secret; NULL before bootstrap. Borrowed. */
const uint8_t *fsm_secret(const struct fsm *fsm);
uint64_t fsm_seed_id(const struct fsm *fsm);       /* 0 before bootstrap */

/* Members sorted by id, 0 <= I < fsm_member_count(). Borrowed pointers
 * valid until the FSM is next modified. */
size_t fsm_member_count(const struct fsm *fsm);
const struct fsm_member *fsm_member_at(const struct fsm *fsm, size_t i);
/* NULL if absent. NAME is NUL-terminated. */
const struct fsm_member *fsm_member_by_id(const struct fsm *fsm, uint64_t id);
const struct fsm_member *fsm_member_by_name(const struct fsm *fsm,
                                            const char *name);
/* A free member id: max id + 1 (1 for an empty mesh). */
uint64_t fsm_next_member_id(const struct fsm *fsm);

/* Settings as compact JSON (malloc'd, NUL-terminated; caller frees).
 * KEY NULL: all settings (an object, {} when empty). Otherwise the value
 * or subtree at KEY: a stored key's value, the object made of the keys
 * below it, or the member of a stored object value on the way (get a.b
 * after set a '{"b":1}' gives 1). -PM_ENOTFOUND if there is nothing there;
 * -PM_EINVAL bad key. */
int fsm_get(const struct fsm *fsm, const char *key, char **json,
            size_t *json_len);

/* The seed URL "pmtp://SECRET@host:port,..." listing the voters' peer
 * addresses, the seed first, then by id (at most 16). Holds the secret.
 * -PM_ESTATE before bootstrap; -PM_ETOOBIG if BUF is too small
 * (PM_SEEDURL_TEXT_MAX from base/seedurl.h always fits). */
int fsm_seed_url(const struct fsm *fsm, char *buf, size_t buf_len);

/* ---------------------------------------------------------------------------
 * Materialized files.
 *
 * settings.json for member NODE_ID (indented, stable key order):
 *   { "node": {id, name, role, cluster, seed, peer, nats:{...}},
 *     "mesh": {id, seed_url, seed},
 *     "settings": {...},
 *     "topology": {"clusters": {LABEL: {"servers": [...], "leafs": [...]}}},
 *     "nats_urls": ["nats://host:port", ...] }
 * Everything but "node" is byte-identical on every node.
 */
/* Render into *OUT (malloc'd, NUL-terminated; caller frees).
 * -PM_ESTATE not bootstrapped; -PM_ENOTFOUND NODE_ID is not a member. */
int fsm_render_settings(const struct fsm *fsm, uint64_t node_id, char **out,
                        size_t *out_len);
/* nats.conf for member NODE_ID, rendered by src/fsm/natsconf.h from the
 * members (voters are NATS servers; learners and replicas are leaf nodes
 * until promoted). HOME is the node's home directory (absolute; the
 * JetStream store lies below it, see natsconf.h). Errors as
 * fsm_render_settings(), plus -PM_EINVAL from the generator (e.g. a bad
 * HOME). */
int fsm_render_nats(const struct fsm *fsm, uint64_t node_id, const char *home,
                    char **out, size_t *out_len);

/* Does going from nats.conf text OLD to NEW (NUL-terminated) need nothing
 * (FSM_NATS_SAME), a reload (FSM_NATS_RELOAD: SIGHUP) or a restart
 * (FSM_NATS_RESTART) of nats-server? OLD NULL (no server running yet) gives
 * FSM_NATS_RESTART. Delegates to fsm_natsconf_classify_text(). */
#define FSM_NATS_SAME 0
#define FSM_NATS_RELOAD 1
#define FSM_NATS_RESTART 2
int fsm_nats_change(const char *old_conf, const char *new_conf);

/* Write LEN bytes at BYTES to PATH atomically: temp file in the same
 * directory, fsync, rename, fsync of the directory; mode 0600. Skipped
 * (*WRITTEN = 0) when PATH already holds exactly these bytes; else
 * *WRITTEN = 1 (also when only the mode was wrong). WRITTEN may be NULL.
 * Errors are pm_from_errno() codes (-PM_EIO, -PM_ENOSPC, -PM_ENOTFOUND for
 * a missing directory, ...); PATH is then unchanged. */
int fsm_write_file(const char *path, const void *bytes, size_t len,
                   int *written);

/* Render and write HOME/settings.json and HOME/nats.conf for NODE_ID with
 * fsm_write_file(). *NATS_CHANGE (if not NULL) tells what the nats.conf
 * change needs (FSM_NATS_*; the old text is the file on disk, absent =
 * RESTART). Errors as the render and write functions. */
int fsm_materialize(const struct fsm *fsm, uint64_t node_id, const char *home,
                    int *settings_written, int *nats_change);
/* Its two halves: settings.json (O(state) to render) and nats.conf (small,
 * O(members)). */
int fsm_materialize_settings(const struct fsm *fsm, uint64_t node_id,
                             const char *home, int *written);
int fsm_materialize_nats(const struct fsm *fsm, uint64_t node_id,
                         const char *home, int *nats_change);

/* ---------------------------------------------------------------------------
 * Audit. Replay the log into a scratch FSM (fsm_new(), or fsm_restore() of
 * a snapshot when the log is compacted) with fsm_apply_audit() instead of
 * fsm_apply(); render files and fsm_state_hash() at any index.
 */
/* Like fsm_apply(), and describe the entry as one JSON object (*RECORD,
 * malloc'd; caller frees):
 *   {"index","term","time_ms","proposer","type","client":{id,seq}|null,
 *    "command":{...},"result":"applied"|"duplicate"|"rejected",
 *    "error":text|null,
 *    "changes":[{"key","old":<json>|null,"new":<json>|null}]}
 * Member commands list their member; secrets are redacted ("<redacted>").
 * "changes" lists every setting the entry created, changed or removed.
 * With KEY not NULL (a history query), *RECORD is instead
 *   {"index","term","time_ms","proposer","op","old","new","result"}
 * (old/new: the fsm_get() view of KEY before and after, null when absent)
 * when the entry changed KEY or something below or above it, or was a set
 * or unset at, below or above KEY whatever its result (a duplicate or a
 * rejection is part of the key's history); else *RECORD is NULL.
 * Same return codes as fsm_apply(). */
int fsm_apply_audit(struct fsm *fsm, const struct pm_entry *e,
                    const char *key, struct fsm_result *res, char **record);

#endif
