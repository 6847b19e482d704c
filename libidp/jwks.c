/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The key set (struct idp_jwks: unique kids, owned keys) and the JSON
 * output of keys and sets: public JWKs only, never a private member.
 * Reading a JWKS is jwk_parse.c's.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <idp/b64.h>
#include <idp/jwk.h>

#include "internal.h"
#include "jwk_int.h"

struct idp_jwks {
	struct idp_key	**keys;
	size_t		  n;
	size_t		  cap;
};

struct idp_jwks *
idp_jwks_new(void)
{
	return calloc(1, sizeof(struct idp_jwks));
}

/*
 * Takes ownership of k on success; on failure the caller keeps it.  A kid
 * already in the set is refused with -EEXIST, so lookups are unambiguous.
 */
int
idp_jwks_add(struct idp_jwks *set, struct idp_key *k)
{
	struct idp_key **keys;
	size_t cap;

	if (set == NULL || k == NULL)
		return -EINVAL;
	if (idp_jwks_find(set, k->kid) != NULL)
		return -EEXIST;
	if (set->n == set->cap) {
		cap = set->cap == 0 ? 4 : set->cap * 2;
		if (cap > SIZE_MAX / sizeof(*keys))
			return -ENOMEM;
		if ((keys = realloc(set->keys, cap * sizeof(*keys))) == NULL)
			return -ENOMEM;
		set->keys = keys;
		set->cap = cap;
	}
	set->keys[set->n++] = k;
	return 0;
}

size_t
idp_jwks_count(const struct idp_jwks *set)
{
	return set == NULL ? 0 : set->n;
}

const struct idp_key *
idp_jwks_get(const struct idp_jwks *set, size_t i)
{
	if (set == NULL || i >= set->n)
		return NULL;
	return set->keys[i];
}

const struct idp_key *
idp_jwks_find(const struct idp_jwks *set, const char *kid)
{
	size_t i;

	if (set == NULL || kid == NULL)
		return NULL;
	for (i = 0; i < set->n; i++)
		if (strcmp(set->keys[i]->kid, kid) == 0)
			return set->keys[i];
	return NULL;
}

void
idp_jwks_free(struct idp_jwks *set)
{
	size_t i;

	if (set == NULL)
		return;
	for (i = 0; i < set->n; i++)
		idp_key_free(set->keys[i]);
	free(set->keys);
	free(set);
}

/* Builds the public JWK; never includes private members. */
int
idp_key_to_jwk(const struct idp_key *k, json_t **ret)
{
	struct pub_parts pp;
	char a[IDP_RSA_MAX_BITS / 6 + 4], b[IDP_EC_MAX_BYTES * 2];
	const char *alg;
	json_t *j;
	int rc;

	if (k == NULL || ret == NULL)
		return -EINVAL;
	if ((alg = idp_alg_name(k->alg)) == NULL)
		return -EINVAL;
	if ((rc = idp_pub_parts_get(k, &pp)) < 0)
		return rc;
	idp_b64url_encode(pp.a, pp.alen, a);
	if (pp.blen > 0)
		idp_b64url_encode(pp.b, pp.blen, b);
	if (idp_type_is_ec(k->type))
		j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
		    "kty", "EC", "crv", idp_ec_crv_name(k->type), "x", a,
		    "y", b, "kid", k->kid, "alg", alg, "use", "sig");
	else if (idp_type_is_rsa(k->type))
		j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}",
		    "kty", "RSA", "n", a, "e", b,
		    "kid", k->kid, "alg", alg, "use", "sig");
	else
		j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}",
		    "kty", "OKP", "crv", "Ed25519", "x", a,
		    "kid", k->kid, "alg", alg, "use", "sig");
	if (j == NULL)
		return -ENOMEM;
	*ret = j;
	return 0;
}

/* Serializes {"keys":[...]} compactly; the caller frees *ret with free(). */
int
idp_jwks_dump(const struct idp_jwks *set, char **ret, size_t *ret_len)
{
	json_t *root = NULL, *arr, *jwk;
	char *s;
	size_t i;
	int rc;

	if (set == NULL || ret == NULL)
		return -EINVAL;
	if ((root = json_object()) == NULL || (arr = json_array()) == NULL ||
	    json_object_set_new(root, "keys", arr) != 0) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < set->n; i++) {
		if ((rc = idp_key_to_jwk(set->keys[i], &jwk)) < 0)
			goto out;
		if (json_array_append_new(arr, jwk) != 0) {
			rc = -ENOMEM;
			goto out;
		}
	}
	if ((s = json_dumps(root, JSON_COMPACT)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	*ret = s;
	if (ret_len != NULL)
		*ret_len = strlen(s);
	rc = 0;
out:
	json_decref(root);
	return rc;
}
