#!/usr/bin/python3
"""make bench: rotatord's hot paths beside bare baselines (DESIGN.md 11).

Each pair runs interleaved (ours, baseline, ours, baseline, ...) at least
five times; the table shows medians and the ratio of the medians.  The box
is shared and noisy (reference/perf-anchors.md): only ratios from one run
mean anything.  This is a benchmark, not a test: a ratio below its target
is reported, never turned into a failing exit status.  Only a crash of a
measured program is.
"""

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

OPENSSL_RE = re.compile(
    r"^\s*256 bits ecdsa \(nistp256\)\s+\S+s\s+\S+s\s+([\d.]+)\s+([\d.]+)\s*$",
    re.M)


class Crash(Exception):
    pass


def bench(binary, mode, secs):
    p = subprocess.run([binary, mode, str(secs)], capture_output=True,
                       text=True)
    if p.returncode != 0:
        raise Crash("%s %s exited %d: %s" % (binary, mode, p.returncode,
                                            p.stderr.strip()))
    return float(p.stdout.split()[-1])


def openssl_speed(secs):
    """Returns (sign/s, verify/s) of `openssl speed -seconds N ecdsap256`."""
    p = subprocess.run(["openssl", "speed", "-seconds", str(secs),
                        "ecdsap256"], capture_output=True, text=True)
    m = OPENSSL_RE.search(p.stdout)
    if p.returncode != 0 or m is None:
        raise Crash("openssl speed failed (%d): %s" % (
            p.returncode, (p.stdout + p.stderr)[-500:]))
    return float(m.group(1)), float(m.group(2))


class Row:
    """One ours-vs-baseline pair; target is the minimum ratio of medians."""

    def __init__(self, name, target):
        self.name = name
        self.target = target
        self.ours = []
        self.base = []

    def ratio(self):
        if not self.ours or not self.base:
            return None
        return statistics.median(self.ours) / statistics.median(self.base)


def fmt_rate(v):
    return "%.0f" % v if v >= 100 else "%.1f" % v


def spread(vals):
    return "%s..%s" % (fmt_rate(min(vals)), fmt_rate(max(vals)))


# ---- idle RSS -------------------------------------------------------------

def write_config(d, n_secret, n_x509, n_jwt):
    lines = [
        "[rotatord]",
        "output_dir = %s/out" % d,
        "state_dir = %s/state" % d,
        "log_level = notice",
        "",
        '[ca "local"]',
        "",
        '[signer "local"]',
        "issuer = https://rotatord.bench.example",
        "",
    ]
    for i in range(n_x509):
        lines += ['[credential "web%d"]' % i, "type = x509", "ca = local",
                  "dns = web%d.bench.example" % i, "ip = 127.0.0.1",
                  "uri = spiffe://bench.example/web%d" % i,
                  "lifetime = 24h", ""]
    for i in range(n_jwt):
        lines += ['[credential "tok%d"]' % i, "type = jwt", "signer = local",
                  "subject = spiffe://bench.example/svc%d" % i,
                  "audience = demo", "lifetime = 1h", ""]
    for i in range(n_secret):
        lines += ['[credential "sec%d"]' % i, "type = secret", "bytes = 32",
                  "keep = 2", ""]
    path = os.path.join(d, "rotatord.ini")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def measure_rss(rotatord, n_secret, n_x509, n_jwt, timeout):
    """Starts rotatord, waits for "ready: ", sleeps 1 s, reads VmRSS (KiB).

    Returns (rss_kib, startup_seconds), or (None, seconds) when it was not
    ready within timeout."""
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix="rotatord-rss.", dir=base) as d:
        cfg = write_config(d, n_secret, n_x509, n_jwt)
        log_path = os.path.join(d, "stderr.log")
        with open(log_path, "wb") as log:
            t0 = time.monotonic()
            proc = subprocess.Popen([rotatord, "-c", cfg], stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=log)
        rss = None
        try:
            ready = False
            while time.monotonic() - t0 < timeout:
                if proc.poll() is not None:
                    with open(log_path, errors="replace") as f:
                        tail = f.read()[-2000:]
                    raise Crash("rotatord exited %d before ready: %s" % (
                        proc.returncode, tail))
                with open(log_path, "rb") as f:
                    if b"ready: " in f.read():
                        ready = True
                        break
                time.sleep(0.02)
            startup = time.monotonic() - t0
            if ready:
                time.sleep(1.0)
                with open("/proc/%d/status" % proc.pid) as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            rss = int(line.split()[1])
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        return rss, startup


# ---- main -----------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", default="build/bench")
    ap.add_argument("--rotatord", default="build/rotatord")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--secs", type=float, default=1.0)
    ap.add_argument("--openssl-secs", type=int, default=2)
    ap.add_argument("--many", type=int, default=10000,
                    help="credentials for the large RSS run")
    ap.add_argument("--only", default="jwt,x509,publish,rss")
    args = ap.parse_args()
    reps = max(5, args.reps)
    only = set(args.only.split(","))
    b, secs = args.bench, args.secs

    mint = Row("ES256 JWT mint (mint_jwt) vs openssl sign", 0.85)
    verify = Row("JWT verify, cached JWKS vs openssl verify", 0.90)
    x509 = Row("X.509 mint (mint_x509) vs bare OpenSSL", 0.80)
    pub = Row("publish x509 generation, tmpfs vs bare", 0.80)
    rows = []
    notes = []
    t_start = time.monotonic()
    try:
        if "jwt" in only:
            print("bench: JWT mint / openssl speed / JWT verify, %d reps"
                  % reps, flush=True)
            for _ in range(reps):
                mint.ours.append(bench(b, "jwt-mint", secs))
                s, v = openssl_speed(args.openssl_secs)
                mint.base.append(s)
                verify.base.append(v)
                verify.ours.append(bench(b, "jwt-verify", secs))
            rows += [mint, verify]
        if "x509" in only:
            print("bench: x509 mint / bare, %d reps" % (reps + 2), flush=True)
            for _ in range(reps + 2):
                x509.ours.append(bench(b, "x509-mint", secs))
                x509.base.append(bench(b, "x509-bare", secs))
            rows.append(x509)
        if "publish" in only:
            print("bench: publish / bare, %d reps" % (reps + 2), flush=True)
            for _ in range(reps + 2):
                pub.ours.append(bench(b, "publish", secs))
                pub.base.append(bench(b, "publish-bare", secs))
            rows.append(pub)
        rss_rows = []
        if "rss" in only:
            print("bench: rotatord idle RSS", flush=True)
            rss, t = measure_rss(args.rotatord, 1, 1, 1, 30)
            rss_rows.append(("idle RSS, 1 CA, 1 signer, 3 credentials",
                             rss, t, 8))
            n = args.many
            n_x509 = min(100, n // 10)
            why = None
            try:
                rss, t = measure_rss(args.rotatord, n - n_x509, n_x509, 0,
                                     60)
                if rss is None:
                    why = "not ready within 60 s"
            except Crash as e:
                if n <= 1000 or "too many sections" not in str(e):
                    raise
                why = re.sub(r"^.*?:\d+: ", "", str(e).strip().splitlines()[-1])
            if why is not None and n > 1000:
                notes.append("%d credentials: %s; measured 1000 instead"
                             % (n, why))
                print("bench: %s" % notes[-1], flush=True)
                n, n_x509 = 1000, 100
                rss, t = measure_rss(args.rotatord, n - n_x509, n_x509, 0, 60)
            rss_rows.append(("idle RSS, %d credentials (%d secret, %d x509)"
                             % (n, n - n_x509, n_x509), rss, t,
                             64 if n >= 10000 else None))
    except Crash as e:
        print("bench: CRASH: %s" % e, file=sys.stderr)
        return 1

    print()
    print("rotatord bench, %s, %d CPUs, medians of interleaved reps"
          % (os.uname().release, os.cpu_count()))
    w = 46
    print("%-*s %10s %11s %7s %7s  %s" % (w, "row", "ours/s", "baseline/s",
                                          "ratio", "target", "result"))
    print("-" * (w + 48))
    for r in rows:
        ratio = r.ratio()
        ok = ratio >= r.target
        print("%-*s %10s %11s %7.3f %7s  %s" % (
            w, r.name, fmt_rate(statistics.median(r.ours)),
            fmt_rate(statistics.median(r.base)), ratio,
            ">=%.2f" % r.target, "PASS" if ok else "BELOW"))
    for name, rss, t, target in rss_rows:
        if rss is None:
            print("%-*s %10s %11s %7s %7s  %s" % (w, name, "not ready", "-",
                                                  "-", "-", "BELOW"))
            continue
        mib = rss / 1024.0
        if target is None:
            res, tg = "INFO", "-"
        else:
            res, tg = ("PASS" if mib < target else "BELOW"), "<%dMiB" % target
        print("%-*s %10s %11s %7s %7s  %s" % (
            w, name, "%.1f MiB" % mib, "-", "-", tg, res))
    print()
    print("per-rep ops/s (min..max), ours | baseline:")
    for r in rows:
        print("  %-44s %s | %s  ratios %s" % (
            r.name, spread(r.ours), spread(r.base),
            " ".join("%.2f" % (o / bb) for o, bb in zip(r.ours, r.base))))
    for name, rss, t, target in rss_rows:
        print("  %-44s startup to \"ready\" %.2f s" % (name, t))
    for n in notes:
        print("  note: %s" % n)
    print("bench: total %.0f s" % (time.monotonic() - t_start))
    return 0


if __name__ == "__main__":
    sys.exit(main())
