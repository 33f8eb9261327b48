/* codec.c: the byte layout of stored entries, meta records and FSM state
 * records, and the CRC32C that guards all three (layout in log_impl.h). */
#include <isa-l/crc.h>
#include <limits.h>
#include <string.h>

#include "base/err.h"
#include "log/log_impl.h"

/* ISA-L's crc32_iscsi() is the raw CRC32C register update: it neither
 * pre-inverts nor post-inverts. The standard CRC32C (RFC 3720, check value
 * crc32c("123456789") = 0xE3069283) starts the register at all ones and
 * inverts the result, which log__crc_begin/log__crc_end supply. The int
 * length parameter forces chunking for buffers over INT_MAX. */
uint32_t log__crc_add(uint32_t state, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    while (len > 0) {
        int chunk = len > (size_t)INT_MAX ? INT_MAX : (int)len;
        state = crc32_iscsi((unsigned char *)p, chunk, state);
        p += chunk;
        len -= (size_t)chunk;
    }
    return state;
}

uint32_t log_crc32c(const void *buf, size_t len)
{
    return log__crc_end(log__crc_add(log__crc_begin(), buf, len));
}

static uint32_t entry_crc(uint64_t index, const uint8_t *val, size_t val_len)
{
    uint8_t key[LOG__KEY_BYTES];
    log__put_be64(key, index);
    uint32_t s = log__crc_add(log__crc_begin(), key, sizeof key);
    s = log__crc_add(s, val + 4, val_len - 4);
    return log__crc_end(s);
}

void log__entry_encode(const struct pm_entry *e, uint8_t *val)
{
    val[4] = e->type;
    val[5] = val[6] = val[7] = 0;
    log__put_be64(val + 8, e->term);
    if (e->len > 0)
        memcpy(val + LOG__HDR_BYTES, e->data, e->len);
    log__put_be32(val, entry_crc(e->index, val, LOG__HDR_BYTES + (size_t)e->len));
}

int log__entry_decode(uint64_t index, const void *val, size_t val_len,
                      uint64_t *term, uint8_t *type, const uint8_t **payload,
                      uint32_t *len)
{
    const uint8_t *v = val;
    if (val_len < LOG__HDR_BYTES || val_len - LOG__HDR_BYTES > UINT32_MAX)
        return -PM_ECORRUPT;
    if (log__get_be32(v) != entry_crc(index, v, val_len))
        return -PM_ECORRUPT;
    *type = v[4];
    *term = log__get_be64(v + 8);
    *payload = v + LOG__HDR_BYTES;
    *len = (uint32_t)(val_len - LOG__HDR_BYTES);
    return 0;
}

static uint32_t meta_crc(const char *name, const uint8_t *body, size_t len)
{
    uint32_t s = log__crc_add(log__crc_begin(), name, strlen(name));
    s = log__crc_add(s, body, len);
    return log__crc_end(s);
}

void log__meta_seal(const char *name, uint8_t *rec, size_t body_len)
{
    log__put_be32(rec, meta_crc(name, rec + LOG__META_CRC_BYTES, body_len));
}

int log__meta_decode(const char *name, const void *val, size_t val_len,
                     const uint8_t **body, size_t *body_len)
{
    const uint8_t *v = val;
    if (val_len < LOG__META_CRC_BYTES)
        return -PM_ECORRUPT;
    size_t len = val_len - LOG__META_CRC_BYTES;
    if (log__get_be32(v) != meta_crc(name, v + LOG__META_CRC_BYTES, len))
        return -PM_ECORRUPT;
    *body = v + LOG__META_CRC_BYTES;
    *body_len = len;
    return 0;
}

const char *log__meta_known(const void *key, size_t key_len, size_t *size)
{
    static const struct {
        const char *name;
        size_t size;
    } kinds[] = {{"format", 4}, {"hard", 24}, {"base", 16}, {"applied", 8},
                 {"snap", 0}, {"journal", 8}};
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
        if (key_len == strlen(kinds[i].name) &&
            memcmp(key, kinds[i].name, key_len) == 0) {
            *size = kinds[i].size;
            return kinds[i].name;
        }
    }
    return NULL;
}

/* The key is covered too: a value that ends up under another key (a damaged
 * page's pointers) must fail as surely as a flipped value byte. */
static uint32_t state_crc(const void *key, size_t key_len, const uint8_t *val,
                          size_t val_len)
{
    uint32_t s = log__crc_add(log__crc_begin(), key, key_len);
    s = log__crc_add(s, val, val_len);
    return log__crc_end(s);
}

void log__state_seal(const void *key, size_t key_len, uint8_t *rec,
                     size_t val_len)
{
    log__put_be32(rec, state_crc(key, key_len, rec + LOG__STATE_CRC_BYTES,
                                 val_len));
}

int log__state_decode(const void *key, size_t key_len, const void *rec,
                      size_t rec_len, const uint8_t **val, size_t *val_len)
{
    const uint8_t *r = rec;
    if (rec_len < LOG__STATE_CRC_BYTES ||
        rec_len - LOG__STATE_CRC_BYTES > UINT32_MAX)
        return -PM_ECORRUPT;
    size_t len = rec_len - LOG__STATE_CRC_BYTES;
    if (log__get_be32(r) != state_crc(key, key_len, r + LOG__STATE_CRC_BYTES,
                                      len))
        return -PM_ECORRUPT;
    *val = r + LOG__STATE_CRC_BYTES;
    *val_len = len;
    return 0;
}
