# SPDX-License-Identifier: Apache-2.0
"""One host at scale, for run.py (--only scale): N credentials (mostly
small secrets and JWTs, some certificates) on tmpfs.  Measures the first
start to ready, RSS at ready, idle CPU after ready, and a restart to
ready, which must re-mint nothing (every credential is fresh).  Figures
are reported, never asserted; the restart has the target of README.md,
Performance."""
import os
import signal
import subprocess
import tempfile
import time

RESTART_TARGET_S = 2.0


def write_config(d, n_secret, n_jwt, n_x509):
    lines = ["[rotatord]", "output_dir = %s/out" % d,
             "state_dir = %s/state" % d, "", '[ca "local"]', "",
             '[signer "local"]', "issuer = https://rotatord.bench.example", ""]
    for i in range(n_x509):
        lines += ['[credential "web%d"]' % i, "type = x509", "ca = local",
                  "dns = web%d.bench.example" % i, "lifetime = 24h", ""]
    for i in range(n_jwt):
        lines += ['[credential "tok%d"]' % i, "type = jwt", "signer = local",
                  "subject = svc%d" % i, "audience = demo", "lifetime = 1h",
                  ""]
    for i in range(n_secret):
        lines += ['[credential "sec%d"]' % i, "type = secret", "bytes = 32",
                  ""]
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


def run_once(rotatord, cfg, log_path, timeout, idle_s):
    """Starts rotatord until ready; returns (seconds to ready, RSS MiB,
    idle CPU share of one core over idle_s, published lines)."""
    with open(log_path, "wb") as log:
        t0 = time.monotonic()
        p = subprocess.Popen([rotatord, "-c", cfg], stdin=subprocess.DEVNULL,
                             stdout=log, stderr=log)
    try:
        while True:
            if p.poll() is not None:
                with open(log_path, errors="replace") as f:
                    raise RuntimeError("rotatord exited %d: %s" % (
                        p.returncode, f.read()[-1500:]))
            with open(log_path, "rb") as f:
                if b"ready: " in f.read():
                    break
            if time.monotonic() - t0 > timeout:
                raise RuntimeError("not ready within %d s" % timeout)
            time.sleep(0.01)
        ready = time.monotonic() - t0
        rss = rss_mib(p.pid)
        c0, w0 = cpu_s(p.pid), time.monotonic()
        time.sleep(idle_s)
        idle = (cpu_s(p.pid) - c0) / (time.monotonic() - w0)
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    with open(log_path, errors="replace") as f:
        published = f.read().count(": published generation ")
    return ready, rss, idle, published


def scale_bench(rotatord, n=100000, n_x509=1000, n_jwt=10000, idle_s=5):
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
    return out
