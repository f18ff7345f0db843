/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Little-endian loads and stores for the wire protocol's integers, byte by byte so that neither
 * the host's byte order nor the buffer's alignment matters. */
#pragma once

#include <stdint.h>

static inline uint16_t le16_load(const uint8_t *p) {
        return (uint16_t) (p[0] | (p[1] << 8));
}

static inline uint32_t le32_load(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static inline uint64_t le64_load(const uint8_t *p) {
        return (uint64_t) le32_load(p) | (uint64_t) le32_load(p + 4) << 32;
}

static inline void le16_store(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t) v;
        p[1] = (uint8_t) (v >> 8);
}

static inline void le32_store(uint8_t *p, uint32_t v) {
        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

static inline void le64_store(uint8_t *p, uint64_t v) {
        for (int i = 0; i < 8; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}
