/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helpers: an HTTP/1.1 server on rotatord's loop (util.h).  It runs
 * in the test's process on the same loop as the client under test
 * (upstream.c, etcd.c over libidp's asynchronous client), so a test sets
 * what the server answers in plain variables, holds a request as long as
 * it likes and needs no threads or child processes.  Sockets are
 * non-blocking; what a reply does not send at once waits for EPOLLOUT.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/loop.h"
#include "util.h"

#define REQ_MAX		(1 << 20)

struct ut_http_conn {
	struct ut_httpd		*s;
	struct ut_http_conn	*next;
	int			 fd;
	char			*in;		/* the request as read so far */
	size_t			 in_len;
	int			 handled;	/* the handler has it */
	char			*out;		/* not sent yet */
	size_t			 out_len;
	int			 close_after;	/* once out is sent */
	int			 gone;		/* the client left; fd closed */
};

struct ut_httpd {
	struct loop		*loop;
	int			 lfd;
	int			 port;
	ut_http_handler		 h;
	void			*arg;
	unsigned		 seq;
	struct ut_http_conn	*conns;
};

/* Held by the test: from its handler until it replies or hangs up. */
static int
conn_held(const struct ut_http_conn *c)
{
	return c->handled && !c->close_after;
}

static void
conn_close_fd(struct ut_http_conn *c)
{
	if (c->fd >= 0) {
		loop_del(c->s->loop, c->fd);
		close(c->fd);
	}
	c->fd = -1;
}

static void
conn_free(struct ut_http_conn *c)
{
	struct ut_http_conn **pp;

	for (pp = &c->s->conns; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	conn_close_fd(c);
	free(c->in);
	free(c->out);
	free(c);
}

/*
 * The client went away: a connection the test holds stays (gone) until
 * it lets go, any other is freed.  Returns -1.
 */
static int
conn_lost(struct ut_http_conn *c)
{
	if (conn_held(c)) {
		c->gone = 1;
		conn_close_fd(c);
	} else {
		conn_free(c);
	}
	return -1;
}

static void on_conn(struct loop *, int, uint32_t, void *);

/* Sends what it can; returns -1 when c was freed or is gone. */
static int
conn_flush(struct ut_http_conn *c)
{
	ssize_t n;

	if (c->gone) {
		if (!conn_held(c))
			conn_free(c);
		return -1;
	}
	while (c->out_len > 0) {
		n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0)
			return conn_lost(c);
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len -= (size_t)n;
	}
	if (c->out_len == 0 && c->close_after) {
		/* Half-close first: the client reads to EOF, then we go. */
		shutdown(c->fd, SHUT_WR);
		conn_free(c);
		return -1;
	}
	loop_set(c->s->loop, c->fd, EPOLLIN | (c->out_len > 0 ? EPOLLOUT : 0),
	    on_conn, c);
	return 0;
}

static void
conn_queue(struct ut_http_conn *c, const void *p, size_t n)
{
	char *o = realloc(c->out, c->out_len + n + 1);

	assert_non_null(o);
	memcpy(o + c->out_len, p, n);
	c->out = o;
	c->out_len += n;
}

/* Parses a complete request in c->in and hands it to the handler. */
static void
conn_request(struct ut_http_conn *c, char *end, size_t body_len)
{
	struct ut_http_req r;
	char method[32] = "", *path;
	size_t n;

	memset(&r, 0, sizeof(r));
	end[2] = '\0';			/* the head keeps its last "\r\n" */
	r.head = c->in;
	r.body = end + 4;
	r.body_len = body_len;
	n = strcspn(c->in, " \r\n");
	if (n < sizeof(method))
		memcpy(method, c->in, n);
	method[n < sizeof(method) ? n : 0] = '\0';
	r.method = method;
	path = c->in + n + (c->in[n] == ' ');
	path = strndup(path, strcspn(path, " \r\n"));
	assert_non_null(path);
	r.path = path;
	c->handled = 1;
	r.seq = ++c->s->seq;
	c->s->h(c->s->arg, c, &r);
	free(path);
}

static void
on_conn(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct ut_http_conn *c = arg;
	char buf[16384], *end, *cl;
	size_t want;
	ssize_t n;

	if ((events & EPOLLOUT) && conn_flush(c) < 0)
		return;
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	n = recv(fd, buf, sizeof(buf), 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* The client hung up (a cancelled request, say). */
		conn_lost(c);
		return;
	}
	if (c->handled)
		return;		/* more than one request: not served */
	assert_true(c->in_len + (size_t)n < REQ_MAX);
	c->in = realloc(c->in, c->in_len + (size_t)n + 1);
	assert_non_null(c->in);
	memcpy(c->in + c->in_len, buf, (size_t)n);
	c->in_len += (size_t)n;
	c->in[c->in_len] = '\0';
	if ((end = strstr(c->in, "\r\n\r\n")) == NULL)
		return;
	want = (size_t)(end + 4 - c->in);
	*end = '\0';
	cl = strcasestr(c->in, "\r\ncontent-length:");
	*end = '\r';
	if (cl != NULL)
		want += strtoul(cl + 17, NULL, 10);
	if (c->in_len < want)
		return;
	conn_request(c, end, want - (size_t)(end + 4 - c->in));
}

static void
on_accept(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct ut_httpd *s = arg;
	struct ut_http_conn *c;
	int cfd;

	cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0)
		return;
	c = calloc(1, sizeof(*c));
	assert_non_null(c);
	c->s = s;
	c->fd = cfd;
	c->next = s->conns;
	s->conns = c;
	assert_int_equal(loop_add(l, cfd, EPOLLIN, on_conn, c), 0);
}

struct ut_httpd *
ut_httpd_new(struct loop *l, ut_http_handler h, void *arg)
{
	struct ut_httpd *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	s->loop = l;
	s->h = h;
	s->arg = arg;
	s->lfd = ut_listen_loopback(&s->port);
	assert_int_equal(loop_add(l, s->lfd, EPOLLIN, on_accept, s), 0);
	return s;
}

int
ut_httpd_port(const struct ut_httpd *s)
{
	return s->port;
}

const char *
ut_httpd_url(const struct ut_httpd *s, const char *path)
{
	static char buf[4][512];
	static unsigned i;
	char *u = buf[i++ % 4];

	return ut_snprintf(u, 512, "http://127.0.0.1:%d%s", s->port, path);
}

unsigned
ut_httpd_requests(const struct ut_httpd *s)
{
	return s->seq;
}

void
ut_httpd_free(struct ut_httpd *s)
{
	if (s == NULL)
		return;
	while (s->conns != NULL)
		conn_free(s->conns);
	loop_del(s->loop, s->lfd);
	close(s->lfd);
	free(s);
}

static const char *
reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 404: return "Not Found";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Status";
	}
}

void
ut_http_reply(struct ut_http_conn *c, int status, const char *hdrs,
    const void *body, size_t len)
{
	char head[4096];

	ut_snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n%sConnection: close"
	    "\r\nContent-Length: %zu\r\n\r\n", status, reason(status),
	    hdrs != NULL ? hdrs : "", len);
	conn_queue(c, head, strlen(head));
	conn_queue(c, body, len);
	c->close_after = 1;
	conn_flush(c);
}

void
ut_http_json(struct ut_http_conn *c, int status, const char *json)
{
	ut_http_reply(c, status, "Content-Type: application/json\r\n", json,
	    strlen(json));
}

void
ut_http_hangup(struct ut_http_conn *c)
{
	conn_free(c);
}

int
ut_http_gone(const struct ut_http_conn *c)
{
	return c->gone;
}

void
ut_http_stream(struct ut_http_conn *c, const char *hdrs)
{
	char head[4096];

	if (c->gone)
		return;
	ut_snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\n%s"
	    "Transfer-Encoding: chunked\r\n\r\n", hdrs != NULL ? hdrs : "");
	conn_queue(c, head, strlen(head));
	conn_flush(c);
}

void
ut_http_chunk(struct ut_http_conn *c, const void *data, size_t len)
{
	char size[32];

	if (len == 0 || c->gone)
		return;
	ut_snprintf(size, sizeof(size), "%zx\r\n", len);
	conn_queue(c, size, strlen(size));
	conn_queue(c, data, len);
	conn_queue(c, "\r\n", 2);
	conn_flush(c);
}

void
ut_http_stream_end(struct ut_http_conn *c)
{
	conn_queue(c, "0\r\n\r\n", 5);
	c->close_after = 1;
	conn_flush(c);
}
