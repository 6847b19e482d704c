/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for rotatord/sources/mint.c: the local CAs (created, reloaded,
 * rolled over at 2/3 of their life with the old certificate kept in
 * ca.pem, imported from cert_file/key_file, refused when key and
 * certificate disagree), X.509 leaves (SANs, validity, key usage, the
 * files and their modes, the CA's signature, key and certificate
 * matching, the CA's notAfter as a bound), signers (key kept, rotated
 * after key_lifetime with the old public key in the JWKS until its last
 * token expires, the discovery document), JWTs (header, kid, claims,
 * audience lists, lifetimes, token.json as jansson would write it, jti
 * unique, UTF-8 refused when invalid), secrets, oauth tokens, the spec
 * fingerprint and the small helpers.  The clock is injected: every call
 * gets NOW or a time derived from it, never the wall clock.  Configs are
 * read from text; state lives in a fresh directory per test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <idp/b64.h>
#include <idp/crypto.h>
#include <idp/jwk.h>
#include <idp/jwt.h>
#include <idp/oauth.h>
#include <idp/x509.h>

#include "config/config.h"
#include "sources/mint.h"
#include "util.h"

#define NOW	1800000000000LL		/* ms: 2027-01-15T08:00:00Z */
#define MIN	(60 * 1000LL)
#define HOUR	(60 * MIN)
#define DAY	(24 * HOUR)

/* A fresh directory and a config whose dirs are in it. */
struct fx {
	char		*dir;
	struct config	*c;
};

static void fx_open(struct fx *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Loads [rotatord] (backdate 1m) followed by the sections fmt makes. */
static void
fx_open(struct fx *f, const char *fmt, ...)
{
	char *tail = NULL;
	va_list ap;

	f->dir = ut_tmpdir("test-mint", UT_TMP_TMP);
	assert_non_null(f->dir);
	va_start(ap, fmt);
	assert_true(vasprintf(&tail, fmt, ap) >= 0);
	va_end(ap);
	f->c = ut_config("[rotatord]\noutput_dir = %s/out\nstate_dir = %s/state"
	    "\nbackdate = 1m\n%s", f->dir, f->dir, tail);
	free(tail);
}

/* Another config on the same state (a restart with a changed file). */
static void fx_reconfigure(struct fx *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
fx_reconfigure(struct fx *f, const char *fmt, ...)
{
	char *tail = NULL;
	va_list ap;

	va_start(ap, fmt);
	assert_true(vasprintf(&tail, fmt, ap) >= 0);
	va_end(ap);
	config_free(f->c);
	f->c = ut_config("[rotatord]\noutput_dir = %s/out\nstate_dir = %s/state"
	    "\nbackdate = 1m\n%s", f->dir, f->dir, tail);
	free(tail);
}

static void
fx_close(struct fx *f)
{
	config_free(f->c);
	assert_int_equal(ut_rm_rf(f->dir), 0);
	free(f->dir);
}

static const struct cfg_cred *
cred(const struct fx *f, const char *name)
{
	const struct cfg_cred *cr = config_find_cred(f->c, name);

	assert_non_null(cr);
	return cr;
}

static mode_t
mode_of(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		fail_msg("%s: %s", path, strerror(errno));
	return st.st_mode & 07777;
}

/* The file of r called name, or a failure. */
static const struct material_file *
file_of(const struct mint_result *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->n_files; i++)
		if (strcmp(r->files[i].name, name) == 0)
			return &r->files[i];
	fail_msg("no file %s", name);
	return NULL;
}

static X509 *
x509_of(const void *pem, size_t len)
{
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	X509 *x;

	assert_non_null(b);
	x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	assert_non_null(x);
	return x;
}

static EVP_PKEY *
pkey_of(const void *pem, size_t len)
{
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *k;

	assert_non_null(b);
	k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	assert_non_null(k);
	return k;
}

/* Seconds since the epoch of an ASN1_TIME. */
static int64_t
secs_of(const ASN1_TIME *t)
{
	struct tm tm;

	assert_int_equal(ASN1_TIME_to_tm(t, &tm), 1);
	return (int64_t)timegm(&tm);
}

static int
count_certs(const char *pem)
{
	int n = 0;

	while ((pem = strstr(pem, "-----BEGIN CERTIFICATE-----")) != NULL) {
		n++;
		pem++;
	}
	return n;
}

static void
hex_of(const unsigned char *p, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

/* ---- CA ------------------------------------------------------------------ */

#define CA_INI	"[ca \"int\"]\nlifetime = 30d\n"

static void
test_ca_create_reload(void **state)
{
	struct ca_state *s = NULL, *s2 = NULL;
	struct idp_cert_info info;
	struct idp_err err = { "" };
	char path[4096], sha[65];
	struct fx f;
	X509 *x;

	(void)state;
	fx_open(&f, CA_INI "[ca \"named\"]\ncommon_name = Example Root\n");
	assert_int_equal(ca_state_load(f.c, f.c->cas[0], NOW, &s, &err), 0);
	/* Key 0600 and certificate 0644 in state_dir/ca/NAME, dirs 0700. */
	ut_snprintf(path, sizeof(path), "%s/state/ca/int/key.pem", f.dir);
	assert_int_equal(mode_of(path), 0600);
	ut_snprintf(path, sizeof(path), "%s/state/ca/int/cert.pem", f.dir);
	assert_int_equal(mode_of(path), 0644);
	ut_snprintf(path, sizeof(path), "%s/state/ca/int", f.dir);
	assert_int_equal(mode_of(path), 0700);
	/* A CA, backdated an hour, for its lifetime from now. */
	assert_int_equal(idp_cert_get_info(s->cert, &info), 0);
	assert_true(info.is_ca);
	assert_int_equal(info.not_before, NOW / 1000 - 3600);
	assert_int_equal(info.not_after, (NOW + 30 * DAY) / 1000);
	assert_int_equal(s->not_after, (NOW + 30 * DAY) / 1000 * 1000);
	assert_string_equal(s->sha256, info.sha256);
	assert_true(idp_cert_matches_key(s->cert, s->key));
	/* Rollover at 2/3 of the life that starts now. */
	assert_int_equal(s->renew_wall, NOW / 1000 * 1000 + 20 * DAY);
	/* ca.pem is the CA alone, with the default name. */
	assert_int_equal(count_certs(s->trust_pem), 1);
	assert_int_equal(strlen(s->trust_pem), s->trust_len);
	x = x509_of(s->trust_pem, s->trust_len);
	{
		char cn[128];

		assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(x),
		    NID_commonName, cn, sizeof(cn)) > 0);
		assert_string_equal(cn, "rotatord int CA");
		assert_int_equal(X509_check_ca(x), 1);
		assert_int_equal(X509_verify(x, X509_get0_pubkey(x)), 1);
	}
	X509_free(x);
	memcpy(sha, s->sha256, sizeof(sha));

	/* Reloaded a day later: the same CA, nothing rewritten. */
	assert_int_equal(ca_state_load(f.c, f.c->cas[0], NOW + DAY, &s2, &err),
	    0);
	assert_string_equal(s2->sha256, sha);
	assert_int_equal(s2->renew_wall, s->renew_wall);
	ca_state_free(s2);
	s2 = NULL;

	/* common_name is the subject. */
	assert_int_equal(ca_state_load(f.c, f.c->cas[1], NOW, &s2, &err), 0);
	x = x509_of(s2->trust_pem, s2->trust_len);
	{
		char cn[128];

		X509_NAME_get_text_by_NID(X509_get_subject_name(x),
		    NID_commonName, cn, sizeof(cn));
		assert_string_equal(cn, "Example Root");
	}
	X509_free(x);
	assert_string_not_equal(s2->sha256, sha);
	ca_state_free(s2);
	ca_state_free(s);
	ca_state_free(NULL);
	fx_close(&f);
}

static void
test_ca_rollover(void **state)
{
	struct ca_state *s = NULL, *s2 = NULL, *s3 = NULL;
	struct idp_cert_info info;
	struct idp_err err = { "" };
	struct mint_result r;
	char path[4096];
	X509 *leaf, *old, *cur;
	struct fx f;

	(void)state;
	fx_open(&f, CA_INI "[credential \"web\"]\ntype = x509\nca = int\n"
	    "dns = web.test\n");
	assert_int_equal(ca_state_load(f.c, f.c->cas[0], NOW, &s, &err), 0);
	/* Just before 2/3: the same CA. */
	assert_int_equal(ca_state_load(f.c, f.c->cas[0], s->renew_wall - 1000,
	    &s2, &err), 0);
	assert_string_equal(s2->sha256, s->sha256);
	ca_state_free(s2);
	ut_snprintf(path, sizeof(path), "%s/state/ca/int/previous.pem", f.dir);
	assert_int_not_equal(access(path, F_OK), 0);

	/* At 2/3: a new CA signs; ca.pem holds the new and the old one. */
	assert_int_equal(ca_state_load(f.c, f.c->cas[0], s->renew_wall, &s2,
	    &err), 0);
	assert_string_not_equal(s2->sha256, s->sha256);
	assert_int_equal(mode_of(path), 0644);
	assert_int_equal(count_certs(s2->trust_pem), 2);
	assert_int_equal(idp_cert_get_info(s2->cert, &info), 0);
	assert_int_equal(info.not_after, (s->renew_wall + 30 * DAY) / 1000);
	cur = x509_of(s2->trust_pem, s2->trust_len);
	old = x509_of(strstr(s2->trust_pem + 1, "-----BEGIN"),
	    strlen(strstr(s2->trust_pem + 1, "-----BEGIN")));
	{
		char *pem;
		size_t len;
		X509 *first;

		/* The current CA first, the old one after it. */
		assert_int_equal(idp_cert_to_pem(s->cert, &pem, &len), 0);
		first = x509_of(pem, len);
		assert_int_equal(X509_cmp(first, old), 0);
		assert_int_not_equal(X509_cmp(first, cur), 0);
		X509_free(first);
		free(pem);
	}
	/* Leaves minted now are signed by the new CA only. */
	assert_int_equal(mint_x509(f.c, cred(&f, "web"), s2, s->renew_wall, &r,
	    &err), 0);
	assert_memory_equal(file_of(&r, "ca.pem")->data, s2->trust_pem,
	    s2->trust_len);
	leaf = x509_of(file_of(&r, "cert.pem")->data,
	    file_of(&r, "cert.pem")->len);
	assert_int_equal(X509_verify(leaf, X509_get0_pubkey(cur)), 1);
	assert_int_not_equal(X509_verify(leaf, X509_get0_pubkey(old)), 1);
	X509_free(leaf);
	mint_result_clear(&r);

	/* A restart keeps both; once the old CA has expired, only the new. */
	assert_int_equal(ca_state_load(f.c, f.c->cas[0], s->renew_wall + DAY,
	    &s3, &err), 0);
	assert_string_equal(s3->sha256, s2->sha256);
	assert_int_equal(count_certs(s3->trust_pem), 2);
	ca_state_free(s3);
	assert_int_equal(ca_state_load(f.c, f.c->cas[0], s->not_after + 1000,
	    &s3, &err), 0);
	assert_string_equal(s3->sha256, s2->sha256);
	assert_int_equal(count_certs(s3->trust_pem), 1);
	ca_state_free(s3);
	X509_free(cur);
	X509_free(old);
	ca_state_free(s2);
	ca_state_free(s);
	fx_close(&f);
}

static void
test_ca_bad_state(void **state)
{
	struct ca_state *s = NULL, *s2 = (struct ca_state *)(uintptr_t)1;
	struct idp_key *other = NULL;
	struct idp_secret *pem = NULL;
	struct idp_err err = { "" };
	char path[4096];
	struct fx f;

	(void)state;
	fx_open(&f, CA_INI);
	assert_int_equal(ca_state_load(f.c, f.c->cas[0], NOW, &s, &err), 0);
	ut_snprintf(path, sizeof(path), "%s/state/ca/int/key.pem", f.dir);

	/* Another key next to the certificate: refused, not replaced. */
	assert_int_equal(idp_key_generate(IDP_KEY_EC_P256, &other), 0);
	assert_int_equal(idp_key_to_pem(other, &pem), 0);
	ut_write_file(path, pem->buf, pem->len, 0600);
	assert_int_equal(ca_state_load(f.c, f.c->cas[0], NOW, &s2, &err),
	    -EKEYREJECTED);
	assert_non_null(strstr(err.msg, "do not match"));
	assert_ptr_equal(s2, (struct ca_state *)(uintptr_t)1);
	/* A key others may read: refused. */
	ut_write_file(path, pem->buf, pem->len, 0644);
	assert_int_equal(ca_state_load(f.c, f.c->cas[0], NOW, &s2, &err),
	    -EPERM);
	/* Not a key at all. */
	ut_write_file(path, "garbage\n", 8, 0600);
	assert_true(ca_state_load(f.c, f.c->cas[0], NOW, &s2, &err) < 0);
	assert_ptr_equal(s2, (struct ca_state *)(uintptr_t)1);
	/* A certificate that is not PEM. */
	{
		struct idp_secret *kp = NULL;
		char cpath[4096];

		assert_int_equal(idp_key_to_pem(s->key, &kp), 0);
		ut_write_file(path, kp->buf, kp->len, 0600);
		idp_secret_free(kp);
		ut_snprintf(cpath, sizeof(cpath), "%s/state/ca/int/cert.pem",
		    f.dir);
		ut_write_file(cpath, "not a certificate\n", 18, 0644);
		assert_true(ca_state_load(f.c, f.c->cas[0], NOW, &s2, &err) <
		    0);
		assert_non_null(strstr(err.msg, "cannot parse"));
	}
	idp_secret_free(pem);
	idp_key_free(other);
	ca_state_free(s);
	fx_close(&f);
}

static void
test_ca_imported(void **state)
{
	struct idp_key *key = NULL;
	struct idp_cert *cert = NULL;
	struct idp_secret *kpem = NULL;
	struct idp_cert_info info;
	struct ca_state *s = NULL, *s2 = (struct ca_state *)(uintptr_t)1;
	struct idp_err err = { "" };
	struct mint_result r;
	char *dir, cpath[4096], kpath[4096], *cpem;
	size_t clen;
	struct fx f;
	X509 *ca, *leaf;

	(void)state;
	dir = ut_tmpdir("test-mint-ca", UT_TMP_TMP);
	assert_non_null(dir);
	assert_int_equal(idp_key_generate(IDP_KEY_EC_P384, &key), 0);
	assert_int_equal(idp_cert_ca_create(key, "Imported CA", NOW / 1000 -
	    60, NOW / 1000 + 10 * 86400, &cert, &err), 0);
	assert_int_equal(idp_cert_to_pem(cert, &cpem, &clen), 0);
	assert_int_equal(idp_key_to_pem(key, &kpem), 0);
	ut_put(cpath, sizeof(cpath), dir, "ca.pem", cpem, clen, 0644);
	ut_put(kpath, sizeof(kpath), dir, "ca.key", kpem->buf, kpem->len,
	    0600);
	fx_open(&f, "[ca \"imp\"]\ncert_file = %s\nkey_file = %s\n"
	    "[credential \"web\"]\ntype = x509\nca = imp\ndns = web.test\n"
	    "lifetime = 30d\n", cpath, kpath);
	/* Loaded as it is, nothing written to state_dir, never rolled. */
	assert_int_equal(ca_state_load(f.c, f.c->cas[0], NOW + 9 * DAY, &s,
	    &err), 0);
	assert_int_equal(idp_cert_get_info(cert, &info), 0);
	assert_string_equal(s->sha256, info.sha256);
	assert_int_equal(s->renew_wall, 0);
	assert_int_equal(s->trust_len, clen);
	assert_memory_equal(s->trust_pem, cpem, clen);
	{
		char p[4200];

		ut_snprintf(p, sizeof(p), "%s/state/ca", f.dir);
		assert_int_not_equal(access(p, F_OK), 0);
	}
	/* A leaf of 30 days from a CA with one day left: cut to the CA's. */
	assert_int_equal(mint_x509(f.c, cred(&f, "web"), s, NOW + 9 * DAY, &r,
	    &err), 0);
	assert_int_equal(r.not_after, info.not_after * 1000);
	ca = x509_of(cpem, clen);
	leaf = x509_of(file_of(&r, "cert.pem")->data,
	    file_of(&r, "cert.pem")->len);
	assert_int_equal(X509_verify(leaf, X509_get0_pubkey(ca)), 1);
	assert_int_equal(X509_check_issued(ca, leaf), X509_V_OK);
	assert_int_equal(secs_of(X509_get0_notAfter(leaf)), info.not_after);
	X509_free(leaf);
	X509_free(ca);
	mint_result_clear(&r);
	/* A CA that has expired signs nothing. */
	assert_int_equal(mint_x509(f.c, cred(&f, "web"), s, NOW + 11 * DAY, &r,
	    &err), -EKEYEXPIRED);
	assert_int_equal(r.n_files, 0);
	ca_state_free(s);

	/* Missing files are not created in their place. */
	assert_int_equal(unlink(kpath), 0);
	assert_int_equal(ca_state_load(f.c, f.c->cas[0], NOW, &s2, &err),
	    -ENOENT);
	assert_ptr_equal(s2, (struct ca_state *)(uintptr_t)1);
	assert_int_not_equal(access(kpath, F_OK), 0);
	fx_close(&f);
	idp_secret_free(kpem);
	free(cpem);
	idp_cert_free(cert);
	idp_key_free(key);
	assert_int_equal(ut_rm_rf(dir), 0);
	free(dir);
}

/* ---- X.509 leaves -------------------------------------------------------- */

/* The GENERAL_NAMEs of x's SAN as "DNS:a", "IP:1.2.3.4", "URI:u" lines. */
static void
san_text(X509 *x, char *out, size_t size, int *ret_critical)
{
	GENERAL_NAMES *gn;
	size_t off = 0;
	int i, crit = -1;

	out[0] = '\0';
	gn = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
	*ret_critical = crit;
	if (gn == NULL)
		return;
	for (i = 0; i < sk_GENERAL_NAME_num(gn); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gn, i);
		char buf[128];

		switch (g->type) {
		case GEN_DNS:
			snprintf(buf, sizeof(buf), "DNS:%s",
			    ASN1_STRING_get0_data(g->d.dNSName));
			break;
		case GEN_URI: {
			const ASN1_IA5STRING *u = g->d.uniformResourceIdentifier;

			snprintf(buf, sizeof(buf), "URI:%s",
			    ASN1_STRING_get0_data(u));
			break;
		}
		case GEN_IPADD: {
			const ASN1_OCTET_STRING *ip = g->d.iPAddress;
			const unsigned char *p = ASN1_STRING_get0_data(ip);
			int n = ASN1_STRING_length(ip);

			if (n == 4)
				snprintf(buf, sizeof(buf), "IP:%d.%d.%d.%d",
				    p[0], p[1], p[2], p[3]);
			else
				snprintf(buf, sizeof(buf), "IP6:%02x%02x..%02x",
				    p[0], p[1], p[n - 1]);
			break;
		}
		default:
			snprintf(buf, sizeof(buf), "?%d", g->type);
		}
		off += (size_t)snprintf(out + off, size - off, "%s\n", buf);
		assert_true(off < size);
	}
	GENERAL_NAMES_free(gn);
}

#define LEAF_INI CA_INI \
	"[credential \"web\"]\ntype = x509\nca = int\n" \
	"common_name = web.test\ndns = web.test, *.web.test\n" \
	"ip = 192.0.2.7, 2001:db8::1\nuri = spiffe://test/web\n" \
	"lifetime = 2d\nmode = 0640\n" \
	"[credential \"client\"]\ntype = x509\nca = int\ndns = c.test\n" \
	"usage = client\nkey_type = ed25519\n" \
	"[credential \"both\"]\ntype = x509\nca = int\nuri = spiffe://t/b\n" \
	"usage = server,client\nkey_type = ec-p384\n" \
	"[credential \"rsa\"]\ntype = x509\nca = int\ndns = r.test\n" \
	"key_type = rsa-2048\n"

static void
test_x509_leaf(void **state)
{
	static const char *const names[] = { "cert.pem", "chain.pem",
	    "fullchain.pem", "key.pem", "bundle.pem", "ca.pem" };
	static const mode_t modes[] = { 0644, 0644, 0644, 0640, 0640, 0644 };
	struct ca_state *ca = NULL;
	struct idp_err err = { "" };
	struct mint_result r, r2;
	const struct material_file *cf, *kf, *bf;
	unsigned char md[32];
	char sans[1024], hex[65], cn[128], serial[64], sha[65];
	EXTENDED_KEY_USAGE *eku;
	ASN1_BIT_STRING *ku;
	BASIC_CONSTRAINTS *bc;
	EVP_PKEY *pk;
	X509 *leaf, *cax;
	int crit, i, len;
	int64_t na;
	unsigned char *der = NULL;
	struct fx f;

	(void)state;
	fx_open(&f, LEAF_INI);
	assert_int_equal(ca_state_load(f.c, f.c->cas[0], NOW, &ca, &err), 0);
	assert_int_equal(mint_x509(f.c, cred(&f, "web"), ca, NOW, &r, &err), 0);

	/* The files, in order, with the modes: public ones readable by all. */
	assert_int_equal(r.n_files, 6);
	for (i = 0; i < 6; i++) {
		assert_string_equal(r.files[i].name, names[i]);
		assert_int_equal(r.files[i].mode, modes[i]);
	}
	cf = file_of(&r, "cert.pem");
	kf = file_of(&r, "key.pem");
	bf = file_of(&r, "bundle.pem");
	assert_int_equal(file_of(&r, "chain.pem")->len, 0);
	assert_int_equal(file_of(&r, "fullchain.pem")->len, cf->len);
	assert_memory_equal(file_of(&r, "fullchain.pem")->data, cf->data,
	    cf->len);
	/* bundle.pem is key.pem then cert.pem. */
	assert_int_equal(bf->len, kf->len + cf->len);
	assert_memory_equal(bf->data, kf->data, kf->len);
	assert_memory_equal((const char *)bf->data + kf->len, cf->data, cf->len);
	assert_int_equal(file_of(&r, "ca.pem")->len, ca->trust_len);

	leaf = x509_of(cf->data, cf->len);
	cax = x509_of(ca->trust_pem, ca->trust_len);
	/* Signed by the CA, named by it, and the key is the certificate's. */
	assert_int_equal(X509_verify(leaf, X509_get0_pubkey(cax)), 1);
	assert_int_equal(X509_check_issued(cax, leaf), X509_V_OK);
	pk = pkey_of(kf->data, kf->len);
	assert_int_equal(X509_check_private_key(leaf, pk), 1);
	assert_int_equal(EVP_PKEY_get_base_id(pk), EVP_PKEY_EC);
	EVP_PKEY_free(pk);
	/* Subject and SANs. */
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(leaf),
	    NID_commonName, cn, sizeof(cn)) > 0);
	assert_string_equal(cn, "web.test");
	san_text(leaf, sans, sizeof(sans), &crit);
	assert_string_equal(sans, "DNS:web.test\nDNS:*.web.test\n"
	    "IP:192.0.2.7\nIP6:2001..01\nURI:spiffe://test/web\n");
	assert_int_equal(crit, 0);
	/* Validity: backdated by [rotatord] backdate, for its lifetime. */
	assert_int_equal(secs_of(X509_get0_notBefore(leaf)), (NOW - MIN) / 1000);
	assert_int_equal(secs_of(X509_get0_notAfter(leaf)), (NOW + 2 * DAY) /
	    1000);
	assert_int_equal(r.issued_at, NOW);
	assert_int_equal(r.not_before, (NOW - MIN) / 1000 * 1000);
	assert_int_equal(r.not_after, (NOW + 2 * DAY) / 1000 * 1000);
	/* Not a CA; digitalSignature; serverAuth. */
	bc = X509_get_ext_d2i(leaf, NID_basic_constraints, &crit, NULL);
	assert_non_null(bc);
	assert_false(bc->ca);
	BASIC_CONSTRAINTS_free(bc);
	assert_int_equal(X509_check_ca(leaf), 0);
	ku = X509_get_ext_d2i(leaf, NID_key_usage, &crit, NULL);
	assert_non_null(ku);
	assert_int_equal(crit, 1);
	assert_true(ASN1_BIT_STRING_get_bit(ku, 0));	/* digitalSignature */
	assert_false(ASN1_BIT_STRING_get_bit(ku, 2));	/* keyEncipherment */
	assert_false(ASN1_BIT_STRING_get_bit(ku, 5));	/* keyCertSign */
	ASN1_BIT_STRING_free(ku);
	eku = X509_get_ext_d2i(leaf, NID_ext_key_usage, &crit, NULL);
	assert_non_null(eku);
	assert_int_equal(sk_ASN1_OBJECT_num(eku), 1);
	assert_int_equal(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, 0)),
	    NID_server_auth);
	EXTENDED_KEY_USAGE_free(eku);
	/* leaf_sha256 is the SHA-256 of the DER; serial and id agree. */
	len = i2d_X509(leaf, &der);
	assert_true(len > 0);
	assert_int_equal(idp_sha256(der, (size_t)len, md), 0);
	OPENSSL_free(der);
	hex_of(md, 32, hex);
	assert_string_equal(r.leaf_sha256, hex);
	assert_int_equal(mint_leaf_info(cf->data, cf->len, sha, serial, &na), 0);
	assert_string_equal(sha, r.leaf_sha256);
	assert_string_equal(serial, r.serial);
	assert_int_equal(na, r.not_after);
	assert_non_null(strstr(r.id, "serial "));
	assert_int_equal(strncmp(r.id + 7, r.serial, 16), 0);
	X509_free(leaf);

	/* Each mint: a new key and a new serial. */
	assert_int_equal(mint_x509(f.c, cred(&f, "web"), ca, NOW, &r2, &err), 0);
	assert_string_not_equal(r2.serial, r.serial);
	assert_string_not_equal(r2.leaf_sha256, r.leaf_sha256);
	assert_false(file_of(&r2, "key.pem")->len == kf->len &&
	    memcmp(file_of(&r2, "key.pem")->data, kf->data, kf->len) == 0);
	mint_result_clear(&r2);
	mint_result_clear(&r);
	assert_int_equal(r.n_files, 0);

	/* usage = client, an Ed25519 key, no common name: a critical SAN. */
	assert_int_equal(mint_x509(f.c, cred(&f, "client"), ca, NOW, &r, &err),
	    0);
	assert_int_equal(file_of(&r, "key.pem")->mode, 0600);
	leaf = x509_of(file_of(&r, "cert.pem")->data,
	    file_of(&r, "cert.pem")->len);
	assert_int_equal(X509_NAME_entry_count(X509_get_subject_name(leaf)), 0);
	san_text(leaf, sans, sizeof(sans), &crit);
	assert_string_equal(sans, "DNS:c.test\n");
	assert_int_equal(crit, 1);
	eku = X509_get_ext_d2i(leaf, NID_ext_key_usage, &crit, NULL);
	assert_int_equal(sk_ASN1_OBJECT_num(eku), 1);
	assert_int_equal(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, 0)),
	    NID_client_auth);
	EXTENDED_KEY_USAGE_free(eku);
	pk = pkey_of(file_of(&r, "key.pem")->data, file_of(&r, "key.pem")->len);
	assert_int_equal(EVP_PKEY_get_base_id(pk), EVP_PKEY_ED25519);
	assert_int_equal(X509_check_private_key(leaf, pk), 1);
	EVP_PKEY_free(pk);
	assert_int_equal(X509_verify(leaf, X509_get0_pubkey(cax)), 1);
	X509_free(leaf);
	mint_result_clear(&r);

	/* server,client; EC P-384. */
	assert_int_equal(mint_x509(f.c, cred(&f, "both"), ca, NOW, &r, &err), 0);
	leaf = x509_of(file_of(&r, "cert.pem")->data,
	    file_of(&r, "cert.pem")->len);
	eku = X509_get_ext_d2i(leaf, NID_ext_key_usage, &crit, NULL);
	assert_int_equal(sk_ASN1_OBJECT_num(eku), 2);
	EXTENDED_KEY_USAGE_free(eku);
	pk = pkey_of(file_of(&r, "key.pem")->data, file_of(&r, "key.pem")->len);
	assert_int_equal(EVP_PKEY_get_bits(pk), 384);
	EVP_PKEY_free(pk);
	X509_free(leaf);
	mint_result_clear(&r);

	/* RSA: keyEncipherment too. */
	assert_int_equal(mint_x509(f.c, cred(&f, "rsa"), ca, NOW, &r, &err), 0);
	leaf = x509_of(file_of(&r, "cert.pem")->data,
	    file_of(&r, "cert.pem")->len);
	ku = X509_get_ext_d2i(leaf, NID_key_usage, &crit, NULL);
	assert_true(ASN1_BIT_STRING_get_bit(ku, 0));
	assert_true(ASN1_BIT_STRING_get_bit(ku, 2));
	ASN1_BIT_STRING_free(ku);
	pk = pkey_of(file_of(&r, "key.pem")->data, file_of(&r, "key.pem")->len);
	assert_int_equal(EVP_PKEY_get_base_id(pk), EVP_PKEY_RSA);
	assert_int_equal(X509_check_private_key(leaf, pk), 1);
	EVP_PKEY_free(pk);
	X509_free(leaf);
	mint_result_clear(&r);

	X509_free(cax);
	ca_state_free(ca);
	fx_close(&f);
}

static void
test_x509_errors(void **state)
{
	struct ca_state *ca = NULL, fake;
	struct idp_err err = { "" };
	struct mint_result r;
	struct cfg_cred bad;
	struct idp_key *k = NULL;
	struct fx f;

	(void)state;
	fx_open(&f, LEAF_INI);
	assert_int_equal(ca_state_load(f.c, f.c->cas[0], NOW, &ca, &err), 0);

	/* A leaf near the end of the CA: cut to the CA's notAfter. */
	assert_int_equal(mint_x509(f.c, cred(&f, "web"), ca, ca->not_after -
	    HOUR, &r, &err), 0);
	assert_int_equal(r.not_after, ca->not_after);
	mint_result_clear(&r);

	/* No name at all (a config would refuse it). */
	bad = *cred(&f, "client");
	bad.n_dns = 0;
	memset(&r, 0xa5, sizeof(r));
	assert_int_equal(mint_x509(f.c, &bad, ca, NOW, &r, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "common name or a SAN"));
	assert_int_equal(r.n_files, 0);
	assert_null(r.bufs[0]);
	/* No usage. */
	bad = *cred(&f, "web");
	bad.usage = 0;
	assert_int_equal(mint_x509(f.c, &bad, ca, NOW, &r, &err), -EINVAL);
	assert_int_equal(r.n_files, 0);
	/* A key that is not the CA's. */
	fake = *ca;
	assert_int_equal(idp_key_generate(IDP_KEY_EC_P256, &k), 0);
	fake.key = k;
	assert_int_equal(mint_x509(f.c, cred(&f, "web"), &fake, NOW, &r, &err),
	    -EINVAL);
	assert_non_null(strstr(err.msg, "does not match"));
	assert_int_equal(r.n_files, 0);
	idp_key_free(k);
	/*
	 * After the CA's end, even within backdate of it: no leaf (it would
	 * have expired before it was issued).
	 */
	assert_int_equal(mint_x509(f.c, cred(&f, "web"), ca, ca->not_after,
	    &r, &err), -EKEYEXPIRED);
	assert_non_null(strstr(err.msg, "expired"));
	assert_int_equal(r.n_files, 0);
	assert_int_equal(mint_x509(f.c, cred(&f, "web"), ca, ca->not_after +
	    1000, &r, &err), -EKEYEXPIRED);
	assert_int_equal(r.n_files, 0);
	ca_state_free(ca);
	fx_close(&f);
}

/* ---- signers and JWTs ---------------------------------------------------- */

#define SIG_INI \
	"[signer \"sig\"]\nissuer = https://issuer.test\nkey_lifetime = 1d\n" \
	"[credential \"tok\"]\ntype = jwt\nsigner = sig\nsubject = svc\n" \
	"audience = a1, a2\nscope = read write\nlifetime = 2h\n" \
	"[credential \"one\"]\ntype = jwt\nsigner = sig\nsubject = s1\n" \
	"audience = only\nlifetime = 5m\nmode = 0640\n" \
	"[credential \"none\"]\ntype = jwt\nsigner = sig\nsubject = s0\n"

static void
test_signer_state(void **state)
{
	struct signer_state *s = NULL, *s2 = NULL, *s3 = NULL;
	struct idp_err err = { "" };
	struct mint_result r;
	struct idp_jwks *set = NULL;
	char path[4096], kid[128], kid2[128];
	json_t *doc;
	int64_t until;
	struct fx f;

	(void)state;
	fx_open(&f, SIG_INI);
	assert_int_equal(signer_state_load(f.c, f.c->signers[0], NOW, &s, &err),
	    0);
	ut_snprintf(path, sizeof(path), "%s/state/signer/sig/key.pem", f.dir);
	assert_int_equal(mode_of(path), 0600);
	ut_snprintf(path, sizeof(path), "%s/state/signer/sig/state.json", f.dir);
	assert_int_equal(mode_of(path), 0600);
	assert_int_equal(s->created_at, NOW);
	assert_int_equal(s->rotate_wall, NOW + DAY);
	/* The longest jwt credential on this signer. */
	assert_int_equal(s->max_token_life, 2 * HOUR);
	assert_int_equal(idp_key_alg(s->key), IDP_ALG_ES256);
	assert_int_equal(idp_key_type(s->key), IDP_KEY_EC_P256);
	ut_snprintf(kid, sizeof(kid), "%s", idp_key_kid(s->key));
	/* The JWKS: the public key alone, under its kid. */
	assert_int_equal(idp_jwks_parse(s->jwks_json, s->jwks_len, 64, &set,
	    &err), 0);
	assert_int_equal(idp_jwks_count(set), 1);
	assert_non_null(idp_jwks_find(set, kid));
	assert_false(idp_key_is_private(idp_jwks_find(set, kid)));
	assert_null(strstr(s->jwks_json, "\"d\""));
	idp_jwks_free(set);
	/* The discovery document. */
	doc = json_loadb(s->discovery_json, s->discovery_len, 0, NULL);
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "issuer")),
	    "https://issuer.test");
	assert_string_equal(json_string_value(json_object_get(doc, "jwks_uri")),
	    "https://issuer.test/jwks.json");
	assert_string_equal(json_string_value(json_array_get(json_object_get(doc,
	    "id_token_signing_alg_values_supported"), 0)), "ES256");
	json_decref(doc);
	/* Its publication. */
	assert_int_equal(mint_signer_files(s, &r), 0);
	assert_int_equal(r.n_files, 2);
	assert_string_equal(r.files[0].name, "jwks.json");
	assert_string_equal(r.files[1].name, "openid-configuration");
	assert_int_equal(r.files[0].mode, 0644);
	assert_int_equal(r.files[1].mode, 0644);
	assert_memory_equal(r.files[0].data, s->jwks_json, s->jwks_len);
	assert_int_equal(r.not_after, s->rotate_wall);
	assert_string_equal(r.id, kid);
	mint_result_clear(&r);

	/* Reloaded before key_lifetime: the same key. */
	assert_int_equal(signer_state_load(f.c, f.c->signers[0], NOW + DAY - 1,
	    &s2, &err), 0);
	assert_string_equal(idp_key_kid(s2->key), kid);
	assert_int_equal(s2->created_at, NOW);
	signer_state_free(s2);

	/* At key_lifetime: a new key; the old one stays published. */
	assert_int_equal(signer_state_load(f.c, f.c->signers[0], NOW + DAY, &s2,
	    &err), 0);
	ut_snprintf(kid2, sizeof(kid2), "%s", idp_key_kid(s2->key));
	assert_string_not_equal(kid2, kid);
	assert_int_equal(s2->created_at, NOW + DAY);
	assert_int_equal(idp_jwks_count(s2->jwks), 2);
	assert_non_null(idp_jwks_find(s2->jwks, kid));
	assert_non_null(idp_jwks_find(s2->jwks, kid2));
	/* Until every token it signed has expired (and backdate, and 1 s). */
	until = (NOW + DAY + 2 * HOUR + MIN) / 1000 + 1;
	assert_int_equal(json_array_size(s2->retired), 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(
	    s2->retired, 0), "until")), until);
	signer_state_free(s2);
	/* A restart in between keeps it; after until it is gone. */
	assert_int_equal(signer_state_load(f.c, f.c->signers[0], until * 1000 -
	    1, &s2, &err), 0);
	assert_string_equal(idp_key_kid(s2->key), kid2);
	assert_int_equal(idp_jwks_count(s2->jwks), 2);
	signer_state_free(s2);
	assert_int_equal(signer_state_load(f.c, f.c->signers[0], until * 1000,
	    &s2, &err), 0);
	assert_string_equal(idp_key_kid(s2->key), kid2);
	assert_int_equal(idp_jwks_count(s2->jwks), 1);
	assert_null(idp_jwks_find(s2->jwks, kid));
	assert_int_equal(json_array_size(s2->retired), 0);
	signer_state_free(s2);

	/* state.json lost: the key is rotated (its age is unknown). */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(signer_state_load(f.c, f.c->signers[0], until * 1000,
	    &s2, &err), 0);
	assert_string_not_equal(idp_key_kid(s2->key), kid2);
	assert_non_null(idp_jwks_find(s2->jwks, kid2));
	assert_int_equal(mode_of(path), 0600);
	signer_state_free(s2);

	/* Another alg: a key of its type, and the discovery says so. */
	fx_reconfigure(&f, "[signer \"sig\"]\nissuer = https://issuer.test/\n"
	    "alg = EdDSA\n");
	assert_int_equal(signer_state_load(f.c, f.c->signers[0], until * 1000,
	    &s3, &err), 0);
	assert_int_equal(idp_key_type(s3->key), IDP_KEY_ED25519);
	assert_int_equal(idp_key_alg(s3->key), IDP_ALG_EDDSA);
	assert_non_null(strstr(s3->discovery_json, "\"EdDSA\""));
	/* An issuer with a final slash gets no second one. */
	assert_non_null(strstr(s3->discovery_json,
	    "\"https://issuer.test/jwks.json\""));
	assert_int_equal(s3->max_token_life, 0);
	signer_state_free(s3);
	signer_state_free(s);
	signer_state_free(NULL);
	fx_close(&f);
}

/* Splits a compact JWS: its header and payload as JSON text (free()). */
static void
jws_parts(const char *tok, size_t len, char **ret_hdr, char **ret_payload)
{
	const char *d1 = memchr(tok, '.', len), *d2;
	unsigned char *h, *p;
	size_t hl, pl;

	assert_non_null(d1);
	d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok));
	assert_non_null(d2);
	assert_null(memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok)));
	assert_int_equal(idp_b64url_decode_alloc(tok, (size_t)(d1 - tok), &h,
	    &hl), 0);
	assert_int_equal(idp_b64url_decode_alloc(d1 + 1, (size_t)(d2 - d1 - 1),
	    &p, &pl), 0);
	assert_int_equal(strlen((char *)h), hl);
	assert_int_equal(strlen((char *)p), pl);
	*ret_hdr = (char *)h;
	*ret_payload = (char *)p;
}

/*
 * Checks a minted token against sg's keys at now: verified, header, the
 * claims cr asks for, and token.json as json_dumps() writes the payload.
 * Returns the claims (json_decref()).
 */
static json_t *
check_token(const struct mint_result *r, const struct signer_state *sg,
    const struct cfg_cred *cr, int64_t now, int64_t backdate)
{
	const struct material_file *tf = file_of(r, "token"), *jf;
	struct idp_err err = { "" };
	struct idp_jws *jws = NULL;
	struct idp_jwt_expect want;
	char *hdr, *payload, *s;
	json_t *h, *claims;
	size_t i;

	assert_int_equal(idp_jws_verify(tf->data, tf->len, sg->jwks, &jws,
	    &err), 0);
	memset(&want, 0, sizeof(want));
	want.iss = sg->cfg->issuer;
	want.aud = cr->n_audience > 0 ? cr->audience[cr->n_audience - 1] : NULL;
	want.typ = "JWT";
	want.require_exp = 1;
	assert_int_equal(idp_jwt_check(jws, &want, now / 1000, &err), 0);
	idp_jws_free(jws);

	jws_parts(tf->data, tf->len, &hdr, &payload);
	h = json_loads(hdr, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(h);
	assert_string_equal(json_string_value(json_object_get(h, "alg")),
	    idp_alg_name(idp_key_alg(sg->key)));
	assert_string_equal(json_string_value(json_object_get(h, "typ")), "JWT");
	assert_string_equal(json_string_value(json_object_get(h, "kid")),
	    idp_key_kid(sg->key));
	assert_int_equal(json_object_size(h), 3);
	json_decref(h);

	claims = json_loads(payload, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(claims);
	/* The signed payload is jansson's compact form, in claim order. */
	s = json_dumps(claims, JSON_COMPACT);
	assert_string_equal(s, payload);
	free(s);
	assert_int_equal(strncmp(payload, "{\"iss\":", 7), 0);
	/* token.json is the same object, indented and sorted. */
	jf = file_of(r, "token.json");
	s = json_dumps(claims, JSON_INDENT(2) | JSON_SORT_KEYS);
	assert_int_equal(jf->len, strlen(s));
	assert_memory_equal(jf->data, s, jf->len);
	free(s);
	assert_int_equal(tf->mode, cr->mode);
	assert_int_equal(jf->mode, cr->mode);

	assert_string_equal(json_string_value(json_object_get(claims, "iss")),
	    sg->cfg->issuer);
	assert_string_equal(json_string_value(json_object_get(claims, "sub")),
	    cr->subject);
	assert_int_equal(json_integer_value(json_object_get(claims, "iat")),
	    (now - backdate) / 1000);
	assert_int_equal(json_integer_value(json_object_get(claims, "nbf")),
	    (now - backdate) / 1000);
	assert_int_equal(json_integer_value(json_object_get(claims, "exp")),
	    (now + cr->lifetime) / 1000);
	assert_int_equal(strlen(json_string_value(json_object_get(claims,
	    "jti"))), 22);
	if (cr->n_audience == 0) {
		assert_null(json_object_get(claims, "aud"));
	} else if (cr->n_audience == 1) {
		assert_string_equal(json_string_value(json_object_get(claims,
		    "aud")), cr->audience[0]);
	} else {
		json_t *aud = json_object_get(claims, "aud");

		assert_true(json_is_array(aud));
		assert_int_equal(json_array_size(aud), cr->n_audience);
		for (i = 0; i < cr->n_audience; i++)
			assert_string_equal(json_string_value(json_array_get(aud,
			    i)), cr->audience[i]);
	}
	if (cr->scope != NULL)
		assert_string_equal(json_string_value(json_object_get(claims,
		    "scope")), cr->scope);
	else
		assert_null(json_object_get(claims, "scope"));
	assert_int_equal(json_object_size(claims), 6 +
	    (cr->n_audience > 0) + (cr->scope != NULL));
	assert_int_equal(r->issued_at, now);
	assert_int_equal(r->not_before, (now - backdate) / 1000 * 1000);
	assert_int_equal(r->not_after, (now + cr->lifetime) / 1000 * 1000);
	assert_non_null(strstr(r->id, json_string_value(json_object_get(claims,
	    "jti"))));
	free(hdr);
	free(payload);
	return claims;
}

static void
test_jwt_claims(void **state)
{
	struct signer_state *sg = NULL;
	struct idp_err err = { "" };
	struct mint_result r;
	const char *names[] = { "tok", "one", "none" };
	json_t *claims;
	size_t i;
	struct fx f;

	(void)state;
	fx_open(&f, SIG_INI);
	assert_int_equal(signer_state_load(f.c, f.c->signers[0], NOW, &sg, &err),
	    0);
	for (i = 0; i < 3; i++) {
		const struct cfg_cred *cr = cred(&f, names[i]);

		assert_int_equal(mint_jwt(f.c, cr, sg, NOW + 1234, &r, &err), 0);
		assert_int_equal(r.n_files, 2);
		assert_string_equal(r.files[0].name, "token");
		assert_string_equal(r.files[1].name, "token.json");
		claims = check_token(&r, sg, cr, NOW + 1234, MIN);
		json_decref(claims);
		mint_result_clear(&r);
	}
	/* The defaults: 1h lifetime, mode 0600. */
	assert_int_equal(cred(&f, "none")->lifetime, HOUR);
	assert_int_equal(cred(&f, "one")->mode, 0640);
	/* A token does not verify with another signer's keys. */
	{
		struct signer_state *other = NULL;
		struct idp_jws *jws = NULL;
		struct fx g;

		fx_open(&g, SIG_INI);
		assert_int_equal(signer_state_load(g.c, g.c->signers[0], NOW,
		    &other, &err), 0);
		assert_int_equal(mint_jwt(f.c, cred(&f, "tok"), sg, NOW, &r,
		    &err), 0);
		assert_int_not_equal(idp_jws_verify(file_of(&r, "token")->data,
		    file_of(&r, "token")->len, other->jwks, &jws, &err), 0);
		mint_result_clear(&r);
		signer_state_free(other);
		fx_close(&g);
	}
	signer_state_free(sg);
	fx_close(&f);
}

static void
test_jwt_algs_and_rotation(void **state)
{
	static const struct {
		const char	*alg;
		enum idp_key_type kt;
	} t[] = {
		{ "ES384", IDP_KEY_EC_P384 },
		{ "EdDSA", IDP_KEY_ED25519 },
		{ "PS256", IDP_KEY_RSA_2048 },
	};
	struct signer_state *sg = NULL, *sg2 = NULL;
	struct idp_err err = { "" };
	struct mint_result r, r2;
	struct idp_jws *jws = NULL;
	json_t *claims;
	size_t i;
	struct fx f;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		fx_open(&f, "[signer \"sig\"]\nissuer = https://i.test\n"
		    "alg = %s\n[credential \"tok\"]\ntype = jwt\nsigner = sig\n"
		    "subject = svc\naudience = a\n", t[i].alg);
		assert_int_equal(signer_state_load(f.c, f.c->signers[0], NOW,
		    &sg, &err), 0);
		assert_int_equal(idp_key_type(sg->key), t[i].kt);
		assert_int_equal(mint_jwt(f.c, cred(&f, "tok"), sg, NOW, &r,
		    &err), 0);
		claims = check_token(&r, sg, cred(&f, "tok"), NOW, MIN);
		json_decref(claims);
		mint_result_clear(&r);
		signer_state_free(sg);
		sg = NULL;
		fx_close(&f);
	}

	/* A token of the old key still verifies after the rotation. */
	fx_open(&f, SIG_INI);
	assert_int_equal(signer_state_load(f.c, f.c->signers[0], NOW, &sg, &err),
	    0);
	assert_int_equal(mint_jwt(f.c, cred(&f, "tok"), sg, NOW, &r, &err), 0);
	assert_int_equal(signer_state_load(f.c, f.c->signers[0], NOW + DAY, &sg2,
	    &err), 0);
	assert_int_equal(mint_jwt(f.c, cred(&f, "tok"), sg2, NOW + DAY, &r2,
	    &err), 0);
	assert_int_equal(idp_jws_verify(file_of(&r, "token")->data,
	    file_of(&r, "token")->len, sg2->jwks, &jws, &err), 0);
	assert_string_equal(idp_key_kid(jws->key), idp_key_kid(sg->key));
	idp_jws_free(jws);
	claims = check_token(&r2, sg2, cred(&f, "tok"), NOW + DAY, MIN);
	json_decref(claims);
	mint_result_clear(&r);
	mint_result_clear(&r2);
	signer_state_free(sg2);
	signer_state_free(sg);
	fx_close(&f);
}

static void
test_jwt_jti_and_text(void **state)
{
	enum { N = 200 };
	static char jtis[N][32];
	static const char odd[] = "quote \" backslash \\ tab \t nl \n "
	    "ctl \x01 del \x7f \xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91 / end";
	struct signer_state *sg = NULL;
	struct idp_err err = { "" };
	struct mint_result r;
	struct cfg_cred x;
	char *big, *aud[3];
	json_t *claims;
	size_t i, j;
	struct fx f;

	(void)state;
	fx_open(&f, SIG_INI);
	assert_int_equal(signer_state_load(f.c, f.c->signers[0], NOW, &sg, &err),
	    0);
	/* jti: 22 characters of base64url, never twice (past the pool). */
	for (i = 0; i < N; i++) {
		assert_int_equal(mint_jwt(f.c, cred(&f, "none"), sg, NOW, &r,
		    &err), 0);
		claims = check_token(&r, sg, cred(&f, "none"), NOW, MIN);
		ut_snprintf(jtis[i], sizeof(jtis[i]), "%s", json_string_value(
		    json_object_get(claims, "jti")));
		assert_int_equal(strspn(jtis[i], "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz0123456789-_"), 22);
		for (j = 0; j < i; j++)
			assert_string_not_equal(jtis[i], jtis[j]);
		json_decref(claims);
		mint_result_clear(&r);
	}

	/* Text that needs escapes comes out as jansson writes it. */
	x = *cred(&f, "tok");
	x.subject = (char *)odd;
	aud[0] = (char *)odd;
	aud[1] = "b";
	aud[2] = "\"c\"";
	x.audience = aud;
	x.n_audience = 3;
	x.scope = (char *)odd;
	assert_int_equal(mint_jwt(f.c, &x, sg, NOW, &r, &err), 0);
	claims = check_token(&r, sg, &x, NOW, MIN);
	json_decref(claims);
	mint_result_clear(&r);

	/* Long values: past the stack buffer. */
	big = malloc(5001);
	assert_non_null(big);
	memset(big, 'x', 5000);
	big[5000] = '\0';
	big[17] = '"';
	x = *cred(&f, "tok");
	x.subject = big;
	assert_int_equal(mint_jwt(f.c, &x, sg, NOW, &r, &err), 0);
	claims = check_token(&r, sg, &x, NOW, MIN);
	json_decref(claims);
	mint_result_clear(&r);
	free(big);

	/* Not UTF-8: refused, nothing returned. */
	x = *cred(&f, "tok");
	x.subject = "caf\xe9";
	memset(&r, 0x5a, sizeof(r));
	assert_int_equal(mint_jwt(f.c, &x, sg, NOW, &r, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "UTF-8"));
	assert_int_equal(r.n_files, 0);
	assert_null(r.bufs[0]);
	x = *cred(&f, "tok");
	aud[0] = "ok";
	aud[1] = "\xed\xa0\x80";		/* a surrogate */
	x.audience = aud;
	x.n_audience = 2;
	assert_int_equal(mint_jwt(f.c, &x, sg, NOW, &r, &err), -EINVAL);
	x = *cred(&f, "tok");
	x.scope = "\xc0\xaf";			/* overlong */
	assert_int_equal(mint_jwt(f.c, &x, sg, NOW, &r, &err), -EINVAL);
	/* No subject, no issuer, a count without a list. */
	x = *cred(&f, "tok");
	x.subject = NULL;
	assert_int_equal(mint_jwt(f.c, &x, sg, NOW, &r, &err), -EINVAL);
	assert_int_equal(r.n_files, 0);
	x = *cred(&f, "tok");
	x.audience = NULL;
	assert_int_equal(mint_jwt(f.c, &x, sg, NOW, &r, &err), -EINVAL);
	{
		struct cfg_signer cs = *sg->cfg;
		const struct cfg_signer *keep = sg->cfg;

		cs.issuer = NULL;
		sg->cfg = &cs;
		assert_int_equal(mint_jwt(f.c, cred(&f, "tok"), sg, NOW, &r,
		    &err), -EINVAL);
		sg->cfg = keep;
	}
	signer_state_free(sg);
	fx_close(&f);
}

/* ---- secrets and oauth --------------------------------------------------- */

static void
test_secret(void **state)
{
	struct idp_secret *prev[20];
	struct idp_err err = { "" };
	struct mint_result r, r2;
	struct cfg_cred x;
	char name[16];
	size_t i, j;
	struct fx f;

	(void)state;
	fx_open(&f, "[credential \"k\"]\ntype = secret\nkeep = 3\nbytes = 48\n"
	    "lifetime = 12h\n[credential \"d\"]\ntype = secret\n"
	    "[credential \"max\"]\ntype = secret\nkeep = 16\nbytes = 4096\n"
	    "mode = 0640\n");
	/* Every slot filled from the first generation, with distinct keys. */
	assert_int_equal(mint_secret(cred(&f, "k"), NULL, 0, NOW, &r, &err), 0);
	assert_int_equal(r.n_files, 3);
	for (i = 0; i < 3; i++) {
		ut_snprintf(name, sizeof(name), "%zu.key", i);
		assert_string_equal(r.files[i].name, name);
		assert_int_equal(r.files[i].len, 48);
		assert_int_equal(r.files[i].mode, 0600);
		for (j = 0; j < i; j++)
			assert_memory_not_equal(r.files[i].data,
			    r.files[j].data, 48);
	}
	assert_int_equal(r.issued_at, NOW);
	assert_int_equal(r.not_before, NOW);
	assert_int_equal(r.not_after, NOW + 12 * HOUR);
	assert_string_equal(r.id, "3 keys");
	/* The next generation: a new 0.key, the old ones after it. */
	for (i = 0; i < 3; i++)
		assert_non_null(prev[i] = idp_secret_dup(r.files[i].data, 48));
	assert_int_equal(mint_secret(cred(&f, "k"), prev, 3, NOW + 1, &r2, &err),
	    0);
	assert_int_equal(r2.n_files, 3);
	assert_memory_not_equal(r2.files[0].data, r.files[0].data, 48);
	assert_memory_equal(r2.files[1].data, r.files[0].data, 48);
	assert_memory_equal(r2.files[2].data, r.files[1].data, 48);
	mint_result_clear(&r2);
	/* One previous key: one slot from it, the last one random. */
	assert_int_equal(mint_secret(cred(&f, "k"), prev, 1, NOW, &r2, &err), 0);
	assert_int_equal(r2.n_files, 3);
	assert_memory_equal(r2.files[1].data, prev[0]->buf, 48);
	assert_memory_not_equal(r2.files[2].data, prev[1]->buf, 48);
	assert_memory_not_equal(r2.files[2].data, prev[2]->buf, 48);
	mint_result_clear(&r2);
	mint_result_clear(&r);
	for (i = 0; i < 3; i++)
		idp_secret_free(prev[i]);

	/* Defaults: 2 keys of 32 bytes for 24h. */
	assert_int_equal(mint_secret(cred(&f, "d"), NULL, 0, NOW, &r, &err), 0);
	assert_int_equal(r.n_files, 2);
	assert_int_equal(r.files[1].len, 32);
	assert_int_equal(r.not_after, NOW + DAY);
	mint_result_clear(&r);

	/* The limits: 16 keys of 4096 bytes, more previous keys than slots. */
	for (i = 0; i < 20; i++) {
		assert_int_equal(idp_secret_random(4096, &prev[i]), 0);
	}
	assert_int_equal(mint_secret(cred(&f, "max"), prev, 20, NOW, &r, &err),
	    0);
	assert_int_equal(r.n_files, 16);
	assert_string_equal(r.files[15].name, "15.key");
	assert_int_equal(r.files[15].len, 4096);
	assert_int_equal(r.files[15].mode, 0640);
	assert_memory_equal(r.files[15].data, prev[14]->buf, 4096);
	mint_result_clear(&r);
	/* Beyond what a config allows: refused, nothing returned. */
	x = *cred(&f, "max");
	x.keep = 40;
	x.bytes = 1;
	assert_int_equal(mint_secret(&x, prev, 20, NOW, &r, &err), -E2BIG);
	assert_int_equal(r.n_files, 0);
	assert_null(r.bufs[0]);

	/* Keys from the fleet, as given. */
	assert_int_equal(mint_secret_keys(cred(&f, "k"), prev, 2, NOW, NOW + DAY,
	    &r), 0);
	assert_int_equal(r.n_files, 2);
	assert_string_equal(r.files[0].name, "0.key");
	assert_memory_equal(r.files[1].data, prev[1]->buf, 4096);
	assert_int_equal(r.not_after, NOW + DAY);
	assert_string_equal(r.id, "2 keys from the fleet");
	mint_result_clear(&r);
	assert_int_equal(mint_secret_keys(cred(&f, "k"), prev, 16, NOW,
	    NOW + DAY, &r), 0);
	assert_int_equal(r.n_files, 16);
	mint_result_clear(&r);
	memset(&r, 0x33, sizeof(r));
	assert_int_equal(mint_secret_keys(cred(&f, "k"), prev, 0, NOW, NOW, &r),
	    -EINVAL);
	assert_int_equal(r.n_files, 0);
	assert_true(mint_secret_keys(cred(&f, "k"), prev, 17, NOW, NOW, &r) < 0);
	assert_int_equal(r.n_files, 0);
	assert_null(r.bufs[0]);
	assert_int_equal(mint_secret_keys(cred(&f, "k"), prev, 20, NOW, NOW, &r),
	    -EINVAL);
	for (i = 0; i < 20; i++)
		idp_secret_free(prev[i]);
	fx_close(&f);
}

static struct idp_token *
token_of(const char *json)
{
	struct idp_token *t = NULL;
	struct idp_err err = { "" };

	if (idp_token_parse(200, json, strlen(json), &t, &err) != 0)
		fail_msg("%s: %s", json, err.msg);
	return t;
}

static void
test_oauth(void **state)
{
	struct idp_err err = { "" };
	struct mint_result r;
	struct idp_token *t;
	unsigned char md[32];
	char hex[65], *jwt, *json;
	struct idp_key *k = NULL;
	size_t len;
	struct fx f;

	(void)state;
	fx_open(&f, "[issuer \"i\"]\nurl = https://idp.test\nclient_id = c\n"
	    "client_secret = s\n[credential \"o\"]\ntype = oauth\nissuer = i\n"
	    "mode = 0640\n");
	/* expires_in decides; the files are the token and the response. */
	t = token_of("{\"access_token\":\"opaque-Token-1\",\"token_type\":"
	    "\"Bearer\",\"expires_in\":300,\"refresh_token\":\"R\"}");
	assert_int_equal(mint_oauth(cred(&f, "o"), t, NOW, &r, &err), 0);
	assert_int_equal(r.n_files, 2);
	assert_string_equal(r.files[0].name, "token");
	assert_int_equal(r.files[0].len, 14);
	assert_memory_equal(r.files[0].data, "opaque-Token-1", 14);
	assert_string_equal(r.files[1].name, "token.json");
	assert_int_equal(r.files[1].len, strlen(t->json));
	assert_null(memmem(r.files[1].data, r.files[1].len, "refresh", 7));
	assert_int_equal(r.files[0].mode, 0640);
	assert_int_equal(r.not_before, NOW);
	assert_int_equal(r.not_after, NOW + 300 * 1000);
	/* Logs name it by a fingerprint, never by its value. */
	assert_int_equal(idp_sha256("opaque-Token-1", 14, md), 0);
	hex_of(md, 8, hex);
	assert_string_equal(r.id + 7, hex);
	assert_null(strstr(r.id, "opaque"));
	mint_result_clear(&r);
	idp_token_free(t);

	/* Without expires_in, a JWT's exp. */
	assert_int_equal(idp_key_generate(IDP_KEY_EC_P256, &k), 0);
	{
		char claims[128];

		ut_snprintf(claims, sizeof(claims), "{\"exp\":%lld}",
		    (long long)(NOW / 1000 + 600));
		assert_int_equal(idp_jws_sign(k, "JWT", claims, strlen(claims),
		    &jwt, &len), 0);
	}
	json = ut_asprintf("{\"access_token\":\"%s\",\"token_type\":\"Bearer\"}",
	    jwt);
	t = token_of(json);
	assert_int_equal(mint_oauth(cred(&f, "o"), t, NOW, &r, &err), 0);
	assert_int_equal(r.not_after, NOW + 600 * 1000);
	mint_result_clear(&r);
	/* An exp already past: refused. */
	assert_int_equal(mint_oauth(cred(&f, "o"), t, NOW + 600 * 1000, &r,
	    &err), -EPROTO);
	assert_non_null(strstr(err.msg, "expired"));
	assert_int_equal(r.n_files, 0);
	idp_token_free(t);
	free(json);
	free(jwt);
	idp_key_free(k);
	/* Nothing about its lifetime: refused. */
	t = token_of("{\"access_token\":\"x\",\"token_type\":\"Bearer\"}");
	assert_int_equal(mint_oauth(cred(&f, "o"), t, NOW, &r, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "neither expires_in nor a JWT exp"));
	assert_int_equal(r.n_files, 0);
	idp_token_free(t);
	fx_close(&f);
}

/* ---- spec, helpers ------------------------------------------------------- */

static void
test_spec(void **state)
{
	static const char *const variants[] = {
		"common_name = other\n",
		"dns = a.test, c.test\n",
		"dns = a.test\n",
		"dns = a.test, b.test, c.test\n",
		"ip = 192.0.2.1\n",
		"uri = spiffe://t/x\n",
		"lifetime = 23h\n",
		"key_type = ec-p384\n",
		"usage = client\n",
		"mode = 0640\n",
	};
	struct cfg_cred x;
	char base[65], again[65], spec[65], seen[16][65], *names[3];
	size_t i, j;
	struct fx f;

	(void)state;
	fx_open(&f, CA_INI "[credential \"w\"]\ntype = x509\nca = int\n"
	    "common_name = w\ndns = a.test, b.test\n");
	mint_spec(cred(&f, "w"), "fp1", base);
	assert_int_equal(strlen(base), 64);
	assert_int_equal(strspn(base, "0123456789abcdef"), 64);
	mint_spec(cred(&f, "w"), "fp1", again);
	assert_string_equal(base, again);
	/* Another CA or signer: another spec. */
	mint_spec(cred(&f, "w"), "fp2", spec);
	assert_string_not_equal(spec, base);
	mint_spec(cred(&f, "w"), NULL, spec);
	assert_string_not_equal(spec, base);
	/* Each setting that shapes the content changes it. */
	for (i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		fx_reconfigure(&f, CA_INI "[credential \"w\"]\ntype = x509\n"
		    "ca = int\n%s%s%s", strncmp(variants[i], "common_name",
		    11) == 0 ? "" : "common_name = w\n", strncmp(variants[i],
		    "dns", 3) == 0 ? "" : "dns = a.test, b.test\n", variants[i]);
		mint_spec(cred(&f, "w"), "fp1", seen[i]);
		if (strcmp(seen[i], base) == 0)
			fail_msg("spec unchanged by %s", variants[i]);
		for (j = 0; j < i; j++)
			assert_string_not_equal(seen[i], seen[j]);
	}
	/* A name moved from one list to another, or split, is another spec. */
	fx_reconfigure(&f, CA_INI "[credential \"w\"]\ntype = x509\nca = int\n"
	    "common_name = w\ndns = a.test, b.test\n");
	x = *cred(&f, "w");
	names[0] = "a.test";
	names[1] = "b.test";
	x.dns = names;
	x.n_dns = 2;
	mint_spec(&x, "fp1", spec);
	assert_string_equal(spec, base);
	x.n_dns = 1;
	x.uri = names + 1;
	x.n_uri = 1;
	mint_spec(&x, "fp1", spec);
	assert_string_not_equal(spec, base);
	names[2] = "a.testb.test";
	x = *cred(&f, "w");
	x.dns = names + 2;
	x.n_dns = 1;
	mint_spec(&x, "fp1", spec);
	assert_string_not_equal(spec, base);
	/* jwt settings: subject, audience, scope. */
	fx_reconfigure(&f, SIG_INI);
	mint_spec(cred(&f, "tok"), "fp1", base);
	x = *cred(&f, "tok");
	x.subject = "other";
	mint_spec(&x, "fp1", spec);
	assert_string_not_equal(spec, base);
	x = *cred(&f, "tok");
	x.n_audience = 1;
	mint_spec(&x, "fp1", spec);
	assert_string_not_equal(spec, base);
	x = *cred(&f, "tok");
	x.scope = NULL;
	mint_spec(&x, "fp1", spec);
	assert_string_not_equal(spec, base);
	/* What does not shape the content leaves it. */
	x = *cred(&f, "tok");
	x.renew_at = 0.5;
	x.jitter = 0;
	x.line = 99;
	mint_spec(&x, "fp1", spec);
	assert_string_equal(spec, base);
	fx_close(&f);
}

static void
test_mkdirs_and_leaf_info(void **state)
{
	char *dir, path[4096], sha[65], serial[64], *long_path;
	mode_t um;
	int64_t na = 1;

	(void)state;
	dir = ut_tmpdir("test-mint-dirs", 0);
	assert_non_null(dir);
	/* Missing parents made; the last one gets exactly mode, any umask. */
	um = umask(077);
	ut_snprintf(path, sizeof(path), "%s/a/b/c", dir);
	assert_int_equal(mint_mkdirs(path, 0755), 0);
	assert_int_equal(mode_of(path), 0755);
	assert_int_equal(mint_mkdirs(path, 0755), 0);	/* exists: fine */
	ut_snprintf(path, sizeof(path), "%s/a/b/c/", dir);
	assert_int_equal(mint_mkdirs(path, 0700), 0);
	umask(um);
	/* A file in the way of a parent. */
	ut_snprintf(path, sizeof(path), "%s/file", dir);
	ut_write_file(path, "x", 1, 0600);
	ut_snprintf(path, sizeof(path), "%s/file/sub", dir);
	assert_int_equal(mint_mkdirs(path, 0700), -ENOTDIR);
	ut_snprintf(path, sizeof(path), "%s/file", dir);
	assert_int_equal(mint_mkdirs(path, 0700), -ENOTDIR);
	/* Too long for its buffer. */
	long_path = malloc(5000);
	assert_non_null(long_path);
	memset(long_path, 'a', 4999);
	long_path[0] = '/';
	long_path[4999] = '\0';
	assert_int_equal(mint_mkdirs(long_path, 0700), -ENAMETOOLONG);
	free(long_path);
	assert_int_equal(ut_rm_rf(dir), 0);
	free(dir);

	/* mint_leaf_info: not PEM, not a certificate. */
	assert_true(mint_leaf_info("", 0, sha, serial, &na) < 0);
	assert_true(mint_leaf_info("-----BEGIN CERTIFICATE-----\nAAAA\n"
	    "-----END CERTIFICATE-----\n", 58, sha, serial, &na) < 0);
	assert_int_equal(na, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ca_create_reload),
		cmocka_unit_test(test_ca_rollover),
		cmocka_unit_test(test_ca_bad_state),
		cmocka_unit_test(test_ca_imported),
		cmocka_unit_test(test_x509_leaf),
		cmocka_unit_test(test_x509_errors),
		cmocka_unit_test(test_signer_state),
		cmocka_unit_test(test_jwt_claims),
		cmocka_unit_test(test_jwt_algs_and_rotation),
		cmocka_unit_test(test_jwt_jti_and_text),
		cmocka_unit_test(test_secret),
		cmocka_unit_test(test_oauth),
		cmocka_unit_test(test_spec),
		cmocka_unit_test(test_mkdirs_and_leaf_info),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
