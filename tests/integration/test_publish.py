# SPDX-License-Identifier: Apache-2.0
"""End to end through the real binary: certificates verify with openssl,
JWTs verify with independent implementations, files have the layout and
modes of README.md (Published files), restarts reuse what is valid."""
import hashlib
import json
import os
import re
import signal
import stat
import subprocess

import jwt as pyjwt
import pytest

from conftest import ROTATORD, wait_for

BASE = """
[ca "local"]
key_type = ec-p256

[signer "wl"]
issuer = https://rotatord.test
alg = %(alg)s

[credential "web"]
type = x509
ca = local
common_name = www.example.test
dns = www.example.test, example.test
ip = 127.0.0.1, ::1
uri = spiffe://example.test/web
usage = server,client
lifetime = 1h
mode = 0600

[credential "svc"]
type = jwt
signer = wl
subject = spiffe://example.test/svc
audience = payments, billing
scope = payments.read
lifetime = 15m

[credential "tickets"]
type = secret
bytes = 80
keep = 3
"""


def openssl(*args, data=None):
    return subprocess.run(["openssl"] + list(args), input=data,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)


def test_version_and_usage():
    p = subprocess.run([ROTATORD, "--version"], stdout=subprocess.PIPE, text=True)
    assert p.returncode == 0 and p.stdout.startswith("rotatord ")
    p = subprocess.run([ROTATORD, "--bogus"], stderr=subprocess.PIPE, text=True)
    assert p.returncode == 64 and "usage" in p.stderr
    p = subprocess.run([ROTATORD, "extra"], stderr=subprocess.PIPE, text=True)
    assert p.returncode == 64


def test_once_publishes_verifiable_credentials(rotatord):
    r = rotatord(BASE % {"alg": "ES256"})
    assert r.run("--check-config").returncode == 0
    p = r.run("--once")
    assert p.returncode == 0, p.stderr

    web = os.path.join(r.out, "web")
    # Layout: ..data -> generation dir, every visible name a link through it.
    data = os.readlink(os.path.join(web, "..data"))
    assert re.fullmatch(r"\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\.\d{9}", data)
    for name in ("cert.pem", "chain.pem", "fullchain.pem", "key.pem",
                 "bundle.pem", "ca.pem"):
        assert os.readlink(os.path.join(web, name)) == "..data/" + name
    assert os.path.isfile(os.path.join(web, "..data", "meta.json"))
    # The certificate chains to ca.pem, its key matches, its SANs are right.
    v = openssl("verify", "-CAfile", r.path("web", "ca.pem"), "-purpose",
                "sslserver", r.path("web", "cert.pem"))
    assert v.returncode == 0 and ": OK" in v.stdout, v.stdout + v.stderr
    v = openssl("verify", "-CAfile", r.path("web", "ca.pem"), "-purpose",
                "sslclient", r.path("web", "cert.pem"))
    assert v.returncode == 0, v.stderr
    pub_cert = openssl("x509", "-noout", "-pubkey", "-in",
                       r.path("web", "cert.pem")).stdout
    pub_key = openssl("pkey", "-pubout", "-in", r.path("web", "key.pem")).stdout
    pub_bundle = openssl("pkey", "-pubout", "-in", r.path("web", "bundle.pem")).stdout
    assert pub_cert and pub_cert == pub_key == pub_bundle
    text = openssl("x509", "-noout", "-text", "-in", r.path("web", "cert.pem")).stdout
    for want in ("DNS:www.example.test", "DNS:example.test",
                 "IP Address:127.0.0.1", "IP Address:0:0:0:0:0:0:0:1",
                 "URI:spiffe://example.test/web", "TLS Web Server Authentication",
                 "TLS Web Client Authentication", "CN = www.example.test"):
        assert want in text, want
    # key.pem is PKCS#8; key files have the credential's mode.
    with open(r.path("web", "key.pem")) as f:
        assert f.read().startswith("-----BEGIN PRIVATE KEY-----")
    assert stat.S_IMODE(os.stat(r.path("web", "key.pem")).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(r.path("web", "bundle.pem")).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(r.path("web", "cert.pem")).st_mode) == 0o644
    # bundle.pem = key + fullchain.
    with open(r.path("web", "bundle.pem")) as f:
        bundle = f.read()
    with open(r.path("web", "fullchain.pem")) as f:
        assert bundle.endswith(f.read())
    # meta.json: generation, times, every file's size, and the sha256 of
    # the public ones only (never of a key).
    m = r.meta("web")
    assert m["name"] == "web" and m["type"] == "x509" and m["generation"] == 1
    assert m["not_after"] - m["issued_at"] == 3600
    assert m["issued_at"] - m["not_before"] == 60          # backdate
    assert m["issued_at"] < m["renew_at"] < m["not_after"]
    for name, ent in m["files"].items():
        with open(r.path("web", name), "rb") as f:
            body = f.read()
        assert ent["size"] == len(body)
        if name in ("key.pem", "bundle.pem"):
            assert "sha256" not in ent, name
        else:
            assert hashlib.sha256(body).hexdigest() == ent["sha256"]
    # Secrets: 0.key of 80 random bytes.
    with open(r.path("tickets", "0.key"), "rb") as f:
        assert len(f.read()) == 80
    assert stat.S_IMODE(os.stat(r.path("tickets", "0.key")).st_mode) == 0o600
    # CA key in state_dir is 0600.
    assert stat.S_IMODE(os.stat(os.path.join(r.state, "ca", "local",
                                             "key.pem")).st_mode) == 0o600


@pytest.mark.parametrize("alg", ["ES256", "ES384", "RS256", "PS256", "EdDSA"])
def test_jwt_verifies_independently(rotatord, alg):
    r = rotatord(BASE % {"alg": alg})
    p = r.run("--once")
    assert p.returncode == 0, p.stderr
    with open(r.path("svc", "token")) as f:
        tok = f.read()
    assert "\n" not in tok
    with open(os.path.join(r.out, "wl", "jwks.json")) as f:
        jwks = json.load(f)
    with open(os.path.join(r.out, "wl", "openid-configuration")) as f:
        disc = json.load(f)
    assert disc["issuer"] == "https://rotatord.test"
    assert disc["id_token_signing_alg_values_supported"] == [alg]
    assert disc["jwks_uri"].startswith("https://rotatord.test/")
    hdr = pyjwt.get_unverified_header(tok)
    assert hdr["alg"] == alg
    keys = [k for k in jwks["keys"] if k["kid"] == hdr["kid"]]
    assert len(keys) == 1 and keys[0]["alg"] == alg and keys[0]["use"] == "sig"
    assert "d" not in keys[0]
    # python3-jwt (pyca/cryptography underneath) verifies the signature.
    key = pyjwt.PyJWK(keys[0]).key
    claims = pyjwt.decode(tok, key=key, algorithms=[alg],
                          audience="payments", issuer="https://rotatord.test")
    assert claims["sub"] == "spiffe://example.test/svc"
    assert claims["aud"] == ["payments", "billing"]
    assert claims["scope"] == "payments.read"
    assert claims["exp"] - claims["iat"] == 15 * 60 + 60
    # latchset jose (jansson + OpenSSL, another implementation) agrees;
    # Debian 12's jose 11 has no EdDSA.
    if alg == "EdDSA":
        return
    jwk_path = os.path.join(r.dir, "pub.jwk")
    with open(jwk_path, "w") as f:
        json.dump(keys[0], f)
    v = subprocess.run(["jose", "jws", "ver", "-i", r.path("svc", "token"),
                        "-k", jwk_path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    assert v.returncode == 0, v.stderr
    # A tampered token fails in both.
    bad = tok[:-4] + ("AAAA" if not tok.endswith("AAAA") else "BBBB")
    with pytest.raises(pyjwt.InvalidSignatureError):
        pyjwt.decode(bad, key=key, algorithms=[alg], audience="payments")


@pytest.mark.parametrize("old,new", [("ES256", "EdDSA"), ("RS256", "PS256")])
def test_signer_alg_change_keeps_old_tokens_verifiable(rotatord, old, new):
    """A signer's alg changed in the config: a new key signs, and the old
    key stays in jwks.json with its own alg, so that the tokens it signed
    verify until they expire (also after a further restart)."""
    r = rotatord(BASE % {"alg": old})
    assert r.run("--once").returncode == 0
    with open(r.path("svc", "token")) as f:
        old_tok = f.read()
    old_kid = pyjwt.get_unverified_header(old_tok)["kid"]
    r.write_config(BASE % {"alg": new})
    for _ in range(2):
        p = r.run("--once")
        assert p.returncode == 0, p.stderr
        with open(os.path.join(r.out, "wl", "jwks.json")) as f:
            keys = {k["kid"]: k for k in json.load(f)["keys"]}
        assert old_kid in keys and keys[old_kid]["alg"] == old, keys
        pyjwt.decode(old_tok, key=pyjwt.PyJWK(keys[old_kid]).key,
                     algorithms=[old], audience="payments")
        with open(r.path("svc", "token")) as f:
            tok = f.read()
        hdr = pyjwt.get_unverified_header(tok)
        assert hdr["alg"] == new and hdr["kid"] != old_kid
        pyjwt.decode(tok, key=pyjwt.PyJWK(keys[hdr["kid"]]).key,
                     algorithms=[new], audience="payments")


def test_restart_reuses_valid_credentials(rotatord):
    r = rotatord(BASE % {"alg": "ES256"})
    r.start()
    m1 = {c: r.meta(c) for c in ("web", "svc", "tickets")}
    serial1 = openssl("x509", "-noout", "-serial", "-in",
                      r.path("web", "cert.pem")).stdout
    with open(os.path.join(r.out, "wl", "jwks.json")) as f:
        jwks1 = f.read()
    assert r.stop() == 0          # SIGTERM: clean exit, files stay
    assert os.path.exists(r.path("web", "bundle.pem"))
    r.start()
    for c in ("web", "svc", "tickets"):
        assert r.meta(c) == m1[c], c
    assert openssl("x509", "-noout", "-serial", "-in",
                   r.path("web", "cert.pem")).stdout == serial1
    with open(os.path.join(r.out, "wl", "jwks.json")) as f:
        assert f.read() == jwks1
    assert "reusing generation 1" in r.text()
    # A changed configuration re-mints what it shapes, and only that.
    r.stop()
    r.write_config((BASE % {"alg": "ES256"}).replace(
        "dns = www.example.test, example.test", "dns = www.example.test"))
    r.start()
    assert r.meta("web")["generation"] == 2
    assert r.meta("svc") == m1["svc"]


def test_sigusr1_rotates_and_secrets_keep_previous(rotatord):
    r = rotatord(BASE % {"alg": "ES256"})
    r.start()
    keys = []
    with open(r.path("tickets", "0.key"), "rb") as f:
        keys.append(f.read())
    for gen in (2, 3, 4):
        r.signal(signal.SIGUSR1)
        wait_for(lambda: r.meta("tickets")["generation"] == gen,
                 what="generation %d" % gen)
        with open(r.path("tickets", "0.key"), "rb") as f:
            keys.append(f.read())
    # keep = 3: the newest key encrypts, the two before it stay accepted.
    with open(r.path("tickets", "1.key"), "rb") as f:
        assert f.read() == keys[-2]
    with open(r.path("tickets", "2.key"), "rb") as f:
        assert f.read() == keys[-3]
    assert not os.path.exists(r.path("tickets", "3.key"))
    assert len(set(keys)) == 4
    # Old generations are kept for a grace period, not forever.
    gens = [e for e in os.listdir(os.path.join(r.out, "web"))
            if e.startswith("..2")]
    assert 1 < len(gens) <= 3
