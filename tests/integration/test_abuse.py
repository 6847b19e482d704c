# SPDX-License-Identifier: Apache-2.0
"""Abuse of the local HTTP API: 500 slow-loris connections, 1 MiB headers
and a request flood, on TCP and on the unix socket at once.  Memory stays
bounded, rotations stay on time, and normal requests are answered again
within 5 s of the attack stopping.  The figures go to the fault suite's
table; what is asserted is what must never happen (a crash, unbounded
memory, a 200 for a 1 MiB header, an expired credential published)."""
import os
import socket
import threading
import time

from conftest import BUILD, free_port, wait_for


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def request(addr, path="/healthz", family=socket.AF_INET, timeout=2.0,
            extra=b""):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(addr)
        s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n" +
                  extra + b"Connection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    except OSError:
        return 0
    finally:
        s.close()


def test_slowloris_big_headers_and_flood(rotatord, tmpdir_short, fault_row):
    port = free_port()
    sock = os.path.join(tmpdir_short, "api.sock")
    r = rotatord("""
[listen]
unix = %s
tcp = 127.0.0.1:%d
timeout = 3s

[credential "tick"]
type = secret
lifetime = 8s
jitter = 0
""" % (sock, port))
    r.start()
    wait_for(lambda: os.path.exists(sock), what="socket")
    pid = r.proc.pid
    rss0 = rss_kib(pid)
    gen0 = r.meta("tick")["generation"]
    stop = threading.Event()
    loris = []

    def slowloris(family, addr, n):
        for _ in range(n):
            s = socket.socket(family, socket.SOCK_STREAM)
            s.setblocking(False)
            try:
                s.connect(addr)
            except BlockingIOError:
                pass
            except OSError:
                s.close()
                continue
            loris.append(s)
        while not stop.is_set():
            for s in list(loris):
                try:
                    s.send(b"X-a: b\r\n" if s.fileno() >= 0 else b"")
                except OSError:
                    pass
            stop.wait(1.0)

    flood_codes = []

    def flood(family, addr):
        while not stop.is_set():
            flood_codes.append(request(addr, family=family, timeout=1.0))

    big = b"X-Big: " + b"a" * (1 << 20) + b"\r\n"
    threads = [threading.Thread(target=slowloris,
                                args=(socket.AF_INET, ("127.0.0.1", port), 250)),
               threading.Thread(target=slowloris,
                                args=(socket.AF_UNIX, sock, 250))]
    threads += [threading.Thread(target=flood, args=(socket.AF_INET,
                                                     ("127.0.0.1", port)))
                for _ in range(3)]
    threads += [threading.Thread(target=flood, args=(socket.AF_UNIX, sock))
                for _ in range(3)]
    for t in threads:
        t.start()
    t0 = time.monotonic()
    big_codes = []
    max_rss = 0
    expired = 0         # samples that found the published tick expired
    while time.monotonic() - t0 < 10:
        big_codes.append(request(("127.0.0.1", port), extra=big, timeout=3))
        big_codes.append(request(sock, family=socket.AF_UNIX, extra=big,
                                 timeout=3))
        max_rss = max(max_rss, rss_kib(pid))
        if r.meta("tick")["not_after"] <= time.time():
            expired += 1
        time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join()
    for s in loris:
        s.close()
    gens = r.meta("tick")["generation"] - gen0
    # Service after the attack: how long until both listeners answer,
    # then the p99 of 100 normal requests from 5 s after it stopped.
    t1 = time.monotonic()
    back = None
    try:
        wait_for(lambda: request(("127.0.0.1", port)) == 200 and
                 request(sock, family=socket.AF_UNIX) == 200, timeout=60,
                 what="service after the attack")
        back = time.monotonic() - t1
        while time.monotonic() - t1 < 5:
            time.sleep(0.1)
        lat = []
        for i in range(100):
            a = time.monotonic()
            ok = request(("127.0.0.1", port)) if i % 2 else \
                request(sock, family=socket.AF_UNIX)
            lat.append((time.monotonic() - a) * 1000 if ok == 200 else 1e9)
        lat.sort()
        p99 = "%.1f ms" % lat[98] if lat[98] < 1e9 else "failed"
    finally:
        fault_row("API abuse: 500 slowloris, 1 MiB headers, flood (10 s)",
                  "TCP + unix, 6 flooders, %d flood requests" %
                  len(flood_codes),
                  "%d big-header requests" % len(big_codes),
                  "yes" if r.proc.poll() is None and expired == 0 else "NO",
                  "%d expired samples, %d big-header 200s" %
                  (expired, big_codes.count(200)),
                  "RSS %d->%d KiB, %d rotations, back in %s, GET p99 %s 5 s "
                  "after" % (rss0, max_rss, gens,
                             "%.2f s" % back if back is not None else "never",
                             p99 if back is not None else "-"))
    assert r.proc.poll() is None
    # Memory stayed bounded: the connection limits and the 32 KiB per
    # connection cap hold, whatever the attack sends.  (Not under ASan,
    # whose quarantine keeps up to 256 MiB of freed memory on purpose.)
    if "san" not in BUILD:
        assert max_rss < rss0 + 32 * 1024, (rss0, max_rss)
    # 1 MiB headers never got a 200.
    assert 200 not in big_codes
    # No rotation was missed: what was published never expired (8 s
    # lifetime, renewed at about 5.3 s), and rotations went on.
    assert expired == 0
    assert gens >= 1, gens
