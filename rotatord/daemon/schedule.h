/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's schedule arithmetic (schedule.c) as pure functions, on top
 * of core/sched.h (renewal points, backoff).  No I/O, no clock, no
 * globals: times (ms) and randomness are passed in.  Tested by
 * tests/unit/test-schedule.c.
 */
#ifndef ROTATORD_DAEMON_SCHEDULE_H
#define ROTATORD_DAEMON_SCHEDULE_H

#include <stdint.h>

#define CLOCK_STEP_MS	2000	/* a larger jump of the wall clock re-plans */
#define FLEET_WAIT_MS	(3600 * 1000)	/* fleet secrets: no local schedule */

/*
 * Returns the CLOCK_BOOTTIME time (ms) at which the wall clock will read
 * at_w if it is not stepped, from one reading of both clocks (now_w,
 * now_m): now_m + (at_w - now_w).  Earlier than now_m when at_w is past.
 */
int64_t schedule_mono(int64_t at_w, int64_t now_w, int64_t now_m);

/*
 * Returns 1 when a credential is due for an attempt: its due time has come,
 * or it is published, not failing and its renewal point has passed on the
 * wall clock (whatever due_mono says); else 0.
 */
int schedule_cred_due(int64_t due_mono, int published, unsigned failures,
    int64_t renew_wall, int64_t now_w, int64_t now_m);

/*
 * Returns a credential's due time after a re-plan (the wall clock was
 * set): plan (its renewal point on the new clock), or its current due
 * time when a rotation was asked for (asked) and is due sooner.
 */
int64_t schedule_replanned(int64_t due_mono, int asked, int64_t plan);

/*
 * Returns the earlier of the deadline next and at, where a next of 0 means
 * no deadline yet (so the first at is taken, whatever its value).
 */
int64_t schedule_earliest(int64_t next, int64_t at);

/*
 * Returns the boottime due time of the attempt after failure number
 * `failures` (1 for the first), now_m plus sched_backoff() of
 * [retry_min, retry_max] with rnd in [0, 1), and that delay in *ret_delay.
 * The delay is not cut at the credential's expiry: schedule_retry_cap()
 * does that.
 */
int64_t schedule_retry(int64_t retry_min, int64_t retry_max,
    unsigned failures, double rnd, int64_t now_m, int64_t *ret_delay);

/*
 * Returns delay cut to half the time left before the published generation
 * expires (left, ms; <= 0 when it has, or nothing is published), never
 * below retry_min: a long backoff does not let the last good credential
 * lapse untried, and a short time left does not make a hot loop.
 */
int64_t schedule_retry_cap(int64_t delay, int64_t retry_min, int64_t left);

/*
 * Returns 1 when the wall clock moved more than CLOCK_STEP_MS (either way)
 * against the monotonic clock between the readings (wall0, mono0) and
 * (wall1, mono1), with the step in *ret_step; else 0.
 */
int schedule_clock_stepped(int64_t wall0, int64_t mono0, int64_t wall1,
    int64_t mono1, int64_t *ret_step);

/*
 * Returns until when (wall ms) the fleet keeps a signer's keys after this
 * host is gone: now plus twice the longer of key_lifetime and
 * max_token_life, rounded up to the next whole hour (so that the value
 * changes with the keys, not with the clock).
 */
int64_t schedule_fleet_keep(int64_t key_lifetime, int64_t max_token_life,
    int64_t now);

/*
 * Returns the boottime due time of an oauth credential whose token request
 * starts at now_m: not due again before three issuer timeouts and a minute
 * have passed (the answer normally comes first).
 */
int64_t schedule_oauth_wait(int64_t timeout, int64_t now_m);

#endif
