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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <idp/crypto.h>
#include <idp/oauth.h>

#include "core/log.h"
#include "sources/mint.h"
#include "sources/mint_int.h"

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
int
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
	/*
	 * An expired CA (an imported one; rotatord rolls its own over long
	 * before) would give a leaf that expired before it was issued, due
	 * for renewal at once, again and again.
	 */
	if (now >= ca->not_after)
		return idp_err_set(err, -EKEYEXPIRED, "ca %s expired %llds ago",
		    ca->cfg->name, (long long)((now - ca->not_after) / 1000));
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
