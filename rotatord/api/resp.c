/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Responses of the HTTP API: responses whose secret bodies (built with
 * libidp's wiping JSON writer) are wiped when MHD frees them; queuing and
 * counting them by route and status code; the JSON errors.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <idp/crypto.h>

#include "api/server_int.h"

/* The route labels (enum route), for the metrics and the audit lines. */
const char *const resp_route_names[R_N] = {
	"credentials_list", "credential", "credential_file", "token", "authz",
	"discovery", "jwks", "healthz", "readyz", "metrics", "admin", "other",
};

/* Status codes counted one by one; anything else is code="other". */
static const unsigned status_codes[] = {
	200, 202, 304, 400, 401, 403, 404, 405, 413, 415, 422, 500, 501, 503,
};
_Static_assert(sizeof(status_codes) / sizeof(status_codes[0]) == N_STATUS,
    "N_STATUS (server_int.h) counts status_codes");

struct secret_body {
	char	*p;
	size_t	 cap;
};

/* MHD's free callback of secret bodies: wipe, then free. */
static void
secret_body_free(void *cls)
{
	struct secret_body *sb = cls;

	idp_wipe(sb->p, sb->cap);
	free(sb->p);
	free(sb);
}

/*
 * A response whose body p (len bytes used of cap) holds key material or
 * tokens: it takes p, and the bytes are wiped before they are freed.  On
 * failure p is wiped and freed and NULL returned.
 */
struct MHD_Response *
resp_secret(char *p, size_t len, size_t cap)
{
	struct secret_body *sb;
	struct MHD_Response *r;

	if ((sb = malloc(sizeof(*sb))) == NULL) {
		idp_wipe(p, cap);
		free(p);
		return NULL;
	}
	sb->p = p;
	sb->cap = cap;
	r = MHD_create_response_from_buffer_with_free_callback_cls(len, p,
	    secret_body_free, sb);
	if (r == NULL)
		secret_body_free(sb);
	return r;
}

/* MHD's free callback of blob bodies: the response's reference goes. */
static void
blob_body_free(void *cls)
{
	blob_unref(cls);
}

/*
 * A response whose body is blob b, without a copy: it takes the caller's
 * reference.  On failure the reference is dropped and NULL returned.
 */
struct MHD_Response *
resp_blob(struct blob *b)
{
	struct MHD_Response *r;

	r = MHD_create_response_from_buffer_with_free_callback_cls(
	    blob_len(b), (void *)(uintptr_t)blob_data(b), blob_body_free, b);
	if (r == NULL)
		blob_unref(b);
	return r;
}

/* A response with a copy of n bytes at p (MHD_RESPMEM_MUST_COPY). */
struct MHD_Response *
resp_copy(const void *p, size_t n, const char *ctype)
{
	struct MHD_Response *r;

	r = MHD_create_response_from_buffer(n, (void *)p,
	    MHD_RESPMEM_MUST_COPY);
	if (r != NULL && ctype != NULL)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	return r;
}

/* A response that takes p, allocated with malloc (MHD_RESPMEM_MUST_FREE). */
struct MHD_Response *
resp_take(char *p, size_t n, const char *ctype)
{
	struct MHD_Response *r;

	r = MHD_create_response_from_buffer(n, p, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(p);
		return NULL;
	}
	if (ctype != NULL)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	return r;
}

/* A response with j (reference stolen) as compact JSON. */
struct MHD_Response *
resp_json(json_t *j)
{
	char *p;

	if (j == NULL)
		return NULL;
	p = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (p == NULL)
		return NULL;
	return resp_take(p, strlen(p), CT_JSON);
}

void
resp_count(struct server *s, enum route route, unsigned code)
{
	size_t i;

	for (i = 0; i < N_CODES - 1; i++)
		if (status_codes[i] == code)
			break;
	s->requests[route][i]++;
}

/*
 * Queues r (which may be NULL after an allocation failure: then the
 * connection is closed) with code, and counts it.  Always destroys r.
 */
enum MHD_Result
resp_queue(struct req *rq, unsigned code, struct MHD_Response *r)
{
	struct server *s = rq->cn->ls->srv;
	enum MHD_Result ret;

	rq->queued = 1;
	if (r == NULL) {
		resp_count(s, rq->route, 500);
		return MHD_NO;
	}
	/* A replaced listener serves what it has, then closes. */
	if (rq->cn->ls->draining || s->stopping)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(rq->mc, code, r);
	MHD_destroy_response(r);
	resp_count(s, rq->route, code);
	return ret;
}

/*
 * Queues r, a response shared between requests (MHD takes its own
 * reference), and counts it.  Not for a draining listener: r is left
 * unchanged, so no "Connection: close" is added.
 */
enum MHD_Result
resp_shared(struct req *rq, unsigned code, struct MHD_Response *r)
{
	rq->queued = 1;
	resp_count(rq->cn->ls->srv, rq->route, code);
	return MHD_queue_response(rq->mc, code, r);
}

/* {"error": error, "error_description": ...} as a response, not queued. */
struct MHD_Response * __attribute__((format(printf, 2, 0)))
resp_error_body(const char *error, const char *fmt, va_list ap)
{
	struct MHD_Response *r;
	char desc[512];
	json_t *j;

	vsnprintf(desc, sizeof(desc), fmt, ap);
	j = json_pack("{s:s,s:s}", "error", error, "error_description", desc);
	if (j == NULL)
		j = json_pack("{s:s}", "error", error);
	r = resp_json(j);
	if (r != NULL)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL,
		    "no-store");
	return r;
}

/* Queues a JSON error. */
enum MHD_Result __attribute__((format(printf, 4, 5)))
resp_error(struct req *rq, unsigned code, const char *error,
    const char *fmt, ...)
{
	struct MHD_Response *r;
	va_list ap;

	va_start(ap, fmt);
	r = resp_error_body(error, fmt, ap);
	va_end(ap);
	return resp_queue(rq, code, r);
}

/* Queues 401 with WWW-Authenticate (RFC 6750 section 3). */
enum MHD_Result
resp_401(struct req *rq, const char *why)
{
	struct MHD_Response *r;
	char qd[200], hdr[300];
	size_t i;

	/* The description goes inside a quoted-string: no '"' or '\'. */
	snprintf(qd, sizeof(qd), "%s", why);
	for (i = 0; qd[i] != '\0'; i++)
		if (qd[i] == '"' || qd[i] == '\\' || (unsigned char)qd[i] < 0x20 ||
		    (unsigned char)qd[i] >= 0x7f)
			qd[i] = '?';
	snprintf(hdr, sizeof(hdr), "Bearer error=\"invalid_token\", "
	    "error_description=\"%s\"", qd);
	r = resp_json(json_pack("{s:s,s:s}", "error", "invalid_token",
	    "error_description", qd));
	if (r != NULL) {
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, hdr);
		MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL,
		    "no-store");
	}
	return resp_queue(rq, MHD_HTTP_UNAUTHORIZED, r);
}

/*
 * A bearer token that could not be verified: 401, or 503 when it was not
 * the token's fault (shutting down, out of memory).
 */
enum MHD_Result
resp_unverified(struct req *rq, int rc, const char *why)
{
	if (rc == -ESHUTDOWN || rc == -ENOMEM)
		return resp_error(rq, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "temporarily_unavailable", "%s", why);
	return resp_401(rq, why);
}

enum MHD_Result
resp_405(struct req *rq, const char *allow)
{
	struct MHD_Response *r;

	r = resp_json(json_pack("{s:s,s:s}", "error", "invalid_request",
	    "error_description", "method not allowed"));
	if (r != NULL)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	return resp_queue(rq, MHD_HTTP_METHOD_NOT_ALLOWED, r);
}

/* See server_int.h: rotatord_http_requests_total. */
void
resp_metrics(const struct server *s, FILE *out)
{
	size_t r, i;

	fprintf(out, "# HELP rotatord_http_requests_total HTTP API requests "
	    "answered, by route and status code.\n"
	    "# TYPE rotatord_http_requests_total counter\n");
	/*
	 * Every route's code="200" is always there (0 until used), so that
	 * rate() and absence alerts work from the start; other codes appear
	 * once they happen.  Routes and codes are fixed sets: no request can
	 * add a label value.
	 */
	for (r = 0; r < R_N; r++)
		for (i = 0; i < N_CODES; i++) {
			if (s->requests[r][i] == 0 && (i == N_CODES - 1 ||
			    status_codes[i] != 200))
				continue;
			if (i < N_CODES - 1)
				fprintf(out, "rotatord_http_requests_total{route="
				    "\"%s\",code=\"%u\"} %llu\n",
				    resp_route_names[r], status_codes[i],
				    (unsigned long long)s->requests[r][i]);
			else
				fprintf(out, "rotatord_http_requests_total{route="
				    "\"%s\",code=\"other\"} %llu\n",
				    resp_route_names[r],
				    (unsigned long long)s->requests[r][i]);
		}
}
