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

/* RFC 6750 b64token characters ("=" only at the end, below). */
static const unsigned char b64token[256] = {
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
	['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
	['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
	['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
	['Y'] = 1, ['Z'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
	['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
	['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
	['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
	['y'] = 1, ['z'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
	['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
	['-'] = 1, ['.'] = 1, ['_'] = 1, ['~'] = 1, ['+'] = 1, ['/'] = 1,
};

/*
 * The token of an "Authorization: Bearer TOKEN" header (RFC 6750 2.1:
 * scheme case-insensitive, b64token characters).  Returns 0 or -EBADMSG.
 * A token that cn (NULL: none) sent last passed the character check
 * then: a keep-alive client's token is compared, not scanned again.
 */
int
caller_bearer_of(const struct conn *cn, const char *h, const char **ret,
    size_t *ret_len)
{
	size_t n, i = 0;

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return -EBADMSG;
	h += 7;
	while (*h == ' ')
		h++;
	if ((n = strlen(h)) == 0)
		return -EBADMSG;
	if (cn == NULL || !tc_conn_same(cn, h, n)) {
		while (i < n && b64token[(unsigned char)h[i]])
			i++;
		while (i < n && h[i] == '=')
			i++;
		if (i != n)
			return -EBADMSG;
	}
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
	if (caller_bearer_of(cn, MHD_lookup_connection_value(rq->mc,
	    MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION), &tok, &len) < 0) {
		*ret = resp_401(rq, "no bearer token");
		return -1;
	}
	if ((rc = vf_bearer(s, rq, tok, len, VF_HEADER, &tv, why,
	    sizeof(why))) < 0) {
		*ret = rc == -EINPROGRESS ? MHD_YES : resp_unverified(rq, rc,
		    why);
		return -1;
	}
	caller_bearer(tv, cl);
	/*
	 * rotatord's own tokens only when they are meant for rotatord.
	 * Asked once per token and configuration (a new one bumps epoch).
	 */
	if (tv->api_epoch != s->epoch + 1) {
		tv->api_aud = authz_api_audience(s->cfg, &cl->who);
		tv->api_epoch = s->epoch + 1;
	}
	if (!tv->api_aud) {
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
