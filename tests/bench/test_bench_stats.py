#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Known inputs, hand-computed outputs for bench_stats.py; exits non-zero on any mismatch.
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import argparse  # noqa: E402
import bench_repeat  # noqa: E402
from bench_repeat import q  # noqa: E402
from bench_stats import compare, percentile, spread  # noqa: E402


class Percentile(unittest.TestCase):
    def test_hand_computed(self):
        v = [10, 20, 30, 40]  # h = 3p/100
        self.assertEqual(percentile(v, 0), 10)
        self.assertEqual(percentile(v, 100), 40)
        self.assertAlmostEqual(percentile(v, 50), 25)  # h 1.5: 20 + 0.5 * 10
        self.assertAlmostEqual(percentile(v, 90), 37)  # h 2.7: 30 + 0.7 * 10
        self.assertAlmostEqual(percentile(v, 99), 39.7)  # h 2.97

    def test_unsorted_and_single(self):
        self.assertAlmostEqual(percentile([5, 1, 3], 50), 3)
        self.assertAlmostEqual(percentile([5, 1, 3], 25), 2)  # h 0.5 between 1 and 3
        self.assertEqual(percentile([7], 99), 7)

    def test_p99_of_60_is_not_the_maximum(self):
        v = list(range(1, 61))  # h 58.41: 59 + 0.41
        self.assertAlmostEqual(percentile(v, 99), 59.41)
        self.assertLess(percentile(v, 99), max(v))

    def test_empty(self):
        with self.assertRaises(ValueError):
            percentile([], 50)


class Spread(unittest.TestCase):
    def test_spread(self):
        self.assertEqual(spread([3, 1, 2]), {"median": 2, "min": 1, "max": 3, "runs": [3, 1, 2]})
        self.assertEqual(spread([None, 4])["median"], 4)
        self.assertIsNone(spread([None]))

    def test_compare(self):
        self.assertEqual(compare([1, 2, 3], [4, 5, 6]), "faster")
        self.assertEqual(compare([4, 5, 6], [1, 2, 3]), "slower")
        self.assertEqual(compare([1, 2, 4], [3, 5, 6]), "no difference shown")  # overlap at 3-4
        self.assertEqual(compare([1], [5]), "no difference shown")  # one run shows no spread


class Repeat(unittest.TestCase):
    """bench_repeat: a row's options shared out over its runs, and what is said of them."""

    def test_share(self):
        a = argparse.Namespace(row_runs=50, runs=200, hostcpu_jobs=200, duration=30.0, share=1.0, only="x",
                               view_runs=200, collect_runs=0, session_runs=500, session_first_runs=30)
        s = bench_repeat.share(a, 3)
        self.assertEqual((s.row_runs, s.runs, s.hostcpu_jobs, s.duration, s.share, s.only),
                         (17, 67, 67, 10.0, 1 / 3, "x"))
        self.assertEqual((s.view_runs, s.collect_runs, s.session_runs, s.session_first_runs), (67, 0, 167, 10))
        self.assertEqual(a.row_runs, 50)  # the caller's options are left alone
        self.assertEqual(bench_repeat.share(argparse.Namespace(row_runs=1, runs=1, hostcpu_jobs=1,
                                                               duration=3.0), 3).row_runs, 1)

    def test_repeated(self):
        a = argparse.Namespace(repeat=3, runs=9, duration=3.0)
        seen = []

        def once(o):
            seen.append(o.runs)
            return {"v": len(seen)}

        r = bench_repeat.repeated("t", a, once, lambda x: {"v": q(x["v"], "n")})
        self.assertEqual(seen, [3, 3, 3])
        self.assertEqual(r["v"], 1)  # the first run's result, with the spread over all three
        self.assertEqual((r["repeat"]["spreads"]["v"]["min"], r["repeat"]["spreads"]["v"]["max"]), (1, 3))
        self.assertEqual(r["repeat"]["options"], {"runs": 3, "duration": 1.0})
        self.assertIsNone(bench_repeat.repeated("t", a, lambda o: None, None))
        self.assertEqual(bench_repeat.repeated("t", argparse.Namespace(repeat=1), lambda o: {"x": 1}, None), {"x": 1})

    def test_summarize_and_claims(self):
        class Row:
            @staticmethod
            def quantities(r):
                return r

        runs = [{"A / B": q(0.5, a=1.0, b=2.0), "C / D": q(1.0, a=2.0, b=2.0), "E": q(0.010, "ms")},
                {"A / B": q(0.6, a=1.2, b=2.0), "C / D": q(0.9, a=1.8, b=2.0), "E": q(0.030, "ms")},
                {"A / B": q(0.4, a=0.8, b=2.1), "C / D": q(1.1, a=2.2, b=2.0), "E": q(0.020, "ms")}]
        rep = bench_repeat.summarize(Row.quantities, runs)
        self.assertEqual(rep["runs"], 3)
        self.assertAlmostEqual(rep["spreads"]["A / B"]["median"], 0.5)
        self.assertEqual((rep["spreads"]["E"]["min"], rep["spreads"]["E"]["max"]), (0.010, 0.030))
        self.assertEqual(rep["claims"]["A / B"], "A faster than B")  # 0.8-1.2 against 2.0-2.1
        self.assertEqual(rep["claims"]["C / D"], "no difference shown (runs overlap)")
        self.assertEqual(rep["claims"]["E"], "")  # not a comparison
        self.assertAlmostEqual(bench_repeat.median({"repeat": rep}, "A / B"), 0.5)
        self.assertEqual(bench_repeat.median({}, "A / B", 7), 7)
        cost = [{"X / Y": q(2.0, a=2.0, b=1.0, words="cost")}, {"X / Y": q(2.1, a=2.1, b=1.0, words="cost")}]
        self.assertEqual(bench_repeat.summarize(Row.quantities, cost)["claims"]["X / Y"], "X costlier than Y")
        missing = [{"A / B": q(0.5, a=1.0, b=2.0)}, {"A / B": q(None, a=None, b=2.0)}]
        self.assertEqual(bench_repeat.summarize(Row.quantities, missing)["claims"]["A / B"], "n/a")
        lines = bench_repeat.report_lines({"repeat": dict(rep, options={"row_runs": 17, "runs": 67,
                                                                         "hostcpu_jobs": 67, "duration": 10.0})})
        self.assertIn("A faster than B", "\n".join(lines))
        self.assertIn("10.0..30.0", "\n".join(lines))


if __name__ == "__main__":
    unittest.main()
