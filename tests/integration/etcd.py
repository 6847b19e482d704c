# SPDX-License-Identifier: Apache-2.0
"""A real etcd cluster (Debian's etcd 3.4) for the fleet tests: n members
on 127.0.0.1, free ports, data in a temporary directory; members can be
killed, restarted, stopped (SIGSTOP: a member cut off) and resumed."""
import base64
import json
import os
import shutil
import signal
import ssl
import subprocess
import time
import urllib.request

import pytest

from conftest import free_port, wait_for

ETCD = shutil.which("etcd")


def b64(s):
    return base64.b64encode(s.encode()).decode()


def make_tls(d):
    """A CA, a server certificate for 127.0.0.1 and a client certificate,
    made with the openssl command into d; returns their paths."""
    os.makedirs(d, exist_ok=True)
    p = {k: os.path.join(d, k + ".pem") for k in
         ("ca", "ca-key", "server", "server-key", "client", "client-key")}

    def run(*args):
        subprocess.run(["openssl"] + list(args), check=True,
                       capture_output=True)
    run("req", "-x509", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:P-256", "-nodes", "-keyout", p["ca-key"],
        "-out", p["ca"], "-days", "2", "-subj", "/CN=etcd test CA")
    for who, ext in (("server", "subjectAltName=IP:127.0.0.1\n"
                      "extendedKeyUsage=serverAuth,clientAuth"),
                     ("client", "extendedKeyUsage=clientAuth")):
        csr = os.path.join(d, who + ".csr")
        extf = os.path.join(d, who + ".ext")
        with open(extf, "w") as f:
            f.write(ext + "\n")
        run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", p[who + "-key"], "-out", csr, "-subj",
            "/CN=" + who)
        run("x509", "-req", "-in", csr, "-CA", p["ca"], "-CAkey",
            p["ca-key"], "-CAcreateserial", "-out", p[who], "-days", "2",
            "-extfile", extf)
    for k in p:
        os.chmod(p[k], 0o600)
    return p


class Member:
    def __init__(self, name, d, scheme="http"):
        self.name = name
        self.dir = d
        self.client = free_port()
        self.peer = free_port()
        self.url = "%s://127.0.0.1:%d" % (scheme, self.client)
        self.proc = None


class EtcdCluster:
    def __init__(self, tmp, n=3, tls=False):
        self.dir = os.path.join(tmp, "etcd")
        os.makedirs(self.dir, exist_ok=True)
        # tls: clients must show a certificate of the test CA.
        self.tls = make_tls(os.path.join(self.dir, "tls")) if tls else None
        self.ctx = None
        if self.tls:
            self.ctx = ssl.create_default_context(cafile=self.tls["ca"])
            self.ctx.load_cert_chain(self.tls["client"],
                                     self.tls["client-key"])
        self.n = n
        self.plan()

    def plan(self):
        """Members on fresh ports, with empty data directories."""
        self.members = [Member("m%d" % i, os.path.join(self.dir, "m%d" % i),
                               "https" if self.tls else "http")
                        for i in range(self.n)]
        for m in self.members:
            shutil.rmtree(m.dir, ignore_errors=True)
        self.initial = ",".join("%s=http://127.0.0.1:%d" % (m.name, m.peer)
                                for m in self.members)

    def start_member(self, m, state="new"):
        log = open(os.path.join(self.dir, m.name + ".log"), "ab")
        m.proc = subprocess.Popen(
            [ETCD, "--name", m.name, "--data-dir", m.dir,
             "--listen-client-urls", m.url,
             "--advertise-client-urls", m.url,
             "--listen-peer-urls", "http://127.0.0.1:%d" % m.peer,
             "--initial-advertise-peer-urls",
             "http://127.0.0.1:%d" % m.peer,
             "--initial-cluster", self.initial,
             "--initial-cluster-state", state,
             "--initial-cluster-token", "rotatord-test",
             "--heartbeat-interval", "50", "--election-timeout", "500",
             "--log-level", "warn"] + (
                ["--cert-file", self.tls["server"],
                 "--key-file", self.tls["server-key"],
                 "--trusted-ca-file", self.tls["ca"],
                 "--client-cert-auth"] if self.tls else []),
            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()

    def start(self):
        # A member exits when another process took its port between
        # free_port() and etcd's bind: then the cluster starts again on
        # other ports (up to three times).
        for _ in range(3):
            for m in self.members:
                self.start_member(m)
            state = wait_for(lambda: "exited" if any(
                m.proc.poll() is not None for m in self.members) else all(
                self.healthy(m) for m in self.members),
                timeout=60, what="etcd cluster")
            if state is True:
                return self
            self.stop()
            self.plan()
        raise AssertionError("etcd members kept exiting; logs in " + self.dir)

    def healthy(self, m):
        try:
            with urllib.request.urlopen(m.url + "/health", timeout=1,
                                        context=self.ctx) as r:
                return json.loads(r.read()).get("health") == "true"
        except Exception:
            return False

    def endpoints(self):
        return ", ".join(m.url for m in self.members)

    def call(self, path, body, member=None):
        for m in ([member] if member else self.members):
            if m.proc is None or m.proc.poll() is not None:
                continue
            try:
                req = urllib.request.Request(
                    m.url + path, data=json.dumps(body).encode(),
                    method="POST")
                with urllib.request.urlopen(req, timeout=5,
                                            context=self.ctx) as r:
                    return json.loads(r.read())
            except Exception:
                continue
        raise AssertionError("no etcd member answered " + path)

    def get(self, key):
        kvs = self.call("/v3/kv/range", {"key": b64(key)}).get("kvs", [])
        return base64.b64decode(kvs[0]["value"]).decode() if kvs else None

    def keys(self, prefix):
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        kvs = self.call("/v3/kv/range", {"key": b64(prefix),
                                         "range_end": b64(end),
                                         "keys_only": True}).get("kvs", [])
        return [base64.b64decode(kv["key"]).decode() for kv in kvs]

    def compact(self):
        rev = int(self.call("/v3/kv/range", {"key": b64("x")})
                  ["header"]["revision"])
        self.call("/v3/kv/compaction", {"revision": str(rev),
                                        "physical": True})
        return rev

    def raft_leader(self):
        """The member that is etcd's raft leader now, or None."""
        for m in self.members:
            if m.proc is None or m.proc.poll() is not None:
                continue
            try:
                st = self.call("/v3/maintenance/status", {}, member=m)
            except AssertionError:
                continue
            if st.get("leader") and st["leader"] == \
                    st.get("header", {}).get("member_id"):
                return m
        return None

    def kill(self, m):
        m.proc.kill()
        m.proc.wait()

    def restart(self, m):
        self.start_member(m, state="existing")
        wait_for(lambda: self.healthy(m), timeout=30, what="member back")

    def pause(self, m):
        m.proc.send_signal(signal.SIGSTOP)

    def resume(self, m):
        m.proc.send_signal(signal.SIGCONT)

    def stop(self):
        for m in self.members:
            if m.proc is not None and m.proc.poll() is None:
                m.proc.send_signal(signal.SIGCONT)
                m.proc.kill()
                m.proc.wait()


@pytest.fixture
def etcd_cluster(tmpdir_short):
    if ETCD is None:
        pytest.skip("etcd is not installed (make deps installs it)")
    made = []

    def make(n=3, tls=False):
        c = EtcdCluster(tmpdir_short, n, tls).start()
        made.append(c)
        return c
    yield make
    for c in made:
        c.stop()
