/* SPDX-License-Identifier: Apache-2.0 */
/*
 * X.509: create a CA, mint leaf certificates, PEM encoding and reading the
 * validity back.  Pure: times are passed in.
 */
#ifndef IDP_X509_H
#define IDP_X509_H

#include <stddef.h>
#include <stdint.h>

#include <idp/idp.h>
#include <idp/jwk.h>

struct idp_cert;

#define IDP_USAGE_SERVER	0x1
#define IDP_USAGE_CLIENT	0x2

/* What a leaf certificate says.  Arrays may be NULL when their count is 0. */
struct idp_cert_req {
	const char	 *common_name;	/* may be NULL */
	const char	**dns;
	size_t		  n_dns;
	const char	**ip;		/* IPv4 or IPv6 literals */
	size_t		  n_ip;
	const char	**uri;
	size_t		  n_uri;
	int		  usage;	/* IDP_USAGE_* bits */
	int64_t		  not_before;	/* seconds since the epoch */
	int64_t		  not_after;
};

/* Fields read back from a certificate. */
struct idp_cert_info {
	int64_t		not_before;
	int64_t		not_after;
	char		serial[64];	/* lower-case hex, no separators */
	char		sha256[65];	/* hex SHA-256 of the DER */
	int		is_ca;
};

/*
 * Creates a self-signed CA certificate for key (path length 0, keyCertSign
 * and cRLSign, SKI).  Returns 0 or -errno; free with idp_cert_free().
 */
int idp_cert_ca_create(struct idp_key *key, const char *common_name,
    int64_t not_before, int64_t not_after, struct idp_cert **ret,
    struct idp_err *err);

/*
 * Mints a leaf for the public half of subject, signed by ca / ca_key: v3,
 * random 128-bit serial, basicConstraints CA:FALSE, keyUsage, EKU from
 * usage, SANs, SKI and AKI.  Returns 0, -EINVAL for a bad SAN, or -errno.
 */
int idp_cert_mint(const struct idp_cert *ca, struct idp_key *ca_key,
    const struct idp_key *subject, const struct idp_cert_req *req,
    struct idp_cert **ret, struct idp_err *err);

/* PEM-encodes c; the caller frees *ret with free().  Returns 0 or -ENOMEM. */
int idp_cert_to_pem(const struct idp_cert *c, char **ret, size_t *ret_len);

/* Parses the first certificate of a PEM buffer.  Returns 0 or -EBADMSG. */
int idp_cert_from_pem(const void *pem, size_t len, struct idp_cert **ret);

/* Reads validity, serial and fingerprint of c. */
int idp_cert_get_info(const struct idp_cert *c, struct idp_cert_info *ret);

/* Returns 1 if key holds the private (or public) half of c's public key. */
int idp_cert_matches_key(const struct idp_cert *c, const struct idp_key *key);

/*
 * Returns the underlying X509 * (as void *, borrowed).  A leaf fresh from
 * idp_cert_mint() has no decoded public key: X509_get0_pubkey() returns
 * NULL and X509_verify_cert() / SSL_CTX_use_certificate() refuse it until
 * idp_cert_load_pubkey() is called (its DER and PEM are complete).
 */
void *idp_cert_x509(const struct idp_cert *c);

/*
 * Added.  Re-reads c from its DER so that idp_cert_x509(c) carries a
 * decoded public key.  Minting leaves this out because in OpenSSL 3.0 the
 * decode costs about three times the whole mint.  Certificates from
 * idp_cert_ca_create() and idp_cert_from_pem() already have one (then this
 * does nothing).  Invalidates X509 pointers obtained earlier from
 * idp_cert_x509(c); not to be called while another thread uses c.
 * Returns 0 or -errno.
 */
int idp_cert_load_pubkey(struct idp_cert *c);

/* Frees c; accepts NULL. */
void idp_cert_free(struct idp_cert *c);

#endif
