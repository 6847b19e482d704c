/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Trust sets: immutable snapshots of the issuers a bearer token may come
 * from (trust.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <idp/b64.h>
#include <idp/jwk.h>
#include <idp/jwt.h>

#include "api/trust.h"

#define MAX_ISS		512	/* longest iss compared */

struct trust_entry {
	char		*name;
	char		*iss;
	char		*aud;
	int64_t		 leeway;
	struct idp_jwks	*keys;		/* own set, shared keys; NULL: none */
	int		 upstream;
};

struct trust {
	unsigned		 refs;
	struct trust_entry	*e;
	size_t			 n;
};

struct trust *
trust_new(void)
{
	struct trust *t;

	if ((t = calloc(1, sizeof(*t))) != NULL)
		t->refs = 1;
	return t;
}

/* A new set holding one more reference to each key of src. */
static int
keys_share(const struct idp_jwks *src, struct idp_jwks **ret)
{
	struct idp_jwks *set;
	struct idp_key *k;
	size_t i;
	int rc;

	if ((set = idp_jwks_new()) == NULL)
		return -ENOMEM;
	for (i = 0; i < idp_jwks_count(src); i++) {
		k = idp_key_ref((struct idp_key *)(uintptr_t)idp_jwks_get(src,
		    i));
		if ((rc = idp_jwks_add(set, k)) < 0) {
			idp_key_free(k);
			idp_jwks_free(set);
			return rc;
		}
	}
	*ret = set;
	return 0;
}

int
trust_add(struct trust *t, const char *name, const char *iss,
    const char *aud, int64_t leeway_s, const struct idp_jwks *keys,
    int upstream)
{
	struct trust_entry *ne, *e;

	if (name == NULL || iss == NULL || strlen(iss) >= MAX_ISS)
		return -EINVAL;
	if ((ne = reallocarray(t->e, t->n + 1, sizeof(*ne))) == NULL)
		return -ENOMEM;
	t->e = ne;
	e = &t->e[t->n];
	memset(e, 0, sizeof(*e));
	e->leeway = leeway_s;
	e->upstream = upstream;
	e->name = strdup(name);
	e->iss = strdup(iss);
	e->aud = aud != NULL ? strdup(aud) : NULL;
	if (e->name == NULL || e->iss == NULL || (aud != NULL &&
	    e->aud == NULL) || (keys != NULL && keys_share(keys,
	    &e->keys) < 0)) {
		free(e->name);
		free(e->iss);
		free(e->aud);
		return -ENOMEM;
	}
	t->n++;
	return 0;
}

struct trust *
trust_ref(struct trust *t)
{
	if (t != NULL)
		t->refs++;
	return t;
}

void
trust_unref(struct trust *t)
{
	size_t i;

	if (t == NULL || --t->refs > 0)
		return;
	for (i = 0; i < t->n; i++) {
		free(t->e[i].name);
		free(t->e[i].iss);
		free(t->e[i].aud);
		idp_jwks_free(t->e[i].keys);
	}
	free(t->e);
	free(t);
}

/*
 * Reads the iss claim of a token without verifying it, only to choose
 * which keys verify it.  Returns 0 or -EBADMSG.
 */
static int
peek_iss(const char *tok, size_t len, char *out, size_t outsz)
{
	const char *p1, *p2;
	unsigned char *pl = NULL;
	size_t plen, n;
	json_t *j;
	const char *iss;
	int rc = -EBADMSG;

	if (len > IDP_JWT_MAX_LEN || (p1 = memchr(tok, '.', len)) == NULL ||
	    (p2 = memchr(p1 + 1, '.', len - (size_t)(p1 + 1 - tok))) == NULL)
		return -EBADMSG;
	if (idp_b64url_decode_alloc(p1 + 1, (size_t)(p2 - p1 - 1), &pl,
	    &plen) < 0)
		return -EBADMSG;
	j = json_loadb((char *)pl, plen, JSON_REJECT_DUPLICATES, NULL);
	if ((iss = json_string_value(json_object_get(j, "iss"))) != NULL &&
	    (n = strlen(iss)) < outsz) {
		memcpy(out, iss, n + 1);
		rc = 0;
	}
	json_decref(j);
	free(pl);
	return rc;
}

/* Checks the claims of a verified token against e.  Takes res->jws on error. */
static int
claims_check(const struct trust_entry *e, int64_t now_s,
    struct trust_result *res, struct idp_err *err)
{
	struct idp_jwt_expect x;
	int rc;

	memset(&x, 0, sizeof(x));
	x.iss = e->iss;
	x.aud = e->aud;
	x.leeway = e->leeway;
	x.require_exp = 1;
	if ((rc = idp_jwt_check(res->jws, &x, now_s, err)) < 0) {
		idp_jws_free(res->jws);
		res->jws = NULL;
	}
	return rc;
}

int
trust_verify(const struct trust *t, const char *tok, size_t len,
    int64_t now_s, struct trust_result *res)
{
	const struct trust_entry *e = NULL;
	struct idp_err err;
	char iss[MAX_ISS];
	size_t i;
	int rc;

	memset(res, 0, sizeof(*res));
	err.msg[0] = '\0';
	/*
	 * With one issuer (the usual case) the keys are known before the
	 * token is read: verify first, and the iss claim must then be that
	 * issuer's.  Only a failure reads iss on its own, so that a token
	 * of another issuer is told apart (and triggers no key refetch).
	 */
	if (t != NULL && t->n == 1 && t->e[0].keys != NULL) {
		e = &t->e[0];
		res->name = e->name;
		res->upstream = e->upstream;
		if ((rc = idp_jws_verify(tok, len, e->keys, &res->jws,
		    &err)) == 0 && (rc = claims_check(e, now_s, res,
		    &err)) == 0)
			return res->rc = 0;
		/* Its own issuer's token: that failure (checked once). */
		if (rc != -EBADMSG && peek_iss(tok, len, iss, sizeof(iss)) == 0 &&
		    strcmp(iss, e->iss) == 0)
			goto fail;
		if (rc == -EBADMSG)
			goto fail;
		res->name = NULL;
		res->upstream = 0;
		snprintf(res->why, sizeof(res->why), "issuer not trusted");
		return res->rc = -EACCES;
	}
	if (peek_iss(tok, len, iss, sizeof(iss)) < 0) {
		snprintf(res->why, sizeof(res->why), "malformed token");
		return res->rc = -EBADMSG;
	}
	for (i = 0; t != NULL && i < t->n && e == NULL; i++)
		if (strcmp(t->e[i].iss, iss) == 0)
			e = &t->e[i];
	if (e == NULL) {
		snprintf(res->why, sizeof(res->why), "issuer not trusted");
		return res->rc = -EACCES;
	}
	res->name = e->name;
	res->upstream = e->upstream;
	if (e->keys == NULL) {
		snprintf(res->why, sizeof(res->why), "no keys for issuer %s yet",
		    e->name);
		return res->rc = -ENOKEY;
	}
	if ((rc = idp_jws_verify(tok, len, e->keys, &res->jws, &err)) == 0 &&
	    (rc = claims_check(e, now_s, res, &err)) == 0)
		return res->rc = 0;
fail:
	snprintf(res->why, sizeof(res->why), "%.127s", err.msg[0] != '\0' ?
	    err.msg : strerror(-rc));
	return res->rc = rc;
}
