# SPDX-License-Identifier: Apache-2.0
"""The fleet's figures for make bench (anchors-reliability T11/T12, as
measurements, not tests): three rotatord hosts on a real 3-member etcd on
127.0.0.1.  Reported: the time from `rotatorctl rotate --fleet` on one
host until every host encrypts with the new key (both phases: accepted
everywhere, then promoted), and from a SIGKILL of the leader until
another host leads.  Uses the integration tests' etcd and host helpers."""
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))


def fleet_bench(rotatord, reps):
    """Returns ({"rotate": [ms...], "failover": [ms...]}, notes)."""
    os.environ.setdefault("B", os.path.dirname(rotatord) or "build")
    import conftest
    conftest.ROTATORD = os.path.abspath(rotatord)
    from etcd import ETCD, EtcdCluster
    import test_fleet as tf
    if ETCD is None:
        return None, ["fleet rows skipped: etcd not found"]
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    out = {"rotate": [], "failover": []}
    with tempfile.TemporaryDirectory(prefix="rotatord-fleet.", dir=base) as d:
        c = EtcdCluster(d).start()
        fl = tf.Fleet(d, c, 3, lifetime="1h")
        try:
            fl.start()
            conftest.wait_for(lambda: tf.same_keys(fl.hosts), timeout=30,
                              what="fleet keys")
            ctl = os.path.join(os.path.dirname(conftest.ROTATORD),
                               "rotatorctl")
            for _ in range(reps):
                first = tf.keys(fl.hosts[0])[0]
                t0 = time.monotonic()
                subprocess.run([ctl, "-s", os.path.join(fl.hosts[1].out,
                                "api.sock"), "rotate", "--fleet",
                                "tickets"], check=True,
                               capture_output=True)
                conftest.wait_for(
                    lambda: all(tf.keys(h) and tf.keys(h)[0] != first
                                for h in fl.hosts) and
                    tf.same_keys(fl.hosts), timeout=30, step=0.002,
                    what="the new key everywhere")
                out["rotate"].append((time.monotonic() - t0) * 1000)
                time.sleep(0.2)
            for _ in range(min(reps, 3)):
                leader = conftest.wait_for(lambda: tf.leaders(fl),
                                           timeout=30, what="a leader")[0]
                t0 = time.monotonic()
                leader.stop(signal.SIGKILL)
                conftest.wait_for(lambda: tf.leaders(fl), timeout=30,
                                  step=0.01, what="a new leader")
                out["failover"].append((time.monotonic() - t0) * 1000)
                leader.start(wait_ready=False)
                conftest.wait_for(lambda: tf.same_keys(fl.hosts),
                                  timeout=30, what="catch up")
        finally:
            fl.stop()
            c.stop()
    return out, ["fleet: 3 hosts, 3-member etcd, lease_ttl 3s; failover "
                 "includes the dead leader's lease running out"]
