# SPDX-License-Identifier: Apache-2.0
"""The fleet (README.md, Fleet) through the real binary: three rotatord
hosts, each with its own output directory, sharing a real 3-member etcd
cluster on 127.0.0.1.  Shared secrets are the same on every host, and no
host ever encrypts (its 0.key) with a key another host does not have;
the leader is replaced when it dies; rotate --fleet reaches every host; a
host that was away catches up; etcd members dying or being cut off, and
compaction, do not stop the fleet; quorum loss keeps what is published."""
import base64
import json
import os
import re
import signal
import subprocess
import time
import urllib.request

import pytest

from conftest import ROOT, BUILD, Rotatord, wait_for
from etcd import etcd_cluster  # noqa: F401  (fixture)
from test_api import parse_prometheus

ROTATORCTL = os.path.join(ROOT, BUILD, "rotatorctl")


def host_config(name, endpoints, key_file, lifetime="6s", ttl="3s",
                timeout="2s", ack=None):
    """ack: ack_timeout, when not the default (60 s)."""
    return """
[cluster]
endpoints = %(ep)s
key_file = %(key)s
name = %(name)s
lease_ttl = %(ttl)s
timeout = %(timeout)s
%(ack)s
[credential "tickets"]
type = secret
bytes = 48
keep = 2
lifetime = %(lt)s
fleet = yes

[credential "local"]
type = secret
bytes = 16
""" % {"ep": endpoints, "key": key_file, "name": name, "ttl": ttl,
       "lt": lifetime, "timeout": timeout,
       "ack": "ack_timeout = %s\n" % ack if ack else ""}


def key_spellings(raw):
    """The three spellings of one fleet key that key_file accepts."""
    return [raw, raw.hex().encode() + b"\n",
            base64.b64encode(raw) + b"\r\n"]


class Fleet:
    def __init__(self, tmp, cluster, n=3, raw=None, spell=False, **kw):
        """spell: host i reads the key in spelling i % 3 (raw, hex,
        base64), each from its own file."""
        self.cluster = cluster
        raw = raw if raw is not None else os.urandom(32)
        self.key = os.path.join(tmp, "fleet.key")
        files = []
        for i, b in enumerate(key_spellings(raw) if spell else [raw]):
            path = self.key if i == 0 else self.key + ".%d" % i
            with open(path, "wb") as f:
                f.write(b)
            os.chmod(path, 0o600)
            files.append(path)
        self.hosts = []
        urls = [m.url for m in cluster.members]
        for i in range(n):
            d = os.path.join(tmp, "host%d" % i)
            os.makedirs(d)
            # Each host lists the members in another order.
            ep = ", ".join(urls[i:] + urls[:i])
            self.hosts.append(Rotatord(d, host_config(
                "host%d" % i, ep, files[i % len(files)], **kw)))

    def start(self):
        for h in self.hosts:
            h.start(wait_ready=False)
        return self

    def stop(self):
        for h in self.hosts:
            h.stop(signal.SIGKILL)


def keys(h, name="tickets"):
    """The key files of one published generation, in order (0.key first),
    read through one ..data link so they are from the same generation."""
    d = os.path.join(h.out, name)
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


def status(h):
    p = subprocess.run([ROTATORCTL, "-s", os.path.join(h.out, "api.sock"),
                        "status"], capture_output=True, text=True)
    # 0 ready, 1 running but not ready (a fleet secret still to come).
    assert p.returncode in (0, 1), p.stderr
    return p.stdout


def api_status(h):
    p = subprocess.run(["curl", "-s", "--unix-socket",
                        os.path.join(h.out, "api.sock"), "-H",
                        "Rotatord-Request: 1",
                        "http://x/v1/admin/status"], capture_output=True)
    return json.loads(p.stdout)


def leaders(fl):
    return [h for h in fl.hosts if h.proc is not None and
            api_status(h)["cluster"]["leader"]]


def same_keys(hosts):
    ks = [keys(h) for h in hosts]
    return ks[0] is not None and all(k == ks[0] for k in ks)


def check_two_phase(hosts, samples):
    """No host encrypts with a key that some other host does not have.
    The hosts are read one after another, twice: only when no host changed
    meanwhile is it one moment's state (files only move forward), else the
    sample is dropped; a test process descheduled between two reads would
    otherwise see a rotation half done that no moment ever showed."""
    sets = [keys(h) for h in hosts]
    if any(s is None for s in sets) or [keys(h) for h in hosts] != sets:
        return
    for s in sets:
        for other in sets:
            assert s[0] in other, "a host encrypts with a key another " \
                "host cannot read"
    samples.append(tuple(s[0] for s in sets))


def secret_history(c, key="/rotatord/secrets/tickets"):
    """Every version etcd has of key: (mod_revision, gen, fp), read from its
    history with a watch from revision 1, up to its current version."""
    k64 = base64.b64encode(key.encode()).decode()
    cur = int(c.call("/v3/kv/range", {"key": k64})["kvs"][0]["mod_revision"])
    m = [m for m in c.members if m.proc and m.proc.poll() is None][0]
    req = urllib.request.Request(m.url + "/v3/watch", data=json.dumps(
        {"create_request": {"key": k64, "start_revision": "1"}}).encode(),
        method="POST")
    out = []
    with urllib.request.urlopen(req, timeout=20) as r:
        last = 0
        while last < cur:
            line = r.readline()
            if not line:
                break
            for ev in json.loads(line).get("result", {}).get("events", []):
                kv = ev["kv"]
                last = int(kv["mod_revision"])
                if ev.get("type") == "DELETE":
                    continue
                val = base64.b64decode(kv.get("value", "")).decode("latin-1")
                try:
                    body = json.loads(json.loads(val)["b"])
                    out.append((last, body["gen"], body["fp"]))
                except (ValueError, KeyError, TypeError):
                    continue        # not a fleet record (an attacker's)
    return out


def one_key_per_generation(c):
    """etcd's whole history of the fleet secret: every generation was
    written with one key only, and generations never went back.  Returns
    {gen: fingerprint}."""
    hist = secret_history(c)
    by_gen = {}
    for rev, gen, fp in hist:
        by_gen.setdefault(gen, set()).add(fp)
    dup = {g: f for g, f in by_gen.items() if len(f) > 1}
    assert not dup, "generations written with different keys: %r" % dup
    gens = [g for _, g, _ in hist]
    assert gens == sorted(gens), "a generation number went back"
    return {g: next(iter(f)) for g, f in by_gen.items()}


@pytest.fixture
def fleet(etcd_cluster, tmpdir_short, request):
    made = []

    def make(n=3, **kw):
        f = Fleet(tmpdir_short, etcd_cluster(), n, **kw).start()
        made.append(f)
        return f
    yield make
    rep = getattr(request.node, "rep_call", None)
    for f in made:
        f.stop()
        if rep is not None and rep.failed:
            # What each host said, for the failure report.
            for h in f.hosts:
                print("===== %s" % h.dir)
                print("\n".join(h.text().splitlines()[-60:]))


def test_shared_secrets_two_phase(fleet):
    fl = fleet()
    wait_for(lambda: same_keys(fl.hosts), timeout=20,
             what="every host on the fleet's keys")
    assert len(leaders(fl)) == 1
    # Rotations every 4 s (2/3 of 6 s) for 14 s, checked every 20 ms.
    samples, firsts = [], set()
    end = time.monotonic() + 14
    while time.monotonic() < end:
        check_two_phase(fl.hosts, samples)
        k = keys(fl.hosts[0])
        if k:
            firsts.add(k[0])
        time.sleep(0.02)
    assert len(samples) > 200
    assert len(firsts) >= 3, "the encrypting key did not rotate"
    wait_for(lambda: same_keys(fl.hosts), timeout=10, what="convergence")
    gens = one_key_per_generation(fl.cluster)
    print("generations=%d (one key each)" % len(gens))
    for h in fl.hosts:
        assert os.stat(h.path("tickets", "0.key")).st_mode & 0o777 == 0o600
    # The documents in etcd are sealed: no key bytes in the clear.
    doc = fl.cluster.get("/rotatord/secrets/tickets")
    env = json.loads(doc)
    assert set(env) == {"v", "b", "m"} and env["v"] == 2
    body = json.loads(env["b"])
    assert set(body) == {"name", "gen", "fp", "by", "nonce", "ct"}
    assert body["name"] == "tickets" and body["gen"] >= 3
    for k in keys(fl.hosts[0]):
        for enc in (k.hex(), base64.b64encode(k).decode(),
                    base64.urlsafe_b64encode(k).decode().rstrip("=")):
            assert enc not in doc
        assert k not in doc.encode()
    # rotatorctl status shows the fleet.
    out = status(fl.hosts[0])
    assert "CLUSTER  host0 (run via http://127.0.0.1:" in out
    assert "3 hosts" in out
    # /metrics: one leader among the hosts, three registered.
    total = 0
    for h in fl.hosts:
        p = subprocess.run(["curl", "-s", "--unix-socket",
                            os.path.join(h.out, "api.sock"),
                            "http://x/metrics"], capture_output=True, text=True)
        m = parse_prometheus(p.stdout)
        total += int(m["rotatord_cluster_leader"])
        assert m["rotatord_cluster_hosts"] == 3
        assert m["rotatord_cluster_connected"] == 1
    assert total == 1
    # Each host acknowledged; each host is registered.
    assert sorted(fl.cluster.keys("/rotatord/hosts/")) == [
        "/rotatord/hosts/host%d" % i for i in range(3)]


def test_key_file_spellings(fleet):
    """A raw key whose last byte is 0x0a (one in 256 keys from openssl
    rand) is 32 raw bytes, not 31 and a newline; hex and base64 with a
    line end name the same key: the three hosts share the fleet's keys."""
    raw = os.urandom(31) + b"\n"
    fl = fleet(raw=raw, spell=True)
    wait_for(lambda: same_keys(fl.hosts), timeout=20, what="fleet keys")
    for h in fl.hosts:
        assert "want 32 bytes" not in h.text()


def test_leader_failover_and_catch_up(fleet):
    fl = fleet()
    wait_for(lambda: same_keys(fl.hosts), timeout=20, what="fleet keys")
    old = wait_for(lambda: leaders(fl), timeout=10, what="a leader")[0]
    others = [h for h in fl.hosts if h is not old]
    old.stop(signal.SIGKILL)
    # A new leader once the lease (3 s) expires; how soon is a figure of
    # make bench (fleet failover), not a test: a busy machine is slower.
    new = wait_for(lambda: leaders(fl), timeout=20, what="a new leader")
    assert len(new) == 1 and new[0] is not old
    # Rotations go on under the new leader.
    first = keys(others[0])[0]
    wait_for(lambda: keys(others[0])[0] != first, timeout=15,
             what="a rotation under the new leader")
    wait_for(lambda: same_keys(others), timeout=10, what="convergence")
    # The dead host comes back and catches up.
    old.start(wait_ready=False)
    wait_for(lambda: same_keys(fl.hosts), timeout=15,
             what="the returning host to catch up")
    assert len(leaders(fl)) == 1


def test_leader_steps_down_while_keepalive_hangs(etcd_cluster, tmpdir_short):
    """A leader whose only etcd member stops answering (SIGSTOP) steps
    down once its lease has gone unrenewed for 2/3 of the TTL, although
    its keepalive is still waiting for an answer (the call's timeout, 30
    s, is far longer than the 3 s lease): by the time the lease has
    expired and another host has been elected, it no longer leads.  Never
    two leaders.  When the member answers again it rejoins, one leader."""
    c = etcd_cluster()
    key = os.path.join(tmpdir_short, "fleet.key")
    with open(key, "wb") as f:
        f.write(os.urandom(32))
    os.chmod(key, 0o600)
    m0 = c.members[0]
    # host0 talks to m0 alone; host1 to the two others.
    eps = [m0.url, ", ".join(m.url for m in c.members[1:])]
    hosts = []
    for i, ep in enumerate(eps):
        d = os.path.join(tmpdir_short, "host%d" % i)
        os.makedirs(d)
        hosts.append(Rotatord(d, host_config("host%d" % i, ep, key,
                                             timeout="30s")))
    old, new = hosts

    def leads(h):
        return api_status(h)["cluster"]["leader"]
    try:
        old.start(wait_ready=False)
        wait_for(lambda: os.path.exists(os.path.join(old.out, "api.sock"))
                 and leads(old), timeout=20, what="host0 to lead")
        new.start(wait_ready=False)
        wait_for(lambda: same_keys(hosts), timeout=20,
                 what="host1 on the fleet's keys")
        assert leads(old) and not leads(new)
        c.pause(m0)
        wait_for(lambda: leads(new), timeout=30,
                 what="host1 to lead once host0's lease expired")
        assert not leads(old), "two leaders: host0 still leads on a " \
            "lease that has expired"
        assert "no longer leading the fleet: the lease could not be " \
            "renewed" in old.text()
        c.resume(m0)

        # One leader that both name (host1, unless its lease ran out
        # meanwhile on a loaded machine and host0 won the key again).
        def one_leader():
            st = [api_status(h)["cluster"] for h in hosts]
            return (st[0]["leader_name"] == st[1]["leader_name"] and
                    st[0]["leader"] + st[1]["leader"] == 1 and
                    same_keys(hosts))
        wait_for(one_leader, timeout=40, what="host0 back in the fleet, "
                 "one leader")
    finally:
        # What each host said, shown when the test fails.
        for h in hosts:
            h.stop(signal.SIGKILL)
            print("===== %s" % h.dir)
            print("\n".join(h.text().splitlines()[-60:]))


def test_rotate_fleet_reaches_every_host(fleet):
    fl = fleet(lifetime="1h")
    wait_for(lambda: same_keys(fl.hosts), timeout=20, what="fleet keys")
    wait_for(lambda: all(os.path.exists(h.path("local", "..data"))
                         for h in fl.hosts), what="local credentials")
    local = [h.meta("local")["generation"] for h in fl.hosts]
    tickets = keys(fl.hosts[0])
    p = subprocess.run([ROTATORCTL, "-s",
                        os.path.join(fl.hosts[1].out, "api.sock"), "rotate",
                        "--fleet", "local", "tickets"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "on every host" in p.stdout
    wait_for(lambda: all(h.meta("local")["generation"] > g
                         for h, g in zip(fl.hosts, local)), timeout=10,
             what="every host to rotate local")
    # Each host's own local secret: different on each.
    assert len({keys(h, "local")[0] for h in fl.hosts}) == 3
    wait_for(lambda: keys(fl.hosts[0])[0] != tickets[0] and
             same_keys(fl.hosts), timeout=15, what="a new fleet key")
    # Unknown names are refused before anything is sent.
    p = subprocess.run([ROTATORCTL, "-s",
                        os.path.join(fl.hosts[1].out, "api.sock"), "rotate",
                        "--fleet", "nope"], capture_output=True, text=True)
    assert p.returncode == 1 and "nope" in p.stderr
    # A clean stop revokes the lease: the host leaves the fleet at once
    # (not after the 3 s TTL), and exits 0 (no leak under ASan).
    # The revoke is answered before the process exits: the host's key
    # is gone the moment it has stopped, with no wait for the TTL.
    h = fl.hosts[2]
    assert h.stop() == 0
    assert "left the fleet (lease revoked)" in h.text()
    assert "/rotatord/hosts/host2" not in fl.cluster.keys("/rotatord/hosts/")


def test_silent_host_holds_promotion_until_ack_timeout(etcd_cluster,
                                                       tmpdir_short,
                                                       fault_row):
    """A host alive (its lease kept) but not taking a new key holds the
    promotion back for ack_timeout, no longer: the others then encrypt
    with the new key, the silent host is marked stale (and told why in
    the leader's log), and once it answers again it takes the keys and
    the mark is cleared."""
    c = etcd_cluster()
    fl = Fleet(tmpdir_short, c, 3, lifetime="1h", ttl="10s", ack="3s")
    fl.start()
    held = back = None
    stale_seen = False
    try:
        wait_for(lambda: same_keys(fl.hosts), timeout=30, what="fleet keys")
        leader = wait_for(lambda: leaders(fl), timeout=20, what="a leader")[0]
        silent = [h for h in fl.hosts if h is not leader][0]
        others = [h for h in fl.hosts if h is not silent]
        name = os.path.basename(silent.dir)
        before = keys(leader)[0]
        # Frozen for less than its 10 s lease: alive, but it cannot ack.
        silent.signal(signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            p = subprocess.run([ROTATORCTL, "-s",
                                os.path.join(leader.out, "api.sock"),
                                "rotate", "--fleet", "tickets"],
                               capture_output=True, text=True, timeout=30)
            assert p.returncode == 0, p.stderr
            wait_for(lambda: all(keys(h)[0] != before for h in others) and
                     same_keys(others), timeout=30,
                     what="promotion without the silent host")
            held = time.monotonic() - t0
            stale_seen = "/rotatord/stale/" + name in \
                c.keys("/rotatord/stale/")
        finally:
            silent.signal(signal.SIGCONT)
        t1 = time.monotonic()
        wait_for(lambda: same_keys(fl.hosts), timeout=30,
                 what="the silent host to catch up")
        wait_for(lambda: "/rotatord/stale/" + name not in
                 c.keys("/rotatord/stale/"), timeout=30,
                 what="its stale mark to be cleared")
        back = time.monotonic() - t1
    finally:
        fl.stop()
        fault_row("a host alive but silent (ack_timeout 3 s, lease 10 s)",
                  "3 hosts, rotate --fleet while one is frozen",
                  "1 host not acknowledging",
                  "yes" if held is not None and back is not None and
                  stale_seen else "NO",
                  "none (it was marked stale: %s)" %
                  ("yes" if stale_seen else "no"),
                  "promotion held %s; caught up and unmarked %s after it "
                  "answered" % ("%.1f s" % held if held else "-",
                                "%.1f s" % back if back else "-"))
    assert stale_seen
    assert "did not acknowledge" in leader.text()


def test_etcd_faults(fleet, fault_row):
    """etcd faults one after another under a 3-host fleet rotating a 6 s
    secret: a member killed, etcd's raft leader killed, a member paused,
    compaction while a host is away, quorum lost, and the fleet leader's
    lease expiring while it is frozen.  Two-phase holds all along among
    the hosts in the fleet (no host encrypts with a key another host
    cannot read; a host frozen past its lease is out until it is back),
    every host converges after each fault, and there is one leader at
    the end."""
    fl = fleet()
    c = fl.cluster
    wait_for(lambda: same_keys(fl.hosts), timeout=20, what="fleet keys")
    samples, broken, injected, figs = [], [], [], []
    survived = False
    # A host frozen past its lease is out of the fleet: the others may
    # promote without it, and it is left out of the two-phase check from
    # the moment it is frozen until every host has converged again.
    away = set()

    def watch(seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                check_two_phase([h for h in fl.hosts if h not in away],
                                samples)
            except AssertionError as e:
                broken.append("%s: %s" % (injected[-1] if injected else
                                           "before any fault", e))
            time.sleep(0.05)

    def converge(what, t0, timeout=30):
        wait_for(lambda: (watch(0.05) or True) and same_keys(fl.hosts),
                 timeout=timeout, what=what)
        away.clear()
        figs.append("%s %.1f s" % (injected[-1], time.monotonic() - t0))

    def rotated(h, before, timeout=30):
        wait_for(lambda: (watch(0.05) or True) and keys(h) and
                 keys(h)[0] != before, timeout=timeout,
                 what="a rotation after the fault")

    def member_fault(what, h, fault, undo):
        """fault() on a member; h must rotate after it and every host
        converge, then undo() puts the member back."""
        injected.append(what)
        before = keys(h)[0]
        t0 = time.monotonic()
        fault()
        watch(2)
        rotated(h, before)
        converge("convergence", t0)
        undo()

    try:
        # Host 0 talks to member 0 first: kill it.
        m = c.members[0]
        member_fault("member killed", fl.hosts[0], lambda: c.kill(m),
                     lambda: c.restart(m))
        # etcd's raft leader killed: a new one is elected, the hosts on
        # it move on.
        m = wait_for(c.raft_leader, timeout=20, what="a raft leader")
        member_fault("raft leader killed", fl.hosts[0], lambda: c.kill(m),
                     lambda: c.restart(m))
        # A member cut off (SIGSTOP): the hosts on it move on.
        m = c.members[1]
        member_fault("member paused", fl.hosts[1], lambda: c.pause(m),
                     lambda: c.resume(m))

        # Compaction past what a host has seen, while it is away.
        injected.append("compaction while away")
        h2 = fl.hosts[2]
        away.add(h2)
        h2.signal(signal.SIGSTOP)
        watch(5)
        c.compact()
        t0 = time.monotonic()
        h2.signal(signal.SIGCONT)
        converge("the host to re-read after compaction", t0)

        # Quorum lost: what is published stays, the daemons stay up.
        injected.append("quorum lost 4 s")
        held = [keys(h) for h in fl.hosts]
        c.kill(c.members[1])
        c.kill(c.members[2])
        watch(4)
        for h, k in zip(fl.hosts, held):
            assert h.proc.poll() is None
            assert keys(h) is not None and keys(h)[0] in k + [keys(h)[0]]
            assert "ready" in h.text()
        t0 = time.monotonic()
        c.restart(c.members[1])
        c.restart(c.members[2])
        before = keys(fl.hosts[0])[0]
        rotated(fl.hosts[0], before)
        converge("recovery", t0)
        assert len(leaders(fl)) == 1

        # The fleet leader frozen past its lease (3 s): another host
        # leads; thawed, the old one steps down and follows.
        injected.append("leader lease expired")
        old = wait_for(lambda: leaders(fl), timeout=10, what="a leader")[0]
        others = [h for h in fl.hosts if h is not old]
        t0 = time.monotonic()
        away.add(old)
        old.signal(signal.SIGSTOP)
        try:
            new = wait_for(lambda: (watch(0.05) or True) and
                           [h for h in others if api_status(h)["cluster"]
                            ["leader"]], timeout=30, what="a new leader")
        finally:
            old.signal(signal.SIGCONT)
        figs.append("new leader %.1f s" % (time.monotonic() - t0))
        assert len(new) == 1
        t0 = time.monotonic()
        wait_for(lambda: [h for h in leaders(fl)] == new, timeout=30,
                 what="the thawed leader to step down")
        before = keys(old)[0]
        rotated(old, before)
        converge("convergence", t0)
        survived = True
    finally:
        fault_row("etcd faults under a 3-host fleet (lease 3 s)",
                  "3 hosts, 6 s fleet secret, %d two-phase samples" %
                  len(samples),
                  ", ".join(injected),
                  "yes" if survived and not broken else "NO",
                  "%d two-phase violations" % len(broken),
                  "converged after: " + ", ".join(figs))
    assert not broken, broken[:3]
    assert len(samples) > 20


def cred_get(h, path):
    """(HTTP status, body) of GET path on host h's API socket."""
    p = subprocess.run(["curl", "-s", "-o", "-", "-w", "\n%{http_code}",
                        "-H", "Rotatord-Request: 1",
                        "--unix-socket", os.path.join(h.out, "api.sock"),
                        "http://x" + path], capture_output=True)
    body, _, code = p.stdout.decode("latin-1").rpartition("\n")
    return int(code or 0), body


def test_expired_generation_is_not_served(etcd_cluster, tmpdir_short):
    """A fleet secret that cannot be renewed (quorum lost) is served until
    its not_after, then answered 503 "expired" (and /readyz names it),
    never served expired; once etcd is back it is served again."""
    c = etcd_cluster()
    fl = Fleet(tmpdir_short, c, 2, lifetime="5s")
    for h in fl.hosts:
        with open(h.cfg, "a") as f:
            f.write('[client "me"]\nuser = %d\nallow = tickets\n' %
                    os.getuid())
    fl.start()
    try:
        expired_not_served(fl, c, fl.hosts[0])
    finally:
        fl.stop()


def expired_not_served(fl, c, h):
    wait_for(lambda: same_keys(fl.hosts), timeout=20, what="fleet keys")
    wait_for(lambda: cred_get(h, "/v1/credentials/tickets/0.key")[0] == 200,
             timeout=10, what="the secret served")
    c.kill(c.members[1])
    c.kill(c.members[2])
    code, body = wait_for(
        lambda: (lambda r: r if r[0] != 200 else None)(
            cred_get(h, "/v1/credentials/tickets/0.key")),
        timeout=20, what="the expired secret to be refused")
    assert code == 503 and '"expired"' in body, (code, body)
    code, body = cred_get(h, "/v1/credentials/tickets")
    assert code == 503 and '"expired"' in body, (code, body)
    code, body = cred_get(h, "/readyz")
    assert code == 503 and "tickets" in body, (code, body)
    assert "etcd out of reach" in json.loads(body)["degraded"][0], body
    assert re.search(r"audit: credential_file tickets/0.key by .* expired",
                     h.text())
    # The files stay where they are (nothing is deleted), and the fleet
    # serves again once quorum is back.
    assert keys(h) is not None
    c.restart(c.members[1])
    c.restart(c.members[2])
    wait_for(lambda: cred_get(h, "/v1/credentials/tickets/0.key")[0] == 200,
             timeout=30, what="the secret served again")


SIGNER_EXTRA = """
[signer "fleetsigner"]
issuer = https://fleet.test

[listen]
unix = %(sock)s
tcp = 127.0.0.1:%(port)d

[client "me"]
user = %(uid)d
token_audiences = api

[route "api"]
prefix = /api/
issuer = fleetsigner
"""


def test_tokens_verified_fleet_wide(etcd_cluster, tmpdir_short, request):
    """A token one host's signer mints is accepted by every other host:
    each publishes its signer keys to the fleet and verifies with the
    union (its own JWKS endpoint serves the union too)."""
    import urllib.request
    from conftest import free_port
    c = etcd_cluster()
    fl = Fleet(tmpdir_short, c, 2)
    ports = []
    for h in fl.hosts:
        port = free_port()
        ports.append(port)
        with open(h.cfg, "a") as f:
            f.write(SIGNER_EXTRA % {"sock": os.path.join(h.out, "api.sock"),
                                    "port": port, "uid": os.getuid()})
    fl.start()
    try:
        wait_for(lambda: all(os.path.exists(os.path.join(h.out, "api.sock"))
                             for h in fl.hosts), what="api sockets")
        p = subprocess.run(
            ["curl", "-s", "--unix-socket",
             os.path.join(fl.hosts[0].out, "api.sock"), "-H",
             "Rotatord-Request: 1", "--data",
             "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3A"
             "token-exchange&audience=api", "http://x/v1/token"],
            capture_output=True, text=True)
        tok = json.loads(p.stdout)["access_token"]

        def authz(port):
            req = urllib.request.Request(
                "http://127.0.0.1:%d/v1/authz" % port,
                headers={"Rotatord-Request": "1",
                         "Authorization": "Bearer " + tok,
                         "X-Original-URI": "/api/x",
                         "X-Original-Method": "GET"})
            try:
                with urllib.request.urlopen(req, timeout=5) as r:
                    return r.status, r.headers.get("X-Auth-Subject")
            except urllib.error.HTTPError as e:
                return e.code, None
        assert authz(ports[0]) == (200, "unix:uid:%d" % os.getuid())
        # The other host: accepted with host 0's keys from the fleet.
        wait_for(lambda: authz(ports[1])[0] == 200, timeout=10,
                 what="host 1 to accept host 0's token")
        assert authz(ports[1]) == (200, "unix:uid:%d" % os.getuid())
        kid = json.loads(subprocess.run(
            ["curl", "-s", "http://127.0.0.1:%d/v1/jwks" % ports[0]],
            capture_output=True, text=True).stdout)["keys"][0]["kid"]
        jwks1 = json.loads(subprocess.run(
            ["curl", "-s", "http://127.0.0.1:%d/v1/jwks" % ports[1]],
            capture_output=True, text=True).stdout)
        assert kid in [k["kid"] for k in jwks1["keys"]]
        assert len(jwks1["keys"]) == 2
        # The published jwks.json too, for verifiers that read the file
        # (written once a burst of fleet changes has settled).
        def file_kids():
            with open(fl.hosts[1].path("fleetsigner", "jwks.json")) as f:
                return [k["kid"] for k in json.load(f)["keys"]]
        wait_for(lambda: kid in file_kids(), timeout=10,
                 what="host 0's key in host 1's jwks.json")
        assert c.keys("/rotatord/pub/") == [
            "/rotatord/pub/host0/jwks/fleetsigner",
        "/rotatord/pub/host1/jwks/fleetsigner"]
        # A forged token with host 0's kid is still refused on host 1.
        forged = tok[:-4] + ("AAAA" if not tok.endswith("AAAA") else "BBBB")
        tok, good = forged, tok
        assert authz(ports[1])[0] == 401
        # Host 0 goes away for good: its keys stay until they expire.
        fl.hosts[0].stop()
        tok = good
        time.sleep(1)
        assert authz(ports[1])[0] == 200
    finally:
        fl.stop()


CA_EXTRA = """
[ca "fleetca"]

[credential "web"]
type = x509
ca = fleetca
dns = web.test
lifetime = 1h
"""


def test_ca_certificates_shared(etcd_cluster, tmpdir_short):
    """Every host's ca.pem holds the certificates of every host's CA of
    the same name, so a leaf minted on one host verifies on every other
    (and its own leaves are minted again when the set changes)."""
    c = etcd_cluster()
    fl = Fleet(tmpdir_short, c, 2)
    for h in fl.hosts:
        with open(h.cfg, "a") as f:
            f.write(CA_EXTRA)
    fl.start()
    try:
        def cas(h):
            try:
                with open(h.path("web", "ca.pem")) as f:
                    return f.read().count("BEGIN CERTIFICATE")
            except FileNotFoundError:
                return 0
        wait_for(lambda: all(cas(h) == 2 for h in fl.hosts), timeout=15,
                 what="both CAs in every ca.pem")
        own = [open(h.path("web", "cert.pem")).read() for h in fl.hosts]
        assert own[0] != own[1]
        for i, h in enumerate(fl.hosts):
            other = fl.hosts[1 - i]
            p = subprocess.run(["openssl", "verify", "-CAfile",
                                other.path("web", "ca.pem"),
                                h.path("web", "cert.pem")],
                               capture_output=True, text=True)
            assert p.returncode == 0, p.stdout + p.stderr
        assert sorted(c.keys("/rotatord/pub/")) == [
            "/rotatord/pub/host0/ca/fleetca", "/rotatord/pub/host1/ca/fleetca"]
        # Each CA once, however often the documents are read again.
        fl.hosts[0].signal(signal.SIGHUP)
        time.sleep(1)
        assert all(cas(h) == 2 for h in fl.hosts)
    finally:
        fl.stop()


def test_mutual_tls_to_etcd(etcd_cluster, tmpdir_short):
    """etcd with --client-cert-auth over https: hosts with the CA and a
    client certificate join; a host without a client certificate, or one
    that does not trust etcd's CA, is refused and keeps its files."""
    c = etcd_cluster(n=1, tls=True)
    t = c.tls
    fl = Fleet(tmpdir_short, c, 3)
    extra = ["ca_file = %s\nclient_cert = %s\nclient_key = %s\n" % (
        t["ca"], t["client"], t["client-key"]),
        "ca_file = %s\nclient_cert = %s\nclient_key = %s\n" % (
        t["ca"], t["client"], t["client-key"]),
        # The third trusts etcd's CA but has no certificate of its own.
        "ca_file = %s\n" % t["ca"]]
    for h, e in zip(fl.hosts, extra):
        with open(h.cfg) as f:
            body = f.read()
        with open(h.cfg, "w") as f:
            f.write(body.replace("[cluster]\n", "[cluster]\n" + e, 1))
    fl.start()
    try:
        wait_for(lambda: same_keys(fl.hosts[:2]), timeout=20,
                 what="the two hosts with certificates to share keys")
        wait_for(lambda: "cannot get a lease" in fl.hosts[2].text(),
                 timeout=10, what="the host without a certificate refused")
        assert keys(fl.hosts[2]) is None
        assert fl.hosts[2].proc.poll() is None
        assert sorted(c.keys("/rotatord/hosts/")) == [
            "/rotatord/hosts/host0", "/rotatord/hosts/host1"]
    finally:
        fl.stop()
    # A host that does not trust etcd's CA (the system store): refused.
    r = fl.hosts[1]
    with open(r.cfg) as f:
        body = f.read()
    with open(r.cfg, "w") as f:
        f.write(body.replace("ca_file = %s\n" % t["ca"], "", 1))
    r.start(wait_ready=False)
    try:
        wait_for(lambda: "certificate" in r.text().split("joining")[-1] or
                 "SSL" in r.text().split("joining")[-1], timeout=10,
                 what="a TLS verification failure")
    finally:
        r.stop(signal.SIGKILL)
