/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests the helper's seccomp filter in forked children: what the helper does after lockdown still
 * works, execve()/fork()/ptrace()/non-AF_UNIX sockets kill the process with SIGSYS. */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <systemd/sd-id128.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "lockdown.h"
#include "test.h"

/* Runs fn in a child that locked itself down; returns its wait status. */
static int in_locked_child(LockdownMode mode, int (*fn)(void)) {
        int status;
        pid_t pid;

        pid = fork();
        assert_se(pid >= 0);
        if (pid == 0) {
                if (lockdown_apply(mode) < 0)
                        _exit(90);
                _exit(fn());
        }
        assert_se(waitpid(pid, &status, 0) == pid);
        return status;
}

static int helper_work(void) {
        char buf[64];
        int p[2], fd;
        sd_id128_t id;

        /* The relay's pipes, a job slot file, /proc/self, a job id, the journal. */
        if (pipe2(p, O_CLOEXEC) < 0 || fcntl(p[0], F_SETFL, O_NONBLOCK) < 0)
                return 1;
        if (write(p[1], "x", 1) != 1 || read(p[0], buf, sizeof(buf)) != 1)
                return 2;
        fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
        if (fd < 0 || read(fd, buf, sizeof(buf)) <= 0)
                return 3;
        close(fd);
        if (sd_id128_randomize(&id) < 0)
                return 4;
        (void) sd_journal_send("MESSAGE=test-lockdown: journal after lockdown", "PRIORITY=7", NULL);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return 5;
        close(fd);
        free(malloc(1 << 20));
        usleep(1000);
        return 0;
}

static int do_execve(void) {
        char *const argv[] = { (char *) "true", NULL };

        execve("/bin/true", argv, argv + 1);
        return 10;
}

static int do_fork(void) {
        return syscall(SYS_fork) < 0 ? 11 : 0;
}

static int do_ptrace(void) {
        return ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0 ? 12 : 0;
}

static int do_inet_socket(void) {
        return socket(AF_INET, SOCK_STREAM, 0) < 0 ? 13 : 0;
}

static int do_setuid(void) {
        return syscall(SYS_setuid, 0) < 0 ? 14 : 0;
}

static int do_debug_hook(void) {
        return lockdown_debug_forbidden_syscall() < 0 ? 15 : 0;
}

static void assert_killed_by_sigsys(int status) {
        if (!WIFSIGNALED(status))
                fprintf(stderr, "child exited %d instead of dying of SIGSYS\n", WEXITSTATUS(status));
        assert_se(WIFSIGNALED(status));
        assert_int(WTERMSIG(status), ==, SIGSYS);
}

int main(void) {
        int (*forbidden[])(
                void) = { do_execve, do_fork, do_ptrace, do_inet_socket, do_setuid, do_debug_hook };
        int status;

        /* Under valgrind the child's syscalls are valgrind's own: nothing to learn there. */
        if (getenv("LD_PRELOAD") && strstr(getenv("LD_PRELOAD"), "vgpreload"))
                return EXIT_TEST_SKIP;

        status = in_locked_child(LOCKDOWN_KILL, helper_work);
        assert_se(WIFEXITED(status));
        assert_int(WEXITSTATUS(status), ==, 0);

        for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++)
                assert_killed_by_sigsys(in_locked_child(LOCKDOWN_KILL, forbidden[i]));

        /* Log mode lets the same call through (and the kernel logs it). */
        status = in_locked_child(LOCKDOWN_LOG, do_inet_socket);
        assert_se(WIFEXITED(status));
        assert_int(WEXITSTATUS(status), ==, 0);
        return 0;
}
