/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helpers: running rotatord's loop until a condition holds, with a
 * deadline against hangs (util.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/loop.h"
#include "util.h"

#define POLL_MS	5

struct until {
	int		(*pred)(void *);
	void		*arg;
	int64_t		 deadline;	/* mono ms */
	int		 met;
};

static int64_t
on_poll(struct loop *l, void *arg)
{
	struct until *u = arg;
	int64_t now = loop_now_mono();

	if (u->pred(u->arg)) {
		u->met = 1;
		loop_quit(l, 0);
		return 0;
	}
	if (now >= u->deadline) {
		loop_quit(l, 0);
		return 0;
	}
	return now + POLL_MS;
}

int
ut_run_until(struct loop *l, int (*pred)(void *), void *arg,
    int64_t deadline_ms)
{
	struct until u = { pred, arg, loop_now_mono() + deadline_ms, 0 };
	struct loop_timer *t;

	if (pred(arg))
		return 1;
	t = loop_timer_add(l, on_poll, &u);
	assert_non_null(t);
	/* At once: callbacks that ran before may have made pred true. */
	loop_timer_set(t, loop_now_mono());
	loop_run(l);
	loop_timer_del(t);
	return u.met || pred(arg);
}
