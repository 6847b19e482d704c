# SPDX-License-Identifier: Apache-2.0
"""Crash safety: rotatord is SIGKILLed at random moments while it publishes
as fast as it can.  After every kill, each credential directory shows one
complete generation whose files match meta.json and whose key matches its
certificate; the next start leaves no temporary files behind."""
import hashlib
import json
import os
import random
import signal
import subprocess
import time

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from conftest import ROTATORD, fault_scale, wait_for

CONF = """
[ca "local"]

[signer "wl"]
issuer = https://rotatord.test

[credential "a"]
type = x509
ca = local
dns = a.test
mode = 0640

[credential "b"]
type = x509
ca = local
dns = b.test

[credential "t"]
type = jwt
signer = wl
subject = s

[credential "k"]
type = secret
bytes = 48
keep = 3
"""

CREDS = ("a", "b", "t", "k")


def check_dir(d):
    """Asserts the generation invariant; returns the generation number."""
    target = os.readlink(os.path.join(d, "..data"))
    gen = os.path.join(d, target)
    with open(os.path.join(gen, "meta.json")) as f:
        meta = json.load(f)
    for name, ent in meta["files"].items():
        with open(os.path.join(gen, name), "rb") as f:
            body = f.read()
        # Only public files have their digest in meta.json.
        assert len(body) == ent["size"], (d, name)
        if "sha256" in ent:
            assert hashlib.sha256(body).hexdigest() == ent["sha256"], (d, name)
        # A visible link, where present, reads the same complete file.
        vis = os.path.join(d, name)
        if os.path.lexists(vis):
            assert os.readlink(vis) == "..data/" + name
    if "bundle.pem" in meta["files"]:
        with open(os.path.join(gen, "bundle.pem"), "rb") as f:
            pem = f.read()
        key = serialization.load_pem_private_key(pem, password=None)
        cert = x509.load_pem_x509_certificate(pem)
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        enc = serialization.Encoding.DER
        assert key.public_key().public_bytes(enc, spki) == \
            cert.public_key().public_bytes(enc, spki)
    return meta["generation"]


def temp_entries(root):
    bad = []
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            if n.endswith(".tmp") or n == "..data_tmp":
                bad.append(os.path.join(dirpath, n))
    return bad


def test_sigkill_during_rapid_publishes(rotatord, fault_row):
    r = rotatord(CONF)
    rng = random.Random(int(os.environ.get("CRASH_SEED", "0")) or None)
    want_pub, want_kills = fault_scale((200, 40), (1000, 200))
    publishes = kills = 0
    last = {}
    torn = []
    while publishes < want_pub or kills < want_kills:
        r.start()
        gens0 = {c: r.meta(c)["generation"] for c in CREDS}
        for _ in range(rng.randint(1, 4)):
            r.signal(signal.SIGUSR1)
            time.sleep(rng.uniform(0, 0.004))
        time.sleep(rng.uniform(0, 0.03))
        r.stop(signal.SIGKILL)
        kills += 1
        for c in CREDS:
            try:
                g = check_dir(os.path.join(r.out, c))
            except (AssertionError, OSError, ValueError) as e:
                torn.append("%s after kill %d: %r" % (c, kills, e))
                continue
            if g < gens0[c]:
                torn.append("%s went back from %d to %d" % (c, gens0[c], g))
            publishes += max(g - gens0[c], 0)
            last[c] = g
        if torn or kills >= 10 * want_kills:
            break
    # The next start repairs half-made generations and temporary names,
    # and mints nothing: every credential is fresh.
    r.start()
    gens = {c: check_dir(os.path.join(r.out, c)) for c in CREDS}
    missing = [(c, name) for c in CREDS for name in r.meta(c)["files"]
               if not os.path.exists(r.path(c, name))]
    assert r.stop() == 0
    temps = temp_entries(r.out) + temp_entries(r.state)
    reminted = [c for c in CREDS if gens[c] != last.get(c)]
    fault_row("SIGKILL while publishing", "%d publishes" % publishes,
              "%d kills" % kills, "%d kills" % (kills - len(torn)),
              "%d torn, %d missing, %d temp files, %d re-minted" % (
                  len(torn), len(missing), len(temps), len(reminted)))
    print("kills=%d publishes=%d" % (kills, publishes))
    assert torn == [], torn[:5]
    assert publishes >= want_pub, "publishes too slow: %d in %d kills" % (
        publishes, kills)
    assert missing == []
    assert temps == []
    assert reminted == [], (gens, last)
