# SPDX-License-Identifier: Apache-2.0
"""Real nginx serving bundle.pem while rotatord rotates a 6-second
certificate: handshakes never fail, several serials are served, and nginx
is reloaded exactly once per rotation (verified after each reload); and
rotation after rotation under many TLS clients, with the lag from
published to served measured for the fault suite's table."""
import os
import signal
import socket
import ssl
import threading
import time

from cryptography import x509

from conftest import fault_scale, wait_for

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


def serial_of(der):
    return x509.load_der_x509_certificate(der).serial_number


def test_rotations_under_tls_clients(rotatord, nginx, fault_row):
    """Rotation after rotation (SIGUSR1) under real nginx with TLS clients
    handshaking all along: no handshake fails, and each new certificate is
    served; the lag from published to served goes to the fault table."""
    want, nclients = fault_scale((40, 20), (1000, 50))
    r = rotatord("")
    body = CONF.replace("lifetime = 6s", "lifetime = 1h") \
        .replace("debounce = 200ms", "debounce = 0s")
    r.write_config(body.replace("on_rotate = nginx\n", "")
                   .split("[reload")[0])
    assert r.run("--once").returncode == 0
    n = nginx(r.path("web", "bundle.pem")).start()
    r.write_config(body % {"pidfile": n.pidfile, "prefix": n.dir,
                           "conf": n.conf, "port": n.port})
    r.start()
    ca = r.path("web", "ca.pem")

    def handshake(ctx):
        with socket.create_connection(("127.0.0.1", n.port), timeout=10) as s:
            with ctx.wrap_socket(s, server_hostname="localhost") as t:
                return t.getpeercert(binary_form=True)

    failures, count = [], [0]
    stop = threading.Event()

    def client():
        ctx = ssl.create_default_context(cafile=ca)
        while not stop.is_set():
            try:
                handshake(ctx)
                count[0] += 1
            except Exception as e:    # any failed handshake fails the test
                failures.append(repr(e))
            stop.wait(0.01)

    threads = [threading.Thread(target=client) for _ in range(nclients)]
    for t in threads:
        t.start()
    probe = ssl.create_default_context(cafile=ca)
    lags, unserved = [], 0
    t0 = time.monotonic()
    try:
        for _ in range(want):
            gen = r.meta("web")["generation"]
            r.signal(signal.SIGUSR1)
            wait_for(lambda: r.meta("web")["generation"] > gen, timeout=30,
                     step=0.005, what="the rotation to publish")
            published = time.monotonic()
            with open(r.path("web", "cert.pem"), "rb") as f:
                want_serial = x509.load_pem_x509_certificate(
                    f.read()).serial_number
            try:
                wait_for(lambda: serial_of(handshake(probe)) == want_serial,
                         timeout=30, step=0.005, what="nginx to serve it")
                lags.append(time.monotonic() - published)
            except AssertionError:
                unserved += 1
    finally:
        stop.set()
        for t in threads:
            t.join()
        took = time.monotonic() - t0
        lags.sort()
        q = (lambda p: "%.0f ms" % (1000 * lags[min(len(lags) - 1,
                                                    int(p * len(lags)))])
             if lags else "-")
        fault_row("%d rotations under real nginx, %d TLS clients" %
                  (want, nclients),
                  "%d handshakes in %.0f s" % (count[0], took),
                  "%d rotations, %d reloads" % (len(lags) + unserved,
                                                n.reloads()),
                  "yes" if not failures and not unserved else "NO",
                  "%d failed handshakes, %d rotations never served" %
                  (len(failures), unserved),
                  "published -> served p50 %s, p99 %s, max %s; %d verify "
                  "retries" % (q(0.5), q(0.99), q(1.0),
                               r.text().count("still serves")))
    assert failures == [], failures[:5]
    assert unserved == 0
    assert len(lags) == want
    with open(n.errlog) as f:
        assert "key values mismatch" not in f.read()
