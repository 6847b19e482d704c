# SPDX-License-Identifier: Apache-2.0
"""GET /v1/authz behind real nginx auth_request, and the JWKS cache of a
trusted issuer: key rotation is picked up after one refetch, and a flood
of tokens with unknown kids cannot make rotatord hammer the provider."""
import os
import re
import secrets
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import free_port, wait_for
from idp import idp_fixture  # noqa: F401  (fixture `idp`)

NGINX_CONF = """
worker_processes 1;
daemon on;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log notice;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %(d)s/tmp_body;
    proxy_temp_path %(d)s/tmp_proxy;
    fastcgi_temp_path %(d)s/tmp_fcgi;
    uwsgi_temp_path %(d)s/tmp_uwsgi;
    scgi_temp_path %(d)s/tmp_scgi;
    server {
        listen 127.0.0.1:%(port)d;
        location = /_authz {
            internal;
            proxy_pass http://127.0.0.1:%(rport)d/v1/authz;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header Rotatord-Request 1;
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Original-Method $request_method;
        }
        location /payments/ {
            auth_request /_authz;
            auth_request_set $sub $upstream_http_x_auth_subject;
            auth_request_set $iss $upstream_http_x_auth_issuer;
            proxy_set_header X-Auth-Subject $sub;
            proxy_set_header X-Auth-Issuer $iss;
            proxy_pass http://127.0.0.1:%(bport)d;
        }
    }
    server {
        listen 127.0.0.1:%(bport)d;
        location / { return 200 "upstream sub=$http_x_auth_subject iss=$http_x_auth_issuer\\n"; }
    }
}
"""


def get(url, token=None, method="GET"):
    req = urllib.request.Request(url, method=method)
    if token is not None:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)


def metrics(sock):
    """/metrics over the unix socket (on TCP it needs metrics = yes)."""
    p = subprocess.run(["curl", "-sS", "--fail", "--unix-socket", sock,
                        "http://x/metrics"], capture_output=True, text=True,
                       timeout=20)
    assert p.returncode == 0, p.stderr
    return p.stdout


def config(p, rport, sock, cooldown="30s"):
    return """
[listen]
unix = %(sock)s
tcp = 127.0.0.1:%(rport)d

[issuer "okta"]
url = %(url)s
ca_file = %(ca)s
trust = yes
audience = rotatord
jwks_cooldown = %(cd)s

[route "payments"]
prefix = /payments/
methods = GET, POST
issuer = okta
scope = payments.read

[client "scraper"]
issuer = okta
subject = prometheus
metrics = yes

[credential "k"]
type = secret
""" % {"sock": sock, "rport": rport, "url": p.url, "ca": p.ca_file,
       "cd": cooldown}


@pytest.fixture
def stack(rotatord, idp, tmpdir_short):
    procs = []

    def make(cooldown="30s"):
        p = idp(tls=True)
        rport = free_port()
        r = rotatord(config(p, rport, os.path.join(tmpdir_short, "api.sock"),
                            cooldown))
        r.start()
        # The first JWKS fetch happens at start.
        wait_for(lambda: p.jwks_fetches() >= 1, what="initial JWKS fetch")
        d = os.path.join(tmpdir_short, "nginx")
        os.makedirs(d, exist_ok=True)
        port, bport = free_port(), free_port()
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write(NGINX_CONF % {"d": d, "port": port, "rport": rport,
                                  "bport": bport})
        subprocess.run(["nginx", "-p", d, "-c", os.path.join(d, "nginx.conf")],
                       check=True)
        procs.append(os.path.join(d, "nginx.pid"))
        wait_for(lambda: os.path.exists(procs[-1]), what="nginx")
        r.sock = os.path.join(tmpdir_short, "api.sock")
        return p, r, "http://127.0.0.1:%d" % port, rport
    yield make
    for pidfile in procs:
        try:
            with open(pidfile) as f:
                os.kill(int(f.read()), 15)
        except (OSError, ValueError):
            pass


def test_nginx_auth_request(stack):
    p, r, base, rport = stack()
    ok = p.mint(sub="alice", aud="rotatord", scope="payments.read")
    wait_for(lambda: get(base + "/payments/x", ok)[0] == 200, timeout=10,
             what="authorized request")
    code, body, _ = get(base + "/payments/x", ok)
    assert code == 200 and "upstream sub=alice iss=" + p.url in body
    # No token, expired, wrong audience, forged: 401.
    assert get(base + "/payments/x")[0] == 401
    expired = p.mint(sub="alice", aud="rotatord", scope="payments.read", ttl=-120)
    assert get(base + "/payments/x", expired)[0] == 401
    wrong_aud = p.mint(sub="alice", aud="someone-else", scope="payments.read")
    assert get(base + "/payments/x", wrong_aud)[0] == 401
    forged = ok[:-6] + ("AAAAAA" if not ok.endswith("AAAAAA") else "BBBBBB")
    assert get(base + "/payments/x", forged)[0] == 401
    # Valid, but without the route's scope (or method): 403.
    noscope = p.mint(sub="alice", aud="rotatord", scope="other.read")
    assert get(base + "/payments/x", noscope)[0] == 403
    assert get(base + "/payments/x", ok, method="DELETE")[0] == 403
    # A proxy that does not say which method it checks gets 400, never a
    # guess: the route allows GET, and the request might be a DELETE.
    req = urllib.request.Request(
        "http://127.0.0.1:%d/v1/authz" % rport,
        headers={"Rotatord-Request": "1", "Authorization": "Bearer " + ok,
                 "X-Original-URI": "/payments/x"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 400
    assert "X-Original-Method" in e.value.read().decode()
    # Every decision is audited, without the token.
    text = r.text()
    assert "audit:" in text and ok not in text


def test_key_rotation_and_unknown_kid_flood(stack):
    p, r, base, rport = stack()
    direct = "http://127.0.0.1:%d/v1/authz" % rport
    # The provider rotates: the very first request with the new kid is
    # held while rotatord refetches the JWKS (once), then let through.
    before = p.jwks_fetches()
    p.rotate()
    tok = p.mint(sub="bob", aud="rotatord", scope="payments.read")
    assert get(base + "/payments/y", tok)[0] == 200
    assert p.jwks_fetches() - before == 1
    assert "rotatord_http_token_key_holds_total 1\n" in metrics(r.sock)
    # 1,000 tokens with random unknown kids: the refetch above started a
    # 30 s cooldown, so these cause at most one fetch per cooldown.
    before = p.jwks_fetches()
    t0 = time.monotonic()
    codes = set()
    for _ in range(1000):
        bad = p.mint(sub="x", aud="rotatord", scope="payments.read",
                     kid="k" + secrets.token_hex(8))
        codes.add(get(base + "/payments/z", bad)[0])
    took = time.monotonic() - t0
    assert codes == {401}
    # At most one fetch per 30 s cooldown, however long the flood took
    # on this machine.
    assert p.jwks_fetches() - before <= 1 + int(took // 30)
    # A valid token still works during and after the flood.
    assert get(base + "/payments/y", tok)[0] == 200


def test_metrics_on_tcp_only_for_a_client_with_metrics(stack):
    p, r, _, rport = stack()
    url = "http://127.0.0.1:%d/metrics" % rport
    # No token: 401; a valid token of a client without metrics = yes: 403.
    assert get(url)[0] == 401
    alice = p.mint(sub="alice", aud="rotatord", scope="payments.read")
    code, body, _ = get(url, alice)
    assert code == 403 and "metrics = yes" in body
    # The same subject from another audience is not the scraper either.
    assert get(url, p.mint(sub="prometheus", aud="other"))[0] == 401
    code, body, _ = get(url, p.mint(sub="prometheus", aud="rotatord"))
    assert code == 200 and "rotatord_build_info" in body
    # The unix socket serves it to whoever may connect.
    assert "rotatord_build_info" in metrics(r.sock)
    assert re.search(r"audit: metrics by .*sub=alice denied", r.text())


def test_token_cache_forgets_a_key_that_left_the_jwks(stack):
    """A token verified (and cached) under a key that the issuer then
    removes from its JWKS is refused after the refetch, not served from the
    verified-token cache until its exp."""
    p, r, base, _ = stack()
    old = p.mint(sub="carol", aud="rotatord", scope="payments.read")
    for _ in range(3):
        assert get(base + "/payments/x", old)[0] == 200
    hits = cache_hits(r.sock)
    assert hits >= 2, "the token was not served from the cache"
    # The issuer retires the key; a token with the new kid makes rotatord
    # refetch the JWKS.
    before = p.jwks_fetches()
    p.rotate(retire=True)
    new = p.mint(sub="carol", aud="rotatord", scope="payments.read")
    assert get(base + "/payments/x", new)[0] == 200
    assert p.jwks_fetches() > before
    assert get(base + "/payments/x", old)[0] == 401
    assert get(base + "/payments/x", new)[0] == 200


def cache_hits(sock):
    m = re.search(r'rotatord_http_token_cache_lookups_total\{result="hit"\} '
                  r'(\d+)', metrics(sock))
    return int(m.group(1)) if m else 0


P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def b64u_dec(s):
    import base64
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64u_enc(b):
    import base64
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def verifications(sock):
    return sum(int(n) for n in re.findall(
        r'rotatord_http_token_verifications_total\{where="[a-z]+"\} (\d+)',
        metrics(sock)))


def test_both_ecdsa_encodings_are_one_cached_verification(stack):
    """(r, s) and (r, n - s) both verify (RFC 7518 does not ask for low
    S, and rotatord accepts both, like the issuers' own libraries): the
    second encoding of a verified token is a cache hit, not a second
    verification, and grants exactly what the first does."""
    p, r, base, _ = stack()
    tok = p.mint(sub="dora", aud="rotatord", scope="payments.read")
    head, body, sig = tok.split(".")
    raw = b64u_dec(sig)
    assert len(raw) == 64, "the test IdP signs with ES256"
    s = int.from_bytes(raw[32:], "big")
    twin = head + "." + body + "." + b64u_enc(
        raw[:32] + (P256_N - s).to_bytes(32, "big"))
    wait_for(lambda: get(base + "/payments/x", tok)[0] == 200, timeout=10,
             what="first verification")
    before_v, before_h = verifications(r.sock), cache_hits(r.sock)
    code, text, _ = get(base + "/payments/x", twin)
    assert code == 200 and "sub=dora" in text
    assert verifications(r.sock) == before_v, "the twin was verified again"
    assert cache_hits(r.sock) == before_h + 1
    # A twin with a broken signature is no twin: refused.
    bad = head + "." + body + "." + b64u_enc(
        raw[:32] + ((P256_N - s + 1) % P256_N).to_bytes(32, "big"))
    assert get(base + "/payments/x", bad)[0] == 401
