/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fleet records (fleetrec.h): the authenticated envelope, sealing, and
 * fingerprints.  Binary fields are base64url (idp/b64.h, one encoding per
 * byte string).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <idp/b64.h>
#include <idp/crypto.h>

#include "fleet/fleetrec.h"

#define LABEL_MAC	"rotatord-fleet-v2 record"
#define LABEL_SEAL	"rotatord-fleet-v2 secret"
#define LABEL_FP	"rotatord-fleet-v2 fingerprint"

int
fleetrec_derive(const unsigned char *ikm, size_t len, struct fleetrec_keys *k)
{
	struct fleetrec_keys t;
	int rc;

	if ((rc = idp_hkdf_sha256(ikm, len, "rotatord fleet",
	    "record mac v2", t.mac, sizeof(t.mac))) < 0 ||
	    (rc = idp_hkdf_sha256(ikm, len, "rotatord fleet",
	    "secret seal v2", t.seal, sizeof(t.seal))) < 0) {
		explicit_bzero(&t, sizeof(t));
		return rc;
	}
	*k = t;
	explicit_bzero(&t, sizeof(t));
	return 0;
}

/* The MAC of body at key, base64url, into out (44 bytes). */
static int
record_mac(const struct fleetrec_keys *k, const char *key, size_t klen,
    const char *body, size_t blen, char out[FLEETREC_FP_LEN + 1])
{
	unsigned char mac[IDP_SHA256_LEN];
	struct idp_buf parts[] = {
		{ LABEL_MAC, sizeof(LABEL_MAC) },	/* with its NUL */
		{ key, klen },
		{ "", 1 },
		{ body, blen },
	};
	int rc;

	if ((rc = idp_hmac_sha256(k->mac, sizeof(k->mac), parts, 4, mac)) < 0)
		return rc;
	idp_b64url_encode(mac, sizeof(mac), out);
	return 0;
}

char *
fleetrec_wrap(const struct fleetrec_keys *k, const char *key, size_t klen,
    const char *body)
{
	char mac[FLEETREC_FP_LEN + 1], *out;
	json_t *env;

	if (record_mac(k, key, klen, body, strlen(body), mac) < 0)
		return NULL;
	env = json_pack("{s:i,s:s,s:s}", "v", 2, "b", body, "m", mac);
	out = env != NULL ? json_dumps(env, JSON_COMPACT) : NULL;
	json_decref(env);
	return out;
}

int
fleetrec_unwrap(const struct fleetrec_keys *k, const char *key, size_t klen,
    const void *val, size_t vlen, json_t **ret_body)
{
	char mac[FLEETREC_FP_LEN + 1];
	const char *b, *m;
	json_t *env, *body;
	size_t blen;
	int rc = -EBADMSG;

	if (vlen > FLEETREC_MAX)
		return -E2BIG;
	env = json_loadb(val, vlen, JSON_REJECT_DUPLICATES, NULL);
	if (env == NULL || !json_is_object(env) || json_object_size(env) != 3 ||
	    json_integer_value(json_object_get(env, "v")) != 2 ||
	    (b = json_string_value(json_object_get(env, "b"))) == NULL ||
	    (m = json_string_value(json_object_get(env, "m"))) == NULL)
		goto out;
	blen = json_string_length(json_object_get(env, "b"));
	if (memchr(b, '\0', blen) != NULL)
		goto out;
	if ((rc = record_mac(k, key, klen, b, blen, mac)) < 0)
		goto out;
	rc = -EKEYREJECTED;
	if (strlen(m) != FLEETREC_FP_LEN ||
	    !idp_secret_equal(m, FLEETREC_FP_LEN, mac, FLEETREC_FP_LEN))
		goto out;
	rc = -EBADMSG;
	body = json_loadb(b, blen, JSON_REJECT_DUPLICATES, NULL);
	if (body == NULL)
		goto out;
	if (!json_is_object(body)) {
		json_decref(body);
		goto out;
	}
	*ret_body = body;
	rc = 0;
out:
	json_decref(env);
	return rc;
}

/* The associated data of a sealed generation: label, key, generation. */
static int
seal_aad(const char *key, int64_t gen, char **ret, size_t *ret_len)
{
	int n = asprintf(ret, "%s%c%s%c%lld", LABEL_SEAL, 0, key, 0,
	    (long long)gen);

	if (n < 0)
		return -ENOMEM;
	*ret_len = (size_t)n;
	return 0;
}

int
fleetrec_seal(const struct fleetrec_keys *k, const char *key, int64_t gen,
    const void *plain, size_t len, json_t *obj)
{
	unsigned char nonce[IDP_AEAD_NONCE_LEN], *ct = NULL;
	char nb[32], *cb = NULL, *aad = NULL;
	size_t alen;
	int rc;

	if (len > FLEETREC_MAX)
		return -E2BIG;
	if ((rc = seal_aad(key, gen, &aad, &alen)) < 0)
		return rc;
	rc = -ENOMEM;
	if ((ct = malloc(len + IDP_AEAD_TAG_LEN)) == NULL ||
	    (cb = malloc(idp_b64url_enc_len(len + IDP_AEAD_TAG_LEN) + 1)) ==
	    NULL)
		goto out;
	if ((rc = idp_aead_seal(k->seal, aad, alen, plain, len, nonce,
	    ct)) < 0)
		goto out;
	idp_b64url_encode(nonce, sizeof(nonce), nb);
	idp_b64url_encode(ct, len + IDP_AEAD_TAG_LEN, cb);
	rc = -ENOMEM;
	if (json_object_set_new(obj, "nonce", json_string(nb)) < 0 ||
	    json_object_set_new(obj, "ct", json_string(cb)) < 0)
		goto out;
	rc = 0;
out:
	free(aad);
	free(ct);
	free(cb);
	return rc;
}

int
fleetrec_open(const struct fleetrec_keys *k, const char *key, int64_t gen,
    const json_t *obj, struct idp_secret **ret)
{
	unsigned char nonce[IDP_AEAD_NONCE_LEN + 1], *ct = NULL;
	const char *nb = fleetrec_str(obj, "nonce"), *cb = fleetrec_str(obj,
	    "ct");
	struct idp_secret *p = NULL;
	char *aad = NULL;
	size_t nlen, clen, alen;
	int rc = -EBADMSG;

	if (nb == NULL || cb == NULL || strlen(cb) > 2 * FLEETREC_MAX ||
	    idp_b64url_decode(nb, strlen(nb), nonce, sizeof(nonce),
	    &nlen) < 0 || nlen != IDP_AEAD_NONCE_LEN ||
	    idp_b64url_decode_alloc(cb, strlen(cb), &ct, &clen) < 0)
		goto out;
	if (clen < IDP_AEAD_TAG_LEN)
		goto out;
	rc = -ENOMEM;
	if (seal_aad(key, gen, &aad, &alen) < 0 ||
	    (p = idp_secret_new(clen - IDP_AEAD_TAG_LEN)) == NULL)
		goto out;
	if ((rc = idp_aead_open(k->seal, aad, alen, nonce, ct, clen,
	    p->buf)) < 0)
		goto out;
	*ret = p;
	p = NULL;
	rc = 0;
out:
	idp_secret_free(p);
	free(aad);
	free(ct);
	return rc;
}

int
fleetrec_fp(const struct fleetrec_keys *k, const void *plain, size_t len,
    char out[FLEETREC_FP_LEN + 1])
{
	unsigned char mac[IDP_SHA256_LEN];
	struct idp_buf parts[] = {
		{ LABEL_FP, sizeof(LABEL_FP) },
		{ plain, len },
	};
	int rc;

	if ((rc = idp_hmac_sha256(k->mac, sizeof(k->mac), parts, 2, mac)) < 0)
		return rc;
	idp_b64url_encode(mac, sizeof(mac), out);
	return 0;
}

const char *
fleetrec_str(const json_t *body, const char *name)
{
	return json_string_value(json_object_get(body, name));
}

int64_t
fleetrec_int(const json_t *body, const char *name, int64_t def)
{
	const json_t *v = json_object_get(body, name);
	const char *s;
	char *end;
	long long n;

	if (json_is_integer(v))
		return json_integer_value(v);
	if ((s = json_string_value(v)) == NULL || *s == '\0')
		return def;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return def;
	return n;
}
