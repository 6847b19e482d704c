/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for rotatord/daemon/schedule.c, and for the core/sched.c functions
 * as the daemon combines them (daemon/cred.c): a generation's renewal point
 * (sched_renew_point()) becomes a boottime due time (schedule_mono()), a
 * failure a retry (schedule_retry()).  Pure, so the clocks and the random
 * value are injected: zero and short lifetimes, jitter bounds, backoff
 * growth and cap, large durations (no overflow, also under UBSan), renewal
 * never at or after expiry, a failure just before expiry, clock steps and a
 * clock behind issuance.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/sched.h"
#include "daemon/schedule.h"

#define SEC		INT64_C(1000)
#define HOUR		(3600 * SEC)
#define DAY		(24 * HOUR)
#define MAX_DUR		(36500 * DAY)	/* the longest duration config takes */
#define RND_TOP		0.9999999999	/* the largest rnd in [0, 1) we try */

/* A wall clock in 2026 and a boottime clock a few hours after boot. */
static const int64_t now_w = INT64_C(1796000000000);
static const int64_t now_m = 5 * HOUR;

/* The due time cred_finish() plans after publishing [issued, not_after). */
static int64_t
due_after_publish(int64_t issued, int64_t not_after, double renew_at,
    double jitter, double rnd, int64_t *ret_renew)
{
	int64_t renew = sched_renew_point(issued, not_after, renew_at, jitter,
	    rnd);

	if (ret_renew != NULL)
		*ret_renew = renew;
	return schedule_mono(renew, now_w, now_m);
}

static void
test_mono(void **state)
{
	assert_int_equal(schedule_mono(now_w, now_w, now_m), now_m);
	assert_int_equal(schedule_mono(now_w + 90 * SEC, now_w, now_m),
	    now_m + 90 * SEC);
	/* A point already past is due at once: before now_m. */
	assert_int_equal(schedule_mono(now_w - 10 * SEC, now_w, now_m),
	    now_m - 10 * SEC);
	/* Wall clock near 1970 (no RTC), boottime ahead of it. */
	assert_int_equal(schedule_mono(5000, 1000, 2 * DAY), 2 * DAY + 4000);
}

static void
test_normal_renewal(void **state)
{
	int64_t renew, due;

	/* 24h certificate, renew_at 2/3, no jitter: due in 16h. */
	due = due_after_publish(now_w, now_w + DAY, 2.0 / 3, 0, 0.5, &renew);
	assert_int_equal(renew, now_w + 16 * HOUR);
	assert_int_equal(due, now_m + 16 * HOUR);
	assert_false(schedule_cred_due(due, 1, 0, renew, now_w, now_m));
	assert_false(schedule_cred_due(due, 1, 0, renew, now_w + 16 * HOUR - 1,
	    now_m + 16 * HOUR - 1));
	assert_true(schedule_cred_due(due, 1, 0, renew, now_w + 16 * HOUR,
	    now_m + 16 * HOUR));
}

static void
test_zero_and_short_lifetime(void **state)
{
	int64_t renew, due;

	/* Zero lifetime: renewal at issuance, due right away. */
	due = due_after_publish(now_w, now_w, 2.0 / 3, 0.1, 0.5, &renew);
	assert_int_equal(renew, now_w);
	assert_int_equal(due, now_m);
	assert_true(schedule_cred_due(due, 1, 0, renew, now_w, now_m));
	/* not_after before issuance (clock behind the issuer): the same. */
	due = due_after_publish(now_w, now_w - HOUR, 2.0 / 3, 0.1, 0.5, &renew);
	assert_int_equal(renew, now_w);
	assert_true(schedule_cred_due(due, 1, 0, renew, now_w, now_m));
	/* 1 ms: the fraction rounds down to issuance: due at once, too. */
	due = due_after_publish(now_w, now_w + 1, 2.0 / 3, 0, 0.5, &renew);
	assert_int_equal(renew, now_w);
	assert_true(schedule_cred_due(due, 1, 0, renew, now_w, now_m));
	/* 2 ms: 1 ms in. */
	assert_int_equal(sched_renew_point(now_w, now_w + 2, 0.5, 0, 0.5),
	    now_w + 1);
	/* An oauth token of expires_in 1 (the least libidp takes). */
	due = due_after_publish(now_w, now_w + SEC, 2.0 / 3, 0.1, 0.0, &renew);
	assert_int_equal(renew, now_w + 616);
	assert_int_equal(due, now_m + 616);
}

static void
test_jitter_bounds(void **state)
{
	const int64_t life = DAY;
	double rnd;
	int64_t r, lo, hi;

	/* renew_at 0.6 +- 0.1: within [0.55, 0.65) of the lifetime. */
	lo = now_w + (int64_t)(0.55 * (double)life);
	hi = now_w + (int64_t)(0.65 * (double)life);
	/* (Edges within 1 ms: 0.6 - 0.05 need not be 0.55 in binary.) */
	assert_in_range(sched_renew_point(now_w, now_w + life, 0.6, 0.1, 0.0),
	    lo - 1, lo);
	assert_int_equal(sched_renew_point(now_w, now_w + life, 0.6, 0.1, 0.5),
	    now_w + (int64_t)(0.6 * (double)life));
	for (rnd = 0.0; rnd < 1.0; rnd += 1.0 / 1024) {
		r = sched_renew_point(now_w, now_w + life, 0.6, 0.1, rnd);
		assert_in_range(r, lo - 1, hi - 1);
	}
	r = sched_renew_point(now_w, now_w + life, 0.6, 0.1, RND_TOP);
	assert_in_range(r, hi - SEC, hi - 1);
	/* No jitter: rnd does not matter. */
	assert_int_equal(sched_renew_point(now_w, now_w + life, 0.6, 0, 0.0),
	    sched_renew_point(now_w, now_w + life, 0.6, 0, RND_TOP));
	/* Jitter the config would refuse is clamped into [1%, 99%]. */
	assert_int_equal(sched_renew_point(now_w, now_w + life, 0.5, 4.0, 0.0),
	    now_w + (int64_t)(0.01 * (double)life));
	assert_int_equal(sched_renew_point(now_w, now_w + life, 0.5, 4.0,
	    RND_TOP), now_w + (int64_t)(0.99 * (double)life));
}

static void
test_renew_before_expiry(void **state)
{
	static const int64_t lives[] = { 1, 2, 3, 7, 999, SEC, 90 * SEC, DAY,
	    365 * DAY, MAX_DUR };
	static const double at[] = { 0.01, 0.5, 2.0 / 3, 0.95, 0.999, 1.0,
	    1.5 };
	static const double jit[] = { 0, 0.1, 0.5, 0.99 };
	static const double rnds[] = { 0.0, 0.25, 0.5, 0.75, RND_TOP };
	size_t a, b, c, e;
	int64_t r;

	for (a = 0; a < sizeof(lives) / sizeof(lives[0]); a++)
		for (b = 0; b < sizeof(at) / sizeof(at[0]); b++)
			for (c = 0; c < sizeof(jit) / sizeof(jit[0]); c++)
				for (e = 0; e < sizeof(rnds) / sizeof(rnds[0]);
				    e++) {
					r = sched_renew_point(now_w,
					    now_w + lives[a], at[b], jit[c],
					    rnds[e]);
					assert_true(r >= now_w);
					assert_true(r < now_w + lives[a]);
				}
}

static void
test_large_durations(void **state)
{
	int64_t renew, due, delay;

	/* 100 years (the config's longest duration). */
	due = due_after_publish(now_w, now_w + MAX_DUR, 2.0 / 3, 0.1, RND_TOP,
	    &renew);
	assert_true(renew > now_w && renew < now_w + MAX_DUR);
	assert_int_equal(due - now_m, renew - now_w);
	/* A notAfter of 9999-12-31 and an exp at the end of int64 ms. */
	renew = sched_renew_point(now_w, INT64_C(253402300799000), 0.99, 0,
	    0.5);
	assert_true(renew > now_w && renew < INT64_C(253402300799000));
	renew = sched_renew_point(now_w, INT64_MAX, 0.99, 0.02, RND_TOP);
	assert_true(renew > now_w && renew < INT64_MAX);
	due = schedule_mono(renew, now_w, now_m);
	assert_true(due > now_m && due < renew);
	/* Backoff with the longest retry_max and endless failures. */
	due = schedule_retry(MAX_DUR, MAX_DUR, UINT_MAX, RND_TOP, now_m,
	    &delay);
	assert_in_range(delay, MAX_DUR / 2, MAX_DUR);
	assert_int_equal(due, now_m + delay);
	due = schedule_retry(SEC, MAX_DUR, UINT_MAX, 0.0, now_m, &delay);
	assert_in_range(delay, MAX_DUR / 2, MAX_DUR);
	/* Fleet retention of keys of the longest lifetime. */
	assert_true(schedule_fleet_keep(MAX_DUR, MAX_DUR, now_w) >
	    now_w + 2 * MAX_DUR);
}

static void
test_backoff_growth_and_cap(void **state)
{
	int64_t delay, prev = 0, due;
	unsigned k;

	/* The defaults: retry_min 1s, retry_max 60s; "equal jitter". */
	due = schedule_retry(SEC, 60 * SEC, 1, 0.0, now_m, &delay);
	assert_int_equal(delay, 500);
	assert_int_equal(due, now_m + 500);
	schedule_retry(SEC, 60 * SEC, 1, RND_TOP, now_m, &delay);
	assert_int_equal(delay, 999);
	schedule_retry(SEC, 60 * SEC, 2, 0.0, now_m, &delay);
	assert_int_equal(delay, SEC);
	schedule_retry(SEC, 60 * SEC, 3, 0.0, now_m, &delay);
	assert_int_equal(delay, 2 * SEC);
	/* Doubling stops at the cap: 64s is cut to 60s. */
	schedule_retry(SEC, 60 * SEC, 7, 0.0, now_m, &delay);
	assert_int_equal(delay, 30 * SEC);
	schedule_retry(SEC, 60 * SEC, 7, RND_TOP, now_m, &delay);
	assert_in_range(delay, 59 * SEC, 60 * SEC);
	for (k = 1; k < 200; k++) {
		schedule_retry(SEC, 60 * SEC, k, 0.5, now_m, &delay);
		assert_true(delay >= prev);
		assert_true(delay <= 60 * SEC);
		prev = delay;
	}
	/* retry_min = retry_max: no growth, jitter only. */
	schedule_retry(10 * SEC, 10 * SEC, 5, 0.0, now_m, &delay);
	assert_int_equal(delay, 5 * SEC);
	/* A zero minimum (config's least is 1 ms) counts as 1 ms. */
	schedule_retry(0, 60 * SEC, 1, RND_TOP, now_m, &delay);
	assert_in_range(delay, 0, 1);
	/* failures 0 (wrapped) behaves like the first. */
	schedule_retry(SEC, 60 * SEC, 0, 0.0, now_m, &delay);
	assert_int_equal(delay, 500);
}

static void
test_failure_before_expiry(void **state)
{
	int64_t renew = now_w - 10 * SEC, not_after = now_w + 500;
	int64_t delay, due;

	/*
	 * Published, renewal point passed, expiry 0.5s away: the first
	 * retry comes 0.5-1s later, and it is not pulled in to expiry.
	 */
	due = schedule_retry(SEC, 60 * SEC, 1, RND_TOP, now_m, &delay);
	assert_int_equal(delay, 999);
	assert_true(due > schedule_mono(not_after, now_w, now_m));
	/* While failing, a passed renewal point does not make it due... */
	assert_false(schedule_cred_due(due, 1, 1, renew, now_w, now_m));
	assert_false(schedule_cred_due(due, 1, 1, renew, now_w + 998,
	    now_m + 998));
	/* ...the backoff does. */
	assert_true(schedule_cred_due(due, 1, 1, renew, now_w + 999,
	    now_m + 999));
	/* Not failing: due on the wall clock even with due_mono ahead. */
	assert_true(schedule_cred_due(now_m + HOUR, 1, 0, renew, now_w, now_m));
	/* Never published: only due_mono counts. */
	assert_false(schedule_cred_due(now_m + 1, 0, 0, renew, now_w, now_m));
	assert_true(schedule_cred_due(now_m, 0, 0, renew, now_w, now_m));
}

/* A retry comes before half the time left to expiry, not below retry_min. */
static void
test_retry_cap(void **state)
{
	(void)state;
	/* 60 s of backoff, 20 s left: 10 s. */
	assert_int_equal(schedule_retry_cap(60 * SEC, SEC, 20 * SEC), 10 * SEC);
	/* Shorter than half: unchanged. */
	assert_int_equal(schedule_retry_cap(2 * SEC, SEC, 20 * SEC), 2 * SEC);
	/* 1.5 s left: retry_min (1 s), not 0.75 s. */
	assert_int_equal(schedule_retry_cap(60 * SEC, SEC, 1500), SEC);
	/* Expired, or nothing published: the backoff as it is. */
	assert_int_equal(schedule_retry_cap(60 * SEC, SEC, 0), 60 * SEC);
	assert_int_equal(schedule_retry_cap(60 * SEC, SEC, -5 * SEC), 60 * SEC);
	/* Durations near the top do not overflow. */
	assert_int_equal(schedule_retry_cap(MAX_DUR, SEC, MAX_DUR), MAX_DUR / 2);
}

/* A re-plan moves a planned renewal, but never delays one asked for. */
static void
test_replanned(void **state)
{
	(void)state;
	/* Planned only: the new plan, earlier or later. */
	assert_int_equal(schedule_replanned(now_m + HOUR, 0, now_m + 2 * HOUR),
	    now_m + 2 * HOUR);
	assert_int_equal(schedule_replanned(now_m + HOUR, 0, now_m + SEC),
	    now_m + SEC);
	/* Asked for (rotate, a CA changed): kept when sooner. */
	assert_int_equal(schedule_replanned(now_m + 500, 1, now_m + HOUR),
	    now_m + 500);
	assert_int_equal(schedule_replanned(0, 1, now_m + HOUR), 0);
	/* ... and the plan when that is sooner still. */
	assert_int_equal(schedule_replanned(now_m + HOUR, 1, now_m + SEC),
	    now_m + SEC);
}

static void
test_clock_steps(void **state)
{
	int64_t step, renew, due;

	/* 10 minutes on both clocks: no step. */
	assert_false(schedule_clock_stepped(now_w, now_m, now_w + 600 * SEC,
	    now_m + 600 * SEC, &step));
	assert_int_equal(step, 0);
	/* Up to CLOCK_STEP_MS either way is drift, not a step. */
	assert_false(schedule_clock_stepped(now_w, now_m,
	    now_w + CLOCK_STEP_MS, now_m, &step));
	assert_false(schedule_clock_stepped(now_w, now_m,
	    now_w - CLOCK_STEP_MS, now_m, &step));
	assert_true(schedule_clock_stepped(now_w, now_m,
	    now_w + CLOCK_STEP_MS + 1, now_m, &step));
	assert_int_equal(step, CLOCK_STEP_MS + 1);
	/* The clock set back an hour while a minute passed. */
	assert_true(schedule_clock_stepped(now_w, now_m, now_w - HOUR + 60 * SEC,
	    now_m + 60 * SEC, &step));
	assert_int_equal(step, -HOUR);
	/* Re-planning then puts the renewal an hour further away... */
	renew = now_w + 16 * HOUR;
	due = schedule_mono(renew, now_w - HOUR + 60 * SEC, now_m + 60 * SEC);
	assert_int_equal(due, now_m + 17 * HOUR);
	/* ...and forward an hour, an hour sooner. */
	due = schedule_mono(renew, now_w + HOUR + 60 * SEC, now_m + 60 * SEC);
	assert_int_equal(due, now_m + 15 * HOUR);
}

static void
test_clock_behind_issuance(void **state)
{
	int64_t issued = now_w + HOUR, renew, due;

	/*
	 * Material issued by a clock an hour ahead (a fleet leader, an
	 * adopted generation): the wait is measured on this clock, so it
	 * is an hour longer than renew_at of the lifetime.
	 */
	renew = sched_renew_point(issued, issued + 3 * HOUR, 2.0 / 3, 0, 0.5);
	due = schedule_mono(renew, now_w, now_m);
	assert_int_equal(due, now_m + 3 * HOUR);
	/* Issued by a clock behind: sooner; past the point, due at once. */
	issued = now_w - 3 * HOUR;
	renew = sched_renew_point(issued, issued + 3 * HOUR + SEC, 2.0 / 3, 0,
	    0.5);
	due = schedule_mono(renew, now_w, now_m);
	assert_true(due < now_m);
	assert_true(schedule_cred_due(due, 1, 0, renew, now_w, now_m));
}

static void
test_earliest(void **state)
{
	/* 0 is "none yet": the first deadline is taken whatever it is. */
	assert_int_equal(schedule_earliest(0, 500), 500);
	assert_int_equal(schedule_earliest(0, -5), -5);
	assert_int_equal(schedule_earliest(500, 400), 400);
	assert_int_equal(schedule_earliest(400, 500), 400);
	assert_int_equal(schedule_earliest(400, 400), 400);
	assert_int_equal(schedule_earliest(400, -1), -1);
}

static void
test_fleet_keep(void **state)
{
	int64_t a;

	/* 7d keys, 1h tokens: two key lifetimes, then the next hour. */
	assert_int_equal(schedule_fleet_keep(7 * DAY, HOUR, 0), 14 * DAY + HOUR);
	a = schedule_fleet_keep(7 * DAY, HOUR, now_w);
	assert_true(a > now_w + 14 * DAY && a <= now_w + 14 * DAY + HOUR);
	assert_int_equal(a % HOUR, 0);
	/* Within the same hour the value does not move with the clock. */
	assert_int_equal(schedule_fleet_keep(7 * DAY, HOUR,
	    (now_w / HOUR) * HOUR), schedule_fleet_keep(7 * DAY, HOUR,
	    (now_w / HOUR) * HOUR + HOUR - 1));
	/* Tokens that outlive the key: two token lifetimes. */
	assert_int_equal(schedule_fleet_keep(HOUR, 30 * DAY, 0),
	    60 * DAY + HOUR);
}

static void
test_oauth_wait(void **state)
{
	assert_int_equal(schedule_oauth_wait(10 * SEC, now_m),
	    now_m + 90 * SEC);
	assert_int_equal(schedule_oauth_wait(2 * 60 * SEC, now_m),
	    now_m + 7 * 60 * SEC);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mono),
		cmocka_unit_test(test_normal_renewal),
		cmocka_unit_test(test_zero_and_short_lifetime),
		cmocka_unit_test(test_jitter_bounds),
		cmocka_unit_test(test_renew_before_expiry),
		cmocka_unit_test(test_large_durations),
		cmocka_unit_test(test_backoff_growth_and_cap),
		cmocka_unit_test(test_failure_before_expiry),
		cmocka_unit_test(test_retry_cap),
		cmocka_unit_test(test_clock_steps),
		cmocka_unit_test(test_clock_behind_issuance),
		cmocka_unit_test(test_earliest),
		cmocka_unit_test(test_replanned),
		cmocka_unit_test(test_fleet_keep),
		cmocka_unit_test(test_oauth_wait),
	};

	return cmocka_run_group_tests_name("schedule", tests, NULL, NULL);
}
