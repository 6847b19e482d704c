# SPDX-License-Identifier: Apache-2.0
"""Real nginx serving bundle.pem while rotatord rotates a 6-second
certificate: handshakes never fail, several serials are served, and nginx
is reloaded exactly once per rotation (verified after each reload)."""
import os
import socket
import ssl
import threading
import time

from conftest import wait_for

CONF = """
backdate = 60s
[ca "local"]

[credential "web"]
type = x509
ca = local
dns = localhost
lifetime = 6s
on_rotate = nginx

[reload "nginx"]
pidfile = %(pidfile)s
signal = HUP
check = /usr/sbin/nginx -t -q -p %(prefix)s -c %(conf)s
debounce = 200ms
verify = 127.0.0.1:%(port)d
verify_timeout = 3s
"""


def test_nginx_rotation_under_load(rotatord, nginx):
    r = rotatord("")
    # nginx needs a certificate to start: publish once, then run the daemon.
    body = CONF % {"pidfile": "/nonexistent", "prefix": "/", "conf": "/x",
                   "port": 1}
    r.write_config(body.replace("on_rotate = nginx\n", "")
                   .split("[reload")[0])
    assert r.run("--once").returncode == 0
    n = nginx(r.path("web", "bundle.pem")).start()
    r.write_config(CONF % {"pidfile": n.pidfile, "prefix": n.dir,
                           "conf": n.conf, "port": n.port})
    r.start()

    seen, failures, count = set(), [], [0]
    stop = threading.Event()

    def client():
        ctx = ssl.create_default_context(cafile=r.path("web", "ca.pem"))
        while not stop.is_set():
            try:
                with socket.create_connection(("127.0.0.1", n.port),
                                              timeout=3) as s:
                    with ctx.wrap_socket(s, server_hostname="localhost") as t:
                        seen.add(t.getpeercert(binary_form=True))
                count[0] += 1
            except Exception as e:    # any failed handshake fails the test
                failures.append(repr(e))
            time.sleep(0.005)

    th = threading.Thread(target=client)
    th.start()
    time.sleep(32)
    stop.set()
    th.join()
    # Stop first, then count: a reload signalled between reading the log
    # and stopping would otherwise count in nginx but not in the log.
    r.stop()
    text = r.text()

    gen = r.meta("web")["generation"]
    rotations = text.count("credential web: published generation")
    reloads = n.reloads()
    done = text.count("reload nginx: done for web (new certificate served)")
    print("handshakes=%d serials=%d rotations=%d reloads=%d verified=%d gen=%d"
          % (count[0], len(seen), rotations, reloads, done, gen))
    assert failures == [], failures[:5]
    assert count[0] > 500
    assert len(seen) >= 3
    assert rotations >= 6
    # Exactly one reload per rotation (the last may still be in flight).
    assert rotations - 1 <= reloads <= rotations
    # Every reload was verified, except one still being verified at stop.
    assert reloads - 1 <= done <= reloads
    assert "retrying" not in text
    with open(n.errlog) as f:
        assert "key values mismatch" not in f.read()
