/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Routing: the MHD access handler, the route table, the body read (at
 * most max_body bytes, wiped) and the checks every route shares.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <idp/crypto.h>

#include "api/authz.h"
#include "api/server_int.h"
#include "core/log.h"

/* The route of url: the metrics label, and what dispatch() runs. */
static enum route
classify(const char *url, int is_unix)
{
	const char *p;

	if (strncmp(url, "/v1/", 4) != 0) {
		if (strcmp(url, "/healthz") == 0)
			return R_HEALTHZ;
		if (strcmp(url, "/readyz") == 0)
			return R_READYZ;
		if (strcmp(url, "/metrics") == 0)
			return R_METRICS;
		if (strcmp(url, "/.well-known/openid-configuration") == 0)
			return R_DISCOVERY;
		return R_OTHER;
	}
	p = url + 4;
	if (strcmp(p, "jwks") == 0)
		return R_JWKS;
	if (strcmp(p, "credentials") == 0)
		return R_CRED_LIST;
	if (strncmp(p, "credentials/", 12) == 0)
		return strchr(p + 12, '/') != NULL ? R_CRED_FILE : R_CRED;
	if (strcmp(p, "token") == 0)
		return R_TOKEN;
	if (strcmp(p, "authz") == 0)
		return R_AUTHZ;
	/* The admin API is not served on TCP at all. */
	if (strncmp(p, "admin/", 6) == 0 && is_unix)
		return R_ADMIN;
	return R_OTHER;
}

static enum MHD_Result
dispatch(struct req *rq, const char *url, const char *method)
{
	struct caller cl;
	enum MHD_Result ret;
	const char *p, *slash, *h;
	char name[MAX_NAME + 1];
	size_t n;

	/*
	 * Every /v1/ request carries "Rotatord-Request: 1" (a naive proxy
	 * or SSRF cannot add it) except the JWKS, a public document read by
	 * generic clients.
	 */
	if (strncmp(url, "/v1/", 4) == 0 && rq->route != R_JWKS) {
		h = MHD_lookup_connection_value(rq->mc, MHD_HEADER_KIND,
		    "Rotatord-Request");
		if (h == NULL || strcmp(h, "1") != 0)
			return resp_error(rq, MHD_HTTP_BAD_REQUEST,
			    "invalid_request", "the header \"Rotatord-Request: "
			    "1\" is required");
	}
	switch (rq->route) {
	case R_OTHER:
		return resp_error(rq, MHD_HTTP_NOT_FOUND, "not_found",
		    "no such endpoint");
	case R_TOKEN:
		if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
			return resp_405(rq, "POST");
		return h_token(rq);
	case R_ADMIN:
		return h_admin(rq, url + 10, method);
	default:
		break;
	}
	if (!txt_is_get(method))
		return resp_405(rq, "GET, HEAD");
	switch (rq->route) {
	case R_HEALTHZ:
		return resp_queue(rq, MHD_HTTP_OK,
		    MHD_create_response_from_buffer(3, (void *)"ok\n",
		    MHD_RESPMEM_PERSISTENT));
	case R_READYZ:
		return h_readyz(rq);
	case R_METRICS:
		if (rq->cn->ls->is_unix)
			return h_metrics(rq);
		/* On TCP only for a [client] with metrics = yes. */
		if (caller_get(rq, &cl, &ret) < 0)
			return ret;
		if (!authz_may_metrics(rq->cn->ls->srv->cfg, &cl.who)) {
			log_notice("audit: metrics by %s denied: no [client] "
			    "with metrics = yes", cl.desc);
			caller_done(&cl);
			return resp_error(rq, MHD_HTTP_FORBIDDEN,
			    "access_denied", "/metrics on TCP needs a "
			    "[client] with metrics = yes");
		}
		caller_done(&cl);
		return h_metrics(rq);
	case R_DISCOVERY:
		return h_signer_doc(rq, 0);
	case R_JWKS:
		return h_signer_doc(rq, 1);
	case R_AUTHZ:
		return h_authz(rq);
	default:
		break;
	}
	/* The credential routes. */
	if (caller_get(rq, &cl, &ret) < 0)
		return ret;
	if (rq->route == R_CRED_LIST)
		ret = h_cred_list(rq, &cl);
	else {
		p = url + strlen("/v1/credentials/");
		slash = strchr(p, '/');
		n = slash != NULL ? (size_t)(slash - p) : strlen(p);
		if (n > MAX_NAME) {
			caller_done(&cl);
			return resp_error(rq, MHD_HTTP_NOT_FOUND, "not_found",
			    "no such credential");
		}
		memcpy(name, p, n);
		name[n] = '\0';
		if (slash == NULL)
			ret = h_cred(rq, &cl, name);
		else
			ret = h_cred_file(rq, &cl, name, slash + 1);
	}
	caller_done(&cl);
	return ret;
}

/* Keeps n more body bytes (POST only; others are counted and dropped). */
static int
body_add(struct req *rq, const char *method, const char *data, size_t n)
{
	size_t ncap;
	char *nb;

	if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
		return 0;
	if (rq->body_len + n + 1 > rq->body_cap) {
		for (ncap = rq->body_cap ? rq->body_cap : 1024;
		    ncap < rq->body_len + n + 1; ncap *= 2)
			;
		if ((nb = malloc(ncap)) == NULL)
			return -ENOMEM;
		if (rq->body != NULL) {
			memcpy(nb, rq->body, rq->body_len);
			idp_wipe(rq->body, rq->body_cap);
			free(rq->body);
		}
		rq->body = nb;
		rq->body_cap = ncap;
	}
	memcpy(rq->body + rq->body_len, data, n);
	rq->body_len += n;
	rq->body[rq->body_len] = '\0';
	return 0;
}

/* The MHD access handler. */
enum MHD_Result
http_access(void *cls, struct MHD_Connection *mc, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct listener *ls = cls;
	const union MHD_ConnectionInfo *ci;
	const char *cl;
	struct conn *cn;
	struct req *rq = *con_cls;

	if (rq == NULL) {
		/*
		 * First call, headers only: set up and return.  Queuing a
		 * response here makes MHD close the connection after it.
		 */
		ci = MHD_get_connection_info(mc,
		    MHD_CONNECTION_INFO_SOCKET_CONTEXT);
		if (ci == NULL || (cn = ci->socket_context) == NULL ||
		    cn->refused)
			return MHD_NO;
		rq = &cn->rq;
		ls_req_reset(rq);
		rq->used = 1;
		rq->mc = mc;
		rq->route = classify(url, ls->is_unix);
		*con_cls = rq;
		/*
		 * The one exception to the rule: a body announced larger than
		 * max_body is refused before it is sent (MHD refuses to queue
		 * once the body flows).  The connection closes after this
		 * error anyway, so there is no keep-alive to lose.
		 */
		cl = MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl != NULL && (errno = 0, strtoull(cl, NULL, 10) >
		    ls->srv->cfg->listen.max_body || errno == ERANGE))
			return resp_error(rq, MHD_HTTP_CONTENT_TOO_LARGE,
			    "invalid_request", "the body is larger than %zu "
			    "bytes", ls->srv->cfg->listen.max_body);
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (rq->queued)
			return MHD_YES;		/* the rest is dropped */
		rq->seen += n;
		if (rq->seen > ls->srv->cfg->listen.max_body) {
			/* A chunked body too large: MHD can only close. */
			log_debug("http: request body over %zu bytes, closing",
			    ls->srv->cfg->listen.max_body);
			resp_count(ls->srv, rq->route,
			    MHD_HTTP_CONTENT_TOO_LARGE);
			rq->queued = 1;
			return MHD_NO;
		}
		if (body_add(rq, method, upload_data, n) < 0)
			return resp_queue(rq, 500, NULL);
		return MHD_YES;
	}
	if (rq->queued)
		return MHD_YES;
	return dispatch(rq, url, method);
}
