/* SPDX-License-Identifier: Apache-2.0 */
/*
 * GET /v1/authz: nginx auth_request.  The decision is authz.c's; this
 * verifies the bearer and answers with the X-Auth-* headers.
 */
#include "api/authz.h"
#include "api/server_int.h"
#include "core/log.h"

/*
 * nginx auth_request: the token in Authorization, the original request in
 * X-Original-URI and X-Original-Method, both required: a proxy that does
 * not say which method it checks gets 400, never a guess (routes may allow
 * GET and not DELETE).  200 with X-Auth-Subject / X-Auth-Issuer /
 * X-Auth-Scope, 400, 401, or 403.
 */
enum MHD_Result
h_authz(struct req *rq)
{
	struct server *s = rq->cn->ls->srv;
	struct MHD_Response *r;
	struct tok_val *tv = NULL;
	struct caller cl;
	const char *uri, *method, *tok, *route = NULL;
	char why[160], ub[160], mb[24];
	size_t len;
	int rc;

	uri = MHD_lookup_connection_value(rq->mc, MHD_HEADER_KIND,
	    "X-Original-URI");
	method = MHD_lookup_connection_value(rq->mc, MHD_HEADER_KIND,
	    "X-Original-Method");
	if (uri == NULL || uri[0] == '\0')
		return resp_error(rq, MHD_HTTP_BAD_REQUEST, "invalid_request",
		    "missing X-Original-URI");
	if (method == NULL || method[0] == '\0')
		return resp_error(rq, MHD_HTTP_BAD_REQUEST, "invalid_request",
		    "missing X-Original-Method (nginx: proxy_set_header "
		    "X-Original-Method $request_method)");
	txt_safe(ub, sizeof(ub), uri, 128);
	txt_safe(mb, sizeof(mb), method, 16);
	if (caller_bearer_of(rq->cn, MHD_lookup_connection_value(rq->mc,
	    MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION), &tok, &len) < 0) {
		log_notice("audit: authz %s %s by - unauthenticated: no bearer "
		    "token", mb, ub);
		return resp_401(rq, "no bearer token");
	}
	if ((rc = vf_bearer(s, rq, tok, len, VF_HEADER, &tv, why,
	    sizeof(why))) < 0) {
		if (rc == -EINPROGRESS)
			return MHD_YES;
		log_notice("audit: authz %s %s by - unauthenticated: %s", mb,
		    ub, why);
		return resp_unverified(rq, rc, why);
	}
	caller_bearer(tv, &cl);
	if (authz_route(s->cfg, uri, method, &cl.who, &route, why,
	    sizeof(why)) != AUTHZ_OK) {
		log_notice("audit: authz %s %s by %s denied: %s", mb, ub,
		    cl.desc, why);
		caller_done(&cl);
		return resp_error(rq, MHD_HTTP_FORBIDDEN, "access_denied",
		    "%s", why);
	}
	log_info("audit: authz %s %s by %s ok route=%s", mb, ub, cl.desc,
	    route);
	r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (r != NULL) {
		MHD_add_response_header(r, "X-Auth-Subject", tv->h_sub);
		MHD_add_response_header(r, "X-Auth-Issuer", tv->h_iss);
		MHD_add_response_header(r, "X-Auth-Scope", tv->h_scope);
		MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL,
		    "no-store");
	}
	caller_done(&cl);
	return resp_queue(rq, MHD_HTTP_OK, r);
}
