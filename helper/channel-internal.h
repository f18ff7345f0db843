/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What channel.c and channel-session.c share: the one message framing and the one encoding of an
 * input file (CH_FILE + CH_FILE_DATA...). Internal to the channel. */
#pragma once

#include <stdint.h>

#include "buffer.h"
#include "protocol.h"

/* One message at the end of b; -EMSGSIZE over PW_FRAME_PAYLOAD_MAX, -ENOMEM. */
int channel_message_append(Buffer *b, uint16_t type, const void *payload, size_t length);
/* CH_FILE and its CH_FILE_DATA chunks; -EMSGSIZE (path), -EINVAL (data incomplete), -ENOMEM. */
int channel_file_append(Buffer *b, const RequestFile *f);
