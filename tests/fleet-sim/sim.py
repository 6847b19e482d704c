# SPDX-License-Identifier: Apache-2.0
"""The regions harness: a rotatord fleet spread over three regions with
WAN latency between them, measured (make fleet-sim; make bench prints the
same rows).

Made by the harness itself, and removed again (also on SIGINT/SIGTERM;
a run killed with SIGKILL is cleaned up by the next one):
- one network namespace per region, rtdsimPID-rN, with only a loopback;
- a delay relay (relay.py) that carries every connection from one region
  to another, with the link's one-way delay (RTT 40, 80 and 150 ms
  between regions 0-1, 1-2 and 0-2, jitter 2 ms), and cuts a region off
  on request (netem is not in this kernel: see relay.py);
- a 3-member etcd, one member per region (heartbeat 150 ms, election
  timeout 1.5 s, as etcd's tuning guide says for 150 ms RTT);
- N rotatord hosts, host k in region k % 3, its own output and state
  directories, endpoints listing its region's member first.

Inside every namespace 127.0.0.1:23790+i reaches etcd member i (the
region's own member directly, the others through the relay) and
127.0.0.1:23800+i is member i's peer port.  Nothing listens
outside the namespaces but the relay's observer ports on 127.0.0.1 (the
harness reads etcd through them) and the hosts' unix sockets.

    sim.py [--hosts 3,30,100] [--reps 5] [--cut 300] [--json FILE]
"""
import argparse
import base64
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
REGIONS = 3
RTT_MS = {(0, 1): 40, (1, 2): 80, (0, 2): 150}
JITTER_MS = 2
CLIENT, PEER = 23790, 23800
LEASE_TTL_S = 3
ACK_TIMEOUT_S = 10
PREFIX = "/rotatord/"


def rtt(a, b):
    return 0 if a == b else RTT_MS[(min(a, b), max(a, b))]


def sh(*args, check=True):
    return subprocess.run(list(args), check=check, capture_output=True,
                          text=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_for(pred, timeout, what, step=0.02):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise TimeoutError("timed out waiting for " + what)
        time.sleep(step)


def pct(vals, p):
    """The p-th percentile (nearest rank) of vals."""
    if not vals:
        return float("nan")
    v = sorted(vals)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def unix_get(path, url, timeout=5):
    """(status, body) of GET url on the unix socket path; (0, "") when the
    socket does not answer."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                   "Rotatord-Request: 1\r\n\r\n" % url).encode())
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    except OSError:
        return 0, ""
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    try:
        return int(head.split(b" ", 2)[1]), body.decode("latin-1")
    except (IndexError, ValueError):
        return 0, ""


def unix_get_many(paths, url, timeout=5):
    """{path: (status, body, seconds when the answer was whole)} of GET url
    on each unix socket at once: one round costs the slowest answer, not
    the sum of them (100 daemons on 2 cores answer one by one slowly)."""
    import selectors
    sel = selectors.DefaultSelector()
    req = ("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
           "Rotatord-Request: 1\r\n\r\n" % url).encode()
    out, bufs = {}, {}
    for path in paths:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            s.sendall(req)
        except OSError:
            s.close()
            out[path] = (0, "", time.monotonic())
            continue
        s.setblocking(False)
        bufs[path] = []
        sel.register(s, selectors.EVENT_READ, path)
    end = time.monotonic() + timeout
    while sel.get_map() and time.monotonic() < end:
        for key, _ in sel.select(max(0, end - time.monotonic())):
            path = key.data
            try:
                b = key.fileobj.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                b = b""
            if b:
                bufs[path].append(b)
                continue
            sel.unregister(key.fileobj)
            key.fileobj.close()
            head, _, body = b"".join(bufs[path]).partition(b"\r\n\r\n")
            try:
                code = int(head.split(b" ", 2)[1])
            except (IndexError, ValueError):
                code = 0
            out[path] = (code, body.decode("latin-1"), time.monotonic())
    for key in list(sel.get_map().values()):
        key.fileobj.close()
        out[key.data] = (0, "", time.monotonic())
    sel.close()
    return out


def pdeathsig():
    import ctypes
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)     # PR_SET_PDEATHSIG


class Host:
    def __init__(self, sim, k):
        self.k = k
        self.name = "h%03d" % k
        self.region = k % REGIONS
        self.dir = os.path.join(sim.dir, self.name)
        self.out = os.path.join(self.dir, "out")
        self.sock = os.path.join(self.out, "api.sock")
        self.log = os.path.join(self.dir, "rotatord.log")
        self.proc = None
        os.makedirs(self.dir)
        order = [self.region] + [i for i in range(REGIONS)
                                 if i != self.region]
        short = k == 0          # host 0 rolls its signer and CA over
        with open(os.path.join(self.dir, "rotatord.ini"), "w") as f:
            f.write("""[rotatord]
output_dir = %(out)s
state_dir = %(dir)s/state
log_level = notice

[cluster]
endpoints = %(ep)s
key_file = %(key)s
name = %(name)s
lease_ttl = %(ttl)ds
timeout = 5s
ack_timeout = %(ack)ds

[credential "tickets"]
type = secret
bytes = 48
keep = 2
lifetime = 1h
fleet = yes

[credential "short"]
type = secret
bytes = 32
keep = 2
lifetime = %(short)ds
fleet = yes

[credential "local"]
type = secret
bytes = 16
lifetime = 1h

[signer "fleetsigner"]
issuer = https://fleet.test
key_lifetime = %(kl)s

[ca "fleetca"]
lifetime = %(cl)s

[client "harness"]
user = 0
allow = tickets, short, local

[credential "web"]
type = x509
ca = fleetca
common_name = %(name)s.test
lifetime = %(wl)s
""" % {"out": self.out, "dir": self.dir, "name": self.name,
                "ep": ", ".join("http://127.0.0.1:%d" % (CLIENT + i)
                                for i in order),
                "key": sim.key, "ttl": LEASE_TTL_S, "ack": ACK_TIMEOUT_S,
                "short": sim.short_life, "kl": "1m" if short else "7d",
                "cl": "1m" if short else "30d",
                "wl": "30s" if short else "1h"})

    def start(self, sim):
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", sim.ns[self.region], sim.rotatord,
             "-c", os.path.join(self.dir, "rotatord.ini")],
            stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
            preexec_fn=pdeathsig)
        logf.close()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def keys(self, name="tickets"):
        d = os.path.join(self.out, name)
        try:
            gen = os.path.join(d, os.readlink(os.path.join(d, "..data")))
            files = sorted((f for f in os.listdir(gen) if f.endswith(".key")),
                           key=lambda f: int(f.split(".")[0]))
            out = []
            for f in files:
                with open(os.path.join(gen, f), "rb") as fh:
                    out.append(fh.read())
            return out
        except (FileNotFoundError, ValueError):
            return None

    def meta(self, name):
        try:
            with open(os.path.join(self.out, name, "..data",
                                   "meta.json")) as f:
                return json.load(f)
        except (FileNotFoundError, ValueError):
            return None

    def rss_kib(self):
        try:
            with open("/proc/%d/status" % self.proc.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except (OSError, AttributeError):
            pass
        return 0


class Sim:
    def __init__(self, args, n):
        self.args = args
        self.n = n
        self.rotatord = os.path.abspath(args.rotatord)
        self.ctl = os.path.join(os.path.dirname(self.rotatord), "rotatorctl")
        self.short_life = args.short_life
        base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
        self.dir = tempfile.mkdtemp(prefix="rotatord-sim.", dir=base)
        os.chmod(self.dir, 0o755)
        self.ns = ["rtdsim%d-r%d" % (os.getpid(), i) for i in range(REGIONS)]
        self.etcd = [None] * REGIONS
        self.relay = None
        self.hosts = []
        self.observe = [free_port() for _ in range(REGIONS)]
        self.key = os.path.join(self.dir, "fleet.key")
        with open(self.key, "wb") as f:
            f.write(os.urandom(32))
        os.chmod(self.key, 0o600)

    # -- setting up and tearing down ------------------------------------

    def up(self):
        for ns in self.ns:
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        self.start_relay()
        self.start_etcd()
        for k in range(self.n):
            self.hosts.append(Host(self, k))
        for h in self.hosts:
            h.start(self)
        wait_for(lambda: self.converged(), timeout=60 + self.n,
                 what="%d hosts to hold the same keys" % self.n, step=0.2)
        # The start-up is over when every ca.pem holds every host's CA.
        wait_for(lambda: all(len(ca_certs(h) or ()) >= self.n
                             for h in self.hosts), timeout=60 + self.n,
                 what="every host's CA in every ca.pem", step=0.5)

    def start_relay(self):
        links = []
        for j in range(REGIONS):
            nsj = "/run/netns/" + self.ns[j]
            for i in range(REGIONS):
                if i == j:
                    continue    # the region's own member: direct
                nsi = "/run/netns/" + self.ns[i]
                d = rtt(i, j) / 2.0
                links.append({"name": "client m%d from r%d" % (i, j),
                              "listen_ns": nsj, "listen_port": CLIENT + i,
                              "target_ns": nsi, "target_port": CLIENT + i,
                              "delay_ms": d, "jitter_ms": JITTER_MS,
                              "regions": ["r%d" % i, "r%d" % j]})
                if True:
                    links.append({"name": "peer m%d from r%d" % (i, j),
                                  "listen_ns": nsj, "listen_port": PEER + i,
                                  "target_ns": nsi, "target_port": PEER + i,
                                  "delay_ms": d, "jitter_ms": JITTER_MS,
                                  "regions": ["r%d" % i, "r%d" % j]})
        for i in range(REGIONS):
            links.append({"name": "observer m%d" % i, "listen_ns": None,
                          "listen_port": self.observe[i],
                          "target_ns": "/run/netns/" + self.ns[i],
                          "target_port": CLIENT + i, "delay_ms": 0,
                          "regions": []})
        spec = os.path.join(self.dir, "relay.json")
        with open(spec, "w") as f:
            json.dump({"links": links}, f)
        self.ctl_path = os.path.join(self.dir, "relay.sock")
        logf = open(os.path.join(self.dir, "relay.log"), "ab")
        self.relay = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "relay.py"), spec,
             self.ctl_path], stdin=subprocess.DEVNULL, stdout=logf,
            stderr=logf, preexec_fn=pdeathsig)
        logf.close()
        wait_for(lambda: os.path.exists(self.ctl_path), 10, "the relay")
        self.relay_cmd("ping")

    def relay_cmd(self, cmd):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(self.ctl_path)
        s.sendall((cmd + "\n").encode())
        data = b""
        while not data.endswith(b"\n"):
            b = s.recv(65536)
            if not b:
                break
            data += b
        s.close()
        return json.loads(data)

    def start_etcd(self):
        etcd = shutil.which("etcd")
        if etcd is None:
            raise SystemExit("sim: etcd is not installed (make deps)")
        initial = ",".join("m%d=http://127.0.0.1:%d" % (i, PEER + i)
                           for i in range(REGIONS))
        for i in range(REGIONS):
            logf = open(os.path.join(self.dir, "etcd-m%d.log" % i), "ab")
            self.etcd[i] = subprocess.Popen(
                ["ip", "netns", "exec", self.ns[i], etcd,
                 "--name", "m%d" % i,
                 "--data-dir", os.path.join(self.dir, "etcd-m%d" % i),
                 "--listen-client-urls", "http://127.0.0.1:%d" % (CLIENT + i),
                 "--advertise-client-urls",
                 "http://127.0.0.1:%d" % (CLIENT + i),
                 "--listen-peer-urls", "http://127.0.0.1:%d" % (PEER + i),
                 "--initial-advertise-peer-urls",
                 "http://127.0.0.1:%d" % (PEER + i),
                 "--initial-cluster", initial,
                 "--initial-cluster-state", "new",
                 "--initial-cluster-token", "rotatord-sim",
                 "--pre-vote",
                 "--heartbeat-interval", "150",
                 "--election-timeout", "1500",
                 "--log-level", "warn"],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                preexec_fn=pdeathsig)
            logf.close()
        wait_for(lambda: all(self.etcd_healthy(i) for i in range(REGIONS)),
                 60, "the etcd cluster", step=0.2)

    def down(self):
        for h in self.hosts:
            h.stop()
        for p in self.etcd + [self.relay]:
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
        for ns in self.ns:
            sh("ip", "netns", "del", ns, check=False)
        if self.args.keep:
            print("sim: kept %s" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- etcd, seen from outside ----------------------------------------

    def etcd_url(self, i):
        return "http://127.0.0.1:%d" % self.observe[i]

    def etcd_healthy(self, i):
        try:
            with urllib.request.urlopen(self.etcd_url(i) + "/health",
                                        timeout=2) as r:
                return json.loads(r.read()).get("health") == "true"
        except Exception:
            return False

    def etcd_get(self, key, regions):
        for i in regions:
            try:
                req = urllib.request.Request(
                    self.etcd_url(i) + "/v3/kv/range", method="POST",
                    data=json.dumps({"key": base64.b64encode(
                        key.encode()).decode()}).encode())
                with urllib.request.urlopen(req, timeout=2) as r:
                    kvs = json.loads(r.read()).get("kvs", [])
                return base64.b64decode(kvs[0]["value"]).decode() \
                    if kvs else None
            except Exception:
                continue
        return None

    def leader(self, regions=range(REGIONS)):
        """The leading host's name as etcd says, or None."""
        v = self.etcd_get(PREFIX + "leader", regions)
        try:
            return json.loads(json.loads(v)["b"])["host"]
        except (TypeError, ValueError, KeyError):
            return None

    def etcd_counters(self):
        """Sums over the members: RPCs started, watch events sent, and
        client bytes (etcd's gRPC counters: the JSON gateway's requests as
        protobuf, the harness's own reads of /metrics not included)."""
        rpcs = events = nbytes = 0.0
        for i in range(REGIONS):
            try:
                with urllib.request.urlopen(self.etcd_url(i) + "/metrics",
                                            timeout=5) as r:
                    text = r.read().decode()
            except Exception:
                continue
            for line in text.splitlines():
                if line.startswith("grpc_server_started_total{"):
                    rpcs += float(line.rsplit(" ", 1)[1])
                elif line.startswith("etcd_debugging_mvcc_events_total "):
                    events += float(line.rsplit(" ", 1)[1])
                elif line.startswith(("etcd_network_client_grpc_sent_bytes"
                                      "_total ", "etcd_network_client_grpc_"
                                      "received_bytes_total ")):
                    nbytes += float(line.rsplit(" ", 1)[1])
        return {"rpcs": rpcs, "events": events, "bytes": nbytes,
                "t": time.monotonic()}

    def etcd_post(self, i, path, body, timeout=5):
        req = urllib.request.Request(self.etcd_url(i) + path, method="POST",
                                     data=json.dumps(body).encode())
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())

    def raft(self):
        """(member ids by region, the region of etcd's raft leader)."""
        ids, lead = [], None
        for i in range(REGIONS):
            st = self.etcd_post(i, "/v3/maintenance/status", {})
            ids.append(st["header"]["member_id"])
            lead = st.get("leader", lead)
        return ids, ids.index(lead) if lead in ids else None

    def move_raft_leader(self, region):
        """Makes the member of region etcd's raft leader."""
        def there():
            ids, at = self.raft()
            if at == region:
                return True
            if at is not None:
                try:
                    self.etcd_post(at, "/v3/maintenance/transfer-leadership",
                                   {"targetID": ids[region]}, timeout=10)
                except Exception:
                    pass
            return False
        wait_for(there, 30, "etcd's raft leader in region %d" % region,
                 step=0.5)

    # -- what the hosts hold ---------------------------------------------

    def converged(self, hosts=None):
        ks = [h.keys() for h in (hosts or self.hosts)]
        return ks[0] is not None and all(k == ks[0] for k in ks)

    def rotatorctl(self, h, *args):
        return subprocess.run([self.ctl, "-s", h.sock] + list(args),
                              capture_output=True, text=True)

    def cut(self, region):
        self.relay_cmd("cut r%d" % region)

    def heal(self, region):
        self.relay_cmd("heal r%d" % region)


# -- measurements ----------------------------------------------------------

def idle_rate(sim, secs=3.0):
    """etcd cost per second while nothing happens (keepalives, watches)."""
    a = sim.etcd_counters()
    time.sleep(secs)
    b = sim.etcd_counters()
    dt = b["t"] - a["t"]
    return {k: (b[k] - a[k]) / dt for k in ("rpcs", "events", "bytes")}


def rotate_fleet(sim, reps, idle):
    """rotate --fleet tickets, asked on host 1: the time until each host
    accepts the new key (phase 1) and encrypts with it (phase 2); etcd cost
    per host, idle traffic taken out."""
    p1, p2, worst, cost = [], [], [], []
    asker = sim.hosts[1 % sim.n]
    for _ in range(reps):
        before = set(sim.hosts[0].keys())
        a = sim.etcd_counters()
        t0 = time.monotonic()
        # The asker may be re-registering (its lease lost under load).
        end = time.monotonic() + 30
        while True:
            t0 = time.monotonic()
            r = sim.rotatorctl(asker, "rotate", "--fleet", "tickets")
            if r.returncode == 0 or time.monotonic() > end:
                break
            time.sleep(0.2)
        if r.returncode != 0:
            raise RuntimeError("rotate --fleet: " + r.stderr)
        t1 = {}
        t2 = {}
        deadline = t0 + 60
        while len(t2) < sim.n and time.monotonic() < deadline:
            for h in sim.hosts:
                if h.k in t2:
                    continue
                ks = h.keys()
                if not ks:
                    continue
                now = time.monotonic()
                if h.k not in t1 and any(k not in before for k in ks):
                    t1[h.k] = now - t0
                if ks[0] not in before:
                    t2[h.k] = now - t0
                    t1.setdefault(h.k, now - t0)
            time.sleep(0.002)
        if len(t2) < sim.n:
            raise RuntimeError("rotate --fleet: %d of %d hosts did not "
                               "promote within 60 s" % (sim.n - len(t2),
                                                        sim.n))
        time.sleep(1.0)         # the last acks and done marks
        b = sim.etcd_counters()
        dt = b["t"] - a["t"]
        cost.append({k: (b[k] - a[k] - idle[k] * dt) / sim.n
                     for k in ("rpcs", "events", "bytes")})
        p1 += [v * 1000 for v in t1.values()]
        p2 += [v * 1000 for v in t2.values()]
        worst.append(max(t2.values()) * 1000)
        wait_for(lambda: sim.converged(), 30, "convergence")
    return {"phase1_ms": p1, "phase2_ms": p2, "worst_ms": worst,
            "cost": {k: statistics.median(c[k] for c in cost)
                     for k in ("rpcs", "events", "bytes")}}


def kids_of(code, body):
    if code != 200:
        return None
    try:
        return set(k["kid"] for k in json.loads(body)["keys"])
    except (ValueError, KeyError, TypeError):
        return None


def jwks_kids(h):
    return kids_of(*unix_get(h.sock, "/v1/jwks"))


def jwks_has_many(hosts, kid):
    """{host: (does its /v1/jwks hold kid, when)}, every host asked at
    once.  A substring test, not a parse: parsing 100 JWKS of 100 hosts'
    keys each, every round, would take the cores the daemons need."""
    got = unix_get_many([h.sock for h in hosts], "/v1/jwks")
    want = '"kid":"%s"' % kid
    return {h: (got[h.sock][0] == 200 and want in got[h.sock][1].replace(
        " ", ""), got[h.sock][2]) for h in hosts}


def ca_has_many(hosts, cert):
    return {h: (new_in(ca_certs(h), cert), time.monotonic()) for h in hosts}


def new_in(s, x):
    return s is not None and x in s


def ca_certs(h):
    try:
        with open(os.path.join(h.out, "web", "ca.pem")) as f:
            return set(re.findall(r"-----BEGIN CERTIFICATE-----[^-]+", f.read()))
    except FileNotFoundError:
        return None


def propagation(sim, timeout):
    """Host 0 rolls its signer key and CA over every minute (key_lifetime
    and CA lifetime 1m): from the moment host 0 serves the new kid (its
    new CA) until every host's /v1/jwks (ca.pem) carries it."""
    h0 = sim.hosts[0]
    out = {}
    for what, get, many in (("signer", jwks_kids, jwks_has_many),
                            ("ca", ca_certs, ca_has_many)):
        old = get(h0)
        end = time.monotonic() + timeout
        new = None
        while time.monotonic() < end:
            cur = get(h0)
            if cur is not None and old is not None and cur - old:
                new = next(iter(cur - old))
                break
            old = cur if old is None else old
            time.sleep(0.005)
        if new is None:
            out[what] = None
            continue
        t0 = time.monotonic()
        seen = {0: 0.0}
        while len(seen) < sim.n and time.monotonic() < t0 + 60:
            left = [h for h in sim.hosts if h.k not in seen]
            for h, (has, when) in many(left, new).items():
                if has:
                    seen[h.k] = (when - t0) * 1000
            time.sleep(0.01)
        out[what] = list(seen.values()) if len(seen) == sim.n else None
    return out


def failover(sim, with_raft):
    """The leader's region cut off: the time until a host in another
    region leads.  with_raft: etcd's raft leader is moved into that region
    first (so etcd must elect a new one too); else out of it."""
    lead = wait_for(lambda: sim.leader(), 30, "a leader")
    region = int(lead[1:]) % REGIONS
    others = [i for i in range(REGIONS) if i != region]
    sim.move_raft_leader(region if with_raft else others[0])
    t0 = time.monotonic()
    sim.cut(region)
    try:
        new = wait_for(lambda: (lambda x: x if x and
                                int(x[1:]) % REGIONS != region else None)(
            sim.leader(others)), 60, "a leader outside the cut region",
            step=0.05)
        ms = (time.monotonic() - t0) * 1000
    finally:
        sim.heal(region)
    wait_for(lambda: sim.converged(), 60, "convergence after failover")
    return {"ms": ms, "from": lead, "to": new, "region": region,
            "raft_leader_cut": with_raft}


def region_cut(sim, secs):
    """A region without the leader cut off for secs: its hosts keep serving
    (no expired generation served), readiness says degraded; rotate
    --fleet asked meanwhile is applied when it returns; catch-up time."""
    lead = wait_for(lambda: sim.leader(), 30, "a leader")
    region = (int(lead[1:]) + 1) % REGIONS
    away = [h for h in sim.hosts if h.region == region]
    home = [h for h in sim.hosts if h.region != region]
    if not away or not home:
        return None
    gens = {h.k: (h.meta("local") or {}).get("generation") for h in away}
    sim.cut(region)
    t_cut = time.monotonic()
    asked = False
    per = {c: [0, 0, 0] for c in ("tickets", "short", "local")}
    samples = served = expired_served = degraded = refused = 0
    ready_samples = 0
    while time.monotonic() < t_cut + secs:
        if not asked and time.monotonic() > t_cut + 2:
            r = sim.rotatorctl(home[0], "rotate", "--fleet", "local",
                               "tickets")
            asked = r.returncode == 0
        now = time.time()
        for h in away:
            for cred in ("tickets", "short", "local"):
                code, body = unix_get(h.sock, "/v1/credentials/" + cred)
                samples += 1
                per[cred][0 if code == 200 else 1 if code == 503 else 2] += 1
                if code == 200:
                    served += 1
                    try:
                        na = json.loads(body)["meta"]["not_after"]
                    except (ValueError, KeyError, TypeError):
                        na = None
                    if na is not None and na <= now:
                        expired_served += 1
                elif code == 503 and '"expired"' in body:
                    refused += 1
            if time.monotonic() < t_cut + LEASE_TTL_S + 2:
                continue        # not yet: a lease_ttl without renewal
            code, body = unix_get(h.sock, "/readyz")
            ready_samples += 1
            if "degraded" in body:
                degraded += 1
        time.sleep(1.0)
    sim.heal(region)
    t_heal = time.monotonic()

    def caught_up():
        want = home[0].keys()
        return all(h.keys() == want and
                   (h.meta("local") or {}).get("generation") !=
                   gens[h.k] for h in away)
    try:
        wait_for(caught_up, 60, "the cut-off region to catch up", step=0.01)
        catch = (time.monotonic() - t_heal) * 1000
    except TimeoutError:
        catch = None
    return {"region": region, "hosts": len(away), "secs": secs,
            "asked": asked, "samples": samples, "per_cred": per, "served": served,
            "expired_served": expired_served, "refused_expired": refused,
            "degraded_samples": degraded,
            "readyz_samples": ready_samples, "catch_up_ms": catch}


def run_one(args, n):
    sim = Sim(args, n)
    res = {"n": n}
    try:
        t = time.monotonic()
        sim.up()
        res["up_s"] = time.monotonic() - t
        rss = sorted(h.rss_kib() for h in sim.hosts)
        res["rss_kib"] = {"median": rss[len(rss) // 2], "max": rss[-1]}
        idle = idle_rate(sim)
        res["idle_per_host_s"] = {k: v / n for k, v in idle.items()}
        res["rotate"] = rotate_fleet(sim, args.reps, idle)
        res["propagation"] = propagation(sim, 75)
        fo = [failover(sim, False) for _ in range(min(args.reps, 3))]
        res["failover"] = {"ms": [f["ms"] for f in fo], "runs": fo}
        fo = [failover(sim, True) for _ in range(min(args.reps, 3))]
        res["failover_raft"] = {"ms": [f["ms"] for f in fo], "runs": fo}
        if args.cut > 0:
            res["cut"] = region_cut(sim, args.cut)
    finally:
        sim.down()
    return res


def cleanup_stale():
    """Namespaces of runs that died without cleaning up."""
    p = sh("ip", "netns", "list", check=False)
    for line in p.stdout.splitlines():
        m = re.match(r"(rtdsim(\d+)-r\d+)", line)
        if m and not os.path.exists("/proc/" + m.group(2)):
            sh("ip", "netns", "del", m.group(1), check=False)


def table(results):
    big = max(RTT_MS.values())
    target = 3 * big + 200
    rows = []

    def row(label, val, tgt, ok):
        rows.append("%-58s %12s %10s  %s" % (label, val, tgt,
                                             "-" if ok is None else
                                             ("PASS" if ok else "BELOW")))
    for r in results:
        n = r["n"]
        ro = r["rotate"]
        for ph in ("phase1", "phase2"):
            v = ro[ph + "_ms"]
            row("regions N=%d: rotate --fleet, %s, p50/p99 ms" %
                (n, "accepted" if ph == "phase1" else "promoted"),
                "%.0f/%.0f" % (pct(v, 50), pct(v, 99)),
                "<=%d" % target if ph == "phase2" else "-",
                pct(v, 99) <= target if ph == "phase2" else None)
        for what in ("signer", "ca"):
            v = r["propagation"].get(what)
            row("regions N=%d: %s rollover on one host, p99 ms" % (n, what),
                "%.0f" % pct(v, 99) if v else "n/a", "<=%d" % target,
                pct(v, 99) <= target if v else False)
        c = ro["cost"]
        row("regions N=%d: etcd per host per rotation: rpcs/events/KiB" % n,
            "%.1f/%.1f/%.1f" % (c["rpcs"], c["events"], c["bytes"] / 1024),
            "-", None)
        i = r["idle_per_host_s"]
        row("regions N=%d: etcd per host per second idle: rpcs/KiB" % n,
            "%.2f/%.2f" % (i["rpcs"], i["bytes"] / 1024), "-", None)
        f = r["failover"]["ms"]
        row("regions N=%d: leader's region cut -> new leader, p50/max ms" %
            n, "%.0f/%.0f" % (pct(f, 50), max(f)),
            "<=%d" % (LEASE_TTL_S * 1000 + 1000),
            pct(f, 50) <= LEASE_TTL_S * 1000 + 1000)
        f = r["failover_raft"]["ms"]
        row("regions N=%d: same, etcd's raft leader cut too, p50/max ms" % n,
            "%.0f/%.0f" % (pct(f, 50), max(f)), "-", None)
        cu = r.get("cut")
        if cu:
            row("regions N=%d: region cut %ds: expired served / samples" %
                (n, cu["secs"]), "%d/%d" % (cu["expired_served"],
                                            cu["samples"]), "0",
                cu["expired_served"] == 0)
            row("regions N=%d: region cut: readyz degraded samples" % n,
                "%d/%d" % (cu["degraded_samples"], cu["readyz_samples"]),
                "all", cu["degraded_samples"] >= cu["readyz_samples"])
            row("regions N=%d: region back -> caught up incl. rotate, ms" %
                n, "%.0f" % cu["catch_up_ms"] if cu["catch_up_ms"] else
                "never", "<=5000", cu["catch_up_ms"] is not None and
                cu["catch_up_ms"] <= 5000)
        row("regions N=%d: RSS per host, median/max MiB" % n,
            "%.1f/%.1f" % (r["rss_kib"]["median"] / 1024,
                           r["rss_kib"]["max"] / 1024), "-", None)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rotatord", default=os.path.join(
        ROOT, os.environ.get("B", "build"), "rotatord"))
    ap.add_argument("--hosts", default="3,30,100")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--cut", type=int, default=300,
                    help="seconds a region is cut off (0: skip)")
    ap.add_argument("--short-life", type=int, default=0,
                    help="lifetime of the short fleet secret, s (default: "
                    "a third of --cut, at least 20)")
    ap.add_argument("--json", help="write the raw figures here")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("sim: needs root (network namespaces)")
    if not args.short_life:
        args.short_life = max(20, args.cut // 3)
    cleanup_stale()

    def stop(sig, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)
    results = []
    for n in (int(x) for x in args.hosts.split(",")):
        print("sim: %d hosts over 3 regions (RTT 40/80/150 ms)" % n,
              flush=True)
        results.append(run_one(args, n))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    print()
    for line in table(results):
        print(line)
    return results


if __name__ == "__main__":
    main()
