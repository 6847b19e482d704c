#!/usr/bin/python3
"""Runs the cmocka unit test binaries given on the command line from the
project root and prints one summary line: "N passed, N failed"."""
import re
import subprocess
import sys

passed = failed = skipped = 0
bad = []
for exe in sys.argv[1:]:
    p = subprocess.run([exe], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    out = p.stdout
    sys.stdout.write(out)
    m = re.findall(r"\[  PASSED  \] (\d+) test", out)
    f = re.findall(r"\[  FAILED  \] (\d+) test", out)
    s = re.findall(r"\[  SKIPPED \] (\d+) test", out)
    passed += sum(map(int, m))
    failed += sum(map(int, f))
    skipped += sum(map(int, s))
    if p.returncode != 0:
        bad.append(exe)
        if not f:
            failed += 1
print("unit: %d passed, %d failed, %d skipped" % (passed, failed, skipped))
if bad:
    print("unit: failing binaries: " + " ".join(bad))
sys.exit(1 if bad else 0)
