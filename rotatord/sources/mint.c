/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sources/: where material comes from (the local CAs and signers, minting,
 * upstream OIDC/OAuth issuers).  Must not include sinks/, api/ or fleet/.
 */
/*
 * The material of each credential type: X.509 leaves, secret keys, OAuth
 * tokens, the files of a signer's publication, and the spec fingerprint.
 * JWTs are minted in mint_jwt.c; the CA and signer keys they are made
 * with are loaded and rolled over in mint_state.c.  Writes no file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <idp/b64.h>
#include <idp/crypto.h>
#include <idp/jsonw.h>
#include <idp/jwt.h>
#include <idp/oauth.h>

#include "core/log.h"
#include "sources/mint.h"

static void
hexify(const unsigned char *md, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* ---- results ----------------------------------------------------------- */

void
mint_result_clear(struct mint_result *r)
{
	size_t i;

	for (i = 0; i < MINT_MAX_FILES; i++)
		idp_secret_free(r->bufs[i]);
	memset(r, 0, sizeof(*r));
}

/* Adds a file whose content is copied into an owned, wiped buffer. */
static int
result_add(struct mint_result *r, const char *name, const void *data,
    size_t len, mode_t mode)
{
	struct idp_secret *s;

	if (r->n_files == MINT_MAX_FILES)
		return -E2BIG;
	if ((s = idp_secret_dup(data, len)) == NULL)
		return -ENOMEM;
	r->bufs[r->n_files] = s;
	r->files[r->n_files].name = name;
	r->files[r->n_files].data = s->buf;
	r->files[r->n_files].len = len;
	r->files[r->n_files].mode = mode;
	r->n_files++;
	return 0;
}

/* Public files are readable by everyone who may traverse the directory. */
static mode_t
public_mode(mode_t m)
{
	return (m | 0444) & ~0022;
}

int
mint_signer_files(const struct signer_state *s, struct mint_result *ret)
{
	int rc;

	memset(ret, 0, sizeof(*ret));
	if ((rc = result_add(ret, "jwks.json", s->jwks_json, s->jwks_len,
	    0644)) < 0 ||
	    (rc = result_add(ret, "openid-configuration", s->discovery_json,
	    s->discovery_len, 0644)) < 0) {
		mint_result_clear(ret);
		return rc;
	}
	ret->issued_at = s->created_at;
	ret->not_before = s->created_at;
	ret->not_after = s->rotate_wall;
	snprintf(ret->id, sizeof(ret->id), "%s", idp_key_kid(s->key));
	return 0;
}

int
mint_leaf_info(const char *pem, size_t len, char sha256[65], char serial[64],
    int64_t *ret_not_after)
{
	struct idp_cert *cert = NULL;
	struct idp_cert_info info;
	int rc;

	if ((rc = idp_cert_from_pem(pem, len, &cert)) < 0)
		return rc;
	rc = idp_cert_get_info(cert, &info);
	idp_cert_free(cert);
	if (rc < 0)
		return rc;
	memcpy(sha256, info.sha256, 65);
	memcpy(serial, info.serial, 64);
	if (ret_not_after != NULL)
		*ret_not_after = info.not_after * 1000;
	return 0;
}

int
mint_x509(const struct config *c, const struct cfg_cred *cr,
    const struct ca_state *ca, int64_t now, struct mint_result *ret,
    struct idp_err *err)
{
	struct idp_cert_req req;
	struct idp_cert_info info;
	struct idp_key *key = NULL;
	struct idp_cert *cert = NULL;
	struct idp_secret *kpem = NULL, *bundle = NULL;
	char *cpem = NULL;
	size_t clen;
	int64_t na = now + cr->lifetime;
	int rc;

	memset(ret, 0, sizeof(*ret));
	/* A leaf never outlives its CA. */
	if (na > ca->not_after) {
		log_warn("credential %s: lifetime cut to the CA's notAfter",
		    cr->name);
		na = ca->not_after;
	}
	memset(&req, 0, sizeof(req));
	req.common_name = cr->common_name;
	req.dns = (const char **)cr->dns;
	req.n_dns = cr->n_dns;
	req.ip = (const char **)cr->ip;
	req.n_ip = cr->n_ip;
	req.uri = (const char **)cr->uri;
	req.n_uri = cr->n_uri;
	req.usage = cr->usage;
	req.not_before = (now - c->backdate) / 1000;
	req.not_after = na / 1000;
	if ((rc = idp_key_generate(cr->key_type, &key)) < 0) {
		idp_err_set(err, rc, "cannot generate key");
		goto out;
	}
	if ((rc = idp_cert_mint(ca->cert, ca->key, key, &req, &cert, err)) < 0)
		goto out;
	if ((rc = idp_cert_to_pem(cert, &cpem, &clen)) < 0 ||
	    (rc = idp_key_to_pem(key, &kpem)) < 0 ||
	    (rc = idp_cert_get_info(cert, &info)) < 0)
		goto out;
	/* bundle.pem = key + leaf (+ intermediates): one file, one open. */
	if ((bundle = idp_secret_new(kpem->len + clen)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	memcpy(bundle->buf, kpem->buf, kpem->len);
	memcpy(bundle->buf + kpem->len, cpem, clen);
	if ((rc = result_add(ret, "cert.pem", cpem, clen,
	    public_mode(cr->mode))) < 0 ||
	    (rc = result_add(ret, "chain.pem", "", 0, public_mode(cr->mode))) < 0 ||
	    (rc = result_add(ret, "fullchain.pem", cpem, clen,
	    public_mode(cr->mode))) < 0 ||
	    (rc = result_add(ret, "key.pem", kpem->buf, kpem->len, cr->mode)) < 0 ||
	    (rc = result_add(ret, "bundle.pem", bundle->buf, bundle->len,
	    cr->mode)) < 0 ||
	    (rc = result_add(ret, "ca.pem", ca->trust_pem, ca->trust_len,
	    public_mode(cr->mode))) < 0)
		goto out;
	ret->issued_at = now;
	ret->not_before = info.not_before * 1000;
	ret->not_after = info.not_after * 1000;
	memcpy(ret->leaf_sha256, info.sha256, sizeof(ret->leaf_sha256));
	memcpy(ret->serial, info.serial, sizeof(ret->serial));
	snprintf(ret->id, sizeof(ret->id), "serial %.32s", info.serial);
out:
	if (rc < 0)
		mint_result_clear(ret);
	idp_key_free(key);
	idp_cert_free(cert);
	idp_secret_free(kpem);
	idp_secret_free(bundle);
	free(cpem);
	return rc;
}

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

/* File names of secret keys (the sink keeps pointers to them). */
static const char *const names[] = {
	"0.key", "1.key", "2.key", "3.key", "4.key", "5.key", "6.key",
	"7.key", "8.key", "9.key", "10.key", "11.key", "12.key",
	"13.key", "14.key", "15.key", "16.key",
};

int
mint_secret(const struct cfg_cred *cr, struct idp_secret **prev_keys,
    size_t n_prev, int64_t now, struct mint_result *ret, struct idp_err *err)
{
	struct idp_secret *k = NULL;
	size_t i;
	int rc;

	memset(ret, 0, sizeof(*ret));
	if ((rc = idp_secret_random(cr->bytes, &k)) < 0)
		return idp_err_set(err, rc, "no randomness");
	/* 0.key encrypts; the previous ones stay accepted, newest first. */
	rc = result_add(ret, names[0], k->buf, k->len, cr->mode);
	for (i = 0; rc == 0 && i < n_prev && i + 1 < cr->keep &&
	    i + 1 < sizeof(names) / sizeof(names[0]); i++)
		rc = result_add(ret, names[i + 1], prev_keys[i]->buf,
		    prev_keys[i]->len, cr->mode);
	/*
	 * Every file exists from the first generation on (nginx refuses to
	 * start on a missing ssl_session_ticket_key): slots no older key fills
	 * yet get random keys that nothing encrypts with.
	 */
	for (; rc == 0 && i + 1 < cr->keep &&
	    i + 1 < sizeof(names) / sizeof(names[0]); i++) {
		idp_secret_free(k);
		k = NULL;
		if ((rc = idp_secret_random(cr->bytes, &k)) == 0)
			rc = result_add(ret, names[i + 1], k->buf, k->len,
			    cr->mode);
	}
	idp_secret_free(k);
	if (rc < 0) {
		mint_result_clear(ret);
		return rc;
	}
	ret->issued_at = now;
	ret->not_before = now;
	ret->not_after = now + cr->lifetime;
	snprintf(ret->id, sizeof(ret->id), "%zu keys", ret->n_files);
	return 0;
}

int
mint_secret_keys(const struct cfg_cred *cr, struct idp_secret *const *keys,
    size_t n, int64_t issued_at, int64_t not_after, struct mint_result *ret)
{
	size_t i;
	int rc = 0;

	memset(ret, 0, sizeof(*ret));
	if (n == 0 || n > sizeof(names) / sizeof(names[0]))
		return -EINVAL;
	for (i = 0; rc == 0 && i < n; i++)
		rc = result_add(ret, names[i], keys[i]->buf, keys[i]->len,
		    cr->mode);
	if (rc < 0) {
		mint_result_clear(ret);
		return rc;
	}
	ret->issued_at = issued_at;
	ret->not_before = issued_at;
	ret->not_after = not_after;
	snprintf(ret->id, sizeof(ret->id), "%zu keys from the fleet", n);
	return 0;
}

int
mint_oauth(const struct cfg_cred *cr, const struct idp_token *tok, int64_t now,
    struct mint_result *ret, struct idp_err *err)
{
	unsigned char md[32];
	char fp[17];
	int64_t na;
	int rc;

	memset(ret, 0, sizeof(*ret));
	if (tok->expires_in > 0)
		na = now + tok->expires_in * 1000;
	else if (tok->exp > 0)
		na = tok->exp * 1000;
	else
		return idp_err_set(err, -EPROTO, "token response has neither "
		    "expires_in nor a JWT exp; cannot schedule its renewal");
	if (na <= now)
		return idp_err_set(err, -EPROTO, "token already expired");
	if ((rc = result_add(ret, "token", tok->access_token->buf,
	    tok->access_token->len, cr->mode)) < 0 ||
	    (rc = result_add(ret, "token.json", tok->json, strlen(tok->json),
	    cr->mode)) < 0) {
		mint_result_clear(ret);
		return rc;
	}
	ret->issued_at = now;
	ret->not_before = now;
	ret->not_after = na;
	/* Logs name a token by a short fingerprint, never by its value. */
	if (idp_sha256(tok->access_token->buf, tok->access_token->len, md))
		memset(md, 0, sizeof(md));
	hexify(md, 8, fp);
	snprintf(ret->id, sizeof(ret->id), "sha256 %s", fp);
	return 0;
}

/* Feeds a string and a separator into the digest. */
static void
spec_add(struct idp_sha256 *md, const char *s)
{
	if (s != NULL)
		idp_sha256_update(md, s, strlen(s));
	idp_sha256_update(md, "\n", 1);
}

static void
spec_list(struct idp_sha256 *md, char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		spec_add(md, v[i]);
	spec_add(md, "--");
}

void
mint_spec(const struct cfg_cred *cr, const char *issuer_fp, char out[65])
{
	unsigned char d[IDP_SHA256_LEN];
	char num[128];
	struct idp_sha256 *md = idp_sha256_new();

	out[0] = '\0';
	if (md == NULL)
		return;
	snprintf(num, sizeof(num), "v1 %d %lld %d %d %zu %u %o %ld %ld",
	    (int)cr->type, (long long)cr->lifetime, (int)cr->key_type,
	    cr->usage, cr->bytes, cr->keep, (unsigned)cr->mode,
	    (long)cr->uid, (long)cr->gid);
	spec_add(md, num);
	spec_add(md, issuer_fp);
	spec_add(md, cr->common_name);
	spec_list(md, cr->dns, cr->n_dns);
	spec_list(md, cr->ip, cr->n_ip);
	spec_list(md, cr->uri, cr->n_uri);
	spec_add(md, cr->subject);
	spec_list(md, cr->audience, cr->n_audience);
	spec_add(md, cr->scope);
	spec_list(md, cr->resource, cr->n_resource);
	spec_add(md, cr->subject_token_type);
	if (idp_sha256_final(md, d) == 0)
		hexify(d, sizeof(d), out);
	idp_sha256_free(md);
}
