/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The connection's side of a DISCOVER request (connection-discover.c), called by
 * connection_request_complete() once the request is complete and its deadline cleared. */
#pragma once

#include "connection-internal.h"

/* Answers the request: one PROFILE_INFO frame per profile the peer may use, then RESULT. The
 * python version and packages come from the cache (discover-cache.h), or from discovery runs,
 * one at a time in the peer's job slot, before the answer. */
void connection_discover(Connection *c);
