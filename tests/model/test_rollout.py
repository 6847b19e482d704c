# SPDX-License-Identifier: Apache-2.0
"""The rollout model (rollout.py) at sizes that finish in seconds: the
design holds, and every mutant of it (one rule of fleet/ turned off) is
caught with a trace.  `make faults` runs the large sizes."""
import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, "rollout.py")


def run(*args):
    p = subprocess.run([sys.executable, MODEL] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=600)
    assert p.stderr == "", p.stderr
    return p.returncode, p.stdout


def states(out):
    m = re.search(r": (\d+) states, (\d+) transitions", out)
    assert m, out
    return int(m.group(1)), int(m.group(2))


@pytest.mark.parametrize("args", [
    ("--requests", "1", "--faults", "1"),
    ("--hosts", "3", "--requests", "0", "--faults", "1"),
    ("--requests", "1", "--faults", "1", "--mutant", "no-self"),
], ids=["2h-1r-1f", "3h-0r-1f", "no-self-is-safe"])
def test_design_holds(args):
    rc, out = run(*args)
    assert rc == 0, out
    assert "invariants I1-I4 hold" in out, out
    n, t = states(out)
    # Not a vacuous run: the state space is the one the model has, and
    # the rotations in it were explored (thousands of states).
    assert n > 1000 and t > n, out


def test_rollback_by_an_etcd_writer_never_moves_a_host_back():
    rc, out = run("--requests", "1", "--faults", "1", "--attack")
    assert rc == 0, out
    assert "I3 holds" in out, out


@pytest.mark.parametrize("mutant,args,inv", [
    ("no-cas", ("--requests", "1", "--faults", "1"), "I1"),
    ("done-later", ("--requests", "1", "--faults", "1"), "I4"),
    ("no-wait", ("--requests", "1", "--faults", "1"), "I2"),
    ("clear-unchecked", ("--requests", "1", "--faults", "1"), "I2"),
    ("no-persist", ("--requests", "1", "--faults", "2", "--attack"), "I3"),
])
def test_each_mutant_is_caught(mutant, args, inv):
    rc, out = run("--mutant", mutant, *args)
    assert rc == 1, out
    assert "VIOLATION " + inv in out, out
    # A trace a developer can read, step by step.
    assert re.search(r"^\s+1\. ", out, re.M), out


def test_one_key_per_host_overlap_needs_keep_2():
    rc, out = run("--keep", "1", "--requests", "1", "--faults", "0")
    assert rc == 1, out
    assert "VIOLATION I2" in out, out
