# SPDX-License-Identifier: Apache-2.0
"""One host at scale, for run.py (--only scale): N credentials (mostly
small secrets and JWTs, some certificates) on tmpfs.  Measures the first
start to ready, RSS at ready, idle CPU after ready, and a restart to
ready, which must re-mint nothing (every credential is fresh); then a
thundering herd: every credential minted at once with a 90 s lifetime,
so all are due again within the same minute, spread by jitter, and none
may miss its deadline.  Figures are reported, never asserted; the
restart has the target of README.md, Performance."""
import json
import os
import signal
import subprocess
import tempfile
import time

RESTART_TARGET_S = 2.0


def write_config(d, n_secret, n_jwt, n_x509, lifetime=None):
    """lifetime: one for every credential (the herd), else their usual."""
    lines = ["[rotatord]", "output_dir = %s/out" % d,
             "state_dir = %s/state" % d, "", '[ca "local"]', "",
             '[signer "local"]', "issuer = https://rotatord.bench.example", ""]
    for i in range(n_x509):
        lines += ['[credential "web%d"]' % i, "type = x509", "ca = local",
                  "dns = web%d.bench.example" % i,
                  "lifetime = %s" % (lifetime or "24h"), ""]
    for i in range(n_jwt):
        lines += ['[credential "tok%d"]' % i, "type = jwt", "signer = local",
                  "subject = svc%d" % i, "audience = demo",
                  "lifetime = %s" % (lifetime or "1h"), ""]
    for i in range(n_secret):
        lines += ['[credential "sec%d"]' % i, "type = secret", "bytes = 32"]
        lines += ["lifetime = %s" % lifetime, ""] if lifetime else [""]
    path = os.path.join(d, "rotatord.ini")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        v = f.read().rsplit(")", 1)[1].split()
    return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def stop(p):
    """SIGTERM, and SIGKILL when it does not end within 30 s."""
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def wait_ready(p, log_path, t0, timeout, poll_s):
    """Waits for rotatord's "ready: " line.  The log is read from where
    the last look ended (at 100,000 credentials it is megabytes: reading
    it whole at every poll would take a core from the daemon)."""
    pos, tail = 0, b""
    while True:
        if p.poll() is not None:
            with open(log_path, errors="replace") as f:
                raise RuntimeError("rotatord exited %d: %s" % (
                    p.returncode, f.read()[-1500:]))
        with open(log_path, "rb") as f:
            f.seek(pos)
            chunk = f.read()
        pos += len(chunk)
        if b"ready: " in tail + chunk:
            return
        tail = chunk[-16:] if chunk else tail
        if time.monotonic() - t0 > timeout:
            raise RuntimeError("not ready within %d s" % timeout)
        time.sleep(poll_s)


def run_once(rotatord, cfg, log_path, timeout, idle_s):
    """Starts rotatord until ready; returns (seconds to ready, RSS MiB,
    idle CPU share of one core over idle_s, published lines)."""
    with open(log_path, "wb") as log:
        t0 = time.monotonic()
        p = subprocess.Popen([rotatord, "-c", cfg], stdin=subprocess.DEVNULL,
                             stdout=log, stderr=log)
    try:
        wait_ready(p, log_path, t0, timeout, 0.01)
        ready = time.monotonic() - t0
        rss = rss_mib(p.pid)
        c0, w0 = cpu_s(p.pid), time.monotonic()
        time.sleep(idle_s)
        idle = (cpu_s(p.pid) - c0) / (time.monotonic() - w0)
    finally:
        stop(p)
    with open(log_path, errors="replace") as f:
        published = f.read().count(": published generation ")
    return ready, rss, idle, published


def metas(out, names=None):
    """{credential: (generation, issued_at, renew_at, not_after)} of the
    credentials named (default: every directory with a meta.json)."""
    res = {}
    for name in names if names is not None else os.listdir(out):
        try:
            with open(os.path.join(out, name, "..data", "meta.json")) as f:
                m = json.load(f)
        except (OSError, ValueError):
            continue
        res[name] = (m["generation"], m["issued_at"], m["renew_at"],
                     m["not_after"])
    return res


def herd(rotatord, n_secret, n_jwt, n_x509, lifetime_s=90):
    """Every credential minted at the first start and due again within
    the same minute (renew_at 2/3, jitter 10 %): returns (spread of the
    renewals in s, lateness p50/p99/max in s, missed deadlines)."""
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix="rotatord-herd.", dir=base) as d:
        cfg = write_config(d, n_secret, n_jwt, n_x509, "%ds" % lifetime_s)
        log_path = os.path.join(d, "stderr.log")
        with open(log_path, "wb") as log:
            p = subprocess.Popen([rotatord, "-c", cfg],
                                 stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=log)
        try:
            wait_ready(p, log_path, time.monotonic(), 300, 0.05)
            out = os.path.join(d, "out")
            names = ["web%d" % i for i in range(n_x509)] + \
                ["tok%d" % i for i in range(n_jwt)] + \
                ["sec%d" % i for i in range(n_secret)]
            before = metas(out, names)
            last_deadline = max(v[3] for v in before.values())
            # The first renewal of each: a newer generation's issued_at,
            # seen by polling (each pass is well under the 60 s between
            # two renewals of one credential).
            first = {}
            while len(first) < len(before) and time.time() < \
                    last_deadline + 2:
                left = [c for c in before if c not in first]
                for c, v in metas(out, left).items():
                    if v[0] > before[c][0]:
                        first[c] = v[1]
                time.sleep(1)
        finally:
            stop(p)
    late, missed, renewed = [], 0, []
    for c, (g, _, renew, exp) in before.items():
        issued = first.get(c)
        if issued is None or issued >= exp:
            missed += 1
            continue
        renewed.append(issued)
        late.append(max(0, issued - renew))
    late.sort()
    q = (lambda f: late[min(len(late) - 1, int(f * len(late)))]
         if late else float("nan"))
    spread = max(renewed) - min(renewed) if renewed else 0
    return spread, (q(0.5), q(0.99), q(1.0)), missed, len(before)


def scale_bench(rotatord, n=100000, n_x509=1000, n_jwt=10000, idle_s=5,
                with_herd=True):
    """Returns printable lines for the one-host rows."""
    n_secret = n - n_x509 - n_jwt
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix="rotatord-scale.", dir=base) as d:
        cfg = write_config(d, n_secret, n_jwt, n_x509)
        log = os.path.join(d, "stderr.log")
        first = run_once(rotatord, cfg, log, 300, idle_s)
        again = run_once(rotatord, cfg, log, 300, idle_s)
    what = "%d credentials (%d secret, %d jwt, %d x509)" % (
        n, n_secret, n_jwt, n_x509)
    w = 46
    out = ["one host at scale: %s, tmpfs:" % what]
    fmt = "  %-*s %12s %8s  %s"
    out.append(fmt % (w, "first start -> ready (mints all)",
                      "%.2f s" % first[0], "-", "INFO"))
    out.append(fmt % (w, "RSS at ready", "%.1f MiB" % again[1], "-", "INFO"))
    out.append(fmt % (w, "idle CPU after ready (one core)",
                      "%.1f %%" % (100 * again[2]), "-", "INFO"))
    ok = again[0] < RESTART_TARGET_S
    out.append(fmt % (w, "restart -> ready, nothing re-minted",
                      "%.2f s" % again[0], "<%.0f s" % RESTART_TARGET_S,
                      "PASS" if ok else "BELOW"))
    out.append(fmt % (w, "credentials re-minted by the restart",
                      "%d" % again[3], "0",
                      "PASS" if again[3] == 0 else "FAIL"))
    if with_herd:
        spread, late, missed, total = herd(rotatord, n_secret, n_jwt, n_x509)
        out.append(fmt % (w, "herd: all due in one minute, renewals spread",
                          "%d s" % spread, "-", "INFO"))
        out.append(fmt % (w, "herd: renewal late vs renew_at p50/p99/max",
                          "%d/%d/%d s" % late, "-", "INFO"))
        out.append(fmt % (w, "herd: deadlines missed (of %d)" % total,
                          "%d" % missed, "0",
                          "PASS" if missed == 0 else "FAIL"))
    return out
