/* err.c: names of the project-wide error codes. */
#include "base/err.h"

#include <errno.h>

static const char *const names[PM_E__COUNT] = {
    [PM_OK] = "success",
    [PM_ENOMEM] = "out of memory",
    [PM_EINVAL] = "invalid argument",
    [PM_EIO] = "I/O error",
    [PM_ENOSPC] = "no space left on device",
    [PM_ECORRUPT] = "data corruption detected",
    [PM_ENOTFOUND] = "not found",
    [PM_ECOMPACTED] = "entry compacted away",
    [PM_ERANGE] = "out of range",
    [PM_ETOOBIG] = "too large",
    [PM_EEXIST] = "already exists",
    [PM_EBUSY] = "busy",
    [PM_ENOTLEADER] = "not the leader",
    [PM_ENOLEADER] = "no leader",
    [PM_ETIMEOUT] = "timed out",
    [PM_EAUTH] = "authentication failed",
    [PM_EPROTO] = "protocol error",
    [PM_ECLOSED] = "closed",
    [PM_ENOTRUNNING] = "node not running",
    [PM_EREJECTED] = "rejected",
    [PM_EVERSION] = "unsupported version",
    [PM_ESTATE] = "invalid in current state",
    [PM_EAGAIN] = "try again",
};

const char *pm_strerror(int code)
{
    if (code < 0)
        code = -code;
    if (code >= PM_E__COUNT || names[code] == 0)
        return "unknown error";
    return names[code];
}

int pm_from_errno(int err)
{
    switch (err) {
    case 0: return PM_OK;
    case ENOMEM: return -PM_ENOMEM;
    case ENOSPC: case EDQUOT: return -PM_ENOSPC;
    case ENOENT: return -PM_ENOTFOUND;
    case EEXIST: return -PM_EEXIST;
    case EINVAL: return -PM_EINVAL;
    case ETIMEDOUT: return -PM_ETIMEOUT;
    case EAGAIN: return -PM_EAGAIN;
    case EBUSY: return -PM_EBUSY;
    case E2BIG: case EFBIG: case EMSGSIZE: return -PM_ETOOBIG;
    case ECONNRESET: case EPIPE: case ENOTCONN: return -PM_ECLOSED;
    default: return -PM_EIO;
    }
}
