/* addr.c: "host:port" text to socket addresses (getaddrinfo), and back for
 * log lines. */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "base/err.h"
#include "net/internal.h"

/* Split HOST_PORT into HOST (brackets removed) and PORT text. Only the
 * shape is checked here; getaddrinfo judges the host. */
static int split(const char *host_port, char *host, size_t host_len,
                 char *port, size_t port_len)
{
    if (host_port == NULL)
        return -PM_EINVAL;
    size_t n = strnlen(host_port, NADDR_TEXT_MAX + 1);
    if (n == 0 || n > NADDR_TEXT_MAX)
        return -PM_EINVAL;
    const char *h = host_port, *colon;
    size_t hl;
    if (h[0] == '[') {
        const char *close = strchr(h, ']');
        if (close == NULL || close[1] != ':')
            return -PM_EINVAL;
        h++;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(h, ':');
        if (colon == NULL || memchr(h, ':', (size_t)(colon - h)) != NULL)
            return -PM_EINVAL; /* bare IPv6 needs brackets */
        hl = (size_t)(colon - h);
    }
    const char *p = colon + 1;
    size_t pl = strlen(p);
    if (hl == 0 || hl >= host_len || pl == 0 || pl >= port_len || pl > 5)
        return -PM_EINVAL;
    unsigned long v = 0;
    for (size_t i = 0; i < pl; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -PM_EINVAL;
        v = v * 10 + (unsigned long)(p[i] - '0');
    }
    if (v > 65535)
        return -PM_EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    memcpy(port, p, pl + 1);
    return 0;
}

int naddr_check(const char *host_port)
{
    char host[NADDR_TEXT_MAX + 1], port[8];
    int rc = split(host_port, host, sizeof host, port, sizeof port);
    if (rc == 0 && strcmp(port, "0") == 0)
        rc = -PM_EINVAL;
    return rc;
}

int naddr_resolve(const char *host_port, int passive,
                  struct sockaddr_storage *sa, socklen_t *salen)
{
    char host[NADDR_TEXT_MAX + 1], port[8];
    int rc = split(host_port, host, sizeof host, port, sizeof port);
    if (rc < 0)
        return rc;
    if (!passive && strcmp(port, "0") == 0)
        return -PM_EINVAL;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    if (getaddrinfo(host, port, &hints, &res) != 0 || res == NULL)
        return -PM_EINVAL;
    if (res->ai_addrlen > sizeof *sa) {
        freeaddrinfo(res);
        return -PM_EINVAL;
    }
    memcpy(sa, res->ai_addr, res->ai_addrlen);
    *salen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

void naddr_format(const struct sockaddr *sa, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        snprintf(buf, len, "%s:%u", ip, ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
        snprintf(buf, len, "[%s]:%u", ip, ntohs(in6->sin6_port));
    } else {
        snprintf(buf, len, "local");
    }
}
