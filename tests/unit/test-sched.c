/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sched: renewal points, backoff, clock steps.  Pure, so no clock here.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/sched.h"

static void
test_renew_point_fraction(void **state)
{
	/* 2/3 of a 24h lifetime, no jitter. */
	int64_t issued = 1000000, life = 86400000;

	assert_int_equal(sched_renew_point(issued, issued + life, 2.0 / 3, 0, 0.3),
	    issued + life * 2 / 3);
	/* Jitter spreads evenly around renew_at: rnd 0 and 1 are the edges. */
	assert_int_equal(sched_renew_point(issued, issued + life, 0.5, 0.1, 0.0),
	    issued + (int64_t)(0.45 * life));
	assert_true(sched_renew_point(issued, issued + life, 0.5, 0.1, 0.999999) <=
	    issued + (int64_t)(0.55 * life));
}

static void
test_renew_point_ignores_backdate(void **state)
{
	/*
	 * A certificate backdated by 60s: notBefore is not an input, so the
	 * point is measured from issuance (the cert-manager loop).
	 */
	int64_t issued = 5000000, na = issued + 6000;

	assert_int_equal(sched_renew_point(issued, na, 2.0 / 3, 0, 0.5),
	    issued + 4000);
}

static void
test_renew_point_degenerate(void **state)
{
	assert_int_equal(sched_renew_point(100, 100, 0.5, 0, 0.5), 100);
	assert_int_equal(sched_renew_point(100, 50, 0.5, 0, 0.5), 100);
	/* Clamped inside the lifetime even with absurd inputs. */
	assert_true(sched_renew_point(0, 1000, 1.5, 0, 0.5) < 1000);
	assert_true(sched_renew_point(0, 1000, -1, 0, 0.5) > 0);
}

static void
test_backoff(void **state)
{
	/* Equal jitter: within [d/2, d] where d doubles up to the cap. */
	assert_int_equal(sched_backoff(1000, 60000, 1, 0.0), 500);
	assert_int_equal(sched_backoff(1000, 60000, 1, 0.999999), 999);
	assert_int_equal(sched_backoff(1000, 60000, 2, 0.0), 1000);
	assert_int_equal(sched_backoff(1000, 60000, 4, 0.0), 4000);
	assert_int_equal(sched_backoff(1000, 60000, 7, 0.0), 30000);
	assert_int_equal(sched_backoff(1000, 60000, 8, 0.0), 30000);
	assert_true(sched_backoff(1000, 60000, 1000, 0.999999) <= 60000);
	assert_int_equal(sched_backoff(1000, 60000, 1000000, 0.0), 30000);
	/* A zero minimum still waits. */
	assert_true(sched_backoff(0, 60000, 1, 0.0) >= 0);
}

static void
test_clock_step(void **state)
{
	assert_int_equal(sched_clock_step(1000, 50, 2000, 1050), 0);
	/* Wall clock set forward an hour while 10 s passed. */
	assert_int_equal(sched_clock_step(0, 0, 3610000, 10000), 3600000);
	assert_int_equal(sched_clock_step(3600000, 0, 0, 0), -3600000);
}

static void
test_random_range(void **state)
{
	int i;

	for (i = 0; i < 1000; i++) {
		double r = sched_random();

		assert_true(r >= 0.0 && r < 1.0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_renew_point_fraction),
		cmocka_unit_test(test_renew_point_ignores_backdate),
		cmocka_unit_test(test_renew_point_degenerate),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_clock_step),
		cmocka_unit_test(test_random_range),
	};

	return cmocka_run_group_tests_name("sched", tests, NULL, NULL);
}
