# SPDX-License-Identifier: Apache-2.0
"""Secrets hygiene with canaries: a client secret, a subject token and the
access token never reach the log, argv, the environment of children, the
published directory's metadata, or a core file."""
import glob
import os
import signal
import subprocess

from conftest import ROTATORD, wait_for
from idp import idp_fixture  # noqa: F401  (fixture `idp`)


def test_canaries_stay_secret(rotatord, idp, tmpdir_short):
    p = idp(tls=True, ttl=60)
    c = p.clients["client_secret_post"]
    subj = os.path.join(tmpdir_short, "subject")
    subject_token = p.subject_token(sub="canary@example.test")
    with open(subj, "w") as f:
        f.write(subject_token)
    os.chmod(subj, 0o600)
    hook_env = os.path.join(tmpdir_short, "hook-env")
    hook = os.path.join(tmpdir_short, "hook.sh")
    with open(hook, "w") as f:
        f.write("#!/bin/sh\nenv > %s\ncat /proc/$PPID/cmdline >> %s\n"
                % (hook_env, hook_env))
    os.chmod(hook, 0o755)
    r = rotatord("""
log_level = debug
[issuer "okta"]
url = %s
client_id = %s
client_secret = file:%s
auth_method = client_secret_post
ca_file = %s
[credential "t"]
type = oauth
issuer = okta
scope = rotatord.read
audience = api://x
subject_token = file:%s
on_rotate = hook
[reload "hook"]
exec = %s
debounce = 100ms
""" % (p.url, c["client_id"], c["secret_file"], p.ca_file, subj, hook))
    r.start()
    wait_for(lambda: os.path.exists(hook_env), what="reload hook")
    token = open(r.path("t", "token")).read()
    canaries = [c["client_secret"], subject_token, token,
                token.split(".")[2], subject_token.split(".")[2]]
    with open("/proc/%d/cmdline" % r.proc.pid, "rb") as f:
        cmdline = f.read().decode(errors="replace")
    with open("/proc/%d/environ" % r.proc.pid, "rb") as f:
        environ = f.read().decode(errors="replace")
    # The daemon crashes: no core file anywhere near it.
    os.kill(r.proc.pid, signal.SIGSEGV)
    r.proc.wait(timeout=10)
    log = r.text()
    hook_seen = open(hook_env).read()
    meta = open(os.path.join(r.out, "t", "..data", "meta.json")).read()
    for canary in canaries:
        for where, text in (("log", log), ("argv", cmdline),
                            ("environ", environ), ("reload hook", hook_seen),
                            ("meta.json", meta)):
            assert canary not in text, "secret found in " + where
    assert glob.glob(os.path.join(r.dir, "core*")) == []
    assert glob.glob("core*") == []
    # Key files and the token are 0600.
    assert oct(os.stat(r.path("t", "token")).st_mode & 0o777) == "0o600"
    for key in glob.glob(os.path.join(r.state, "**", "*.pem"), recursive=True):
        if key.endswith("key.pem"):
            assert oct(os.stat(key).st_mode & 0o777) == "0o600", key


# --- env: secrets are taken out of the environment; children get a fixed one.

import base64  # noqa: E402
import json  # noqa: E402
import socket  # noqa: E402
import threading  # noqa: E402
import urllib.parse  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402

# What rotatord gives every child (check, exec, systemctl), per README.md
# "Reloads"; JOURNAL_STREAM only because the test sets it for rotatord.
CHILD_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
}


class TokenEndpoint(BaseHTTPRequestHandler):
    """Discovery + token endpoint on 127.0.0.1 that records the client
    secret of each token request (client_secret_basic)."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, obj):
        body = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        base = self.server.base
        if self.path == "/jwks":
            self.reply({"keys": []})
        else:
            self.reply({"issuer": base, "token_endpoint": base + "/token",
                        "jwks_uri": base + "/jwks"})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            _, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            self.server.secrets.append(urllib.parse.unquote_plus(pw))
        self.reply({"access_token": "opaque-token", "token_type": "Bearer",
                    "expires_in": 3600})


def _environ(path):
    with open(path, "rb") as f:
        raw = f.read()
    return raw, dict(e.decode(errors="replace").partition("=")[::2]
                     for e in raw.split(b"\0") if e)


def test_env_secrets_leave_the_environment(rotatord, tmpdir_short,
                                           monkeypatch):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), TokenEndpoint)
    srv.daemon_threads = True
    srv.base = "http://127.0.0.1:%d" % srv.server_address[1]
    srv.secrets = []
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        canary = "env-canary-" + base64.b32encode(os.urandom(15)).decode()
        plain = "plain-canary-" + base64.b32encode(os.urandom(15)).decode()
        sock = os.path.join(tmpdir_short, "notify")
        notify.bind(sock)
        monkeypatch.setenv("ROTATORD_CANARY_SECRET", canary)
        monkeypatch.setenv("ROTATORD_CANARY_PLAIN", plain)
        monkeypatch.delenv("ROTATORD_CANARY_UNSET", raising=False)
        monkeypatch.setenv("NOTIFY_SOCKET", sock)
        monkeypatch.setenv("INVOCATION_ID", "0123456789abcdef0123456789abcdef")
        monkeypatch.setenv("JOURNAL_STREAM", "8:12345")
        monkeypatch.setenv("CREDENTIALS_DIRECTORY", tmpdir_short)
        dumps = {}
        for kind in ("check", "exec"):
            dumps[kind] = os.path.join(tmpdir_short, kind + "-env")
            script = os.path.join(tmpdir_short, kind + ".sh")
            # /proc/$$/environ is exactly what rotatord passed to execve
            # (the shell exports PWD on its own to what it runs); then
            # what /usr/bin/env sees, after a NUL line.
            with open(script, "w") as f:
                f.write("#!/bin/sh\n{ cat /proc/$$/environ; printf '\\000\\n'"
                        "; /usr/bin/env; } > %s.tmp\nmv %s.tmp %s\n"
                        % ((dumps[kind],) * 3))
            os.chmod(script, 0o755)
        r = rotatord("""
[issuer "okta"]
url = %s
client_id = rotatord
client_secret = env:ROTATORD_CANARY_SECRET
auth_method = client_secret_basic
timeout = 3s
[issuer "gone"]
url = %s
client_id = other
client_secret = env:ROTATORD_CANARY_UNSET
auth_method = client_secret_basic
timeout = 3s
[credential "t"]
type = oauth
issuer = okta
scope = a
[credential "u"]
type = oauth
issuer = gone
scope = a
[credential "k"]
type = secret
on_rotate = hook
[reload "hook"]
check = %s
exec = %s
debounce = 100ms
""" % (srv.base, srv.base, os.path.join(tmpdir_short, "check.sh"),
            os.path.join(tmpdir_short, "exec.sh")))
        r.start()

        def children_ok():
            want = dict(CHILD_ENV, JOURNAL_STREAM="8:12345")
            for kind, path in dumps.items():
                wait_for(lambda: os.path.exists(path), what=kind + " dump")
                with open(path, "rb") as f:
                    raw = f.read()
                for bad in (canary, plain, "ROTATORD_CANARY", "NOTIFY_SOCKET",
                            "INVOCATION_ID", "CREDENTIALS_DIRECTORY", sock):
                    assert bad.encode() not in raw, "%s in the %s env" % (
                        bad, kind)
                execve, _, seen = raw.partition(b"\0\0\n")
                got = dict(e.decode().partition("=")[::2]
                           for e in execve.split(b"\0") if e)
                assert got == want, (kind, got)
                assert b"PATH=" + CHILD_ENV["PATH"].encode() in seen

        children_ok()
        wait_for(lambda: canary in srv.secrets, what="token request")
        # The env: secret left the daemon's environment, the initial
        # block included (what /proc/PID/environ shows); others stay.
        raw, env = _environ("/proc/%d/environ" % r.proc.pid)
        assert canary.encode() not in raw
        assert b"ROTATORD_CANARY_SECRET" not in raw
        assert env.get("ROTATORD_CANARY_PLAIN") == plain
        # A variable that is not set is a runtime error at use, as before.
        wait_for(lambda: "environment variable ROTATORD_CANARY_UNSET is not "
                 "set" in r.text(), what="unset variable error")
        assert r.proc.poll() is None

        # SIGHUP with the same config: env:ROTATORD_CANARY_SECRET still
        # resolves (rotatord kept the value), children still get the fixed
        # environment.
        done = r.text().count("configuration reloaded")
        r.signal(signal.SIGHUP)
        wait_for(lambda: r.text().count("configuration reloaded") > done,
                 what="config reload")
        del srv.secrets[:]
        for path in dumps.values():
            os.unlink(path)
        r.signal(signal.SIGUSR1)
        wait_for(lambda: canary in srv.secrets, what="token request after "
                 "SIGHUP")
        assert all(s == canary for s in srv.secrets), srv.secrets
        children_ok()
        raw, _ = _environ("/proc/%d/environ" % r.proc.pid)
        assert canary.encode() not in raw
        text = r.text()
        assert canary not in text and plain not in text
        assert "ROTATORD_CANARY_SECRET is not set" not in text
    finally:
        notify.close()
        srv.shutdown()
        srv.server_close()
