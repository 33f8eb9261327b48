/* seedurl.c: parse and format seed URLs and host:port addresses (see
 * seedurl.h). Untrusted text comes in here (command lines, pasted URLs,
 * identity files), so every branch ends in either a typed value or one
 * named defect. */
#include "base/seedurl.h"
#include "base/err.h"

#include <arpa/inet.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define SCHEME "pmtp://"
#define SCHEME_LEN 7

static void why_set(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void why_set(char *why, size_t why_len, const char *fmt, ...)
{
    if (why == NULL || why_len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
}

/* A character as a reader can see it in a message: printable ASCII
 * quoted, anything else as a hex byte. */
static void char_show(unsigned char c, char out[8])
{
    if (c >= 0x21 && c < 0x7f)
        snprintf(out, 8, "'%c'", c);
    else
        snprintf(out, 8, "0x%02x", c);
}

int pm_port_parse(const char *text, size_t len, uint16_t *port)
{
    if (len == 0)
        return -PM_EINVAL;
    for (size_t i = 0; i < len; i++)
        if (text[i] < '0' || text[i] > '9')
            return -PM_EINVAL;
    if (len > 5)
        return -PM_ERANGE;
    if (text[0] == '0')
        return len == 1 ? -PM_ERANGE : -PM_EINVAL;
    uint32_t v = 0;
    for (size_t i = 0; i < len; i++)
        v = v * 10 + (uint32_t)(text[i] - '0');
    if (v > 65535)
        return -PM_ERANGE;
    *port = (uint16_t)v;
    return 0;
}

static int port_parse_why(const char *text, size_t len, uint16_t *port,
                          char *why, size_t why_len)
{
    int rc = pm_port_parse(text, len, port);
    if (rc == 0)
        return 0;
    if (len == 0)
        why_set(why, why_len, "missing port after ':'");
    else if (rc == -PM_ERANGE)
        why_set(why, why_len, "port out of range 1-65535");
    else if (text[0] == '0')
        why_set(why, why_len, "port has a leading zero");
    else
        why_set(why, why_len, "port must be decimal digits");
    return -PM_EINVAL;
}

/* RFC 1123 host name: dot-separated labels of letters, digits and '-',
 * 1-63 characters, not starting or ending with '-'. */
static int name_check(const char *h, size_t len, char *why, size_t why_len)
{
    size_t label = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || h[i] == '.') {
            if (label == 0) {
                why_set(why, why_len, "empty label in host name");
                return -PM_EINVAL;
            }
            if (h[i - 1] == '-' || h[i - label] == '-') {
                why_set(why, why_len,
                        "host name label starts or ends with '-'");
                return -PM_EINVAL;
            }
            label = 0;
            continue;
        }
        unsigned char c = (unsigned char)h[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9') || c == '-';
        if (!ok) {
            char shown[8];
            char_show(c, shown);
            why_set(why, why_len, "invalid character %s in host name",
                    shown);
            return -PM_EINVAL;
        }
        if (++label > 63) {
            why_set(why, why_len,
                    "host name label longer than 63 characters");
            return -PM_EINVAL;
        }
    }
    return 0;
}

int pm_hostport_parse(const char *text, size_t len, struct pm_hostport *out,
                      char *why, size_t why_len)
{
    const char *host;
    size_t host_len;
    const char *port;
    size_t port_len;
    uint8_t kind;

    if (len == 0) {
        why_set(why, why_len, "empty address");
        return -PM_EINVAL;
    }
    /* A NUL inside the given length would cut the text short for the C
     * string functions below (inet_pton) and break the round trip. */
    if (memchr(text, 0, len) != NULL) {
        why_set(why, why_len, "invalid character 0x00");
        return -PM_EINVAL;
    }
    if (text[0] == '[') {
        const char *close = memchr(text, ']', len);
        if (close == NULL) {
            why_set(why, why_len, "unterminated '[' in IPv6 address");
            return -PM_EINVAL;
        }
        host = text + 1;
        host_len = (size_t)(close - host);
        size_t rest = len - (size_t)(close + 1 - text);
        if (rest == 0 || close[1] != ':') {
            why_set(why, why_len, "missing ':PORT' after ']'");
            return -PM_EINVAL;
        }
        port = close + 2;
        port_len = rest - 1;
        if (host_len == 0) {
            why_set(why, why_len, "empty IPv6 address");
            return -PM_EINVAL;
        }
        if (memchr(host, '%', host_len) != NULL) {
            why_set(why, why_len, "IPv6 zone ids are not supported");
            return -PM_EINVAL;
        }
        char buf[INET6_ADDRSTRLEN];
        struct in6_addr a6;
        if (host_len >= sizeof buf) {
            why_set(why, why_len, "invalid IPv6 address");
            return -PM_EINVAL;
        }
        memcpy(buf, host, host_len);
        buf[host_len] = 0;
        if (inet_pton(AF_INET6, buf, &a6) != 1) {
            why_set(why, why_len, "invalid IPv6 address");
            return -PM_EINVAL;
        }
        kind = PM_HOST_IPV6;
    } else {
        const char *colon = memchr(text, ':', len);
        if (colon == NULL) {
            why_set(why, why_len, "missing ':PORT'");
            return -PM_EINVAL;
        }
        host = text;
        host_len = (size_t)(colon - text);
        port = colon + 1;
        port_len = len - host_len - 1;
        /* Two colons and nothing but hex digits, dots and colons: a bare
         * IPv6 address, which would be ambiguous with the port. */
        size_t v6ish = 0;
        while (v6ish < len && text[v6ish] != 0 &&
               strchr("0123456789abcdefABCDEF:.", text[v6ish]))
            v6ish++;
        if (memchr(port, ':', port_len) != NULL && v6ish == len) {
            why_set(why, why_len,
                    "IPv6 address must be in brackets, e.g. [::1]:8443");
            return -PM_EINVAL;
        }
        if (host_len == 0) {
            why_set(why, why_len, "missing host before ':'");
            return -PM_EINVAL;
        }
        if (host_len > PM_HOST_LEN_MAX) {
            why_set(why, why_len, "host longer than %d characters",
                    PM_HOST_LEN_MAX);
            return -PM_EINVAL;
        }
        size_t digits_dots = 0;
        for (size_t i = 0; i < host_len; i++)
            if ((host[i] >= '0' && host[i] <= '9') || host[i] == '.')
                digits_dots++;
        if (digits_dots == host_len) {
            /* All digits and dots: only a dotted-quad IPv4 makes sense
             * (glibc's inet_pton also refuses leading zeros). */
            char buf[INET_ADDRSTRLEN];
            struct in_addr a4;
            int ok = host_len < sizeof buf;
            if (ok) {
                memcpy(buf, host, host_len);
                buf[host_len] = 0;
                ok = inet_pton(AF_INET, buf, &a4) == 1;
            }
            if (!ok) {
                why_set(why, why_len, "invalid IPv4 address");
                return -PM_EINVAL;
            }
            kind = PM_HOST_IPV4;
        } else {
            if (name_check(host, host_len, why, why_len) != 0)
                return -PM_EINVAL;
            kind = PM_HOST_NAME;
        }
    }
    uint16_t p;
    if (port_parse_why(port, port_len, &p, why, why_len) != 0)
        return -PM_EINVAL;
    memcpy(out->host, host, host_len);
    out->host[host_len] = 0;
    out->kind = kind;
    out->port = p;
    return 0;
}

int pm_hostport_format(const struct pm_hostport *hp, char *buf,
                       size_t buf_len)
{
    int v6 = hp->kind == PM_HOST_IPV6 || strchr(hp->host, ':') != NULL;
    int n = snprintf(buf, buf_len, v6 ? "[%s]:%u" : "%s:%u", hp->host,
                     (unsigned)hp->port);
    if (n < 0 || (size_t)n >= buf_len)
        return -PM_ETOOBIG;
    return n;
}

int pm_host_is_unspecified(const struct pm_hostport *hp)
{
    if (hp->kind == PM_HOST_IPV4)
        return strcmp(hp->host, "0.0.0.0") == 0;
    if (hp->kind == PM_HOST_IPV6) {
        struct in6_addr a6;
        return inet_pton(AF_INET6, hp->host, &a6) == 1 &&
               IN6_IS_ADDR_UNSPECIFIED(&a6);
    }
    return 0;
}

int pm_seed_secret_parse(const char *text, size_t len,
                         uint8_t secret[PM_SEED_SECRET_BYTES], char *why,
                         size_t why_len)
{
    if (len != PM_SEED_SECRET_TEXT_LEN) {
        why_set(why, why_len,
                "secret must be %d base64url characters (%d bytes), not %zu",
                PM_SEED_SECRET_TEXT_LEN, PM_SEED_SECRET_BYTES, len);
        return -PM_EINVAL;
    }
    size_t bin_len = 0;
    const char *end = NULL;
    int rc = sodium_base642bin(secret, PM_SEED_SECRET_BYTES, text, len, NULL,
                               &bin_len, &end,
                               sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    /* Re-encoding must give back the same text: this refuses non-zero
     * spare bits in the last character, so each secret has one spelling
     * and the URL round-trips byte for byte. */
    char again[PM_SEED_SECRET_TEXT_LEN + 1];
    if (rc == 0 && end == text + len && bin_len == PM_SEED_SECRET_BYTES) {
        sodium_bin2base64(again, sizeof again, secret, PM_SEED_SECRET_BYTES,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        if (memcmp(again, text, len) == 0) {
            sodium_memzero(again, sizeof again);
            return 0;
        }
    }
    sodium_memzero(again, sizeof again);
    sodium_memzero(secret, PM_SEED_SECRET_BYTES);
    why_set(why, why_len, "secret is not canonical base64url (A-Z a-z 0-9 - _)");
    return -PM_EINVAL;
}

int pm_seed_secret_format(const uint8_t secret[PM_SEED_SECRET_BYTES],
                          char *buf, size_t buf_len)
{
    if (buf_len < PM_SEED_SECRET_TEXT_LEN + 1)
        return -PM_ETOOBIG;
    sodium_bin2base64(buf, buf_len, secret, PM_SEED_SECRET_BYTES,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return PM_SEED_SECRET_TEXT_LEN;
}

static int seedurl_hosts(const char *p, size_t len, struct pm_seedurl *out,
                         char *why, size_t why_len)
{
    if (len == 0) {
        why_set(why, why_len, "no host after '@'");
        return -PM_EINVAL;
    }
    out->n_hosts = 0;
    /* Bounded: one iteration per comma-separated host, at most
     * PM_SEED_HOSTS_MAX + 1 before the count check stops it. */
    size_t at = 0;
    for (;;) {
        const char *comma = memchr(p + at, ',', len - at);
        size_t end = comma ? (size_t)(comma - p) : len;
        uint32_t n = out->n_hosts + 1;
        if (n > PM_SEED_HOSTS_MAX) {
            why_set(why, why_len, "more than %d hosts", PM_SEED_HOSTS_MAX);
            return -PM_EINVAL;
        }
        char sub[PM_SEEDURL_WHY_LEN];
        struct pm_hostport *hp = &out->hosts[n - 1];
        if (end == at) {
            why_set(why, why_len, "host %u: empty", n);
            return -PM_EINVAL;
        }
        if (pm_hostport_parse(p + at, end - at, hp, sub, sizeof sub) != 0) {
            why_set(why, why_len, "host %u: %s", n, sub);
            return -PM_EINVAL;
        }
        if (pm_host_is_unspecified(hp)) {
            why_set(why, why_len,
                    "host %u: %s cannot be dialled; use a routable address",
                    n, hp->host);
            return -PM_EINVAL;
        }
        for (uint32_t i = 0; i + 1 < n; i++)
            if (out->hosts[i].port == hp->port &&
                strcmp(out->hosts[i].host, hp->host) == 0) {
                why_set(why, why_len, "host %u: same as host %u", n, i + 1);
                return -PM_EINVAL;
            }
        out->n_hosts = n;
        if (comma == NULL)
            return 0;
        at = end + 1;
    }
}

int pm_seedurl_parse(const char *text, struct pm_seedurl *out, char *why,
                     size_t why_len)
{
    size_t len = strnlen(text, PM_SEEDURL_TEXT_MAX);
    int rc = -PM_EINVAL;

    memset(out, 0, sizeof *out);
    if (len == 0) {
        why_set(why, why_len, "empty seed URL");
        return -PM_EINVAL;
    }
    if (len >= PM_SEEDURL_TEXT_MAX) {
        why_set(why, why_len, "longer than %d characters",
                PM_SEEDURL_TEXT_MAX - 1);
        return -PM_EINVAL;
    }
    if (strncmp(text, SCHEME, SCHEME_LEN) != 0) {
        const char *sep = strstr(text, "://");
        if (sep != NULL)
            why_set(why, why_len, "scheme must be 'pmtp://'");
        else
            why_set(why, why_len, "must start with 'pmtp://'");
        return -PM_EINVAL;
    }
    const char *s = text + SCHEME_LEN;
    const char *at = strchr(s, '@');
    if (at == NULL) {
        why_set(why, why_len, "missing 'SECRET@' before the hosts");
        return -PM_EINVAL;
    }
    if (at == s) {
        why_set(why, why_len, "empty secret before '@'");
        return -PM_EINVAL;
    }
    rc = pm_seed_secret_parse(s, (size_t)(at - s), out->secret, why, why_len);
    if (rc != 0)
        goto fail;
    rc = seedurl_hosts(at + 1, len - (size_t)(at + 1 - text), out, why,
                       why_len);
    if (rc != 0)
        goto fail;
    return 0;
fail:
    sodium_memzero(out, sizeof *out);
    return -PM_EINVAL;
}

int pm_seedurl_format(const struct pm_seedurl *u, char *buf, size_t buf_len)
{
    if (u->n_hosts == 0 || u->n_hosts > PM_SEED_HOSTS_MAX)
        return -PM_EINVAL;
    char text[PM_SEEDURL_TEXT_MAX];
    size_t n = 0;
    memcpy(text, SCHEME, SCHEME_LEN);
    n = SCHEME_LEN;
    n += (size_t)pm_seed_secret_format(u->secret, text + n, sizeof text - n);
    text[n++] = '@';
    for (uint32_t i = 0; i < u->n_hosts; i++) {
        if (i > 0)
            text[n++] = ',';
        int m = pm_hostport_format(&u->hosts[i], text + n, sizeof text - n);
        if (m < 0) {
            sodium_memzero(text, sizeof text);
            return -PM_EINVAL;
        }
        n += (size_t)m;
    }
    int rc;
    if (n + 1 > buf_len) {
        rc = -PM_ETOOBIG;
    } else {
        memcpy(buf, text, n + 1);
        rc = (int)n;
    }
    sodium_memzero(text, sizeof text);
    return rc;
}
