/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A growing byte buffer: what the wire encoders append frames to, and what the CLI queues its
 * outgoing bytes and collects --json output in. */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef struct Buffer {
        uint8_t *data;
        size_t size, allocated;
} Buffer;

/* Makes room for n more bytes after b->size (doubling, from 4 KiB). 0 or -ENOMEM. */
int buffer_reserve(Buffer *b, size_t n);
/* Appends n bytes (p may be NULL when n is 0). 0 or -ENOMEM; b is unchanged on failure. */
int buffer_append(Buffer *b, const void *p, size_t n);
/* Drops the first n bytes (n <= b->size). */
void buffer_consume(Buffer *b, size_t n);
/* Frees the data and leaves an empty buffer; usable as a cleanup function. */
void buffer_done(Buffer *b);
