/* say.h: diagnostic log lines: "2026-11-26T10:30:00.123Z INFO  raft: text".
 *
 * Not to be confused with src/log, which is the replicated Raft log. Lines go
 * to stderr unless pm_say_open() points them at a file. Never log secrets.
 */
#ifndef PM_SAY_H
#define PM_SAY_H

enum pm_level { PM_DEBUG = 0, PM_INFO = 1, PM_WARN = 2, PM_ERROR = 3 };

/* Send lines to PATH (appended, mode 0600); NULL returns to stderr. */
int pm_say_open(const char *path);
/* Lines below LEVEL are dropped (default PM_INFO; PMESH_DEBUG=1 -> DEBUG). */
void pm_say_level(enum pm_level level);
void pm_say(enum pm_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
