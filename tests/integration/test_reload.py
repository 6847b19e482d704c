# SPDX-License-Identifier: Apache-2.0
"""Reload targets: two certificates that rotate together cause one reload;
a failing check blocks the reload and is retried; exec gets argv, no shell."""
import os
import signal
import socket
import time

from conftest import wait_for

# The reload command takes argv without a shell; a helper script records
# each run.
SCRIPT = """#!/bin/sh
echo "$@" >> %(log)s
exit %(rc)s
"""


def script(tmp, name, log, rc=0):
    p = os.path.join(tmp, name)
    with open(p, "w") as f:
        f.write(SCRIPT % {"log": log, "rc": rc})
    os.chmod(p, 0o755)
    return p


def lines(path):
    try:
        with open(path) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def test_two_certificates_one_reload(rotatord, tmpdir_short):
    log = os.path.join(tmpdir_short, "reloads.log")
    hook = script(tmpdir_short, "hook.sh", log)
    r = rotatord("""
[ca "local"]

[credential "a"]
type = x509
ca = local
dns = a.test
on_rotate = hook

[credential "b"]
type = x509
ca = local
dns = b.test
on_rotate = hook

[reload "hook"]
exec = %s reloaded with-arg
debounce = 500ms
""" % hook)
    r.start()
    wait_for(lambda: len(lines(log)) >= 1, what="first reload")
    assert lines(log) == ["reloaded with-arg"]
    # Both rotate together again: still one reload.
    r.signal(signal.SIGUSR1)
    wait_for(lambda: r.meta("a")["generation"] == 2 and
             r.meta("b")["generation"] == 2, what="rotation")
    wait_for(lambda: len(lines(log)) >= 2, what="second reload")
    time.sleep(1.5)
    assert len(lines(log)) == 2
    assert r.text().count("reload hook: done for a,b") == 2


def test_failing_check_blocks_reload_and_retries(rotatord, tmpdir_short):
    log = os.path.join(tmpdir_short, "reloads.log")
    checklog = os.path.join(tmpdir_short, "checks.log")
    hook = script(tmpdir_short, "hook.sh", log)
    check = script(tmpdir_short, "check.sh", checklog, rc=1)
    r = rotatord("""
retry_min = 200ms
retry_max = 400ms
[ca "local"]

[credential "a"]
type = x509
ca = local
dns = a.test
on_rotate = hook

[reload "hook"]
exec = %s
check = %s
debounce = 100ms
""" % (hook, check))
    r.start()
    wait_for(lambda: len(lines(checklog)) >= 3, what="check retries")
    assert lines(log) == []
    assert "reload hook: check exited with status 1; published files " \
        "unchanged, retrying in" in r.text()
    # Files stay published while reloads fail.
    assert os.path.exists(r.path("a", "bundle.pem"))
    # The check starts passing: the owed reload happens once.
    script(tmpdir_short, "check.sh", checklog, rc=0)
    wait_for(lambda: len(lines(log)) == 1, what="reload after recovery")


def test_pidfile_signal(rotatord, tmpdir_short):
    import subprocess
    got = os.path.join(tmpdir_short, "got")
    # A child that records SIGUSR2 and exits.
    child = subprocess.Popen(["/bin/sh", "-c",
                              "trap 'echo usr2 > %s; exit 0' USR2; "
                              "while :; do sleep 0.05; done" % got])
    pidfile = os.path.join(tmpdir_short, "x.pid")
    with open(pidfile, "w") as f:
        f.write("%d\n" % child.pid)
    try:
        r = rotatord("""
[ca "local"]
[credential "a"]
type = x509
ca = local
dns = a.test
on_rotate = sig
[reload "sig"]
pidfile = %s
signal = USR2
debounce = 100ms
""" % pidfile)
        r.start()
        wait_for(lambda: os.path.exists(got), what="signal delivered")
        assert "reload sig: sent SIGUSR2 to pid %d" % child.pid in r.text()
    finally:
        child.kill()
        child.wait()


def test_verify_fails_until_new_leaf_is_served(rotatord, tmpdir_short):
    """A reload that leaves the old certificate served (nginx fails
    silently) counts as failed and is retried; metrics-worthy log lines
    say so."""
    import ssl
    import threading
    from idp import make_tls
    from conftest import free_port
    d = os.path.join(tmpdir_short, "tls")
    os.makedirs(d)
    _, cert, key = make_tls(d)
    port = free_port()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv = socket.socket()
    srv.bind(("127.0.0.1", port))
    srv.listen(16)
    srv.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except OSError:
                continue
            try:
                with ctx.wrap_socket(c, server_side=True) as t:
                    t.recv(1)
            except (OSError, ssl.SSLError):
                pass
    th = threading.Thread(target=serve)
    th.start()
    log = os.path.join(tmpdir_short, "reloads.log")
    hook = script(tmpdir_short, "hook.sh", log)
    try:
        r = rotatord("""
retry_min = 300ms
retry_max = 600ms
[ca "local"]
[credential "web"]
type = x509
ca = local
dns = localhost
on_rotate = hook
[reload "hook"]
exec = %s
debounce = 100ms
verify = 127.0.0.1:%d
verify_timeout = 500ms
""" % (hook, port))
        r.start()
        wait_for(lambda: len(lines(log)) >= 3, timeout=15,
                 what="retried reloads")
        text = r.text()
        assert "reload hook: verify 127.0.0.1:%d: localhost still serves" % port \
            in text, text[-1500:]
        assert "retrying in" in text
        assert "reload hook: done" not in text
    finally:
        stop.set()
        th.join()
        srv.close()
