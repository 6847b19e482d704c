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
 * POST /v1/token: RFC 8693 token exchange.  The caller is its
 * subject_token (verified like a bearer); without one, the unix peer or on
 * TCP the Authorization bearer.  audience and resource both name targets.
 */
enum MHD_Result
h_token(struct req *rq)
{
	struct conn *cn = rq->cn;
	struct server *s = cn->ls->srv;
	const struct config *c = s->cfg;
	const struct cfg_client *match = NULL;
	struct caller cl;
	struct tok_val *tv = NULL;
	struct form *f;
	struct wbuf b = { 0 };
	const char *aud[MAX_AUDIENCES], *why = NULL, *v, *st, *stt, *rtt;
	const char *desc = "-";
	char *scope = NULL, *token = NULL, reason[128], sub[64], ab[200], sb[200];
	enum MHD_Result ret;
	enum authz_result ar;
	json_t *act = NULL;
	int64_t expires_in = 0;
	size_t i, n_aud = 0, tlen, ablen = 0;
	int rc;

	memset(&cl, 0, sizeof(cl));
	/* Who connected, for the audit lines of requests refused early. */
	if (cn->ls->is_unix && (cn->peer.done || ls_peer_load(cn, rq->mc) == 0))
		desc = cn->peer.desc;
	if (!txt_media_type_is(MHD_lookup_connection_value(rq->mc, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_TYPE), "application/x-www-form-urlencoded"))
		return token_error(rq, desc, MHD_HTTP_BAD_REQUEST,
		    "invalid_request", "the body must be "
		    "application/x-www-form-urlencoded");
	if (rq->body == NULL)
		return token_error(rq, desc, MHD_HTTP_BAD_REQUEST,
		    "invalid_request", "missing grant_type");
	/*
	 * Parsed in place, so once: the handler runs again after the
	 * subject token is verified on a verifier thread.
	 */
	if ((f = rq->form) == NULL) {
		if ((f = calloc(1, sizeof(*f))) == NULL)
			return resp_queue(rq, 500, NULL);
		rq->form = f;
		if (form_parse(rq->body, rq->body_len, f, &why) < 0) {
			f->bad = why;
			f->n = 0;
		}
	}
	if (f->bad != NULL)
		return token_error(rq, desc, MHD_HTTP_BAD_REQUEST,
		    "invalid_request", "%s", f->bad);
	if ((v = form_get(f, "grant_type")) == NULL)
		return token_error(rq, desc, MHD_HTTP_BAD_REQUEST,
		    "invalid_request", "missing grant_type");
	if (strcmp(v, GRANT_TOKEN_EXCHANGE) != 0)
		return token_error(rq, desc, MHD_HTTP_BAD_REQUEST,
		    "unsupported_grant_type", "only %s is supported",
		    GRANT_TOKEN_EXCHANGE);
	if (form_get(f, "actor_token") != NULL)
		return token_error(rq, desc, MHD_HTTP_BAD_REQUEST,
		    "invalid_request", "actor_token (delegation) is not "
		    "supported");
	rtt = form_get(f, "requested_token_type");
	if (rtt != NULL && strcmp(rtt, TOKEN_TYPE_JWT) != 0 &&
	    strcmp(rtt, TOKEN_TYPE_ACCESS) != 0)
		return token_error(rq, desc, MHD_HTTP_BAD_REQUEST,
		    "invalid_request", "requested_token_type must be %s",
		    TOKEN_TYPE_JWT);
	for (i = 0; i < f->n; i++) {
		if (strcmp(f->p[i].k, "audience") != 0 &&
		    strcmp(f->p[i].k, "resource") != 0)
			continue;
		if (n_aud == MAX_AUDIENCES)
			return token_error(rq, desc, MHD_HTTP_BAD_REQUEST,
			    "invalid_target", "at most %d audiences",
			    MAX_AUDIENCES);
		if (strlen(f->p[i].v) > 256 || !txt_utf8_ok((const unsigned char *)
		    f->p[i].v, strlen(f->p[i].v)))
			return token_error(rq, desc, MHD_HTTP_BAD_REQUEST,
			    "invalid_target", "malformed audience");
		for (v = f->p[i].v; *v != '\0'; v++)
			if ((unsigned char)*v < 0x20 || *v == 0x7f)
				return token_error(rq, desc,
				    MHD_HTTP_BAD_REQUEST, "invalid_target",
				    "malformed audience");
		aud[n_aud++] = f->p[i].v;
	}
	if ((v = form_get(f, "scope")) != NULL) {
		scope = (char *)v;	/* points into rq->body */
		if (scope_normalize(scope) < 0)
			return token_error(rq, desc, MHD_HTTP_BAD_REQUEST,
			    "invalid_scope", "malformed scope");
		if (*scope == '\0')
			scope = NULL;
	}

	/* Who asks. */
	st = form_get(f, "subject_token");
	stt = form_get(f, "subject_token_type");
	if (st != NULL) {
		if (stt == NULL)
			return token_error(rq, desc, MHD_HTTP_BAD_REQUEST,
			    "invalid_request", "subject_token_type is "
			    "required with subject_token");
		if (strcmp(stt, TOKEN_TYPE_JWT) != 0 &&
		    strcmp(stt, TOKEN_TYPE_ACCESS) != 0)
			return token_error(rq, desc, MHD_HTTP_BAD_REQUEST,
			    "invalid_request", "subject_token_type must be %s "
			    "or %s", TOKEN_TYPE_JWT, TOKEN_TYPE_ACCESS);
		if ((rc = vf_bearer(s, rq, st, strlen(st), &tv, reason,
		    sizeof(reason))) < 0) {
			if (rc == -EINPROGRESS)
				return MHD_YES;
			if (rc == -ESHUTDOWN)
				return resp_unverified(rq, rc, reason);
			return token_error(rq, desc, MHD_HTTP_BAD_REQUEST,
			    "invalid_grant", "subject_token: %s", reason);
		}
		caller_bearer(tv, &cl);
		if (!authz_api_audience(c, &cl.who)) {
			ret = token_error(rq, cl.desc, MHD_HTTP_BAD_REQUEST,
			    "invalid_grant", "subject_token: not meant for "
			    "rotatord (its aud lacks [listen] audience %s)",
			    c->listen.audience);
			caller_done(&cl);
			return ret;
		}
	} else if (cn->ls->is_unix) {
		if (caller_get(rq, &cl, &ret) < 0)
			return ret;
	} else {
		const char *tok;

		if (caller_bearer_of(MHD_lookup_connection_value(rq->mc,
		    MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION), &tok,
		    &tlen) < 0)
			return token_error(rq, desc, MHD_HTTP_BAD_REQUEST,
			    "invalid_request", "subject_token is required");
		if (caller_get(rq, &cl, &ret) < 0)
			return ret;
	}

	for (i = 0; i < n_aud; i++) {
		int n = snprintf(ab + ablen, sizeof(ab) - ablen, "%s%s",
		    i ? "," : "", txt_safe(sb, sizeof(sb), aud[i], 48));

		if (n < 0 || (size_t)n >= sizeof(ab) - ablen)
			break;
		ablen += (size_t)n;
	}
	if (ablen == 0)
		snprintf(ab, sizeof(ab), "-");
	ar = authz_may_mint(c, &cl.who, aud, n_aud, scope);
	if (ar != AUTHZ_OK) {
		static const char *const err[] = {
			[AUTHZ_DENIED] = "access_denied",
			[AUTHZ_BAD_TARGET] = "invalid_target",
			[AUTHZ_BAD_SCOPE] = "invalid_scope",
		};

		log_notice("audit: token aud=%s scope=%s by %s %s", ab,
		    txt_safe(sb, sizeof(sb), scope, 96), cl.desc, err[ar]);
		caller_done(&cl);
		return resp_error(rq, ar == AUTHZ_DENIED ? MHD_HTTP_FORBIDDEN :
		    MHD_HTTP_BAD_REQUEST, err[ar], "%s",
		    ar == AUTHZ_DENIED ? "no [client] lets this caller mint "
		    "tokens" : ar == AUTHZ_BAD_TARGET ? "an audience is not "
		    "among the caller's token_audiences (or none was given)" :
		    "a scope is not among the caller's token_scopes");
	}
	/* Signer and lifetime: the first matching [client]. */
	for (i = 0; i < c->n_clients && match == NULL; i++)
		if (authz_client_matches(c->clients[i], &cl.who))
			match = c->clients[i];
	if (cl.who.kind == AUTHZ_UNIX)
		snprintf(sub, sizeof(sub), "unix:uid:%u", (unsigned)cl.who.uid);
	else if (cl.who.subject == NULL || cl.who.subject[0] == '\0') {
		log_notice("audit: token aud=%s by %s invalid_grant (no sub)",
		    ab, cl.desc);
		caller_done(&cl);
		return resp_error(rq, MHD_HTTP_BAD_REQUEST, "invalid_grant",
		    "the subject token has no sub");
	}
	/*
	 * A token rotatord minted itself goes round again only where a lane
	 * says so, and every exchange is recorded in "act" (RFC 8693 4.1):
	 * the exchanged token's iss and sub, nested over its own act, at
	 * most [listen] max_delegation deep.
	 */
	if (cl.who.kind == AUTHZ_BEARER) {
		unsigned depth = authz_act_depth(cl.who.claims,
		    c->listen.max_delegation) + 1;

		if (authz_is_reexchange(c, &cl.who) &&
		    !authz_may_reexchange(c, &cl.who)) {
			log_notice("audit: token aud=%s by %s access_denied "
			    "(re-exchange)", ab, cl.desc);
			caller_done(&cl);
			return resp_error(rq, MHD_HTTP_FORBIDDEN,
			    "access_denied", "the subject token was minted "
			    "by rotatord: exchanging it again needs "
			    "token_reexchange = yes in the caller's [client]");
		}
		if (depth > c->listen.max_delegation) {
			log_notice("audit: token aud=%s by %s invalid_grant "
			    "(act chain of %u)", ab, cl.desc, depth - 1);
			caller_done(&cl);
			return resp_error(rq, MHD_HTTP_BAD_REQUEST,
			    "invalid_grant", "the subject token has been "
			    "exchanged %u times: [listen] max_delegation is %u",
			    depth - 1, c->listen.max_delegation);
		}
		act = act_of(cl.who.claims);
		if (act == NULL) {
			caller_done(&cl);
			return resp_queue(rq, 500, NULL);
		}
	}
	reason[0] = '\0';
	rc = s->ops.mint(s->ops.arg, match != NULL ? match->token_signer : NULL,
	    cl.who.kind == AUTHZ_UNIX ? sub : cl.who.subject, aud, n_aud, scope,
	    act, match != NULL && match->token_lifetime > 0 ?
	    match->token_lifetime : 15 * 60 * 1000, &token, &expires_in,
	    reason, sizeof(reason));
	json_decref(act);
	if (rc < 0) {
		log_warn("audit: token aud=%s by %s failed: %s", ab, cl.desc,
		    reason[0] ? reason : strerror(-rc));
		caller_done(&cl);
		return resp_error(rq, MHD_HTTP_INTERNAL_SERVER_ERROR,
		    "server_error", "cannot mint the token");
	}
	log_info("audit: token aud=%s scope=%s by %s ok", ab,
	    txt_safe(sb, sizeof(sb), scope, 96), cl.desc);
	caller_done(&cl);
	wb_str(&b, "{\"access_token\":");
	wb_jstr(&b, token, strlen(token));
	wb_fmt(&b, ",\"issued_token_type\":\"%s\",\"token_type\":\"N_A\","
	    "\"expires_in\":%lld", TOKEN_TYPE_JWT, (long long)expires_in);
	if (scope != NULL) {
		wb_str(&b, ",\"scope\":");
		wb_jstr(&b, scope, strlen(scope));
	}
	wb_str(&b, "}");
	idp_wipe(token, strlen(token));
	free(token);
	if (b.oom) {
		wb_wipe(&b);
		return resp_queue(rq, 500, NULL);
	}
	{
		struct MHD_Response *r = resp_secret(b.p, b.len, b.cap);

		if (r != NULL) {
			MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
			    CT_JSON);
			MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL,
			    "no-store");
			MHD_add_response_header(r, "Pragma", "no-cache");
		}
		return resp_queue(rq, MHD_HTTP_OK, r);
	}
}
