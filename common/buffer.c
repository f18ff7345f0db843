/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The growing byte buffer of buffer.h. Sizes are checked for overflow before anything grows,
 * because a peer decides how much is appended. */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buffer.h"

int buffer_reserve(Buffer *b, size_t n) {
        size_t a;
        uint8_t *d;

        if (n > SIZE_MAX - b->size - 1)
                return -ENOMEM;
        if (b->size + n <= b->allocated)
                return 0;
        a = b->allocated ? b->allocated : 4096;
        while (a < b->size + n)
                a *= 2;
        d = realloc(b->data, a);
        if (!d)
                return -ENOMEM;
        b->data = d;
        b->allocated = a;
        return 0;
}

int buffer_append(Buffer *b, const void *p, size_t n) {
        int r;

        r = buffer_reserve(b, n);
        if (r < 0)
                return r;
        if (n > 0)
                memcpy(b->data + b->size, p, n);
        b->size += n;
        return 0;
}

void buffer_consume(Buffer *b, size_t n) {
        memmove(b->data, b->data + n, b->size - n);
        b->size -= n;
}

void buffer_done(Buffer *b) {
        free(b->data);
        *b = (Buffer) {};
}
