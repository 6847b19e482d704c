# SPDX-License-Identifier: Apache-2.0
"""A full disk under output_dir and under state_dir (small tmpfs mounts, as
root): publishes fail with a clear error and leave the last good
generation current and whole, with no half-made generation or temporary
file behind; when space returns, the next retry publishes; and a restart
afterwards re-mints nothing."""
import errno
import os
import signal
import subprocess
import time

import pytest

from conftest import wait_for
from test_crash import check_dir, temp_entries

CONF = """
retry_min = 200ms
retry_max = 1s

[ca "local"]

[credential "web"]
type = x509
ca = local
dns = web.test
lifetime = 6s
jitter = 0

[credential "tick"]
type = secret
lifetime = 4s
jitter = 0
"""

CREDS = ("web", "tick")


@pytest.fixture
def small_disks(tmpdir_short):
    """tmpfs mounts of 1 MiB at out/ and state/ of the test directory."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    made = []
    for d in ("out", "state"):
        p = os.path.join(tmpdir_short, d)
        os.makedirs(p, mode=0o755)
        if subprocess.run(["mount", "-t", "tmpfs", "-o",
                           "size=1m,mode=0755", "rtd-full", p]).returncode:
            pytest.skip("cannot mount a tmpfs")
        made.append(p)
    yield {os.path.basename(p): p for p in made}
    for p in made:
        subprocess.run(["umount", "-l", p])


def fill(path):
    """Fills the file system of path; returns the filler's name."""
    name = os.path.join(path, ".filler")
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            while True:
                try:
                    os.write(fd, b"\0" * size)
                except OSError as e:
                    assert e.errno == errno.ENOSPC, e
                    break
    finally:
        os.close(fd)
    return name


def gens(r):
    return {c: r.meta(c)["generation"] for c in CREDS}


def restart_remints(r):
    """Restarts r; returns the credentials it re-minted while fresh (not
    yet at their renewal point when the restart was ready)."""
    renew = {c: r.meta(c)["renew_at"] for c in CREDS}
    before = gens(r)
    r.stop()
    r.start()
    ready_at = time.time()
    now = gens(r)
    return [c for c in CREDS if now[c] != before[c] and
            ready_at < renew[c] - 0.5]


class Sampler:
    """Checks every credential's generation invariant at each call."""

    def __init__(self, r):
        self.r, self.samples, self.bad = r, 0, 0

    def __call__(self):
        self.samples += 1
        for c in CREDS:
            try:
                check_dir(os.path.join(self.r.out, c))
            except (AssertionError, OSError, ValueError):
                self.bad += 1


NOSPC = "No space left on device"


def test_output_dir_full(rotatord, small_disks, fault_row):
    """Renewals fail while output_dir is full; the last good generations
    stay current and whole; the first retry with space publishes."""
    r = rotatord(CONF)
    r.start()
    check = Sampler(r)
    filler = fill(small_disks["out"])
    try:
        mark = r.text().count(NOSPC)
        t0 = time.monotonic()

        def failed(n):
            check()
            return r.proc.poll() is not None or \
                r.text().count(NOSPC) >= mark + n
        # A publish that had its pages before the disk filled may still
        # land: the baseline is what is current once one has failed.
        wait_for(lambda: failed(1), timeout=60, what="a publish to fail")
        full_at = gens(r)
        wait_for(lambda: failed(3), timeout=60, what="publishes to fail")
        assert r.proc.poll() is None, r.text()
        stuck = gens(r)
        temps = temp_entries(r.out)
        full_for = time.monotonic() - t0
        failed = r.text().count(NOSPC) - mark
    finally:
        os.unlink(filler)
    t1 = time.monotonic()
    wait_for(lambda: all(g > stuck[c] for c, g in gens(r).items()),
             timeout=60, what="publishes after space returned")
    back = time.monotonic() - t1
    check()
    reminted = restart_remints(r)
    fault_row("disk full: output_dir (1 MiB tmpfs)",
              "1 x509 + 1 secret, renewing every 3-4 s",
              "full %.1f s, %d publishes failed" % (full_for, failed),
              "yes" if check.bad == 0 and not temps else "NO",
              "%d torn of %d checks, %d temp files" %
              (check.bad, check.samples * len(CREDS), len(temps)),
              "publishing again %.1f s after space returned" % back)
    assert check.bad == 0
    assert temps == [], temps
    assert stuck == full_at         # nothing published without space
    assert "cannot publish to" in r.text()
    assert reminted == []


def test_state_dir_full(rotatord, small_disks, fault_row):
    """With state_dir full, renewals go on (each state record is rewritten
    in place), but a credential whose record cannot be stored is not
    published at all: nothing becomes visible that a restart could not
    check.  It is published once there is space."""
    r = rotatord(CONF)
    r.start()
    check = Sampler(r)
    filler = fill(small_disks["state"])
    try:
        full_at = gens(r)
        t0 = time.monotonic()
        # A credential added by a reload needs a new record.
        r.write_config(CONF + '[credential "added"]\ntype = secret\n')
        r.signal(signal.SIGHUP)

        def refused():
            check()
            return r.proc.poll() is not None or \
                "sink: added: cannot store the state record" in r.text()
        wait_for(refused, timeout=60, what="the new record to be refused")
        assert r.proc.poll() is None, r.text()
        # The others' renewals go on meanwhile.
        wait_for(lambda: check() or all(g > full_at[c] for c, g in
                                        gens(r).items()),
                 timeout=60, what="renewals while state_dir is full")
        visible = os.path.lexists(os.path.join(r.out, "added", "..data"))
        temps = temp_entries(r.out) + temp_entries(r.state)
        full_for = time.monotonic() - t0
        renewed = sum(g - full_at[c] for c, g in gens(r).items())
    finally:
        os.unlink(filler)
    t1 = time.monotonic()
    wait_for(lambda: os.path.lexists(os.path.join(r.out, "added", "..data")),
             timeout=60, what="the added credential after space returned")
    back = time.monotonic() - t1
    check_dir(os.path.join(r.out, "added"))
    check()
    reminted = restart_remints(r)
    fault_row("disk full: state_dir (1 MiB tmpfs)",
              "1 x509 + 1 secret renewing, 1 added by reload",
              "full %.1f s" % full_for,
              "yes" if check.bad == 0 and not temps and not visible
              else "NO",
              "%d torn of %d checks, %d temp files, %d renewals went on, "
              "added visible while full: %s" %
              (check.bad, check.samples * len(CREDS), len(temps), renewed,
               "yes" if visible else "no"),
              "added published %.1f s after space returned" % back)
    assert check.bad == 0
    assert not visible
    assert temps == [], temps
    assert reminted == []
