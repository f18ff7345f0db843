# SPDX-License-Identifier: LGPL-2.1-or-later
# The isolation, limits and lifecycle tests again, on the warm path (issue #20: "nothing a job can
# observe or do differs between the paths except speed"): the same test classes with a pool of
# warm runners (warmlib.WarmPath); each test's jobs that fit a runner run on one, and each test
# checks that some did. The cold runs are the classes' own modules.
import test_isolation
import test_lifecycle
import test_limits_rlimit
from warmlib import WarmPath


class WarmIsolationTests(WarmPath, test_isolation.IsolationTests):
    pass


class WarmRlimitTests(WarmPath, test_limits_rlimit.RlimitTests):
    pass


class WarmLifecycleTests(WarmPath, test_lifecycle.LifecycleTests):
    pass
