/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Who calls: the unix peer (SO_PEERCRED, read once per connection), or
 * on TCP the Authorization bearer, verified through verify.c.
 */
#include <errno.h>
#include <string.h>

#include "api/authz.h"
#include "api/server_int.h"
#include "core/log.h"

/*
 * The token of an "Authorization: Bearer TOKEN" header (RFC 6750 2.1:
 * scheme case-insensitive, b64token characters).  Returns 0 or -EBADMSG.
 */
int
caller_bearer_of(const char *h, const char **ret, size_t *ret_len)
{
	size_t n;

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return -EBADMSG;
	h += 7;
	while (*h == ' ')
		h++;
	n = strspn(h, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-._~+/");
	n += strspn(h + n, "=");
	if (n == 0 || h[n] != '\0')
		return -EBADMSG;
	*ret = h;
	*ret_len = n;
	return 0;
}

/* The unix peer as a caller (ls_peer_load() done). */
static void
caller_unix(const struct conn *cn, struct caller *cl)
{
	memset(cl, 0, sizeof(*cl));
	cl->who.kind = AUTHZ_UNIX;
	cl->who.uid = cn->peer.uid;
	cl->who.gid = cn->peer.gid;
	cl->who.pid = cn->peer.pid;
	cl->who.groups = cn->peer.groups;
	cl->who.n_groups = cn->peer.n_groups;
	cl->desc = cn->peer.desc;
}

void
caller_bearer(struct tok_val *tv, struct caller *cl)
{
	memset(cl, 0, sizeof(*cl));
	cl->who.kind = AUTHZ_BEARER;
	cl->who.issuer = tv->issuer;
	cl->who.subject = tv->subject;
	cl->who.claims = tv->claims;
	cl->desc = tv->desc;
	cl->tv = tv;
}

void
caller_done(struct caller *cl)
{
	tc_unref(cl->tv);
	cl->tv = NULL;
}

/*
 * Who sends rq: the unix peer, or on TCP the Authorization bearer.
 * Returns 0, or -1 after queuing the error response in *ret.
 */
int
caller_get(struct req *rq, struct caller *cl, enum MHD_Result *ret)
{
	struct conn *cn = rq->cn;
	struct server *s = cn->ls->srv;
	struct tok_val *tv = NULL;
	const char *tok;
	char why[128];
	size_t len;
	int rc;

	if (cn->ls->is_unix) {
		if (!cn->peer.done && (rc = ls_peer_load(cn, rq->mc)) < 0) {
			log_warn("http: cannot read the peer credentials of a "
			    "unix connection: %s", strerror(-rc));
			*ret = resp_error(rq, MHD_HTTP_INTERNAL_SERVER_ERROR,
			    "server_error", "cannot identify the caller");
			return -1;
		}
		caller_unix(cn, cl);
		return 0;
	}
	if (caller_bearer_of(MHD_lookup_connection_value(rq->mc,
	    MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION), &tok, &len) < 0) {
		*ret = resp_401(rq, "no bearer token");
		return -1;
	}
	if ((rc = vf_bearer(s, rq, tok, len, &tv, why,
	    sizeof(why))) < 0) {
		*ret = rc == -EINPROGRESS ? MHD_YES : resp_unverified(rq, rc,
		    why);
		return -1;
	}
	caller_bearer(tv, cl);
	/* rotatord's own tokens only when they are meant for rotatord. */
	if (!authz_api_audience(s->cfg, &cl->who)) {
		log_notice("audit: %s by %s unauthenticated: aud does not "
		    "hold %s", resp_route_names[rq->route], cl->desc,
		    s->cfg->listen.audience);
		caller_done(cl);
		*ret = resp_401(rq, "the token is not meant for this API "
		    "(its aud lacks [listen] audience)");
		return -1;
	}
	return 0;
}
