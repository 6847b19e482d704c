/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench: one timed loop of one of rotatord's hot paths, or of the bare
 * baseline it is compared with (README.md, Performance).  run.py interleaves
 * the runs and prints medians and ratios; this program only measures.
 *
 *   bench MODE SECONDS     prints "MODE OPS_PER_SECOND"
 *
 * Modes, each one operation per iteration:
 *   jwt-mint      mint_jwt(): claims with fresh iat/exp/jti, ES256 sign,
 *                 token.json, result buffers (rotatord's path)
 *   jwt-verify    idp_jws_verify() + idp_jwt_check() of one token against
 *                 a key set parsed once from the signer's jwks.json
 *   x509-mint     mint_x509(): P-256 key, leaf from a P-256 CA with DNS, IP
 *                 and URI SANs, cert and PKCS#8 PEM, the six result files
 *   x509-bare     the same certificate with plain OpenSSL calls: reused
 *                 keygen context, SPKI from the encoded point, X509_sign,
 *                 PEM of the cert and the PKCS#8 key
 *   publish       sink_publish() of an x509 file set on tmpfs, content
 *                 changing every time (so every publish writes)
 *   publish-bare  mkdir a generation, write the files and a small
 *                 meta.json, swap "..data", prune beyond two kept
 *
 * Everything lives in a fresh directory under /dev/shm, removed at exit.
 * The process runs with umask 077, as rotatord does (main.c).  Exit status
 * is non-zero only when an operation fails: a slow result is not an error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <idp/jwk.h>
#include <idp/jwt.h>
#include <idp/x509.h>

#include "config/config.h"
#include "core/log.h"
#include "sinks/sink.h"
#include "sources/mint.h"

#define SAN_DNS		"web.bench.example"
#define SAN_IP		"127.0.0.1"
#define SAN_URI		"spiffe://bench.example/ns/default/sa/web"
#define ISSUER		"https://rotatord.bench.example"
#define AUDIENCE	"demo"

static char root[256];

static void
die(const char *what, const char *why)
{
	fprintf(stderr, "bench: %s: %s\n", what, why);
	exit(2);
}

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void
cleanup(void)
{
	if (root[0] != '\0')
		nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- rotatord state: config, CA, signer -------------------------------- */

struct env {
	struct config		*cfg;
	struct ca_state		*ca;
	struct signer_state	*sg;
	const struct cfg_cred	*x509;
	const struct cfg_cred	*jwt;
};

static void
env_setup(struct env *e)
{
	char ini[2048];
	struct idp_err err;
	int n, rc;

	err.msg[0] = '\0';
	n = snprintf(ini, sizeof(ini),
	    "[rotatord]\n"
	    "output_dir = %s/out\n"
	    "state_dir = %s/state\n"
	    "log_level = warning\n"
	    "[ca \"bench\"]\n"
	    "[signer \"bench\"]\n"
	    "issuer = " ISSUER "\n"
	    "[credential \"web\"]\n"
	    "type = x509\n"
	    "ca = bench\n"
	    "dns = " SAN_DNS "\n"
	    "ip = " SAN_IP "\n"
	    "uri = " SAN_URI "\n"
	    "lifetime = 24h\n"
	    "[credential \"tok\"]\n"
	    "type = jwt\n"
	    "signer = bench\n"
	    "subject = spiffe://bench.example/ns/default/sa/svc\n"
	    "audience = " AUDIENCE "\n"
	    "scope = read write\n"
	    "lifetime = 1h\n", root, root);
	if (n < 0 || (size_t)n >= sizeof(ini))
		die("config", "too long");
	if (config_load_buf("bench.ini", ini, (size_t)n, stderr, &e->cfg) < 0)
		die("config", "does not load");
	log_setup(e->cfg->log_level, 0);
	if ((rc = mint_mkdirs(e->cfg->state_dir, 0700)) < 0)
		die("state_dir", strerror(-rc));
	if ((rc = ca_state_load(e->cfg, e->cfg->cas[0], wall_ms(), &e->ca,
	    &err)) < 0)
		die("ca_state_load", err.msg);
	if ((rc = signer_state_load(e->cfg, e->cfg->signers[0], wall_ms(),
	    &e->sg, &err)) < 0)
		die("signer_state_load", err.msg);
	e->x509 = config_find_cred(e->cfg, "web");
	e->jwt = config_find_cred(e->cfg, "tok");
	if (e->x509 == NULL || e->jwt == NULL)
		die("config", "credentials missing");
}

/* ---- rotatord paths ------------------------------------------------------ */

static void
op_jwt_mint(void *arg)
{
	struct env *e = arg;
	struct mint_result r;
	struct idp_err err;

	if (mint_jwt(e->cfg, e->jwt, e->sg, wall_ms(), &r, &err) < 0)
		die("mint_jwt", err.msg);
	mint_result_clear(&r);
}

struct verify {
	struct idp_jwks		*keys;
	char			*tok;
	size_t			 len;
	struct idp_jwt_expect	 exp;
};

static void
op_jwt_verify(void *arg)
{
	struct verify *v = arg;
	struct idp_jws *t = NULL;
	struct idp_err err;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (idp_jws_verify(v->tok, v->len, v->keys, &t, &err) < 0 ||
	    idp_jwt_check(t, &v->exp, ts.tv_sec, &err) < 0)
		die("verify", err.msg);
	idp_jws_free(t);
}

static void
verify_setup(struct env *e, struct verify *v)
{
	struct mint_result r;
	struct idp_err err;
	size_t i;

	if (mint_jwt(e->cfg, e->jwt, e->sg, wall_ms(), &r, &err) < 0)
		die("mint_jwt", err.msg);
	for (i = 0; i < r.n_files; i++)
		if (strcmp(r.files[i].name, "token") == 0) {
			v->len = r.files[i].len;
			v->tok = strndup(r.files[i].data, v->len);
		}
	mint_result_clear(&r);
	if (v->tok == NULL)
		die("mint_jwt", "no token");
	if (idp_jwks_parse(e->sg->jwks_json, e->sg->jwks_len, 16, &v->keys,
	    &err) < 0)
		die("idp_jwks_parse", err.msg);
	memset(&v->exp, 0, sizeof(v->exp));
	v->exp.iss = ISSUER;
	v->exp.aud = AUDIENCE;
	v->exp.leeway = 60;
	v->exp.require_exp = 1;
}

static void
op_x509_mint(void *arg)
{
	struct env *e = arg;
	struct mint_result r;
	struct idp_err err;

	if (mint_x509(e->cfg, e->x509, e->ca, wall_ms(), &r, &err) < 0)
		die("mint_x509", err.msg);
	mint_result_clear(&r);
}

/* ---- bare OpenSSL certificate mint --------------------------------------- */

struct bare_x509 {
	EVP_PKEY_CTX	*kctx;
	EVP_PKEY	*ca_pkey;
	X509		*ca_x;
	EVP_MD		*sha1;
	EVP_MD		*sha256;
	unsigned char	 ca_ski[64];
	int		 ca_ski_len;
	unsigned char	 ip[4];
};

static void
bare_x509_setup(struct env *e, struct bare_x509 *b)
{
	const ASN1_OCTET_STRING *ski;

	b->kctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (b->kctx == NULL || EVP_PKEY_keygen_init(b->kctx) != 1 ||
	    EVP_PKEY_CTX_set_group_name(b->kctx, "P-256") != 1)
		die("bare", "keygen context");
	b->ca_pkey = idp_key_evp(e->ca->key);
	b->ca_x = idp_cert_x509(e->ca->cert);
	b->sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
	b->sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
	ski = X509_get0_subject_key_id(b->ca_x);
	if (b->sha1 == NULL || b->sha256 == NULL || ski == NULL ||
	    ASN1_STRING_length(ski) > (int)sizeof(b->ca_ski))
		die("bare", "setup");
	b->ca_ski_len = ASN1_STRING_length(ski);
	memcpy(b->ca_ski, ASN1_STRING_get0_data(ski), (size_t)b->ca_ski_len);
	if (inet_pton(AF_INET, SAN_IP, b->ip) != 1)
		die("bare", "ip");
}

static void
bare_push(GENERAL_NAMES *gens, int type, const void *p, int n)
{
	GENERAL_NAME *g = GENERAL_NAME_new();
	ASN1_STRING *s = type == GEN_IPADD ? ASN1_OCTET_STRING_new() :
	    ASN1_IA5STRING_new();

	if (g == NULL || s == NULL || ASN1_STRING_set(s, p, n) != 1)
		die("bare", "SAN");
	GENERAL_NAME_set0_value(g, type, s);
	if (sk_GENERAL_NAME_push(gens, g) <= 0)
		die("bare", "SAN");
}

static void
op_x509_bare(void *arg)
{
	struct bare_x509 *b = arg;
	unsigned char pt[65], serial[16], ski[EVP_MAX_MD_SIZE], *penc;
	unsigned int skilen;
	size_t n = 0;
	EVP_PKEY *pk = NULL;
	X509 *x;
	BASIC_CONSTRAINTS *bc;
	ASN1_BIT_STRING *ku;
	EXTENDED_KEY_USAGE *eku;
	GENERAL_NAMES *gens;
	ASN1_OCTET_STRING *os;
	AUTHORITY_KEYID *akid;
	BIO *cb, *kb;
	char *p;
	time_t now = time(NULL);

	if (EVP_PKEY_generate(b->kctx, &pk) != 1 || (x = X509_new()) == NULL)
		die("bare", "keygen");
	if (RAND_bytes(serial, sizeof(serial)) != 1)
		die("bare", "rand");
	serial[0] = (serial[0] & 0x7f) | 0x01;
	if (X509_set_version(x, X509_VERSION_3) != 1 ||
	    ASN1_STRING_set(X509_get_serialNumber(x), serial,
	    sizeof(serial)) != 1 ||
	    X509_set_issuer_name(x, X509_get_subject_name(b->ca_x)) != 1 ||
	    ASN1_TIME_set(X509_getm_notBefore(x), now - 60) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), now + 86400) == NULL)
		die("bare", "fields");
	if (EVP_PKEY_get_octet_string_param(pk,
	    OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt, sizeof(pt), &n) != 1 ||
	    (penc = OPENSSL_memdup(pt, n)) == NULL ||
	    X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x),
	    OBJ_nid2obj(NID_X9_62_id_ecPublicKey), V_ASN1_OBJECT,
	    OBJ_nid2obj(NID_X9_62_prime256v1), penc, (int)n) != 1)
		die("bare", "SPKI");

	bc = BASIC_CONSTRAINTS_new();
	if (bc == NULL || X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1,
	    X509V3_ADD_APPEND) != 1)
		die("bare", "BC");
	BASIC_CONSTRAINTS_free(bc);
	ku = ASN1_BIT_STRING_new();
	if (ku == NULL || ASN1_BIT_STRING_set_bit(ku, 0, 1) != 1 ||
	    X509_add1_ext_i2d(x, NID_key_usage, ku, 1, X509V3_ADD_APPEND) != 1)
		die("bare", "KU");
	ASN1_BIT_STRING_free(ku);
	eku = sk_ASN1_OBJECT_new_null();
	if (eku == NULL ||
	    sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_server_auth)) <= 0 ||
	    X509_add1_ext_i2d(x, NID_ext_key_usage, eku, 0,
	    X509V3_ADD_APPEND) != 1)
		die("bare", "EKU");
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	if ((gens = sk_GENERAL_NAME_new_null()) == NULL)
		die("bare", "SAN");
	bare_push(gens, GEN_DNS, SAN_DNS, (int)strlen(SAN_DNS));
	bare_push(gens, GEN_IPADD, b->ip, 4);
	bare_push(gens, GEN_URI, SAN_URI, (int)strlen(SAN_URI));
	/* No subject: the SAN is critical (RFC 5280 4.2.1.6). */
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 1,
	    X509V3_ADD_APPEND) != 1)
		die("bare", "SAN");
	GENERAL_NAMES_free(gens);
	if (EVP_Digest(pt, n, ski, &skilen, b->sha1, NULL) != 1 ||
	    (os = ASN1_OCTET_STRING_new()) == NULL ||
	    ASN1_OCTET_STRING_set(os, ski, (int)skilen) != 1 ||
	    X509_add1_ext_i2d(x, NID_subject_key_identifier, os, 0,
	    X509V3_ADD_APPEND) != 1)
		die("bare", "SKI");
	ASN1_OCTET_STRING_free(os);
	if ((akid = AUTHORITY_KEYID_new()) == NULL ||
	    (akid->keyid = ASN1_OCTET_STRING_new()) == NULL ||
	    ASN1_OCTET_STRING_set(akid->keyid, b->ca_ski, b->ca_ski_len) != 1 ||
	    X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 0,
	    X509V3_ADD_APPEND) != 1)
		die("bare", "AKI");
	AUTHORITY_KEYID_free(akid);
	if (X509_sign(x, b->ca_pkey, b->sha256) <= 0)
		die("bare", "sign");

	cb = BIO_new(BIO_s_mem());
	kb = BIO_new(BIO_s_mem());
	if (cb == NULL || kb == NULL || PEM_write_bio_X509(cb, x) != 1 ||
	    PEM_write_bio_PKCS8PrivateKey(kb, pk, NULL, NULL, 0, NULL,
	    NULL) != 1 || BIO_get_mem_data(cb, &p) <= 0 ||
	    BIO_get_mem_data(kb, &p) <= 0)
		die("bare", "PEM");
	BIO_free(cb);
	BIO_free(kb);
	X509_free(x);
	EVP_PKEY_free(pk);
}

/* ---- publish ------------------------------------------------------------- */

enum { F_CERT, F_CHAIN, F_FULL, F_KEY, F_BUNDLE, F_CA, N_FILES };

struct pub {
	struct sink	*sink;
	struct material_file f[N_FILES];
	struct material_meta meta;
	char		*cert, *key, *bundle, *ca;
	size_t		 cert_len, key_len, ca_len;
	uint64_t	 counter;
	/* bare */
	int		 cfd;
	int		 linked;
	char		 gens[4][64];	/* ring: newest first */
	int		 n_gens;
};

/* The six files of an x509 credential, as mint_x509() makes them. */
static void
pub_setup(struct env *e, struct pub *p)
{
	static const char *const names[N_FILES] = {
		"cert.pem", "chain.pem", "fullchain.pem", "key.pem",
		"bundle.pem", "ca.pem",
	};
	struct mint_result r;
	struct idp_err err;
	char spec[65];
	size_t i;
	int rc;

	memset(p, 0, sizeof(*p));
	if (mint_x509(e->cfg, e->x509, e->ca, wall_ms(), &r, &err) < 0)
		die("mint_x509", err.msg);
	if (r.n_files != N_FILES)
		die("mint_x509", "unexpected file set");
	for (i = 0; i < N_FILES; i++) {
		if (strcmp(r.files[i].name, names[i]) != 0)
			die("mint_x509", "unexpected file name");
		p->f[i] = r.files[i];
		p->f[i].name = names[i];
		p->f[i].data = NULL;
	}
	p->cert_len = r.files[F_CERT].len;
	p->key_len = r.files[F_KEY].len;
	p->ca_len = r.files[F_CA].len;
	p->cert = malloc(p->cert_len);
	p->key = malloc(p->key_len);
	p->bundle = malloc(p->key_len + p->cert_len);
	p->ca = malloc(p->ca_len);
	if (p->cert == NULL || p->key == NULL || p->bundle == NULL ||
	    p->ca == NULL)
		die("publish", "out of memory");
	memcpy(p->cert, r.files[F_CERT].data, p->cert_len);
	memcpy(p->key, r.files[F_KEY].data, p->key_len);
	memcpy(p->ca, r.files[F_CA].data, p->ca_len);
	mint_result_clear(&r);
	p->f[F_CERT].data = p->cert;
	p->f[F_CHAIN].data = "";
	p->f[F_FULL].data = p->cert;
	p->f[F_KEY].data = p->key;
	p->f[F_BUNDLE].data = p->bundle;
	p->f[F_BUNDLE].len = p->key_len + p->cert_len;
	p->f[F_CA].data = p->ca;
	mint_spec(e->x509, e->ca->sha256, spec);
	p->meta.name = "web";
	p->meta.type = "x509";
	p->meta.spec = strdup(spec);
	if ((rc = sink_open(e->cfg->output_dir, e->cfg->state_dir,
	    &p->sink)) < 0)
		die("sink_open", strerror(-rc));
	p->cfd = -1;
}

/* New content: a counter written over base64 of the cert and the key. */
static void
pub_next(struct pub *p)
{
	char tag[17];
	int64_t now = wall_ms() / 1000;

	p->counter++;
	snprintf(tag, sizeof(tag), "%016llx", (unsigned long long)p->counter);
	memcpy(p->cert + 64, tag, 16);
	memcpy(p->key + 64, tag, 16);
	memcpy(p->bundle, p->key, p->key_len);
	memcpy(p->bundle + p->key_len, p->cert, p->cert_len);
	p->meta.issued_at = now;
	p->meta.not_before = now - 60;
	p->meta.not_after = now + 86400;
	p->meta.renew_at = now + 57600;
}

static void
op_publish(void *arg)
{
	struct pub *p = arg;
	int rc;

	pub_next(p);
	rc = sink_publish(p->sink, "web", p->f, N_FILES, &p->meta, (uid_t)-1,
	    (gid_t)-1, 0755, NULL);
	if (rc != 1)
		die("sink_publish", rc < 0 ? strerror(-rc) : "nothing written");
}

static void
xwrite(int dfd, const char *name, const void *data, size_t len, mode_t mode)
{
	int fd;

	fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, mode);
	if (fd < 0 || (len > 0 && write(fd, data, len) != (ssize_t)len) ||
	    close(fd) < 0)
		die("bare publish", strerror(errno));
}

static void
op_publish_bare(void *arg)
{
	struct pub *p = arg;
	struct timespec ts;
	struct tm tm;
	char meta[256], target[320];
	int gfd, n, i;

	pub_next(p);
	if (p->cfd < 0) {
		snprintf(target, sizeof(target), "%s/bare", root);
		if (mkdir(target, 0755) < 0 && errno != EEXIST)
			die("bare publish", strerror(errno));
		p->cfd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (p->cfd < 0)
			die("bare publish", strerror(errno));
	}
	/* A new generation directory, named by the time. */
	memmove(p->gens[1], p->gens[0], 3 * sizeof(p->gens[0]));
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(p->gens[0], sizeof(p->gens[0]),
	    "..%04d_%02d_%02d_%02d_%02d_%02d.%09ld", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    ts.tv_nsec);
	if (mkdirat(p->cfd, p->gens[0], 0755) < 0 ||
	    (gfd = openat(p->cfd, p->gens[0], O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) < 0)
		die("bare publish", strerror(errno));
	for (i = 0; i < N_FILES; i++)
		xwrite(gfd, p->f[i].name, p->f[i].data, p->f[i].len,
		    p->f[i].mode);
	n = snprintf(meta, sizeof(meta), "{\"name\":\"web\",\"type\":\"x509\","
	    "\"generation\":%llu,\"issued_at\":%lld,\"not_after\":%lld}\n",
	    (unsigned long long)p->counter, (long long)p->meta.issued_at,
	    (long long)p->meta.not_after);
	xwrite(gfd, "meta.json", meta, (size_t)n, 0644);
	close(gfd);
	/* The atomic step. */
	if (symlinkat(p->gens[0], p->cfd, "..data_tmp") < 0 ||
	    renameat(p->cfd, "..data_tmp", p->cfd, "..data") < 0)
		die("bare publish", strerror(errno));
	if (!p->linked) {
		for (i = 0; i < N_FILES; i++) {
			snprintf(target, sizeof(target), "..data/%s",
			    p->f[i].name);
			if (symlinkat(target, p->cfd, p->f[i].name) < 0)
				die("bare publish", strerror(errno));
		}
		p->linked = 1;
	}
	/* Keep the current generation and two before it. */
	if (++p->n_gens > 3) {
		if ((gfd = openat(p->cfd, p->gens[3], O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC)) < 0)
			die("bare publish", strerror(errno));
		for (i = 0; i < N_FILES; i++)
			unlinkat(gfd, p->f[i].name, 0);
		unlinkat(gfd, "meta.json", 0);
		close(gfd);
		if (unlinkat(p->cfd, p->gens[3], AT_REMOVEDIR) < 0)
			die("bare publish", strerror(errno));
		p->n_gens = 3;
	}
}

/* ---- driver -------------------------------------------------------------- */

/* Runs op for secs after a short warm-up; returns operations per second. */
static double
run(void (*op)(void *), void *arg, double secs)
{
	double t0, t;
	unsigned long n = 0;
	int i;

	for (i = 0; i < 20; i++)
		op(arg);
	t0 = mono();
	do {
		op(arg);
		n++;
	} while ((t = mono()) - t0 < secs);
	return (double)n / (t - t0);
}

int
main(int argc, char *argv[])
{
	struct env e;
	struct verify v;
	struct bare_x509 b;
	struct pub p;
	const char *mode;
	double secs, ops;

	if (argc != 3 || (secs = atof(argv[2])) <= 0) {
		fprintf(stderr, "usage: bench MODE SECONDS\n");
		return 64;
	}
	mode = argv[1];
	umask(077);
	snprintf(root, sizeof(root), "%s/rotatord-bench.XXXXXX",
	    access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (mkdtemp(root) == NULL)
		die("mkdtemp", strerror(errno));
	atexit(cleanup);
	memset(&e, 0, sizeof(e));
	env_setup(&e);

	if (strcmp(mode, "jwt-mint") == 0)
		ops = run(op_jwt_mint, &e, secs);
	else if (strcmp(mode, "jwt-verify") == 0) {
		memset(&v, 0, sizeof(v));
		verify_setup(&e, &v);
		ops = run(op_jwt_verify, &v, secs);
	} else if (strcmp(mode, "x509-mint") == 0)
		ops = run(op_x509_mint, &e, secs);
	else if (strcmp(mode, "x509-bare") == 0) {
		memset(&b, 0, sizeof(b));
		bare_x509_setup(&e, &b);
		ops = run(op_x509_bare, &b, secs);
	} else if (strcmp(mode, "publish") == 0) {
		pub_setup(&e, &p);
		ops = run(op_publish, &p, secs);
	} else if (strcmp(mode, "publish-bare") == 0) {
		pub_setup(&e, &p);
		ops = run(op_publish_bare, &p, secs);
	} else {
		fprintf(stderr, "bench: unknown mode %s\n", mode);
		return 64;
	}
	printf("%s %.1f\n", mode, ops);

	/* Freed so that a sanitizer build reports only per-operation leaks. */
	if (strcmp(mode, "jwt-verify") == 0) {
		idp_jwks_free(v.keys);
		free(v.tok);
	} else if (strcmp(mode, "x509-bare") == 0) {
		EVP_PKEY_CTX_free(b.kctx);
		EVP_MD_free(b.sha1);
		EVP_MD_free(b.sha256);
	} else if (strncmp(mode, "publish", 7) == 0) {
		sink_close(p.sink);
		if (p.cfd >= 0)
			close(p.cfd);
		free(p.cert);
		free(p.key);
		free(p.bundle);
		free(p.ca);
		free((char *)p.meta.spec);
	}
	ca_state_free(e.ca);
	signer_state_free(e.sg);
	config_free(e.cfg);
	return 0;
}
