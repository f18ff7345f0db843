/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pyward-landlock: the first program of every job. It restricts itself with Landlock to the paths
 * the helper names, then executes the interpreter with its argv unchanged; user code runs after. */

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "landlock-rules.h"

/* Exit statuses of our own, apart from what Python uses (1, 2): a bad command line (a helper bug)
 * and a kernel that offers less than the helper saw, or refuses the ruleset. */
#define EXIT_USAGE 125
#define EXIT_LANDLOCK 126
#define EXIT_EXEC 127

int main(int argc, char *argv[]) {
        const char *error = NULL;
        LandlockPlan plan;
        unsigned abi;
        int r;

        r = landlock_plan_parse(argc, argv, &plan, &error);
        if (r < 0) {
                fprintf(stderr, "pyward-landlock: %s\n", error);
                return EXIT_USAGE;
        }
        r = landlock_abi_usable();
        if (r < 0) {
                fprintf(stderr, "pyward-landlock: cannot query Landlock: %s\n", strerror(-r));
                return EXIT_LANDLOCK;
        }
        abi = (unsigned) r;
        /* The helper recorded the layers of the job from its own probe of the same kernel: never
         * run with less than it said. Without Landlock at all (abi 0 there too) the job still runs. */
        if (abi < plan.abi_min) {
                fprintf(stderr,
                        "pyward-landlock: the kernel offers Landlock ABI %u, the helper expected %u\n", abi,
                        plan.abi_min);
                return EXIT_LANDLOCK;
        }
        if (abi > 0) {
                r = landlock_apply(&plan, abi);
                if (r < 0) {
                        fprintf(stderr, "pyward-landlock: cannot apply the ruleset (ABI %u): %s\n", abi,
                                strerror(-r));
                        return EXIT_LANDLOCK;
                }
        }
        (void) execv(plan.argv[0], plan.argv);
        fprintf(stderr, "pyward-landlock: cannot execute %s: %s\n", plan.argv[0], strerror(errno));
        return EXIT_EXEC;
}
