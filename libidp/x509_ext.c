/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The extensions of the certificates libidp makes: basic constraints, key
 * usage, key identifiers, extended key usage, and the subject alternative
 * names, each name checked here before it goes in.  Adds to a certificate
 * being built; signs nothing and reads no certificate.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <idp/x509.h>

#include "x509_int.h"

static int
add_ext(X509 *x, int nid, void *value, int crit)
{
	return X509_add1_ext_i2d(x, nid, value, crit, X509V3_ADD_APPEND) == 1 ?
	    0 : -ENOMEM;
}

/* Critical basicConstraints: a CA with pathLenConstraint 0, or no CA. */
int
idp_x509_add_basic_constraints(X509 *x, int ca)
{
	BASIC_CONSTRAINTS *bc;
	int rc = -ENOMEM;

	if ((bc = BASIC_CONSTRAINTS_new()) == NULL)
		return -ENOMEM;
	if (ca) {
		bc->ca = 1;
		if ((bc->pathlen = ASN1_INTEGER_new()) == NULL ||
		    ASN1_INTEGER_set(bc->pathlen, 0) != 1)
			goto out;
	}
	rc = add_ext(x, NID_basic_constraints, bc, 1);
out:
	BASIC_CONSTRAINTS_free(bc);
	return rc;
}

/* Critical keyUsage with the n bits given set. */
int
idp_x509_add_key_usage(X509 *x, const int *bits, size_t n)
{
	ASN1_BIT_STRING *ku;
	size_t i;
	int rc = -ENOMEM;

	if ((ku = ASN1_BIT_STRING_new()) == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		if (ASN1_BIT_STRING_set_bit(ku, bits[i], 1) != 1)
			goto out;
	rc = add_ext(x, NID_key_usage, ku, 1);
out:
	ASN1_BIT_STRING_free(ku);
	return rc;
}

/* A non-critical extension whose value is an OCTET STRING (the SKI). */
int
idp_x509_add_octets_ext(X509 *x, int nid, const unsigned char *p,
    size_t n)
{
	ASN1_OCTET_STRING *os;
	int rc = -ENOMEM;

	if ((os = ASN1_OCTET_STRING_new()) == NULL)
		return -ENOMEM;
	if (ASN1_OCTET_STRING_set(os, p, (int)n) == 1)
		rc = add_ext(x, nid, os, 0);
	ASN1_OCTET_STRING_free(os);
	return rc;
}

/* authorityKeyIdentifier by keyid only. */
int
idp_x509_add_akid(X509 *x, const unsigned char *keyid, size_t n)
{
	AUTHORITY_KEYID *akid;
	int rc = -ENOMEM;

	if ((akid = AUTHORITY_KEYID_new()) == NULL)
		return -ENOMEM;
	if ((akid->keyid = ASN1_OCTET_STRING_new()) != NULL &&
	    ASN1_OCTET_STRING_set(akid->keyid, keyid, (int)n) == 1)
		rc = add_ext(x, NID_authority_key_identifier, akid, 0);
	AUTHORITY_KEYID_free(akid);
	return rc;
}

/* extendedKeyUsage: serverAuth and / or clientAuth, as usage asks. */
int
idp_x509_add_eku(X509 *x, int usage)
{
	EXTENDED_KEY_USAGE *eku;
	int rc = -ENOMEM;

	if ((eku = sk_ASN1_OBJECT_new_null()) == NULL)
		return -ENOMEM;
	if ((usage & IDP_USAGE_SERVER) &&
	    sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_server_auth)) <= 0)
		goto out;
	if ((usage & IDP_USAGE_CLIENT) &&
	    sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_client_auth)) <= 0)
		goto out;
	rc = add_ext(x, NID_ext_key_usage, eku, 0);
out:
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	return rc;
}

/*
 * A DNS SAN: 1..253 characters of letters, digits, '-' and '_' in labels
 * of 1..63 that neither start nor end with '-', no leading or trailing
 * dot; "*" allowed as the whole leftmost label.
 */
static int
dns_ok(const char *s)
{
	size_t n = strlen(s), label = 0, i;

	if (n == 0 || n > 253)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (ch == '-' && label == 0)
			return 0;
		if (ch == '*') {
			if (i != 0 || (n > 1 && s[1] != '.'))
				return 0;
		} else if (!((ch >= 'a' && ch <= 'z') ||
		    (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '_')) {
			return 0;
		}
		if (++label > 63)
			return 0;
	}
	return label > 0 && s[n - 1] != '-' && !(n == 1 && s[0] == '*');
}

/* A URI SAN: printable ASCII without spaces, with a scheme. */
static int
uri_ok(const char *s)
{
	const char *colon = strchr(s, ':');
	size_t i;

	if (colon == NULL || colon == s || strlen(s) > 2048)
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	for (i = 0; s + i < colon; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (i > 0 && ((s[i] >= '0' && s[i] <= '9') || s[i] == '+' ||
		    s[i] == '-' || s[i] == '.'))))
			return 0;
	return 1;
}

static int
push_name(GENERAL_NAMES *gens, int type, const void *p, size_t n)
{
	GENERAL_NAME *g = NULL;
	ASN1_STRING *s = NULL;

	if (type == GEN_IPADD)
		s = ASN1_OCTET_STRING_new();
	else
		s = ASN1_IA5STRING_new();
	if (s == NULL || ASN1_STRING_set(s, p, (int)n) != 1 ||
	    (g = GENERAL_NAME_new()) == NULL)
		goto fail;
	GENERAL_NAME_set0_value(g, type, s);
	s = NULL;
	if (sk_GENERAL_NAME_push(gens, g) <= 0)
		goto fail;
	return 0;
fail:
	ASN1_STRING_free(s);
	GENERAL_NAME_free(g);
	return -ENOMEM;
}

/* subjectAltName of req's names, each checked; none: no extension. */
int
idp_x509_add_san(X509 *x, const struct idp_cert_req *req, int crit,
    struct idp_err *err)
{
	GENERAL_NAMES *gens;
	unsigned char ip[16];
	size_t i;
	int rc;

	if ((gens = sk_GENERAL_NAME_new_null()) == NULL)
		return idp_err_set(err, -ENOMEM, "out of memory");
	for (i = 0; i < req->n_dns; i++) {
		if (req->dns[i] == NULL || !dns_ok(req->dns[i])) {
			rc = idp_err_set(err, -EINVAL, "bad DNS name \"%s\"",
			    req->dns[i] == NULL ? "(null)" : req->dns[i]);
			goto out;
		}
		if ((rc = push_name(gens, GEN_DNS, req->dns[i],
		    strlen(req->dns[i]))) < 0)
			goto out;
	}
	for (i = 0; i < req->n_ip; i++) {
		if (req->ip[i] == NULL) {
			rc = idp_err_set(err, -EINVAL, "bad IP address");
			goto out;
		}
		if (inet_pton(AF_INET, req->ip[i], ip) == 1)
			rc = push_name(gens, GEN_IPADD, ip, 4);
		else if (inet_pton(AF_INET6, req->ip[i], ip) == 1)
			rc = push_name(gens, GEN_IPADD, ip, 16);
		else
			rc = idp_err_set(err, -EINVAL,
			    "bad IP address \"%s\"", req->ip[i]);
		if (rc < 0)
			goto out;
	}
	for (i = 0; i < req->n_uri; i++) {
		if (req->uri[i] == NULL || !uri_ok(req->uri[i])) {
			rc = idp_err_set(err, -EINVAL, "bad URI \"%s\"",
			    req->uri[i] == NULL ? "(null)" : req->uri[i]);
			goto out;
		}
		if ((rc = push_name(gens, GEN_URI, req->uri[i],
		    strlen(req->uri[i]))) < 0)
			goto out;
	}
	rc = 0;
	if (sk_GENERAL_NAME_num(gens) > 0)
		rc = add_ext(x, NID_subject_alt_name, gens, crit);
out:
	GENERAL_NAMES_free(gens);
	return rc;
}

