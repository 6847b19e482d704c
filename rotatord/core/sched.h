/* SPDX-License-Identifier: Apache-2.0 */
/*
 * When to rotate.  Pure functions: times and randomness are passed in.
 */
#ifndef ROTATORD_SCHED_H
#define ROTATORD_SCHED_H

#include <stdint.h>

/*
 * Returns the renewal point (ms since the epoch) of a credential issued at
 * issued_at that expires at not_after: issued_at + f x (not_after -
 * issued_at) where f = renew_at + jitter x (rnd - 0.5), rnd in [0, 1).
 * notBefore does not enter: backdating must not move renewal.
 */
int64_t sched_renew_point(int64_t issued_at, int64_t not_after,
    double renew_at, double jitter, double rnd);

/*
 * Returns the delay (ms) before retry number `failures` (1 for the first
 * retry): min x 2^(failures-1), capped at max, then "equal jitter": half
 * fixed, half random (rnd in [0, 1)), so retries of many hosts spread out
 * but never come sooner than half the nominal delay.
 */
int64_t sched_backoff(int64_t min, int64_t max, unsigned failures, double rnd);

/*
 * Returns the wall-clock step (ms) between two readings pairs, i.e. how far
 * the wall clock moved beyond the monotonic clock: (wall1 - wall0) -
 * (mono1 - mono0).  A magnitude above a few seconds means the clock was
 * stepped or the host slept without CLOCK_BOOTTIME seeing it.
 */
int64_t sched_clock_step(int64_t wall0, int64_t mono0, int64_t wall1,
    int64_t mono1);

/* Returns a uniformly distributed double in [0, 1) from the CSPRNG. */
double sched_random(void);

#endif
