/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the runner channel's test programs share (test-channel.c, test-channel-reader.c,
 * test-channel-session.c): bounds wide enough that only a test that sets its own meets them. */
#pragma once

#include "channel.h"

static const ChannelBounds wide = { .files_out = 100,
                                    .files_out_bytes = 1U << 30,
                                    .file_out_size = 1U << 30,
                                    .depth = 16,
                                    .collect_usec = 1000000 };
