# SPDX-License-Identifier: Apache-2.0
"""The local HTTP API through the real binary: unix-socket callers told
apart by SO_PEERCRED (clients run as other uids with setpriv), long polls,
token exchange against the test OIDC provider, /metrics, /readyz and
rotatorctl."""
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

import jwt as pyjwt
import pytest

from conftest import ROOT, BUILD, wait_for
from idp import idp_fixture  # noqa: F401  (fixture `idp`)

ROTATORCTL = os.path.join(ROOT, BUILD, "rotatorctl")
NOBODY, NOGROUP, DAEMON_UID = 65534, 65534, 1


def curl(sock, path, uid=None, gid=NOGROUP, headers=("Rotatord-Request: 1",),
         method="GET", data=None, timeout=40):
    cmd = []
    if uid is not None:
        cmd = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid,
               "--clear-groups"]
    cmd += ["curl", "-s", "-S", "--unix-socket", sock, "-o", "-",
            "-w", "\n%{http_code}", "-X", method, "--max-time", str(timeout)]
    for h in headers:
        cmd += ["-H", h]
    if data is not None:
        cmd += ["--data-binary", data]
    cmd.append("http://rotatord" + path)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout + 5)
    body, _, code = p.stdout.rpartition(b"\n")
    return int(code or 0), body


def base_config(sock, extra=""):
    return """
[listen]
unix = %s
unix_mode = 0660
unix_group = nogroup

[ca "local"]

[signer "local"]
issuer = https://rotatord.test

[credential "web"]
type = x509
ca = local
dns = web.test

[credential "other"]
type = secret

[client "web"]
user = nobody
allow = web
""" % sock + extra


@pytest.fixture
def api(rotatord, tmpdir_short):
    def make(extra=""):
        sock = os.path.join(tmpdir_short, "api.sock")
        r = rotatord(base_config(sock, extra))
        r.start()
        wait_for(lambda: os.path.exists(sock), what="api socket")
        r.sock = sock
        return r
    return make


def test_unix_peer_credentials(api):
    r = api()
    code, body = curl(r.sock, "/v1/credentials/web/cert.pem", uid=NOBODY)
    assert code == 200, body
    with open(r.path("web", "cert.pem"), "rb") as f:
        assert body == f.read()
    # Another user (daemon, uid 1) may connect (group nogroup) but not read.
    code, body = curl(r.sock, "/v1/credentials/web/cert.pem", uid=DAEMON_UID)
    assert code == 403, body
    assert json.loads(body)["error"]
    # nobody may not read what is not in its allow list.
    code, _ = curl(r.sock, "/v1/credentials/other/0.key", uid=NOBODY)
    assert code == 403
    # Without the anti-SSRF header: refused.
    code, _ = curl(r.sock, "/v1/credentials/web/cert.pem", uid=NOBODY,
                   headers=())
    assert code in (400, 403)
    # The list shows only what the caller may read.
    code, body = curl(r.sock, "/v1/credentials", uid=NOBODY)
    assert code == 200
    names = [c["name"] for c in json.loads(body)]
    assert names == ["web"]
    # The whole credential: meta plus files.
    code, body = curl(r.sock, "/v1/credentials/web", uid=NOBODY)
    assert code == 200
    doc = json.loads(body)
    assert "cert.pem" in json.dumps(doc)
    # Audit lines name the caller, never key material.
    text = r.text()
    assert re.search(r"audit: .*web.*uid=65534", text), text[-2000:]
    assert "uid=1" in text
    assert "PRIVATE KEY" not in text


def raw_get(sock_path, path, headers=()):
    """One HTTP/1.1 GET over the unix socket from this process (root):
    no process start-up in the measured time."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(40)
    s.connect(sock_path)
    req = "GET %s HTTP/1.1\r\nHost: x\r\nRotatord-Request: 1\r\n" % path
    for h in headers:
        req += h + "\r\n"
    s.sendall((req + "Connection: close\r\n\r\n").encode())
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def test_long_poll_answers_on_publish(api):
    r = api("""
[client "root"]
user = root
allow = web
""")
    gen = r.meta("web")["generation"]
    result = {}

    def waiter():
        result["resp"] = raw_get(r.sock, "/v1/credentials/web/cert.pem?wait=30s",
                                 ('If-None-Match: "%d"' % gen,))
        result["t"] = time.monotonic()
    th = threading.Thread(target=waiter)
    th.start()
    time.sleep(1.0)
    assert th.is_alive()            # held, not answered
    t0 = time.monotonic()
    r.signal(signal.SIGUSR1)
    th.join(timeout=10)
    code, body = result["resp"]
    assert code == 200
    with open(r.path("web", "cert.pem"), "rb") as f:
        assert body == f.read()
    # Within 100 ms of the publish: signal, mint (~1 ms), publish, answer.
    assert result["t"] - t0 < 0.1, result["t"] - t0
    # ETag / If-None-Match without wait: 304.
    code, _ = raw_get(r.sock, "/v1/credentials/web/cert.pem",
                      ('If-None-Match: "%d"' % (gen + 1),))
    assert code == 304
    # The same through curl as the allowed unprivileged user.
    code, _ = curl(r.sock, "/v1/credentials/web/cert.pem", uid=NOBODY,
                   headers=("Rotatord-Request: 1",
                            'If-None-Match: "%d"' % (gen + 1)))
    assert code == 304


PROM_LINE = re.compile(
    r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*"'
    r'(,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")*)?\})? '
    r'(-?[0-9.]+(e[+-]?[0-9]+)?|NaN|[+-]Inf)( -?[0-9]+)?$')


def parse_prometheus(text):
    """A strict parser of the text exposition format 0.0.4: every sample
    belongs to a declared family, TYPE precedes samples, no duplicates."""
    types, seen, samples = {}, set(), {}
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert kind in ("counter", "gauge", "untyped", "histogram",
                            "summary"), line
            assert name not in types, "duplicate TYPE " + name
            types[name] = kind
            continue
        assert not line.startswith("#") and line.strip(), repr(line)
        assert PROM_LINE.match(line), "bad sample line: %r" % line
        key = line.rsplit(" ", 1)[0]
        assert key not in seen, "duplicate sample " + key
        seen.add(key)
        name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
        assert name in types, "sample before its TYPE: " + name
        samples[key] = float(line.rsplit(" ", 1)[1])
    return samples


def test_metrics_and_readyz(api):
    r = api()
    code, body = curl(r.sock, "/metrics", headers=())
    assert code == 200
    s = parse_prometheus(body.decode())
    exp = s['rotatord_credential_expiry_timestamp_seconds{name="web",type="x509"}']
    assert exp == r.meta("web")["not_after"]
    assert s['rotatord_rotations_total{name="web"}'] >= 1
    assert any(k.startswith("rotatord_http_requests_total") for k in s)
    assert s['rotatord_build_info{version="0.1.0"}'] == 1
    code, body = curl(r.sock, "/readyz", headers=())
    assert code == 200
    code, body = curl(r.sock, "/healthz", headers=())
    assert code == 200


def test_readyz_503_while_unpublished(rotatord, tmpdir_short):
    sock = os.path.join(tmpdir_short, "api.sock")
    r = rotatord("""
[listen]
unix = %s
[issuer "down"]
url = http://127.0.0.1:9/
client_id = x
client_secret = env:ROTATORD_TEST_SECRET
timeout = 1s
[credential "tok"]
type = oauth
issuer = down
scope = a
[credential "k"]
type = secret
""" % sock)
    os.environ["ROTATORD_TEST_SECRET"] = "x"
    r.start()
    wait_for(lambda: os.path.exists(sock), what="socket")
    code, body = curl(sock, "/readyz", headers=())
    assert code == 503
    assert "tok" in json.loads(body)["not_ready"]


def test_rotatorctl(api):
    r = api()
    p = subprocess.run([ROTATORCTL, "-s", r.sock, "status"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.returncode == 0, p.stderr
    assert "web" in p.stdout and "other" in p.stdout
    gen = r.meta("web")["generation"]
    p = subprocess.run([ROTATORCTL, "-s", r.sock, "rotate", "web"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.returncode == 0, p.stderr
    wait_for(lambda: r.meta("web")["generation"] == gen + 1, what="rotate")
    p = subprocess.run([ROTATORCTL, "-s", r.sock, "rotate", "nope"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.returncode == 1 and "nope" in p.stderr
    # Without a [cluster] there is no fleet to reach.
    p = subprocess.run([ROTATORCTL, "-s", r.sock, "rotate", "--fleet", "web"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.returncode == 1 and "[cluster]" in p.stderr
    p = subprocess.run([ROTATORCTL, "-s", r.sock, "reload-config"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.returncode == 0, p.stderr
    # Not root and not in admin_group: refused.
    p = subprocess.run(["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOGROUP,
                        "--clear-groups", ROTATORCTL, "-s", r.sock, "status"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.returncode == 4, p       # status unknown: no permission
    p = subprocess.run(["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOGROUP,
                        "--clear-groups", ROTATORCTL, "-s", r.sock, "rotate",
                        "web"], capture_output=True, text=True)
    assert p.returncode == 1 and "admin" in p.stderr
    p = subprocess.run([ROTATORCTL, "bogus"], stderr=subprocess.PIPE, text=True)
    assert p.returncode == 64
    p = subprocess.run([ROTATORCTL, "--json", "rotate", "web"],
                       stderr=subprocess.PIPE, text=True)
    assert p.returncode == 64


def ctl(*args):
    return subprocess.run([ROTATORCTL] + list(args), capture_output=True,
                          text=True, timeout=60)


def check_status_doc(doc):
    """The --json schema of rotatorctl(1), field by field."""
    assert doc["schema"] == 1 and doc["running"] is True
    assert isinstance(doc["version"], str) and doc["version"]
    assert isinstance(doc["ready"], bool)
    assert isinstance(doc["not_ready"], list)
    assert doc["ready"] == (doc["not_ready"] == [])
    for c in doc["credentials"]:
        assert set(c) == {"name", "type", "generation", "published",
                          "not_after", "renew_at", "expires_in", "rotations",
                          "failures", "last_error"}, c
        assert c["type"] in ("x509", "jwt", "secret", "oauth")
        for k in ("generation", "not_after", "renew_at", "expires_in",
                  "rotations", "failures"):
            assert isinstance(c[k], int), (k, c)
        assert isinstance(c["published"], bool)
        assert isinstance(c["last_error"], str)
        if c["published"]:
            assert abs(c["not_after"] - time.time() - c["expires_in"]) <= 2
    for rl in doc["reloads"]:
        assert set(rl) == {"name", "ok", "failed", "pending", "last_error"}
    assert doc["cluster"] is None or isinstance(doc["cluster"], dict)


def test_rotatorctl_status_exit_codes_and_json(rotatord, tmpdir_short):
    for prog in ("rotatord", "rotatorctl"):
        p = subprocess.run([os.path.join(ROOT, BUILD, prog), "--version"],
                           capture_output=True, text=True)
        assert p.returncode == 0 and re.match(prog + r" \d+\.\d+\.\d+",
                                              p.stdout), p
    sock = os.path.join(tmpdir_short, "api.sock")
    # Not running: 3, like `systemctl is-active`, with and without --json.
    p = ctl("-s", sock, "status")
    assert p.returncode == 3 and "not running" in p.stderr, p
    p = ctl("-s", sock, "status", "--json")
    assert p.returncode == 3
    assert json.loads(p.stdout) == {"schema": 1, "running": False,
                                    "ready": False}
    assert ctl("-s", sock, "rotate", "--all").returncode == 3
    # Ready: 0.
    r = rotatord(base_config(sock))
    r.start()
    wait_for(lambda: os.path.exists(sock), what="api socket")
    p = ctl("-s", sock, "status")
    assert p.returncode == 0, p
    assert p.stdout.startswith("rotatord ") and ": ready" in p.stdout.splitlines()[0]
    p = ctl("-s", sock, "--json", "status")
    assert p.returncode == 0, p
    doc = json.loads(p.stdout)
    check_status_doc(doc)
    assert doc["ready"] is True
    assert sorted(c["name"] for c in doc["credentials"]) == ["other", "web"]
    r.stop()
    # Running but not ready (an oauth credential whose issuer is down): 1.
    os.environ["ROTATORD_TEST_SECRET"] = "x"
    r = rotatord(base_config(sock, """
[issuer "down"]
url = http://127.0.0.1:9/
client_id = x
client_secret = env:ROTATORD_TEST_SECRET
timeout = 1s
[credential "tok"]
type = oauth
issuer = down
scope = a
"""))
    r.start()
    wait_for(lambda: os.path.exists(sock), what="api socket")
    p = ctl("-s", sock, "status", "--json")
    assert p.returncode == 1, p
    doc = json.loads(p.stdout)
    check_status_doc(doc)
    assert doc["ready"] is False and doc["not_ready"] == ["tok"]
    tok = [c for c in doc["credentials"] if c["name"] == "tok"][0]
    assert tok["published"] is False and tok["failures"] >= 1
    assert tok["last_error"]
    p = ctl("-s", sock, "status")
    assert p.returncode == 1 and "not ready: tok" in p.stdout
    # Stopped: 3 again (the socket file is gone or refuses).
    r.stop()
    assert ctl("-s", sock, "status").returncode == 3


def test_token_exchange_lanes(api, idp):
    p = idp(tls=True)
    r = api("""
[issuer "okta"]
url = %s
ca_file = %s
trust = yes
audience = rotatord

[client "agent"]
issuer = okta
token_audiences = payments, billing
token_scopes = agent:read
""" % (p.url, p.ca_file))
    tok = p.mint(sub="agent-7", aud="rotatord", scope="rotatord.read")

    def exchange(aud="payments", scope="agent:read", subject=tok):
        form = ("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-"
                "exchange&subject_token=" + subject +
                "&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type"
                "%3Ajwt&audience=" + aud + "&scope=" + scope)
        return curl(r.sock, "/v1/token", method="POST", data=form,
                    headers=("Rotatord-Request: 1", "Content-Type: "
                             "application/x-www-form-urlencoded"))
    # The JWKS of the provider may still be loading: retry briefly.
    wait_for(lambda: exchange()[0] == 200, timeout=10, what="token exchange")
    code, body = exchange()
    resp = json.loads(body)
    assert resp["issued_token_type"] == "urn:ietf:params:oauth:token-type:jwt"
    code, jwks = curl(r.sock, "/v1/jwks", headers=())
    assert code == 200
    keys = json.loads(jwks)["keys"]
    kid = pyjwt.get_unverified_header(resp["access_token"])["kid"]
    key = pyjwt.PyJWK([k for k in keys if k["kid"] == kid][0]).key
    claims = pyjwt.decode(resp["access_token"], key=key, algorithms=["ES256"],
                          audience="payments", issuer="https://rotatord.test")
    assert claims["sub"] == "agent-7" and claims["scope"] == "agent:read"
    # RFC 8693 act: which token was exchanged, from which issuer.
    assert claims["act"] == {"iss": p.url, "sub": "agent-7"}
    code, body = exchange(aud="treasury")
    assert code == 400 and json.loads(body)["error"] == "invalid_target"
    code, body = exchange(scope="agent:write")
    assert code == 400 and json.loads(body)["error"] == "invalid_scope"
    forged = tok[:-6] + ("AAAAAA" if not tok.endswith("AAAAAA") else "BBBBBB")
    code, body = exchange(subject=forged)
    assert code in (400, 401) and json.loads(body)["error"] in (
        "invalid_grant", "invalid_request", "access_denied")


def test_libmicrohttpd_loaded_on_first_connection(api):
    """An API nobody calls costs no libmicrohttpd (nor GnuTLS) pages: the
    library is loaded when the first client connects, which is answered."""
    r = api()
    maps = "/proc/%d/maps" % r.proc.pid

    def loaded():
        with open(maps) as f:
            return "libmicrohttpd" in f.read()
    time.sleep(0.3)
    assert not loaded()
    code, body = curl(r.sock, "/healthz")
    assert (code, body) == (200, b"ok\n")
    assert loaded()
    code, _ = curl(r.sock, "/v1/credentials/web/cert.pem", uid=NOBODY)
    assert code == 200


def complete(sock, *words):
    """What packaging/bash-completion/rotatorctl offers after words."""
    line = " ".join(("rotatorctl",) + words)
    script = r"""
source /usr/share/bash-completion/bash_completion
source %s/packaging/bash-completion/rotatorctl
COMP_WORDS=(%s)
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_LINE=%s
COMP_POINT=${#COMP_LINE}
_rotatorctl rotatorctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%%s\n' "${COMPREPLY[@]}"
""" % (ROOT, " ".join("'%s'" % w for w in ("rotatorctl",) + words),
       "'%s'" % line)
    env = dict(os.environ, PATH=os.path.join(ROOT, BUILD) + ":" + os.environ["PATH"])
    p = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                       env=env, timeout=30)
    assert p.returncode == 0, p.stderr
    return sorted(w for w in p.stdout.split("\n") if w)


def test_bash_completion(api):
    assert os.path.exists("/usr/share/bash-completion/bash_completion")
    r = api()
    assert complete(r.sock, "") == ["reload-config", "rotate", "status"]
    assert complete(r.sock, "st") == ["status"]
    assert "--json" in complete(r.sock, "--")
    assert complete(r.sock, "status", "") == ["--json"]
    assert complete(r.sock, "-s", r.sock, "rotate", "") == ["other", "web"]
    assert complete(r.sock, "-s", r.sock, "rotate", "w") == ["web"]
    assert complete(r.sock, "-s", r.sock, "rotate", "--") == ["--all", "--fleet"]


def test_own_tokens_only_for_their_audience(rotatord, tmpdir_short):
    """rotatord's own tokens (a jwt credential, an exchanged token) are
    accepted by its API only when their aud holds [listen] audience; a
    token it minted is exchanged again only where a lane allows it, and
    the chain of exchanges in act is at most max_delegation deep."""
    from conftest import free_port
    import urllib.error
    import urllib.request

    port = free_port()
    sock = os.path.join(tmpdir_short, "api.sock")
    r = rotatord("""
[listen]
unix = %s
tcp = 127.0.0.1:%d

[signer "local"]
issuer = https://rotatord.test

[credential "web"]
type = secret

[credential "for-payments"]
type = jwt
signer = local
subject = svc
audience = payments

[credential "for-rotatord"]
type = jwt
signer = local
subject = svc
audience = rotatord

[credential "for-rotatord2"]
type = jwt
signer = local
subject = svc2
audience = rotatord

[client "svc"]
issuer = local
subject = svc
allow = web
token_audiences = payments

[client "svc2"]
issuer = local
subject = svc2
token_audiences = rotatord, payments
token_reexchange = yes
""" % (sock, port))
    r.start()
    tok = {}
    for n in ("for-payments", "for-rotatord", "for-rotatord2"):
        with open(r.path(n, "token")) as f:
            tok[n] = f.read().strip()

    def get(path, token):
        req = urllib.request.Request(
            "http://127.0.0.1:%d%s" % (port, path),
            headers={"Rotatord-Request": "1",
                     "Authorization": "Bearer " + token})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def exchange(subject, aud):
        form = ("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-"
                "exchange&subject_token=" + subject +
                "&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type"
                "%3Ajwt&audience=" + aud).encode()
        req = urllib.request.Request(
            "http://127.0.0.1:%d/v1/token" % port, data=form,
            headers={"Rotatord-Request": "1", "Content-Type":
                     "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    # As a bearer on the TCP API: only the token meant for rotatord.
    code, _ = get("/v1/credentials/web/0.key", tok["for-payments"])
    assert code == 401
    code, body = get("/v1/credentials/web/0.key", tok["for-rotatord"])
    assert code == 200 and len(body) == 32
    # As subject_token: the same rule.
    code, body = exchange(tok["for-payments"], "payments")
    assert code == 400 and body["error"] == "invalid_grant", body
    assert "audience" in body["error_description"]
    # A token rotatord minted, for rotatord: svc's lane does not allow
    # exchanging it again.
    code, body = exchange(tok["for-rotatord"], "payments")
    assert code == 403 and body["error"] == "access_denied", body
    assert "token_reexchange" in body["error_description"]
    # svc2's does, and every exchange is recorded in act.
    code, body = exchange(tok["for-rotatord2"], "rotatord")
    assert code == 200, body
    t1 = body["access_token"]
    c1 = pyjwt.decode(t1, options={"verify_signature": False})
    assert c1["sub"] == "svc2" and c1["aud"] == "rotatord"
    assert c1["act"] == {"iss": "https://rotatord.test", "sub": "svc2"}
    code, body = exchange(t1, "rotatord")
    assert code == 200, body
    t2 = body["access_token"]
    c2 = pyjwt.decode(t2, options={"verify_signature": False})
    assert c2["act"] == {"iss": "https://rotatord.test", "sub": "svc2",
                         "act": c1["act"]}
    # Two exchanges behind t2: a third passes max_delegation (2).
    code, body = exchange(t2, "payments")
    assert code == 400 and body["error"] == "invalid_grant", body
    assert "max_delegation" in body["error_description"]
    text = r.text()
    assert "aud does not hold rotatord" in text
    assert "(re-exchange)" in text
    assert tok["for-rotatord"] not in text and t1 not in text


HOLD_CONNECTIONS = r"""
import socket, sys, time
path, n = sys.argv[1], int(sys.argv[2])
socks = []
for _ in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.settimeout(0.2)
    socks.append(s)
deadline = time.monotonic() + 5
shut = set()
while time.monotonic() < deadline and len(shut) < n:
    for i, s in enumerate(socks):
        if i in shut:
            continue
        try:
            if s.recv(1) == b"":
                shut.add(i)
        except socket.timeout:
            pass
    if len(shut) == n - int(sys.argv[3]):
        break
print(n - len(shut), flush=True)
sys.stdin.read()
"""


def test_per_uid_limit_on_the_unix_socket(rotatord, tmpdir_short):
    """One member of the socket's group cannot take every connection: past
    per_uid_limit its connections are shut at once, others (and root) are
    served, and the refusals are counted."""
    sock = os.path.join(tmpdir_short, "api.sock")
    r = rotatord(base_config(sock, """
[client "daemon"]
user = daemon
allow = other
""").replace("unix_group = nogroup", "unix_group = nogroup\n"
             "per_uid_limit = 4", 1))
    r.start()
    r.sock = sock
    holder = subprocess.Popen(
        ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOGROUP,
         "--clear-groups", "/usr/bin/python3", "-c", HOLD_CONNECTIONS,
         sock, "10", "4"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        kept = int(holder.stdout.readline())
        assert kept == 4, "nobody kept %d connections, want 4" % kept
        # nobody is at its limit; another uid and root are served.
        code, _ = curl(sock, "/v1/credentials/other/0.key", uid=DAEMON_UID)
        assert code == 200
        code, body = curl(sock, "/metrics", headers=())
        assert code == 200
        m = re.search(rb"rotatord_http_unix_refused_total (\d+)", body)
        assert m and int(m.group(1)) == 6, body[-500:]
    finally:
        holder.communicate("", timeout=10)
    # Once nobody's connections are gone, it is served again.
    wait_for(lambda: curl(sock, "/v1/credentials/web/cert.pem",
                          uid=NOBODY)[0] == 200, timeout=10,
             what="nobody served again")
    assert "per_uid_limit" in r.text()
