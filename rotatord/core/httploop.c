/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libidp's HTTP client on the daemon's loop (httploop.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "core/httploop.h"

struct httploop {
	struct loop	*loop;
	struct idp_http	*http;
	struct loop_timer *timer;	/* curl's timer */
};

static void
on_fd(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct httploop *hl = arg;
	int what = 0;

	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		what |= IDP_HTTP_IN;
	if (events & (EPOLLOUT | EPOLLERR))
		what |= IDP_HTTP_OUT;
	idp_http_on_fd(hl->http, fd, what);
}

static int64_t
on_timer(struct loop *l, void *arg)
{
	struct httploop *hl = arg;

	idp_http_timeout(hl->http);	/* re-arms through op_timer() */
	return 0;
}

static int
op_watch(void *arg, int fd, int what)
{
	struct httploop *hl = arg;
	uint32_t ev = 0;

	if (what & IDP_HTTP_REMOVE) {
		loop_del(hl->loop, fd);
		return 0;
	}
	if (what & IDP_HTTP_IN)
		ev |= EPOLLIN;
	if (what & IDP_HTTP_OUT)
		ev |= EPOLLOUT;
	return loop_set(hl->loop, fd, ev, on_fd, hl);
}

static int
op_timer(void *arg, long ms)
{
	struct httploop *hl = arg;

	loop_timer_set(hl->timer, ms < 0 ? 0 : loop_now_mono() + ms);
	return 0;
}

int
httploop_new(struct loop *l, struct httploop **ret)
{
	struct httploop *hl;

	if ((hl = calloc(1, sizeof(*hl))) == NULL)
		return -ENOMEM;
	hl->loop = l;
	if ((hl->timer = loop_timer_add(l, on_timer, hl)) == NULL) {
		free(hl);
		return -ENOMEM;
	}
	*ret = hl;
	return 0;
}

int
httploop_client(struct httploop *hl, struct idp_http **ret,
    struct idp_err *err)
{
	struct idp_http_ops ops = { .watch = op_watch, .timer = op_timer };
	int rc;

	if (hl->http == NULL) {
		ops.arg = hl;
		if ((rc = idp_http_new(&ops, &hl->http)) < 0)
			return idp_err_set(err, rc, "cannot start the HTTP "
			    "client: %s", rc == -ENOSYS ? "libcurl.so.4 is not "
			    "installed" : strerror(-rc));
	}
	*ret = hl->http;
	return 0;
}

struct idp_http *
httploop_peek(const struct httploop *hl)
{
	return hl->http;
}

void
httploop_free(struct httploop *hl)
{
	if (hl == NULL)
		return;
	idp_http_free(hl->http);
	loop_timer_del(hl->timer);
	free(hl);
}
