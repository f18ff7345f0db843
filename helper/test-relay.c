/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests relay_sync() over real pipes: what the job wrote before the call is emitted before
 * RELAY_SYNCED, under backpressure too, and a stream at its end counts as synced. */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "protocol.h"
#include "relay.h"
#include "test.h"

typedef struct Sink {
        size_t out, err; /* bytes emitted per stream */
        bool blocked;
        unsigned synced, drained;
        size_t out_at_sync;
} Sink;

static int sink_emit(void *userdata, uint16_t type, const void *data, size_t size) {
        Sink *s = userdata;

        assert_se(!s->blocked);
        if (type == FRAME_STDOUT)
                s->out += size;
        else
                s->err += size;
        return 0;
}

static bool sink_can_emit(void *userdata) {
        return !((Sink *) userdata)->blocked;
}

static void sink_event(void *userdata, RelayEvent ev) {
        Sink *s = userdata;

        if (ev == RELAY_SYNCED) {
                s->synced++;
                s->out_at_sync = s->out;
        } else if (ev == RELAY_DRAINED)
                s->drained++;
}

static const RelayOps ops = { .emit = sink_emit, .can_emit = sink_can_emit, .event = sink_event };

static void write_n(int fd, char c, size_t n) {
        char buf[4096];

        memset(buf, c, sizeof(buf));
        while (n > 0) {
                size_t k = n < sizeof(buf) ? n : sizeof(buf);

                assert_int(write(fd, buf, k), ==, (ssize_t) k);
                n -= k;
        }
}

static void test_sync(void) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(relay_freep) Relay *r = NULL;
        int fds[3];
        Sink s = {};

        assert_se(sd_event_new(&e) >= 0);
        assert_se(relay_new(e, 1 << 20, &ops, &s, fds, &r) == 0);
        close(fds[0]);

        /* Synchronous: the pipes are read at once, within the call. */
        write_n(fds[1], 'o', 3000);
        write_n(fds[2], 'e', 10);
        relay_sync(r);
        assert_int(s.synced, ==, 1);
        assert_int(s.out_at_sync, ==, 3000);
        assert_int(s.err, ==, 10);

        /* Empty pipes: synced at once again. */
        relay_sync(r);
        assert_int(s.synced, ==, 2);

        /* Under backpressure: nothing is emitted, the sync waits for the client. */
        write_n(fds[1], 'o', 50000);
        s.blocked = true;
        relay_sync(r);
        assert_int(s.synced, ==, 2);
        s.blocked = false;
        relay_resume(r);
        assert_int(s.synced, ==, 3);
        assert_int(s.out_at_sync, ==, 53000);

        /* A stream at its end (the job closed it) counts as synced. */
        close(fds[2]);
        write_n(fds[1], 'o', 2000);
        relay_sync(r);
        assert_int(s.synced, ==, 4);
        assert_int(s.out, ==, 55000);
        close(fds[1]);
        relay_finish(r);
        assert_int(s.drained, ==, 1);
}

int main(void) {
        test_sync();
        return 0;
}
