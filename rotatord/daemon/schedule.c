/* SPDX-License-Identifier: Apache-2.0 */
/*
 * schedule.c: the arithmetic of the credential schedule (due times on the
 * boottime clock, retries, clock steps, fleet retention).  Pure: no I/O,
 * no clock, no globals, no log; daemon/ reads the clocks and passes them.
 */
#include "core/sched.h"
#include "daemon/schedule.h"

int64_t
schedule_mono(int64_t at_w, int64_t now_w, int64_t now_m)
{
	return now_m + (at_w - now_w);
}

int
schedule_cred_due(int64_t due_mono, int published, unsigned failures,
    int64_t renew_wall, int64_t now_w, int64_t now_m)
{
	return due_mono <= now_m ||
	    (published && failures == 0 && now_w >= renew_wall);
}

int64_t
schedule_earliest(int64_t next, int64_t at)
{
	if (next == 0 || at < next)
		return at;
	return next;
}

int64_t
schedule_retry(int64_t retry_min, int64_t retry_max, unsigned failures,
    double rnd, int64_t now_m, int64_t *ret_delay)
{
	int64_t delay = sched_backoff(retry_min, retry_max, failures, rnd);

	*ret_delay = delay;
	return now_m + delay;
}

int64_t
schedule_retry_cap(int64_t delay, int64_t retry_min, int64_t left)
{
	int64_t cap;

	if (left <= 0)
		return delay;
	cap = left / 2 > retry_min ? left / 2 : retry_min;
	return delay > cap ? cap : delay;
}

int
schedule_clock_stepped(int64_t wall0, int64_t mono0, int64_t wall1,
    int64_t mono1, int64_t *ret_step)
{
	int64_t step = sched_clock_step(wall0, mono0, wall1, mono1);

	*ret_step = step;
	return step > CLOCK_STEP_MS || step < -CLOCK_STEP_MS;
}

int64_t
schedule_fleet_keep(int64_t key_lifetime, int64_t max_token_life, int64_t now)
{
	int64_t keep = 2 * key_lifetime;

	if (2 * max_token_life > keep)
		keep = 2 * max_token_life;
	return ((now + keep) / 3600000 + 1) * 3600000;
}

int64_t
schedule_oauth_wait(int64_t timeout, int64_t now_m)
{
	return now_m + timeout * 3 + 60000;
}

int64_t
schedule_replanned(int64_t due_mono, int asked, int64_t plan)
{
	return asked && due_mono < plan ? due_mono : plan;
}
