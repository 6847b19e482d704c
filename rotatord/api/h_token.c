/* SPDX-License-Identifier: Apache-2.0 */
/*
 * POST /v1/token: RFC 8693 token exchange, with its form parser (no
 * MHD_PostProcessor: the body is read by http.c, at most max_body bytes).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <idp/crypto.h>

#include "api/authz.h"
#include "api/server_int.h"
#include "config/config.h"
#include "core/log.h"

#define MAX_FORM_PARAMS		64
#define MAX_AUDIENCES		16

#define GRANT_TOKEN_EXCHANGE	"urn:ietf:params:oauth:grant-type:token-exchange"
#define TOKEN_TYPE_JWT		"urn:ietf:params:oauth:token-type:jwt"
#define TOKEN_TYPE_ACCESS	"urn:ietf:params:oauth:token-type:access_token"

struct form {
	struct {
		const char	*k;
		const char	*v;
	} p[MAX_FORM_PARAMS];
	size_t n;
	const char *bad;	/* why the body was refused, or NULL */
};

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Percent-decodes s in place ('+' is a space).  Returns 0, or -EBADMSG for
 * a malformed escape or %00.
 */
static int
form_decode(char *s)
{
	char *o = s;

	for (; *s != '\0'; s++) {
		if (*s == '+')
			*o++ = ' ';
		else if (*s == '%') {
			int hi = hexval((unsigned char)s[1]), lo;

			if (hi < 0 || (lo = hexval((unsigned char)s[2])) < 0 ||
			    (hi == 0 && lo == 0))
				return -EBADMSG;
			*o++ = (char)(hi * 16 + lo);
			s += 2;
		} else
			*o++ = *s;
	}
	*o = '\0';
	return 0;
}

/* May parameter k occur more than once (RFC 8693 2.1)? */
static int
form_repeatable(const char *k)
{
	return strcmp(k, "audience") == 0 || strcmp(k, "resource") == 0;
}

/*
 * Parses an application/x-www-form-urlencoded body in place (body[len]
 * must be writable).  Parameters without a value count as absent (RFC
 * 6749 3.1).  Returns 0, or -EBADMSG with a reason in *why (bad escape,
 * duplicate parameter, too many).
 */
static int
form_parse(char *body, size_t len, struct form *f, const char **why)
{
	char *p = body, *end = body + len, *amp, *eq, *k, *v;
	size_t i;

	f->n = 0;
	body[len] = '\0';
	if (memchr(body, '\0', len) != NULL) {
		*why = "NUL byte in the body";
		return -EBADMSG;
	}
	while (p < end) {
		if ((amp = memchr(p, '&', (size_t)(end - p))) == NULL)
			amp = end;
		if (amp == p) {
			p++;
			continue;
		}
		*amp = '\0';
		k = p;
		if ((eq = strchr(p, '=')) != NULL) {
			*eq = '\0';
			v = eq + 1;
		} else
			v = amp;
		p = amp + 1;
		if (form_decode(k) < 0 || form_decode(v) < 0) {
			*why = "malformed percent-encoding";
			return -EBADMSG;
		}
		if (*k == '\0') {
			*why = "a parameter without a name";
			return -EBADMSG;
		}
		if (*v == '\0')
			continue;
		for (i = 0; i < f->n; i++)
			if (strcmp(f->p[i].k, k) == 0 && !form_repeatable(k)) {
				*why = "a parameter is repeated";
				return -EBADMSG;
			}
		if (f->n == MAX_FORM_PARAMS) {
			*why = "too many parameters";
			return -EBADMSG;
		}
		f->p[f->n].k = k;
		f->p[f->n].v = v;
		f->n++;
	}
	return 0;
}

static const char *
form_get(const struct form *f, const char *k)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (strcmp(f->p[i].k, k) == 0)
			return f->p[i].v;
	return NULL;
}

/*
 * Validates scope (RFC 6749 3.3 scope-tokens) and rewrites it with single
 * spaces.  Returns 0 or -EBADMSG.
 */
static int
scope_normalize(char *scope)
{
	char *o = scope, *p;
	int any = 0;

	for (p = scope; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == ' ') {
			if (any && o[-1] != ' ')
				*o++ = ' ';
			continue;
		}
		if (c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e)
			return -EBADMSG;
		*o++ = (char)c;
		any = 1;
	}
	if (o > scope && o[-1] == ' ')
		o--;
	*o = '\0';
	return 0;
}

/* Queues an OAuth error of the token endpoint and writes the audit line. */
static enum MHD_Result __attribute__((format(printf, 5, 6)))
token_error(struct req *rq, const char *desc, unsigned code,
    const char *error, const char *fmt, ...)
{
	struct MHD_Response *r;
	va_list ap;

	log_notice("audit: token by %s %s", desc, error);
	va_start(ap, fmt);
	r = resp_error_body(error, fmt, ap);
	va_end(ap);
	if (r != NULL)
		MHD_add_response_header(r, "Pragma", "no-cache");
	return resp_queue(rq, code, r);
}

/*
 * The "act" claim of a token minted from one with claims: who the
 * exchanged token named (iss, sub), over that token's own act.  A new
 * reference, or NULL.
 */
static json_t *
act_of(const json_t *claims)
{
	const json_t *iss = json_object_get(claims, "iss");
	const json_t *sub = json_object_get(claims, "sub");
	const json_t *prev = json_object_get(claims, "act");
	json_t *a;

	if (!json_is_string(iss) || !json_is_string(sub))
		return NULL;
	a = json_pack("{s:O,s:O}", "iss", iss, "sub", sub);
	if (a != NULL && json_is_object(prev) &&
	    json_object_set_new(a, "act", json_deep_copy(prev)) < 0) {
		json_decref(a);
		return NULL;
	}
	return a;
}

/*
 * What a token request asks for: its targets (audience and resource
 * both name one) and scope, pointing into rq->body, and for the audit
 * lines who connected and the targets as text.
 */
struct token_ask {
	const char	*desc;		/* who connected (audit) */
	const char	*aud[MAX_AUDIENCES];
	size_t		 n_aud;
	char		*scope;		/* normalized; NULL: none */
	char		 ab[200];	/* audit: the audiences, or "-" */
};

/*
 * The form of a token request, its grant and token types checked.
 * Returns 0 with it in *ret_f, or -1 with the error queued in *ret.
 */
static int
token_form(struct req *rq, const char *desc, const struct form **ret_f,
    enum MHD_Result *ret)
{
	struct form *f;
	const char *why = NULL, *v, *rtt;

	if (!txt_media_type_is(MHD_lookup_connection_value(rq->mc,
	    MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
	    "application/x-www-form-urlencoded")) {
		*ret = token_error(rq, desc, MHD_HTTP_BAD_REQUEST,
		    "invalid_request", "the body must be "
		    "application/x-www-form-urlencoded");
		return -1;
	}
	if (rq->body == NULL) {
		*ret = token_error(rq, desc, MHD_HTTP_BAD_REQUEST,
		    "invalid_request", "missing grant_type");
		return -1;
	}
	/*
	 * Parsed in place, so once: the handler runs again after the
	 * subject token is verified on a verifier thread.
	 */
	if ((f = rq->form) == NULL) {
		if ((f = calloc(1, sizeof(*f))) == NULL) {
			*ret = resp_queue(rq, 500, NULL);
			return -1;
		}
		rq->form = f;
		if (form_parse(rq->body, rq->body_len, f, &why) < 0) {
			f->bad = why;
			f->n = 0;
		}
	}
	if (f->bad != NULL) {
		*ret = token_error(rq, desc, MHD_HTTP_BAD_REQUEST,
		    "invalid_request", "%s", f->bad);
		return -1;
	}
	if ((v = form_get(f, "grant_type")) == NULL) {
		*ret = token_error(rq, desc, MHD_HTTP_BAD_REQUEST,
		    "invalid_request", "missing grant_type");
		return -1;
	}
	if (strcmp(v, GRANT_TOKEN_EXCHANGE) != 0) {
		*ret = token_error(rq, desc, MHD_HTTP_BAD_REQUEST,
		    "unsupported_grant_type", "only %s is supported",
		    GRANT_TOKEN_EXCHANGE);
		return -1;
	}
	if (form_get(f, "actor_token") != NULL) {
		*ret = token_error(rq, desc, MHD_HTTP_BAD_REQUEST,
		    "invalid_request", "actor_token (delegation) is not "
		    "supported");
		return -1;
	}
	rtt = form_get(f, "requested_token_type");
	if (rtt != NULL && strcmp(rtt, TOKEN_TYPE_JWT) != 0 &&
	    strcmp(rtt, TOKEN_TYPE_ACCESS) != 0) {
		*ret = token_error(rq, desc, MHD_HTTP_BAD_REQUEST,
		    "invalid_request", "requested_token_type must be %s",
		    TOKEN_TYPE_JWT);
		return -1;
	}
	*ret_f = f;
	return 0;
}

/*
 * The targets and scope of form f into ask.  Returns 0, or -1 with the
 * error queued in *ret.
 */
static int
token_targets(struct req *rq, const struct form *f, struct token_ask *ask,
    enum MHD_Result *ret)
{
	const char *v;
	char sb[200];
	size_t i, ablen = 0;

	for (i = 0; i < f->n; i++) {
		if (strcmp(f->p[i].k, "audience") != 0 &&
		    strcmp(f->p[i].k, "resource") != 0)
			continue;
		if (ask->n_aud == MAX_AUDIENCES) {
			*ret = token_error(rq, ask->desc, MHD_HTTP_BAD_REQUEST,
			    "invalid_target", "at most %d audiences",
			    MAX_AUDIENCES);
			return -1;
		}
		if (strlen(f->p[i].v) > 256 ||
		    !txt_utf8_ok((const unsigned char *)f->p[i].v,
		    strlen(f->p[i].v))) {
			*ret = token_error(rq, ask->desc, MHD_HTTP_BAD_REQUEST,
			    "invalid_target", "malformed audience");
			return -1;
		}
		for (v = f->p[i].v; *v != '\0'; v++)
			if ((unsigned char)*v < 0x20 || *v == 0x7f) {
				*ret = token_error(rq, ask->desc,
				    MHD_HTTP_BAD_REQUEST, "invalid_target",
				    "malformed audience");
				return -1;
			}
		ask->aud[ask->n_aud++] = f->p[i].v;
	}
	if ((v = form_get(f, "scope")) != NULL) {
		ask->scope = (char *)v;	/* points into rq->body */
		if (scope_normalize(ask->scope) < 0) {
			*ret = token_error(rq, ask->desc, MHD_HTTP_BAD_REQUEST,
			    "invalid_scope", "malformed scope");
			return -1;
		}
		if (*ask->scope == '\0')
			ask->scope = NULL;
	}
	for (i = 0; i < ask->n_aud; i++) {
		int n = snprintf(ask->ab + ablen, sizeof(ask->ab) - ablen,
		    "%s%s", i ? "," : "", txt_safe(sb, sizeof(sb),
		    ask->aud[i], 48));

		if (n < 0 || (size_t)n >= sizeof(ask->ab) - ablen)
			break;
		ablen += (size_t)n;
	}
	if (ablen == 0)
		snprintf(ask->ab, sizeof(ask->ab), "-");
	return 0;
}

/*
 * Who asks: the subject_token of form f (verified like a bearer); without
 * one, the unix peer or on TCP the Authorization bearer.  Returns 0 with
 * the caller in *cl, or -1 with *ret set (MHD_YES while a verification
 * runs).
 */
static int
token_caller(struct req *rq, const struct form *f, const char *desc,
    struct caller *cl, enum MHD_Result *ret)
{
	struct server *s = rq->cn->ls->srv;
	struct tok_val *tv = NULL;
	const char *st, *stt, *tok;
	char reason[128];
	size_t tlen;
	int rc;

	st = form_get(f, "subject_token");
	stt = form_get(f, "subject_token_type");
	if (st == NULL && !rq->cn->ls->is_unix &&
	    caller_bearer_of(rq->cn, MHD_lookup_connection_value(rq->mc,
	    MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION), &tok,
	    &tlen) < 0) {
		*ret = token_error(rq, desc, MHD_HTTP_BAD_REQUEST,
		    "invalid_request", "subject_token is required");
		return -1;
	}
	if (st == NULL)
		return caller_get(rq, cl, ret);
	if (stt == NULL) {
		*ret = token_error(rq, desc, MHD_HTTP_BAD_REQUEST,
		    "invalid_request", "subject_token_type is "
		    "required with subject_token");
		return -1;
	}
	if (strcmp(stt, TOKEN_TYPE_JWT) != 0 &&
	    strcmp(stt, TOKEN_TYPE_ACCESS) != 0) {
		*ret = token_error(rq, desc, MHD_HTTP_BAD_REQUEST,
		    "invalid_request", "subject_token_type must be %s "
		    "or %s", TOKEN_TYPE_JWT, TOKEN_TYPE_ACCESS);
		return -1;
	}
	if ((rc = vf_bearer(s, rq, st, strlen(st), 0, &tv, reason,
	    sizeof(reason))) < 0) {
		if (rc == -EINPROGRESS)
			*ret = MHD_YES;
		else if (rc == -ESHUTDOWN)
			*ret = resp_unverified(rq, rc, reason);
		else
			*ret = token_error(rq, desc, MHD_HTTP_BAD_REQUEST,
			    "invalid_grant", "subject_token: %s", reason);
		return -1;
	}
	caller_bearer(tv, cl);
	if (!authz_api_audience(s->cfg, &cl->who)) {
		*ret = token_error(rq, cl->desc, MHD_HTTP_BAD_REQUEST,
		    "invalid_grant", "subject_token: not meant for "
		    "rotatord (its aud lacks [listen] audience %s)",
		    s->cfg->listen.audience);
		caller_done(cl);
		return -1;
	}
	return 0;
}

/*
 * May cl mint what ask asks for?  0 with the [client] that says how in
 * *ret_match (or NULL), the subject of a unix caller in sub and the act
 * claim of a bearer's in *ret_act (a new reference); or -1 with the
 * error queued in *ret (audited).
 */
static int
token_may(struct req *rq, const struct caller *cl,
    const struct token_ask *ask, const struct cfg_client **ret_match,
    char *sub, size_t sublen, json_t **ret_act, enum MHD_Result *ret)
{
	const struct config *c = rq->cn->ls->srv->cfg;
	enum authz_result ar;
	char sb[200];
	size_t i;

	ar = authz_may_mint(c, &cl->who, ask->aud, ask->n_aud, ask->scope);
	if (ar != AUTHZ_OK) {
		static const char *const err[] = {
			[AUTHZ_DENIED] = "access_denied",
			[AUTHZ_BAD_TARGET] = "invalid_target",
			[AUTHZ_BAD_SCOPE] = "invalid_scope",
		};

		log_notice("audit: token aud=%s scope=%s by %s %s", ask->ab,
		    txt_safe(sb, sizeof(sb), ask->scope, 96), cl->desc,
		    err[ar]);
		*ret = resp_error(rq, ar == AUTHZ_DENIED ? MHD_HTTP_FORBIDDEN :
		    MHD_HTTP_BAD_REQUEST, err[ar], "%s",
		    ar == AUTHZ_DENIED ? "no [client] lets this caller mint "
		    "tokens" : ar == AUTHZ_BAD_TARGET ? "an audience is not "
		    "among the caller's token_audiences (or none was given)" :
		    "a scope is not among the caller's token_scopes");
		return -1;
	}
	/* Signer and lifetime: the first matching [client]. */
	*ret_match = NULL;
	for (i = 0; i < c->n_clients && *ret_match == NULL; i++)
		if (authz_client_matches(c->clients[i], &cl->who))
			*ret_match = c->clients[i];
	if (cl->who.kind == AUTHZ_UNIX)
		snprintf(sub, sublen, "unix:uid:%u", (unsigned)cl->who.uid);
	else if (cl->who.subject == NULL || cl->who.subject[0] == '\0') {
		log_notice("audit: token aud=%s by %s invalid_grant (no sub)",
		    ask->ab, cl->desc);
		*ret = resp_error(rq, MHD_HTTP_BAD_REQUEST, "invalid_grant",
		    "the subject token has no sub");
		return -1;
	}
	/*
	 * A token rotatord minted itself goes round again only where a lane
	 * says so, and every exchange is recorded in "act" (RFC 8693 4.1):
	 * the exchanged token's iss and sub, nested over its own act, at
	 * most [listen] max_delegation deep.
	 */
	*ret_act = NULL;
	if (cl->who.kind == AUTHZ_BEARER) {
		unsigned depth = authz_act_depth(cl->who.claims,
		    c->listen.max_delegation) + 1;

		if (authz_is_reexchange(c, &cl->who) &&
		    !authz_may_reexchange(c, &cl->who)) {
			log_notice("audit: token aud=%s by %s access_denied "
			    "(re-exchange)", ask->ab, cl->desc);
			*ret = resp_error(rq, MHD_HTTP_FORBIDDEN,
			    "access_denied", "the subject token was minted "
			    "by rotatord: exchanging it again needs "
			    "token_reexchange = yes in the caller's [client]");
			return -1;
		}
		if (depth > c->listen.max_delegation) {
			log_notice("audit: token aud=%s by %s invalid_grant "
			    "(act chain of %u)", ask->ab, cl->desc, depth - 1);
			*ret = resp_error(rq, MHD_HTTP_BAD_REQUEST,
			    "invalid_grant", "the subject token has been "
			    "exchanged %u times: [listen] max_delegation is %u",
			    depth - 1, c->listen.max_delegation);
			return -1;
		}
		if ((*ret_act = act_of(cl->who.claims)) == NULL) {
			*ret = resp_queue(rq, 500, NULL);
			return -1;
		}
	}
	return 0;
}

/* Queues the answer with the minted token (taken, wiped and freed). */
static enum MHD_Result
token_reply(struct req *rq, char *token, int64_t expires_in,
    const char *scope)
{
	struct MHD_Response *r;
	struct idp_jw b;

	idp_jw_growing(&b, RESP_MAX);
	idp_jw_lit(&b, "{\"access_token\":");
	idp_jw_str(&b, token);
	idp_jw_lit(&b, ",\"issued_token_type\":\"" TOKEN_TYPE_JWT "\","
	    "\"token_type\":\"N_A\",\"expires_in\":");
	idp_jw_int(&b, expires_in);
	if (scope != NULL) {
		idp_jw_lit(&b, ",\"scope\":");
		idp_jw_str(&b, scope);
	}
	idp_jw_lit(&b, "}");
	idp_wipe(token, strlen(token));
	free(token);
	if (b.bad) {
		idp_jw_free(&b);
		return resp_queue(rq, 500, NULL);
	}
	if ((r = resp_secret(b.p, b.len, b.cap)) != NULL) {
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
		    CT_JSON);
		MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL,
		    "no-store");
		MHD_add_response_header(r, "Pragma", "no-cache");
	}
	return resp_queue(rq, MHD_HTTP_OK, r);
}

/*
 * POST /v1/token: RFC 8693 token exchange.  The caller is its
 * subject_token (verified like a bearer); without one, the unix peer or on
 * TCP the Authorization bearer.  audience and resource both name targets.
 */
enum MHD_Result
h_token(struct req *rq)
{
	struct conn *cn = rq->cn;
	struct server *s = cn->ls->srv;
	const struct cfg_client *match = NULL;
	const struct form *f;
	struct token_ask ask;
	struct caller cl;
	char *token = NULL, reason[128], sub[64], sb[200];
	enum MHD_Result ret;
	json_t *act = NULL;
	int64_t expires_in = 0;
	int rc;

	memset(&ask, 0, sizeof(ask));
	memset(&cl, 0, sizeof(cl));
	/* Who connected, for the audit lines of requests refused early. */
	ask.desc = "-";
	if (cn->ls->is_unix && (cn->peer.done || ls_peer_load(cn, rq->mc) == 0))
		ask.desc = cn->peer.desc;
	if (token_form(rq, ask.desc, &f, &ret) < 0 ||
	    token_targets(rq, f, &ask, &ret) < 0 ||
	    token_caller(rq, f, ask.desc, &cl, &ret) < 0)
		return ret;
	if (token_may(rq, &cl, &ask, &match, sub, sizeof(sub), &act,
	    &ret) < 0) {
		caller_done(&cl);
		return ret;
	}
	reason[0] = '\0';
	rc = s->ops.mint(s->ops.arg, match != NULL ? match->token_signer : NULL,
	    cl.who.kind == AUTHZ_UNIX ? sub : cl.who.subject, ask.aud,
	    ask.n_aud, ask.scope, act, match != NULL &&
	    match->token_lifetime > 0 ? match->token_lifetime : 15 * 60 * 1000,
	    &token, &expires_in, reason, sizeof(reason));
	json_decref(act);
	if (rc < 0) {
		log_warn("audit: token aud=%s by %s failed: %s", ask.ab,
		    cl.desc, reason[0] ? reason : strerror(-rc));
		caller_done(&cl);
		return resp_error(rq, MHD_HTTP_INTERNAL_SERVER_ERROR,
		    "server_error", "cannot mint the token");
	}
	log_info("audit: token aud=%s scope=%s by %s ok", ask.ab,
	    txt_safe(sb, sizeof(sb), ask.scope, 96), cl.desc);
	caller_done(&cl);
	return token_reply(rq, token, expires_in, ask.scope);
}
