# SPDX-License-Identifier: LGPL-2.1-or-later
# Warm runner pools for the integration tests (pyward-helper(8) "WARM RUNNERS"): the pool's names
# and units, filling and emptying it, and WarmPath, which runs a test class's tests with a pool
# whose runners take the jobs that fit them (test_warm_paths.py).
import glob
import os

from pwlib import DROPIN_DIR, WARM_DIR, pyward, sh, wait_for

HELPER = next((p for p in ("/usr/libexec/pyward-helper", "/usr/lib/pyward/pyward-helper")
               if os.path.exists(p)), "/usr/libexec/pyward-helper")


def ready(profile="default"):
    """The names of the ready runners of profile: r-GEN-RID-PROFILE."""
    if not os.path.isdir(WARM_DIR):
        return []
    return sorted(n for n in os.listdir(WARM_DIR) if n.startswith("r-") and n.endswith("-" + profile))


def warm_units():
    out = sh("systemctl", "list-units", "--all", "--plain", "--no-legend", "pyward-warm-*").stdout
    return sorted(line.split()[0] for line in out.splitlines() if line.strip())


def rid_of(name):
    """The runner id in a pool name (r-GEN-RID-PROFILE) or a unit name (pyward-warm-RID.service)."""
    return name.split("-")[2].split(".")[0]


def ready_now(profile="default"):
    """Ready runners of the configuration as it is now (--check-config's count): a test that
    changed it finds the old ones never claimed."""
    out = sh(HELPER, "--check-config", check=False).stdout
    for line in out.splitlines():
        if line.startswith(f"Profile {profile}: WarmRunners="):
            return int(line.split(", ")[1].split()[0])
    return 0


def fill_pool():
    """pyward-helper --fill-pool, as pyward-pool.service runs it (waits for a fill under way)."""
    return sh(HELPER, "--fill-pool", check=False)


def empty_pool(dropins):
    """Removes the drop-ins that asked for runners, lets a fill stop every runner, and stops what
    is left (a runner whose job still ends). True if no warm unit is left within 10 s."""
    for path in dropins:
        if os.path.exists(path):
            os.unlink(path)
    fill_pool()
    wait_for(lambda: sh("systemctl", "is-active", "pyward-pool.service", check=False).stdout.strip()
             != "activating", 20)
    gone = wait_for(lambda: not warm_units(), 10)
    for u in warm_units():
        sh("systemctl", "stop", u, check=False)
    for n in glob.glob(WARM_DIR + "/[rpc]-*"):
        os.unlink(n)
    return gone


class WarmPath:
    """Mixed in before a PywardTestCase class: each test runs with WARM_RUNNERS runners of the
    default profile ready, so that its jobs that fit one run warm (those with a memory, tasks, CPU
    quota or disk limit of their own, and sessions, run cold as they would in production). Every
    pyward.run() result is recorded; a test whose jobs all ran cold fails."""

    WARM_RUNNERS = 3
    DROPIN = os.path.join(DROPIN_DIR, "59-warm-path.conf")
    # Tests whose jobs run cold on a pool as well, by design: what they ask for is fixed when a
    # runner starts (warm.h: warm_request_fits()), or what they test happens before a runner would
    # be claimed.
    COLD_BY_DESIGN = {
        "test_own_dirs_writable_private_and_bounded": "its disk limit is the runner's tmpfs size",
        "test_memory_bomb_meets_limit_data": "its memory limit is the runner's LimitDATA=",
        "test_no_memory_outside_the_address_space": "its memory limit is the runner's LimitAS=",
        "test_job_user_whose_last_unit_still_exists_is_skipped": "a runner's user is picked when it starts",
        "test_bus_sockets_hidden_with_run_visible": "its jobs run in a profile of their own, without runners",
    }

    def setUp(self):
        why = self.COLD_BY_DESIGN.get(self._testMethodName)
        if why:
            self.skipTest(f"cold on the warm path too: {why}")
        super().setUp()
        os.makedirs(DROPIN_DIR, exist_ok=True)
        with open(self.DROPIN, "w") as f:
            f.write("[Profile]\nWarmRunners=%d\n" % self.WARM_RUNNERS)
        self.addCleanup(empty_pool, [self.DROPIN])
        out = fill_pool()
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertTrue(wait_for(lambda: len(ready()) == self.WARM_RUNNERS, 20), (ready(), warm_units()))
        self.paths = []
        plain = pyward.run

        def run(*args, **kw):
            # A test that changed the configuration: runners of the new one first (as
            # pyward-pool.path would start, a moment later), and ready before the job: on a
            # loaded machine ten concurrent jobs all went cold while the new runners started.
            if ready_now() == 0:
                fill_pool()
                wait_for(lambda: ready_now() > 0, 20)
            r = plain(*args, **kw)
            self.paths.append(r.path)
            return r
        pyward.run = run
        self.addCleanup(setattr, pyward, "run", plain)

    def tearDown(self):
        super().tearDown()
        if self.paths:
            self.assertIn("warm", self.paths, "no job of this test ran on a warm runner")
