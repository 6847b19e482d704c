/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/: mechanism that knows no credential (the epoll loop, timers, logs,
 * sd_notify, schedule arithmetic, the worker thread, libcurl on the loop).
 * Must not include anything else of rotatord.
 */
/*
 * epoll loop.  Callbacks are kept in a small table indexed by slot; the
 * epoll data carries the slot so a removed fd's stale event can be ignored.
 * Timers are a binary min-heap by deadline on one CLOCK_BOOTTIME timerfd,
 * which is armed at the heap's top whenever the top changes.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "core/loop.h"

struct watch {
	int		 fd;		/* -1 when the slot is free */
	loop_cb		 cb;
	void		*arg;
};

#define NOT_IN_HEAP	SIZE_MAX

struct loop_timer {
	struct loop	*loop;
	loop_timer_cb	 cb;
	void		*arg;
	int64_t		 at;		/* 0: disarmed */
	size_t		 idx;		/* in loop->heap, or NOT_IN_HEAP */
	int		 running;	/* its callback is on the stack */
	int		 dead;		/* deleted by its own callback */
	uint64_t	 round;		/* of on_timers() it last fired in */
};

struct loop {
	int		 epfd;
	struct watch	*w;
	size_t		 nw;
	int		 quit;
	int		 rc;
	void		 (*idle)(void *);
	void		*idle_arg;

	int		 tfd;		/* the timers' timerfd, or -1 */
	int64_t		 tfd_at;	/* what it is armed at, 0: disarmed */
	struct loop_timer **heap;
	size_t		 n_heap;
	size_t		 cap_heap;	/* >= n_timers */
	size_t		 n_timers;	/* added and not deleted */
	uint64_t	 round;		/* on_timers() calls */
};

/* Bare CLOCK_BOOTTIME timerfds: the one under the timers, and clockwatch. */
static int loop_timer_new(void);
static int loop_timer_at(int fd, int64_t at);
static void loop_timer_ack(int fd);

int
loop_new(struct loop **ret)
{
	struct loop *l;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return -ENOMEM;
	l->tfd = -1;
	if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		free(l);
		return -errno;
	}
	*ret = l;
	return 0;
}

void
loop_free(struct loop *l)
{
	if (l == NULL)
		return;
	free(l->heap);		/* its timers were deleted first (loop.h) */
	if (l->tfd >= 0)
		close(l->tfd);
	close(l->epfd);
	free(l->w);
	free(l);
}

int
loop_add(struct loop *l, int fd, uint32_t events, loop_cb cb, void *arg)
{
	struct epoll_event ev;
	size_t i;

	for (i = 0; i < l->nw; i++)
		if (l->w[i].fd == -1)
			break;
	if (i == l->nw) {
		struct watch *nw = realloc(l->w, (l->nw + 8) * sizeof(*nw));
		size_t j;

		if (nw == NULL)
			return -ENOMEM;
		for (j = l->nw; j < l->nw + 8; j++)
			nw[j].fd = -1;
		l->w = nw;
		l->nw += 8;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.u64 = i;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	l->w[i].fd = fd;
	l->w[i].cb = cb;
	l->w[i].arg = arg;
	return 0;
}

int
loop_set(struct loop *l, int fd, uint32_t events, loop_cb cb, void *arg)
{
	struct epoll_event ev;
	size_t i;

	for (i = 0; i < l->nw; i++)
		if (l->w[i].fd == fd) {
			memset(&ev, 0, sizeof(ev));
			ev.events = events;
			ev.data.u64 = i;
			if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
				return -errno;
			l->w[i].cb = cb;
			l->w[i].arg = arg;
			return 0;
		}
	return loop_add(l, fd, events, cb, arg);
}

void
loop_del(struct loop *l, int fd)
{
	size_t i;

	for (i = 0; i < l->nw; i++)
		if (l->w[i].fd == fd) {
			epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
			l->w[i].fd = -1;
			return;
		}
}

void
loop_on_idle(struct loop *l, void (*fn)(void *), void *arg)
{
	l->idle = fn;
	l->idle_arg = arg;
}

int
loop_run(struct loop *l)
{
	struct epoll_event evs[16];
	int n, i;

	l->quit = 0;
	while (!l->quit) {
		if (l->idle != NULL)
			l->idle(l->idle_arg);
		n = epoll_wait(l->epfd, evs, 16, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (i = 0; i < n && !l->quit; i++) {
			size_t slot = evs[i].data.u64;

			/* The slot may have been freed by an earlier callback. */
			if (slot >= l->nw || l->w[slot].fd == -1)
				continue;
			l->w[slot].cb(l, l->w[slot].fd, evs[i].events,
			    l->w[slot].arg);
		}
	}
	return l->rc;
}

void
loop_quit(struct loop *l, int rc)
{
	l->quit = 1;
	l->rc = rc;
}

static int64_t
clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
loop_now_mono(void)
{
	return clock_ms(CLOCK_BOOTTIME);
}

int64_t
loop_now_wall(void)
{
	return clock_ms(CLOCK_REALTIME);
}

static int
loop_timer_new(void)
{
	int fd = timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK | TFD_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

static int
loop_timer_at(int fd, int64_t at)
{
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	if (at > 0) {
		its.it_value.tv_sec = at / 1000;
		its.it_value.tv_nsec = (at % 1000) * 1000000;
		/* An all-zero value would disarm; a past time fires at once. */
		if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
			its.it_value.tv_nsec = 1;
	}
	if (timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		return -errno;
	return 0;
}

static void
loop_timer_ack(int fd)
{
	uint64_t n;

	while (read(fd, &n, sizeof(n)) < 0 && errno == EINTR)
		;
}

int
loop_clockwatch_new(void)
{
	int fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (loop_clockwatch_rearm(fd) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	return fd;
}

int
loop_clockwatch_rearm(int fd)
{
	struct itimerspec its;
	uint64_t n;

	/* Drain the ECANCELED state, then arm far in the future. */
	while (read(fd, &n, sizeof(n)) > 0)
		;
	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = (time_t)1 << 40;
	if (timerfd_settime(fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET,
	    &its, NULL) < 0)
		return -errno;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Timers                                                               */

static void
heap_place(struct loop *l, size_t i, struct loop_timer *t)
{
	l->heap[i] = t;
	t->idx = i;
}

static void
heap_up(struct loop *l, size_t i)
{
	struct loop_timer *t = l->heap[i];

	while (i > 0 && l->heap[(i - 1) / 2]->at > t->at) {
		heap_place(l, i, l->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_place(l, i, t);
}

static void
heap_down(struct loop *l, size_t i)
{
	struct loop_timer *t = l->heap[i];
	size_t c;

	while ((c = 2 * i + 1) < l->n_heap) {
		if (c + 1 < l->n_heap && l->heap[c + 1]->at < l->heap[c]->at)
			c++;
		if (l->heap[c]->at >= t->at)
			break;
		heap_place(l, i, l->heap[c]);
		i = c;
	}
	heap_place(l, i, t);
}

static void
heap_remove(struct loop *l, struct loop_timer *t)
{
	size_t i = t->idx;
	struct loop_timer *last;

	if (i == NOT_IN_HEAP)
		return;
	t->idx = NOT_IN_HEAP;
	last = l->heap[--l->n_heap];
	if (last == t)
		return;
	heap_place(l, i, last);
	heap_up(l, i);
	heap_down(l, last->idx);
}

/* Arms the timerfd at the earliest deadline, when that changed. */
static void
timers_arm(struct loop *l)
{
	int64_t at = l->n_heap > 0 ? l->heap[0]->at : 0;

	if (at != l->tfd_at && loop_timer_at(l->tfd, at) == 0)
		l->tfd_at = at;
}

/*
 * Runs the callbacks of the timers that are due, each at most once a
 * round: one that re-arms at once runs again on the next round of the
 * loop, after the fds that are ready, not in a spin here.  Deadlines in
 * the past are taken as now (loop_timer_set()), so a timer that keeps
 * re-arming at once queues behind those that were due before it.
 */
static void
on_timers(struct loop *l, int fd, uint32_t events, void *arg)
{
	int64_t now = loop_now_mono(), next;
	struct loop_timer *t;

	loop_timer_ack(fd);
	l->tfd_at = 0;
	l->round++;
	while (l->n_heap > 0 && l->heap[0]->at <= now &&
	    l->heap[0]->round != l->round && !l->quit) {
		t = l->heap[0];
		t->round = l->round;
		heap_remove(l, t);
		t->at = 0;
		t->running = 1;
		next = t->cb(l, t->arg);
		t->running = 0;
		if (t->dead)
			free(t);
		else if (next > 0)
			loop_timer_set(t, next);
	}
	timers_arm(l);
}

struct loop_timer *
loop_timer_add(struct loop *l, loop_timer_cb cb, void *arg)
{
	struct loop_timer *t, **nh;
	size_t cap;
	int fd;

	if (l->tfd < 0) {
		if ((fd = loop_timer_new()) < 0)
			return NULL;
		if (loop_add(l, fd, EPOLLIN, on_timers, NULL) < 0) {
			close(fd);
			return NULL;
		}
		l->tfd = fd;
	}
	if (l->n_timers == l->cap_heap) {
		cap = l->cap_heap > 0 ? l->cap_heap * 2 : 16;
		if ((nh = reallocarray(l->heap, cap, sizeof(*nh))) == NULL)
			return NULL;
		l->heap = nh;
		l->cap_heap = cap;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	l->n_timers++;
	t->loop = l;
	t->cb = cb;
	t->arg = arg;
	t->idx = NOT_IN_HEAP;
	return t;
}

void
loop_timer_set(struct loop_timer *t, int64_t at)
{
	struct loop *l = t->loop;
	int64_t now;

	heap_remove(l, t);
	t->at = 0;
	if (at <= 0 || t->dead) {
		timers_arm(l);
		return;
	}
	/* loop_timer_add() made room for every timer: no failure here. */
	now = loop_now_mono();
	t->at = at < now ? now : at;
	heap_place(l, l->n_heap++, t);
	heap_up(l, t->idx);
	timers_arm(l);
}

int64_t
loop_timer_when(const struct loop_timer *t)
{
	return t->at;
}

void
loop_timer_del(struct loop_timer *t)
{
	if (t == NULL)
		return;
	heap_remove(t->loop, t);
	t->at = 0;
	timers_arm(t->loop);
	t->loop->n_timers--;
	if (t->running)
		t->dead = 1;
	else
		free(t);
}
