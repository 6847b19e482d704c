/* SPDX-License-Identifier: Apache-2.0 */
/*
 * X.509 CA and leaf minting, checked with OpenSSL's own parsers and
 * verifier rather than the openssl command.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <idp/jwk.h>
#include <idp/secret.h>
#include <idp/x509.h>

#define NB	INT64_C(1767225600)	/* 2026-01-01T00:00:00Z */
#define DAY	INT64_C(86400)

static const enum idp_key_type types[] = {
	IDP_KEY_EC_P256, IDP_KEY_EC_P384, IDP_KEY_RSA_2048, IDP_KEY_ED25519,
};
#define NTYPES	(sizeof(types) / sizeof(types[0]))

static struct idp_key *keys[NTYPES];
static struct idp_cert *cas[NTYPES];

static int
setup(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NTYPES; i++) {
		if (idp_key_generate(types[i], &keys[i]) != 0)
			return -1;
		if (idp_cert_ca_create(keys[i], "rotatord test CA", NB - DAY,
		    NB + 365 * DAY, &cas[i], NULL) != 0)
			return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NTYPES; i++) {
		idp_cert_free(cas[i]);
		idp_key_free(keys[i]);
	}
	return 0;
}

static const char *dns[] = { "www.example-1.com", "*.example.org" };
static const char *ips[] = { "127.0.0.1", "2001:db8::1" };
static const char *uris[] = { "spiffe://example.org/web" };

static struct idp_cert_req
base_req(void)
{
	struct idp_cert_req r = {
		.common_name = "www.example.com",
		.dns = dns, .n_dns = 2,
		.ip = ips, .n_ip = 2,
		.uri = uris, .n_uri = 1,
		.usage = IDP_USAGE_SERVER,
		.not_before = NB,
		.not_after = NB + DAY,
	};

	return r;
}

static X509 *
x(const struct idp_cert *c)
{
	return idp_cert_x509(c);
}

static void
assert_spki_is_key(const struct idp_cert *c, const struct idp_key *k)
{
	unsigned char *a = NULL, *b = NULL;
	int alen, blen;

	alen = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x(c)), &a);
	blen = i2d_PUBKEY(idp_key_evp(k), &b);
	assert_true(alen > 0);
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, (size_t)alen);
	OPENSSL_free(a);
	OPENSSL_free(b);
}

static int
sig_nid(const struct idp_cert *c)
{
	return X509_get_signature_nid(x(c));
}

static int
want_sig_nid(enum idp_key_type t)
{
	switch (t) {
	case IDP_KEY_EC_P256:
		return NID_ecdsa_with_SHA256;
	case IDP_KEY_EC_P384:
		return NID_ecdsa_with_SHA384;
	case IDP_KEY_ED25519:
		return NID_ED25519;
	default:
		return NID_sha256WithRSAEncryption;
	}
}

/* Re-reads c through PEM and checks it is the same certificate. */
static struct idp_cert *
pem_round_trip(const struct idp_cert *c)
{
	struct idp_cert *back;
	BIO *bio;
	char *pem, *ref;
	size_t len;
	long rlen;

	assert_int_equal(idp_cert_to_pem(c, &pem, &len), 0);
	assert_int_equal(strlen(pem), len);
	/* Byte for byte what PEM_write_bio_X509 writes. */
	bio = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_X509(bio, x(c)), 1);
	rlen = BIO_get_mem_data(bio, &ref);
	assert_int_equal((size_t)rlen, len);
	assert_memory_equal(ref, pem, len);
	BIO_free(bio);
	assert_int_equal(idp_cert_from_pem(pem, len, &back), 0);
	assert_int_equal(X509_cmp(x(c), x(back)), 0);
	free(pem);
	return back;
}

static void
test_ca(void **state)
{
	struct idp_cert_info info;
	BASIC_CONSTRAINTS *bc;
	const ASN1_OCTET_STRING *ski, *akid;
	X509_EXTENSION *ext;
	int crit, i, idx;
	size_t t;

	(void)state;
	for (t = 0; t < NTYPES; t++) {
		X509 *ca = x(cas[t]);

		assert_int_equal(X509_get_version(ca), X509_VERSION_3);
		assert_int_equal(X509_verify(ca, idp_key_evp(keys[t])), 1);
		assert_int_equal(X509_check_issued(ca, ca), X509_V_OK);
		assert_int_equal(sig_nid(cas[t]), want_sig_nid(types[t]));
		assert_true(X509_check_ca(ca) > 0);
		assert_spki_is_key(cas[t], keys[t]);
		assert_true(idp_cert_matches_key(cas[t], keys[t]));
		assert_false(idp_cert_matches_key(cas[t],
		    keys[(t + 1) % NTYPES]));
		/* basicConstraints critical CA:TRUE, pathlen 0. */
		bc = X509_get_ext_d2i(ca, NID_basic_constraints, &crit, NULL);
		assert_non_null(bc);
		assert_int_equal(crit, 1);
		assert_true(bc->ca);
		assert_non_null(bc->pathlen);
		assert_int_equal(ASN1_INTEGER_get(bc->pathlen), 0);
		BASIC_CONSTRAINTS_free(bc);
		/* keyUsage critical keyCertSign | cRLSign, nothing else. */
		idx = X509_get_ext_by_NID(ca, NID_key_usage, -1);
		ext = X509_get_ext(ca, idx);
		assert_int_equal(X509_EXTENSION_get_critical(ext), 1);
		assert_int_equal(X509_get_key_usage(ca),
		    KU_KEY_CERT_SIGN | KU_CRL_SIGN);
		/* SKI = AKI keyid, 20 bytes (SHA-1 of the key). */
		ski = X509_get0_subject_key_id(ca);
		akid = X509_get0_authority_key_id(ca);
		assert_non_null(ski);
		assert_non_null(akid);
		assert_int_equal(ASN1_STRING_length(ski), 20);
		assert_int_equal(ASN1_STRING_cmp(ski, akid), 0);
		assert_int_equal(idp_cert_get_info(cas[t], &info), 0);
		assert_true(info.is_ca);
		assert_int_equal(info.not_before, NB - DAY);
		assert_int_equal(info.not_after, NB + 365 * DAY);
		/* A CA is re-parsed on creation: its key is decoded. */
		assert_non_null(X509_get0_pubkey(ca));
		for (i = 0; i < X509_get_ext_count(ca); i++)
			assert_int_not_equal(X509_EXTENSION_get_critical(
			    X509_get_ext(ca, i)) && OBJ_obj2nid(
			    X509_EXTENSION_get_object(X509_get_ext(ca, i))) ==
			    NID_subject_key_identifier, 1);
	}
}

static void
check_san(X509 *leaf)
{
	GENERAL_NAMES *gens;
	GENERAL_NAME *g;
	int i, n_dns = 0, n_ip = 0, n_uri = 0, crit;
	const unsigned char *d;

	gens = X509_get_ext_d2i(leaf, NID_subject_alt_name, &crit, NULL);
	assert_non_null(gens);
	assert_int_equal(crit, 0);
	assert_int_equal(sk_GENERAL_NAME_num(gens), 5);
	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		g = sk_GENERAL_NAME_value(gens, i);
		d = ASN1_STRING_get0_data(g->d.ia5);
		switch (g->type) {
		case GEN_DNS:
			assert_memory_equal(d, dns[n_dns], strlen(dns[n_dns]));
			assert_int_equal(ASN1_STRING_length(g->d.ia5),
			    strlen(dns[n_dns]));
			n_dns++;
			break;
		case GEN_IPADD:
			if (n_ip == 0) {
				assert_int_equal(ASN1_STRING_length(
				    g->d.iPAddress), 4);
				assert_memory_equal(d, "\x7f\0\0\x01", 4);
			} else {
				assert_int_equal(ASN1_STRING_length(
				    g->d.iPAddress), 16);
				assert_memory_equal(d, "\x20\x01\x0d\xb8\0\0\0\0"
				    "\0\0\0\0\0\0\0\x01", 16);
			}
			n_ip++;
			break;
		case GEN_URI:
			assert_int_equal(ASN1_STRING_length(g->d.ia5),
			    strlen(uris[0]));
			assert_memory_equal(d, uris[0], strlen(uris[0]));
			n_uri++;
			break;
		default:
			fail();
		}
	}
	assert_int_equal(n_dns, 2);
	assert_int_equal(n_ip, 2);
	assert_int_equal(n_uri, 1);
	GENERAL_NAMES_free(gens);
	/* And OpenSSL's own name matching agrees. */
	assert_int_equal(X509_check_host(leaf, "www.example-1.com", 0, 0,
	    NULL), 1);
	assert_int_equal(X509_check_host(leaf, "a.example.org", 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(leaf, "evil.com", 0, 0, NULL), 0);
	assert_int_equal(X509_check_ip_asc(leaf, "127.0.0.1", 0), 1);
	assert_int_equal(X509_check_ip_asc(leaf, "2001:db8::1", 0), 1);
	assert_int_equal(X509_check_ip_asc(leaf, "127.0.0.2", 0), 0);
}

/* Verifies leaf -> ca as a TLS server at time t with OpenSSL's verifier. */
static int
chain_verify(X509 *leaf, X509 *ca, int64_t t, int purpose)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ok, err;

	X509_STORE_add_cert(store, ca);
	X509_STORE_CTX_init(ctx, store, leaf, NULL);
	X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), (time_t)t);
	X509_STORE_CTX_set_purpose(ctx, purpose);
	ok = X509_verify_cert(ctx);
	err = X509_STORE_CTX_get_error(ctx);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return ok == 1 ? X509_V_OK : err;
}

static void
test_leaf(void **state)
{
	struct idp_cert_req req = base_req();
	struct idp_cert_info info, info2;
	struct idp_key *subj, *other;
	struct idp_cert *leaf, *leaf2, *back;
	BASIC_CONSTRAINTS *bc;
	EXTENDED_KEY_USAGE *eku;
	const ASN1_OCTET_STRING *akid;
	unsigned char md[32];
	unsigned int mdlen;
	char hex[65], cn[128];
	int crit;
	X509 *l;

	(void)state;
	assert_int_equal(idp_key_generate(IDP_KEY_EC_P256, &subj), 0);
	assert_int_equal(idp_key_generate(IDP_KEY_EC_P256, &other), 0);
	assert_int_equal(idp_cert_mint(cas[0], keys[0], subj, &req, &leaf,
	    NULL), 0);
	l = x(leaf);

	assert_int_equal(X509_get_version(l), X509_VERSION_3);
	assert_int_equal(X509_verify(l, idp_key_evp(keys[0])), 1);
	assert_int_not_equal(X509_verify(l, idp_key_evp(keys[1])), 1);
	assert_int_equal(X509_check_issued(x(cas[0]), l), X509_V_OK);
	assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(l),
	    X509_get_subject_name(x(cas[0]))), 0);
	assert_int_equal(X509_NAME_get_text_by_NID(X509_get_subject_name(l),
	    NID_commonName, cn, sizeof(cn)), (int)strlen("www.example.com"));
	assert_string_equal(cn, "www.example.com");
	/* The fast SPKI is exactly what i2d_PUBKEY would have written. */
	assert_spki_is_key(leaf, subj);
	assert_true(idp_cert_matches_key(leaf, subj));
	assert_false(idp_cert_matches_key(leaf, other));
	assert_false(idp_cert_matches_key(leaf, keys[0]));
	/* basicConstraints critical CA:FALSE; KU critical; EKU serverAuth. */
	bc = X509_get_ext_d2i(l, NID_basic_constraints, &crit, NULL);
	assert_non_null(bc);
	assert_int_equal(crit, 1);
	assert_false(bc->ca);
	assert_null(bc->pathlen);
	BASIC_CONSTRAINTS_free(bc);
	assert_int_equal(X509_get_key_usage(l), KU_DIGITAL_SIGNATURE);
	assert_int_equal(X509_EXTENSION_get_critical(X509_get_ext(l,
	    X509_get_ext_by_NID(l, NID_key_usage, -1))), 1);
	assert_int_equal(X509_get_extended_key_usage(l), XKU_SSL_SERVER);
	eku = X509_get_ext_d2i(l, NID_ext_key_usage, &crit, NULL);
	assert_int_equal(sk_ASN1_OBJECT_num(eku), 1);
	assert_int_equal(crit, 0);
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	assert_false(X509_check_ca(l));
	/* SKI of the leaf's key; AKI = the CA's SKI. */
	assert_non_null(X509_get0_subject_key_id(l));
	akid = X509_get0_authority_key_id(l);
	assert_non_null(akid);
	assert_int_equal(ASN1_STRING_cmp(akid,
	    X509_get0_subject_key_id(x(cas[0]))), 0);
	check_san(l);
	/* Read-back of times, serial and fingerprint. */
	assert_int_equal(idp_cert_get_info(leaf, &info), 0);
	assert_int_equal(info.not_before, NB);
	assert_int_equal(info.not_after, NB + DAY);
	assert_false(info.is_ca);
	assert_true(strlen(info.serial) > 0 && strlen(info.serial) <= 32);
	assert_true(strspn(info.serial, "0123456789abcdef") ==
	    strlen(info.serial));
	assert_true(info.serial[0] >= '1' || strlen(info.serial) % 2 == 0);
	assert_int_not_equal(ASN1_STRING_type(X509_get0_serialNumber(l)),
	    V_ASN1_NEG_INTEGER);
	assert_int_equal(X509_digest(l, EVP_sha256(), md, &mdlen), 1);
	for (unsigned i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
	assert_string_equal(info.sha256, hex);
	/*
	 * Minted without a decoded key (the fast SPKI); loading it re-reads
	 * the DER, which must give the same certificate.
	 */
	assert_null(X509_get0_pubkey(l));
	assert_int_equal(i2d_X509(l, NULL) > 0, 1);
	{
		unsigned char *d1 = NULL, *d2 = NULL;
		int n1 = i2d_X509(l, &d1), n2;

		assert_int_equal(idp_cert_load_pubkey(leaf), 0);
		l = x(leaf);
		assert_non_null(X509_get0_pubkey(l));
		n2 = i2d_X509(l, &d2);
		assert_int_equal(n1, n2);
		assert_memory_equal(d1, d2, (size_t)n1);
		OPENSSL_free(d1);
		OPENSSL_free(d2);
		assert_int_equal(idp_cert_load_pubkey(leaf), 0);
		assert_true(idp_cert_matches_key(leaf, subj));
		assert_false(idp_cert_matches_key(leaf, other));
	}
	/* The whole chain verifies as a TLS server, not as a client. */
	assert_int_equal(chain_verify(l, x(cas[0]), NB + 3600,
	    X509_PURPOSE_SSL_SERVER), X509_V_OK);
	assert_int_equal(chain_verify(l, x(cas[0]), NB + 3600,
	    X509_PURPOSE_SSL_CLIENT), X509_V_ERR_INVALID_PURPOSE);
	assert_int_equal(chain_verify(l, x(cas[0]), NB + 2 * DAY,
	    X509_PURPOSE_SSL_SERVER), X509_V_ERR_CERT_HAS_EXPIRED);
	assert_int_equal(chain_verify(l, x(cas[0]), NB - 10,
	    X509_PURPOSE_SSL_SERVER), X509_V_ERR_CERT_NOT_YET_VALID);
	assert_int_equal(chain_verify(l, x(cas[1]), NB + 3600,
	    X509_PURPOSE_SSL_SERVER),
	    X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);

	/* Through PEM: same DER, decoded key, still matching. */
	back = pem_round_trip(leaf);
	assert_non_null(X509_get0_pubkey(x(back)));
	assert_true(idp_cert_matches_key(back, subj));
	assert_false(idp_cert_matches_key(back, other));
	assert_int_equal(idp_cert_get_info(back, &info2), 0);
	assert_memory_equal(&info, &info2, sizeof(info));
	idp_cert_free(back);

	/* A second mint: fresh serial. */
	assert_int_equal(idp_cert_mint(cas[0], keys[0], subj, &req, &leaf2,
	    NULL), 0);
	assert_int_equal(idp_cert_get_info(leaf2, &info2), 0);
	assert_string_not_equal(info.serial, info2.serial);
	idp_cert_free(leaf2);

	idp_cert_free(leaf);
	idp_key_free(subj);
	idp_key_free(other);
}

/* Every CA type signs every leaf type. */
static void
test_matrix(void **state)
{
	struct idp_cert_req req = base_req();
	struct idp_key *subj;
	struct idp_cert *leaf, *back;
	size_t c, s;
	int ku;

	(void)state;
	req.usage = IDP_USAGE_SERVER | IDP_USAGE_CLIENT;
	for (s = 0; s < NTYPES; s++) {
		assert_int_equal(idp_key_generate(types[s], &subj), 0);
		for (c = 0; c < NTYPES; c++) {
			assert_int_equal(idp_cert_mint(cas[c], keys[c], subj,
			    &req, &leaf, NULL), 0);
			assert_int_equal(X509_verify(x(leaf),
			    idp_key_evp(keys[c])), 1);
			assert_int_equal(sig_nid(leaf), want_sig_nid(types[c]));
			assert_spki_is_key(leaf, subj);
			assert_true(idp_cert_matches_key(leaf, subj));
			assert_false(idp_cert_matches_key(leaf, keys[c]));
			ku = types[s] == IDP_KEY_RSA_2048 ?
			    KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT :
			    KU_DIGITAL_SIGNATURE;
			assert_int_equal(X509_get_key_usage(x(leaf)), ku);
			assert_int_equal(X509_get_extended_key_usage(x(leaf)),
			    XKU_SSL_SERVER | XKU_SSL_CLIENT);
			back = pem_round_trip(leaf);
			assert_true(idp_cert_matches_key(back, subj));
			assert_int_equal(chain_verify(x(back), x(cas[c]),
			    NB + 60, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
			idp_cert_free(back);
			idp_cert_free(leaf);
		}
		idp_key_free(subj);
	}
}

static int
mint_rc(struct idp_cert_req *req, const struct idp_cert *ca,
    struct idp_key *ca_key, struct idp_err *err)
{
	struct idp_cert *leaf = (struct idp_cert *)(uintptr_t)1;
	int rc;

	rc = idp_cert_mint(ca, ca_key, keys[0], req, &leaf, err);
	if (rc == 0)
		idp_cert_free(leaf);
	else
		assert_ptr_equal(leaf, (struct idp_cert *)(uintptr_t)1);
	return rc;
}

static void
test_mint_errors(void **state)
{
	struct idp_cert_req req;
	struct idp_err err = { "" };
	struct idp_cert *leaf;
	struct idp_key *pub;
	json_t *j;
	const char *bad_ip[] = { "256.1.1.1", "1.2.3", "01.2.3.4", "::g", "",
	    "1.2.3.4 ", "localhost", "1.2.3.4/32", "[::1]" };
	const char *bad_dns[] = { "", "a..b", ".a", "a.", "a b", "a/b",
	    "*.*.example", "a.*.example", "x*.example", "*", "\xc3\xa9.fr",
	    "a\nb", "-a.example", "a-.example", "example-", "-" };
	const char *bad_uri[] = { "", "no-scheme", ":x", "1http://x",
	    "spiffe://a b", "http://x\n" };
	const char *one[1];
	char long_cn[80];
	size_t i;

	(void)state;
	req = base_req();
	for (i = 0; i < sizeof(bad_ip) / sizeof(bad_ip[0]); i++) {
		one[0] = bad_ip[i];
		req.ip = one;
		req.n_ip = 1;
		assert_int_equal(mint_rc(&req, cas[0], keys[0], &err), -EINVAL);
		assert_non_null(strstr(err.msg, "IP address"));
	}
	req = base_req();
	for (i = 0; i < sizeof(bad_dns) / sizeof(bad_dns[0]); i++) {
		one[0] = bad_dns[i];
		req.dns = one;
		req.n_dns = 1;
		assert_int_equal(mint_rc(&req, cas[0], keys[0], &err), -EINVAL);
	}
	req = base_req();
	for (i = 0; i < sizeof(bad_uri) / sizeof(bad_uri[0]); i++) {
		one[0] = bad_uri[i];
		req.uri = one;
		req.n_uri = 1;
		assert_int_equal(mint_rc(&req, cas[0], keys[0], &err), -EINVAL);
	}
	/* Common name at and over 64 characters. */
	req = base_req();
	memset(long_cn, 'c', 64);
	long_cn[64] = '\0';
	req.common_name = long_cn;
	assert_int_equal(mint_rc(&req, cas[0], keys[0], &err), 0);
	long_cn[64] = 'c';
	long_cn[65] = '\0';
	assert_int_equal(mint_rc(&req, cas[0], keys[0], &err), -EINVAL);
	/* Usage, validity, names. */
	req = base_req();
	req.usage = 0;
	assert_int_equal(mint_rc(&req, cas[0], keys[0], &err), -EINVAL);
	req.usage = 4;
	assert_int_equal(mint_rc(&req, cas[0], keys[0], &err), -EINVAL);
	req = base_req();
	req.not_after = req.not_before;
	assert_int_equal(mint_rc(&req, cas[0], keys[0], &err), -EINVAL);
	req.not_before = -5;
	assert_int_equal(mint_rc(&req, cas[0], keys[0], &err), -EINVAL);
	req = base_req();
	req.common_name = NULL;
	req.n_dns = req.n_ip = req.n_uri = 0;
	assert_int_equal(mint_rc(&req, cas[0], keys[0], &err), -EINVAL);
	req = base_req();
	req.dns = NULL;
	assert_int_equal(mint_rc(&req, cas[0], keys[0], &err), -EINVAL);
	/* Wrong CA key, public CA key, a leaf as issuer. */
	req = base_req();
	assert_int_equal(mint_rc(&req, cas[0], keys[1], &err), -EINVAL);
	assert_non_null(strstr(err.msg, "does not match"));
	assert_int_equal(idp_key_to_jwk(keys[0], &j), 0);
	assert_int_equal(idp_key_from_jwk(j, &pub, NULL), 0);
	json_decref(j);
	assert_int_equal(mint_rc(&req, cas[0], pub, &err), -EINVAL);
	assert_int_equal(idp_cert_mint(cas[0], keys[0], keys[0], &req, &leaf,
	    NULL), 0);
	assert_int_equal(mint_rc(&req, leaf, keys[0], &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not a CA"));
	idp_cert_free(leaf);
	/* CA creation errors. */
	assert_int_equal(idp_cert_ca_create(pub, "x", NB, NB + DAY, &leaf,
	    &err), -EINVAL);
	assert_int_equal(idp_cert_ca_create(keys[0], "", NB, NB + DAY, &leaf,
	    &err), -EINVAL);
	assert_int_equal(idp_cert_ca_create(keys[0], NULL, NB, NB + DAY, &leaf,
	    &err), -EINVAL);
	assert_int_equal(idp_cert_ca_create(keys[0], "x", NB, NB, &leaf, &err),
	    -EINVAL);
	idp_key_free(pub);
}

static void
test_names_and_times(void **state)
{
	struct idp_cert_req req = base_req();
	struct idp_cert_info info;
	struct idp_cert *leaf, *ca;
	GENERAL_NAMES *gens;
	int crit;

	(void)state;
	/* No common name: empty subject and a critical SAN. */
	req.common_name = NULL;
	assert_int_equal(idp_cert_mint(cas[0], keys[0], keys[1], &req, &leaf,
	    NULL), 0);
	assert_int_equal(X509_NAME_entry_count(X509_get_subject_name(
	    x(leaf))), 0);
	gens = X509_get_ext_d2i(x(leaf), NID_subject_alt_name, &crit, NULL);
	assert_int_equal(crit, 1);
	GENERAL_NAMES_free(gens);
	assert_int_equal(idp_cert_load_pubkey(leaf), 0);
	assert_int_equal(chain_verify(x(leaf), x(cas[0]), NB + 60,
	    X509_PURPOSE_SSL_SERVER), X509_V_OK);
	idp_cert_free(leaf);

	/* Only a CN, no SAN extension at all. */
	req = base_req();
	req.n_dns = req.n_ip = req.n_uri = 0;
	assert_int_equal(idp_cert_mint(cas[0], keys[0], keys[1], &req, &leaf,
	    NULL), 0);
	assert_int_equal(X509_get_ext_by_NID(x(leaf), NID_subject_alt_name,
	    -1), -1);
	idp_cert_free(leaf);

	/* A leaf that would outlive its CA is clamped to the CA's end. */
	req = base_req();
	req.not_after = NB + 1000 * DAY;
	assert_int_equal(idp_cert_mint(cas[0], keys[0], keys[1], &req, &leaf,
	    NULL), 0);
	assert_int_equal(idp_cert_get_info(leaf, &info), 0);
	assert_int_equal(info.not_after, NB + 365 * DAY);
	idp_cert_free(leaf);
	req.not_before = NB + 400 * DAY;
	req.not_after = NB + 500 * DAY;
	assert_int_equal(mint_rc(&req, cas[0], keys[0], NULL), -EINVAL);

	/* GeneralizedTime after 2049 round-trips too. */
	assert_int_equal(idp_cert_ca_create(keys[2], "long CA", NB,
	    INT64_C(4102444800) /* 2100-01-01 */, &ca, NULL), 0);
	assert_int_equal(idp_cert_get_info(ca, &info), 0);
	assert_int_equal(info.not_before, NB);
	assert_int_equal(info.not_after, INT64_C(4102444800));
	assert_int_equal(ASN1_STRING_type(X509_get0_notAfter(x(ca))),
	    V_ASN1_GENERALIZEDTIME);
	assert_int_equal(ASN1_STRING_type(X509_get0_notBefore(x(ca))),
	    V_ASN1_UTCTIME);
	req = base_req();
	req.not_before = INT64_C(2524608000);	/* 2050-01-01 */
	req.not_after = INT64_C(2524608000) + DAY;
	assert_int_equal(idp_cert_mint(ca, keys[2], keys[0], &req, &leaf,
	    NULL), 0);
	assert_int_equal(idp_cert_get_info(leaf, &info), 0);
	assert_int_equal(info.not_before, INT64_C(2524608000));
	assert_int_equal(info.not_after, INT64_C(2524608000) + DAY);
	idp_cert_free(leaf);
	idp_cert_free(ca);
}

static void
test_pem_input(void **state)
{
	struct idp_secret *key;
	struct idp_cert *c;
	char *pem, *bundle;
	size_t len;

	(void)state;
	assert_int_equal(idp_cert_from_pem("", 0, &c), -EBADMSG);
	assert_int_equal(idp_cert_from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n"
	    "-----END CERTIFICATE-----\n", 58, &c), -EBADMSG);
	/* A bundle with the key first: the certificate is found. */
	assert_int_equal(idp_key_to_pem(keys[0], &key), 0);
	assert_int_equal(idp_cert_to_pem(cas[0], &pem, &len), 0);
	bundle = malloc(key->len + len + 1);
	memcpy(bundle, key->buf, key->len);
	memcpy(bundle + key->len, pem, len + 1);
	assert_int_equal(idp_cert_from_pem(bundle, key->len + len, &c), 0);
	assert_int_equal(X509_cmp(x(c), x(cas[0])), 0);
	assert_true(idp_cert_matches_key(c, keys[0]));
	/* A CA read from PEM can issue. */
	{
		struct idp_cert_req req = base_req();
		struct idp_cert *leaf;

		assert_int_equal(idp_cert_mint(c, keys[0], keys[3], &req,
		    &leaf, NULL), 0);
		assert_int_equal(X509_verify(x(leaf), idp_key_evp(keys[0])), 1);
		idp_cert_free(leaf);
	}
	idp_cert_free(c);
	idp_cert_free(NULL);
	free(bundle);
	free(pem);
	idp_secret_free(key);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ca),
		cmocka_unit_test(test_leaf),
		cmocka_unit_test(test_matrix),
		cmocka_unit_test(test_mint_errors),
		cmocka_unit_test(test_names_and_times),
		cmocka_unit_test(test_pem_input),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
