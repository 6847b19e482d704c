# SPDX-License-Identifier: Apache-2.0
"""Self-tests of the test identity provider (tests/idp/server.js) without
rotatord: plain urllib and python3-jwt against the real oidc-provider."""
import base64
import os
import ssl
import urllib.error
import urllib.request

import jwt
import pytest

from idp import (ASSERTION_TYPE, SCOPES, TOKEN_EXCHANGE, TT_ACCESS, new_ec_key,
                 idp_fixture)  # noqa: F401  (idp_fixture registers `idp`)

METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]


def test_discovery(idp):
    p = idp()
    d = p.discovery()
    assert d["issuer"] == p.url
    assert d["token_endpoint"] == p.token_endpoint
    assert d["jwks_uri"] == p.jwks_uri
    assert set(METHODS) <= set(d["token_endpoint_auth_methods_supported"])
    assert {"client_credentials", TOKEN_EXCHANGE} <= set(d["grant_types_supported"])
    jwks = p.jwks(via_endpoint=True)
    assert [k["kid"] for k in jwks["keys"]] == [p.signing_jwk["kid"]]
    assert all("d" not in k for k in jwks["keys"])


@pytest.mark.parametrize("method", METHODS)
def test_client_credentials(idp, method):
    p = idp(ttl=120)
    body = p.token(method, scope="rotatord.read")
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 120
    assert body["scope"] == "rotatord.read"
    jwks = p.jwks(via_endpoint=True)
    claims = p.verify(body["access_token"], jwks=jwks)
    cid = p.clients[method]["client_id"]
    assert claims["client_id"] == cid and claims["sub"] == cid
    assert claims["aud"] == "api://default"
    assert claims["scope"] == "rotatord.read"
    assert claims["exp"] - claims["iat"] == 120
    assert jwt.get_unverified_header(body["access_token"])["kid"] == p.signing_jwk["kid"]
    last = p.log_lines()[-1]
    assert last["auth_method"] == method
    assert last["registered_auth_method"] == method
    assert last["client_id"] == cid and last["ok"] is True
    assert last["grant_type"] == "client_credentials"
    assert last["scope"] == "rotatord.read"


def test_basic_auth_is_form_encoded(idp):
    secret = "s3cr+t/&=:x%41 y"  # RFC 6749 VSCHARs only
    p = idp(client_secrets={"client_secret_basic": secret})
    assert p.token("client_secret_basic")["access_token"]
    # The same secret sent raw (not RFC 6749 2.3.1 encoded) does not match.
    raw = base64.b64encode(("rtd-basic:" + secret).encode()).decode()
    r = p.request("POST", p.token_endpoint,
                  data={"grant_type": "client_credentials", "scope": SCOPES},
                  headers={"Authorization": "Basic " + raw})
    assert r.status == 401 and r.json()["error"] == "invalid_client"


def test_private_key_jwt_rsa_and_key_files(idp):
    p = idp(client_key="rsa")
    c = p.clients["private_key_jwt"]
    assert c["alg"] == "RS256"
    assert os.stat(c["key_file"]).st_mode & 0o777 == 0o600
    with open(c["key_file"]) as f:
        assert f.read().startswith("-----BEGIN PRIVATE KEY-----")
    for m in ("client_secret_basic", "client_secret_post"):
        f = p.clients[m]["secret_file"]
        assert os.stat(f).st_mode & 0o777 == 0o600
        with open(f) as fh:
            assert fh.read() == p.clients[m]["client_secret"]
    p.verify(p.token("private_key_jwt")["access_token"])
    assert p.log_lines()[-1]["auth_method"] == "private_key_jwt"


def test_bad_client_auth(idp):
    p = idp()
    r = p.token_request("client_secret_basic", client_secret="wrong")
    assert r.status == 401, r
    assert r.json()["error"] == "invalid_client"
    assert "Basic" in r.headers.get("WWW-Authenticate", "")
    r = p.token_request("client_secret_post", client_secret="wrong")
    assert r.status == 401 and r.json()["error"] == "invalid_client"
    last = p.log_lines()[-1]
    assert last["ok"] is False and last["error"] == "invalid_client"
    assert last["client_id"] == "rtd-post"
    assert last["auth_method"] == "client_secret_post"
    # A method other than the registered one is refused, as Okta does.
    r = p.token_request("client_secret_post",
                        client_id="rtd-basic",
                        client_secret=p.clients["client_secret_basic"]["client_secret"])
    assert r.status == 401 and r.json()["error"] == "invalid_client"
    assert "client_secret_post used" in p.log_lines()[-1]["error_detail"]
    # private_key_jwt: assertion signed by another key, replayed jti.
    r = p.token_request("private_key_jwt",
                        client_assertion=p.client_assertion(key=new_ec_key()))
    assert r.status == 401 and r.json()["error"] == "invalid_client"
    a = p.client_assertion()
    assert p.token_request("private_key_jwt", client_assertion=a).status == 200
    r = p.token_request("private_key_jwt", client_assertion=a)
    assert r.status == 401 and r.json()["error"] == "invalid_client"
    # aud may be the issuer as well as the token endpoint.
    r = p.token_request("private_key_jwt",
                        client_assertion=p.client_assertion(aud=p.url))
    assert r.status == 200, r


def test_scopes(idp):
    p = idp()
    r = p.token_request("client_secret_basic", scope=None)
    assert r.status == 400 and r.json()["error"] == "invalid_scope"
    r = p.token_request("client_secret_basic", scope="rotatord.admin")
    assert r.status == 400 and r.json()["error"] == "invalid_scope"
    r = p.token_request("client_secret_basic", scope="no.such.scope")
    assert r.status == 400 and r.json()["error"] == "invalid_scope"
    body = p.token("client_secret_basic", scope=SCOPES)
    assert set(body["scope"].split()) == set(SCOPES.split())
    q = idp(require_scope=False)
    body = q.token("client_secret_basic", scope=None)
    assert "scope" not in q.verify(body["access_token"])


def test_token_exchange(idp):
    p = idp()
    r = p.exchange(p.subject_token(sub="alice@example.test"),
                   audience="api://downstream", scope="rotatord.write")
    assert r.status == 200, r
    body = r.json()
    assert body["issued_token_type"] == TT_ACCESS
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == p.ttl
    claims = p.verify(body["access_token"], audience="api://downstream")
    assert claims["sub"] == "alice@example.test"
    assert claims["client_id"] == "rtd-basic"
    assert claims["scope"] == "rotatord.write"
    last = p.log_lines()[-1]
    assert last["grant_type"] == TOKEN_EXCHANGE and last["ok"] is True
    # with private_key_jwt, and with the access_token subject type
    r = p.exchange(p.subject_token(sub="bob"), method="private_key_jwt",
                   subject_token_type=TT_ACCESS)
    assert r.status == 200, r
    assert p.verify(r.json()["access_token"], audience="api://exchanged")["sub"] == "bob"
    # bad subject tokens
    for bad in (p.subject_token(key=new_ec_key()),
                p.subject_token(iss="https://other.test"),
                p.subject_token(ttl=-60)):
        r = p.exchange(bad)
        assert r.status == 400 and r.json()["error"] == "invalid_grant", r
    r = p.exchange(p.subject_token(), requested_token_type="urn:x")
    assert r.status == 400 and r.json()["error"] == "invalid_request"
    r = p.exchange(p.subject_token(), scope="rotatord.admin")
    assert r.status == 400 and r.json()["error"] == "invalid_scope"


def test_rotate(idp):
    p = idp()
    old = p.token()["access_token"]
    old_kid = p.signing_jwk["kid"]
    kid = p.rotate()
    assert kid != old_kid
    jwks = p.jwks(via_endpoint=True)
    assert [k["kid"] for k in jwks["keys"]] == [kid, old_kid]
    new = p.token("private_key_jwt")["access_token"]
    assert jwt.get_unverified_header(new)["kid"] == kid
    p.verify(new, jwks=jwks)
    p.verify(old, jwks=jwks)
    assert p.log_lines()[-1]["kid"] == kid
    # jti replay state and clients survive the restart of the provider
    kid2 = p.rotate(retire=True)
    assert [k["kid"] for k in p.jwks()["keys"]] == [kid2]
    with pytest.raises(AssertionError):
        p.verify(old)
    assert p.token("client_secret_post")["access_token"]


def test_mint(idp):
    p = idp()
    t = p.mint(sub="svc", aud="api://x", scope="a b", ttl=30, extra_claim=1)
    c = p.verify(t, audience="api://x")
    assert c["sub"] == "svc" and c["scope"] == "a b" and c["extra_claim"] == 1
    assert c["exp"] - c["iat"] == 30
    expired = p.mint(ttl=-10)
    with pytest.raises(jwt.ExpiredSignatureError):
        p.verify(expired)
    unknown = p.mint(kid="no-such-kid")
    assert jwt.get_unverified_header(unknown)["kid"] == "no-such-kid"
    old_kid = p.signing_jwk["kid"]
    p.rotate()
    t = p.mint(kid=old_kid)
    assert jwt.get_unverified_header(t)["kid"] == old_kid
    p.verify(t)


def test_stats(idp):
    p = idp()
    p.reset_stats()
    for _ in range(3):
        p.jwks(via_endpoint=True)
    p.jwks()  # the control endpoint does not count
    p.discovery()
    s = p.stats()
    assert p.jwks_fetches() == 3
    assert s["paths"]["/.well-known/openid-configuration"] == 1
    assert s["total"] == 4
    p.reset_stats()
    assert p.jwks_fetches() == 0


def test_down_up(idp):
    p = idp()
    p.down()
    r = p.token_request()
    assert r.status == 503
    assert p.request("GET", p.jwks_uri).status == 503
    assert p.stats()["paths"][p.jwks_path] == 1
    p.down(status=500)
    assert p.request("GET", p.url + "/.well-known/openid-configuration").status == 500
    p.up()
    assert p.token()["access_token"]


def test_https(idp):
    p = idp(tls=True)
    assert p.url.startswith("https://127.0.0.1:")
    d = p.discovery()
    assert d["token_endpoint"] == p.token_endpoint.replace("http://", "https://")
    assert d["token_endpoint"].startswith("https://")
    p.verify(p.token("private_key_jwt")["access_token"])
    # without the test CA the server is not trusted
    ctx = ssl.create_default_context()
    with pytest.raises(urllib.error.URLError) as e:
        urllib.request.urlopen(p.url + "/.well-known/openid-configuration",
                               context=ctx, timeout=5)
    assert isinstance(e.value.reason, ssl.SSLCertVerificationError)


def test_okta_style_paths(idp):
    p = idp(okta_style=True)
    assert p.url.endswith("/oauth2/default")
    d = p.discovery()
    assert d["issuer"] == p.url
    assert d["token_endpoint"] == p.url + "/v1/token"
    assert d["jwks_uri"] == p.url + "/v1/keys"
    body = p.token("private_key_jwt")
    p.verify(body["access_token"], jwks=p.jwks(via_endpoint=True))
    assert p.jwks_fetches() == 1
    assert p.request("GET", "http://127.0.0.1:%d/jwks" % p.port).status == 404


def test_assertion_type_required(idp):
    p = idp()
    r = p.request("POST", p.token_endpoint, data={
        "grant_type": "client_credentials", "scope": SCOPES,
        "client_assertion_type": ASSERTION_TYPE + "x",
        "client_assertion": p.client_assertion()})
    assert r.status == 400 and r.json()["error"] == "invalid_request"
