/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pyward --json: the one JSON document with the result and the job's output (man/pyward.1.scd
 * describes its fields). */
#pragma once

#include "buffer.h"
#include "protocol.h"

/* Prints the document to stdout; the streams are strings, plus *_base64 if not valid UTF-8. */
int json_print_result(const JobResult *r, const Buffer *out, const Buffer *err, int exit_status);
