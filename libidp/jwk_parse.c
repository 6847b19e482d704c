/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Public JWKs and JWKS documents from outside (RFC 7517, 7518): each key
 * checked once here (no private members, strict base64url, points on the
 * curve, RSA sizes and exponents) before it becomes a key.  Pure: parses
 * buffers, does no I/O and keeps no state.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <idp/b64.h>
#include <idp/jwk.h>

#include "internal.h"
#include "jwk_int.h"

/* Members that only a private or symmetric JWK has (RFC 7518 6.3.2, 6.4). */
static const char *const jwk_private_members[] = {
	"d", "p", "q", "dp", "dq", "qi", "oth", "k",
};

/*
 * Reads a base64url member.  exact > 0 demands exactly that many decoded
 * bytes (EC coordinates, Ed25519 keys).  Returns -EBADMSG when missing or
 * malformed.
 */
static int
jwk_b64(const json_t *jwk, const char *name, unsigned char *out,
    size_t outsz, size_t exact, size_t *ret_len, struct idp_err *err)
{
	json_t *v;
	const char *s;
	size_t slen, n;

	v = json_object_get(jwk, name);
	if (!json_is_string(v)) {
		idp_err_set(err, -EBADMSG,
		    "JWK member \"%s\" missing or not a string", name);
		return -EBADMSG;
	}
	s = json_string_value(v);
	slen = json_string_length(v);
	if ((exact > 0 && slen != idp_b64url_enc_len(exact)) ||
	    idp_b64url_decode(s, slen, out, outsz, &n) < 0 ||
	    (exact > 0 && n != exact)) {
		idp_err_set(err, -EBADMSG, "JWK member \"%s\" is not strict "
		    "base64url of the right length", name);
		return -EBADMSG;
	}
	*ret_len = n;
	return 0;
}

/* Returns the string member name, NULL if absent, -EBADMSG via *bad. */
static const char *
jwk_str(const json_t *jwk, const char *name, int *bad)
{
	json_t *v = json_object_get(jwk, name);

	if (v == NULL)
		return NULL;
	if (!json_is_string(v) ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		*bad = 1;
		return NULL;
	}
	return json_string_value(v);
}

static int
ec_from_jwk(const json_t *jwk, enum idp_key_type t, EVP_PKEY **ret,
    struct idp_err *err)
{
	unsigned char pt[1 + 2 * IDP_EC_MAX_BYTES];
	size_t w = idp_ec_field_len(t), n;
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *ctx = NULL, *cctx = NULL;
	EVP_PKEY *pkey = NULL;
	int rc;

	pt[0] = 0x04;
	if ((rc = jwk_b64(jwk, "x", pt + 1, w, w, &n, err)) < 0 ||
	    (rc = jwk_b64(jwk, "y", pt + 1 + w, w, w, &n, err)) < 0)
		goto out;
	params[0] = OSSL_PARAM_construct_utf8_string(
	    OSSL_PKEY_PARAM_GROUP_NAME, (char *)(uintptr_t)idp_ec_crv_name(t),
	    0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
	    pt, 1 + 2 * w);
	params[2] = OSSL_PARAM_construct_end();
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1) {
		rc = idp_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	/* oct2point refuses coordinates >= p and points off the curve. */
	if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		rc = idp_err_set(err, -EBADMSG, "EC point is not on the curve");
		goto out;
	}
	if ((cctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL) {
		rc = idp_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (EVP_PKEY_public_check(cctx) != 1) {
		rc = idp_err_set(err, -EBADMSG, "EC public key is invalid");
		goto out;
	}
	*ret = pkey;
	pkey = NULL;
	rc = 0;
out:
	EVP_PKEY_CTX_free(cctx);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	return rc;
}

/* Note: -EOPNOTSUPP marks a key that is well-formed but too large. */
static int
rsa_from_jwk(const json_t *jwk, EVP_PKEY **ret, enum idp_key_type *ret_type,
    struct idp_err *err)
{
	unsigned char *nb = NULL, eb[16];
	size_t nlen, elen;
	json_t *v;
	BIGNUM *n = NULL, *e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	int bits, rc;

	/*
	 * One byte of slack for a (tolerated) leading zero octet.  A modulus
	 * too long for that is well-formed but unsupported: JWKS skips it.
	 */
	v = json_object_get(jwk, "n");
	if (json_is_string(v) && json_string_length(v) >
	    idp_b64url_enc_len(IDP_RSA_MAX_BITS / 8 + 1)) {
		rc = idp_err_set(err, -EOPNOTSUPP,
		    "RSA modulus larger than %d bits", IDP_RSA_MAX_BITS);
		goto out;
	}
	if ((nb = malloc(IDP_RSA_MAX_BITS / 8 + 1)) == NULL) {
		rc = idp_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = jwk_b64(jwk, "n", nb, IDP_RSA_MAX_BITS / 8 + 1, 0, &nlen,
	    err)) < 0)
		goto out;
	if ((rc = jwk_b64(jwk, "e", eb, sizeof(eb), 0, &elen, err)) < 0)
		goto out;
	if (!idp_rsa_e_ok(eb, elen)) {
		rc = idp_err_set(err, -EBADMSG,
		    "RSA public exponent must be odd, >= 3 and < 2^64");
		goto out;
	}
	if ((n = BN_bin2bn(nb, (int)nlen, NULL)) == NULL ||
	    (e = BN_bin2bn(eb, (int)elen, NULL)) == NULL) {
		rc = idp_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	bits = BN_num_bits(n);
	if (bits < IDP_RSA_MIN_BITS) {
		rc = idp_err_set(err, -EBADMSG,
		    "RSA modulus of %d bits (need at least %d)", bits,
		    IDP_RSA_MIN_BITS);
		goto out;
	}
	if (bits > IDP_RSA_MAX_BITS) {
		rc = idp_err_set(err, -EOPNOTSUPP,
		    "RSA modulus larger than %d bits", IDP_RSA_MAX_BITS);
		goto out;
	}
	if (!BN_is_odd(n) || BN_cmp(e, n) >= 0) {
		rc = idp_err_set(err, -EBADMSG, "RSA modulus is invalid");
		goto out;
	}
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1 ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1) {
		rc = idp_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		rc = idp_err_set(err, -EBADMSG, "RSA public key is invalid");
		goto out;
	}
	*ret_type = bits < 3072 ? IDP_KEY_RSA_2048 : IDP_KEY_RSA_3072;
	*ret = pkey;
	pkey = NULL;
	rc = 0;
out:
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	free(nb);
	return rc;
}

static int
okp_from_jwk(const json_t *jwk, EVP_PKEY **ret, struct idp_err *err)
{
	unsigned char x[32];
	size_t n;
	EVP_PKEY *pkey;
	int rc;

	if ((rc = jwk_b64(jwk, "x", x, sizeof(x), sizeof(x), &n, err)) < 0)
		return rc;
	pkey = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, x, n);
	if (pkey == NULL)
		return idp_err_set(err, -EBADMSG, "Ed25519 key is invalid");
	*ret = pkey;
	return 0;
}

/*
 * Imports a public JWK.  Returns -EOPNOTSUPP for a well-formed key libidp
 * does not support (another kty, curve or alg), which idp_jwks_parse()
 * skips, and -EBADMSG for a malformed or contradictory one.
 */
static int
jwk_import(const json_t *jwk, struct idp_key **ret, struct idp_err *err)
{
	const char *kty, *crv, *alg_s, *kid;
	enum idp_key_type type = 0;
	enum idp_alg alg = IDP_ALG_NONE;
	EVP_PKEY *pkey = NULL;
	struct idp_key *k = NULL;
	size_t i;
	int bad = 0, rc;

	if (!json_is_object(jwk))
		return idp_err_set(err, -EBADMSG, "JWK is not an object");
	for (i = 0; i < sizeof(jwk_private_members) /
	    sizeof(jwk_private_members[0]); i++)
		if (json_object_get(jwk, jwk_private_members[i]) != NULL)
			return idp_err_set(err, -EBADMSG,
			    "JWK carries private member \"%s\"",
			    jwk_private_members[i]);
	kty = jwk_str(jwk, "kty", &bad);
	crv = jwk_str(jwk, "crv", &bad);
	alg_s = jwk_str(jwk, "alg", &bad);
	kid = jwk_str(jwk, "kid", &bad);
	if (bad)
		return idp_err_set(err, -EBADMSG,
		    "JWK kty, crv, alg or kid is not a string");
	if (kty == NULL)
		return idp_err_set(err, -EBADMSG, "JWK without kty");
	if (kid != NULL && (kid[0] == '\0' || strlen(kid) >= sizeof(k->kid)))
		return idp_err_set(err, -EBADMSG,
		    "JWK kid is empty or longer than %zu bytes",
		    sizeof(k->kid) - 1);

	if (strcmp(kty, "EC") == 0) {
		if (crv == NULL)
			return idp_err_set(err, -EBADMSG, "EC JWK without crv");
		if (strcmp(crv, "P-256") == 0)
			type = IDP_KEY_EC_P256;
		else if (strcmp(crv, "P-384") == 0)
			type = IDP_KEY_EC_P384;
		else
			return idp_err_set(err, -EOPNOTSUPP,
			    "unsupported EC curve");
	} else if (strcmp(kty, "RSA") == 0) {
		type = IDP_KEY_RSA_2048;	/* refined by the modulus size */
	} else if (strcmp(kty, "OKP") == 0) {
		if (crv == NULL)
			return idp_err_set(err, -EBADMSG,
			    "OKP JWK without crv");
		if (strcmp(crv, "Ed25519") != 0)
			return idp_err_set(err, -EOPNOTSUPP,
			    "unsupported OKP curve");
		type = IDP_KEY_ED25519;
	} else {
		return idp_err_set(err, -EOPNOTSUPP, "unsupported kty");
	}

	if (alg_s != NULL) {
		if (idp_alg_parse(alg_s, &alg) < 0)
			return idp_err_set(err, -EOPNOTSUPP,
			    "unsupported alg");
		if (!idp_alg_fits(type, alg))
			return idp_err_set(err, -EBADMSG,
			    "JWK alg does not match its kty or crv");
	}

	if (idp_type_is_ec(type))
		rc = ec_from_jwk(jwk, type, &pkey, err);
	else if (idp_type_is_rsa(type))
		rc = rsa_from_jwk(jwk, &pkey, &type, err);
	else
		rc = okp_from_jwk(jwk, &pkey, err);
	if (rc < 0)
		goto out;
	if ((rc = idp_key_wrap(pkey, type, 0, &k)) < 0) {
		idp_err_set(err, rc, "cannot compute key thumbprint");
		goto out;
	}
	pkey = NULL;
	if (alg != IDP_ALG_NONE)
		k->alg = alg;
	if (kid != NULL)
		memcpy(k->kid, kid, strlen(kid) + 1);
	*ret = k;
	rc = 0;
out:
	EVP_PKEY_free(pkey);
	ERR_clear_error();
	return rc;
}

int
idp_key_from_jwk(const json_t *jwk, struct idp_key **ret,
    struct idp_err *err)
{
	int rc;

	if (ret == NULL)
		return -EINVAL;
	rc = jwk_import(jwk, ret, err);
	return rc == -EOPNOTSUPP ? -EBADMSG : rc;
}

/*
 * Returns 1 if a JWKS entry is meant for something other than verifying
 * signatures: "use" other than "sig", or "key_ops" without "verify".
 */
static int
jwk_not_for_sig(const json_t *jwk, int *bad)
{
	json_t *use, *ops, *op;
	size_t i;
	int verify = 0;

	use = json_object_get(jwk, "use");
	if (use != NULL) {
		if (!json_is_string(use)) {
			*bad = 1;
			return 0;
		}
		if (strcmp(json_string_value(use), "sig") != 0)
			return 1;
	}
	ops = json_object_get(jwk, "key_ops");
	if (ops != NULL) {
		if (!json_is_array(ops)) {
			*bad = 1;
			return 0;
		}
		json_array_foreach(ops, i, op) {
			if (!json_is_string(op)) {
				*bad = 1;
				return 0;
			}
			if (strcmp(json_string_value(op), "verify") == 0)
				verify = 1;
		}
		if (!verify)
			return 1;
	}
	return 0;
}

/*
 * Parses a JWKS.  max_keys bounds the "keys" array before any key is
 * imported, so a hostile document cannot make us import thousands of RSA
 * keys.  Skipped entries still count towards it.
 */
int
idp_jwks_parse(const void *buf, size_t len, size_t max_keys,
    struct idp_jwks **ret, struct idp_err *err)
{
	json_t *root = NULL, *keys, *jwk;
	json_error_t jerr;
	struct idp_jwks *set = NULL;
	struct idp_key *k = NULL;
	struct idp_err kerr;
	size_t i, j;
	int bad, rc;

	if (buf == NULL || ret == NULL)
		return idp_err_set(err, -EINVAL, "no JWKS");
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		rc = idp_err_set(err, -EBADMSG,
		    "JWKS is not valid JSON (line %d, column %d)", jerr.line,
		    jerr.column);
		goto out;
	}
	keys = json_object_get(root, "keys");
	if (!json_is_object(root) || !json_is_array(keys)) {
		rc = idp_err_set(err, -EBADMSG,
		    "JWKS is not an object with a \"keys\" array");
		goto out;
	}
	if (json_array_size(keys) > max_keys) {
		rc = idp_err_set(err, -E2BIG, "JWKS has %zu keys, limit %zu",
		    json_array_size(keys), max_keys);
		goto out;
	}
	if ((set = idp_jwks_new()) == NULL) {
		rc = idp_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	json_array_foreach(keys, i, jwk) {
		if (!json_is_object(jwk)) {
			rc = idp_err_set(err, -EBADMSG,
			    "JWKS key %zu is not an object", i);
			goto out;
		}
		for (j = 0; j < sizeof(jwk_private_members) /
		    sizeof(jwk_private_members[0]); j++)
			if (json_object_get(jwk, jwk_private_members[j])) {
				rc = idp_err_set(err, -EBADMSG,
				    "JWKS key %zu carries private member "
				    "\"%s\"", i, jwk_private_members[j]);
				goto out;
			}
		bad = 0;
		if (jwk_not_for_sig(jwk, &bad))
			continue;
		if (bad) {
			rc = idp_err_set(err, -EBADMSG,
			    "JWKS key %zu: malformed use or key_ops", i);
			goto out;
		}
		kerr.msg[0] = '\0';
		rc = jwk_import(jwk, &k, &kerr);
		if (rc == -EOPNOTSUPP)
			continue;
		if (rc < 0) {
			idp_err_set(err, rc, "JWKS key %zu: %s", i, kerr.msg);
			goto out;
		}
		if ((rc = idp_jwks_add(set, k)) < 0) {
			if (rc == -EEXIST)
				rc = idp_err_set(err, -EBADMSG,
				    "JWKS key %zu: duplicate kid", i);
			else
				idp_err_set(err, rc, "out of memory");
			goto out;
		}
		k = NULL;
	}
	*ret = set;
	set = NULL;
	rc = 0;
out:
	idp_key_free(k);
	idp_jwks_free(set);
	json_decref(root);
	return rc;
}

