/* util.h: helpers shared by the src/log tests (unit tests, crash test):
 * temporary directories and deterministic entry contents. Header-only so
 * that each test binary stays a single translation unit. */
#ifndef PM_TESTS_LOG_UTIL_H
#define PM_TESTS_LOG_UTIL_H

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/entry.h"
#include "log/log.h"

/* Make a fresh directory under $TMPDIR (or /tmp); returns malloc'd path. */
static inline char *tl_mkdtemp(const char *tag)
{
    const char *tmp = getenv("TMPDIR");
    char buf[512];
    snprintf(buf, sizeof buf, "%s/pmesh-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp",
             tag);
    if (!mkdtemp(buf))
        return NULL;
    return strdup(buf);
}

static inline int tl_rm_one(const char *path, const struct stat *st, int flag,
                            struct FTW *ftw)
{
    (void)st; (void)flag; (void)ftw;
    return remove(path);
}

/* Remove DIR and everything below it (no symlinks followed). */
static inline void tl_rmrf(const char *dir)
{
    if (dir)
        nftw(dir, tl_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Deterministic entry content, a function of the index alone, so a checker
 * can tell what any index must hold: a length in [0, 300] (0 every 97th
 * index), bytes from a small xorshift seeded by the index, term index/50+1,
 * type cycling through the three entry types. */
static inline uint32_t tl_len(uint64_t index)
{
    return index % 97 == 0 ? 0 : (uint32_t)((index * 2654435761u) % 301);
}

static inline uint64_t tl_term(uint64_t index) { return index / 50 + 1; }

static inline uint8_t tl_type(uint64_t index) { return (uint8_t)(index % 3 + 1); }

static inline void tl_fill(uint64_t index, uint8_t *buf, uint32_t len)
{
    uint64_t x = index * 0x9E3779B97F4A7C15ull + 1;
    for (uint32_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (uint8_t)x;
    }
}

/* Build entries [lo, lo+n) into E using BUF (>= n * 301 bytes). */
/* The whole file at PATH in a malloc'd buffer (*LEN bytes); NULL on any
 * failure. */
static inline uint8_t *tl_slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    uint8_t *b = NULL;
    if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size > 0 &&
        (b = malloc((size_t)st.st_size)) != NULL &&
        pread(fd, b, (size_t)st.st_size, 0) != st.st_size) {
        free(b);
        b = NULL;
    }
    if (fd >= 0)
        close(fd);
    if (b != NULL)
        *len = (size_t)st.st_size;
    return b;
}

static inline void tl_make(uint64_t lo, size_t n, struct pm_entry *e,
                           uint8_t *buf)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t idx = lo + i;
        e[i].index = idx;
        e[i].term = tl_term(idx);
        e[i].type = tl_type(idx);
        e[i].len = tl_len(idx);
        e[i].data = buf;
        tl_fill(idx, buf, e[i].len);
        buf += e[i].len;
    }
}

/* 1 if E is exactly what tl_make produces for its index. */
static inline int tl_check(const struct pm_entry *e)
{
    uint8_t want[301];
    if (e->term != tl_term(e->index) || e->type != tl_type(e->index) ||
        e->len != tl_len(e->index))
        return 0;
    tl_fill(e->index, want, e->len);
    return e->len == 0 ? e->data == NULL : memcmp(e->data, want, e->len) == 0;
}

#endif
