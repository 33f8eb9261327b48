/* seedurl.h: the seed URL that lets a server join a mesh, and the
 * "host:port" addresses it is made of.
 *
 *   pmtp://SECRET@host1:port1,host2:port2
 *
 * SECRET is the 32-byte mesh secret in URL-safe base64 without padding
 * (libsodium's sodium_base64_VARIANT_URLSAFE_NO_PADDING: 43 characters).
 * Each host is a DNS name (RFC 1123 labels), a dotted IPv4 address or an
 * IPv6 address in brackets ("[::1]:8443"). At most PM_SEED_HOSTS_MAX hosts.
 *
 * Parsing is strict: every defect gets -PM_EINVAL and one short phrase
 * naming it (never the secret), so the CLI can print
 * "pmesh: setup join: seed URL: host 2: port out of range 1-65535".
 * A URL that parses formats back to exactly the same text: the secret and
 * the ports have a single accepted spelling (canonical base64, no leading
 * zeros) and hosts are kept as written.
 *
 * Everything here is pure: no I/O, no allocation, no global state; buffers
 * are the caller's.
 */
#ifndef PM_SEEDURL_H
#define PM_SEEDURL_H

#include <stddef.h>
#include <stdint.h>

#define PM_SEED_SECRET_BYTES 32
/* Text length of the secret: ceil(32 * 8 / 6) = 43 characters. */
#define PM_SEED_SECRET_TEXT_LEN 43
#define PM_SEED_HOSTS_MAX 16
/* Longest host (a DNS name, RFC 1035 §2.3.4), without brackets. */
#define PM_HOST_LEN_MAX 253
/* Longest "host:port" text: "[" host "]:" 5 digits, plus the NUL. */
#define PM_HOSTPORT_TEXT_MAX (PM_HOST_LEN_MAX + 2 + 1 + 5 + 1)
/* Longest seed URL text, plus the NUL. */
#define PM_SEEDURL_TEXT_MAX                                                  \
    (7 + PM_SEED_SECRET_TEXT_LEN + 1 +                                       \
     PM_SEED_HOSTS_MAX * PM_HOSTPORT_TEXT_MAX)
/* A buffer for the parse error phrase that always fits. */
#define PM_SEEDURL_WHY_LEN 128

enum pm_host_kind {
    PM_HOST_NAME = 1, /* DNS name */
    PM_HOST_IPV4 = 2,
    PM_HOST_IPV6 = 3, /* written in brackets inside host:port text */
};

struct pm_hostport {
    char host[PM_HOST_LEN_MAX + 1]; /* NUL-terminated, no brackets */
    uint8_t kind;                   /* enum pm_host_kind */
    uint16_t port;                  /* 1..65535 */
};

struct pm_seedurl {
    uint8_t secret[PM_SEED_SECRET_BYTES];
    uint32_t n_hosts; /* 1..PM_SEED_HOSTS_MAX */
    struct pm_hostport hosts[PM_SEED_HOSTS_MAX];
};

/* Parse the LEN bytes at TEXT as one "host:port". Accepts the unspecified
 * addresses 0.0.0.0 and [::] (listen addresses need them); callers that
 * will dial the address reject them with pm_host_is_unspecified().
 * Returns 0 and fills *OUT, or -PM_EINVAL and, if WHY is not NULL, a
 * phrase in WHY (WHY_LEN bytes, NUL-terminated, truncated to fit). */
int pm_hostport_parse(const char *text, size_t len, struct pm_hostport *out,
                      char *why, size_t why_len);

/* Parse a port number: decimal digits only, no sign, no leading zero,
 * 1..65535. Returns 0 and sets *PORT, or -PM_EINVAL / -PM_ERANGE. */
int pm_port_parse(const char *text, size_t len, uint16_t *port);

/* Format HP as "host:port" or "[v6]:port" into BUF (BUF_LEN bytes).
 * Returns the text length, or -PM_ETOOBIG if it does not fit. */
int pm_hostport_format(const struct pm_hostport *hp, char *buf,
                       size_t buf_len);

/* 1 if HP is 0.0.0.0 or [::] (cannot be dialled), else 0. */
int pm_host_is_unspecified(const struct pm_hostport *hp);

/* Parse a NUL-terminated seed URL. The unspecified addresses are
 * rejected (nobody can dial them). Returns 0 and fills *OUT, or -PM_EINVAL
 * and a phrase in WHY as for pm_hostport_parse. On failure *OUT holds no
 * secret bytes (it is wiped). */
int pm_seedurl_parse(const char *text, struct pm_seedurl *out, char *why,
                     size_t why_len);

/* Format U into BUF (BUF_LEN bytes; PM_SEEDURL_TEXT_MAX always fits).
 * Returns the text length, -PM_EINVAL if U has no or too many hosts, or
 * -PM_ETOOBIG if BUF is too small. */
int pm_seedurl_format(const struct pm_seedurl *u, char *buf, size_t buf_len);

/* The secret alone, as in the URL (what `setup seed --secret` takes).
 * Parse: exactly PM_SEED_SECRET_TEXT_LEN canonical characters decoding to
 * PM_SEED_SECRET_BYTES bytes, else -PM_EINVAL with a phrase in WHY.
 * Format: BUF_LEN must be > PM_SEED_SECRET_TEXT_LEN, else -PM_ETOOBIG;
 * returns the text length. */
int pm_seed_secret_parse(const char *text, size_t len,
                         uint8_t secret[PM_SEED_SECRET_BYTES], char *why,
                         size_t why_len);
int pm_seed_secret_format(const uint8_t secret[PM_SEED_SECRET_BYTES],
                          char *buf, size_t buf_len);

#endif
