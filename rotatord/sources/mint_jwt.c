/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JWT credentials from a local signer: the claims, a jti from a pool of
 * random bytes, the signature.  Uses the signer's current key as it is;
 * loading and rotating it is mint_state.c's, and nothing here writes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <idp/b64.h>
#include <idp/crypto.h>
#include <idp/jsonw.h>
#include <idp/jwt.h>

#include "sources/mint.h"
#include "sources/mint_int.h"

/*
 * The claims of a token are written with libidp's JSON writer, into a
 * buffer sized for the worst case: it writes what jansson's json_dumps()
 * writes for the same object (same escapes, same separators and
 * indentation), so tokens and token.json stay byte-for-byte what they
 * were; two json_dumps() calls cost more than a fifth of a mint.
 */

/* "key":, or with pretty set ",\n  " before all but the first and ": ". */
static void
jw_key(struct idp_jw *w, const char *key, int pretty, int first)
{
	if (pretty)
		idp_jw_raw(w, first ? "\n  " : ",\n  ", first ? 3 : 4);
	else if (!first)
		idp_jw_raw(w, ",", 1);
	idp_jw_str(w, key);
	idp_jw_raw(w, pretty ? ": " : ":", pretty ? 2 : 1);
}

static void
jw_aud(struct idp_jw *w, const struct cfg_cred *cr, int pretty)
{
	size_t i;

	if (cr->n_audience == 1) {
		idp_jw_str(w, cr->audience[0]);
		return;
	}
	idp_jw_raw(w, "[", 1);
	for (i = 0; i < cr->n_audience; i++) {
		if (pretty)
			idp_jw_raw(w, i == 0 ? "\n    " : ",\n    ", i == 0 ? 5 : 6);
		else if (i > 0)
			idp_jw_raw(w, ",", 1);
		idp_jw_str(w, cr->audience[i]);
	}
	if (pretty && cr->n_audience > 0)
		idp_jw_raw(w, "\n  ", 3);
	idp_jw_raw(w, "]", 1);
}

/*
 * Writes the claims of a token twice: compact in insertion order (iss,
 * sub, iat, nbf, exp, jti, aud, scope), the payload that is signed; and
 * with two-space indentation and sorted keys, token.json.  These are
 * json_dumps(JSON_COMPACT) and json_dumps(JSON_INDENT(2) | JSON_SORT_KEYS)
 * of the object mint_jwt() used to build with jansson.
 */
static void
jwt_claims(struct idp_jw *w, const char *iss, const struct cfg_cred *cr,
    int64_t iat, int64_t exp, const char *jti, int pretty)
{
	if (pretty) {
		idp_jw_raw(w, "{", 1);
		if (cr->n_audience > 0) {
			jw_key(w, "aud", 1, 1);
			jw_aud(w, cr, 1);
		}
		jw_key(w, "exp", 1, cr->n_audience == 0);
		idp_jw_int(w, exp);
		jw_key(w, "iat", 1, 0);
		idp_jw_int(w, iat);
		jw_key(w, "iss", 1, 0);
		idp_jw_str(w, iss);
		jw_key(w, "jti", 1, 0);
		idp_jw_str(w, jti);
		jw_key(w, "nbf", 1, 0);
		idp_jw_int(w, iat);
		if (cr->scope != NULL) {
			jw_key(w, "scope", 1, 0);
			idp_jw_str(w, cr->scope);
		}
		jw_key(w, "sub", 1, 0);
		idp_jw_str(w, cr->subject);
		idp_jw_raw(w, "\n}", 2);
		return;
	}
	idp_jw_raw(w, "{", 1);
	jw_key(w, "iss", 0, 1);
	idp_jw_str(w, iss);
	jw_key(w, "sub", 0, 0);
	idp_jw_str(w, cr->subject);
	jw_key(w, "iat", 0, 0);
	idp_jw_int(w, iat);
	jw_key(w, "nbf", 0, 0);
	idp_jw_int(w, iat);
	jw_key(w, "exp", 0, 0);
	idp_jw_int(w, exp);
	jw_key(w, "jti", 0, 0);
	idp_jw_str(w, jti);
	if (cr->n_audience > 0) {
		jw_key(w, "aud", 0, 0);
		jw_aud(w, cr, 0);
	}
	if (cr->scope != NULL) {
		jw_key(w, "scope", 0, 0);
		idp_jw_str(w, cr->scope);
	}
	idp_jw_raw(w, "}", 1);
}

/*
 * Fills out with 16 random bytes for a jti.  They come from a pool that is
 * refilled with one idp_random() call per 64 tokens: each call costs about
 * as much as 4 % of a whole ES256 mint (DRBG locking, fork check, cipher
 * setup), whatever its length.  A jti is public once the token is, so the
 * pool holds nothing secret; it is per process, and rotatord mints from
 * one thread and never forks without exec.  Returns 0 or -EIO.
 */
static int
jti_random(unsigned char out[16])
{
	static unsigned char pool[64 * 16];
	static size_t left;

	if (left == 0) {
		if (idp_random(pool, sizeof(pool)) != 0)
			return -EIO;
		left = sizeof(pool);
	}
	left -= 16;
	memcpy(out, pool + left, 16);
	idp_wipe(pool + left, 16);
	return 0;
}

int
mint_jwt(const struct config *c, const struct cfg_cred *cr,
    struct signer_state *sg, int64_t now, struct mint_result *ret,
    struct idp_err *err)
{
	unsigned char rnd[16];
	char jti[32], *tok = NULL, stack[2048], *buf = stack;
	const char *iss = sg->cfg->issuer;
	struct idp_jw compact, pretty;
	int64_t iat = (now - c->backdate) / 1000, exp = (now + cr->lifetime) / 1000;
	size_t toklen, i, need;
	int rc;

	memset(ret, 0, sizeof(*ret));
	if (iss == NULL || cr->subject == NULL ||
	    (cr->n_audience > 0 && cr->audience == NULL))
		return idp_err_set(err, -EINVAL, "no issuer or subject");
	if (jti_random(rnd) < 0)
		return idp_err_set(err, -EIO, "no randomness");
	idp_b64url_encode(rnd, sizeof(rnd), jti);

	/*
	 * Room for both forms at the worst escape (6 bytes per input byte)
	 * plus keys, numbers and layout.
	 */
	need = strlen(iss) + strlen(cr->subject) +
	    (cr->scope != NULL ? strlen(cr->scope) : 0);
	for (i = 0; i < cr->n_audience; i++)
		need += strlen(cr->audience[i]) + 8;
	need = 2 * (6 * need + 256);
	if (need > sizeof(stack) && (buf = malloc(need)) == NULL)
		return idp_err_set(err, -ENOMEM, "out of memory");
	idp_jw_fixed(&compact, buf, need / 2);
	idp_jw_fixed(&pretty, buf + need / 2, need / 2);
	jwt_claims(&compact, iss, cr, iat, exp, jti, 0);
	jwt_claims(&pretty, iss, cr, iat, exp, jti, 1);
	if (compact.bad || pretty.bad) {
		rc = idp_err_set(err, -EINVAL,
		    "issuer, subject, audience or scope is not valid UTF-8");
		goto out;
	}
	if ((rc = idp_jws_sign(sg->key, "JWT", compact.p, compact.len, &tok,
	    &toklen)) < 0) {
		idp_err_set(err, rc, "cannot sign token");
		goto out;
	}
	if ((rc = result_add(ret, "token", tok, toklen, cr->mode)) < 0 ||
	    (rc = result_add(ret, "token.json", pretty.p, pretty.len,
	    cr->mode)) < 0)
		goto out;
	ret->issued_at = now;
	ret->not_before = iat * 1000;
	ret->not_after = exp * 1000;
	snprintf(ret->id, sizeof(ret->id), "jti %s kid %.16s", jti,
	    idp_key_kid(sg->key));
out:
	if (rc < 0)
		mint_result_clear(ret);
	if (tok != NULL) {
		idp_wipe(tok, toklen);
		free(tok);
	}
	if (buf != stack)
		free(buf);
	return rc;
}
