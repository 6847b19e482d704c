# SPDX-License-Identifier: Apache-2.0
"""oauth credentials against a real OIDC provider (oidc-provider, standing
in for Okta): the three client authentication methods over https with a
test CA and over plain http on loopback, token exchange, an outage of twice
the token lifetime, and discovery documents that must be refused."""
import json
import os
import re
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import free_port, wait_for
from idp import idp_fixture, make_tls  # noqa: F401  (fixture `idp`)

METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]


def issuer_section(p, method, name="okta", timeout="5s", ca_file=None):
    c = p.clients[method]
    lines = ['[issuer "%s"]' % name, "url = " + p.url,
             "client_id = " + c["client_id"], "auth_method = " + method,
             "timeout = " + timeout]
    if "secret_file" in c:
        lines.append("client_secret = file:" + c["secret_file"])
    else:
        lines += ["client_key = " + c["key_file"], "client_key_id = " + c["kid"]]
    if ca_file or p.ca_file:
        lines.append("ca_file = " + (ca_file or p.ca_file))
    return "\n".join(lines) + "\n"


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


@pytest.mark.parametrize("tls", [True, False], ids=["https", "http"])
@pytest.mark.parametrize("method", METHODS)
def test_client_auth_methods(rotatord, idp, method, tls):
    p = idp(tls=tls)
    r = rotatord(issuer_section(p, method) + """
[credential "payments"]
type = oauth
issuer = okta
scope = rotatord.read
resource = api://payments
mode = 0600
""")
    res = r.run("--once")
    assert res.returncode == 0, res.stderr
    tok = read(r.path("payments", "token"))
    assert "\n" not in tok
    # An independent verifier (python3-jwt) against the provider's JWKS.
    claims = p.verify(tok, audience="api://payments")
    assert claims["client_id"] == p.clients[method]["client_id"]
    assert claims["scope"] == "rotatord.read"
    # The provider saw the method we were configured with.
    lines = [l for l in p.log_lines() if l.get("ok")]
    assert lines and lines[-1]["auth_method"] == method
    # token.json is the response without any refresh token; renewal at 2/3.
    body = json.loads(read(r.path("payments", "token.json")))
    assert body["access_token"] == tok and "refresh_token" not in body
    m = r.meta("payments")
    assert m["type"] == "oauth"
    assert m["not_after"] - m["issued_at"] == body["expires_in"]
    assert m["issued_at"] < m["renew_at"] < m["not_after"]
    assert oct(os.stat(r.path("payments", "token")).st_mode & 0o777) == "0o600"
    # Secrets never reach the log.
    secret = p.clients[method].get("client_secret")
    out = r.text() + res.stderr + res.stdout
    assert tok not in out and (secret is None or secret not in out)


def test_token_exchange(rotatord, idp, tmpdir_short):
    p = idp(tls=True)
    subj = os.path.join(tmpdir_short, "sa-token")
    with open(subj, "w") as f:
        f.write(p.subject_token(sub="svc@example.test") + "\n")
    os.chmod(subj, 0o600)
    r = rotatord(issuer_section(p, "client_secret_basic") + """
[credential "exchanged"]
type = oauth
issuer = okta
scope = rotatord.read
audience = api://exchanged
subject_token = file:%s
""" % subj)
    res = r.run("--once")
    assert res.returncode == 0, res.stderr
    claims = p.verify(read(r.path("exchanged", "token")),
                      audience="api://exchanged")
    assert claims["sub"] == "svc@example.test"
    body = json.loads(read(r.path("exchanged", "token.json")))
    assert body["issued_token_type"] == \
        "urn:ietf:params:oauth:token-type:access_token"
    assert p.log_lines()[-1]["grant_type"].endswith("token-exchange")


def test_provider_error_is_reported(rotatord, idp):
    p = idp(tls=True)
    r = rotatord(issuer_section(p, "client_secret_post") + """
[credential "t"]
type = oauth
issuer = okta
scope = rotatord.nope
""")
    res = r.run("--once")
    assert res.returncode == 1
    assert "invalid_scope" in res.stderr


def api_get(sock, path):
    """GET over the unix socket as root: (status, body)."""
    p = subprocess.run(["curl", "-s", "-S", "--unix-socket", sock, "-o", "-",
                        "-w", "\n%{http_code}", "--max-time", "20",
                        "-H", "Rotatord-Request: 1", "http://rotatord" + path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    body, _, code = p.stdout.rpartition(b"\n")
    return int(code or 0), body


def test_outage_keeps_last_good_token(rotatord, idp, tmpdir_short, fault_row):
    """The IdP down for twice the token's lifetime: the last good token
    stays published and whole, the API never serves it once it has
    expired (503 expired), retries back off up to retry_max, and the
    first retry after the IdP returns recovers."""
    ttl = 6
    p = idp(tls=True, ttl=ttl)
    sock = os.path.join(tmpdir_short, "api.sock")
    r = rotatord("""
retry_min = 500ms
retry_max = 2s
[listen]
unix = %s
""" % sock + issuer_section(p, "client_secret_basic", timeout="2s") + """
[credential "t"]
type = oauth
issuer = okta
scope = rotatord.read
[client "me"]
user = root
allow = t
""")
    r.start()
    # READY comes after the first token request has ended; on a busy
    # machine that request may have failed and be retried, so wait for
    # the token itself (with a deadline) rather than assume it is there.
    wait_for(lambda: os.path.exists(r.path("t", "token")), timeout=30,
             what="the first token")
    good = read(r.path("t", "token"))
    gen = r.meta("t")["generation"]
    exp = r.meta("t")["not_after"]
    p.down()
    t0 = time.monotonic()
    gets = served_expired = torn = refused = 0
    # Twice the token lifetime: the last good token stays, whole, and the
    # API serves it only while it is valid.
    while time.monotonic() - t0 < 2 * ttl:
        if read(r.path("t", "token")) != good or \
                r.meta("t")["generation"] != gen:
            torn += 1
        before = time.time()
        code, body = api_get(sock, "/v1/credentials/t/token")
        after = time.time()
        gets += 1
        if code == 200 and before > exp + 1:
            served_expired += 1
        if after < exp - 1:
            assert code == 200, body
        if before > exp + 1:
            assert code == 503 and b"expired" in body, (code, body)
            refused += 1
        time.sleep(0.25)
    text = r.text()
    retries = text.count("credential t: ")
    delays = [float(d) for d in re.findall(
        r"credential t: .*retrying in ([0-9.]+)s", text)]
    p.up()
    t1 = time.monotonic()
    recovered = "none"
    try:
        wait_for(lambda: r.meta("t")["generation"] > gen, timeout=30,
                 what="recovery")
        recovered = "%.1f s" % (time.monotonic() - t1)
    finally:
        fault_row("IdP down 2x token lifetime (%ds)" % (2 * ttl),
                  "1 oauth credential, %d API GETs" % gets,
                  "outage %ds, %d retries" % (2 * ttl, retries),
                  "yes" if torn == 0 and served_expired == 0 else "NO",
                  "%d torn, %d expired served (%d GETs after expiry: 503)"
                  % (torn, served_expired, refused),
                  "recovery %s after IdP up (max backoff 2 s)" % recovered)
    assert torn == 0 and served_expired == 0
    assert refused > 0              # the outage outlived the token
    assert "keeping generation %d" % gen in text
    assert "EXPIRED" in text        # said loudly once it lapsed
    assert 3 <= retries <= 40       # backoff, not a hot loop
    # Backoff is capped at retry_max: the first retry after the IdP is
    # back comes within one maximum backoff.
    assert delays and max(delays) <= 2.0 + 1e-9, delays
    assert read(r.path("t", "token")) != good
    assert "recovered after" in r.text()
    code, body = api_get(sock, "/v1/credentials/t/token")
    assert code == 200 and body.decode() == read(r.path("t", "token"))


def test_retries_come_before_expiry(rotatord, idp):
    """With a long retry_max, each retry while the last good token is
    still valid comes within half the time it has left (never below
    retry_min): a backoff does not let it lapse untried."""
    p = idp(tls=True, ttl=20)
    r = rotatord("""
retry_min = 1s
retry_max = 10m
""" + issuer_section(p, "client_secret_basic", timeout="2s") + """
[credential "t"]
type = oauth
issuer = okta
scope = rotatord.read
""")
    r.start()
    wait_for(lambda: os.path.exists(r.path("t", "token")), timeout=30,
             what="the first token")
    p.down()
    wait_for(lambda: "EXPIRED" in r.text(), timeout=90, what="expiry")
    pairs = re.findall(r"credential t: .*\(expires in (\d+)s\), "
                       r"retrying in ([0-9.]+)s", r.text())
    assert len(pairs) >= 3, r.text()
    for left, delay in pairs:
        # left is whole seconds, truncated: the time left is below +1.
        assert float(delay) <= max(1.0, (int(left) + 1) / 2) + 0.05, \
            (left, delay)


class Hostile(BaseHTTPRequestHandler):
    """Discovery endpoints that must be refused."""
    protocol_version = "HTTP/1.1"
    mode = "mismatch"
    base = ""

    def log_message(self, *a):
        pass

    def do_GET(self):
        mode = self.server.mode
        if mode == "mismatch":
            body = json.dumps({"issuer": self.server.base + "/",
                               "token_endpoint": self.server.base + "/token",
                               "jwks_uri": self.server.base + "/jwks"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif mode == "redirect":
            self.send_response(302)
            self.send_header("Location", "http://other.example/.well-known/x")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif mode == "huge":
            n = 10 << 20
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(n))
            self.end_headers()
            chunk = b" " * 65536
            try:
                for _ in range(n // len(chunk)):
                    self.wfile.write(chunk)
            except OSError:
                pass
        elif mode == "drip":
            # Headers, then one byte a second: only the timeout ends it.
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            try:
                end = time.monotonic() + 60
                while time.monotonic() < end:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(1)
            except OSError:
                pass
        elif mode == "endless":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b" " * 4096
            try:
                end = time.monotonic() + 30
                while time.monotonic() < end:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except OSError:
                pass


@pytest.fixture
def hostile():
    servers = []

    def make(mode):
        srv = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
        srv.daemon_threads = True
        srv.mode = mode
        srv.base = "http://127.0.0.1:%d" % srv.server_address[1]
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return srv
    yield make
    for s in servers:
        s.shutdown()
        s.server_close()


@pytest.mark.parametrize("mode,reason", [
    ("mismatch", "issuer mismatch"),
    ("redirect", "redirect"),
    ("huge", "larger than"),
    ("endless", "larger than"),
    ("drip", "timed out"),
])
def test_hostile_discovery_refused(rotatord, hostile, mode, reason):
    srv = hostile(mode)
    r = rotatord("""
[issuer "bad"]
url = %s
client_id = x
client_secret = env:ROTATORD_TEST_SECRET
timeout = 3s
[credential "t"]
type = oauth
issuer = bad
scope = a
""" % srv.base)
    os.environ["ROTATORD_TEST_SECRET"] = "s3cret-canary"
    # The server would go on for 30 s (endless) or 60 s (drip): the size
    # cap or the 3 s timeout must end it, which the reason shows.
    res = r.run("--once", timeout=25)
    assert res.returncode == 1
    assert reason in res.stderr, res.stderr
    assert "credential t: discovery: " in res.stderr
    assert "s3cret-canary" not in res.stderr


def test_wrong_ca_refused(rotatord, idp, tmpdir_short):
    p = idp(tls=True)
    os.makedirs(os.path.join(tmpdir_short, "other"))
    other_ca, _, _ = make_tls(os.path.join(tmpdir_short, "other"))
    r = rotatord(issuer_section(p, "client_secret_basic", timeout="3s",
                                ca_file=other_ca) + """
[credential "t"]
type = oauth
issuer = okta
scope = rotatord.read
""")
    res = r.run("--once", timeout=25)
    assert res.returncode == 1
    assert "credential t: discovery: " in res.stderr
    assert "certificate" in res.stderr.lower() or "TLS" in res.stderr, res.stderr
