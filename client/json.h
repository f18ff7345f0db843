/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pyward --json: the one JSON document with the result and the job's output (man/pyward.1.scd
 * describes its fields). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "buffer.h"
#include "collect.h"
#include "protocol.h"

/* Length of the valid UTF-8 sequence at p (RFC 3629: no overlongs, no surrogates, <= U+10FFFF),
 * or 0 if the bytes there are not one. */
size_t utf8_valid_at(const uint8_t *p, size_t n);

/* Prints the document to stdout; the streams are strings, plus *_base64 if not valid UTF-8. With
 * c (COLLECT was sent): also "files", "skipped" and the RESULT's files_* numbers. */
int json_print_result(const JobResult *r, const Buffer *out, const Buffer *err, const Collect *c,
                      int exit_status);
/* --list-profiles --json: {"profiles":[...],"status":...,"message":...,"pyward_exit_status":N}. */
int json_print_profiles(const ProfileInfo *p, size_t n, const JobResult *r, int exit_status);
