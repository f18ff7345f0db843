/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The frames waiting for the client: one buffer written as the socket takes it, a deadline that
 * fires when output waits and the client takes none of it, and the linger after the last frame. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "macro.h"

/* A client that takes nothing of what we send for this long is given up: its job is stopped and
 * the connection closed. Without it a client that never reads would keep its helper (and, until
 * the wall-clock limit, its job) alive; with it a stuck client costs at most this much more. */
#define WRITE_STALL_USEC (30 * 1000 * 1000U)
#define WRITE_STALL_TEXT "30s"

/* After the RESULT, how long and how much unread input we discard before closing: closing an
 * AF_UNIX socket with unread data makes the client's recv() fail with ECONNRESET, even before it
 * has read our RESULT. */
#define LINGER_USEC (2 * 1000 * 1000U)
#define LINGER_BYTES_MAX (8U * 1024U * 1024U)

typedef struct OutQueue OutQueue;
typedef void (*out_queue_func_t)(void *userdata);

/* stalled: nothing was taken for WRITE_STALL_USEC while output waited; lingered: the linger is
 * over, the connection may close. */
int out_queue_new(sd_event *e, int fd, out_queue_func_t stalled, out_queue_func_t lingered, void *userdata,
                  OutQueue **ret);
OutQueue *out_queue_free(OutQueue *q);
DEFINE_TRIVIAL_CLEANUP_FUNC(OutQueue *, out_queue_free);

/* Queues one frame (copied); after out_queue_drop() the frame is dropped. */
int out_queue_append(OutQueue *q, uint16_t type, const void *data, size_t size);
/* Sends what the socket takes without blocking: 0, or a negative errno when the client is gone. */
int out_queue_flush(OutQueue *q);
bool out_queue_pending(const OutQueue *q);
/* Bytes written into the queue and not yet sent. */
size_t out_queue_waiting(const OutQueue *q);
/* The client is gone: what waits is dropped, and so is everything appended later. */
void out_queue_drop(OutQueue *q);

/* The last frame is sent: shuts our side down and arms the linger's timer (lingered() at once if
 * it cannot be armed). While lingering, out_queue_discard_input() is called when input is ready;
 * it reads and drops it, and calls lingered() when the client closed or sent too much. */
void out_queue_linger(OutQueue *q);
void out_queue_discard_input(OutQueue *q);
