/* child.c: what the node's forked workers share (compact.c saves the state
 * for a compaction, files.c writes a large settings.json): each works on
 * the copy-on-write image of the state the fork gave it, while the loop
 * goes on. */
#include "node/node_int.h"

#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

void node_child_setup(pid_t parent, const char *name)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    prctl(PR_SET_NAME, name, 0, 0, 0);
    if (getppid() != parent)
        _exit(3); /* the node died before the line above */
    /* Not the loop's: libev's handlers would only write to its pipe. */
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* Hold no listener, socket, lock or store descriptor of the node: a
     * restarted node must be able to bind and lock while we finish. */
    if (close_range(3, ~0u, 0) != 0)
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
    /* Yield the CPU and the disk to the node (and to the other nodes of a
     * mesh sharing the machine, which compact at the same indexes): the
     * loop's work is latency, this is not. Best-effort I/O at the lowest
     * level (class 2 in the top bits, level 7), not the idle class, which
     * a node that syncs all the time could starve for good; ioprio_set has
     * no libc wrapper. Failures change nothing but the speed. */
    (void)setpriority(PRIO_PROCESS, 0, 19);
    (void)syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0,
                  (2 << 13) | 7);
}

void node_child_kill(pid_t pid)
{
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}
