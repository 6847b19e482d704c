#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""An explicit-state model of the fleet rollout (rotatord/fleet/), checked
exhaustively for small sizes.

What is modelled is the protocol fleet/ implements, one fleet secret:

  etcd      one secret record (gen, encrypting key, accepted keys,
            promoted) with its mod revision; the leader key with its create
            revision; one acknowledgement per host; stale marks; rotate
            requests and their done marks.  A transaction is atomic.
  leader    mints a new key (accept-only: the old key still encrypts), and
            promotes it once every counted host acknowledged exactly that
            generation; counted hosts are the live ones not marked stale.
            Every write is fenced on the leader key's create revision and is
            a compare-and-swap on the secret's mod revision (or absence); a
            lost race re-reads.  The leader applies its own write when etcd
            took it.  After ack_timeout it may mark a silent host stale and
            go on without it; it clears the mark when that host acknowledged
            the current generation.  A forced rotation is a request with an
            id; the leader that serves it marks it done in the same
            transaction.  New generations are numbered above etcd's and the
            leader's own persisted mark.
  hosts     get the secret's versions through a watch that may lose
            events, deliver one twice, or replay an older (authentic)
            record; may re-read etcd at any time; may crash and restart
            (state_dir keeps the highest accepted generation and its
            fingerprint; a host refuses anything older, or another key under
            the same number).
  leases    the leader's lease may expire at any time; another host then
            campaigns.  The old leader may go on believing it leads.

Invariants, checked in every reachable state:

  I1  one key per generation: no generation number is ever written with
      two different key sets (over the whole history);
  I2  two phases: every serving host (alive, has a key, not marked stale)
      encrypts with a key every other serving host accepts;
  I3  no host goes back a generation, also across restarts;
  I4  a forced rotation is applied once, also across leader changes.

The checker must be able to fail: --mutant turns one rule of the design off
(CAS, own-write application, the persisted mark, done-in-the-same-txn, the
wait for acks) and it must then find a violating trace.

Usage: rollout.py [--hosts N] [--requests R] [--faults F] [--mutant M]
Prints the number of states and transitions explored, and exits 1 with the
trace on a violation.
"""
import argparse
import collections
import sys

MUTANTS = ("none", "no-cas", "no-persist", "done-later", "no-wait",
           "clear-unchecked")

# A record: (gen, enc, accept, promoted); accept is the keys newest first
# (the document of fleet/rollout.c: a new key, then the keep before it while
# accept-only; the first keep once promoted), enc one of them (the second
# while accept-only, the first once promoted).  With keep = 1 a promoted
# host accepts only the new key while hosts that have not seen the
# promotion still encrypt with the old one: I2 cannot hold, which is why
# a fleet secret needs keep >= 2 (config.c).  fp() is
# what the fingerprint covers.


def fp(rec):
    return (rec[1], rec[2], rec[3])


class Violation(Exception):
    pass


# State layout (tuples, so a state can be hashed):
#   E = (rev, sec, sec_rev, leader, acks, stale, pending, done, hist, nkey)
#     sec: record or None; sec_rev: its mod revision; leader: (host, crev)
#     or None; acks: per host (gen, fp) or None; stale: frozenset;
#     pending: frozenset of request ids; done: frozenset of (id, gen);
#     hist: sorted tuple of (gen, fp); nkey: next fresh key id;
#     served: request ids a new key was made for (the checker's)
#   H[i] = (alive, view, view_rev, hwm, lead, queue, ghost, synced)
#     view: installed record or None; hwm: persisted (gen, fp) or None;
#     lead: crev this host believes it holds, or None; queue: tuple of
#     (record, rev) still to deliver; ghost: highest gen ever installed
#     (the checker's, not the host's: survives everything); synced: has
#     read the prefix since it started (before that it takes no event,
#     leads nothing and serves nothing)
#   B = (requests, faults) left
E_REV, E_SEC, E_SECREV, E_LEAD, E_ACKS, E_STALE, E_PEND, E_DONE, E_HIST, \
    E_NKEY, E_SERVED = range(11)
H_ALIVE, H_VIEW, H_VREV, H_HWM, H_LEAD, H_Q, H_GHOST, H_SYNC = range(8)


class Model:
    def __init__(self, hosts, requests, faults, mutant="none", keep=2,
                 attack=False):
        self.n = hosts
        self.attack = attack
        self.keep = keep
        self.requests = requests
        self.faults = faults
        self.mutant = mutant

    def initial(self):
        e = (0, None, 0, None, (None,) * self.n, frozenset(), frozenset(),
             frozenset(), (), 0, frozenset())
        h = tuple((True, None, 0, None, None, (), 0, False)
                  for _ in range(self.n))
        return (e, h, (self.requests, self.faults))

    # ---- helpers -----------------------------------------------------

    @staticmethod
    def rep(t, i, v):
        return t[:i] + (v,) + t[i + 1:]

    def install(self, h, rec, rev, why):
        """Host state h takes rec (from the watch or a read), or refuses
        it.  Checks I3 against the ghost."""
        hwm = h[H_HWM]
        if hwm is not None and (rec[0] < hwm[0] or
                                (rec[0] == hwm[0] and fp(rec) != hwm[1])):
            return h                    # refused: older, or another key
        view = h[H_VIEW]
        if view is not None and rec[0] <= view[0]:
            return h                    # what it has, or older in memory
        if rec[0] < h[H_GHOST]:
            raise Violation("I3: a host went from generation %d back to %d "
                            "(%s)" % (h[H_GHOST], rec[0], why))
        h = self.rep(h, H_VIEW, rec)
        h = self.rep(h, H_VREV, rev)
        h = self.rep(h, H_HWM, (rec[0], fp(rec)))
        return self.rep(h, H_GHOST, max(h[H_GHOST], rec[0]))

    def write_secret(self, s, who, rec, done_id=None, serves=None,
                     fresh=False):
        """The leader's transaction.  Returns the next state: the write
        applied, or (a lost race) the leader's re-read.  serves: the
        request the new key is made for; done_id: the request marked done
        in the same transaction; fresh: rec holds a new key (E_NKEY)."""
        e, hs, b = s
        h = hs[who]
        fence = e[E_LEAD] == (who, h[H_LEAD])
        if self.mutant == "no-cas":
            cas = True
        else:
            cas = e[E_SECREV] == h[H_VREV] if h[H_VIEW] is not None \
                else e[E_SEC] is None
        if done_id is not None and self.mutant != "done-later":
            cas = cas and not any(d == done_id for d, _ in e[E_DONE])
        if not (fence and cas):
            if e[E_SEC] is None:
                return s
            x = self.install(h, e[E_SEC], e[E_SECREV],
                             "re-read after a lost race")
            # What it read is what its next CAS compares with, also when
            # it refused the record (older than its mark: it writes above).
            hs = self.rep(hs, who, self.rep(x, H_VREV, e[E_SECREV]))
            return (e, hs, b)
        hist = dict(e[E_HIST])
        if rec[0] in hist and hist[rec[0]] != fp(rec) and not self.attack:
            raise Violation("I1: generation %d written with two key sets "
                            "(%r, then %r)" % (rec[0], hist[rec[0]], fp(rec)))
        hist[rec[0]] = fp(rec)
        rev = e[E_REV] + 1
        e = self.rep(e, E_REV, rev)
        if fresh:
            e = self.rep(e, E_NKEY, e[E_NKEY] + 1)
        e = self.rep(e, E_SEC, rec)
        e = self.rep(e, E_SECREV, rev)
        e = self.rep(e, E_HIST, tuple(sorted(hist.items())))
        if serves is not None:
            if serves in e[E_SERVED] and not self.attack:
                raise Violation("I4: rotate request %d served twice" %
                                serves)
            e = self.rep(e, E_SERVED, e[E_SERVED] | {serves})
        if done_id is not None:
            e = self.rep(e, E_DONE, e[E_DONE] | {(done_id, rec[0])})
            e = self.rep(e, E_PEND, e[E_PEND] - {done_id})
        out = []
        for i, x in enumerate(hs):
            if x[H_ALIVE]:
                x = self.rep(x, H_Q, x[H_Q] + ((rec, rev),))
            if i == who and self.mutant != "no-self":
                x = self.install(x, rec, rev, "own write")
            out.append(x)
        return (e, tuple(out), b)

    def counted(self, s):
        e, hs, _ = s
        return [i for i, x in enumerate(hs)
                if x[H_ALIVE] and i not in e[E_STALE]]

    # ---- transitions ---------------------------------------------------

    def successors(self, s):
        e, hs, b = s
        reqs, faults = b
        for i, h in enumerate(hs):
            if not h[H_ALIVE]:
                x = (True, None, 0,
                     None if self.mutant == "no-persist" else h[H_HWM],
                     None, (), h[H_GHOST], False)
                yield "host %d restarts" % i, (e, self.rep(hs, i, x), b)
                continue
            view = h[H_VIEW]
            if not h[H_SYNC]:
                # The first read of the prefix; the watch starts after it.
                x = self.rep(self.rep(h, H_SYNC, True), H_Q, ())
                if e[E_SEC] is not None:
                    x = self.install(x, e[E_SEC], e[E_SECREV], "first read")
                yield "host %d reads the fleet" % i, \
                    (e, self.rep(hs, i, x), b)
                continue
            # The watch delivers the next event.
            if h[H_Q]:
                rec, rev = h[H_Q][0]
                x = self.rep(h, H_Q, h[H_Q][1:])
                x = self.install(x, rec, rev, "watch")
                yield "host %d gets generation %d" % (i, rec[0]), \
                    (e, self.rep(hs, i, x), b)
            # A read of the whole prefix (a resync: start, compaction,
            # a stale mark seen).
            if e[E_SEC] is not None and (view is None or
                                         view[0] < e[E_SEC][0]):
                x = self.install(h, e[E_SEC], e[E_SECREV], "read")
                yield "host %d reads etcd" % i, (e, self.rep(hs, i, x), b)
            # Acknowledges what it holds.
            if view is not None and e[E_ACKS][i] != (view[0], fp(view)):
                e2 = self.rep(e, E_ACKS, self.rep(e[E_ACKS], i,
                                                  (view[0], fp(view))))
                yield "host %d acks %d" % (i, view[0]), (e2, hs, b)
            # Leadership.
            if e[E_LEAD] is None and h[H_LEAD] is None:
                rev = e[E_REV] + 1
                e2 = self.rep(self.rep(e, E_REV, rev), E_LEAD, (i, rev))
                yield "host %d campaigns and leads" % i, \
                    (e2, self.rep(hs, i, self.rep(h, H_LEAD, rev)), b)
            if h[H_LEAD] is not None and e[E_LEAD] != (i, h[H_LEAD]):
                yield "host %d learns it no longer leads" % i, \
                    (e, self.rep(hs, i, self.rep(h, H_LEAD, None)), b)
            if h[H_LEAD] is not None:
                yield from self.duties(s, i)
            # Faults.
            if faults > 0:
                b2 = (reqs, faults - 1)
                if h[H_Q]:
                    yield "host %d loses an event" % i, \
                        (e, self.rep(hs, i, self.rep(h, H_Q, h[H_Q][1:])), b2)
                # An older authentic record, replayed by whoever can
                # write to etcd.
                top = e[E_HIST][-1][0] if e[E_HIST] else 0
                for g, f in e[E_HIST]:
                    if g < top:
                        rec = (g,) + f
                        yield "host %d gets generation %d replayed" % (i, g), \
                            (e, self.rep(hs, i, self.rep(
                                h, H_Q, ((rec, 0),) + h[H_Q])), b2)
                x = (False, None, 0, h[H_HWM], None, (), h[H_GHOST], False)
                e2 = e
                if e[E_LEAD] is not None and e[E_LEAD][0] == i:
                    e2 = self.rep(e, E_LEAD, None)
                yield "host %d crashes" % i, (e2, self.rep(hs, i, x), b2)
        if self.attack and faults > 0 and len(e[E_HIST]) > 1 and \
                e[E_SEC] is not None:
            # Whoever can write to etcd puts an older authentic record
            # back at the secret's key.
            for g, f in e[E_HIST][:-1]:
                rec = (g,) + f
                rev = e[E_REV] + 1
                e2 = self.rep(self.rep(self.rep(e, E_REV, rev), E_SEC, rec),
                              E_SECREV, rev)
                hs2 = tuple(self.rep(x, H_Q, x[H_Q] + ((rec, rev),))
                            if x[H_ALIVE] else x for x in hs)
                yield "etcd's record rolled back to generation %d" % g, \
                    (e2, hs2, (reqs, faults - 1))
        if e[E_LEAD] is not None and faults > 0:
            yield "the leader's lease expires", \
                (self.rep(e, E_LEAD, None), hs, (reqs, faults - 1))
        if reqs > 0:
            rid = self.requests - reqs
            yield "rotate --fleet (request %d)" % rid, \
                (self.rep(e, E_PEND, e[E_PEND] | {rid}), hs,
                 (reqs - 1, faults))

    def duties(self, s, i):
        e, hs, b = s
        h = hs[i]
        view = h[H_VIEW]
        nk = e[E_NKEY]
        # The first generation, when this host has none (it may be wrong:
        # its read or the watch may lag; the CAS on absence is the guard).
        if view is None:
            rec = (max(0, h[H_HWM][0] if h[H_HWM] else 0) + 1, nk,
                   (nk,), True)
            yield "leader %d makes generation %d" % (i, rec[0]), \
                self.write_secret(s, i, rec, fresh=True)
        if view is None:
            return
        gen = max(view[0], h[H_HWM][0] if h[H_HWM] else 0)
        # A forced rotation: mint accept-only (the request is read from
        # etcd; the done mark is in the same transaction).
        if view[3]:
            for rid in sorted(e[E_PEND]):
                rec = (gen + 1, view[1], (nk,) + view[2][:self.keep],
                       False)
                yield "leader %d rotates for request %d" % (i, rid), \
                    self.write_secret(s, i, rec, fresh=True, serves=rid,
                                      done_id=None
                                      if self.mutant == "done-later" else rid)
        # done-later: the mark is its own write after the new key, and a
        # leader change in between serves the request again.
        if self.mutant == "done-later" and e[E_LEAD] == (i, h[H_LEAD]):
            for rid in sorted(e[E_PEND] & e[E_SERVED]):
                yield "leader %d marks request %d done" % (i, rid), \
                    (self.rep(self.rep(e, E_DONE, e[E_DONE] | {(rid, 0)}),
                              E_PEND, e[E_PEND] - {rid}), hs, b)
        # Promotion, when every counted host acknowledged this generation.
        if not view[3]:
            want = (view[0], fp(view))
            if self.mutant == "no-wait" or all(
                    e[E_ACKS][j] == want for j in self.counted(s)):
                # The promoted document drops the oldest key (keep in all).
                rec = (gen + 1, view[2][0], view[2][:self.keep], True)
                yield "leader %d promotes generation %d" % (i, rec[0]), \
                    self.write_secret(s, i, rec)
            # ack_timeout: go on without a silent host.
            for j in self.counted(s):
                if j != i and e[E_ACKS][j] != want and \
                        e[E_LEAD] == (i, h[H_LEAD]):
                    yield "leader %d marks host %d stale" % (i, j), \
                        (self.rep(e, E_STALE, e[E_STALE] | {j}), hs, b)
        # A stale host that acknowledged the generation the leader holds
        # (not whatever etcd says) is back.
        for j in sorted(e[E_STALE]):
            if e[E_LEAD] == (i, h[H_LEAD]) and \
                    e[E_ACKS][j] == (view[0], fp(view)) and \
                    (self.mutant == "clear-unchecked" or
                     e[E_SECREV] == h[H_VREV]):
                yield "leader %d clears host %d's stale mark" % (i, j), \
                    (self.rep(e, E_STALE, e[E_STALE] - {j}), hs, b)

    # ---- invariants ----------------------------------------------------

    def check(self, s):
        e, hs, _ = s
        if self.attack:
            return          # only I3 (in install) holds against an attacker
        serving = [x[H_VIEW] for j, x in enumerate(hs)
                   if x[H_ALIVE] and x[H_SYNC] and x[H_VIEW] is not None and
                   j not in e[E_STALE]]
        for a in serving:
            for o in serving:
                if a[1] not in o[2]:
                    raise Violation(
                        "I2: a host encrypts with key %d (generation %d) "
                        "that a serving host at generation %d does not "
                        "accept" % (a[1], a[0], o[0]))


def explore(model, limit=None):
    """Breadth-first over every reachable state (a violation comes with
    a shortest trace).  Returns (states,
    transitions) or raises Violation with the trace attached."""
    init = model.initial()
    parent = {init: None}
    stack = collections.deque([init])
    transitions = 0
    while stack:
        s = stack.popleft()
        try:
            model.check(s)
            succ = list(model.successors(s))
        except Violation as v:
            v.trace = trace(parent, s)
            raise
        for label, t in succ:
            transitions += 1
            if t not in parent:
                parent[t] = (s, label)
                stack.append(t)
                if limit is not None and len(parent) > limit:
                    raise RuntimeError("more than %d states" % limit)
    return len(parent), transitions


def trace(parent, s):
    out = []
    while parent.get(s) is not None:
        s, label = parent[s]
        out.append(label)
    return list(reversed(out))


# The mutant "no-self" (the leader waits for its own write to come back
# through the watch) is safe with CAS: listed apart, not as a bug.
SAFE_VARIANTS = ("none", "no-self")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hosts", type=int, default=2)
    ap.add_argument("--requests", type=int, default=2)
    ap.add_argument("--faults", type=int, default=2)
    ap.add_argument("--mutant", default="none",
                    choices=MUTANTS + ("no-self",))
    ap.add_argument("--keep", type=int, default=2,
                    help="[credential] keep: older keys still accepted")
    ap.add_argument("--attack", action="store_true",
                    help="an etcd writer also puts older authentic records "
                    "back; only I3 is checked (it can always deny service)")
    ap.add_argument("--limit", type=int, default=None)
    a = ap.parse_args()
    m = Model(a.hosts, a.requests, a.faults, a.mutant, a.keep, a.attack)
    try:
        states, trans = explore(m, a.limit)
    except Violation as v:
        print("model: %d hosts, %d requests, %d faults, keep %d, mutant %s%s: "
              "VIOLATION %s" % (a.hosts, a.requests, a.faults, a.keep,
                                a.mutant, ", attack" if a.attack else "", v))
        for i, step in enumerate(v.trace):
            print("  %2d. %s" % (i + 1, step))
        return 1
    print("model: %d hosts, %d requests, %d faults, keep %d, mutant %s%s: "
          "%d states, %d transitions, %s" % (
              a.hosts, a.requests, a.faults, a.keep, a.mutant,
              ", attack" if a.attack else "", states, trans,
              "I3 holds" if a.attack else "invariants I1-I4 hold"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
