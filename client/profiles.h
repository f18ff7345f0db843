/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pyward --list-profiles: the PROFILE_INFO frames of a DISCOVER request, kept in order and
 * printed as readable blocks (the limits in pyward.conf(5)'s value syntax); json.c prints them
 * as JSON. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "protocol.h"

/* More profiles than any configuration has; a helper that sends more is broken. */
#define PROFILES_MAX 4096

typedef struct Profiles {
        ProfileInfo *items;
        size_t n;
} Profiles;

/* One PROFILE_INFO payload: a protocol error (reported) if malformed or one too many. */
int profiles_add(Profiles *p, const uint8_t *payload, size_t size);
void profiles_print(const Profiles *p, FILE *f);
void profiles_done(Profiles *p);
/* A limit's value as pyward.conf(5) writes it: "64M", "30s", "200%", "16". */
char *limit_value_format(LimitKey k, uint64_t v, char *buf, size_t size);
