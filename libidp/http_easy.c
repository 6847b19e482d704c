/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One transfer's curl easy handle: the options of the request policy (see
 * idp/http.h), the write, header and pre-request callbacks that enforce
 * the body cap and the loopback rule while the transfer runs, and the
 * mapping of its outcome to an errno and a reason.  The multi handle, the
 * event loop, the request lists and the request's callback are http.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Calls go through the table of curl_dl.h: no compile-time type checks. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <openssl/crypto.h>

#include <idp/http.h>

#include "curl_dl.h"
#include "http_int.h"

static const char user_agent[] = "rotatord-libidp/" IDP_VERSION;

/* Copies s into a bounded buffer, replacing control characters. */
void
idp_http_copy_printable(char *dst, size_t dstsz, const char *s, size_t n)
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

/* ---- curl callbacks -------------------------------------------------- */

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
				/* Wiped as in write_cb(): never freed unwiped. */
				if (r->resp != NULL)
					OPENSSL_cleanse(r->resp, r->resp_cap);
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

/*
 * Body write callback.  Returning less than offered makes curl fail with
 * CURLE_WRITE_ERROR, which is how an endless or oversized body is cut off.
 * The buffer is grown by copy-and-wipe, never realloc(), so no unwiped
 * copy of a token response is left in freed memory.
 */
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
	idp_http_copy_printable(dst + have, dstsz - have, v, n);
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
	if (!r->plain_http || idp_http_ip_is_loopback(primary_ip))
		return CURL_PREREQFUNC_OK;
	idp_http_copy_printable(r->refused_ip, sizeof(r->refused_ip),
	    primary_ip != NULL ? primary_ip : "?", sizeof(r->refused_ip));
	return CURL_PREREQFUNC_ABORT;
}

/* ---- options ------------------------------------------------------- */

#define SETOPT(opt, val)						\
	do {								\
		if (curl_easy_setopt(r->easy, (opt), (val)) != CURLE_OK) { \
			rc = idp_err_set(err, -EIO,			\
			    "curl refused option %s", #opt);		\
			goto out;					\
		}							\
	} while (0)

/*
 * Where the request may go and how the peer is judged: the checked URL,
 * its one protocol, no redirects, TLS verification, the caller's CA bundle
 * and client certificate.
 */
static int
easy_policy(struct req *r, const struct idp_http_req *req,
    struct idp_err *err)
{
	int rc;

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
	rc = 0;
out:
	return rc;
}

/* Timeouts, callbacks, headers and body of the transfer. */
static int
easy_transfer(struct req *r, const struct idp_http_req *req, int post,
    struct idp_err *err)
{
	long connect_ms, timeout_ms, low_speed_s;
	int rc;

	connect_ms = req->connect_timeout_ms > 0 ? req->connect_timeout_ms :
	    HTTP_DEFAULT_CONNECT_MS;
	timeout_ms = req->timeout_ms > 0 ? req->timeout_ms :
	    HTTP_DEFAULT_TIMEOUT_MS;
	/* Below 1 byte/s for the whole timeout: dead at the timeout anyway. */
	low_speed_s = (timeout_ms + 999) / 1000;

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
	rc = 0;
out:
	return rc;
}

#undef SETOPT

/* Makes r's easy handle and sets its options; see http_int.h. */
int
idp_http_easy_setup(struct req *r, const struct idp_http_req *req, int post,
    struct idp_err *err)
{
	int rc;

	if ((r->easy = curl_easy_init()) == NULL)
		return idp_err_set(err, -ENOMEM, "out of memory");
	if ((rc = easy_policy(r, req, err)) < 0)
		return rc;
	return easy_transfer(r, req, post, err);
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
		idp_http_copy_printable(out, outsz, out, outsz);
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
}

/* Maps the transfer's outcome to rc and a reason without secrets. */
void
idp_http_req_finish(struct req *r, CURLcode result)
{
	const char *why;
	long verify = 0;
	char origin[256];

	r->elapsed = idp_http_now_ms() - r->started;
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
	idp_http_copy_printable(r->error, sizeof(r->error), why, strlen(why));
}

