# SPDX-License-Identifier: Apache-2.0
"""oauth credentials against a real OIDC provider (oidc-provider, standing
in for Okta): the three client authentication methods over https with a
test CA and over plain http on loopback, token exchange, an outage of twice
the token lifetime, and discovery documents that must be refused."""
import json
import os
import socket
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


def test_outage_keeps_last_good_token(rotatord, idp):
    ttl = 6
    p = idp(tls=True, ttl=ttl)
    r = rotatord("""
retry_min = 500ms
retry_max = 2s
""" + issuer_section(p, "client_secret_basic", timeout="2s") + """
[credential "t"]
type = oauth
issuer = okta
scope = rotatord.read
""")
    r.start()
    # READY comes after the first token request has ended; on a busy
    # machine that request may have failed and be retried, so wait for
    # the token itself (with a deadline) rather than assume it is there.
    wait_for(lambda: os.path.exists(r.path("t", "token")), timeout=30,
             what="the first token")
    good = read(r.path("t", "token"))
    gen = r.meta("t")["generation"]
    p.down()
    t0 = time.monotonic()
    # Twice the token lifetime: the last good token stays, whole.
    while time.monotonic() - t0 < 2 * ttl:
        assert read(r.path("t", "token")) == good
        assert r.meta("t")["generation"] == gen
        time.sleep(0.25)
    text = r.text()
    assert "keeping generation %d" % gen in text
    assert "EXPIRED" in text        # said loudly once it lapsed
    retries = text.count("credential t: ")
    assert 3 <= retries <= 40       # backoff, not a hot loop
    p.up()
    t1 = time.monotonic()
    wait_for(lambda: r.meta("t")["generation"] > gen, timeout=10,
             what="recovery")
    # Within one maximum backoff (2 s) plus the request itself.
    assert time.monotonic() - t1 < 2.0 + 1.5
    assert read(r.path("t", "token")) != good
    assert "recovered after" in r.text()


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
    t0 = time.monotonic()
    res = r.run("--once")
    elapsed = time.monotonic() - t0
    assert res.returncode == 1
    assert reason in res.stderr, res.stderr
    assert "credential t: discovery: " in res.stderr
    assert elapsed < 3 + 1.5
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
    t0 = time.monotonic()
    res = r.run("--once")
    assert res.returncode == 1
    assert time.monotonic() - t0 < 4.5
    assert "credential t: discovery: " in res.stderr
    assert "certificate" in res.stderr.lower() or "TLS" in res.stderr, res.stderr
