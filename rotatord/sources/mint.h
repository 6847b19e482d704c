/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Minting: the local CAs and JWT signers whose keys persist in state_dir,
 * and the material of each credential type.  No scheduling and no
 * publishing here; the daemon decides when, the sink writes.
 */
#ifndef ROTATORD_MINT_H
#define ROTATORD_MINT_H

#include <stdint.h>

#include <idp/jwk.h>
#include <idp/secret.h>
#include <idp/x509.h>

#include "config/config.h"
#include "material.h"

#define MINT_MAX_FILES	MATERIAL_MAX_FILES

/* A local CA: current key and certificate, and what ca.pem says. */
struct ca_state {
	const struct cfg_ca	*cfg;
	struct idp_key		*key;
	struct idp_cert		*cert;
	char			*trust_pem;	/* current + previous still valid */
	size_t			 trust_len;
	char			 sha256[65];	/* of the current CA cert */
	int64_t			 not_after;	/* ms */
	int64_t			 renew_wall;	/* ms: when to roll over */
};

/* A JWT signer: current private key and the public keys still needed. */
struct signer_state {
	const struct cfg_signer	*cfg;
	struct idp_key		*key;		/* current, private */
	struct idp_jwks		*jwks;		/* current + retired, public */
	int64_t			 created_at;	/* ms, of the current key */
	int64_t			 rotate_wall;	/* ms: next key rotation */
	int64_t			 max_token_life; /* ms, longest jwt credential */
	char			*jwks_json;
	size_t			 jwks_len;
	char			*discovery_json;
	size_t			 discovery_len;
	json_t			*retired;	/* [{"jwk":..,"until":s}] */
};

/* What one rotation produces; mint_result_clear() wipes and frees it. */
struct mint_result {
	struct material_file	 files[MINT_MAX_FILES];
	size_t			 n_files;
	struct idp_secret	*bufs[MINT_MAX_FILES];	/* owned contents */
	int64_t			 issued_at;	/* ms */
	int64_t			 not_before;	/* ms */
	int64_t			 not_after;	/* ms */
	char			 leaf_sha256[65]; /* x509 only */
	char			 serial[64];	/* x509 only */
	char			 id[64];	/* jti / kid for logs */
};

/*
 * Loads the CA from cert_file/key_file or state_dir/ca/NAME, creating it
 * there when absent and rolling it over (keeping the old certificate in
 * ca.pem while it is valid) once past 2/3 of its lifetime.  Returns 0 or
 * -errno with a reason in err.  Free with ca_state_free().
 */
int ca_state_load(const struct config *c, const struct cfg_ca *ca, int64_t now,
    struct ca_state **ret, struct idp_err *err);
void ca_state_free(struct ca_state *s);

/*
 * Loads the signer key from state_dir/signer/NAME, creating it when absent
 * and rotating it when key_lifetime has passed; retired public keys stay
 * in the JWKS until every token they signed has expired.  Returns 0 or
 * -errno.  Free with signer_state_free().
 */
int signer_state_load(const struct config *c, const struct cfg_signer *sg,
    int64_t now, struct signer_state **ret, struct idp_err *err);
void signer_state_free(struct signer_state *s);

/* Builds the files of a signer's publication (jwks.json, openid-configuration). */
int mint_signer_files(const struct signer_state *s, struct mint_result *ret);

/*
 * Mints credential cr at now (ms).  prev_keys is the current generation's
 * secret keys for type secret (may be NULL).  Returns 0 or -errno.
 */
int mint_x509(const struct config *c, const struct cfg_cred *cr,
    const struct ca_state *ca, int64_t now, struct mint_result *ret,
    struct idp_err *err);
int mint_jwt(const struct config *c, const struct cfg_cred *cr,
    struct signer_state *sg, int64_t now, struct mint_result *ret,
    struct idp_err *err);
int mint_secret(const struct cfg_cred *cr, struct idp_secret **prev_keys,
    size_t n_prev, int64_t now, struct mint_result *ret, struct idp_err *err);

/*
 * The files of a secret credential from given keys (a fleet secret):
 * keys[0] as 0.key (the one that encrypts), the others after it.
 */
int mint_secret_keys(const struct cfg_cred *cr, struct idp_secret *const *keys,
    size_t n, int64_t issued_at, int64_t not_after, struct mint_result *ret);

/* Creates path and its missing parents with mode.  Returns 0 or -errno. */
int mint_mkdirs(const char *path, mode_t mode);

/*
 * Turns an access token obtained at now (ms) into the files of an oauth
 * credential: token (bare) and token.json (the response, never a refresh
 * token).  The lifetime is expires_in, else the JWT's exp.  Returns 0 or
 * -EPROTO when the token says nothing about its lifetime.
 */
struct idp_token;
int mint_oauth(const struct cfg_cred *cr, const struct idp_token *tok,
    int64_t now, struct mint_result *ret, struct idp_err *err);

/* Wipes and frees the contents of r; r itself may be reused. */
void mint_result_clear(struct mint_result *r);

/*
 * Writes a fingerprint of everything in cr's configuration that shapes
 * its content (and the CA or signer key it depends on) into out, so a
 * restart can tell whether the published credential still fits.
 */
void mint_spec(const struct cfg_cred *cr, const char *issuer_fp, char out[65]);

/* Reads the leaf certificate SHA-256 and serial of a PEM buffer. */
int mint_leaf_info(const char *pem, size_t len, char sha256[65],
    char serial[64], int64_t *ret_not_after);

#endif
