# SPDX-License-Identifier: Apache-2.0
"""Log lines: the "<N>" syslog priority prefix only when stderr is the
journal (JOURNAL_STREAM names stderr's device and inode), a timestamp and
the level otherwise; JSON lines as documented in rotatord(8)."""
import json
import os
import re
import subprocess

from conftest import ROTATORD

CONF = """
[ca "c"]
[credential "web"]
type = x509
ca = c
dns = localhost
lifetime = 1h
"""

TEXT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
                  r"(emerg|alert|crit|err|warning|notice|info|debug): \S")
PREFIX = re.compile(r"^<[0-7]>\S")


def run_once(r, env_extra, journal=False):
    """--once with stderr on a file; journal=True sets JOURNAL_STREAM to
    that file's device:inode, as systemd does for a journal stream."""
    with open(r.log, "wb") as f:
        st = os.fstat(f.fileno())
        env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
        env.update(env_extra)
        if journal:
            env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
        res = subprocess.run([ROTATORD, "-c", r.cfg, "--once"], stderr=f,
                             stdout=subprocess.DEVNULL, env=env, timeout=60)
    assert res.returncode == 0, r.text()
    lines = r.text().splitlines()
    assert len(lines) >= 3
    return lines


def test_text_lines_outside_the_journal(rotatord):
    r = rotatord(CONF)
    for extra in ({}, {"JOURNAL_STREAM": "1:2"}, {"JOURNAL_STREAM": "junk"}):
        lines = run_once(r, extra)
        bad = [l for l in lines if not TEXT.match(l)]
        assert not bad, bad
        assert not any(PREFIX.match(l) for l in lines)


def test_priority_prefix_when_stderr_is_the_journal(rotatord):
    r = rotatord(CONF)
    lines = run_once(r, {}, journal=True)
    bad = [l for l in lines if not PREFIX.match(l)]
    assert not bad, bad
    # notice for the start line, info for a publish: the levels are right.
    assert any(l.startswith("<5>rotatord ") for l in lines)
    assert any(l.startswith("<6>credential web: ") for l in lines)


def test_json_lines(rotatord):
    r = rotatord(CONF)
    with open(r.cfg) as f:
        body = f.read().replace("[rotatord]\n", "[rotatord]\nlog_format = json\n", 1)
    with open(r.cfg, "w") as f:
        f.write(body)
    for journal in (False, True):
        lines = run_once(r, {}, journal=journal)
        for l in lines:
            if journal:
                assert PREFIX.match(l), l
                l = l[3:]
            o = json.loads(l)
            assert set(o) == {"ts", "level", "msg"}, o
            assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", o["ts"])
            assert o["level"] in ("emerg", "alert", "crit", "err", "warning",
                                  "notice", "info", "debug")
        assert any(json.loads(l[3:] if journal else l)["msg"].startswith(
            "credential web: ") for l in lines)
