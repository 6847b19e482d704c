# SPDX-License-Identifier: Apache-2.0
"""A real OIDC provider (tests/idp/server.js, the `oidc-provider` npm
package) standing in for Okta in the integration tests.

    from idp import TestIdP, idp_fixture   # the fixture is named `idp`

    def test_x(idp):
        p = idp()                         # started, stopped at teardown
        p.token("private_key_jwt", scope="rotatord.read")
        p.rotate(); p.down(); p.up(); p.stats(); p.log_lines()

Everything runs on 127.0.0.1 on free ports in a temporary directory; keys,
client secrets and (with tls=True) a test CA are generated here."""
import base64
import datetime
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
IDP_DIR = os.path.join(ROOT, "tests", "idp")
SERVER_JS = os.path.join(IDP_DIR, "server.js")

SCOPES = "rotatord.read rotatord.write"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
TT_ACCESS = "urn:ietf:params:oauth:token-type:access_token"
TT_JWT = "urn:ietf:params:oauth:token-type:jwt"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
OKTA_ROUTES = {"token": "/v1/token", "jwks": "/v1/keys",
               "introspection": "/v1/introspect", "revocation": "/v1/revoke",
               "authorization": "/v1/authorize", "userinfo": "/v1/userinfo"}


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_b64u(n, size=None):
    size = size or (n.bit_length() + 7) // 8
    return _b64u(n.to_bytes(size, "big"))


def public_jwk(key, kid=None):
    """JWK (dict) of the public half of an EC P-256 or RSA key."""
    pub = key.public_key() if hasattr(key, "public_key") else key
    if isinstance(pub, ec.EllipticCurvePublicKey):
        n = pub.public_numbers()
        jwk = {"kty": "EC", "crv": "P-256", "x": _int_b64u(n.x, 32),
               "y": _int_b64u(n.y, 32), "alg": "ES256"}
    else:
        n = pub.public_numbers()
        jwk = {"kty": "RSA", "n": _int_b64u(n.n), "e": _int_b64u(n.e),
               "alg": "RS256"}
    jwk["use"] = "sig"
    jwk["kid"] = kid or "k-" + secrets.token_hex(6)
    return jwk


def private_jwk(key, kid=None):
    """JWK (dict) of an EC P-256 private key."""
    jwk = public_jwk(key, kid)
    jwk["d"] = _int_b64u(key.private_numbers().private_value, 32)
    return jwk


def new_ec_key():
    return ec.generate_private_key(ec.SECP256R1())


def pem_private(key):
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def write_private(path, data):
    """Write secret bytes with mode 0600 (rotatord refuses looser keys)."""
    if os.path.exists(path):
        os.unlink(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def jwk_to_key(jwk):
    return jwt.PyJWK(jwk).key


def make_tls(dirname, names=("localhost",), ips=("127.0.0.1",)):
    """A test CA and a server certificate (SAN IP:127.0.0.1, DNS:localhost)
    signed by it.  Returns (ca_pem, cert_pem, key_pem) paths."""
    now = datetime.datetime.utcnow() - datetime.timedelta(minutes=5)
    ca_key = new_ec_key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                            "rotatord test IdP CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                       False, False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = new_ec_key()
    san = [x509.DNSName(n) for n in names] + \
          [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = tuple(os.path.join(dirname, n) for n in ("ca.pem", "server.pem", "server-key.pem"))
    with open(paths[0], "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(paths[1], "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    write_private(paths[2], pem_private(key))
    return paths


class HTTPResult:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<HTTP %d %r>" % (self.status, self.body[:300])


class TestIdP:
    """One oidc-provider process.  Attributes worth knowing:
    url (the issuer), token_endpoint, jwks_uri, ca_file (tls only),
    clients: {"client_secret_basic"|"client_secret_post"|"private_key_jwt":
              {"client_id", "client_secret"?, "secret_file"? (0600, no
               newline), "key_file"? (PKCS#8 PEM, 0600), "kid"?, "alg"?}},
    subject_issuer, dir, log, config (the JSON given to server.js)."""
    __test__ = False  # not a pytest test class

    def __init__(self, tmp, tls=False, ttl=300, require_scope=True,
                 strict_auth_method=True, client_key="ec", okta_style=False,
                 scopes=SCOPES, extra_clients=(), client_secrets=None, extra=None):
        os.makedirs(tmp, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix="idp-", dir=tmp)
        self.port = _free_port()
        self.tls = tls
        scheme = "https" if tls else "http"
        path = "/oauth2/default" if okta_style else ""
        self.url = "%s://127.0.0.1:%d%s" % (scheme, self.port, path)
        routes = OKTA_ROUTES if okta_style else {}
        self.token_endpoint = self.url + routes.get("token", "/token")
        self.jwks_uri = self.url + routes.get("jwks", "/jwks")
        self.jwks_path = urllib.parse.urlsplit(self.jwks_uri).path
        self.log = os.path.join(self.dir, "requests.jsonl")
        self.out = os.path.join(self.dir, "idp.out")
        self.proc = None
        self.ttl = ttl

        # Provider signing key (EC P-256), kept so tests can check kids.
        self.signing_jwk = private_jwk(new_ec_key(), kid="idp-" + secrets.token_hex(4))
        self.signing_jwks_file = os.path.join(self.dir, "signing-jwks.json")
        write_private(self.signing_jwks_file,
                      json.dumps({"keys": [self.signing_jwk]}).encode())

        # private_key_jwt client key: PEM (0600) for rotatord, public JWK here.
        ck = new_ec_key() if client_key == "ec" else \
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.client_key = ck
        self.client_key_file = os.path.join(self.dir, "client-key.pem")
        write_private(self.client_key_file, pem_private(ck))
        cjwk = public_jwk(ck, kid="client-" + secrets.token_hex(4))

        # Token exchange: subject tokens come from another issuer's key.
        self.subject_key = new_ec_key()
        self.subject_kid = "subj-" + secrets.token_hex(4)
        self.subject_issuer = "https://subject-issuer.rotatord.test"
        subject_jwks = os.path.join(self.dir, "subject-jwks.json")
        with open(subject_jwks, "w") as f:
            json.dump({"keys": [public_jwk(self.subject_key, self.subject_kid)]}, f)

        sec = client_secrets or {}
        self.clients = {
            "client_secret_basic": {
                "client_id": "rtd-basic",
                "client_secret": sec.get("client_secret_basic", secrets.token_urlsafe(24))},
            "client_secret_post": {
                "client_id": "rtd-post",
                "client_secret": sec.get("client_secret_post", secrets.token_urlsafe(24))},
            "private_key_jwt": {
                "client_id": "rtd-pkjwt", "key_file": self.client_key_file,
                "kid": cjwk["kid"], "alg": cjwk["alg"], "jwk": cjwk},
        }
        for method in ("client_secret_basic", "client_secret_post"):
            c = self.clients[method]
            c["secret_file"] = os.path.join(self.dir, method + ".secret")
            write_private(c["secret_file"], c["client_secret"].encode())
        clients = []
        for method, c in self.clients.items():
            m = {"client_id": c["client_id"], "token_endpoint_auth_method": method,
                 "scope": scopes}
            if "client_secret" in c:
                m["client_secret"] = c["client_secret"]
            else:
                m["jwks"] = {"keys": [cjwk]}
            clients.append(m)
        clients.extend(extra_clients)

        self.ca_file = None
        tls_cfg = None
        if tls:
            self.ca_file, cert, key = make_tls(self.dir)
            tls_cfg = {"cert": cert, "key": key}

        self.config = {
            "issuer": self.url, "port": self.port, "host": "127.0.0.1",
            "access_token_ttl": ttl, "clients": clients,
            "jwks": self.signing_jwks_file, "log": self.log,
            "require_scope": require_scope,
            "strict_auth_method": strict_auth_method,
            "scopes": (scopes + " rotatord.admin").split(),
            "subject_jwks": subject_jwks, "subject_issuer": self.subject_issuer,
        }
        if tls_cfg:
            self.config["tls"] = tls_cfg
        if routes:
            self.config["routes"] = routes
        self.config.update(extra or {})
        self.config_file = os.path.join(self.dir, "idp.json")

    # -- process -----------------------------------------------------------
    def start(self, timeout=20):
        node = os.environ.get("IDP_NODE") or shutil.which("node")
        if not node:
            raise RuntimeError("node not found: run packaging/install-deps.sh")
        if not os.path.isdir(os.path.join(IDP_DIR, "node_modules", "oidc-provider")):
            raise RuntimeError("tests/idp/node_modules missing: run "
                               "packaging/install-deps.sh (npm ci --prefix tests/idp)")
        with open(self.config_file, "w") as f:
            json.dump(self.config, f, indent=1)
        self.outf = open(self.out, "ab")
        self.proc = subprocess.Popen([node, SERVER_JS, self.config_file],
                                     stdout=self.outf, stderr=self.outf,
                                     stdin=subprocess.DEVNULL, cwd=IDP_DIR)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if "listening " in self.output():
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        out = self.output()
        self.stop()
        raise RuntimeError("test IdP did not start:\n" + out)

    def output(self):
        try:
            with open(self.out, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if getattr(self, "outf", None):
            self.outf.close()
            self.outf = None

    # -- HTTP --------------------------------------------------------------
    def ssl_context(self):
        ctx = ssl.create_default_context(cafile=self.ca_file) if self.ca_file \
            else ssl.create_default_context()
        return ctx

    def request(self, method, url, data=None, headers=None, timeout=10):
        """Plain urllib request, no proxies; returns HTTPResult (never
        raises on HTTP error statuses)."""
        if not url.startswith("http"):
            url = self.url + url
        hdrs = dict(headers or {})
        if isinstance(data, dict):
            data = urllib.parse.urlencode(data).encode()
            hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
        elif isinstance(data, str):
            data = data.encode()
        handlers = [urllib.request.ProxyHandler({})]
        if url.startswith("https"):
            handlers.append(urllib.request.HTTPSHandler(context=self.ssl_context()))
        opener = urllib.request.build_opener(*handlers)
        req = urllib.request.Request(url, data=data, headers=hdrs, method=method)
        try:
            with opener.open(req, timeout=timeout) as r:
                return HTTPResult(r.status, dict(r.headers), r.read().decode())
        except urllib.error.HTTPError as e:
            return HTTPResult(e.code, dict(e.headers), e.read().decode())

    def _control(self, method, name, body=None):
        root = self.url[:len(self.url) - len(urllib.parse.urlsplit(self.url).path)]
        data = json.dumps(body or {}) if method == "POST" else None
        r = self.request(method, root + "/__control/" + name, data=data,
                         headers={"Content-Type": "application/json"})
        assert r.status == 200, r
        return r.json()

    def discovery(self):
        r = self.request("GET", self.url + "/.well-known/openid-configuration")
        assert r.status == 200, r
        return r.json()

    # -- control -----------------------------------------------------------
    def jwks(self, via_endpoint=False):
        """The provider's public JWKS.  By default read through the control
        endpoint so that it does not count as a JWKS fetch in stats()."""
        if via_endpoint:
            r = self.request("GET", self.jwks_uri)
            assert r.status == 200, r
            return r.json()
        keys = self._control("GET", "jwks_private")["keys"]
        return {"keys": [{k: v for k, v in key.items() if k != "d"} for key in keys]}

    def rotate(self, jwk=None, retire=False):
        """New ES256 signing key first in the JWKS (old ones kept unless
        retire=True).  jwk: a private EC JWK to use instead.  Returns kid."""
        body = {"retire": retire}
        if jwk is not None:
            body["jwk"] = jwk
        return self._control("POST", "rotate", body)["kid"]

    def mint(self, sub="test-subject", aud="api://default", scope=SCOPES,
             ttl=None, kid=None, client_id=None, header=None, **claims):
        """A JWT access token signed by the current key (or the key `kid`;
        an unknown kid is put in the header while signing with the current
        key).  ttl may be negative for an expired token.  Returns the JWT."""
        body = {"sub": sub, "aud": aud, "scope": scope, "claims": claims}
        for k, v in (("ttl", ttl), ("kid", kid), ("client_id", client_id),
                     ("header", header)):
            if v is not None:
                body[k] = v
        return self._control("POST", "mint", body)["access_token"]

    def stats(self):
        return self._control("GET", "stats")

    def jwks_fetches(self):
        return self.stats()["paths"].get(self.jwks_path, 0)

    def reset_stats(self):
        return self._control("POST", "reset_stats")

    def down(self, status=503):
        """Everything but /__control/ answers `status` until up()."""
        return self._control("POST", "down", {"status": status})

    def up(self):
        return self._control("POST", "up")

    def log_lines(self):
        """One dict per token request: grant_type, client_id, auth_method
        (as used on the wire), registered_auth_method, scope, status, ok,
        error, error_description, error_detail, kid, granted_scope."""
        try:
            with open(self.log) as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    # -- a reference client ------------------------------------------------
    def client_assertion(self, client_id=None, aud=None, jti=None, key=None,
                         kid=None, ttl=60):
        c = self.clients["private_key_jwt"]
        cid = client_id or c["client_id"]
        now = int(time.time())
        return jwt.encode(
            {"iss": cid, "sub": cid, "aud": aud or self.token_endpoint,
             "jti": jti or str(uuid.uuid4()), "iat": now, "exp": now + ttl},
            key or self.client_key, algorithm=c["alg"],
            headers={"kid": kid or c["kid"]})

    def token_request(self, method="client_secret_basic", scope=SCOPES,
                      grant_type="client_credentials", client_id=None,
                      client_secret=None, **params):
        """POST to the token endpoint authenticating with `method` (RFC 6749
        2.3.1 form-encoding for client_secret_basic).  Returns HTTPResult."""
        c = self.clients.get(method, {})
        cid = client_id or c.get("client_id")
        secret = client_secret if client_secret is not None else c.get("client_secret")
        form = {"grant_type": grant_type}
        if scope is not None:
            form["scope"] = scope
        headers = {"Accept": "application/json"}
        if method == "client_secret_basic":
            cred = "%s:%s" % (urllib.parse.quote_plus(cid, safe=""),
                              urllib.parse.quote_plus(secret, safe=""))
            headers["Authorization"] = "Basic " + base64.b64encode(cred.encode()).decode()
        elif method == "client_secret_post":
            form.update(client_id=cid, client_secret=secret)
        elif method == "private_key_jwt":
            form.update(client_assertion_type=ASSERTION_TYPE,
                        client_assertion=params.pop("client_assertion", None)
                        or self.client_assertion(client_id=cid))
        form.update({k: v for k, v in params.items() if v is not None})
        return self.request("POST", self.token_endpoint, data=form, headers=headers)

    def token(self, method="client_secret_basic", scope=SCOPES, **params):
        """Like token_request but asserts success and returns the JSON."""
        r = self.token_request(method, scope=scope, **params)
        assert r.status == 200, r
        return r.json()

    def subject_token(self, sub="user@example.test", aud="rotatord", ttl=300,
                      key=None, iss=None, **claims):
        """A subject token for token exchange, signed by the subject key."""
        now = int(time.time())
        payload = {"iss": iss or self.subject_issuer, "sub": sub, "aud": aud,
                   "iat": now, "exp": now + ttl, **claims}
        return jwt.encode(payload, key or self.subject_key, algorithm="ES256",
                          headers={"kid": self.subject_kid})

    def exchange(self, subject_token, method="client_secret_basic",
                 audience="api://exchanged", scope=SCOPES,
                 subject_token_type=TT_JWT, **params):
        """RFC 8693 token exchange request; returns HTTPResult."""
        return self.token_request(method, scope=scope, grant_type=TOKEN_EXCHANGE,
                                  subject_token=subject_token,
                                  subject_token_type=subject_token_type,
                                  audience=audience, **params)

    def verify(self, token, audience="api://default", jwks=None, **kw):
        """Verify a JWT access token against the provider JWKS (python3-jwt);
        returns the claims."""
        kid = jwt.get_unverified_header(token).get("kid")
        keys = (jwks or self.jwks())["keys"]
        match = [k for k in keys if k.get("kid") == kid]
        assert match, "kid %r not in the provider JWKS" % kid
        return jwt.decode(token, jwk_to_key(match[0]), algorithms=["ES256"],
                          audience=audience, issuer=self.url, **kw)


@pytest.fixture(name="idp")
def idp_fixture():
    """Factory: idp(**kwargs) -> a started TestIdP; all stopped at teardown."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    tmp = tempfile.mkdtemp(prefix="rtd-idp-", dir=base)
    made = []

    def make(**kw):
        p = TestIdP(tmp, **kw)
        made.append(p)
        return p.start()
    yield make
    for p in made:
        p.stop()
    shutil.rmtree(tmp, ignore_errors=True)
