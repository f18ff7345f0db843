#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Known inputs, hand-computed outputs for bench_stats.py; exits non-zero on any mismatch.
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
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


if __name__ == "__main__":
    unittest.main()
