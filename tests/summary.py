#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Adds up the test summaries in a `make check` log (our unit runner's
"unit: N passed, N failed" lines, the newcomer test's "fresh: N passed,
N failed" and pytest's closing line) and prints
"N passed, N failed".  Exits 1 when nothing ran or anything failed."""
import re
import sys

passed = failed = skipped = 0
with open(sys.argv[1], errors="replace") as f:
    for line in f:
        m = re.match(r"(?:unit|fresh): (\d+) passed, (\d+) failed(?:, (\d+) skipped)?", line)
        if m:
            passed += int(m.group(1))
            failed += int(m.group(2))
            skipped += int(m.group(3) or 0)
            continue
        # pytest: "== 3 failed, 40 passed, 2 skipped in 12.3s =="
        if re.search(r"\b(passed|failed|error)\b.* in [\d.]+s", line):
            for n, what in re.findall(r"(\d+) (passed|failed|errors?|skipped)", line):
                if what == "passed":
                    passed += int(n)
                elif what == "skipped":
                    skipped += int(n)
                else:
                    failed += int(n)
print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
sys.exit(0 if passed > 0 and failed == 0 else 1)
