/* err.h: the project-wide error codes.
 *
 * Every pmesh function that can fail returns 0 (PM_OK) or one of these codes,
 * negated. Modules translate foreign codes (LMDB, errno, libsodium) at their
 * boundary, so callers never see a third-party number. pm_strerror() names
 * each code in one short phrase suitable for a one-line error message.
 *
 * Add new codes at the end of the list (before PM_E__COUNT) and give them a
 * name in err.c; never renumber, since codes travel in replies over the
 * control socket.
 */
#ifndef PM_ERR_H
#define PM_ERR_H

enum pm_err {
    PM_OK = 0,
    PM_ENOMEM = 1,      /* out of memory */
    PM_EINVAL = 2,      /* invalid argument or input (caller's fault) */
    PM_EIO = 3,         /* I/O error from the OS or storage engine */
    PM_ENOSPC = 4,      /* disk full: nothing was written */
    PM_ECORRUPT = 5,    /* stored data failed its checksum or is malformed */
    PM_ENOTFOUND = 6,   /* no such entry, key, member or file */
    PM_ECOMPACTED = 7,  /* the entry was removed by log compaction */
    PM_ERANGE = 8,      /* index or value out of the permitted range */
    PM_ETOOBIG = 9,     /* over a size limit (frame, value, key, batch) */
    PM_EEXIST = 10,     /* already exists */
    PM_EBUSY = 11,      /* resource busy / another operation in progress */
    PM_ENOTLEADER = 12, /* this node is not the leader */
    PM_ENOLEADER = 13,  /* no leader is known right now */
    PM_ETIMEOUT = 14,   /* timed out waiting */
    PM_EAUTH = 15,      /* authentication failed (wrong secret / mesh) */
    PM_EPROTO = 16,     /* malformed or unexpected protocol message */
    PM_ECLOSED = 17,    /* connection or object closed */
    PM_ENOTRUNNING = 18,/* the node is not running */
    PM_EREJECTED = 19,  /* request rejected by validation or by the mesh */
    PM_EVERSION = 20,   /* unsupported format or protocol version */
    PM_ESTATE = 21,     /* operation not valid in the current state */
    PM_EAGAIN = 22,     /* try again later (transient) */
    PM_E__COUNT
};

/* Name of an error code; accepts the code negated or not. Never NULL. */
const char *pm_strerror(int code);

/* Translate an errno value to a (negative) pm_err code. */
int pm_from_errno(int err);

#endif
