/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The wire protocol's limit keys (LIMIT, PROFILE_INFO's limit.NAME.*, pyward.conf(5)'s client
 * keys): their names, the one table of them, and which of them may be 0. */

#include <errno.h>
#include <string.h>

#include "protocol.h"

static const char *const limit_key_table[_LIMIT_MAX] = {
        [LIMIT_MEMORY] = "memory",
        [LIMIT_TASKS] = "tasks",
        [LIMIT_CPU_QUOTA] = "cpu-quota",
        [LIMIT_CPU_TIME] = "cpu-time",
        [LIMIT_WALL_TIME] = "wall-time",
        [LIMIT_OUTPUT] = "output",
        [LIMIT_DISK] = "disk",
        [LIMIT_FILES_IN] = "files-in",
        [LIMIT_FILES_IN_BYTES] = "files-in-bytes",
        [LIMIT_FILES_OUT] = "files-out",
        [LIMIT_FILES_OUT_BYTES] = "files-out-bytes",
        [LIMIT_FILE_OUT_SIZE] = "file-out-size",
        [LIMIT_FILES_OUT_DEPTH] = "files-out-depth",
        [LIMIT_FILES_OUT_TIME] = "files-out-time",
        [LIMIT_SESSION_WALL_TIME] = "session-wall-time",
        [LIMIT_SESSION_CPU_TIME] = "session-cpu-time",
        [LIMIT_SESSION_IDLE_TIME] = "session-idle-time",
        [LIMIT_SESSION_CELLS] = "session-cells",
        [LIMIT_CELL_GRACE] = "cell-grace",
};

const char *limit_key_to_string(LimitKey k) {
        if ((int) k <= 0 || k >= _LIMIT_MAX)
                return NULL;
        return limit_key_table[k];
}

LimitKey limit_key_from_string(const char *s) {
        return string_table_lookup(limit_key_table, _LIMIT_MAX, s); /* [0] has no name */
}

bool limit_key_allows_zero(LimitKey k) {
        return k >= LIMIT_FILES_IN && k <= LIMIT_FILES_OUT_DEPTH;
}
