# SPDX-License-Identifier: Apache-2.0
"""The recipes in docs/recipes/*.md, run as they stand.

Every fenced block (```ini, ```nginx, ```sh) of a recipe is taken from the
markdown and used verbatim, except for what must move for a test: paths
under /run and /etc go to a temporary directory, port 443 to a free port
on loopback, the upstream app to a small backend of the test, Okta to the
test OIDC provider.  Those substitutions are an explicit table in which
every entry must match exactly as often as it says, and what is left must
not name a host path or port any more: a recipe that changes fails here
loudly instead of being skipped silently.  Every ```sh line of a recipe
must be one the test knows how to run (and runs).

Real nginx, the real rotatord and rotatorctl binaries and the real test
OIDC provider (tests/idp, oidc-provider), all on 127.0.0.1 (and ::1).

nginx's workers: the recipe runs them as www-data and adds www-data to
the group rotatord, the socket's group.  The test creates a unique user
(primary group www-data) standing in for www-data and a unique group
standing in for rotatord, runs the recipe's `adduser` line on them and
runs nginx's workers as that user: the unix socket upstream of
auth_request is then really reached through the group, as in the recipe.
Both are removed at teardown.  rotatord itself runs as root here (the
packaged setup, user rotatord, is tested elsewhere)."""
import http.client
import http.server
import json
import os
import re
import secrets
import shlex
import socket
import ssl
import subprocess
import threading
import urllib.parse
import warnings

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from conftest import ROOT, BUILD, ROTATORD, wait_for
from idp import idp_fixture  # noqa: F401  (fixture `idp`)

ROTATORCTL = os.path.join(ROOT, BUILD, "rotatorctl")
RECIPES = os.path.join(ROOT, "docs", "recipes")
UNIT = os.path.join(ROOT, "packaging", "systemd", "rotatord.service")
NGINX = "/usr/sbin/nginx"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
FENCE = re.compile(r"^```([A-Za-z0-9_-]*)[ \t]*\n(.*?)^```[ \t]*$",
                   re.M | re.S)
# What a substituted block must not contain any more: host paths, the
# recipe's ports, the example Okta org.
RESIDUE = re.compile(r"/run/|/etc/|/var/|\b443\b|\b8080\b|example\.okta\.com"
                     r"|0oa1b2c3d4e5f6g7h8i9|3bYGu3rnfI6b0l")


# ---------------------------------------------------------------------------
# The recipes' blocks, and the substitutions.

def recipe_blocks(name):
    """[(lang, text)] of the fenced blocks of docs/recipes/NAME, in order."""
    with open(os.path.join(RECIPES, name)) as f:
        md = f.read()
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(md)]


def blocks_of(name, expect):
    """The blocks, checked to be exactly of the languages `expect` (a new,
    removed or reordered block must be looked at by whoever changes the
    recipe, and this test with it)."""
    b = recipe_blocks(name)
    assert [lang for lang, _ in b] == expect, (
        "%s: blocks %r, this test knows %r: update test_recipes.py"
        % (name, [lang for lang, _ in b], expect))
    return b


def substitute(text, table, what):
    """Apply (old, new, count) substitutions: each `old` must occur exactly
    `count` times.  Then nothing host-specific may be left."""
    for old, new, count in table:
        n = text.count(old)
        assert n == count, (
            "%s: %r occurs %d times, the test substitutes it %d times: the "
            "recipe changed, update test_recipes.py" % (what, old, n, count))
        text = text.replace(old, new)
    left = RESIDUE.findall(text)
    assert not left, "%s: not substituted: %r" % (what, left)
    return text


def sh_lines(text):
    return [l.strip() for l in text.splitlines() if l.strip()]


def run_sh(known, lines, what, **kw):
    """Every line of a ```sh block must be a key of `known`; each value is
    called (in the recipe's order) with the line and kw."""
    assert sorted(lines) == sorted(set(lines)), lines
    unknown = [l for l in lines if l not in known]
    assert not unknown, ("%s: sh lines this test does not know how to run: "
                         "%r (update test_recipes.py)" % (what, unknown))
    for l in lines:
        known[l](l, **kw)


def sh(cmd, **kw):
    """Run a (substituted) shell line; returns CompletedProcess."""
    return subprocess.run(["/bin/sh", "-c", cmd], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=60, **kw)


def exec_reload(pid):
    """`systemctl reload rotatord` = the packaged unit's ExecReload."""
    with open(UNIT) as f:
        lines = [l.split("=", 1)[1].strip() for l in f
                 if l.startswith("ExecReload=")]
    assert lines == ["/bin/kill -HUP $MAINPID"], lines
    res = sh(lines[0].replace("$MAINPID", str(pid)))
    assert res.returncode == 0, res.stderr


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


# ---------------------------------------------------------------------------
# Helpers: ports, users, nginx, rotatord's socket.

def ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def free_port_both(v6):
    """A port free on 127.0.0.1 and (v6) on ::1."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            if not v6:
                return port
            try:
                with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s6:
                    s6.bind(("::1", port))
                return port
            except OSError:
                continue
    raise AssertionError("no free port on both 127.0.0.1 and ::1")


def free_port():
    return free_port_both(False)


@pytest.fixture
def nginx_user():
    """A unique user (primary group www-data) standing in for www-data, and
    a unique group standing in for the group rotatord; removed at the end
    (after nginx, which depends on this fixture, has stopped)."""
    tag = secrets.token_hex(3)
    user, group = "rtdw" + tag, "rtdg" + tag
    subprocess.run(["groupadd", "--system", group], check=True)
    subprocess.run(["useradd", "--system", "--no-create-home", "--no-user-group",
                    "--gid", "www-data", "--home-dir", "/nonexistent",
                    "--shell", "/usr/sbin/nologin", user], check=True)
    yield user, group
    subprocess.run(["userdel", user])
    subprocess.run(["groupdel", group])


class Backend:
    """The upstream app of the recipe: echoes X-Auth-Subject (and what it
    got) as JSON."""

    def __init__(self):
        seen = self.seen = []

        class H(http.server.BaseHTTPRequestHandler):
            def do_any(self):
                seen.append({"path": self.path, "method": self.command,
                             "headers": dict(self.headers)})
                body = json.dumps({"path": self.path,
                                   "x_auth_subject": self.headers.get("X-Auth-Subject"),
                                   "authorization": self.headers.get("Authorization")}
                                  ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            do_GET = do_POST = do_DELETE = do_any

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        self.th = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.th.start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def backend():
    b = Backend()
    yield b
    b.stop()


MAIN_CONF = """
# The test's main nginx.conf: Debian's layout (and its http-level TLS
# defaults, which the recipe's server block must override), in a temp dir.
user %(user)s www-data;
worker_processes 1;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log notice;
events { worker_connections 1024; }
http {
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers on;
    access_log %(d)s/access.log;
    client_body_temp_path %(d)s/tmp_body;
    proxy_temp_path %(d)s/tmp_proxy;
    fastcgi_temp_path %(d)s/tmp_fcgi;
    uwsgi_temp_path %(d)s/tmp_uwsgi;
    scgi_temp_path %(d)s/tmp_scgi;
    include %(d)s/conf.d/*.conf;
    include %(d)s/sites-enabled/*;
}
"""

# Not the recipe: a permissive server on another port with the same
# certificate, so that the probes for TLS 1.0/1.1 and for weak TLS 1.2
# suites are shown to be able to succeed (their refusal by the recipe's
# server then means something).
PROBE_CONF = """
server {
    listen 127.0.0.1:%(port)d ssl;
    server_name www.example.com;
    ssl_certificate     %(bundle)s;
    ssl_certificate_key %(bundle)s;
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;
    ssl_ciphers ALL:@SECLEVEL=0;
    location / { return 200 "probe\\n"; }
}
"""


class TestNginx:
    __test__ = False

    def __init__(self, tmp, user):
        self.dir = os.path.join(tmp, "nginx")
        for sub in ("conf.d", "sites-available", "sites-enabled"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        self.conf = os.path.join(self.dir, "nginx.conf")
        self.pidfile = os.path.join(self.dir, "nginx.pid")
        self.errlog = os.path.join(self.dir, "error.log")
        write(self.conf, MAIN_CONF % {"d": self.dir, "user": user})
        self.args = "%s -p %s -c %s" % (NGINX, shlex.quote(self.dir),
                                        shlex.quote(self.conf))

    def start(self):
        # Debian's nginx.service ExecStart.
        subprocess.run(shlex.split(self.args) + ["-g", "daemon on; master_process on;"],
                       check=True)
        wait_for(lambda: os.path.exists(self.pidfile), what="nginx pid file")
        return self

    def pid(self):
        return int(read(self.pidfile).strip())

    def log(self):
        try:
            return read(self.errlog)
        except FileNotFoundError:
            return ""

    def workers(self):
        """pids and uids of the master's children (the workers)."""
        out = []
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                st = read("/proc/%s/status" % p)
            except OSError:
                continue
            f = dict(l.split(":", 1) for l in st.splitlines() if ":" in l)
            if int(f["PPid"].strip()) == self.pid():
                out.append((int(p), int(f["Uid"].split()[1]),
                            f.get("Groups", "").split()))
        return out

    def wait_old_workers_gone(self, before):
        """After a reload: wait until the workers listed in `before` (of the
        old configuration, shutting down gracefully) have exited."""
        old = {pid for pid, _, _ in before}
        wait_for(lambda: not old & {pid for pid, _, _ in self.workers()},
                 timeout=30, what="nginx's old workers to exit")

    def stop(self):
        try:
            os.kill(self.pid(), 3)      # SIGQUIT: graceful
        except (OSError, ValueError):
            return
        try:
            wait_for(lambda: not os.path.exists(self.pidfile), timeout=15,
                     what="nginx to stop")
        except AssertionError:
            os.kill(self.pid(), 9)


@pytest.fixture
def nginx_proc(tmpdir_short, nginx_user):
    made = []

    def make():
        n = TestNginx(tmpdir_short, nginx_user[0])
        made.append(n)
        return n
    yield make
    for n in made:
        n.stop()


@pytest.fixture
def logs(request):
    """logs(name, fn): printed at teardown when the test failed."""
    got = []
    yield lambda name, fn: got.append((name, fn))
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        for name, fn in got:
            print("----- %s -----\n%s" % (name, fn()))


def curl_sock(sock, path, method="GET", data=None, headers=(), marked=True):
    cmd = ["curl", "-s", "-S", "--unix-socket", sock, "-o", "-", "-D",
           "/dev/stderr", "-w", "\n%{http_code}", "-X", method,
           "--max-time", "20"]
    if marked:
        cmd += ["-H", "Rotatord-Request: 1"]
    for h in headers:
        cmd += ["-H", h]
    if data is not None:
        cmd += ["--data-binary", data]
    cmd.append("http://rotatord" + path)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    body, _, code = p.stdout.rpartition(b"\n")
    hdrs = {}
    for l in p.stderr.decode(errors="replace").splitlines():
        if ":" in l:
            k, v = l.split(":", 1)
            hdrs[k.strip().lower()] = v.strip()
    return int(code or 0), body.decode(errors="replace"), hdrs


def mint_local(sock, aud, scope=None):
    """POST /v1/token on the unix socket, as root ([client "test"])."""
    form = {"grant_type": TOKEN_EXCHANGE, "audience": aud}
    if scope is not None:
        form["scope"] = scope
    code, body, _ = curl_sock(sock, "/v1/token", method="POST",
                              data=urllib.parse.urlencode(form),
                              headers=("Content-Type: "
                                       "application/x-www-form-urlencoded",))
    assert code == 200, (code, body)
    return json.loads(body)["access_token"]


def unix_peers(sock, pids):
    """Established unix stream connections of processes `pids` whose peer
    is a socket accepted on `sock` (ss -xp)."""
    out = subprocess.run(["ss", "-xpnH", "state", "established"],
                         stdout=subprocess.PIPE, text=True, check=True).stdout
    server_inodes, client_peers = set(), []
    for l in out.splitlines():
        f = l.split()
        # u_str Recv-Q Send-Q Local Inode Peer PeerInode [users:(...)]
        if len(f) < 7:
            continue
        local, inode, peer_inode = f[3], f[4], f[6]
        if local == sock:
            server_inodes.add(inode)
        if any("pid=%d," % p in l for p in pids):
            client_peers.append(peer_inode)
    return [i for i in client_peers if i in server_inodes]


def forge(tok):
    return tok[:-6] + ("AAAAAA" if not tok.endswith("AAAAAA") else "BBBBBB")


# ---------------------------------------------------------------------------
# TLS probes.

def tls_ctx(ca, minv=None, maxv=None, ciphers=None, legacy=False):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if legacy:
            # Let the client itself offer what OpenSSL 3 disables by default.
            ctx.set_ciphers("ALL:@SECLEVEL=0")
        if ciphers:
            ctx.set_ciphers(ciphers + (":@SECLEVEL=0" if legacy else ""))
        if minv:
            ctx.minimum_version = minv
        if maxv:
            ctx.maximum_version = maxv
    return ctx


def handshake(port, ctx, host="127.0.0.1", sni="www.example.com"):
    """(version, cipher name, leaf DER) of one handshake, or raises."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect((host, port))
        with ctx.wrap_socket(s, server_hostname=sni) as t:
            return t.version(), t.cipher()[0], t.getpeercert(binary_form=True)


def refused(port, ctx):
    try:
        handshake(port, ctx)
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as e:
        return e
    return None


def serial_of(der):
    return x509.load_der_x509_certificate(der).serial_number


def published_serial(path):
    return x509.load_pem_x509_certificate(read(path, "rb")).serial_number


class Https(http.client.HTTPSConnection):
    """HTTPS to 127.0.0.1:port with SNI and Host www.example.com."""

    def __init__(self, port, ctx):
        super().__init__("www.example.com", port, context=ctx, timeout=15)
        self._port_, self._ctx_ = port, ctx

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self._port_), timeout=15)
        self.sock = self._ctx_.wrap_socket(s, server_hostname="www.example.com")


def https(port, ctx, path, token=None, method="GET"):
    c = Https(port, ctx)
    hdrs = {"Authorization": "Bearer " + token} if token is not None else {}
    c.request(method, path, headers=hdrs)
    r = c.getresponse()
    body = r.read().decode(errors="replace")
    c.close()
    return r.status, body


def s_client(port, ca, sess_in=None, sess_out=None):
    """openssl s_client, TLS 1.2: (reused?, ticket key name hex or None)."""
    cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
           "-servername", "www.example.com", "-tls1_2", "-CAfile", ca,
           "-verify_return_error", "-verify_hostname", "www.example.com"]
    if sess_in:
        cmd += ["-sess_in", sess_in]
    if sess_out:
        cmd += ["-sess_out", sess_out]
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=30)
    assert "Verify return code: 0 (ok)" in p.stdout, p.stdout + p.stderr
    m = re.search(r"^(New|Reused), (TLSv1\.2)", p.stdout, re.M)
    assert m, p.stdout
    return m.group(1) == "Reused"


def ticket_key_name(sess_file):
    """The first 16 bytes of the TLS 1.2 session ticket in an s_client
    session file: nginx's key name, the first 16 bytes of the key file."""
    p = subprocess.run(["openssl", "sess_id", "-in", sess_file, "-noout",
                        "-text"], stdout=subprocess.PIPE, text=True,
                       check=True)
    hexbytes = []
    inside = False
    for l in p.stdout.splitlines():
        if l.strip().startswith("TLS session ticket:"):
            inside = True
            continue
        if inside:
            m = re.match(r"\s*[0-9a-f]{4} - ((?:[0-9a-f]{2}[ -]){1,16})", l)
            if not m:
                break
            hexbytes += re.findall(r"[0-9a-f]{2}", m.group(1))
    assert hexbytes, "no session ticket in " + p.stdout
    return "".join(hexbytes[:16])


# ---------------------------------------------------------------------------
# docs/recipes/nginx.md

ROTATORD_BASE = """[rotatord]
output_dir = %(out)s
state_dir = %(state)s
retry_min = 200ms
retry_max = 2s

[ca "local"]

[signer "local"]
issuer = https://rotatord.test

[listen]
unix = %(out)s/api.sock
unix_mode = 0660
unix_group = %(group)s

[client "test"]
user = root
token_signer = local
token_audiences = api://www
token_scopes = api.read, other.read
"""


def test_recipe_nginx(rotatord, tmpdir_short, nginx_user, nginx_proc, backend,
                      logs):
    user, group = nginx_user
    v6 = ipv6_loopback()
    port, probe_port = free_port_both(v6), free_port()
    out = os.path.join(tmpdir_short, "out")
    sock = os.path.join(out, "api.sock")
    ctl = [ROTATORCTL, "-s", sock]
    (_, sh1), (_, ini), (_, sh2), (_, server), (_, sh3) = blocks_of(
        "nginx.md", ["sh", "ini", "sh", "nginx", "sh"])
    n = nginx_proc()
    recipe_errors = []

    # -- 1. Let nginx reach rotatord.
    def adduser(line):
        res = sh(substitute(line, [("www-data", user, 1), ("rotatord", group, 1)],
                            "nginx.md adduser"))
        assert res.returncode == 0, res.stdout + res.stderr
    run_sh({"adduser www-data rotatord": adduser}, sh_lines(sh1), "nginx.md 1")
    members = subprocess.run(["id", "-nG", user], stdout=subprocess.PIPE,
                             text=True, check=True).stdout.split()
    assert group in members and "www-data" in members, members

    # nginx runs (as on the host) before the recipe: no server yet.
    n.start()

    # rotatord runs with the packaged-like part: CA, signer, socket.
    base = ROTATORD_BASE % {"out": out, "group": group,
                            "state": os.path.join(tmpdir_short, "state")}
    # The packaged unit's RuntimeDirectory=rotatord, RuntimeDirectoryMode=0755
    # (rotatord itself, umask 077, would make it 0700: no way in for
    # nginx's workers).
    os.makedirs(out, mode=0o755)
    os.chmod(out, 0o755)
    r = rotatord(base)
    logs("rotatord", r.text)
    logs("nginx error.log", n.log)
    r.start()
    wait_for(lambda: os.path.exists(sock), what="api socket")

    # -- 2. The credentials and the reload: added to rotatord.ini.
    ini_s = substitute(ini, [
        ("pidfile  = /run/nginx.pid\n", "pidfile  = %s\n" % n.pidfile, 1),
        ("verify   = 127.0.0.1:443\n", "verify   = 127.0.0.1:%d\n" % port, 1),
    ], "nginx.md ini")
    r.write_config(base + "\n" + ini_s)

    def check_config(line):
        res = sh(substitute(line, [
            ("rotatord --check-config", ROTATORD + " --check-config", 1),
            ("/etc/rotatord/rotatord.ini", r.cfg, 1)], "check-config line"))
        assert res.returncode == 0, res.stdout + res.stderr

    def reload_rotatord(line):
        exec_reload(r.proc.pid)
        wait_for(lambda: os.path.exists(r.path("www", "bundle.pem")) and
                 os.path.exists(r.path("www-tickets", "0.key")), timeout=30,
                 what="www and www-tickets published")

    def status(line):
        res = subprocess.run(ctl + ["status"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, timeout=30)
        assert res.returncode == 0, res.stdout + res.stderr
    run_sh({"rotatord --check-config -c /etc/rotatord/rotatord.ini": check_config,
            "systemctl reload rotatord": reload_rotatord,
            "rotatorctl status": status}, sh_lines(sh2), "nginx.md 2")

    # The server block of step 3, written now (enabled in step 3).  The
    # recipe: "`www-tickets` publishes `0.key` (encrypts) and `1.key`,
    # `2.key` (still decrypt)", and the server block names all three.
    listen6 = "listen [::1]:%d ssl;" % port if v6 else ""
    server_s = substitute(server, [
        ("listen 443 ssl;", "listen 127.0.0.1:%d ssl;" % port, 1),
        ("listen [::]:443 ssl;", listen6, 1),
        ("/run/rotatord/", out + "/", 6),
        ("proxy_pass http://127.0.0.1:8080;",
         "proxy_pass http://127.0.0.1:%d;" % backend.port, 1),
    ], "nginx.md server")
    avail = os.path.join(n.dir, "sites-available", "www")
    enabled = os.path.join(n.dir, "sites-enabled", "www")
    write(avail, server_s)
    missing = [k for k in ("1.key", "2.key")
               if not os.path.exists(r.path("www-tickets", k))]
    if missing:
        os.symlink(avail, enabled)
        t = sh(n.args + " -t")
        os.unlink(enabled)
        recipe_errors.append(
            "nginx.md: after step 2 www-tickets (keep = 3) has only %s: its "
            "first generation lacks %s, which step 3's ssl_session_ticket_key "
            "lines name; `nginx -t` exits %d: %s"
            % ([f for f in os.listdir(r.path("www-tickets", ".")) if
                not f.startswith("..")], missing, t.returncode,
               " | ".join(l for l in t.stderr.splitlines() if "emerg" in l)))
        # Work around it (two rotations) to test the rest of the recipe.
        for _ in missing:
            gen = r.meta("www-tickets")["generation"]
            assert subprocess.run(ctl + ["rotate", "www-tickets"]).returncode == 0
            wait_for(lambda: r.meta("www-tickets")["generation"] > gen,
                     timeout=20, what="www-tickets rotated")

    # The published files: group www-data, mode 0640 (key files).
    www = os.stat(r.path("www", "bundle.pem"))
    assert www.st_gid == 33 and www.st_mode & 0o777 == 0o640, oct(www.st_mode)
    for i in range(3):
        st = os.stat(r.path("www-tickets", "%d.key" % i))
        assert st.st_gid == 33 and st.st_mode & 0o777 == 0o640
        assert st.st_size == 80
    # bundle.pem: the key and the full chain, in one file.
    bundle = read(r.path("www", "bundle.pem"))
    assert bundle.count("PRIVATE KEY-----") == 2, "no key in bundle.pem"
    assert read(r.path("www", "fullchain.pem")).strip() in bundle
    leaf = x509.load_pem_x509_certificate(read(r.path("www", "cert.pem"), "rb"))
    sans = leaf.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert sorted(sans) == ["example.com", "www.example.com"]

    # -- 3. The nginx server (written above), enabled.
    os.symlink(avail, enabled)
    write(os.path.join(n.dir, "conf.d", "probe.conf"),
          PROBE_CONF % {"port": probe_port, "bundle": r.path("www", "bundle.pem")})

    ca = r.path("www", "ca.pem")
    ok_ctx = tls_ctx(ca)

    def nginx_t_reload(line):
        res = sh(substitute(line, [
            ("nginx -t", n.args + " -t", 1),
            # Debian's nginx.service ExecReload.
            ("systemctl reload nginx",
             n.args + " -g 'daemon on; master_process on;' -s reload", 1)],
            "nginx -t line"))
        assert res.returncode == 0, res.stdout + res.stderr

        def serving():
            try:
                return handshake(port, ok_ctx)
            except OSError:
                return None
        wait_for(serving, timeout=20, what="nginx serving the recipe's server")

    def s_client_x509(line):
        res = sh(substitute(line, [("127.0.0.1:443", "127.0.0.1:%d" % port, 1)],
                            "s_client line"))
        assert res.returncode == 0, res.stderr
        cur = x509.load_pem_x509_certificate(read(r.path("www", "cert.pem"), "rb"))
        end = subprocess.run(["openssl", "x509", "-noout", "-subject", "-enddate",
                              "-in", r.path("www", "cert.pem")],
                             stdout=subprocess.PIPE, text=True, check=True).stdout
        assert res.stdout == end and "notAfter=" in end, (res.stdout, end)
        assert cur.serial_number == serial_of(handshake(port, ok_ctx)[2])
    run_sh({"nginx -t && systemctl reload nginx": nginx_t_reload,
            "openssl s_client -connect 127.0.0.1:443 -servername www.example.com"
            " </dev/null 2>/dev/null | openssl x509 -noout -subject -enddate":
            s_client_x509}, sh_lines(sh3), "nginx.md 3")

    # rotatord's reload of nginx (tried since step 2, retried) verifies now.
    done_re = re.compile(r"reload nginx: done for ([a-z,-]+) \(new certificate "
                         r"served\)")
    wait_for(lambda: done_re.search(r.text()), timeout=30,
             what="reload nginx: done ... (new certificate served)")
    # One reload for both credentials.
    assert set(done_re.search(r.text()).group(1).split(",")) == \
        {"www", "www-tickets"}

    # `rotatorctl status` again, now that nginx serves: exit 0, both
    # credentials, the reload.
    res = subprocess.run(ctl + ["status"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr
    assert re.search(r"^www +x509 +[0-9]+ ", res.stdout, re.M), res.stdout
    assert re.search(r"^www-tickets +secret +[0-9]+ ", res.stdout, re.M), res.stdout
    assert re.search(r"^nginx +[1-9][0-9]* ", res.stdout, re.M), res.stdout

    # nginx's workers run as the www-data stand-in, with the socket's group.
    gid_g = int(subprocess.run(["getent", "group", group], stdout=subprocess.PIPE,
                               text=True, check=True).stdout.split(":")[2])
    uid_u = int(subprocess.run(["id", "-u", user], stdout=subprocess.PIPE,
                               text=True, check=True).stdout)
    wk = n.workers()
    assert wk and all(uid == uid_u and str(gid_g) in groups
                      for _, uid, groups in wk), wk
    st = os.stat(sock)
    assert st.st_gid == gid_g and st.st_mode & 0o777 == 0o660

    # -- TLS: the published certificate, versions, suites.
    ver, cipher, der = handshake(port, ok_ctx)
    assert ver == "TLSv1.3"
    assert serial_of(der) == published_serial(r.path("www", "cert.pem"))
    handshake(port, ok_ctx, sni="example.com")
    if v6:
        handshake(port, ok_ctx, host="::1")
    v12 = tls_ctx(ca, maxv=ssl.TLSVersion.TLSv1_2)
    assert handshake(port, v12)[0] == "TLSv1.2"
    assert handshake(port, tls_ctx(ca, minv=ssl.TLSVersion.TLSv1_3))[0] == "TLSv1.3"
    for old in (ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1):
        ctx = tls_ctx(ca, minv=old, maxv=old, legacy=True)
        # The probe can do it (permissive server), the recipe's server not.
        assert handshake(probe_port, ctx)[0] == {
            ssl.TLSVersion.TLSv1_1: "TLSv1.1", ssl.TLSVersion.TLSv1: "TLSv1"}[old]
        assert refused(port, ctx), "%s accepted" % old
    # TLS 1.2 suites.  The leaf is ECDSA (rotatord's default key type), so
    # a non-ECDHE suite (static RSA) could not be negotiated anyway; what
    # ssl_ciphers must refuse with this key are the non-AEAD ECDHE suites.
    assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey)
    for weak in ("ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384",
                 "ECDHE-ECDSA-AES128-SHA256"):
        ctx = tls_ctx(ca, maxv=ssl.TLSVersion.TLSv1_2, ciphers=weak, legacy=True)
        assert handshake(probe_port, ctx)[1] == weak
        assert refused(port, ctx), weak + " accepted"
    ctx = tls_ctx(ca, maxv=ssl.TLSVersion.TLSv1_2, ciphers="AES128-GCM-SHA256",
                  legacy=True)
    assert refused(port, ctx), "AES128-GCM-SHA256 accepted"
    for good in ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                 "ECDHE-ECDSA-CHACHA20-POLY1305"):
        ctx = tls_ctx(ca, maxv=ssl.TLSVersion.TLSv1_2, ciphers=good)
        assert handshake(port, ctx)[1:2] == (good,)

    # -- Session tickets from rotatord's keys (TLS 1.2).
    def key_name(i):
        return read(r.path("www-tickets", "%d.key" % i), "rb")[:16].hex()
    s1 = os.path.join(tmpdir_short, "s1.pem")
    assert not s_client(port, ca, sess_out=s1)
    assert ticket_key_name(s1) == key_name(0)
    assert s_client(port, ca, sess_in=s1)           # resumed with the ticket
    old0 = key_name(0)
    done_t = r.text().count("reload nginx: done for www-tickets")
    before = n.workers()
    res = subprocess.run(ctl + ["rotate", "www-tickets"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr
    wait_for(lambda: r.text().count("reload nginx: done for www-tickets") > done_t,
             timeout=30, what="reload nginx: done for www-tickets")
    assert key_name(1) == old0 and key_name(0) != old0
    n.wait_old_workers_gone(before)
    s2 = os.path.join(tmpdir_short, "s2.pem")
    assert not s_client(port, ca, sess_out=s2)
    assert ticket_key_name(s2) == key_name(0)
    # The old ticket (its key is now 1.key) still resumes: keep = 3.
    assert ticket_key_name(s1) == key_name(1)
    assert s_client(port, ca, sess_in=s1)

    # -- Rotation of the certificate: reload, verified, new serial served.
    old_serial = serial_of(handshake(port, ok_ctx)[2])
    done_www = r.text().count("reload nginx: done for www (new certificate served)")
    before = n.workers()
    res = subprocess.run(ctl + ["rotate", "www"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr
    wait_for(lambda: r.text().count("reload nginx: done for www (new certificate "
                                    "served)") > done_www, timeout=30,
             what="reload nginx: done for www (new certificate served)")
    new_serial = published_serial(r.path("www", "cert.pem"))
    assert new_serial != old_serial
    # verify saw the new certificate on one handshake; a worker of the old
    # generation may still take a connection or two while it shuts down.
    n.wait_old_workers_gone(before)
    assert serial_of(handshake(port, ok_ctx)[2]) == new_serial
    assert "sent SIGHUP to pid %d" % n.pid() in r.text()

    # -- auth_request through the unix socket.
    api = "/api/x"
    assert https(port, ok_ctx, api)[0] == 401
    tok = mint_local(sock, "api://www", "api.read")
    code, body = https(port, ok_ctx, api, tok)
    assert code == 200, body
    got = json.loads(body)
    assert got["x_auth_subject"] == "unix:uid:0" and got["path"] == api
    code, body = https(port, ok_ctx, api, tok, method="POST")
    assert code == 200, body
    assert https(port, ok_ctx, api, tok, method="DELETE")[0] == 403
    noscope = mint_local(sock, "api://www", "other.read")
    assert https(port, ok_ctx, api, noscope)[0] == 403
    assert https(port, ok_ctx, api, forge(tok))[0] == 401
    assert https(port, ok_ctx, api, "garbled.not-a.jwt")[0] == 401
    # Only the allowed requests reached the app.
    assert [(s["method"], s["path"]) for s in backend.seen] == \
        [("GET", api), ("POST", api)]
    # rotatord (listening only on the unix socket) decided each of them.
    # (The audit line of the last request may follow its answer.)
    wait_for(lambda: r.text().count("audit: authz GET /api/x by - "
                                    "unauthenticated") >= 3, timeout=10,
             what="three unauthenticated audit lines")
    text = r.text()
    assert "audit: authz GET /api/x by" in text and "ok route=api" in text
    assert "denied: method DELETE not allowed on route api" in text
    assert "denied: missing scope api.read" in text
    assert text.count("audit: authz GET /api/x by - unauthenticated") >= 3, \
        [l for l in text.splitlines() if "audit: authz" in l]
    assert tok not in text
    # nginx keeps its connection to rotatord's socket open (keepalive 8)
    # after an allowed request (an empty 200).
    assert https(port, ok_ctx, api, tok)[0] == 200
    workers = [pid for pid, _, _ in n.workers()]
    kept = unix_peers(sock, workers)
    assert kept, "no kept-alive connection from nginx's worker to " + sock
    # 200 concurrent clients through auth_request: every one answered 200.
    w = subprocess.run(["wrk", "-t2", "-c200", "-d3s", "--timeout", "10s",
                        "-H", "Authorization: Bearer " + tok,
                        "https://127.0.0.1:%d%s" % (port, api)],
                       capture_output=True, text=True, timeout=60)
    assert w.returncode == 0, w.stderr
    m = re.search(r"(\d+) requests in", w.stdout)
    assert m and int(m.group(1)) >= 200, w.stdout
    assert "Non-2xx" not in w.stdout and "Socket errors" not in w.stdout, \
        w.stdout
    # A local user outside the socket's group cannot even connect, so it
    # cannot crowd nginx out.
    p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534",
                        "--clear-groups", "/usr/bin/python3", "-c",
                        "import socket,sys; s=socket.socket(socket.AF_UNIX);"
                        "s.connect(sys.argv[1])", sock],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode != 0 and "Permission denied" in p.stderr, p.stderr
    # /v1/authz answers what the recipe says it does: also X-Auth-Issuer and
    # X-Auth-Scope; and it requires Rotatord-Request: 1.
    authz = ("Authorization: Bearer " + tok, "X-Original-URI: " + api,
             "X-Original-Method: GET")
    code, _, hdrs = curl_sock(sock, "/v1/authz", headers=authz)
    assert code == 200 and hdrs.get("x-auth-subject") == "unix:uid:0"
    assert hdrs.get("x-auth-issuer") == "https://rotatord.test"
    assert hdrs.get("x-auth-scope") == "api.read"
    assert curl_sock(sock, "/v1/authz", headers=authz, marked=False)[0] == 400

    # -- 4. Watching it: the metrics the recipe names.
    code, metrics, _ = curl_sock(sock, "/metrics")
    assert code == 200
    assert re.search(r'^rotatord_credential_seconds_until_expiry\{name="www"\} '
                     r'[0-9.e+]+$', metrics, re.M), metrics
    assert re.search(r'^rotatord_reloads_total\{target="nginx",result="failed"\} '
                     r'[0-9]+$', metrics, re.M), metrics
    assert not recipe_errors, "\n".join(recipe_errors)


# ---------------------------------------------------------------------------
# docs/recipes/okta.md

OKTA_URL = "https://example.okta.com/oauth2/aus1a2b3c4d5e6f7g8h9"


def test_recipe_okta(rotatord, idp, tmpdir_short, logs):
    p = idp(tls=True, okta_style=True, scopes="payments.read",
            extra={"default_resource": "api://payments"})
    assert p.url.endswith("/oauth2/default")
    c = p.clients["private_key_jwt"]
    out = os.path.join(tmpdir_short, "out")
    sock = os.path.join(out, "api.sock")
    key = os.path.join(tmpdir_short, "okta-web-1.pem")
    (_, sh1), (_, ini3), (_, sh3), (_, ini4) = blocks_of(
        "okta.md", ["sh", "ini", "sh", "ini"])

    # -- 2. The private key on the host.  rotatord runs as root here.
    def install(line):
        res = sh(substitute(line, [("-o rotatord -g rotatord", "-o root -g root", 1),
                                   ("/etc/rotatord/okta-web-1.pem", key, 1)],
                            "okta.md install"))
        assert res.returncode == 0, res.stderr

    def paste(line):
        res = sh(substitute(line, [("/etc/rotatord/okta-web-1.pem", key, 1)],
                            "okta.md cat"), input=read(c["key_file"]))
        assert res.returncode == 0, res.stderr
    run_sh({"install -m 0600 -o rotatord -g rotatord /dev/null "
            "/etc/rotatord/okta-web-1.pem": install,
            "cat > /etc/rotatord/okta-web-1.pem    # paste the PEM private key, "
            "then Ctrl-D": paste}, sh_lines(sh1), "okta.md 2")
    st = os.stat(key)
    assert st.st_mode & 0o777 == 0o600 and read(key) == read(c["key_file"])

    # -- 3. rotatord.ini.  The provider's certificate is from a test CA, so
    # the issuer also gets ca_file (Okta's is publicly trusted).
    ini3_s = substitute(ini3, [
        ("url           = %s\n" % OKTA_URL,
         "url           = %s\nca_file       = %s\n" % (p.url, p.ca_file), 1),
        ("client_id     = 0oa1b2c3d4e5f6g7h8i9\n",
         "client_id     = %s\n" % c["client_id"], 1),
        ("client_key    = /etc/rotatord/okta-web-1.pem\n",
         "client_key    = %s\n" % key, 1),
        ("client_key_id = 3bYGu3rnfI6b0l-3Ty9-ECXNZYTEpRz9Zp9HYJNDWQE\n",
         "client_key_id = %s\n" % c["kid"], 1),
    ], "okta.md ini 3")
    # -- 4. Okta's tokens from callers, and the route the prose describes.
    ini4_s = substitute(ini4, [
        ("url      = %s\n" % OKTA_URL,
         "url      = %s\nca_file  = %s\n" % (p.url, p.ca_file), 1),
    ], "okta.md ini 4")
    route = """
[route "payments"]
prefix = /payments/
issuer = okta-callers
scope  = payments.read
"""
    head = """[rotatord]
output_dir = %s
state_dir = %s

[listen]
unix = %s
""" % (out, os.path.join(tmpdir_short, "state"), sock)
    r = rotatord(head + "\n" + ini3_s + "\n" + ini4_s + route)
    logs("rotatord", r.text)
    logs("rotatord.ini", lambda: read(r.cfg))
    logs("idp", lambda: p.output() + "\n".join(map(json.dumps, p.log_lines())))

    def check_config(line):
        res = sh(substitute(line, [
            ("rotatord --check-config", ROTATORD + " --check-config", 1),
            ("/etc/rotatord/rotatord.ini", r.cfg, 1)], "check-config line"))
        assert res.returncode == 0, res.stdout + res.stderr

    def reload_rotatord(line):
        # First the one-shot run, then the daemon; `systemctl reload`
        # (ExecReload) on the running daemon must keep it all working.
        res = r.run("--once")
        assert res.returncode == 0, res.stderr
        r.start()
        wait_for(lambda: os.path.exists(sock), what="api socket")
        mark = r.text().count("configuration reloaded: ")
        exec_reload(r.proc.pid)
        wait_for(lambda: r.text().count("configuration reloaded: ") > mark,
                 timeout=20, what="the configuration re-read")

    def status(line):
        res = subprocess.run([ROTATORCTL, "-s", sock, "status"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, timeout=30)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "payments-token" in res.stdout, res.stdout
    run_sh({"rotatord --check-config -c /etc/rotatord/rotatord.ini": check_config,
            "systemctl reload rotatord": reload_rotatord,
            "rotatorctl status": status}, sh_lines(sh3), "okta.md 3")

    # The token: from the provider, for api://payments, scope payments.read,
    # got with private_key_jwt; the bare token, group www-data, mode 0640.
    tok = read(r.path("payments-token", "token"))
    assert "\n" not in tok
    claims = p.verify(tok, audience="api://payments")
    assert claims["client_id"] == c["client_id"]
    assert claims["scope"] == "payments.read"
    body = json.loads(read(r.path("payments-token", "token.json")))
    assert body["access_token"] == tok
    ok = [l for l in p.log_lines() if l.get("ok")]
    assert ok and all(l["auth_method"] == "private_key_jwt" and
                      l["client_id"] == c["client_id"] and
                      l["grant_type"] == "client_credentials" and
                      l["scope"] == "payments.read" for l in ok), ok
    # Renewed at 2/3 of the granted lifetime (default jitter 10%: +-5%).
    m = r.meta("payments-token")
    assert m["not_after"] - m["issued_at"] == body["expires_in"]
    frac = (m["renew_at"] - m["issued_at"]) / (m["not_after"] - m["issued_at"])
    assert 2 / 3 - 0.051 <= frac <= 2 / 3 + 0.051, frac
    for name in ("token", "token.json"):
        st = os.stat(r.path("payments-token", name))
        assert st.st_gid == 33 and st.st_mode & 0o777 == 0o640, (name, oct(st.st_mode))
    assert tok not in r.text()

    # -- 4. A caller's token for api://payments is accepted under the
    # route with issuer = okta-callers; one for another audience is not.
    def authz(token, uri="/payments/x"):
        return curl_sock(sock, "/v1/authz", headers=(
            "Authorization: Bearer " + token, "X-Original-URI: " + uri,
            "X-Original-Method: GET"))
    good = p.mint(sub="svc-a", aud="api://payments", scope="payments.read")
    wait_for(lambda: authz(good)[0] == 200, timeout=20,
             what="/v1/authz accepting the provider's token")
    code, _, hdrs = authz(good)
    assert code == 200 and hdrs.get("x-auth-subject") == "svc-a"
    assert hdrs.get("x-auth-issuer") == p.url, hdrs
    other = p.mint(sub="svc-a", aud="api://other", scope="payments.read")
    assert authz(other)[0] == 401
    noscope = p.mint(sub="svc-a", aud="api://payments", scope="other.read")
    assert authz(noscope)[0] == 403
    assert authz(forge(good))[0] == 401
    # The token rotatord got itself is a valid caller token too.
    assert authz(tok)[0] == 200
    text = r.text()
    assert "audit: authz GET /payments/x by" in text and "ok route=payments" in text
