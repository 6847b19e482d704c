/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP client for identity providers: the only libcurl user.  Requests run
 * on a curl multi handle driven by the caller's event loop (socket and
 * timer callbacks), so nothing here blocks.
 *
 * Policy on every request: TLS verification always on (ca_file, or the
 * system store); https only, except http to a loopback address
 * (127.0.0.0/8, ::1, "localhost") when allowed; no redirects are followed
 * (a 3xx is an error naming the Location's origin); connect and total
 * timeouts; a low-speed limit; the response body capped in the write
 * callback (curl 7.88 does not stop an endless chunked body by itself);
 * no Accept-Encoding; HTTPS_PROXY / NO_PROXY honoured as curl does; a
 * User-Agent "rotatord-libidp/VERSION".
 */
#ifndef IDP_HTTP_H
#define IDP_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <idp/idp.h>

#define IDP_HTTP_IN	0x1
#define IDP_HTTP_OUT	0x2
#define IDP_HTTP_REMOVE	0x4

#define IDP_HTTP_DEFAULT_MAX_BODY	(1 << 20)	/* 1 MiB */

struct idp_http;

/*
 * How the client asks the caller's loop to watch sockets and a timer.
 * The ops are called from inside libcurl: they must only (re)arm the
 * loop and must not call back into the client (idp_http_start() returns
 * -EBUSY there, the other entry points do nothing).  A timer of 0 ms asks
 * for idp_http_timeout() on the next loop iteration.  The ops must stay
 * valid until idp_http_free() has returned; it cancels the timer (-1).
 */
struct idp_http_ops {
	/* Watch fd for IDP_HTTP_IN|OUT, or stop (IDP_HTTP_REMOVE). */
	int	(*watch)(void *arg, int fd, int what);
	/* Call idp_http_timeout() after ms milliseconds (-1: cancel). */
	int	(*timer)(void *arg, long ms);
	void	 *arg;
};

/* One request.  Strings are copied by idp_http_start(). */
struct idp_http_req {
	const char	*url;
	const char	*method;	/* "GET" (default) or "POST" */
	const void	*body;		/* POST body, may be NULL */
	size_t		 body_len;
	const char	*content_type;	/* e.g. "application/x-www-form-urlencoded" */
	const char	*authorization;	/* whole header value (secret), or NULL */
	const char	*accept;	/* default "application/json" */
	const char	*ca_file;	/* PEM bundle, NULL: system store */
	const char	*cert_file;	/* client certificate (PEM), or NULL */
	const char	*key_file;	/* its private key (PEM), with cert_file */
	long		 connect_timeout_ms;	/* default 5000 */
	long		 timeout_ms;		/* total, default 10000 */
	size_t		 max_body;		/* default IDP_HTTP_DEFAULT_MAX_BODY */
	int		 allow_http_loopback;	/* http:// to loopback allowed */
	/* One more request header, "Name: value" (no CR or LF), or NULL. */
	const char	*header;
	/*
	 * Streaming (a watch): when set, a 2xx body is handed over line by
	 * line ('\n' removed) as it arrives instead of being collected;
	 * max_body caps one line.  The stream has no total timeout and no
	 * low-speed limit (it may be quiet for long); TCP keep-alive probes
	 * (every 5 s after 10 s idle) notice a dead peer.  Returning < 0
	 * ends the transfer (the callback then gets -ECANCELED).  The
	 * callback runs when the stream ends, with what is left of the body
	 * (a last line without '\n', or a non-2xx answer).
	 */
	int		(*on_line)(void *arg, const char *line, size_t len);
	void		 *line_arg;
};

/*
 * What came back.  body is NUL-terminated; all of it is freed after the
 * callback.  When rc < 0 the body is empty (a partial body is never
 * handed out); status and the headers are kept where one arrived.
 */
struct idp_http_resp {
	int		 rc;		/* 0, or -errno (see below) */
	long		 status;	/* HTTP status, 0 if none */
	const char	*body;
	size_t		 body_len;
	const char	*content_type;	/* or NULL */
	const char	*cache_control;	/* or NULL */
	const char	*location;	/* of a refused redirect, or NULL */
	const char	*error;		/* human reason when rc < 0 (no secrets) */
	int64_t		 elapsed_ms;
};

/*
 * rc values: -ETIMEDOUT (connect or total timeout, or too slow),
 * -E2BIG (body or, streaming, a line over max_body), -ECANCELED (on_line
 * ended the stream), -EPROTO (refused redirect, bad scheme),
 * -ECONNREFUSED / -EHOSTUNREACH, -EKEYREJECTED (TLS verification
 * failed), -EIO (other transport errors).  An HTTP error status is rc 0
 * with status >= 400.
 */
typedef void (*idp_http_cb)(void *arg, const struct idp_http_resp *resp);

/* Creates a client.  Returns 0 or -errno; free with idp_http_free(). */
int idp_http_new(const struct idp_http_ops *ops, struct idp_http **ret);

/* Aborts pending requests (their callbacks are not called) and frees h. */
void idp_http_free(struct idp_http *h);

/*
 * Checks req->url against the policy (scheme, loopback) without I/O.
 * Returns 0 or -EPROTO with a reason in err.
 */
int idp_http_url_allowed(const char *url, int allow_http_loopback,
    struct idp_err *err);

/*
 * Starts a request; cb runs from idp_http_on_fd() / idp_http_timeout()
 * when it ends.  Returns 0 and an id for idp_http_cancel() in *ret_id
 * (optional), or -errno (the callback is then not called).
 *
 * Callbacks run outside of any libcurl call, so from one a caller may
 * start requests, cancel others, or idp_http_free() the client (the free
 * is deferred until the client's entry point returns; no further
 * callbacks run).
 */
int idp_http_start(struct idp_http *h, const struct idp_http_req *req,
    idp_http_cb cb, void *arg, uint64_t *ret_id);

/* Cancels request id; its callback is not called.  Unknown ids are ignored. */
void idp_http_cancel(struct idp_http *h, uint64_t id);

/* The loop reports that fd is ready (IDP_HTTP_IN|OUT). */
void idp_http_on_fd(struct idp_http *h, int fd, int what);

/* The loop reports that the timer asked for has expired. */
void idp_http_timeout(struct idp_http *h);

/* Returns the number of requests in flight. */
size_t idp_http_pending(const struct idp_http *h);

/*
 * Runs one request to completion on a private poll loop (for tools and
 * tests).  *ret is filled like the callback's argument; free its strings
 * with idp_http_resp_free().  Returns resp.rc.  *ret is filled even when
 * the request is refused before it starts (then with an error reason).
 */
int idp_http_fetch(const struct idp_http_req *req, struct idp_http_resp *ret);
void idp_http_resp_free(struct idp_http_resp *r);

/*
 * Appends s form-urlencoded (application/x-www-form-urlencoded, RFC 6749
 * appendix B: unreserved kept, space as '+', the rest %XX) to buf of
 * size *len / cap, growing it.  Returns 0 or -ENOMEM.  For secrets the
 * caller wipes buf.
 */
int idp_form_append(char **buf, size_t *len, size_t *cap, const char *key,
    const char *value);

#endif
