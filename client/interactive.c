/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pyward -i (interactive.h): the prompt, readline and cell splitting are the Python client's
 * (pyward/interactive.py); here only the command line it gets, in raw units, and the exec. */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "interactive.h"

#ifndef PYWARD_CLIENT_PYTHON
#error "PYWARD_CLIENT_PYTHON (the interpreter of pyward -i) comes from client/meson.build"
#endif
#ifndef PYWARD_PYTHON_DIR
#error "PYWARD_PYTHON_DIR (where the pyward package is installed) comes from client/meson.build"
#endif

/* The front end's option for each limit pyward(1) takes, and whether its value is a time span:
 * passed as "NNNus", so that no value is read twice in two syntaxes. */
static const struct {
        const char *option;
        bool usec;
} limit_options[_LIMIT_MAX] = {
        [LIMIT_MEMORY] = { "memory", false },
        [LIMIT_TASKS] = { "tasks", false },
        [LIMIT_CPU_QUOTA] = { "cpu-quota", false },
        [LIMIT_CPU_TIME] = { "cpu-time", true },
        [LIMIT_WALL_TIME] = { "timeout", true },
        [LIMIT_OUTPUT] = { "output-max", false },
        [LIMIT_DISK] = { "disk", false },
        [LIMIT_SESSION_WALL_TIME] = { "session-timeout", true },
        [LIMIT_SESSION_CPU_TIME] = { "session-cpu-time", true },
        [LIMIT_SESSION_IDLE_TIME] = { "idle-timeout", true },
        [LIMIT_SESSION_CELLS] = { "cells", false },
        [LIMIT_CELL_GRACE] = { "cell-grace", true },
};

/* The longest: "--profile=" and a name; "--session-cpu-time=" and 20 digits take less. */
#define OPTION_MAX (16 + PW_PROFILE_NAME_MAX)
/* python3 -m pyward.interactive, --socket, --connect-timeout, --profile, the limits, NULL. */
#define ARGV_MAX (3 + 3 + _LIMIT_MAX + 1)

/* PYTHONPATH with the package's directory after what the user set (theirs wins, as it does over
 * site-packages); a directory already in python3's default path changes nothing. */
static int set_python_path(void) {
        const char *old = getenv("PYTHONPATH");
        _cleanup_free_ char *v = NULL;

        if (old && *old) {
                if (asprintf(&v, "%s:%s", old, PYWARD_PYTHON_DIR) < 0)
                        return -ENOMEM;
        } else if (!(v = strdup(PYWARD_PYTHON_DIR)))
                return -ENOMEM;
        if (setenv("PYTHONPATH", v, 1) < 0)
                return -errno;
        /* No current directory at the front of sys.path (-m puts it there): a pyward/ of the
         * directory the user stands in must not stand in for the client (python >= 3.11). */
        if (setenv("PYTHONSAFEPATH", "1", 1) < 0)
                return -errno;
        return 0;
}

int interactive_exec(const Args *a) {
        static char options[3 + _LIMIT_MAX][OPTION_MAX];
        const char *argv[ARGV_MAX];
        size_t n = 0, k = 0;
        int r;

        argv[n++] = "python3";
        argv[n++] = "-m";
        argv[n++] = "pyward.interactive";
        (void) snprintf(options[k], OPTION_MAX, "--connect-timeout=%" PRIu64 "us", a->connect_timeout_usec);
        argv[n++] = options[k++];
        argv[n++] = "--socket";
        argv[n++] = a->socket_path;
        if (a->profile) {
                /* Refused as a job's request is (pyward.c), before it could be cut to the buffer. */
                if (strlen(a->profile) > PW_PROFILE_NAME_MAX)
                        return fail("profile name is longer than %d bytes", PW_PROFILE_NAME_MAX);
                (void) snprintf(options[k], OPTION_MAX, "--profile=%s", a->profile);
                argv[n++] = options[k++];
        }
        for (int key = 0; key < _LIMIT_MAX; key++) {
                if (!a->limit_set[key])
                        continue;
                if (!limit_options[key].option)
                        return fail("limit %s is not one of pyward -i", limit_key_to_string(key));
                (void) snprintf(options[k], OPTION_MAX, "--%s=%" PRIu64 "%s", limit_options[key].option,
                                a->limits[key], limit_options[key].usec ? "us" : "");
                argv[n++] = options[k++];
        }
        argv[n] = NULL;

        r = set_python_path();
        if (r < 0)
                return fail("cannot set PYTHONPATH: %s", strerror(-r));
        (void) fflush(stdout);
        execv(PYWARD_CLIENT_PYTHON, (char **) argv);
        return fail(
                "cannot run %s -m pyward.interactive: %m (pyward -i needs the pyward Python module, "
                "package python3-pyward)",
                PYWARD_CLIENT_PYTHON);
}
