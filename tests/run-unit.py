#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Runs the cmocka unit test binaries given on the command line from the
project root and prints one summary line: "N passed, N failed"."""
import os
import re
import signal
import subprocess
import sys
import tempfile

TIMEOUT = 600  # seconds per binary; a hang is a failure, not a stuck CI

passed = failed = skipped = 0
bad = []
for exe in sys.argv[1:]:
    # Output goes to a file, not a pipe: a helper process a crashed test
    # left behind cannot keep us waiting for the end of the pipe.
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen([exe], stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            rc = proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            rc = -1
        # Whatever it started goes too.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        log.seek(0)
        out = log.read()
    if rc == -1:
        out += "\nunit: %s timed out after %d s\n" % (exe, TIMEOUT)
    sys.stdout.write(out)
    sys.stdout.flush()

    class P:
        returncode = rc
    p = P()
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
