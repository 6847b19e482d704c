/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the files of libidp's certificate module share, and nothing outside
 * libidp/ sees (x509.c issuing, x509_ext.c the extensions and names that
 * go into a certificate, x509_cert.c the certificate object).  Not
 * installed, and not exported: libidp.so keeps only what idp/x509.h
 * declares.
 */
#ifndef IDP_X509_INT_H
#define IDP_X509_INT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <idp/x509.h>

struct idp_cert {
	X509		*x;
	int		 is_ca;
	int64_t		 not_after;
	unsigned char	 ski[EVP_MAX_MD_SIZE];	/* keyid for AKI of its leaves */
	size_t		 ski_len;
	unsigned char	*spki;			/* SubjectPublicKeyInfo DER */
	size_t		 spki_len;
};

/* x509_cert.c */

/* SHA-1 of the subjectPublicKey BIT STRING (RFC 5280 4.2.1.2, method 1). */
int	idp_x509_spki_keyid(X509_PUBKEY *pk, unsigned char *out,
	    size_t *ret_len);
/*
 * Wraps x (ownership taken on success) in a new certificate with its
 * cached fields.  Free with idp_cert_free().
 */
int	idp_x509_cert_wrap(X509 *x, struct idp_cert **ret);
/* Re-parses *x from DER so that it carries its decoded public key. */
int	idp_x509_reparse(X509 **x);

/* x509_ext.c: each adds one extension to x; 0, -ENOMEM or -EINVAL. */

int	idp_x509_add_basic_constraints(X509 *x, int ca);
int	idp_x509_add_key_usage(X509 *x, const int *bits, size_t n);
int	idp_x509_add_octets_ext(X509 *x, int nid, const unsigned char *p,
	    size_t n);
int	idp_x509_add_akid(X509 *x, const unsigned char *keyid, size_t n);
int	idp_x509_add_eku(X509 *x, int usage);
/* The SAN of req's DNS names, IPs and URIs, each checked; none: no SAN. */
int	idp_x509_add_san(X509 *x, const struct idp_cert_req *req, int crit,
	    struct idp_err *err);

#endif
