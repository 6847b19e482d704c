/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the files of libidp's HTTP client share, and nothing outside
 * libidp/ sees: a client, its requests, and the functions one file offers
 * the others (http.c the client and its requests, http_url.c the URL
 * policy, http_easy.c one transfer's curl handle, http_fetch.c the
 * blocking fetch).  Not installed, and not exported: libidp.so keeps only
 * what idp/http.h declares.  Include after <curl/curl.h>, included with
 * CURL_DISABLE_TYPECHECK; a file that calls curl includes "curl_dl.h" too.
 */
#ifndef IDP_HTTP_INT_H
#define IDP_HTTP_INT_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include <idp/http.h>

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

/* http.c */

/*
 * Loads libcurl and runs curl_global_init() once per process.  Returns 0,
 * or -1 when libcurl is not available.
 */
int	idp_http_curl_init(void);
/* The monotonic clock in milliseconds. */
int64_t	idp_http_now_ms(void);
/* Enters and leaves a public entry point (leave may free h, see http.c). */
void	idp_http_enter(struct idp_http *h);
void	idp_http_leave(struct idp_http *h);
/*
 * idp_http_start() with a reason for refusals in err; called between
 * idp_http_enter() and idp_http_leave().
 */
int	idp_http_start_err(struct idp_http *h, const struct idp_http_req *req,
	    idp_http_cb cb, void *arg, uint64_t *ret_id, struct idp_err *err);

/* http_url.c */

/*
 * Parses and checks url against the scheme policy; see http_url.c for the
 * out-parameters, each optional.  Returns 0, -EPROTO or -ENOMEM.
 */
int	idp_http_url_check(const char *url, int allow_http_loopback,
	    CURLU **ret_u, int *ret_plain, struct curl_slist **ret_resolve,
	    struct idp_err *err);
/* Returns 1 if the numeric address ip (as curl reports it) is loopback. */
int	idp_http_ip_is_loopback(const char *ip);

/* http_easy.c */

/* Copies s into a bounded buffer, replacing control characters. */
void	idp_http_copy_printable(char *dst, size_t dstsz, const char *s,
	    size_t n);
/*
 * Makes r's easy handle (r->easy, freed with the request) and sets every
 * option of the request policy.  Returns 0 or -errno with a reason in err.
 */
int	idp_http_easy_setup(struct req *r, const struct idp_http_req *req,
	    int post, struct idp_err *err);
/* Maps the transfer's outcome to r->rc and r->error, without secrets. */
void	idp_http_req_finish(struct req *r, CURLcode result);

#endif
