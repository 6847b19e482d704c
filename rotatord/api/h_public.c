/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The public documents (discovery, JWKS), /readyz and /metrics.
 */
#include <stdio.h>
#include <stdlib.h>

#include "api/server_int.h"

enum MHD_Result
h_signer_doc(struct req *rq, int jwks)
{
	struct server *s = rq->cn->ls->srv;
	struct MHD_Response *r;
	const char *p;
	size_t len = 0;

	p = jwks ? s->ops.jwks(s->ops.arg, &len) :
	    s->ops.discovery(s->ops.arg, &len);
	if (p == NULL)
		return resp_error(rq, MHD_HTTP_NOT_FOUND, "not_found",
		    "no [signer] configured");
	/* Borrowed from the daemon, which may replace it: copied. */
	r = resp_copy(p, len, jwks ? "application/jwk-set+json" : CT_JSON);
	if (r != NULL)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL,
		    "no-cache");
	return resp_queue(rq, MHD_HTTP_OK, r);
}

enum MHD_Result
h_readyz(struct req *rq)
{
	struct server *s = rq->cn->ls->srv;
	json_t *bad = NULL, *deg = NULL, *o;

	if (s->ops.ready(s->ops.arg, &bad, &deg) == 1) {
		json_decref(bad);
		if (deg == NULL)
			return resp_queue(rq, MHD_HTTP_OK,
			    resp_copy("{\"ready\":true}", 14, CT_JSON));
		return resp_queue(rq, MHD_HTTP_OK, resp_json(json_pack(
		    "{s:b,s:o}", "ready", 1, "degraded", deg)));
	}
	o = json_pack("{s:b,s:o}", "ready", 0, "not_ready",
	    bad != NULL ? bad : json_array());
	if (o != NULL && deg != NULL)
		json_object_set_new(o, "degraded", deg);
	else
		json_decref(deg);
	return resp_queue(rq, MHD_HTTP_SERVICE_UNAVAILABLE, resp_json(o));
}

enum MHD_Result
h_metrics(struct req *rq)
{
	struct server *s = rq->cn->ls->srv;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if ((f = open_memstream(&buf, &len)) == NULL)
		return resp_queue(rq, 500, NULL);
	s->ops.metrics(s->ops.arg, f);
	server_metrics(s, f);
	if (fclose(f) != 0) {
		free(buf);
		return resp_queue(rq, 500, NULL);
	}
	return resp_queue(rq, MHD_HTTP_OK, resp_take(buf, len,
	    "text/plain; version=0.0.4; charset=utf-8"));
}
