# SPDX-License-Identifier: Apache-2.0
"""What a restart believes comes from state_dir, not from output_dir.

A generation directory belongs to the credential's owner, who may rewrite
it; meta.json is world-readable.  So a restart reuses a published
generation only when its state record (state_dir/creds/NAME.json, 0600,
owned by rotatord) is trusted and every published file still matches it;
otherwise it mints anew and says why in one log line.  meta.json carries
no digest of anything secret.  Symlinks and directories planted by another
user are refused without being followed."""
import glob
import hashlib
import json
import os
import signal
import stat
import subprocess

from conftest import wait_for

NOBODY = 65534

CONF = """
[ca "local"]
key_type = ec-p256

[signer "wl"]
issuer = https://rotatord.test

[credential "web"]
type = x509
ca = local
dns = web.test
lifetime = 1h
owner = %(uid)d
on_rotate = hook

[credential "other"]
type = x509
ca = local
dns = other.test
lifetime = 1h

[credential "svc"]
type = jwt
signer = wl
subject = svc
lifetime = 15m
on_rotate = hook

[credential "k"]
type = secret
bytes = 16
keep = 3
lifetime = 1h
on_rotate = hook

[reload "hook"]
exec = %(hook)s
debounce = 100ms
"""

HOOK = """#!/bin/sh
echo reload >> %s
"""

CREDS = ("web", "other", "svc", "k")
SECRET = ("key.pem", "bundle.pem", "token", "token.json")
PUBLIC = ("cert.pem", "chain.pem", "fullchain.pem", "ca.pem", "jwks.json",
          "openid-configuration")


def make(rotatord, tmp, uid=NOBODY):
    log = os.path.join(tmp, "reloads.log")
    hook = os.path.join(tmp, "hook.sh")
    with open(hook, "w") as f:
        f.write(HOOK % log)
    os.chmod(hook, 0o755)
    r = rotatord(CONF % {"uid": uid, "hook": hook})
    r.reloads = lambda: open(log).read().count("reload") \
        if os.path.exists(log) else 0
    return r


def gen_dir(r, cred):
    return os.path.join(r.out, cred, os.readlink(os.path.join(r.out, cred,
                                                              "..data")))


def record(r, cred):
    return os.path.join(r.state, "creds", cred + ".json")


def first_run(r):
    r.start()
    wait_for(lambda: r.reloads() >= 1, what="first reload")
    gens = {c: r.meta(c)["generation"] for c in CREDS}
    assert r.stop() == 0
    return gens


def restart(r):
    before = r.reloads()
    mark = len(r.text())
    r.start()
    return before, r.text()[mark:]


def reused(text, cred):
    return ("credential %s: reusing generation" % cred) in text


def test_untampered_restart_reuses_without_reload(rotatord, tmpdir_short):
    r = make(rotatord, tmpdir_short)
    gens = first_run(r)
    metas = {c: r.meta(c) for c in CREDS}
    before, text = restart(r)
    for c in CREDS:
        assert reused(text, c), text
        assert r.meta(c) == metas[c]
    assert "published generation" not in text
    assert "minting a new one" not in text
    r.signal(signal.SIGUSR1)           # a rotation reloads: the hook works
    wait_for(lambda: r.reloads() > before, what="reload after SIGUSR1")
    assert r.meta("web")["generation"] == gens["web"] + 1


def test_state_records_private_and_complete(rotatord, tmpdir_short):
    r = make(rotatord, tmpdir_short)
    first_run(r)
    st = os.stat(os.path.join(r.state, "creds"))
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.geteuid()
    for c in CREDS + ("wl",):
        p = record(r, c)
        st = os.lstat(p)
        assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
        assert st.st_uid == os.geteuid()
        with open(p) as f:
            rec = json.load(f)
        m = r.meta(c)
        assert rec["dir"] == c and rec["generation"] == m["generation"]
        assert rec["gen_dir"] == os.readlink(os.path.join(r.out, c, "..data"))
        for k in ("issued_at", "not_before", "not_after", "renew_at"):
            assert rec[k] == m[k], k
        # Every file's digest, meta.json's included.
        assert set(rec["files"]) == set(m["files"]) | {"meta.json"}
        for name, ent in rec["files"].items():
            with open(os.path.join(gen_dir(r, c), name), "rb") as f:
                assert hashlib.sha256(f.read()).hexdigest() == ent["sha256"]
    assert glob.glob(os.path.join(r.state, "creds", "*.tmp")) == []


def test_meta_json_has_no_secret_digest(rotatord, tmpdir_short):
    r = make(rotatord, tmpdir_short)
    first_run(r)
    seen = set()
    for c in CREDS + ("wl",):
        g = gen_dir(r, c)
        with open(os.path.join(g, "meta.json")) as f:
            text = f.read()
        m = json.loads(text)
        assert stat.S_IMODE(os.stat(os.path.join(g, "meta.json")).st_mode) \
            == 0o644
        assert "spec" not in m
        for name, ent in m["files"].items():
            with open(os.path.join(g, name), "rb") as f:
                body = f.read()
            assert ent["size"] == len(body), (c, name)
            digest = hashlib.sha256(body).hexdigest()
            if name in SECRET or name.endswith(".key"):
                assert "sha256" not in ent, (c, name)
                assert digest not in text, (c, name)
            else:
                assert name in PUBLIC, name
                assert ent["sha256"] == digest, (c, name)
            seen.add(name)
    assert {"key.pem", "bundle.pem", "token", "token.json", "0.key",
            "cert.pem", "jwks.json"} <= seen


def test_replaced_certificate_is_reminted(rotatord, tmpdir_short):
    r = make(rotatord, tmpdir_short)
    gens = first_run(r)
    # The owner (here: root acting for it) swaps in another valid pair.
    g = gen_dir(r, "web")
    for name in ("cert.pem", "key.pem", "bundle.pem", "fullchain.pem"):
        with open(os.path.join(gen_dir(r, "other"), name), "rb") as f:
            body = f.read()
        p = os.path.join(g, name)
        st = os.stat(p)
        os.unlink(p)
        with open(p, "wb") as f:
            f.write(body)
        os.chown(p, st.st_uid, st.st_gid)
        os.chmod(p, stat.S_IMODE(st.st_mode))
    # ... and makes meta.json agree with it.
    m = r.meta("web")
    for name in m["files"]:
        with open(os.path.join(g, name), "rb") as f:
            body = f.read()
        m["files"][name]["size"] = len(body)
        if "sha256" in m["files"][name]:
            m["files"][name]["sha256"] = hashlib.sha256(body).hexdigest()
    with open(os.path.join(g, "meta.json"), "w") as f:
        json.dump(m, f)
    before, text = restart(r)
    assert not reused(text, "web"), text
    assert "credential web: not reusing" in text and "differs" in text
    assert r.meta("web")["generation"] > gens["web"]
    wait_for(lambda: r.reloads() > before, what="reload after re-mint")
    out = subprocess.run(["openssl", "x509", "-noout", "-ext",
                          "subjectAltName", "-in", r.path("web", "cert.pem")],
                         stdout=subprocess.PIPE, text=True).stdout
    assert "web.test" in out
    # The others were not touched and are reused.
    for c in ("other", "svc", "k"):
        assert reused(text, c), c


def test_meta_not_after_in_future_is_reminted(rotatord, tmpdir_short):
    r = make(rotatord, tmpdir_short)
    gens = first_run(r)
    p = os.path.join(gen_dir(r, "svc"), "meta.json")
    m = r.meta("svc")
    m["not_after"] += 10 * 365 * 86400
    m["renew_at"] += 10 * 365 * 86400
    with open(p, "w") as f:
        json.dump(m, f)
    _, text = restart(r)
    assert not reused(text, "svc"), text
    assert "credential svc: not reusing" in text
    m2 = r.meta("svc")
    assert m2["generation"] > gens["svc"]
    assert m2["not_after"] - m2["issued_at"] <= 15 * 60 + 120


def test_tampered_secret_key_is_not_kept(rotatord, tmpdir_short):
    r = make(rotatord, tmpdir_short)
    gens = first_run(r)
    planted = b"A" * 16                  # same size as the real key
    p = os.path.join(gen_dir(r, "k"), "0.key")
    with open(p, "r+b") as f:
        f.write(planted)
    _, text = restart(r)
    assert not reused(text, "k"), text
    assert r.meta("k")["generation"] > gens["k"]
    # The planted key is neither reused nor carried as a previous key.
    for kf in glob.glob(os.path.join(r.out, "k", "*.key")):
        with open(kf, "rb") as f:
            assert f.read() != planted, kf


def test_untrusted_state_record_reminted(rotatord, tmpdir_short):
    r = make(rotatord, tmpdir_short)
    gens = first_run(r)
    # mode 0644
    os.chmod(record(r, "web"), 0o644)
    # another owner
    os.chown(record(r, "svc"), NOBODY, NOBODY)
    # a symlink to an untouched copy of the record
    copy = os.path.join(r.dir, "k.json")
    os.rename(record(r, "k"), copy)
    os.symlink(copy, record(r, "k"))
    _, text = restart(r)
    lines = [l for l in text.splitlines() if "not reusing" in l]
    assert any("web" in l and "mode 0644" in l for l in lines), text
    assert any("svc" in l and "owned by uid %d" % NOBODY in l
               for l in lines), text
    assert any("credential k:" in l and "symlink" in l for l in lines), text
    assert len(lines) == 3, lines            # one line each
    assert reused(text, "other")
    for c in ("web", "svc", "k"):
        assert not reused(text, c), c
        assert r.meta(c)["generation"] > gens[c], c
        st = os.lstat(record(r, c))
        assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
        assert st.st_uid == os.geteuid()
    # The symlink was replaced, not followed.
    with open(copy) as f:
        assert json.load(f)["generation"] == gens["k"]


def test_generation_numbers_continue_from_record(rotatord, tmpdir_short):
    r = make(rotatord, tmpdir_short)
    first_run(r)
    r.start()
    for want in (2, 3):
        r.signal(signal.SIGUSR1)
        wait_for(lambda: r.meta("other")["generation"] == want,
                 what="generation %d" % want)
    assert r.stop() == 0
    gens = {"other": 3}
    # A planted meta.json cannot lower (or decide) the number.
    p = os.path.join(gen_dir(r, "other"), "meta.json")
    m = r.meta("other")
    m["generation"] = 1
    m["not_after"] += 3600
    with open(p, "w") as f:
        json.dump(m, f)
    with open(record(r, "other")) as f:
        rec = json.load(f)
    restart(r)
    assert r.meta("other")["generation"] == rec["generation"] + 1
    assert r.meta("other")["generation"] > gens["other"]


def test_generation_dir_of_another_owner_reminted(rotatord, tmpdir_short):
    r = make(rotatord, tmpdir_short, uid=0)
    gens = first_run(r)
    g = gen_dir(r, "other")
    os.chown(g, NOBODY, NOBODY)
    _, text = restart(r)
    assert not reused(text, "other")
    assert ("%d:%d" % (NOBODY, NOBODY)) in text
    assert r.meta("other")["generation"] > gens["other"]


def test_planted_symlinks_not_followed(rotatord, tmpdir_short):
    r = make(rotatord, tmpdir_short)
    first_run(r)
    victim = os.path.join(tmpdir_short, "victim")
    with open(victim, "w") as f:
        f.write("precious\n")
    os.chmod(victim, 0o600)
    attacker = os.path.join(tmpdir_short, "attacker")
    os.mkdir(attacker)
    os.chown(attacker, NOBODY, NOBODY)
    # output_dir/NAME -> a directory of the attacker's
    os.rename(os.path.join(r.out, "other"), os.path.join(r.dir, "other.old"))
    os.symlink(attacker, os.path.join(r.out, "other"))
    # ..data_tmp -> a file outside (left as by a crash)
    os.symlink(victim, os.path.join(r.out, "svc", "..data_tmp"))
    # a generation file replaced by a symlink to the victim
    g = gen_dir(r, "k")
    os.unlink(os.path.join(g, "0.key"))
    os.symlink(victim, os.path.join(g, "0.key"))
    _, text = restart(r)
    assert os.listdir(attacker) == []
    with open(victim) as f:
        assert f.read() == "precious\n"
    assert stat.S_IMODE(os.stat(victim).st_mode) == 0o600
    assert not os.path.lexists(os.path.join(r.out, "svc", "..data_tmp"))
    assert reused(text, "svc")
    assert not reused(text, "k") and "0.key is a symlink" in text
    for kf in glob.glob(os.path.join(r.out, "k", "*.key")):
        with open(kf, "rb") as f:
            assert f.read() != b"precious\n"
        assert os.path.realpath(kf).startswith(os.path.realpath(r.out))
    # output_dir/other stays refused (and untouched) until an operator acts.
    assert os.path.islink(os.path.join(r.out, "other"))
    assert "credential other: not reusing" in text
    assert "symlink rotatord did not make" in text


def test_foreign_credential_dir_refused(rotatord, tmpdir_short):
    r = make(rotatord, tmpdir_short)
    first_run(r)
    d = os.path.join(r.out, "other")
    os.chown(d, NOBODY, NOBODY)
    listing = sorted(os.listdir(d))
    target = os.readlink(os.path.join(d, "..data"))
    _, text = restart(r)
    assert "other: owned by uid %d" % NOBODY in text
    assert not reused(text, "other")
    # Nothing was written into it, nothing repaired or pruned there.
    assert sorted(os.listdir(d)) == listing
    assert os.readlink(os.path.join(d, "..data")) == target
    assert os.stat(d).st_uid == NOBODY


def test_state_dir_writable_by_others_refused(rotatord, tmpdir_short):
    r = make(rotatord, tmpdir_short)
    first_run(r)
    os.chmod(r.state, 0o777)
    p = r.run("--once")
    assert p.returncode != 0
    assert "not be writable by group or others" in p.stderr + r.text()
    os.chmod(r.state, 0o700)
    os.chown(os.path.join(r.state, "creds"), NOBODY, NOBODY)
    p = r.run("--once")
    assert p.returncode != 0
    assert "does not belong to rotatord" in p.stderr + r.text()
