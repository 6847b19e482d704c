#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""make bench: rotatord's hot paths beside bare baselines (README.md, Performance).

Each pair runs interleaved (ours, baseline, ours, baseline, ...) at least
five times (the HTTP rows three times, 5 s each); the table shows medians
and the ratio of the medians.  The box is shared and noisy
(reference/perf-anchors.md): only ratios from one run mean anything.  This
is a benchmark, not a test: a ratio below its target is reported, never
turned into a failing exit status.  Only a crash of a measured program is.

The HTTP rows run wrk against rotatord, the bare libmicrohttpd server of
tests/bench/mhd_bare.c and nginx, all started here on 127.0.0.1 and
stopped by PID; they need wrk and nginx (skipped with a note without).
"""

import argparse
import base64
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

OPENSSL_RE = re.compile(
    r"^\s*256 bits ecdsa \(nistp256\)\s+\S+s\s+\S+s\s+([\d.]+)\s+([\d.]+)\s*$",
    re.M)


class Crash(Exception):
    pass


def bench(binary, mode, secs):
    p = subprocess.run([binary, mode, str(secs)], capture_output=True,
                       text=True)
    if p.returncode != 0:
        raise Crash("%s %s exited %d: %s" % (binary, mode, p.returncode,
                                            p.stderr.strip()))
    return float(p.stdout.split()[-1])


def openssl_speed(secs):
    """Returns (sign/s, verify/s) of `openssl speed -seconds N ecdsap256`."""
    p = subprocess.run(["openssl", "speed", "-seconds", str(secs),
                        "ecdsap256"], capture_output=True, text=True)
    m = OPENSSL_RE.search(p.stdout)
    if p.returncode != 0 or m is None:
        raise Crash("openssl speed failed (%d): %s" % (
            p.returncode, (p.stdout + p.stderr)[-500:]))
    return float(m.group(1)), float(m.group(2))


class Row:
    """One ours-vs-baseline pair; target is the minimum ratio of medians
    (None: reported only, as INFO)."""

    def __init__(self, name, target):
        self.name = name
        self.target = target
        self.ours = []
        self.base = []

    def ratio(self):
        if not self.ours or not self.base:
            return None
        return statistics.median(self.ours) / statistics.median(self.base)


def fmt_rate(v):
    return "%.0f" % v if v >= 100 else "%.1f" % v


def spread(vals):
    return "%s..%s" % (fmt_rate(min(vals)), fmt_rate(max(vals)))


# ---- idle RSS -------------------------------------------------------------

def write_config(d, n_secret, n_x509, n_jwt):
    lines = [
        "[rotatord]",
        "output_dir = %s/out" % d,
        "state_dir = %s/state" % d,
        "log_level = notice",
        "",
        '[ca "local"]',
        "",
        '[signer "local"]',
        "issuer = https://rotatord.bench.example",
        "",
    ]
    for i in range(n_x509):
        lines += ['[credential "web%d"]' % i, "type = x509", "ca = local",
                  "dns = web%d.bench.example" % i, "ip = 127.0.0.1",
                  "uri = spiffe://bench.example/web%d" % i,
                  "lifetime = 24h", ""]
    for i in range(n_jwt):
        lines += ['[credential "tok%d"]' % i, "type = jwt", "signer = local",
                  "subject = spiffe://bench.example/svc%d" % i,
                  "audience = demo", "lifetime = 1h", ""]
    for i in range(n_secret):
        lines += ['[credential "sec%d"]' % i, "type = secret", "bytes = 32",
                  "keep = 2", ""]
    path = os.path.join(d, "rotatord.ini")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def measure_rss(rotatord, n_secret, n_x509, n_jwt, timeout):
    """Starts rotatord, waits for "ready: ", sleeps 1 s, reads VmRSS (KiB).

    Returns (rss_kib, startup_seconds), or (None, seconds) when it was not
    ready within timeout."""
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix="rotatord-rss.", dir=base) as d:
        cfg = write_config(d, n_secret, n_x509, n_jwt)
        log_path = os.path.join(d, "stderr.log")
        with open(log_path, "wb") as log:
            t0 = time.monotonic()
            proc = subprocess.Popen([rotatord, "-c", cfg], stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=log)
        rss = None
        try:
            ready = False
            while time.monotonic() - t0 < timeout:
                if proc.poll() is not None:
                    with open(log_path, errors="replace") as f:
                        tail = f.read()[-2000:]
                    raise Crash("rotatord exited %d before ready: %s" % (
                        proc.returncode, tail))
                with open(log_path, "rb") as f:
                    if b"ready: " in f.read():
                        ready = True
                        break
                time.sleep(0.02)
            startup = time.monotonic() - t0
            if ready:
                time.sleep(1.0)
                with open("/proc/%d/status" % proc.pid) as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            rss = int(line.split()[1])
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        return rss, startup


# ---- HTTP: credential GET, authz (wrk) ------------------------------------
#
# One rotatord (TCP listener, a [signer] whose tokens are the bearer
# tokens, a 2,048-byte secret credential, a [route] for /v1/authz), the
# bare libmicrohttpd server (tests/bench/mhd_bare.c) and nginx with
# open_file_cache serving a copy of the same file, all on 127.0.0.1.
# Every request carries the same headers, so the three servers parse the
# same bytes.  wrk -t1 -c32, keep-alive.

ISSUER_URL = "https://rotatord.bench.example"
ROUTE_URI = "/api/x"
CRED_PATH = "/v1/credentials/blob/0.key"
WRK_CONN = 32

WRK_HEADERS_LUA = """
-- Fixed headers: the bearer token and, for /v1/authz, X-Original-URI
-- and X-Original-Method.
init = function(args)
  wrk.headers["Rotatord-Request"] = "1"
  wrk.headers["Authorization"] = "Bearer " .. args[1]
  if args[2] ~= nil and args[2] ~= "" then
    wrk.headers["X-Original-URI"] = args[2]
    wrk.headers["X-Original-Method"] = "GET"
  end
end
"""

WRK_DISTINCT_LUA = """
-- A different token per request, round-robin through a file of tokens
-- from line args[2] + 1 on: each is verified once (the verified-token
-- cache holds far fewer than the file).
local toks = {}
local i = 0
init = function(args)
  for line in io.lines(args[1]) do toks[#toks + 1] = line end
  i = tonumber(args[2]) % #toks
end
request = function()
  i = i + 1
  if i > #toks then i = 1 end
  return wrk.format("GET", nil, {
    ["Rotatord-Request"] = "1",
    ["Authorization"] = "Bearer " .. toks[i],
    ["X-Original-URI"] = "ROUTE_URI",
    ["X-Original-Method"] = "GET",
  })
end
""".replace("ROUTE_URI", ROUTE_URI)

NGINX_CONF = """
worker_processes 1;
daemon off;
# The bench's temporary directory is 0700: the worker reads it as root.
user root;
pid %(d)s/nginx.pid;
error_log %(d)s/nginx-error.log error;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    open_file_cache max=1000 inactive=60s;
    open_file_cache_valid 60s;
    default_type application/octet-stream;
    client_body_temp_path %(d)s/nginx-tmp;
    proxy_temp_path %(d)s/nginx-tmp;
    fastcgi_temp_path %(d)s/nginx-tmp;
    uwsgi_temp_path %(d)s/nginx-tmp;
    scgi_temp_path %(d)s/nginx-tmp;
    server {
        listen 127.0.0.1:%(port)d;
        root %(d)s/www;
    }
}
"""

WRK_RPS_RE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.M)
WRK_N_RE = re.compile(r"^\s*(\d+) requests in", re.M)
WRK_NON2XX_RE = re.compile(r"Non-2xx or 3xx responses: (\d+)")
WRK_SOCKERR_RE = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as so:
        so.bind(("127.0.0.1", 0))
        return so.getsockname()[1]


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=")


class Minter:
    """ES256 tokens signed with the [signer]'s own key (state_dir), so
    rotatord trusts them like any token of its signer."""

    def __init__(self, key_pem, kid):
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec, utils
        self.key = serialization.load_pem_private_key(key_pem, None)
        self.algo = ec.ECDSA(hashes.SHA256())
        self.dss = utils.decode_dss_signature
        self.head = b64u(json.dumps({"alg": "ES256", "typ": "JWT",
                                     "kid": kid},
                                    separators=(",", ":")).encode())
        self.now = int(time.time())

    def mint(self, jti):
        claims = {"iss": ISSUER_URL, "sub": "bench", "aud": "rotatord",
                  "iat": self.now,
                  "exp": self.now + 3600, "jti": jti, "scope": "api.read"}
        si = self.head + b"." + b64u(json.dumps(
            claims, separators=(",", ":")).encode())
        r, s = self.dss(self.key.sign(si, self.algo))
        return (si + b"." + b64u(r.to_bytes(32, "big") +
                                 s.to_bytes(32, "big"))).decode()


def proc_ticks(pid):
    """utime + stime of pid and its children (nginx: master + worker)."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
            with open("/proc/%d/task/%d/children" % (p, p)) as f:
                todo += [int(c) for c in f.read().split()]
        except (OSError, ValueError, IndexError):
            pass
    return total


def unix_get(sock_path, path, timeout=5):
    """GET path on rotatord's unix socket (as root): (status, body)."""
    so = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    so.settimeout(timeout)
    try:
        so.connect(sock_path)
        so.sendall(("GET %s HTTP/1.0\r\nHost: rotatord\r\n"
                    "Rotatord-Request: 1\r\n\r\n" % path).encode())
        data = b""
        while True:
            b = so.recv(65536)
            if not b:
                break
            data += b
    finally:
        so.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def tcp_get(port, path, headers):
    """One GET over TCP: (status, body)."""
    so = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        req = "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n" % path
        for k, v in headers.items():
            req += "%s: %s\r\n" % (k, v)
        so.sendall((req + "\r\n").encode())
        data = b""
        while True:
            b = so.recv(65536)
            if not b:
                break
            data += b
    finally:
        so.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def cache_lookups(sock_path):
    """(hits, misses) of rotatord's verified-token cache, from /metrics."""
    code, body = unix_get(sock_path, "/metrics")
    text = body.decode(errors="replace")
    hit = re.search(r'token_cache_lookups_total\{result="hit"\} (\d+)', text)
    miss = re.search(r'token_cache_lookups_total\{result="miss"\} (\d+)',
                     text)
    if code != 200 or hit is None or miss is None:
        raise Crash("rotatord /metrics: %d" % code)
    return int(hit.group(1)), int(miss.group(1))


def run_wrk(url, script, wargs, secs, pids):
    """wrk -t1 -c32 for secs: (req/s, requests, bad, server CPU us/req).

    bad counts non-2xx responses and socket errors (other than the reads
    and writes cut off when the run ends)."""
    t0 = proc_ticks_all(pids)
    p = subprocess.run(["wrk", "-t1", "-c%d" % WRK_CONN, "-d%ds" % secs,
                        "-s", script, url, "--"] + wargs,
                       capture_output=True, text=True)
    t1 = proc_ticks_all(pids)
    m, n = WRK_RPS_RE.search(p.stdout), WRK_N_RE.search(p.stdout)
    if p.returncode != 0 or m is None or n is None:
        raise Crash("wrk %s exited %d: %s" % (url, p.returncode,
                                             (p.stdout + p.stderr)[-800:]))
    bad = 0
    e = WRK_NON2XX_RE.search(p.stdout)
    if e is not None:
        bad += int(e.group(1))
    e = WRK_SOCKERR_RE.search(p.stdout)
    if e is not None:
        bad += int(e.group(1)) + int(e.group(4))
    reqs = int(n.group(1))
    cpu_us = ((t1 - t0) * 1e6 / os.sysconf("SC_CLK_TCK") / reqs
              if reqs > 0 else float("nan"))
    return float(m.group(1)), reqs, bad, cpu_us


def proc_ticks_all(pids):
    return sum(proc_ticks(p) for p in pids)


def stop(proc):
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_until(pred, timeout, what, proc=None, log_path=None):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc is not None and proc.poll() is not None:
            tail = ""
            if log_path is not None:
                with open(log_path, errors="replace") as f:
                    tail = f.read()[-2000:]
            raise Crash("%s exited %d: %s" % (what, proc.returncode, tail))
        if pred():
            return
        time.sleep(0.02)
    raise Crash("%s: not ready within %d s" % (what, timeout))


def http_config(d, port):
    return """[rotatord]
output_dir = %(d)s/out
state_dir = %(d)s/state

[listen]
unix = %(d)s/api.sock
tcp = 127.0.0.1:%(port)d
max_connections = 128
per_ip_limit = 64

[signer "local"]
issuer = %(iss)s

[credential "blob"]
type = secret
bytes = 2048

[client "bench"]
issuer = local
allow = blob

[route "api"]
prefix = /api/
issuer = local
scope = api.read
""" % {"d": d, "port": port, "iss": ISSUER_URL}


def http_bench(args, rows, cpu, notes):
    """Fills the four HTTP rows; cpu[server] gets server CPU us/request."""
    get, ngx, authz, authzd = rows
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    procs = []
    with tempfile.TemporaryDirectory(prefix="rotatord-http.", dir=base) as d:
        try:
            _http_bench(args, d, procs, get, ngx, authz, authzd, cpu, notes)
        finally:
            for p in reversed(procs):
                stop(p)


def _http_bench(args, d, procs, get, ngx, authz, authzd, cpu, notes):
    secs = args.http_secs
    # rotatord, logging as configured by default (info: one audit line a
    # request) into a file that is emptied after every run.
    rport = free_port()
    cfg = os.path.join(d, "rotatord.ini")
    with open(cfg, "w") as f:
        f.write(http_config(d, rport))
    log_path = os.path.join(d, "rotatord.log")
    with open(log_path, "ab") as log:
        rot = subprocess.Popen([args.rotatord, "-c", cfg],
                               stdin=subprocess.DEVNULL, stdout=log,
                               stderr=log)
    procs.append(rot)

    def ready():
        with open(log_path, "rb") as f:
            return b"ready: " in f.read()
    wait_until(ready, 30, "rotatord", rot, log_path)
    sock = os.path.join(d, "api.sock")
    wait_until(lambda: os.path.exists(sock), 10, "rotatord api socket", rot,
               log_path)

    with open(os.path.join(d, "state/signer/local/key.pem"), "rb") as f:
        key_pem = f.read()
    with open(os.path.join(d, "out/local/jwks.json")) as f:
        kid = json.load(f)["keys"][0]["kid"]
    minter = Minter(key_pem, kid)
    token = minter.mint("bench-repeated")
    t0 = time.monotonic()
    n_tok = max(args.tokens, 1)
    tok_path = os.path.join(d, "tokens.txt")
    with open(tok_path, "w") as f:
        for i in range(n_tok):
            f.write(minter.mint("bench-%d" % i) + "\n")
    print("bench: %d distinct tokens signed in %.1f s" % (
        n_tok, time.monotonic() - t0), flush=True)

    # The same bytes for the bare server and nginx, at the same URL path.
    with open(os.path.join(d, "out/blob/0.key"), "rb") as f:
        body = f.read()
    www = os.path.join(d, "www" + os.path.dirname(CRED_PATH))
    os.makedirs(www)
    with open(os.path.join(d, "www" + CRED_PATH), "wb") as f:
        f.write(body)

    bare = subprocess.Popen([args.mhd_bare, os.path.join(d, "www" +
                                                          CRED_PATH)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            text=True)
    procs.append(bare)
    line = bare.stdout.readline().split()
    if len(line) != 2 or line[0] != "port":
        raise Crash("mhd_bare did not start: %r" % line)
    bport = int(line[1])

    nport = free_port()
    os.makedirs(os.path.join(d, "nginx-tmp"))
    nconf = os.path.join(d, "nginx.conf")
    with open(nconf, "w") as f:
        f.write(NGINX_CONF % {"d": d, "port": nport})
    nlog = os.path.join(d, "nginx-stderr.log")
    with open(nlog, "ab") as log:
        nginx = subprocess.Popen(["nginx", "-p", d, "-c", nconf],
                                 stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=log)
    procs.append(nginx)

    def nginx_up():
        try:
            return tcp_get(nport, CRED_PATH, {})[0] == 200
        except OSError:
            return False
    wait_until(nginx_up, 10, "nginx", nginx, nlog)

    # Everyone answers correctly before anything is timed.
    hdrs = {"Rotatord-Request": "1", "Authorization": "Bearer " + token}
    for name, port in (("rotatord", rport), ("mhd_bare", bport),
                       ("nginx", nport)):
        code, got = tcp_get(port, CRED_PATH, hdrs)
        if code != 200 or got != body:
            raise Crash("%s: GET %s gave %d, %d bytes (want 200, %d)" % (
                name, CRED_PATH, code, len(got), len(body)))
    hdrs["X-Original-URI"] = ROUTE_URI
    hdrs["X-Original-Method"] = "GET"
    code, _ = tcp_get(rport, "/v1/authz", hdrs)
    with open(tok_path) as f:
        hdrs["Authorization"] = "Bearer " + f.readline().strip()
    code2, _ = tcp_get(rport, "/v1/authz", hdrs)
    if code != 200 or code2 != 200:
        raise Crash("rotatord: GET /v1/authz gave %d / %d" % (code, code2))

    hdr_lua = os.path.join(d, "headers.lua")
    with open(hdr_lua, "w") as f:
        f.write(WRK_HEADERS_LUA)
    dist_lua = os.path.join(d, "distinct.lua")
    with open(dist_lua, "w") as f:
        f.write(WRK_DISTINCT_LUA)
    rurl = "http://127.0.0.1:%d" % rport
    nginx_pid = nginx.pid
    offset = 1                    # the first token was used above
    bad = {}

    def one(key, url, script, wargs, pids):
        rps, reqs, nbad, us = run_wrk(url, script, wargs, secs, pids)
        if nbad:
            bad[key] = bad.get(key, 0) + nbad
        cpu.setdefault(key, []).append(us)
        if rot.poll() is not None:
            raise Crash("rotatord exited %d during %s" % (rot.returncode,
                                                         key))
        # The audit lines of a run: kept only until the next run.
        os.truncate(log_path, 0)
        return rps, reqs

    hits_total = misses_total = 0
    for rep in range(args.http_reps):
        rps, _ = one("rotatord GET", rurl + CRED_PATH, hdr_lua, [token],
                     [rot.pid])
        get.ours.append(rps)
        authz.base.append(rps)
        rps, _ = one("mhd_bare GET", "http://127.0.0.1:%d%s" % (
            bport, CRED_PATH), hdr_lua, [token], [bare.pid])
        get.base.append(rps)
        rps, _ = one("nginx GET", "http://127.0.0.1:%d%s" % (
            nport, CRED_PATH), hdr_lua, [token], [nginx_pid])
        ngx.base.append(rps)
        ngx.ours.append(get.ours[-1])
        rps, _ = one("rotatord authz, repeated token", rurl + "/v1/authz",
                     hdr_lua, [token, ROUTE_URI], [rot.pid])
        authz.ours.append(rps)
        h0, m0 = cache_lookups(sock)
        rps, reqs = one("rotatord authz, distinct tokens",
                        rurl + "/v1/authz", dist_lua,
                        [tok_path, str(offset)], [rot.pid])
        h1, m1 = cache_lookups(sock)
        hits_total += h1 - h0
        misses_total += m1 - m0
        authzd.ours.append(rps)
        if reqs > n_tok:
            notes.append("rep %d: %d distinct-token requests went round "
                         "%d tokens" % (rep + 1, reqs, n_tok))
        # Requests still in flight when wrk stopped were verified too.
        offset = (offset + reqs + 2 * WRK_CONN) % n_tok
        _, verify = openssl_speed(args.openssl_secs)
        authzd.base.append(verify)
    notes.append("distinct tokens: %d cache misses, %d hits (hits mean a "
                 "token was not verified)" % (misses_total, hits_total))
    notes.append("bare MHD / nginx open_file_cache: %.2f (perf-anchors: "
                 "about 1.3)" % (statistics.median(get.base) /
                                 statistics.median(ngx.base)))
    for key, n in sorted(bad.items()):
        notes.append("%s: %d non-2xx responses or socket errors" % (key, n))


# ---- rotation to nginx serving the new certificate ------------------------
#
# The target: "nginx reload time + under 50 ms".  Ours: a rotation asked
# through the admin API (debounce 0s, so the configured wait is not
# counted) until a TLS handshake with nginx shows the new leaf.  Baseline:
# a second nginx whose bundle is swapped by hand (write + rename) and sent
# SIGHUP, until a handshake shows the new leaf: nginx's own reload time.

NGINX_TLS_CONF = """
worker_processes 1;
daemon off;
user root;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log error;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %(d)s/t1;
    proxy_temp_path %(d)s/t2;
    fastcgi_temp_path %(d)s/t3;
    uwsgi_temp_path %(d)s/t4;
    scgi_temp_path %(d)s/t5;
    ssl_session_cache off;
    ssl_session_tickets off;
    server {
        listen 127.0.0.1:%(port)d ssl;
        ssl_certificate %(b)s;
        ssl_certificate_key %(b)s;
        location / { return 200 "ok"; }
    }
}
"""


def served_cert(port):
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        with ctx.wrap_socket(s) as t:
            return t.getpeercert(binary_form=True)


def until_new_cert(port, old, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if served_cert(port) != old:
                return time.monotonic()
        except OSError:
            pass
    raise Crash("nginx on %d did not serve a new certificate" % port)


def start_nginx(d, bundle, procs):
    port = free_port()
    os.makedirs(d, exist_ok=True)
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_TLS_CONF % {"d": d, "port": port, "b": bundle})
    p = subprocess.Popen(["nginx", "-p", d, "-c", conf],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    procs.append(p)

    def up():
        try:
            return served_cert(port) is not None
        except OSError:
            return False
    wait_until(up, 10, "nginx", p)
    return p, port


def reload_bench(args, reps):
    """Returns (ours_ms, base_ms) lists."""
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    procs = []
    ours, bases = [], []
    with tempfile.TemporaryDirectory(prefix="rotatord-reload.",
                                     dir=base) as d:
        try:
            out = os.path.join(d, "out")
            sock = os.path.join(d, "api.sock")
            cfg = os.path.join(d, "rotatord.ini")
            with open(cfg, "w") as f:
                f.write("""[rotatord]
output_dir = %(d)s/out
state_dir = %(d)s/state
log_level = notice
[ca "local"]
[credential "web"]
type = x509
ca = local
dns = localhost
lifetime = 1h
on_rotate = nginx
[reload "nginx"]
pidfile = %(d)s/ngx/nginx.pid
signal = HUP
debounce = 0s
[listen]
unix = %(s)s
""" % {"d": d, "s": sock})
            log_path = os.path.join(d, "rotatord.log")
            with open(log_path, "ab") as log:
                rot = subprocess.Popen([args.rotatord, "-c", cfg],
                                       stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=log)
            procs.append(rot)
            bundle = os.path.join(out, "web", "bundle.pem")
            wait_until(lambda: os.path.exists(sock) and
                       os.path.exists(bundle), 30, "rotatord", rot, log_path)
            _, port = start_nginx(os.path.join(d, "ngx"), bundle, procs)
            # The baseline's two bundles: rotatord's first two generations.
            pair = []
            for _ in range(2):
                with open(bundle, "rb") as f:
                    pair.append(f.read())
                old = served_cert(port)
                rotate_web(sock)
                until_new_cert(port, old)
            bfile = os.path.join(d, "bare.pem")
            with open(bfile, "wb") as f:
                f.write(pair[0])
            bng, bport = start_nginx(os.path.join(d, "bare"), bfile, procs)
            time.sleep(0.5)
            for i in range(reps):
                old = served_cert(port)
                t0 = time.monotonic()
                rotate_web(sock)
                ours.append((until_new_cert(port, old) - t0) * 1000)
                time.sleep(0.3)		# the old workers leave
                old = served_cert(bport)
                tmp = bfile + ".tmp"
                with open(tmp, "wb") as f:
                    f.write(pair[(i + 1) % 2])
                os.rename(tmp, bfile)
                t0 = time.monotonic()
                os.kill(bng.pid, signal.SIGHUP)
                bases.append((until_new_cert(bport, old) - t0) * 1000)
                time.sleep(0.3)
        finally:
            for p in reversed(procs):
                stop(p)
    return ours, bases


def rotate_web(sock):
    body = b'{"names":["web"]}'
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(sock)
    s.sendall(b"POST /v1/admin/rotate HTTP/1.1\r\nHost: x\r\n"
              b"Rotatord-Request: 1\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
              % (len(body), body))
    got = b""
    while True:
        b = s.recv(4096)
        if not b:
            break
        got += b
    s.close()
    if not got.startswith(b"HTTP/1.1 202"):
        raise Crash("rotate: %r" % got[:80])


# ---- main -----------------------------------------------------------------

def regions_bench(args, notes):
    """The regions harness's rows (tests/fleet-sim/sim.py), or None when
    it cannot run here (not root, no etcd)."""
    if os.geteuid() != 0 or shutil.which("etcd") is None:
        notes.append("regions rows skipped: they need root and etcd")
        return None
    sys.path.insert(0, os.path.join(HERE, "..", "fleet-sim"))
    import sim
    sa = argparse.Namespace(rotatord=args.rotatord, reps=3,
                            cut=args.regions_cut, short_life=max(
                                20, args.regions_cut // 3), keep=False)
    sim.cleanup_stale()
    res = []
    for n in (int(x) for x in args.regions_hosts.split(",")):
        print("bench: regions, %d hosts over 3 regions" % n, flush=True)
        res.append(sim.run_one(sa, n))
    notes.append("regions: figures of one run each; the harness alone: "
                 "make fleet-sim (a 5-minute cut)")
    return sim.table(res)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", default="build/bench")
    ap.add_argument("--rotatord", default="build/rotatord")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--secs", type=float, default=1.0)
    ap.add_argument("--openssl-secs", type=int, default=2)
    ap.add_argument("--many", type=int, default=10000,
                    help="credentials for the large RSS run")
    ap.add_argument("--mhd-bare", default="build/mhd_bare")
    ap.add_argument("--http-reps", type=int, default=3)
    ap.add_argument("--http-secs", type=int, default=5,
                    help="seconds of each wrk run")
    ap.add_argument("--tokens", type=int, default=150000,
                    help="distinct tokens for the authz row")
    ap.add_argument("--only",
                    default="jwt,x509,publish,rss,http,reload,fleet,regions,"
                    "scale")
    ap.add_argument("--scale", type=int, default=100000,
                    help="credentials of the one-host scale rows")
    ap.add_argument("--regions-hosts", default="3,30,100",
                    help="fleet sizes of the regions rows")
    ap.add_argument("--regions-cut", type=int, default=30,
                    help="seconds a region is cut off in the regions rows")
    args = ap.parse_args()
    reps = max(5, args.reps)
    args.http_reps = max(3, args.http_reps)
    only = set(args.only.split(","))
    b, secs = args.bench, args.secs

    mint = Row("ES256 JWT mint (mint_jwt) vs openssl sign", 0.85)
    verify = Row("JWT verify, cached JWKS vs openssl verify", 0.90)
    x509 = Row("X.509 mint (mint_x509) vs bare OpenSSL", 0.80)
    pub = Row("publish x509 generation, tmpfs vs bare", 0.80)
    http = [Row("GET 2 KB credential, keep-alive vs bare MHD", 0.85),
            Row("same GET, rotatord vs nginx open_file_cache", None),
            Row("authz, repeated token vs credential GET", 0.70),
            Row("authz, distinct tokens vs openssl verify", 0.85)]
    cpu = {}
    rows = []
    notes = []
    t_start = time.monotonic()
    try:
        if "jwt" in only:
            print("bench: JWT mint / openssl speed / JWT verify, %d reps"
                  % reps, flush=True)
            for _ in range(reps):
                mint.ours.append(bench(b, "jwt-mint", secs))
                s, v = openssl_speed(args.openssl_secs)
                mint.base.append(s)
                verify.base.append(v)
                verify.ours.append(bench(b, "jwt-verify", secs))
            rows += [mint, verify]
        if "x509" in only:
            print("bench: x509 mint / bare, %d reps" % (reps + 2), flush=True)
            for _ in range(reps + 2):
                x509.ours.append(bench(b, "x509-mint", secs))
                x509.base.append(bench(b, "x509-bare", secs))
            rows.append(x509)
        if "publish" in only:
            print("bench: publish / bare, %d reps" % (reps + 2), flush=True)
            for _ in range(reps + 2):
                pub.ours.append(bench(b, "publish", secs))
                pub.base.append(bench(b, "publish-bare", secs))
            rows.append(pub)
        missing = [t for t in ("wrk", "nginx", args.mhd_bare)
                   if shutil.which(t) is None]
        if "http" in only and missing:
            notes.append("HTTP rows skipped: %s not found"
                         % ", ".join(missing))
            print("bench: %s" % notes[-1], flush=True)
        elif "http" in only:
            print("bench: HTTP (wrk -t1 -c%d, %d s): rotatord / bare MHD / "
                  "nginx / authz / authz distinct / openssl speed, %d reps"
                  % (WRK_CONN, args.http_secs, args.http_reps), flush=True)
            http_bench(args, http, cpu, notes)
            rows += http
        reload_ms = None
        if "reload" in only and shutil.which("nginx") is not None:
            print("bench: rotation to nginx serving the new certificate, "
                  "%d reps" % (reps + 2), flush=True)
            reload_ms = reload_bench(args, reps + 2)
        fleet_ms = None
        if "fleet" in only:
            import fleet
            print("bench: fleet (3 hosts, 3-member etcd), %d reps" % reps,
                  flush=True)
            fleet_ms, fnotes = fleet.fleet_bench(args.rotatord, reps)
            notes += fnotes
        regions = None
        if "regions" in only:
            regions = regions_bench(args, notes)
        scale = None
        if "scale" in only:
            import scale as scalemod
            print("bench: one host, %d credentials (first start, then a "
                  "restart)" % args.scale, flush=True)
            scale = scalemod.scale_bench(args.rotatord, n=args.scale)
        rss_rows = []
        if "rss" in only:
            print("bench: rotatord idle RSS", flush=True)
            rss, t = measure_rss(args.rotatord, 1, 1, 1, 30)
            rss_rows.append(("idle RSS, 1 CA, 1 signer, 3 credentials",
                             rss, t, 8))
            n = args.many
            n_x509 = min(100, n // 10)
            why = None
            try:
                rss, t = measure_rss(args.rotatord, n - n_x509, n_x509, 0,
                                     60)
                if rss is None:
                    why = "not ready within 60 s"
            except Crash as e:
                if n <= 1000 or "too many sections" not in str(e):
                    raise
                why = re.sub(r"^.*?:\d+: ", "", str(e).strip().splitlines()[-1])
            if why is not None and n > 1000:
                notes.append("%d credentials: %s; measured 1000 instead"
                             % (n, why))
                print("bench: %s" % notes[-1], flush=True)
                n, n_x509 = 1000, 100
                rss, t = measure_rss(args.rotatord, n - n_x509, n_x509, 0, 60)
            rss_rows.append(("idle RSS, %d credentials (%d secret, %d x509)"
                             % (n, n - n_x509, n_x509), rss, t,
                             64 if n >= 10000 else None))
    except Crash as e:
        print("bench: CRASH: %s" % e, file=sys.stderr)
        return 1

    print()
    print("rotatord bench, %s, %d CPUs, medians of interleaved reps"
          % (os.uname().release, os.cpu_count()))
    w = 46
    print("%-*s %10s %11s %7s %7s  %s" % (w, "row", "ours/s", "baseline/s",
                                          "ratio", "target", "result"))
    print("-" * (w + 48))
    for r in rows:
        ratio = r.ratio()
        if r.target is None:
            tg, res = "-", "INFO"
        else:
            tg = ">=%.2f" % r.target
            res = "PASS" if ratio >= r.target else "BELOW"
        print("%-*s %10s %11s %7.3f %7s  %s" % (
            w, r.name, fmt_rate(statistics.median(r.ours)),
            fmt_rate(statistics.median(r.base)), ratio, tg, res))
    for name, rss, t, target in rss_rows:
        if rss is None:
            print("%-*s %10s %11s %7s %7s  %s" % (w, name, "not ready", "-",
                                                  "-", "-", "BELOW"))
            continue
        mib = rss / 1024.0
        if target is None:
            res, tg = "INFO", "-"
        else:
            res, tg = ("PASS" if mib < target else "BELOW"), "<%dMiB" % target
        print("%-*s %10s %11s %7s %7s  %s" % (
            w, name, "%.1f MiB" % mib, "-", "-", tg, res))
    if reload_ms is not None:
        o, b = (statistics.median(v) for v in reload_ms)
        print("%-*s %10s %11s %7s %7s  %s" % (
            w, "rotation -> nginx serves new cert (ms)", "%.1f ms" % o,
            "%.1f ms" % b, "%+.1f" % (o - b), "<+50ms",
            "PASS" if o - b < 50 else "BELOW"))
    if fleet_ms is not None:
        for key, label in (("rotate", "fleet: rotate --fleet -> new key "
                            "everywhere"),
                           ("failover", "fleet: leader SIGKILL -> new "
                            "leader")):
            v = fleet_ms[key]
            print("%-*s %10s %11s %7s %7s  %s" % (
                w, label[:w], "%.0f ms" % statistics.median(v), "-",
                "-", "-", "INFO (max %.0f ms)" % max(v)))
    if scale:
        print()
        for line in scale:
            print(line)
    if regions:
        print()
        print("regions (tests/fleet-sim: 3 regions, RTT 40/80/150 ms, "
              "lease_ttl 3s):")
        for line in regions:
            print(line)
    print()
    print("per-rep ops/s (min..max), ours | baseline:")
    for r in rows:
        print("  %-44s %s | %s  ratios %s" % (
            r.name, spread(r.ours), spread(r.base),
            " ".join("%.2f" % (o / bb) for o, bb in zip(r.ours, r.base))))
    for name, rss, t, target in rss_rows:
        print("  %-44s startup to \"ready\" %.2f s" % (name, t))
    if reload_ms is not None:
        print("  %-44s %s | %s ms" % (
            "rotation -> nginx serves new cert",
            " ".join("%.0f" % v for v in reload_ms[0]),
            " ".join("%.0f" % v for v in reload_ms[1])))
    if cpu:
        print("server CPU us per request (median; from /proc, whole "
              "process):")
        for key, vals in cpu.items():
            print("  %-44s %6.1f" % (key, statistics.median(vals)))
    for n in notes:
        print("  note: %s" % n)
    print("bench: total %.0f s" % (time.monotonic() - t_start))
    return 0


if __name__ == "__main__":
    sys.exit(main())
