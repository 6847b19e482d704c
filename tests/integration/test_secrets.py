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
