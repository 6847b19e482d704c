/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Renewal points and backoff.
 */
#include <idp/crypto.h>

#include "core/sched.h"

int64_t
sched_renew_point(int64_t issued_at, int64_t not_after, double renew_at,
    double jitter, double rnd)
{
	double f = renew_at + jitter * (rnd - 0.5);

	if (not_after <= issued_at)
		return issued_at;
	/* Config validation keeps f inside (0, 1); clamp for robustness. */
	if (f < 0.01)
		f = 0.01;
	if (f > 0.99)
		f = 0.99;
	return issued_at + (int64_t)(f * (double)(not_after - issued_at));
}

int64_t
sched_backoff(int64_t min, int64_t max, unsigned failures, double rnd)
{
	int64_t d = min > 0 ? min : 1;
	unsigned i;

	for (i = 1; i < failures && d < max; i++)
		d *= 2;
	if (d > max)
		d = max;
	return d / 2 + (int64_t)(rnd * (double)(d - d / 2));
}

int64_t
sched_clock_step(int64_t wall0, int64_t mono0, int64_t wall1, int64_t mono1)
{
	return (wall1 - wall0) - (mono1 - mono0);
}

double
sched_random(void)
{
	uint64_t r = 0;

	if (idp_random(&r, sizeof(r)) != 0)
		return 0.5;
	return (double)(r >> 11) / (double)(UINT64_C(1) << 53);
}
