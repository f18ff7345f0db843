/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests the helper's seccomp filter in forked children: what the helper does after lockdown still
 * works, execve()/fork()/ptrace()/non-AF_UNIX sockets kill the process with SIGSYS; the front
 * door's filter lets its accept4() and signalfd through, and nothing more of the forbidden. */

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <systemd/sd-id128.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "lockdown.h"
#include "test.h"

/* Runs fn in a child that locked itself down with apply; returns its wait status. */
static int in_child_locked_by(int (*apply)(LockdownMode), LockdownMode mode, int (*fn)(void)) {
        int status;
        pid_t pid;

        pid = fork();
        assert_se(pid >= 0);
        if (pid == 0) {
                if (apply(mode) < 0)
                        _exit(90);
                _exit(fn());
        }
        assert_se(waitpid(pid, &status, 0) == pid);
        return status;
}

static int in_locked_child(LockdownMode mode, int (*fn)(void)) {
        return in_child_locked_by(lockdown_apply, mode, fn);
}

/* The front door's work beyond the helper's: accept4() on its listening socket, a signalfd. */
static int door_work(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int l, c, a, sfd;
        sigset_t mask;

        (void) snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/test-lockdown-%d.sock", (int) getpid());
        l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (l < 0 || bind(l, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(l, 4) < 0)
                return 20;
        c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c < 0 || connect(c, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return 21;
        a = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (a < 0)
                return 22;
        (void) sigemptyset(&mask);
        (void) sigaddset(&mask, SIGTERM);
        sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (sfd < 0)
                return 23;
        (void) unlinkat(AT_FDCWD, sa.sun_path, 0);
        close(sfd), close(a), close(c), close(l);
        return 0;
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

        /* The door's filter: its own work, the helper's too, and the same forbidden calls. */
        status = in_child_locked_by(lockdown_apply_door, LOCKDOWN_KILL, door_work);
        assert_se(WIFEXITED(status));
        assert_int(WEXITSTATUS(status), ==, 0);
        status = in_child_locked_by(lockdown_apply_door, LOCKDOWN_KILL, helper_work);
        assert_se(WIFEXITED(status));
        assert_int(WEXITSTATUS(status), ==, 0);
        for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++)
                assert_killed_by_sigsys(in_child_locked_by(lockdown_apply_door, LOCKDOWN_KILL, forbidden[i]));
        /* accept4() is the door's alone. */
        assert_killed_by_sigsys(in_locked_child(LOCKDOWN_KILL, door_work));

        /* Log mode lets the same call through (and the kernel logs it). */
        status = in_locked_child(LOCKDOWN_LOG, do_inet_socket);
        assert_se(WIFEXITED(status));
        assert_int(WEXITSTATUS(status), ==, 0);
        return 0;
}
