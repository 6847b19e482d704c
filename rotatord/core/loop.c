/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/: mechanism that knows no credential (the epoll loop, timers, logs,
 * sd_notify, schedule arithmetic, the worker thread, libcurl on the loop).
 * Must not include anything else of rotatord.
 */
/*
 * epoll loop.  Callbacks are kept in a small table indexed by slot; the
 * epoll data carries the slot so a removed fd's stale event can be ignored.
 */
#include <errno.h>
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

struct loop {
	int		 epfd;
	struct watch	*w;
	size_t		 nw;
	int		 quit;
	int		 rc;
	void		 (*idle)(void *);
	void		*idle_arg;
};

int
loop_new(struct loop **ret)
{
	struct loop *l;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return -ENOMEM;
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

int
loop_timer_new(void)
{
	int fd = timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK | TFD_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int
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

void
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
