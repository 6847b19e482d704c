/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The verified-token cache: a bearer token seen before costs a SHA-256.
 * Set-associative (TC_SETS sets of TC_WAYS), keyed by the token's
 * SHA-256; a success is kept until the token's exp (under both encodings
 * of an ECDSA signature), a failure TC_NEGATIVE_MS.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <idp/crypto.h>
#include <idp/jwt.h>
#include <idp/secret.h>

#include "api/server_int.h"
#include "api/trust.h"
#include "core/loop.h"

#define TC_SETS			1024		/* verified-token cache: 4096 */
#define TC_WAYS			4		/* entries, 4-way set-associative */
#define TC_NEGATIVE_MS		1000		/* failures are remembered 1 s */
#define TWIN_MAX		(MAX_TOKEN_LEN + 1)	/* its ECDSA twin, NUL */

struct tok_slot {
	unsigned char	 key[IDP_SHA256_LEN];	/* SHA-256 of the token */
	int64_t		 until;		/* wall ms; 0: empty */
	uint64_t	 used;		/* LRU stamp */
	struct tok_val	*val;		/* NULL: a remembered failure */
	int		 err;
	char		 why[96];
};

void
tc_unref(struct tok_val *tv)
{
	if (tv == NULL || --tv->refs > 0)
		return;
	free(tv->issuer);
	free(tv->subject);
	json_decref(tv->claims);
	free(tv->h_sub);
	free(tv->h_iss);
	free(tv->h_scope);
	free(tv->desc);
	free(tv);
}

/* The scope claim as one space-separated string ("scp" arrays joined). */
static char *
scope_text(const json_t *claims)
{
	const json_t *v = json_object_get(claims, "scope"), *el;
	struct idp_jw b;
	size_t i;
	char *r;

	if (json_is_string(v))
		return txt_header_dup(json_string_value(v));
	idp_jw_growing(&b, MAX_TOKEN_LEN);
	v = json_object_get(claims, "scp");
	json_array_foreach(v, i, el)
		if (json_is_string(el)) {
			if (b.len > 0)
				idp_jw_lit(&b, " ");
			idp_jw_lit(&b, json_string_value(el));
		}
	idp_jw_raw(&b, "", 1);
	r = txt_header_dup(b.p != NULL && !b.bad ? b.p : "");
	idp_jw_free(&b);
	return r;
}

/* Builds the cached value of a token vf_bearer() accepted. */
static struct tok_val *
tv_new(const struct authz_caller *who, struct idp_jws *jws)
{
	struct tok_val *tv;
	const char *iss;
	char b1[160], b2[160];

	if ((tv = calloc(1, sizeof(*tv))) == NULL)
		return NULL;
	tv->refs = 1;
	iss = json_string_value(json_object_get(jws->claims, "iss"));
	tv->issuer = strdup(who->issuer != NULL ? who->issuer : "");
	tv->subject = who->subject != NULL ? strdup(who->subject) : NULL;
	tv->claims = json_incref(jws->claims);
	tv->h_sub = txt_header_dup(who->subject);
	tv->h_iss = txt_header_dup(iss);
	tv->h_scope = scope_text(jws->claims);
	if (asprintf(&tv->desc, "iss=%s sub=%s", txt_safe(b1, sizeof(b1), iss,
	    128), txt_safe(b2, sizeof(b2), who->subject, 128)) < 0)
		tv->desc = NULL;
	if (tv->issuer == NULL || (who->subject != NULL && tv->subject == NULL) ||
	    tv->h_sub == NULL || tv->h_iss == NULL || tv->h_scope == NULL ||
	    tv->desc == NULL) {
		tc_unref(tv);
		return NULL;
	}
	return tv;
}

void
tc_clear(struct server *s)
{
	size_t i;

	if (s->tc == NULL)
		return;
	for (i = 0; i < TC_SETS * TC_WAYS; i++)
		tc_unref(s->tc[i].val);
	free(s->tc);
	s->tc = NULL;
}

/*
 * The cache key of a token: its SHA-256, with one context reused (a
 * context per call costs more than hashing a token).
 */
void
tc_key(struct server *s, const char *tok, size_t len, unsigned char *key)
{
	if (s->sha256 == NULL)
		s->sha256 = idp_sha256_new();
	if (s->sha256 != NULL) {
		idp_sha256_update(s->sha256, tok, len);
		if (idp_sha256_final(s->sha256, key) == 0)
			return;
	}
	if (idp_sha256(tok, len, key) != 0)
		memset(key, 0, IDP_SHA256_LEN);
}

/*
 * A token longer than this is hashed on every request: the memo is for
 * the ordinary JWT that a keep-alive client (nginx's upstream, a
 * sidecar) sends with each request.
 */
#define TC_MEMO_MAX	4096

int
tc_conn_same(const struct conn *cn, const char *tok, size_t len)
{
	return cn->tok != NULL && idp_secret_equal(cn->tok, cn->tok_len, tok,
	    len);
}

void
tc_key_conn(struct server *s, struct conn *cn, const char *tok, size_t len,
    unsigned char *key)
{
	if (cn != NULL && tc_conn_same(cn, tok, len)) {
		memcpy(key, cn->tok_key, IDP_SHA256_LEN);
		return;
	}
	tc_key(s, tok, len, key);
	if (cn == NULL || len > TC_MEMO_MAX)
		return;
	tc_conn_forget(cn);
	if ((cn->tok = malloc(len)) == NULL)
		return;
	memcpy(cn->tok, tok, len);
	cn->tok_len = len;
	memcpy(cn->tok_key, key, IDP_SHA256_LEN);
}

void
tc_conn_forget(struct conn *cn)
{
	if (cn->tok != NULL) {
		idp_wipe(cn->tok, cn->tok_len);
		free(cn->tok);
	}
	cn->tok = NULL;
	cn->tok_len = 0;
	idp_wipe(cn->tok_key, sizeof(cn->tok_key));
}

/* The slot to fill for key: its own, an empty or expired one, or the LRU. */
static struct tok_slot *
tc_victim(struct tok_slot *set, const unsigned char *key, int64_t now)
{
	struct tok_slot *v = &set[0];
	size_t i;

	for (i = 0; i < TC_WAYS; i++) {
		if (memcmp(set[i].key, key, IDP_SHA256_LEN) == 0 ||
		    set[i].until <= now)
			return &set[i];
		if (set[i].used < v->used)
			v = &set[i];
	}
	return v;
}

/* Looks key up: 1 with the cached outcome (a held reference in *ret), or 0. */
int
tc_lookup(struct server *s, const unsigned char *key, int64_t now,
    struct tok_val **ret, int *rc, char *why, size_t whylen)
{
	struct tok_slot *set, *e;
	uint32_t h;
	size_t i;

	if (s->tc == NULL)
		return 0;
	memcpy(&h, key, sizeof(h));
	set = &s->tc[(h % TC_SETS) * TC_WAYS];
	for (i = 0; i < TC_WAYS; i++) {
		e = &set[i];
		if (e->until > now && memcmp(e->key, key,
		    IDP_SHA256_LEN) == 0) {
			e->used = ++s->tc_tick;
			if (e->val == NULL) {
				snprintf(why, whylen, "%s", e->why);
				*rc = e->err;
				return 1;
			}
			e->val->refs++;
			*ret = e->val;
			*rc = 0;
			return 1;
		}
	}
	return 0;
}

/*
 * The other encoding of an ECDSA-signed token tok (its signature's twin,
 * idp_jws_sig_twin()) into out; its length, or 0 for other algorithms,
 * a malformed token or one longer than out.
 */
static size_t
twin_of(const struct idp_jws *jws, const char *tok, size_t len, char *out,
    size_t outsz)
{
	const char *alg = json_string_value(json_object_get(jws->header, "alg"));
	const char *dot = memrchr(tok, '.', len);
	enum idp_alg a;
	size_t head;
	int n;

	if (alg == NULL || idp_alg_parse(alg, &a) < 0 ||
	    (a != IDP_ALG_ES256 && a != IDP_ALG_ES384) || dot == NULL)
		return 0;
	head = (size_t)(dot - tok) + 1;
	if (head >= outsz)
		return 0;
	memcpy(out, tok, head);
	n = idp_jws_sig_twin(a, dot + 1, len - head, out + head, outsz - head);
	return n > 0 ? head + (size_t)n : 0;
}

/*
 * Turns a verification's result into a tok_val and remembers it: a
 * success until the token's exp, a failure TC_NEGATIVE_MS (not -ENOKEY:
 * the issuer's keys may be refetched).  An ECDSA signature has a twin
 * (r, n - s) that verifies alike: a success is remembered under both
 * encodings of tok, one verified value.  Takes res->jws.  Returns 0 with
 * a held reference in *ret, or -errno with a reason in why.
 */
int
tc_finish(struct server *s, const unsigned char *key, const char *tok,
    size_t len, struct trust_result *res, int cache, struct tok_val **ret,
    char *why, size_t whylen)
{
	char twin[TWIN_MAX];
	size_t twin_len = 0;
	struct authz_caller who;
	struct tok_slot *set = NULL, *e;
	struct tok_val *tv;
	int64_t now = loop_now_wall(), exp_ms = 0;
	const json_t *exp;
	uint32_t h;
	int rc = res->rc;

	if (cache && s->tc == NULL)
		s->tc = calloc(TC_SETS * TC_WAYS, sizeof(*s->tc));
	if (cache && s->tc != NULL) {
		memcpy(&h, key, sizeof(h));
		set = &s->tc[(h % TC_SETS) * TC_WAYS];
	}
	if (rc == 0 && (res->jws == NULL || res->name == NULL)) {
		idp_jws_free(res->jws);
		res->jws = NULL;
		snprintf(res->why, sizeof(res->why), "verifier returned no token");
		rc = -EINVAL;
	}
	if (rc < 0) {
		snprintf(why, whylen, "%s", res->why[0] != '\0' ? res->why :
		    strerror(-rc));
		if (set != NULL && rc != -ENOKEY) {
			e = tc_victim(set, key, now);
			tc_unref(e->val);
			memcpy(e->key, key, IDP_SHA256_LEN);
			e->val = NULL;
			e->err = rc;
			e->until = now + TC_NEGATIVE_MS;
			e->used = ++s->tc_tick;
			snprintf(e->why, sizeof(e->why), "%s", why);
		}
		return rc;
	}
	memset(&who, 0, sizeof(who));
	who.kind = AUTHZ_BEARER;
	who.issuer = res->name;
	who.subject = json_string_value(json_object_get(res->jws->claims,
	    "sub"));
	who.claims = res->jws->claims;
	tv = tv_new(&who, res->jws);
	exp = json_object_get(res->jws->claims, "exp");
	if (json_is_integer(exp) && json_integer_value(exp) > 0 &&
	    json_integer_value(exp) < INT64_MAX / 1000)
		exp_ms = (int64_t)json_integer_value(exp) * 1000;
	if (set != NULL && tok != NULL)
		twin_len = twin_of(res->jws, tok, len, twin, sizeof(twin));
	idp_jws_free(res->jws);
	res->jws = NULL;
	if (tv == NULL) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	/* Without an exp (trust_verify requires one) it is not kept. */
	if (set != NULL && exp_ms > now) {
		e = tc_victim(set, key, now);
		tc_unref(e->val);
		memcpy(e->key, key, IDP_SHA256_LEN);
		e->val = tv;
		tv->refs++;
		e->until = exp_ms;
		e->used = ++s->tc_tick;
	}
	if (set != NULL && exp_ms > now && twin_len > 0) {
		unsigned char tkey[IDP_SHA256_LEN];

		tc_key(s, twin, twin_len, tkey);
		memcpy(&h, tkey, sizeof(h));
		e = tc_victim(&s->tc[(h % TC_SETS) * TC_WAYS], tkey, now);
		tc_unref(e->val);
		memcpy(e->key, tkey, IDP_SHA256_LEN);
		e->val = tv;
		tv->refs++;
		e->until = exp_ms;
		e->used = ++s->tc_tick;
		idp_wipe(twin, twin_len);
	}
	*ret = tv;
	return 0;
}
