/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sources/: where material comes from (the local CAs and signers, minting,
 * upstream OIDC/OAuth issuers).  Must not include sinks/, api/ or fleet/.
 */
/*
 * CA and signer state in state_dir, and the material of each credential.
 *
 * state_dir/ca/NAME/{cert.pem,key.pem,previous.pem}
 * state_dir/signer/NAME/{key.pem,state.json}
 *
 * Key files are created 0600 with O_EXCL under a temporary name, written,
 * fsynced and renamed into place, so a crash leaves the old key or the new
 * one, never a torn file.
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

#define STATE_MAX_FILE	(256 * 1024)

int
mint_mkdirs(const char *path, mode_t mode)
{
	char buf[4096], *p;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	/*
	 * The last one gets exactly mode when rotatord makes it: rotatord runs
	 * with umask 077, and an output_dir of 0700 would lock nginx out.
	 */
	if (mkdir(buf, mode) == 0)
		return chmod(buf, mode) < 0 ? -errno : 0;
	if (errno != EEXIST)
		return -errno;
	return 0;
}

/*
 * Atomically replaces dir/name with len bytes of data, created with mode
 * before any byte is written.  Returns 0 or -errno.
 */
static int
state_write(const char *dir, const char *name, const void *data, size_t len,
    mode_t mode)
{
	char tmp[64];
	const char *p = data;
	int dfd, fd = -1, rc = 0;
	ssize_t n;

	if ((dfd = open(dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
	unlinkat(dfd, tmp, 0);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, mode);
	if (fd < 0 || fchmod(fd, mode) < 0) {
		rc = -errno;
		goto out;
	}
	while (len > 0) {
		if ((n = write(fd, p, len)) < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			goto out;
		}
		p += n;
		len -= n;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		rc = -errno;
		goto out;
	}
	fd = -1;
	if (renameat(dfd, tmp, dfd, name) < 0) {
		rc = -errno;
		goto out;
	}
	fsync(dfd);
out:
	if (fd >= 0) {
		close(fd);
		unlinkat(dfd, tmp, 0);
	}
	close(dfd);
	return rc;
}

/* Reads path into a secret; -ENOENT when absent. */
static int
state_read(const char *path, int strict, struct idp_secret **ret,
    struct idp_err *err)
{
	return idp_secret_read_file(path, STATE_MAX_FILE,
	    strict ? IDP_SECRET_STRICT_MODE : 0, ret, err);
}

static void
hexify(const unsigned char *md, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* ---- CA ---------------------------------------------------------------- */

void
ca_state_free(struct ca_state *s)
{
	if (s == NULL)
		return;
	idp_key_free(s->key);
	idp_cert_free(s->cert);
	free(s->trust_pem);
	free(s);
}

/* Creates a new CA key and certificate and stores them in dir. */
static int
ca_create(const struct cfg_ca *ca, const char *dir, int64_t now,
    struct idp_key **ret_key, struct idp_cert **ret_cert, struct idp_err *err)
{
	struct idp_key *key = NULL;
	struct idp_cert *cert = NULL;
	struct idp_secret *kpem = NULL;
	char *cpem = NULL, cn[128];
	size_t clen;
	int rc;

	if (ca->common_name != NULL)
		snprintf(cn, sizeof(cn), "%s", ca->common_name);
	else
		snprintf(cn, sizeof(cn), "rotatord %s CA", ca->name);
	if ((rc = idp_key_generate(ca->key_type, &key)) < 0) {
		idp_err_set(err, rc, "cannot generate CA key");
		goto out;
	}
	/* A CA is backdated an hour: hosts with slow clocks still accept it. */
	if ((rc = idp_cert_ca_create(key, cn, now / 1000 - 3600,
	    (now + ca->lifetime) / 1000, &cert, err)) < 0)
		goto out;
	if ((rc = idp_key_to_pem(key, &kpem)) < 0 ||
	    (rc = idp_cert_to_pem(cert, &cpem, &clen)) < 0) {
		idp_err_set(err, rc, "cannot encode CA");
		goto out;
	}
	/* Key first: a crash before the cert leaves a key the next run replaces. */
	if ((rc = state_write(dir, "key.pem", kpem->buf, kpem->len, 0600)) < 0 ||
	    (rc = state_write(dir, "cert.pem", cpem, clen, 0644)) < 0) {
		idp_err_set(err, rc, "cannot write CA to %s: %s", dir,
		    strerror(-rc));
		goto out;
	}
	*ret_key = key;
	*ret_cert = cert;
	key = NULL;
	cert = NULL;
out:
	idp_key_free(key);
	idp_cert_free(cert);
	idp_secret_free(kpem);
	free(cpem);
	return rc;
}

/* Appends the PEM of c to *buf; 0 or -ENOMEM. */
static int
append_pem(char **buf, size_t *len, const char *pem, size_t plen)
{
	char *n = realloc(*buf, *len + plen + 1);

	if (n == NULL)
		return -ENOMEM;
	memcpy(n + *len, pem, plen);
	*len += plen;
	n[*len] = '\0';
	*buf = n;
	return 0;
}

int
ca_state_load(const struct config *c, const struct cfg_ca *ca, int64_t now,
    struct ca_state **ret, struct idp_err *err)
{
	struct ca_state *s;
	struct idp_secret *kbuf = NULL, *cbuf = NULL, *pbuf = NULL;
	struct idp_cert_info info, pinfo;
	struct idp_cert *prev = NULL;
	char dir[4096], path[4200], *pem = NULL;
	size_t plen;
	int rc, external = ca->cert_file != NULL;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -ENOMEM;
	s->cfg = ca;
	snprintf(dir, sizeof(dir), "%s/ca/%s", c->state_dir, ca->name);
	if (!external && (rc = mint_mkdirs(dir, 0700)) < 0) {
		idp_err_set(err, rc, "cannot create %s: %s", dir, strerror(-rc));
		goto out;
	}
	snprintf(path, sizeof(path), "%s/key.pem", dir);
	rc = state_read(external ? ca->key_file : path, 1, &kbuf, err);
	if (rc == 0) {
		snprintf(path, sizeof(path), "%s/cert.pem", dir);
		rc = state_read(external ? ca->cert_file : path, 0, &cbuf, err);
	}
	if (rc == -ENOENT && !external) {
		log_notice("ca %s: creating a new %s CA in %s", ca->name,
		    idp_key_type_name(ca->key_type), dir);
		if ((rc = ca_create(ca, dir, now, &s->key, &s->cert, err)) < 0)
			goto out;
	} else if (rc < 0)
		goto out;
	else {
		if ((rc = idp_key_from_pem(kbuf->buf, kbuf->len, &s->key, err)) < 0 ||
		    (rc = idp_cert_from_pem(cbuf->buf, cbuf->len, &s->cert)) < 0) {
			idp_err_set(err, rc, "ca %s: cannot parse key or certificate",
			    ca->name);
			goto out;
		}
		if (!idp_cert_matches_key(s->cert, s->key)) {
			rc = idp_err_set(err, -EKEYREJECTED,
			    "ca %s: certificate and key do not match", ca->name);
			goto out;
		}
	}
	idp_cert_get_info(s->cert, &info);

	/*
	 * Roll over a generated CA at 2/3 of its life: the new CA signs from
	 * now on, the old certificate stays in ca.pem until it expires, so
	 * peers that fetched ca.pem earlier keep trusting old leaves.
	 */
	if (!external && now / 1000 >= info.not_before + 3600 +
	    (info.not_after - info.not_before - 3600) * 2 / 3) {
		char *old = NULL;
		size_t olen;

		log_notice("ca %s: rolling over (current CA expires %lld)",
		    ca->name, (long long)info.not_after);
		if ((rc = idp_cert_to_pem(s->cert, &old, &olen)) < 0)
			goto out;
		rc = state_write(dir, "previous.pem", old, olen, 0644);
		free(old);
		if (rc < 0)
			goto out;
		idp_key_free(s->key);
		idp_cert_free(s->cert);
		s->key = NULL;
		s->cert = NULL;
		if ((rc = ca_create(ca, dir, now, &s->key, &s->cert, err)) < 0)
			goto out;
		idp_cert_get_info(s->cert, &info);
	}
	memcpy(s->sha256, info.sha256, sizeof(s->sha256));
	s->not_after = info.not_after * 1000;
	s->renew_wall = external ? 0 : (info.not_before + 3600) * 1000 +
	    (info.not_after - info.not_before - 3600) * 1000 * 2 / 3;

	if ((rc = idp_cert_to_pem(s->cert, &pem, &plen)) < 0 ||
	    (rc = append_pem(&s->trust_pem, &s->trust_len, pem, plen)) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/previous.pem", dir);
	if (!external && state_read(path, 0, &pbuf, NULL) == 0 &&
	    idp_cert_from_pem(pbuf->buf, pbuf->len, &prev) == 0 &&
	    idp_cert_get_info(prev, &pinfo) == 0 &&
	    pinfo.not_after * 1000 > now &&
	    strcmp(pinfo.sha256, info.sha256) != 0) {
		if ((rc = append_pem(&s->trust_pem, &s->trust_len,
		    (char *)pbuf->buf, pbuf->len)) < 0)
			goto out;
	}
	rc = 0;
	*ret = s;
	s = NULL;
out:
	free(pem);
	idp_cert_free(prev);
	idp_secret_free(kbuf);
	idp_secret_free(cbuf);
	idp_secret_free(pbuf);
	ca_state_free(s);
	return rc;
}

/* ---- signer ------------------------------------------------------------- */

void
signer_state_free(struct signer_state *s)
{
	if (s == NULL)
		return;
	idp_key_free(s->key);
	idp_jwks_free(s->jwks);
	free(s->jwks_json);
	free(s->discovery_json);
	json_decref(s->retired);
	free(s);
}

/* Writes key.pem and state.json for a freshly generated key. */
static int
signer_save(const char *dir, const struct signer_state *s, struct idp_err *err)
{
	struct idp_secret *pem = NULL;
	json_t *st = NULL;
	char *txt = NULL;
	int rc;

	st = json_pack("{s:I,s:O}", "created_at", (json_int_t)s->created_at,
	    "retired", s->retired);
	if (st == NULL || (txt = json_dumps(st, JSON_COMPACT)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if ((rc = idp_key_to_pem(s->key, &pem)) < 0)
		goto out;
	/*
	 * The new key is written before state.json: after a crash between the
	 * two, the next start sees the new key with the old creation time and
	 * rotates once more, which is harmless.
	 */
	if ((rc = state_write(dir, "key.pem", pem->buf, pem->len, 0600)) < 0 ||
	    (rc = state_write(dir, "state.json", txt, strlen(txt), 0600)) < 0)
		idp_err_set(err, rc, "cannot write signer state in %s: %s", dir,
		    strerror(-rc));
out:
	idp_secret_free(pem);
	json_decref(st);
	free(txt);
	return rc;
}

/* Longest lifetime of the jwt credentials that use signer sg, in ms. */
static int64_t
signer_max_token_life(const struct config *c, const struct cfg_signer *sg)
{
	int64_t m = 0;
	size_t i;

	for (i = 0; i < c->n_creds; i++)
		if (c->creds[i]->signer == sg && c->creds[i]->lifetime > m)
			m = c->creds[i]->lifetime;
	return m;
}

/* Rebuilds jwks and the documents from key and retired. */
static int
signer_build_docs(struct signer_state *s, int64_t now)
{
	struct idp_jwks *set = NULL;
	struct idp_key *pub = NULL;
	json_t *doc = NULL, *keep = NULL, *v;
	size_t i, len;
	char *pem = NULL, *iss;
	int rc;

	if ((set = idp_jwks_new()) == NULL || (keep = json_array()) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if ((rc = idp_key_public_pem(s->key, &pem, &len)) < 0 ||
	    (rc = idp_key_from_pem(pem, len, &pub, NULL)) < 0 ||
	    (rc = idp_key_set_alg(pub, idp_key_alg(s->key))) < 0 ||
	    (rc = idp_jwks_add(set, pub)) < 0)
		goto out;
	pub = NULL;
	json_array_foreach(s->retired, i, v) {
		json_int_t until = json_integer_value(json_object_get(v, "until"));
		struct idp_key *k = NULL;

		/* Keys whose every token has expired leave the JWKS. */
		if (until * 1000 <= now)
			continue;
		if (idp_key_from_jwk(json_object_get(v, "jwk"), &k, NULL) < 0)
			continue;
		if (idp_jwks_find(set, idp_key_kid(k)) != NULL ||
		    idp_jwks_add(set, k) < 0) {
			idp_key_free(k);
			continue;
		}
		json_array_append(keep, v);
	}
	json_decref(s->retired);
	s->retired = keep;
	keep = NULL;
	free(s->jwks_json);
	s->jwks_json = NULL;
	if ((rc = idp_jwks_dump(set, &s->jwks_json, &s->jwks_len)) < 0)
		goto out;
	iss = s->cfg->issuer;
	doc = json_pack("{s:s,s:s++,s:[s],s:[s],s:[s]}",
	    "issuer", iss,
	    "jwks_uri", iss, iss[strlen(iss) - 1] == '/' ? "" : "/", "jwks.json",
	    "id_token_signing_alg_values_supported",
	    idp_alg_name(idp_key_alg(s->key)),
	    "response_types_supported", "id_token",
	    "subject_types_supported", "public");
	free(s->discovery_json);
	s->discovery_json = NULL;
	if (doc == NULL || (s->discovery_json = json_dumps(doc,
	    JSON_INDENT(2) | JSON_SORT_KEYS)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	s->discovery_len = strlen(s->discovery_json);
	idp_jwks_free(s->jwks);
	s->jwks = set;
	set = NULL;
	rc = 0;
out:
	free(pem);
	idp_key_free(pub);
	idp_jwks_free(set);
	json_decref(keep);
	json_decref(doc);
	return rc;
}

int
signer_state_load(const struct config *c, const struct cfg_signer *sg,
    int64_t now, struct signer_state **ret, struct idp_err *err)
{
	enum idp_key_type kt;
	struct signer_state *s;
	struct idp_secret *kbuf = NULL, *sbuf = NULL;
	char dir[4096], path[4200];
	json_t *st = NULL;
	int rc, fresh = 0;

	switch (sg->alg) {
	case IDP_ALG_ES384:	kt = IDP_KEY_EC_P384; break;
	case IDP_ALG_RS256:
	case IDP_ALG_PS256:	kt = IDP_KEY_RSA_2048; break;
	case IDP_ALG_EDDSA:	kt = IDP_KEY_ED25519; break;
	default:		kt = IDP_KEY_EC_P256; break;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -ENOMEM;
	s->cfg = sg;
	s->max_token_life = signer_max_token_life(c, sg);
	snprintf(dir, sizeof(dir), "%s/signer/%s", c->state_dir, sg->name);
	if ((rc = mint_mkdirs(dir, 0700)) < 0) {
		idp_err_set(err, rc, "cannot create %s: %s", dir, strerror(-rc));
		goto out;
	}
	snprintf(path, sizeof(path), "%s/key.pem", dir);
	rc = state_read(path, 1, &kbuf, err);
	if (rc == 0) {
		snprintf(path, sizeof(path), "%s/state.json", dir);
		if (state_read(path, 1, &sbuf, NULL) == 0)
			st = json_loadb((char *)sbuf->buf, sbuf->len,
			    JSON_REJECT_DUPLICATES, NULL);
		if ((rc = idp_key_from_pem(kbuf->buf, kbuf->len, &s->key, err)) < 0)
			goto out;
		if (idp_key_type(s->key) != kt ||
		    idp_key_set_alg(s->key, sg->alg) < 0) {
			/* The configured alg changed: start a new key. */
			log_notice("signer %s: key does not fit alg %s, rotating",
			    sg->name, idp_alg_name(sg->alg));
			s->created_at = 0;
		} else
			s->created_at = json_integer_value(json_object_get(st,
			    "created_at"));
		s->retired = json_incref(json_object_get(st, "retired"));
	} else if (rc != -ENOENT)
		goto out;
	if (s->retired == NULL || !json_is_array(s->retired)) {
		json_decref(s->retired);
		s->retired = json_array();
	}

	/* Rotate when the key is missing, unfit or older than key_lifetime. */
	if (s->key == NULL || s->created_at <= 0 ||
	    now >= s->created_at + sg->key_lifetime) {
		struct idp_key *nk = NULL;

		if (s->key != NULL && idp_key_alg(s->key) == sg->alg) {
			json_t *jwk = NULL;

			/* Tokens signed until now live at most max_token_life. */
			if (idp_key_to_jwk(s->key, &jwk) == 0)
				json_array_append_new(s->retired, json_pack(
				    "{s:o,s:I}", "jwk", jwk, "until",
				    (json_int_t)((now + s->max_token_life +
				    c->backdate) / 1000 + 1)));
		}
		if ((rc = idp_key_generate(kt, &nk)) < 0 ||
		    (rc = idp_key_set_alg(nk, sg->alg)) < 0) {
			idp_key_free(nk);
			idp_err_set(err, rc, "signer %s: cannot generate key",
			    sg->name);
			goto out;
		}
		idp_key_free(s->key);
		s->key = nk;
		s->created_at = now;
		fresh = 1;
	}
	s->rotate_wall = s->created_at + sg->key_lifetime;
	if ((rc = signer_build_docs(s, now)) < 0) {
		idp_err_set(err, rc, "signer %s: cannot build JWKS", sg->name);
		goto out;
	}
	if (fresh) {
		if ((rc = signer_save(dir, s, err)) < 0)
			goto out;
		log_notice("signer %s: new %s key %s", sg->name,
		    idp_alg_name(sg->alg), idp_key_kid(s->key));
	}
	*ret = s;
	s = NULL;
	rc = 0;
out:
	json_decref(st);
	idp_secret_free(kbuf);
	idp_secret_free(sbuf);
	signer_state_free(s);
	return rc;
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
