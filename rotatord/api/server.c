/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api/: the local HTTP API (listeners, handlers, token cache, authz, trust).
 * Reaches the daemon only through struct api_ops; must not include
 * daemon/, sources/, sinks/ or fleet/.
 */
/*
 * The local HTTP API (README.md, Local HTTP API) on libmicrohttpd, inside the
 * daemon's epoll loop.  Each MHD daemon (one on the unix socket, one on
 * TCP when configured) runs in external epoll mode: its epoll fd is
 * watched by our loop, a timerfd follows MHD_get_timeout(), and there are
 * no MHD threads, so every api_ops callback runs on the loop thread.
 *
 * This file holds the entry points of api.h: a server's lifetime, the
 * reconfiguration, the notifications from the daemon and the metrics.
 * The rest, by duty (server_int.h says what each file offers):
 * - listener.c: a listener's MHD daemon on the loop, its connections
 *   (the unix peer, per-uid counts), dormant start, drain, and every
 *   suspended request, ended through the hooks (struct ls_hooks) that
 *   longpoll.c and verify.c register at server start;
 * - bind.c: the listening sockets, and matching [listen] on a reload;
 * - http.c: routing, limits and the body read (the access handler);
 * - caller.c: who calls (SO_PEERCRED on the unix socket, cached once per
 *   connection; a bearer JWT on TCP), verify.c: bearer verification on
 *   verifier threads, tokcache.c: the verified-token cache;
 * - longpoll.c: ?wait= long polls;
 * - h_creds.c, h_token.c, h_authz.c, h_public.c, h_admin.c: the handlers,
 *   which write the audit lines;
 * - resp.c: wiped buffers, responses and errors; text.c: text checks.
 * What a caller may do is authz.c's decision; what exists is the daemon's.
 *
 * libmicrohttpd rules followed here (shared/reference/perf-anchors.md,
 * anchors-reliability.md section 4):
 * - the first access-handler call of a request only sets *con_cls; a
 *   response queued then makes MHD close the connection (4-7x slower).
 *   The one exception is a 413 for an announced body over max_body,
 *   on a connection that must close anyway;
 * - no MHD_PostProcessor: bodies are read by http.c, at most max_body
 *   bytes, and form bodies parsed by h_token.c's form_parse();
 * - connection, per-IP, timeout and memory (32 KiB: caps the headers)
 *   limits are always set;
 * - no connection is left suspended when a daemon stops.
 *
 * libmicrohttpd itself is loaded on the first connection (mhd_dl.h):
 * until then a listener is "dormant", its socket bound and watched by
 * the loop, so a daemon whose API nobody calls does not carry the pages
 * of libmicrohttpd and GnuTLS.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <idp/crypto.h>

#include "api/api.h"
#include "api/server_int.h"
#include "config/config.h"

/* See api.h: binds the listeners of c and serves on loop l. */
int
server_new(struct loop *l, const struct config *c, const struct api_ops *ops,
    struct server **ret)
{
	struct server *s;
	int rc;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -ENOMEM;
	s->loop = l;
	s->ops = *ops;
	s->cfg = c;
	s->access = http_access;
	/*
	 * The parts that hold requests suspended register their hooks in
	 * this order: a listener going answers its long polls first.
	 */
	if ((rc = ls_deadlines_start(s)) < 0 || (rc = lp_start(s)) < 0 ||
	    (rc = vf_start(s, c)) < 0)
		goto fail;
	if ((rc = bind_apply(s, c)) < 0)
		goto fail;
	*ret = s;
	return 0;
fail:
	server_free(s);
	return rc;
}

/* See api.h: all new listeners start before any old one drains. */
int
server_configure(struct server *s, const struct config *c)
{
	int rc;

	if ((rc = bind_apply(s, c)) < 0)
		return rc;
	s->cfg = c;
	/*
	 * Trust may have changed (issuers, signers): verified tokens are
	 * checked again.  Requests in flight hold their own references.
	 * Credentials may have been replaced: their responses are made anew.
	 */
	tc_clear(s);
	h_cred_cache_clear(s, NULL);
	s->epoch++;
	return 0;
}

/* See api.h: held long polls are answered (304) before MHD stops. */
void
server_free(struct server *s)
{
	if (s == NULL)
		return;
	s->stopping = 1;
	while (s->listeners != NULL) {
		bind_unlink(s->listeners);
		ls_destroy(s->listeners);
	}
	/* Every request has left; the last done() calls find no waiters. */
	vf_stop(s);
	ls_deadlines_stop(s);
	tc_clear(s);
	h_cred_cache_clear(s, NULL);
	idp_sha256_free(s->sha256);
	free(s);
}

/*
 * See api.h: a key set changed (an issuer's JWKS, a signer's keys, the
 * fleet's).  What was verified under the old set is forgotten, so that a
 * token whose key left the set is refused from now on, and checks still
 * running under it are not remembered; requests held for keys are
 * verified again.
 */
void
server_keys_changed(struct server *s)
{
	if (s == NULL)
		return;
	tc_clear(s);
	s->epoch++;
	vf_keys_changed(s);
}

/* See api.h: resumes the long polls on cred older than generation. */
void
server_notify(struct server *s, const char *cred, uint64_t generation)
{
	if (s == NULL)
		return;
	/* The old generation's responses (and key material) go now. */
	h_cred_cache_clear(s, cred);
	lp_notify(s, cred, generation);
}

/* See api.h: Prometheus text 0.0.4, fixed label sets only. */
void
server_metrics(const struct server *s, FILE *out)
{
	resp_metrics(s, out);
	fprintf(out, "# HELP rotatord_http_long_polls Requests held by "
	    "?wait= now.\n# TYPE rotatord_http_long_polls gauge\n"
	    "rotatord_http_long_polls %zu\n", s->n_waiting);
	fprintf(out, "# HELP rotatord_http_token_cache_lookups_total Bearer "
	    "tokens looked up in the verified-token cache.\n"
	    "# TYPE rotatord_http_token_cache_lookups_total counter\n"
	    "rotatord_http_token_cache_lookups_total{result=\"hit\"} %llu\n"
	    "rotatord_http_token_cache_lookups_total{result=\"miss\"} %llu\n",
	    (unsigned long long)s->tc_hits, (unsigned long long)s->tc_misses);
	fprintf(out, "# HELP rotatord_http_token_verifications_total Bearer "
	    "token signatures checked, by where: on a verifier thread or on "
	    "the loop.\n"
	    "# TYPE rotatord_http_token_verifications_total counter\n"
	    "rotatord_http_token_verifications_total{where=\"thread\"} %llu\n"
	    "rotatord_http_token_verifications_total{where=\"loop\"} %llu\n",
	    (unsigned long long)s->verify_async,
	    (unsigned long long)s->verify_inline);
	fprintf(out, "# HELP rotatord_http_token_key_holds_total Requests held "
	    "while an issuer's keys were refetched for an unknown kid.\n"
	    "# TYPE rotatord_http_token_key_holds_total counter\n"
	    "rotatord_http_token_key_holds_total %llu\n",
	    (unsigned long long)s->verify_held);
	fprintf(out, "# HELP rotatord_http_unix_refused_total Unix socket "
	    "connections shut because their uid had per_uid_limit open.\n"
	    "# TYPE rotatord_http_unix_refused_total counter\n"
	    "rotatord_http_unix_refused_total %llu\n",
	    (unsigned long long)s->uid_refused);
}
