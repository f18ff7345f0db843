/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The door (door.h): per-UID connection shares, taken right after SO_PEERCRED with the same
 * flock()ed slot files as the job slots (policy.c), and the refusal of a connection over its share. */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "door.h"
#include "log.h"
#include "policy.h"

uint64_t door_share(const char *config_root) {
        return door_share_load(config_root, NULL);
}

uint64_t door_share_load(const char *config_root, char **ret_errors) {
        _cleanup_(config_freep) Config *c = NULL;

        /* Read afresh, as the connection does: an edit applies to the next connection. The
         * configuration is small, and loading it is not measurable next to the activation the
         * connection already cost systemd (README, security model). */
        if (config_load(config_root, &c, ret_errors) < 0)
                return CONNECTIONS_PER_JOB * 8U; /* JobsPerUser='s built-in default */
        return c->connections_per_uid;
}

/* Writes one RESULT frame without blocking: the connection is fresh, so its send buffer is empty
 * and a record this small fits; a peer that arranged otherwise loses the verdict, nothing else. */
int door_send_result(int fd, JobStatus status, const char *message) {
        _cleanup_(buffer_done) Buffer b = {};
        JobResult r = {
                .status = status,
                .exit_code = -1,
                .wall_ms = RESULT_UNSET,
                .cpu_ms = RESULT_UNSET,
                .memory_peak_bytes = RESULT_UNSET,
                .message = (char *) message,
        };
        ssize_t n;
        int q;

        q = job_result_append(&b, &r);
        if (q < 0)
                return q;
        n = send(fd, b.data, b.size, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0)
                return -errno;
        return (size_t) n == b.size ? 0 : -EAGAIN;
}

/* After the RESULT: a peer that already sent something gets DOOR_LINGER_MSEC to read the verdict
 * and close; its bytes are discarded. Closing with them unread would turn the peer's next recv()
 * into ECONNRESET, before it read the RESULT. */
static void door_linger(int fd) {
        uint8_t buf[64 * 1024];
        size_t total = 0;
        struct timespec start, now;
        ssize_t n;

        n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n <= 0)
                return; /* nothing sent (an idle flood) or already gone: close at once */
        (void) shutdown(fd, SHUT_WR);
        (void) clock_gettime(CLOCK_MONOTONIC, &start);
        for (total = (size_t) n; total < DOOR_LINGER_BYTES_MAX; total += (size_t) n) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                long left;

                (void) clock_gettime(CLOCK_MONOTONIC, &now);
                left = DOOR_LINGER_MSEC -
                       ((now.tv_sec - start.tv_sec) * 1000L + (now.tv_nsec - start.tv_nsec) / 1000000L);
                if (left <= 0 || poll(&p, 1, (int) left) <= 0)
                        return;
                n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
                if (n <= 0)
                        return;
        }
}

/* Whether this refusal of uid is the first in DOOR_LOG_INTERVAL_SEC: the helper that finds the mtime
 * of DIR/<uid>.log older than that touches it and logs. Any failure here means "do not log": a
 * flood must not turn into a flood of journal lines. */
static bool door_should_log(const char *dir, uid_t uid) {
        _cleanup_close_ int fd = -EBADF;
        char path[256];
        struct stat st;
        struct timespec now;

        (void) snprintf(path, sizeof(path), "%s/%u.log", dir, (unsigned) uid);
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0 || fstat(fd, &st) < 0)
                return false;
        (void) clock_gettime(CLOCK_REALTIME, &now);
        if (st.st_size > 0 && now.tv_sec - st.st_mtim.tv_sec < DOOR_LOG_INTERVAL_SEC)
                return false;
        /* The first refusal writes a byte, so that "never logged" and "logged long ago" differ. */
        if (st.st_size == 0 && write(fd, "\n", 1) != 1)
                return false;
        return futimens(fd, NULL) >= 0;
}

int door_peer_uid(int fd, uid_t *ret_uid) {
        struct ucred cred = {};
        socklen_t len = sizeof(cred);

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return -errno;
        if (len != sizeof(cred))
                return -EIO;
        *ret_uid = cred.uid;
        return 0;
}

int door_take_share(const char *dir, uid_t uid, uint64_t share, int *ret_fd) {
        int r;

        r = slot_acquire(dir, uid, share, ret_fd);
        if (r == -ENOENT) {
                /* Made by tmpfiles.d at boot, but a helper of a freshly upgraded package runs before
                 * the package's postinst has run systemd-tmpfiles: the directory is ours to create. */
                if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                        return -errno;
                r = slot_acquire(dir, uid, share, ret_fd);
        }
        return r < 0 ? r : 0;
}

void door_refusal_message(uid_t uid, uint64_t share, char *buf, size_t size) {
        (void) snprintf(buf, size,
                        "UID %u already holds %" PRIu64 " connections, the maximum (ConnectionsPerUser=)",
                        (unsigned) uid, share);
}

int door_enter(int fd, const char *dir, uint64_t share, int *ret_fd) {
        char message[256];
        uid_t uid;
        int r;

        r = door_peer_uid(fd, &uid);
        if (r < 0) {
                (void) snprintf(message, sizeof(message), "cannot read the peer's credentials: %s",
                                strerror(-r));
                (void) door_send_result(fd, JOB_ERROR, message);
                return log_error_errno(r, "Refusing a connection: %s", message);
        }
        r = door_take_share(dir, uid, share, ret_fd);
        if (r >= 0)
                return 1;
        if (r != -EBUSY) {
                (void) snprintf(message, sizeof(message), "cannot take a connection share in %s: %s", dir,
                                strerror(-r));
                (void) door_send_result(fd, JOB_ERROR, message);
                return log_error_errno(r, "Refusing a connection of UID %u: %s", (unsigned) uid, message);
        }
        door_refusal_message(uid, share, message, sizeof(message));
        (void) door_send_result(fd, JOB_REJECTED, message);
        if (door_should_log(dir, uid))
                log_notice("Refusing connections: %s; not logged again for %ds.", message,
                           DOOR_LOG_INTERVAL_SEC);
        door_linger(fd);
        return 0;
}
