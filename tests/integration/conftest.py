# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures for the integration tests: they run the real rotatord
binary (and real nginx) on 127.0.0.1, on free ports, in temporary
directories, and stop everything they started."""
import json
import os
import signal
import signal as sigmod
import socket
import subprocess
import tempfile
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("B", "build")
ROTATORD = os.path.join(ROOT, BUILD, "rotatord")


_ports_given = set()


def free_port():
    """A port free on 127.0.0.1 now, never one this run handed out before
    (the kernel may give a just-closed port again: two members of one etcd
    cluster would then race for it)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _ports_given:
            _ports_given.add(port)
            return port
    raise RuntimeError("no fresh free port")


def wait_for(pred, timeout=10.0, step=0.05, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError("timed out waiting for " + what)


class Rotatord:
    """One rotatord process on a config written into its own directory."""

    def __init__(self, tmp, body, name="rotatord.ini"):
        self.dir = tmp
        self.out = os.path.join(tmp, "out")
        self.state = os.path.join(tmp, "state")
        self.cfg = os.path.join(tmp, name)
        self.log = os.path.join(tmp, "rotatord.log")
        self.proc = None
        self.write_config(body)

    def write_config(self, body):
        head = "[rotatord]\noutput_dir = %s\nstate_dir = %s\n" % (
            self.out, self.state)
        with open(self.cfg, "w") as f:
            f.write(body if body.lstrip().startswith("[rotatord]") else head + body)

    def start(self, *args, wait_ready=True):
        self.mark = self.text().count("ready: ")
        self.logf = open(self.log, "ab")
        env = dict(os.environ)
        self.proc = subprocess.Popen([ROTATORD, "-c", self.cfg] + list(args),
                                     stdout=self.logf, stderr=self.logf,
                                     env=env)
        if wait_ready:
            wait_for(lambda: self.proc.poll() is not None or self.ready(),
                     timeout=30, what="rotatord to publish")
            assert self.proc.poll() is None, self.text()
        return self

    def ready(self):
        # The first pass over every credential ends with this line.
        return self.text().count("ready: ") > getattr(self, "mark", 0)

    def run(self, *args, timeout=60):
        return subprocess.run([ROTATORD, "-c", self.cfg] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=timeout)

    def text(self):
        try:
            with open(self.log, "r", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=sigmod.SIGTERM):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        if getattr(self, "logf", None):
            self.logf.close()
        return rc

    def meta(self, cred):
        with open(os.path.join(self.out, cred, "..data", "meta.json")) as f:
            return json.load(f)

    def path(self, cred, name):
        return os.path.join(self.out, cred, name)


# ---- The fault suite's table ----------------------------------------------
#
# Tests that inject faults (kills, outages, abuse, etcd loss, full disks)
# record one row each through the fault_row fixture: the load held, the
# faults injected and survived, anything lost, and the figures measured.
# The rows are printed as one table at the end of the run, also for a test
# that failed (it records its row before it asserts).  Figures are
# reported, never asserted.  FAULTS_SCALE=full (make faults) runs the
# sizes of the issue (1,000 publishes, 1,000 rotations under 50 TLS
# clients); the default, check, runs sizes that fit in make check.

FAULTS_SCALE = os.environ.get("FAULTS_SCALE", "check")
_fault_rows = []


def fault_scale(check, full):
    """The size of a fault run: check (make check) or full (make faults)."""
    return full if FAULTS_SCALE == "full" else check


@pytest.fixture
def fault_row(request):
    def add(fault, load, injected, survived, lost, figures=""):
        _fault_rows.append((fault, str(load), str(injected), str(survived),
                            str(lost), str(figures), request.node.name))
    return add


def pytest_terminal_summary(terminalreporter):
    if not _fault_rows:
        return
    tr = terminalreporter
    head = ("fault", "load held", "injected", "survived", "lost",
            "figures")
    rows = [r[:6] for r in _fault_rows]
    w = [max(len(h), *(len(r[i]) for r in rows)) for i, h in
         enumerate(head)]
    tr.write_sep("=", "fault suite (scale %s)" % FAULTS_SCALE)
    line = lambda r: "  ".join(c.ljust(w[i]) for i, c in enumerate(r))
    tr.write_line(line(head).rstrip())
    tr.write_line("  ".join("-" * n for n in w))
    for r in rows:
        tr.write_line(line(r).rstrip())


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # item.rep_call tells a fixture's teardown whether the test failed.
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def tmpdir_short():
    # Short paths: unix socket and nginx limits, and tmpfs when available.
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    d = tempfile.mkdtemp(prefix="rtd-", dir=base)
    # Tests run clients as other users (setpriv): they must reach the socket.
    os.chmod(d, 0o711)
    yield d
    subprocess.run(["rm", "-rf", d])


@pytest.fixture
def rotatord(tmpdir_short):
    made = []

    def make(body, **kw):
        r = Rotatord(tmpdir_short, body, **kw)
        made.append(r)
        return r
    yield make
    for r in made:
        r.stop(signal.SIGKILL)


class Nginx:
    """A real nginx on a free 127.0.0.1 port serving TLS from bundle.pem."""

    def __init__(self, tmp, bundle, server_name="localhost"):
        self.dir = os.path.join(tmp, "nginx")
        os.makedirs(os.path.join(self.dir, "logs"), exist_ok=True)
        self.port = free_port()
        self.pidfile = os.path.join(self.dir, "nginx.pid")
        self.errlog = os.path.join(self.dir, "logs", "error.log")
        conf = """
worker_processes 1;
daemon on;
master_process on;
pid %(d)s/nginx.pid;
error_log %(d)s/logs/error.log notice;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %(d)s/tmp_body;
    proxy_temp_path %(d)s/tmp_proxy;
    fastcgi_temp_path %(d)s/tmp_fcgi;
    uwsgi_temp_path %(d)s/tmp_uwsgi;
    scgi_temp_path %(d)s/tmp_scgi;
    ssl_session_cache off;
    ssl_session_tickets off;
    server {
        listen 127.0.0.1:%(port)d ssl;
        server_name %(sn)s;
        ssl_certificate %(b)s;
        ssl_certificate_key %(b)s;
        location / { return 200 "ok\\n"; }
    }
}
""" % {"d": self.dir, "port": self.port, "b": bundle, "sn": server_name}
        self.conf = os.path.join(self.dir, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(conf)

    def start(self):
        subprocess.run(["nginx", "-p", self.dir, "-c", self.conf], check=True)
        wait_for(lambda: os.path.exists(self.pidfile), what="nginx pid")
        return self

    def pid(self):
        with open(self.pidfile) as f:
            return int(f.read().strip())

    def reloads(self):
        with open(self.errlog, errors="replace") as f:
            return f.read().count("signal 1 (SIGHUP) received")

    def stop(self):
        try:
            os.kill(self.pid(), signal.SIGQUIT)
        except (FileNotFoundError, ProcessLookupError, ValueError):
            return
        try:
            wait_for(lambda: not os.path.exists(self.pidfile), timeout=10,
                     what="nginx to stop")
        except AssertionError:
            os.kill(self.pid(), signal.SIGKILL)


@pytest.fixture
def nginx(tmpdir_short):
    made = []

    def make(bundle, **kw):
        n = Nginx(tmpdir_short, bundle, **kw)
        made.append(n)
        return n
    yield make
    for n in made:
        n.stop()
