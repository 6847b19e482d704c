# SPDX-License-Identifier: Apache-2.0
"""The sd_notify protocol as systemd sees it: a datagram socket named by
$NOTIFY_SOCKET receives READY=1 after the first publish, STATUS= lines,
WATCHDOG=1 at half of WATCHDOG_USEC, RELOADING=1 on SIGHUP and STOPPING=1
on SIGTERM."""
import os
import signal
import socket
import subprocess
import time

from conftest import ROTATORD, Rotatord, wait_for

CONF = """
[ca "local"]
[credential "a"]
type = x509
ca = local
dns = a.test
"""


def test_notify_protocol(tmpdir_short):
    sock_path = os.path.join(tmpdir_short, "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(sock_path)
    s.settimeout(0.2)
    r = Rotatord(tmpdir_short, CONF)
    env = dict(os.environ, NOTIFY_SOCKET=sock_path, WATCHDOG_USEC="400000")
    p = subprocess.Popen([ROTATORD, "-c", r.cfg], env=env,
                         stderr=subprocess.DEVNULL)
    got = []

    def drain(until, what):
        end = time.monotonic() + 10
        while time.monotonic() < end:
            try:
                got.append(s.recv(4096).decode())
            except socket.timeout:
                pass
            if any(until in m for m in got):
                return
        raise AssertionError("no %s in %r" % (what, got))
    try:
        drain("READY=1", "READY=1")
        assert os.path.exists(os.path.join(r.out, "a", "bundle.pem"))
        drain("STATUS=1 of 1 credentials published, 0 failing", "STATUS=")
        n = len(got)
        drain("WATCHDOG=1", "WATCHDOG=1")
        # Half of 400 ms: several pings within a second.
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            try:
                got.append(s.recv(4096).decode())
            except socket.timeout:
                pass
        assert sum(m == "WATCHDOG=1" for m in got[n:]) >= 3
        p.send_signal(signal.SIGHUP)
        drain("RELOADING=1", "RELOADING=1")
        p.send_signal(signal.SIGTERM)
        drain("STOPPING=1", "STOPPING=1")
        assert p.wait(timeout=10) == 0
    finally:
        if p.poll() is None:
            p.kill()
        s.close()
