#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Writes the seed corpus of fuzz-discover-info next to this script: reports as the runner sends
# them (CH_INFO: python=, package=NAME VERSION, sitedir=, escaped as RESULT values) and broken ones.
import os

seeds = {
    "minimal": "python=3.11.2\n",
    "typical": "python=3.11.2\npackage=numpy 1.24.2\npackage=pip 23.0.1\n"
               "sitedir=/usr/lib/python311.zip\nsitedir=/usr/lib/python3.11\n"
               "sitedir=/usr/lib/python3/dist-packages\n",
    "venv": "python=3.13.5\npackage=numpy 2.2.4\nsitedir=/opt/pyward-numpy/lib/python3.13/site-packages\n"
            "sitedir=/usr/lib/python3/dist-packages\n",
    "unsorted-dups": "python=3.11.2\npackage=zipp 3.15.0\npackage=attrs 22.2.0\npackage=zipp 3.15.0\n"
                     "sitedir=/a\nsitedir=/a\n",
    "escapes": "python=3.11.2\nsitedir=/odd\\npath\\\\x\n",
    "unknown-key": "python=3.11.2\nimplementation=cpython\n",
    "rc-version": "python=3.14.0rc1\n",
    "bad-escape": "python=3.11.2\nsitedir=/a\\t\n",
    "no-python": "package=numpy 1.24.2\n",
    "python-twice": "python=3.11.2\npython=3.12.0\n",
    "relative-sitedir": "python=3.11.2\nsitedir=lib\n",
    "package-no-version": "python=3.11.2\npackage=numpy\n",
    "no-newline": "python=3.11.2",
    "empty-line": "python=3.11.2\n\n",
    "nul": "python=3.11.2\x00\n",
    "omitted": "python=3.11.2\npackage=legacy name 1.0\npackage=ok 1\npackages_omitted=7\n",
    "omitted-twice": "python=3.11.2\npackages_omitted=1\npackages_omitted=2\n",
}

here = os.path.dirname(os.path.abspath(__file__))
for name, text in seeds.items():
    with open(os.path.join(here, "seed-" + name), "wb") as f:
        f.write(text.encode())
