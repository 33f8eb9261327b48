/* say.c: timestamped diagnostic lines (see say.h). */
#include "base/say.h"
#include "base/err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int say_fd = -1;              /* -1: stderr */
static enum pm_level say_min = PM_INFO;
static int say_env_read;

int pm_say_open(const char *path)
{
    if (path == NULL) {
        if (say_fd >= 0)
            close(say_fd);
        say_fd = -1;
        return 0;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return pm_from_errno(errno);
    if (say_fd >= 0)
        close(say_fd);
    say_fd = fd;
    return 0;
}

void pm_say_level(enum pm_level level) { say_min = level; say_env_read = 1; }

void pm_say(enum pm_level level, const char *component, const char *fmt, ...)
{
    static const char *const names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
    if (!say_env_read) {
        const char *d = getenv("PMESH_DEBUG");
        if (d && *d && strcmp(d, "0") != 0)
            say_min = PM_DEBUG;
        say_env_read = 1;
    }
    if (level < say_min)
        return;
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, names[level & 3],
                     component);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    /* One write() per line so concurrent writers do not interleave. */
    ssize_t w = write(say_fd >= 0 ? say_fd : 2, line, len);
    (void)w;
}
