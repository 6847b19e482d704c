/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The loop's own timers (core/loop.c): deadlines fire in order, a
 * callback's return value re-arms it, callbacks may set and delete any
 * timer including themselves, a re-arm in the past does not spin, and a
 * thousand timers in random order come out sorted.  Real time, real
 * timerfd: every wait is bounded by a watchdog timer that quits the loop.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/loop.h"

#define MAX_EVENTS	2048

struct rec {
	struct loop		*l;
	int			 order[MAX_EVENTS];
	int64_t			 when[MAX_EVENTS];
	size_t			 n;
	int			 stop_after;	/* quit after this many events */
};

struct tm_ctx {
	struct rec		*r;
	int			 id;
	int			 repeat;	/* re-arm by return this often */
	int64_t			 period;
	struct loop_timer	*self;
	struct loop_timer	*victim;	/* delete it when firing */
	int			 delete_self;
};

static int64_t
on_fire(struct loop *l, void *arg)
{
	struct tm_ctx *c = arg;
	struct rec *r = c->r;

	if (r->n < MAX_EVENTS) {
		r->order[r->n] = c->id;
		r->when[r->n] = loop_now_mono();
		r->n++;
	}
	if (r->stop_after > 0 && (int)r->n >= r->stop_after)
		loop_quit(l, 0);
	if (c->victim != NULL) {
		loop_timer_del(c->victim);
		c->victim = NULL;
	}
	if (c->delete_self) {
		loop_timer_del(c->self);
		return 0;
	}
	if (c->repeat > 0) {
		c->repeat--;
		return loop_now_mono() + c->period;
	}
	return 0;
}

static int64_t
on_watchdog(struct loop *l, void *arg)
{
	*(int *)arg = 1;
	loop_quit(l, 1);
	return 0;
}

/* Runs l until the recorder quits it, or 5 s pass (a failure). */
static void
run_bounded(struct loop *l)
{
	struct loop_timer *wd;
	int fired = 0;

	wd = loop_timer_add(l, on_watchdog, &fired);
	assert_non_null(wd);
	loop_timer_set(wd, loop_now_mono() + 5000);
	loop_run(l);
	loop_timer_del(wd);
	assert_false(fired);
}

static void
test_order_and_rearm(void **state)
{
	struct rec r = { .stop_after = 5 };
	struct tm_ctx a = { .r = &r, .id = 1 }, b = { .r = &r, .id = 2 }, c = { .r = &r, .id = 3 };
	struct loop_timer *ta, *tb, *tc;
	int64_t t0;

	(void)state;
	assert_int_equal(loop_new(&r.l), 0);
	ta = loop_timer_add(r.l, on_fire, &a);
	tb = loop_timer_add(r.l, on_fire, &b);
	tc = loop_timer_add(r.l, on_fire, &c);
	assert_non_null(ta);
	assert_non_null(tb);
	assert_non_null(tc);
	t0 = loop_now_mono();
	loop_timer_set(tc, t0 + 60);
	loop_timer_set(ta, t0 + 20);
	loop_timer_set(tb, t0 + 40);
	/* a fires at 20, then re-arms itself twice by return, 50 ms apart. */
	a.repeat = 2;
	a.period = 50;
	assert_int_equal(loop_timer_when(tb), t0 + 40);
	run_bounded(r.l);
	assert_int_equal(r.n, 5);
	assert_int_equal(r.order[0], 1);
	assert_int_equal(r.order[1], 2);
	assert_int_equal(r.order[2], 3);
	assert_int_equal(r.order[3], 1);
	assert_int_equal(r.order[4], 1);
	assert_true(r.when[0] >= t0 + 20);
	assert_true(r.when[4] >= r.when[3] + 50);
	assert_int_equal(loop_timer_when(ta), 0);	/* fired, not re-armed */
	loop_timer_del(ta);
	loop_timer_del(tb);
	loop_timer_del(tc);
	loop_free(r.l);
}

/* Disarm, move later, delete another and delete itself from a callback. */
static void
test_set_and_delete_from_callbacks(void **state)
{
	struct rec r = { .stop_after = 2 };
	struct tm_ctx a = { .r = &r, .id = 1 }, b = { .r = &r, .id = 2 }, c = { .r = &r, .id = 3 }, d = { .r = &r, .id = 4 };
	struct loop_timer *ta, *tb, *tc, *td;
	int64_t t0;

	(void)state;
	assert_int_equal(loop_new(&r.l), 0);
	ta = loop_timer_add(r.l, on_fire, &a);
	tb = loop_timer_add(r.l, on_fire, &b);
	tc = loop_timer_add(r.l, on_fire, &c);
	td = loop_timer_add(r.l, on_fire, &d);
	t0 = loop_now_mono();
	loop_timer_set(ta, t0 + 10);
	loop_timer_set(tb, t0 + 30);
	loop_timer_set(tc, t0 + 20);
	loop_timer_set(td, t0 + 15);
	loop_timer_set(td, 0);			/* disarmed: never fires */
	loop_timer_set(tc, t0 + 80);		/* moved after b */
	a.victim = tc;				/* a deletes c: c never fires */
	a.self = ta;
	a.delete_self = 1;			/* and itself */
	run_bounded(r.l);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.order[0], 1);
	assert_int_equal(r.order[1], 2);
	loop_timer_del(tb);
	loop_timer_del(td);
	loop_free(r.l);
}

/* A callback that always re-arms in the past yields to other work. */
static int64_t
on_busy(struct loop *l, void *arg)
{
	int *n = arg;

	(*n)++;
	return 1;			/* long past: "at once" */
}

static void
test_past_rearm_does_not_starve(void **state)
{
	struct rec r = { .stop_after = 1 };
	struct tm_ctx a = { .r = &r, .id = 1 };
	struct loop_timer *busy, *ta;
	int n = 0;

	(void)state;
	assert_int_equal(loop_new(&r.l), 0);
	busy = loop_timer_add(r.l, on_busy, &n);
	ta = loop_timer_add(r.l, on_fire, &a);
	loop_timer_set(busy, 1);
	loop_timer_set(ta, loop_now_mono() + 30);
	run_bounded(r.l);
	assert_int_equal(r.n, 1);
	assert_true(n > 1);			/* it ran, round after round */
	loop_timer_del(busy);
	loop_timer_del(ta);
	loop_free(r.l);
}

static void
test_many_in_random_order(void **state)
{
	enum { N = 1000 };
	static struct tm_ctx c[N];
	static struct loop_timer *t[N];
	struct rec *r = calloc(1, sizeof(*r));
	uint64_t x = 88172645463325252ULL;
	int64_t t0;
	size_t i;

	(void)state;
	assert_non_null(r);
	r->stop_after = N;
	assert_int_equal(loop_new(&r->l), 0);
	t0 = loop_now_mono();
	for (i = 0; i < N; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		c[i] = (struct tm_ctx){ .r = r, .id = (int)(x % 200) };
		t[i] = loop_timer_add(r->l, on_fire, &c[i]);
		assert_non_null(t[i]);
		/* The id is the offset: equal deadlines may come in any order. */
		loop_timer_set(t[i], t0 + 1 + c[i].id);
	}
	run_bounded(r->l);
	assert_int_equal(r->n, N);
	for (i = 1; i < N; i++)
		assert_true(r->order[i - 1] <= r->order[i]);
	for (i = 0; i < N; i++)
		loop_timer_del(t[i]);
	loop_free(r->l);
	free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_rearm),
		cmocka_unit_test(test_set_and_delete_from_callbacks),
		cmocka_unit_test(test_past_rearm_does_not_starve),
		cmocka_unit_test(test_many_in_random_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
