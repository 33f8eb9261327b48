/* mpcheck.c: a bound check of untrusted msgpack before msgpack-c sees it,
 * and a small growing buffer used as msgpack-c's write target.
 *
 * Why the check exists: msgpack_unpack_next() reserves memory for all the
 * elements a container header claims before it reads them. A 5-byte input
 * "dd 7f ff ff ff" (an array of 2^31 elements) makes it ask for ~50 GB,
 * which is a crash under the sanitizers and a denial of service anywhere.
 * Every element takes at least one byte, so a container that claims more
 * elements than bytes remain is malformed; rejecting those bounds what the
 * unpacker allocates by ~24 times the input size. Only headers are read
 * here; decoding values stays with msgpack-c. */
#include "fsm/internal.h"

#include <stdlib.h>
#include <string.h>

#include "base/err.h"

#define MP_DEPTH_LIMIT 64

static uint64_t be(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

int fsm__mp_check(const uint8_t *buf, size_t len, unsigned depth_max)
{
    /* pending[d]: objects still to read at nesting level d. */
    uint64_t pending[MP_DEPTH_LIMIT + 1];
    unsigned depth = 0;
    size_t off = 0;

    if (depth_max > MP_DEPTH_LIMIT)
        depth_max = MP_DEPTH_LIMIT;
    pending[0] = 1;
    /* Each iteration consumes at least one byte, so LEN bounds the loop. */
    while (depth > 0 || pending[0] > 0) {
        if (pending[depth] == 0) {
            depth--;
            continue;
        }
        if (off >= len)
            return -PM_EPROTO;
        pending[depth]--;
        uint8_t t = buf[off++];
        uint64_t skip = 0;    /* payload bytes after the header */
        uint64_t items = 0;   /* child objects (container) */
        int container = 0;
        unsigned hdr = 0;     /* length-field bytes */

        if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3) {
            /* fixint, nil, bool */
        } else if (t >= 0x80 && t <= 0x8f) {
            items = 2u * (t & 0x0f);
            container = 1;
        } else if (t >= 0x90 && t <= 0x9f) {
            items = t & 0x0f;
            container = 1;
        } else if (t >= 0xa0 && t <= 0xbf) {
            skip = t & 0x1f;
        } else {
            switch (t) {
            case 0xc4: case 0xd9: hdr = 1; break;            /* bin8, str8 */
            case 0xc5: case 0xda: hdr = 2; break;            /* bin16, str16 */
            case 0xc6: case 0xdb: hdr = 4; break;            /* bin32, str32 */
            case 0xc7: hdr = 1; skip = 1; break;             /* ext8 (+type) */
            case 0xc8: hdr = 2; skip = 1; break;
            case 0xc9: hdr = 4; skip = 1; break;
            case 0xca: skip = 4; break;                      /* float32 */
            case 0xcb: skip = 8; break;                      /* float64 */
            case 0xcc: case 0xd0: skip = 1; break;
            case 0xcd: case 0xd1: skip = 2; break;
            case 0xce: case 0xd2: skip = 4; break;
            case 0xcf: case 0xd3: skip = 8; break;
            case 0xd4: skip = 2; break;                      /* fixext1 */
            case 0xd5: skip = 3; break;
            case 0xd6: skip = 5; break;
            case 0xd7: skip = 9; break;
            case 0xd8: skip = 17; break;
            case 0xdc: hdr = 2; container = 1; break;        /* array16 */
            case 0xdd: hdr = 4; container = 1; break;        /* array32 */
            case 0xde: hdr = 2; container = 2; break;        /* map16 */
            case 0xdf: hdr = 4; container = 2; break;        /* map32 */
            default: return -PM_EPROTO;                      /* 0xc1 */
            }
            if (hdr) {
                if (len - off < hdr)
                    return -PM_EPROTO;
                uint64_t n = be(buf + off, hdr);
                off += hdr;
                if (container == 1)
                    items = n;
                else if (container == 2)
                    items = 2 * n;
                else
                    skip += n;
            }
        }
        if (skip > len - off)
            return -PM_EPROTO;
        off += (size_t)skip;
        if (container && items > 0) {
            if (items > len - off || depth + 1 > depth_max)
                return -PM_EPROTO;
            pending[++depth] = items;
        }
    }
    return off == len ? 0 : -PM_EPROTO;
}

int fsm__buf_write(void *data, const char *bytes, size_t len)
{
    struct fsm__buf *b = data;
    if (b->oom)
        return -1;
    if (len > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->len < len) {
            if (cap > SIZE_MAX / 2) {
                b->oom = 1;
                return -1;
            }
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return -1;
        }
        b->p = p;
        b->cap = cap;
    }
    if (len)
        memcpy(b->p + b->len, bytes, len);
    b->len += len;
    return 0;
}

void fsm__buf_free(struct fsm__buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}
