/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pyward -i: a session through the Python client's interactive front end, which pyward(1) execs
 * with the session's options (python3 -m pyward.interactive). */
#pragma once

#include "args.h"

/* Execs the front end; returns only on failure, reported (the caller exits EXIT_PYWARD). */
int interactive_exec(const Args *a);
