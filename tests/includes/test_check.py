# SPDX-License-Identifier: Apache-2.0
"""The include checker (check.py) passes on the tree as it is and fails on
each kind of wrong include added to a copy of it."""
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CHECK = os.path.join(HERE, "check.py")


def run(root):
    p = subprocess.run([sys.executable, CHECK, root], capture_output=True,
                       text=True)
    return p.returncode, p.stdout


@pytest.fixture
def tree(tmp_path):
    for top in ("rotatord", "libidp"):
        shutil.copytree(os.path.join(ROOT, top), tmp_path / top,
                        ignore=shutil.ignore_patterns("*.o", "*.d"))
    return tmp_path


def add_include(root, path, line):
    """Puts line after the first #include of path."""
    p = root / path
    text = p.read_text()
    i = text.index("#include")
    j = text.index("\n", i) + 1
    p.write_text(text[:j] + line + "\n" + text[j:])


def test_tree_is_clean():
    rc, out = run(ROOT)
    assert rc == 0, out
    assert ", 0 violations" in out


@pytest.mark.parametrize("path,line,expect", [
    ("rotatord/api/server.c", '#include "daemon/daemon.h"',
     "api may not include daemon"),
    ("rotatord/api/server.c", '#include "sinks/sink.h"',
     "api may not include sinks"),
    ("rotatord/sinks/reload.c", '#include "fleet/fleet.h"',
     "sinks may not include fleet"),
    ("rotatord/sources/mint.c", '#include "sinks/sink.h"',
     "sources may not include sinks"),
    ("rotatord/sinks/sink.c", '#include "sources/mint.h"',
     "sinks may not include sources"),
    ("rotatord/core/loop.c", '#include "config/config.h"',
     "core may not include config"),
    ("rotatord/config/config.c", '#include "core/loop.h"',
     "config may not include core"),
    ("rotatord/material.h", '#include "core/log.h"',
     "material may not include core"),
    ("rotatord/rotatorctl/rotatorctl.c", '#include "core/log.h"',
     "rotatorctl may not include core"),
    ("rotatord/core/sched.c", "#include <openssl/rand.h>",
     "OpenSSL outside the named files"),
    ("rotatord/core/log.c", '#include "log.h"', "no such file"),
    ("libidp/jwt.c", '#include "core/log.h"', "libidp includes only"),
    ("libidp/jwt.c", "#include <core/log.h>", "libidp may not include"),
])
def test_wrong_include_fails(tree, path, line, expect):
    add_include(tree, path, line)
    rc, out = run(str(tree))
    assert rc == 1, out
    assert expect in out, out
    assert path in out


def test_cycle_fails(tree):
    add_include(tree, "rotatord/core/loop.h", '#include "core/work.h"')
    rc, out = run(str(tree))
    assert rc == 1, out
    assert "include cycle: rotatord/core/" in out, out


def test_file_outside_the_folders_fails(tree):
    (tree / "rotatord" / "stray.c").write_text("int stray;\n")
    rc, out = run(str(tree))
    assert rc == 1 and "rotatord/stray.c: not in a known folder" in out, out
