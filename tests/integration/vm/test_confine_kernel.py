# SPDX-License-Identifier: LGPL-2.1-or-later
# The helper's confinement on each VM's own kernel: bookworm's 6.1 (Landlock ABI 2: the unit keeps
# its namespaces, and a unit told to rely on Landlock refuses to serve) and trixie's (ABI 6: the
# generator's drop-in, Landlock in place of the namespaces). The checks are test_confine's.
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from test_confine import ConfineTests  # noqa: E402,F401

if __name__ == "__main__":
    unittest.main()
