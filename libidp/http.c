/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP client for identity providers: the only libcurl user in the tree.
 *
 * Requests run on one curl multi handle per client, driven by the
 * caller's event loop through struct idp_http_ops (the multi socket API).
 * Every request gets the same policy (see idp/http.h): https only, plain
 * http solely to a loopback address and only when asked, no redirects,
 * TLS verification on, timeouts, a low-speed limit and a body cap that is
 * enforced in the write callback because curl 7.88 does not stop an
 * endless chunked body by itself.
 *
 * Re-entrancy: curl calls our socket and timer callbacks from inside
 * curl_multi_*(); those only forward to the caller's ops.  Completed
 * transfers are collected after curl_multi_socket_action() returns and
 * their callbacks run afterwards, outside of any curl call, so a callback
 * may start new requests or cancel others.  idp_http_free() from a
 * callback is deferred until the outermost entry point returns.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Calls go through the table of curl_dl.h: no compile-time type checks. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <openssl/crypto.h>

#include <idp/http.h>

#include "curl_dl.h"

#define HTTP_DEFAULT_CONNECT_MS	5000L
#define HTTP_DEFAULT_TIMEOUT_MS	10000L
#define HTTP_URL_MAX		8192	/* longest URL accepted */
#define HTTP_HDR_VALUE_MAX	32768	/* longest request header value */
#define HTTP_CT_MAX		256	/* captured Content-Type */
#define HTTP_CC_MAX		512	/* captured Cache-Control */
#define HTTP_LOC_MAX		2048	/* captured Location */
#define HTTP_MAX_HDRS		6	/* Accept, Content-Type, Authorization,
					   Expect, one of the caller's */
#define HTTP_FIRST_CHUNK	16384	/* first response buffer */
#define FETCH_MAX_FDS		16	/* sockets one fetch may watch */
#define FETCH_GRACE_MS		5000	/* poll loop backstop beyond curl's timeout */

static const char user_agent[] = "rotatord-libidp/" IDP_VERSION;

/* One request, from idp_http_start() until its callback returned. */
struct req {
	struct req		*prev;
	struct req		*next;
	struct idp_http		*h;
	CURL			*easy;
	CURLU			*url;
	uint64_t		 id;
	idp_http_cb		 cb;
	void			*arg;
	int			 on_done;	/* in h->done, out of the multi */

	/*
	 * Request headers live in one buffer (NUL-separated lines) that is
	 * wiped when the request ends, because Authorization is a secret;
	 * the list nodes point into it, so curl_slist_append() never makes
	 * an unwiped copy.  The POST body is a wiped copy too.
	 */
	char			*hdrbuf;
	size_t			 hdrbuf_len;
	struct curl_slist	 hdrs[HTTP_MAX_HDRS];
	struct curl_slist	*resolve;
	unsigned char		*body;
	size_t			 body_len;
	int			 plain_http;	/* http:// to loopback */

	/* The response, wiped on free: token responses are secrets. */
	char			*resp;
	size_t			 resp_len;
	size_t			 resp_cap;
	size_t			 max_body;
	int			 too_big;
	int			 oom;
	int			(*on_line)(void *, const char *, size_t);
	void			*line_arg;
	int			 streaming;	/* 2xx seen: lines go to on_line */
	int			 cancelled;	/* on_line said stop */
	char			 content_type[HTTP_CT_MAX];
	char			 cache_control[HTTP_CC_MAX];
	char			 location[HTTP_LOC_MAX];
	int			 location_long;
	char			 refused_ip[64];	/* PREREQ refusal */

	/* Outcome, set when the transfer is collected. */
	int			 rc;
	long			 status;
	int64_t			 started;
	int64_t			 elapsed;
	char			 curl_err[CURL_ERROR_SIZE];
	char			 error[CURL_ERROR_SIZE + 128];
};

struct req_list {
	struct req		*head;
	struct req		*tail;
};

struct idp_http {
	CURLM			*multi;
	struct idp_http_ops	 ops;
	struct req_list		 active;	/* in the multi handle */
	struct req_list		 done;		/* finished, callback pending */
	size_t			 n;		/* both lists */
	uint64_t		 next_id;
	int			 in_curl;	/* inside a curl_multi_*() call */
	int			 busy;		/* public entry points on the stack */
	int			 free_pending;	/* idp_http_free() while busy */
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void
global_init(void)
{
	if (idp_curl_load(NULL) < 0)
		return;
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
list_add(struct req_list *l, struct req *r)
{
	r->next = NULL;
	r->prev = l->tail;
	if (l->tail != NULL)
		l->tail->next = r;
	else
		l->head = r;
	l->tail = r;
}

static void
list_del(struct req_list *l, struct req *r)
{
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		l->head = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	else
		l->tail = r->prev;
	r->prev = r->next = NULL;
}

/* Copies s into a bounded buffer, replacing control characters. */
static void
copy_printable(char *dst, size_t dstsz, const char *s, size_t n)
{
	size_t i, o = 0;

	if (dstsz == 0)
		return;
	for (i = 0; i < n && s[i] != '\0' && o + 1 < dstsz; i++) {
		unsigned char c = (unsigned char)s[i];

		dst[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	dst[o] = '\0';
}

/* Frees a request whose easy handle is no longer in the multi handle. */
static void
req_free(struct req *r)
{
	if (r == NULL)
		return;
	if (r->easy != NULL)
		curl_easy_cleanup(r->easy);
	if (r->url != NULL)
		curl_url_cleanup(r->url);
	if (r->hdrbuf != NULL) {
		OPENSSL_cleanse(r->hdrbuf, r->hdrbuf_len);
		free(r->hdrbuf);
	}
	if (r->body != NULL) {
		OPENSSL_cleanse(r->body, r->body_len);
		free(r->body);
	}
	if (r->resp != NULL) {
		OPENSSL_cleanse(r->resp, r->resp_cap);
		free(r->resp);
	}
	curl_slist_free_all(r->resolve);
	free(r);
}

/* ---- URL policy ---------------------------------------------------- */

/* Returns 1 for 127.0.0.0/8, ::1 (bracketed) and "localhost". */
static int
host_is_loopback(const char *host, int *ret_name)
{
	struct in_addr a4;
	struct in6_addr a6;
	char buf[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(host);

	*ret_name = 0;
	if (strcasecmp(host, "localhost") == 0) {
		*ret_name = 1;
		return 1;
	}
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		if (n - 2 >= sizeof(buf))
			return 0;
		memcpy(buf, host + 1, n - 2);
		buf[n - 2] = '\0';
		return inet_pton(AF_INET6, buf, &a6) == 1 &&
		    IN6_IS_ADDR_LOOPBACK(&a6);
	}
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return 0;
}

/* Returns 1 if the numeric address ip (as curl reports it) is loopback. */
static int
ip_is_loopback(const char *ip)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (ip == NULL)
		return 0;
	if (inet_pton(AF_INET, ip, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, ip, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return 0;
}

/*
 * Parses url with curl's own parser (the request later uses this very
 * CURLU through CURLOPT_CURLU, so the check and the connection cannot
 * disagree about the host) and applies the scheme policy.  On success
 * returns 0, the parsed URL in *ret_u (may be NULL to discard) and in
 * *ret_plain whether this is plain http to loopback; for the name
 * "localhost" *ret_resolve receives a CURLOPT_RESOLVE entry pinning it to
 * 127.0.0.1 and ::1.
 */
static int
url_check(const char *url, int allow_http_loopback, CURLU **ret_u,
    int *ret_plain, struct curl_slist **ret_resolve, struct idp_err *err)
{
	CURLU *u = NULL;
	char *scheme = NULL, *host = NULL, *user = NULL, *zone = NULL;
	char *port = NULL, pin[128], shost[128];
	struct curl_slist *resolve = NULL;
	const unsigned char *p;
	int plain = 0, named, rc;

	if (url == NULL || url[0] == '\0')
		return idp_err_set(err, -EPROTO, "no URL");
	if (strlen(url) > HTTP_URL_MAX)
		return idp_err_set(err, -EPROTO, "URL longer than %d bytes",
		    HTTP_URL_MAX);
	for (p = (const unsigned char *)url; *p != '\0'; p++)
		if (*p <= 0x20 || *p == 0x7f)
			return idp_err_set(err, -EPROTO,
			    "URL contains whitespace or control characters");
	if ((u = curl_url()) == NULL)
		return idp_err_set(err, -ENOMEM, "out of memory");
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
		rc = idp_err_set(err, -EPROTO, "URL does not parse");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    host[0] == '\0') {
		rc = idp_err_set(err, -EPROTO, "URL without scheme or host");
		goto out;
	}
	copy_printable(shost, sizeof(shost), host, strlen(host));
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
		rc = idp_err_set(err, -EPROTO,
		    "URL for %s carries credentials", shost);
		goto out;
	}
	if (strcasecmp(scheme, "https") == 0) {
		plain = 0;
	} else if (strcasecmp(scheme, "http") == 0) {
		if (!allow_http_loopback) {
			rc = idp_err_set(err, -EPROTO,
			    "plain http to %s refused (https required)", shost);
			goto out;
		}
		if (!host_is_loopback(host, &named) ||
		    curl_url_get(u, CURLUPART_ZONEID, &zone, 0) == CURLUE_OK) {
			rc = idp_err_set(err, -EPROTO,
			    "plain http to non-loopback host %s refused", shost);
			goto out;
		}
		plain = 1;
		if (named) {
			if (curl_url_get(u, CURLUPART_PORT, &port,
			    CURLU_DEFAULT_PORT) != CURLUE_OK ||
			    (size_t)snprintf(pin, sizeof(pin),
			    "%s:%s:127.0.0.1,[::1]", host, port) >= sizeof(pin)) {
				rc = idp_err_set(err, -EPROTO,
				    "bad port in URL for %s", shost);
				goto out;
			}
			if (ret_resolve != NULL &&
			    (resolve = curl_slist_append(NULL, pin)) == NULL) {
				rc = idp_err_set(err, -ENOMEM, "out of memory");
				goto out;
			}
		}
	} else {
		char sscheme[32];

		copy_printable(sscheme, sizeof(sscheme), scheme,
		    strlen(scheme));
		rc = idp_err_set(err, -EPROTO, "scheme %s refused (https "
		    "required)", sscheme);
		goto out;
	}
	if (ret_u != NULL) {
		*ret_u = u;
		u = NULL;
	}
	if (ret_plain != NULL)
		*ret_plain = plain;
	if (ret_resolve != NULL) {
		*ret_resolve = resolve;
		resolve = NULL;
	}
	rc = 0;
out:
	curl_slist_free_all(resolve);
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_free(zone);
	curl_free(port);
	curl_url_cleanup(u);
	return rc;
}

/* Pure policy check; see idp/http.h.  Returns 0 or -EPROTO. */
int
idp_http_url_allowed(const char *url, int allow_http_loopback,
    struct idp_err *err)
{
	int rc;

	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return idp_err_set(err, -EPROTO, "libcurl is not available");
	rc = url_check(url, allow_http_loopback, NULL, NULL, NULL, err);
	return rc == -ENOMEM ? rc : (rc < 0 ? -EPROTO : 0);
}

/* ---- curl callbacks -------------------------------------------------- */

/* Socket callback: forwards curl's interest in a socket to the loop. */
static int
sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct idp_http *h = userp;
	int w;

	(void)easy;
	(void)socketp;
	switch (what) {
	case CURL_POLL_IN:
		w = IDP_HTTP_IN;
		break;
	case CURL_POLL_OUT:
		w = IDP_HTTP_OUT;
		break;
	case CURL_POLL_INOUT:
		w = IDP_HTTP_IN | IDP_HTTP_OUT;
		break;
	case CURL_POLL_REMOVE:
		w = IDP_HTTP_REMOVE;
		break;
	default:
		return 0;
	}
	/*
	 * A failure is not reported back: -1 would abort every transfer on
	 * the handle; an unwatched socket only runs into the timeout.
	 */
	(void)h->ops.watch(h->ops.arg, (int)s, w);
	return 0;
}

/* Timer callback: the loop must call idp_http_timeout() after ms (-1: never). */
static int
timer_cb(CURLM *multi, long ms, void *userp)
{
	struct idp_http *h = userp;

	(void)multi;
	(void)h->ops.timer(h->ops.arg, ms);
	return 0;
}

/*
 * Body write callback.  Returning less than offered makes curl fail with
 * CURLE_WRITE_ERROR, which is how an endless or oversized body is cut off.
 * The buffer is grown by copy-and-wipe, never realloc(), so no unwiped
 * copy of a token response is left in freed memory.
 */
/*
 * Streaming: appends n bytes at p to the pending line and hands every
 * complete line to on_line.  Returns 0, or -1 to stop the transfer.
 */
static int
stream_lines(struct req *r, const char *p, size_t n)
{
	const char *nl;
	size_t k;

	while (n > 0) {
		nl = memchr(p, '\n', n);
		k = nl != NULL ? (size_t)(nl - p) : n;
		if (k > r->max_body - r->resp_len) {
			r->too_big = 1;
			return -1;
		}
		if (r->resp_len == 0 && nl != NULL) {
			/* A whole line in curl's buffer: no copy. */
			if (r->on_line(r->line_arg, p, k) < 0) {
				r->cancelled = 1;
				return -1;
			}
		} else {
			if (r->resp_len + k + 1 > r->resp_cap) {
				char *nb = malloc(r->max_body + 1);

				if (nb == NULL) {
					r->oom = 1;
					return -1;
				}
				if (r->resp_len > 0)
					memcpy(nb, r->resp, r->resp_len);
				free(r->resp);
				r->resp = nb;
				r->resp_cap = r->max_body + 1;
			}
			memcpy(r->resp + r->resp_len, p, k);
			r->resp_len += k;
			r->resp[r->resp_len] = '\0';
			if (nl != NULL) {
				size_t whole = r->resp_len;

				r->resp_len = 0;
				if (r->on_line(r->line_arg, r->resp, whole) < 0) {
					r->cancelled = 1;
					return -1;
				}
			}
		}
		if (nl == NULL)
			break;
		n -= k + 1;
		p = nl + 1;
	}
	return 0;
}

static size_t
write_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct req *r = arg;
	size_t n = size * nmemb, need, cap;
	char *nb;

	if (n == 0)
		return 0;
	if (r->on_line != NULL && !r->streaming && r->resp_len == 0) {
		long st = 0;

		(void)curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &st);
		r->streaming = st >= 200 && st < 300;
	}
	if (r->streaming)
		return stream_lines(r, p, n) < 0 ? 0 : n;
	if (n > r->max_body - r->resp_len) {
		r->too_big = 1;
		return 0;
	}
	need = r->resp_len + n + 1;
	if (need > r->resp_cap) {
		cap = r->resp_cap == 0 ? HTTP_FIRST_CHUNK : r->resp_cap;
		while (cap < need)
			cap = cap > SIZE_MAX / 2 ? need : cap * 2;
		if (cap > r->max_body + 1)
			cap = r->max_body + 1;
		if (cap < need)
			cap = need;
		if ((nb = malloc(cap)) == NULL) {
			r->oom = 1;
			return 0;
		}
		if (r->resp != NULL) {
			memcpy(nb, r->resp, r->resp_len);
			OPENSSL_cleanse(r->resp, r->resp_cap);
			free(r->resp);
		}
		r->resp = nb;
		r->resp_cap = cap;
	}
	memcpy(r->resp + r->resp_len, p, n);
	r->resp_len += n;
	r->resp[r->resp_len] = '\0';
	return n;
}

/* Appends a header value to a captured one, ", "-separated, if it fits. */
static void
hdr_capture(char *dst, size_t dstsz, const char *v, size_t n, int join,
    int *ret_long)
{
	size_t have = strlen(dst), sep;

	if (have > 0 && !join)
		return;			/* the first one counts */
	sep = have > 0 ? 2 : 0;
	if (have + sep + n + 1 > dstsz) {
		if (ret_long != NULL)
			*ret_long = 1;
		return;
	}
	if (sep) {
		dst[have++] = ',';
		dst[have++] = ' ';
	}
	copy_printable(dst + have, dstsz - have, v, n);
}

/*
 * Header callback: captures Content-Type, Cache-Control and Location of
 * the final response.  A status line starts a new response (after 1xx),
 * so what was captured before is forgotten.
 */
static size_t
header_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct req *r = arg;
	size_t n = size * nmemb, nl, vl;
	const char *colon, *v;

	if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		r->content_type[0] = '\0';
		r->cache_control[0] = '\0';
		r->location[0] = '\0';
		r->location_long = 0;
		return n;
	}
	if ((colon = memchr(p, ':', n)) == NULL)
		return n;
	nl = (size_t)(colon - p);
	v = colon + 1;
	vl = n - nl - 1;
	while (vl > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vl--;
	}
	while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' ||
	    v[vl - 1] == ' ' || v[vl - 1] == '\t'))
		vl--;
	if (nl == 12 && strncasecmp(p, "content-type", 12) == 0)
		hdr_capture(r->content_type, sizeof(r->content_type), v, vl, 0,
		    NULL);
	else if (nl == 13 && strncasecmp(p, "cache-control", 13) == 0)
		hdr_capture(r->cache_control, sizeof(r->cache_control), v, vl,
		    1, NULL);
	else if (nl == 8 && strncasecmp(p, "location", 8) == 0)
		hdr_capture(r->location, sizeof(r->location), v, vl, 0,
		    &r->location_long);
	return n;
}

/*
 * Runs once the connection stands, before the request is sent: a plain
 * http request must really be talking to a loopback address (this also
 * catches a proxy or a resolver answer that is not loopback).
 */
static int
prereq_cb(void *arg, char *primary_ip, char *local_ip, int primary_port,
    int local_port)
{
	struct req *r = arg;

	(void)local_ip;
	(void)primary_port;
	(void)local_port;
	if (!r->plain_http || ip_is_loopback(primary_ip))
		return CURL_PREREQFUNC_OK;
	copy_printable(r->refused_ip, sizeof(r->refused_ip),
	    primary_ip != NULL ? primary_ip : "?", sizeof(r->refused_ip));
	return CURL_PREREQFUNC_ABORT;
}

/* ---- completion ---------------------------------------------------- */

/* Writes "scheme://host[:port]" of a Location (relative to the request). */
static void
redirect_origin(struct req *r, char *out, size_t outsz)
{
	CURLU *u;
	char *scheme = NULL, *host = NULL, *port = NULL;

	snprintf(out, outsz, "(unparsable Location)");
	if ((u = curl_url_dup(r->url)) == NULL)
		return;
	if (curl_url_set(u, CURLUPART_URL, r->location,
	    CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
		if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK)
			snprintf(out, outsz, "%s://%s:%s", scheme, host, port);
		else
			snprintf(out, outsz, "%s://%s", scheme, host);
		copy_printable(out, outsz, out, outsz);
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
}

/* Maps the transfer's outcome to rc and a reason without secrets. */
static void
req_finish(struct req *r, CURLcode result)
{
	const char *why;
	long verify = 0;
	char origin[256];

	r->elapsed = now_ms() - r->started;
	(void)curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
	why = r->curl_err[0] != '\0' ? r->curl_err : curl_easy_strerror(result);
	switch (result) {
	case CURLE_OK:
		r->rc = 0;
		if (r->status >= 300 && r->status < 400) {
			r->rc = -EPROTO;
			if (r->location_long)
				snprintf(r->error, sizeof(r->error),
				    "redirect (HTTP %ld, overlong Location) "
				    "refused", r->status);
			else if (r->location[0] == '\0')
				snprintf(r->error, sizeof(r->error),
				    "redirect (HTTP %ld) refused", r->status);
			else {
				redirect_origin(r, origin, sizeof(origin));
				snprintf(r->error, sizeof(r->error),
				    "redirect to %s refused", origin);
			}
		}
		return;
	case CURLE_WRITE_ERROR:
	case CURLE_FILESIZE_EXCEEDED:
		if (r->cancelled) {
			r->rc = -ECANCELED;
			snprintf(r->error, sizeof(r->error), "stream ended by "
			    "the reader");
			return;
		}
		if (r->too_big || result == CURLE_FILESIZE_EXCEEDED) {
			r->rc = -E2BIG;
			snprintf(r->error, sizeof(r->error),
			    "response larger than %zu bytes", r->max_body);
			return;
		}
		r->rc = r->oom ? -ENOMEM : -EIO;
		break;
	case CURLE_OPERATION_TIMEDOUT:
		r->rc = -ETIMEDOUT;
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
		r->rc = -EKEYREJECTED;
		break;
	case CURLE_SSL_CONNECT_ERROR:
		/*
		 * A verification failure that curl reports as a connect
		 * error.  curl presets the result to 1 (X509_V_ERR_UNSPECIFIED)
		 * before the handshake, so only a real X509_V_ERR_* (> 1)
		 * means the peer's certificate was judged and refused.
		 */
		(void)curl_easy_getinfo(r->easy, CURLINFO_SSL_VERIFYRESULT,
		    &verify);
		r->rc = verify > 1 ? -EKEYREJECTED : -EIO;
		break;
	case CURLE_COULDNT_CONNECT:
		r->rc = -ECONNREFUSED;
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		r->rc = -EHOSTUNREACH;
		break;
	case CURLE_UNSUPPORTED_PROTOCOL:
		r->rc = -EPROTO;
		break;
	case CURLE_ABORTED_BY_CALLBACK:
		if (r->refused_ip[0] != '\0') {
			r->rc = -EPROTO;
			snprintf(r->error, sizeof(r->error),
			    "plain http to non-loopback address %s refused",
			    r->refused_ip);
			return;
		}
		r->rc = -EIO;
		break;
	case CURLE_OUT_OF_MEMORY:
		r->rc = -ENOMEM;
		break;
	default:
		r->rc = -EIO;
		break;
	}
	copy_printable(r->error, sizeof(r->error), why, strlen(why));
}

/*
 * Moves every finished transfer from the multi handle to the done list.
 * Runs right after a curl_multi_*() call returned, never from inside one.
 */
static void
collect(struct idp_http *h)
{
	CURLMsg *msg;
	CURL *easy;
	CURLcode result;
	struct req *r;
	char *priv;
	int left;

	while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		/* msg dies with curl_multi_remove_handle(): copy first. */
		easy = msg->easy_handle;
		result = msg->data.result;
		priv = NULL;
		if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv) !=
		    CURLE_OK || priv == NULL)
			continue;
		r = (struct req *)(void *)priv;
		curl_multi_remove_handle(h->multi, easy);
		req_finish(r, result);
		list_del(&h->active, r);
		r->on_done = 1;
		list_add(&h->done, r);
	}
}

/* Runs the callbacks of finished requests, outside of any curl call. */
static void
dispatch(struct idp_http *h)
{
	struct idp_http_resp resp;
	struct req *r;

	while (!h->free_pending && (r = h->done.head) != NULL) {
		list_del(&h->done, r);
		h->n--;
		memset(&resp, 0, sizeof(resp));
		resp.rc = r->rc;
		resp.status = r->status;
		if (r->rc == 0 && r->resp != NULL) {
			resp.body = r->resp;
			resp.body_len = r->resp_len;
		} else {
			resp.body = "";
			resp.body_len = 0;
		}
		resp.content_type = r->content_type[0] ? r->content_type : NULL;
		resp.cache_control = r->cache_control[0] ?
		    r->cache_control : NULL;
		resp.location = r->location[0] ? r->location : NULL;
		resp.error = r->rc < 0 ? r->error : NULL;
		resp.elapsed_ms = r->elapsed;
		r->cb(r->arg, &resp);
		req_free(r);
	}
}

/* Frees the client: pending requests are dropped without callbacks. */
static void
destroy(struct idp_http *h)
{
	struct req *r;

	h->in_curl = 1;
	while ((r = h->active.head) != NULL) {
		list_del(&h->active, r);
		curl_multi_remove_handle(h->multi, r->easy);
		req_free(r);
	}
	while ((r = h->done.head) != NULL) {
		list_del(&h->done, r);
		req_free(r);
	}
	/* Cached connections are closed here; curl may still call watch. */
	curl_multi_cleanup(h->multi);
	(void)h->ops.timer(h->ops.arg, -1);
	free(h);
}

static void
enter(struct idp_http *h)
{
	h->busy++;
}

/* Leaves a public entry point; h is gone afterwards if it was freed. */
static void
leave(struct idp_http *h)
{
	if (--h->busy == 0 && h->free_pending)
		destroy(h);
}

/* ---- public API ---------------------------------------------------- */

/* Creates a client on a new multi handle.  Free with idp_http_free(). */
int
idp_http_new(const struct idp_http_ops *ops, struct idp_http **ret)
{
	struct idp_http *h;

	if (ops == NULL || ops->watch == NULL || ops->timer == NULL ||
	    ret == NULL)
		return -EINVAL;
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return -ENOSYS;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return -ENOMEM;
	h->ops = *ops;
	h->next_id = 1;
	if ((h->multi = curl_multi_init()) == NULL) {
		free(h);
		return -ENOMEM;
	}
	if (curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, sock_cb) ||
	    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h) ||
	    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb) ||
	    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h)) {
		curl_multi_cleanup(h->multi);
		free(h);
		return -EIO;
	}
	*ret = h;
	return 0;
}

/* Drops pending requests without calling back and frees h (deferred while busy). */
void
idp_http_free(struct idp_http *h)
{
	if (h == NULL)
		return;
	if (h->busy > 0) {
		h->free_pending = 1;
		return;
	}
	destroy(h);
}

/* Returns 0 if v may go into a header line (no CR, LF, bounded). */
static int
hdr_value_ok(const char *v)
{
	return v == NULL || (strlen(v) <= HTTP_HDR_VALUE_MAX &&
	    strpbrk(v, "\r\n") == NULL);
}

/* Builds the header buffer and list of r. */
static int
req_headers(struct req *r, const struct idp_http_req *req, int post)
{
	const char *name[HTTP_MAX_HDRS], *val[HTTP_MAX_HDRS];
	size_t n = 0, i, len = 0, off = 0;
	int w;

	name[n] = "Accept";
	val[n++] = req->accept != NULL ? req->accept : "application/json";
	if (req->content_type != NULL) {
		name[n] = "Content-Type";
		val[n++] = req->content_type;
	}
	if (req->authorization != NULL) {
		name[n] = "Authorization";
		val[n++] = req->authorization;
	}
	if (req->header != NULL) {
		/* "Name: value": the name is everything before the colon. */
		name[n] = "";
		val[n++] = req->header;
	}
	if (post) {
		/* No "Expect: 100-continue" stall on larger bodies. */
		name[n] = "Expect";
		val[n++] = "";
	}
	for (i = 0; i < n; i++)
		len += strlen(name[i]) + 2 + strlen(val[i]) + 1;
	if ((r->hdrbuf = malloc(len)) == NULL)
		return -ENOMEM;
	r->hdrbuf_len = len;
	for (i = 0; i < n; i++) {
		/* "Expect:" with nothing after it removes the header. */
		if (name[i][0] == '\0')
			w = snprintf(r->hdrbuf + off, len - off, "%s", val[i]);
		else
			w = snprintf(r->hdrbuf + off, len - off, "%s:%s%s",
			    name[i], val[i][0] != '\0' ? " " : "", val[i]);
		r->hdrs[i].data = r->hdrbuf + off;
		r->hdrs[i].next = i + 1 < n ? &r->hdrs[i + 1] : NULL;
		off += (size_t)w + 1;
	}
	return 0;
}

#define SETOPT(opt, val)						\
	do {								\
		if (curl_easy_setopt(r->easy, (opt), (val)) != CURLE_OK) { \
			rc = idp_err_set(err, -EIO,			\
			    "curl refused option %s", #opt);		\
			goto out;					\
		}							\
	} while (0)

/* idp_http_start() with a reason for refusals in err. */
static int
http_start(struct idp_http *h, const struct idp_http_req *req, idp_http_cb cb,
    void *arg, uint64_t *ret_id, struct idp_err *err)
{
	struct req *r = NULL;
	long connect_ms, timeout_ms, low_speed_s;
	int post, rc;

	if (h == NULL || req == NULL || cb == NULL)
		return idp_err_set(err, -EINVAL, "no request");
	if (h->in_curl || h->free_pending)
		return idp_err_set(err, -EBUSY,
		    "client busy (called from a watch or timer op) or freed");
	if (req->method == NULL || strcmp(req->method, "GET") == 0)
		post = 0;
	else if (strcmp(req->method, "POST") == 0)
		post = 1;
	else
		return idp_err_set(err, -EINVAL, "method must be GET or POST");
	if (!post && req->body != NULL && req->body_len > 0)
		return idp_err_set(err, -EINVAL, "GET with a body");
	if (post && req->body == NULL && req->body_len > 0)
		return idp_err_set(err, -EINVAL, "POST body is NULL");
	if (!hdr_value_ok(req->content_type) || !hdr_value_ok(req->accept) ||
	    !hdr_value_ok(req->authorization) || !hdr_value_ok(req->header) ||
	    (req->header != NULL && (strchr(req->header, ':') == NULL ||
	    req->header[0] == ':')))
		return idp_err_set(err, -EINVAL,
		    "header value with CR or LF, or too long");
	if (req->connect_timeout_ms < 0 || req->timeout_ms < 0)
		return idp_err_set(err, -EINVAL, "negative timeout");
	if ((req->cert_file == NULL) != (req->key_file == NULL))
		return idp_err_set(err, -EINVAL, "a client certificate needs "
		    "its key, and a key its certificate");

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return idp_err_set(err, -ENOMEM, "out of memory");
	r->h = h;
	r->cb = cb;
	r->arg = arg;
	r->on_line = req->on_line;
	r->line_arg = req->line_arg;
	r->max_body = req->max_body > 0 ? req->max_body :
	    IDP_HTTP_DEFAULT_MAX_BODY;
	if (r->max_body >= SIZE_MAX / 2) {
		rc = idp_err_set(err, -EINVAL, "max_body too large");
		goto out;
	}
	if ((rc = url_check(req->url, req->allow_http_loopback, &r->url,
	    &r->plain_http, &r->resolve, err)) < 0)
		goto out;
	if ((rc = req_headers(r, req, post)) < 0) {
		idp_err_set(err, rc, "out of memory");
		goto out;
	}
	if (post && req->body_len > 0) {
		if ((r->body = malloc(req->body_len)) == NULL) {
			rc = idp_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		memcpy(r->body, req->body, req->body_len);
		r->body_len = req->body_len;
	}
	connect_ms = req->connect_timeout_ms > 0 ? req->connect_timeout_ms :
	    HTTP_DEFAULT_CONNECT_MS;
	timeout_ms = req->timeout_ms > 0 ? req->timeout_ms :
	    HTTP_DEFAULT_TIMEOUT_MS;
	/* Below 1 byte/s for the whole timeout: dead at the timeout anyway. */
	low_speed_s = (timeout_ms + 999) / 1000;

	if ((r->easy = curl_easy_init()) == NULL) {
		rc = idp_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	SETOPT(CURLOPT_PRIVATE, (char *)(void *)r);
	SETOPT(CURLOPT_CURLU, r->url);
	SETOPT(CURLOPT_PROTOCOLS_STR, r->plain_http ? "http" : "https");
	SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "https");
	SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(CURLOPT_MAXREDIRS, 0L);
	SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
	SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
	SETOPT(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (req->ca_file != NULL) {
		/* Only this bundle: Debian's curl also has a default CApath. */
		SETOPT(CURLOPT_CAINFO, req->ca_file);
		SETOPT(CURLOPT_CAPATH, (char *)NULL);
	}
	if (req->cert_file != NULL && req->key_file != NULL) {
		/* Mutual TLS (etcd with --client-cert-auth). */
		SETOPT(CURLOPT_SSLCERT, req->cert_file);
		SETOPT(CURLOPT_SSLCERTTYPE, "PEM");
		SETOPT(CURLOPT_SSLKEY, req->key_file);
		SETOPT(CURLOPT_SSLKEYTYPE, "PEM");
	}
	SETOPT(CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	if (r->on_line == NULL) {
		SETOPT(CURLOPT_TIMEOUT_MS, timeout_ms);
		SETOPT(CURLOPT_LOW_SPEED_LIMIT, 1L);
		SETOPT(CURLOPT_LOW_SPEED_TIME, low_speed_s);
	} else {
		/* A stream may be quiet for long: probes find a dead peer. */
		SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
		SETOPT(CURLOPT_TCP_KEEPIDLE, 10L);
		SETOPT(CURLOPT_TCP_KEEPINTVL, 5L);
	}
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	SETOPT(CURLOPT_USERAGENT, user_agent);
	SETOPT(CURLOPT_HTTPHEADER, &r->hdrs[0]);
	SETOPT(CURLOPT_ERRORBUFFER, r->curl_err);
	SETOPT(CURLOPT_WRITEFUNCTION, write_cb);
	SETOPT(CURLOPT_WRITEDATA, r);
	SETOPT(CURLOPT_HEADERFUNCTION, header_cb);
	SETOPT(CURLOPT_HEADERDATA, r);
	if (r->on_line == NULL)
		SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)r->max_body);
	SETOPT(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
	SETOPT(CURLOPT_PREREQFUNCTION, prereq_cb);
	SETOPT(CURLOPT_PREREQDATA, r);
	if (r->plain_http)
		/* Plaintext to loopback never goes through a proxy. */
		SETOPT(CURLOPT_NOPROXY, "*");
	if (r->resolve != NULL)
		SETOPT(CURLOPT_RESOLVE, r->resolve);
	if (post) {
		SETOPT(CURLOPT_POST, 1L);
		SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
		SETOPT(CURLOPT_POSTFIELDS, r->body != NULL ? (char *)r->body :
		    "");
	} else {
		SETOPT(CURLOPT_HTTPGET, 1L);
	}

	r->id = h->next_id++;
	r->started = now_ms();
	h->in_curl = 1;
	if (curl_multi_add_handle(h->multi, r->easy) != CURLM_OK) {
		h->in_curl = 0;
		rc = idp_err_set(err, -ENOMEM, "curl_multi_add_handle failed");
		goto out;
	}
	h->in_curl = 0;
	list_add(&h->active, r);
	h->n++;
	if (ret_id != NULL)
		*ret_id = r->id;
	r = NULL;
	rc = 0;
out:
	req_free(r);
	return rc;
}

#undef SETOPT

/* Starts a request; see idp/http.h. */
int
idp_http_start(struct idp_http *h, const struct idp_http_req *req,
    idp_http_cb cb, void *arg, uint64_t *ret_id)
{
	int rc;

	if (h == NULL)
		return -EINVAL;
	enter(h);
	rc = http_start(h, req, cb, arg, ret_id, NULL);
	leave(h);
	return rc;
}

/* Cancels request id without calling back; unknown ids are ignored. */
void
idp_http_cancel(struct idp_http *h, uint64_t id)
{
	struct req *r;

	if (h == NULL || h->in_curl)
		return;
	for (r = h->active.head; r != NULL; r = r->next)
		if (r->id == id)
			break;
	if (r != NULL) {
		list_del(&h->active, r);
		h->in_curl = 1;
		curl_multi_remove_handle(h->multi, r->easy);
		h->in_curl = 0;
		h->n--;
		req_free(r);
		return;
	}
	for (r = h->done.head; r != NULL; r = r->next)
		if (r->id == id)
			break;
	if (r != NULL) {
		list_del(&h->done, r);
		h->n--;
		req_free(r);
	}
}

/* Lets curl act on fd, then runs the callbacks of finished requests. */
void
idp_http_on_fd(struct idp_http *h, int fd, int what)
{
	int mask = 0, running;

	if (h == NULL || h->in_curl || h->free_pending)
		return;
	if (what & IDP_HTTP_IN)
		mask |= CURL_CSELECT_IN;
	if (what & IDP_HTTP_OUT)
		mask |= CURL_CSELECT_OUT;
	enter(h);
	h->in_curl = 1;
	(void)curl_multi_socket_action(h->multi, (curl_socket_t)fd, mask,
	    &running);
	collect(h);
	h->in_curl = 0;
	dispatch(h);
	leave(h);
}

/* Lets curl handle timeouts, then runs the callbacks of finished requests. */
void
idp_http_timeout(struct idp_http *h)
{
	int running;

	if (h == NULL || h->in_curl || h->free_pending)
		return;
	enter(h);
	h->in_curl = 1;
	(void)curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0,
	    &running);
	collect(h);
	h->in_curl = 0;
	dispatch(h);
	leave(h);
}

/* Returns the number of requests whose callback has not run yet. */
size_t
idp_http_pending(const struct idp_http *h)
{
	return h == NULL ? 0 : h->n;
}

/* ---- blocking fetch on a private poll loop ------------------------- */

struct fetch {
	struct pollfd		 fds[FETCH_MAX_FDS];
	nfds_t			 nfds;
	int64_t			 deadline;	/* monotonic ms, -1: none */
	int			 done;
	struct idp_http_resp	*out;
};

static int
fetch_watch(void *arg, int fd, int what)
{
	struct fetch *f = arg;
	nfds_t i;

	for (i = 0; i < f->nfds; i++)
		if (f->fds[i].fd == fd)
			break;
	if (what & IDP_HTTP_REMOVE) {
		if (i < f->nfds)
			f->fds[i] = f->fds[--f->nfds];
		return 0;
	}
	if (i == f->nfds) {
		if (f->nfds == FETCH_MAX_FDS)
			return -1;
		f->nfds++;
		f->fds[i].fd = fd;
	}
	f->fds[i].events = (short)(((what & IDP_HTTP_IN) ? POLLIN : 0) |
	    ((what & IDP_HTTP_OUT) ? POLLOUT : 0));
	f->fds[i].revents = 0;
	return 0;
}

static int
fetch_timer(void *arg, long ms)
{
	struct fetch *f = arg;

	f->deadline = ms < 0 ? -1 : now_ms() + ms;
	return 0;
}

static char *
dup_or_null(const char *s, int *oom)
{
	char *d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		*oom = 1;
	return d;
}

/* Fills out with an error of its own (allocated, so resp_free() works). */
static void
fetch_fail(struct idp_http_resp *out, int rc, const char *why)
{
	char *body = calloc(1, 1);

	memset(out, 0, sizeof(*out));
	out->rc = rc;
	out->body = body;
	out->error = strdup(why);
}

/* The fetch's callback: deep-copies the response for the caller. */
static void
fetch_cb(void *arg, const struct idp_http_resp *resp)
{
	struct fetch *f = arg;
	struct idp_http_resp *o = f->out;
	char *body;
	int oom = 0;

	f->done = 1;
	memset(o, 0, sizeof(*o));
	if ((body = malloc(resp->body_len + 1)) == NULL) {
		fetch_fail(o, -ENOMEM, "out of memory");
		return;
	}
	memcpy(body, resp->body, resp->body_len);
	body[resp->body_len] = '\0';
	*o = *resp;
	o->body = body;
	o->content_type = dup_or_null(resp->content_type, &oom);
	o->cache_control = dup_or_null(resp->cache_control, &oom);
	o->location = dup_or_null(resp->location, &oom);
	o->error = dup_or_null(resp->error, &oom);
	if (oom) {
		idp_http_resp_free(o);
		fetch_fail(o, -ENOMEM, "out of memory");
	}
}

static int
fetch_watched(const struct fetch *f, int fd)
{
	nfds_t i;

	for (i = 0; i < f->nfds; i++)
		if (f->fds[i].fd == fd)
			return 1;
	return 0;
}

/*
 * Runs one request on a private poll() loop over the same asynchronous
 * code the daemon uses.  *ret is always filled (rc < 0 included); free its
 * strings with idp_http_resp_free().  Returns ret->rc.
 */
int
idp_http_fetch(const struct idp_http_req *req, struct idp_http_resp *ret)
{
	struct idp_http_ops ops;
	struct idp_http *h = NULL;
	struct fetch f;
	struct pollfd fds[FETCH_MAX_FDS];
	struct idp_err err;
	int64_t now, hard, wait;
	long total;
	nfds_t i, nfds;
	int n, rc;

	if (ret == NULL)
		return -EINVAL;
	memset(&f, 0, sizeof(f));
	f.deadline = -1;
	f.out = ret;
	ops.watch = fetch_watch;
	ops.timer = fetch_timer;
	ops.arg = &f;
	if (req == NULL) {
		fetch_fail(ret, -EINVAL, "no request");
		return ret->rc;
	}
	if ((rc = idp_http_new(&ops, &h)) < 0) {
		fetch_fail(ret, rc, "cannot create an HTTP client");
		return ret->rc;
	}
	enter(h);
	rc = http_start(h, req, fetch_cb, &f, NULL, &err);
	leave(h);
	if (rc < 0) {
		fetch_fail(ret, rc, err.msg);
		idp_http_free(h);
		return ret->rc;
	}
	/*
	 * curl enforces the timeouts; this backstop only guarantees the loop
	 * ends even if it did not.
	 */
	total = (req->timeout_ms > 0 ? req->timeout_ms :
	    HTTP_DEFAULT_TIMEOUT_MS);
	hard = now_ms() + total + FETCH_GRACE_MS;
	while (!f.done) {
		now = now_ms();
		if (now >= hard) {
			fetch_fail(ret, -ETIMEDOUT, "request did not end in "
			    "time (poll loop backstop)");
			break;
		}
		wait = f.deadline < 0 ? 1000 : f.deadline - now;
		if (wait < 0)
			wait = 0;
		if (wait > hard - now)
			wait = hard - now;
		nfds = f.nfds;
		memcpy(fds, f.fds, sizeof(fds[0]) * nfds);
		n = poll(fds, nfds, (int)wait);
		if (n < 0 && errno != EINTR) {
			fetch_fail(ret, -errno, "poll failed");
			break;
		}
		for (i = 0; n > 0 && i < nfds && !f.done; i++) {
			int what = 0;

			if (fds[i].revents == 0 || !fetch_watched(&f, fds[i].fd))
				continue;
			if (fds[i].revents & (POLLIN | POLLHUP | POLLERR))
				what |= IDP_HTTP_IN;
			if (fds[i].revents & (POLLOUT | POLLERR))
				what |= IDP_HTTP_OUT;
			idp_http_on_fd(h, fds[i].fd, what);
		}
		if (!f.done && (f.deadline < 0 || now_ms() >= f.deadline)) {
			f.deadline = -1;
			idp_http_timeout(h);
		}
	}
	idp_http_free(h);
	return ret->rc;
}

/* Frees what idp_http_fetch() put into r (the body is wiped) and zeroes r. */
void
idp_http_resp_free(struct idp_http_resp *r)
{
	if (r == NULL)
		return;
	if (r->body != NULL) {
		OPENSSL_cleanse((void *)(uintptr_t)r->body, r->body_len);
		free((void *)(uintptr_t)r->body);
	}
	free((void *)(uintptr_t)r->content_type);
	free((void *)(uintptr_t)r->cache_control);
	free((void *)(uintptr_t)r->location);
	free((void *)(uintptr_t)r->error);
	memset(r, 0, sizeof(*r));
}

/* ---- forms --------------------------------------------------------- */

/* RFC 3986 unreserved characters, kept as they are. */
static int
form_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~';
}

static size_t
form_len(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += form_unreserved((unsigned char)*s) || *s == ' ' ? 1 : 3;
	return n;
}

static char *
form_put(char *o, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char c;

	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (form_unreserved(c)) {
			*o++ = (char)c;
		} else if (c == ' ') {
			*o++ = '+';
		} else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 0xf];
		}
	}
	return o;
}

/*
 * Appends "&key=value" (no '&' first) form-urlencoded.  The buffer grows
 * by copy-and-wipe, never realloc(), so a secret in it leaves no unwiped
 * copy behind; the caller wipes the final buffer.
 */
int
idp_form_append(char **buf, size_t *len, size_t *cap, const char *key,
    const char *value)
{
	size_t kl, vl, need, ncap;
	char *nb, *o;

	if (buf == NULL || len == NULL || cap == NULL || key == NULL)
		return -EINVAL;
	if (value == NULL)
		value = "";
	if (strlen(key) > SIZE_MAX / 8 || strlen(value) > SIZE_MAX / 8)
		return -ENOMEM;
	kl = form_len(key);
	vl = form_len(value);
	if (*len > SIZE_MAX / 2 || kl + vl > SIZE_MAX / 2 - *len - 3)
		return -ENOMEM;
	need = *len + (*len > 0 ? 1 : 0) + kl + 1 + vl + 1;
	if (*buf == NULL || need > *cap) {
		ncap = *cap > 0 ? *cap : 64;
		while (ncap < need)
			ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
		if ((nb = malloc(ncap)) == NULL)
			return -ENOMEM;
		if (*buf != NULL) {
			memcpy(nb, *buf, *len);
			OPENSSL_cleanse(*buf, *cap);
			free(*buf);
		}
		*buf = nb;
		*cap = ncap;
	}
	o = *buf + *len;
	if (*len > 0)
		*o++ = '&';
	o = form_put(o, key);
	*o++ = '=';
	o = form_put(o, value);
	*o = '\0';
	*len = (size_t)(o - *buf);
	return 0;
}
