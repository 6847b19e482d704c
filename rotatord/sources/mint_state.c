/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CA and signer state in state_dir: loading, creating and rolling over
 * the local CAs' and the JWT signers' keys.  Mints no credential; writes
 * only below state_dir/ca and state_dir/signer.
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

#include "core/log.h"
#include "sources/mint.h"

#define STATE_MAX_FILE	(256 * 1024)

int
mint_mkdirs(const char *path, mode_t mode)
{
	struct stat st;
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
	/* What is there must be a directory (or a link to one). */
	if (stat(buf, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
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
	if (fsync(fd) < 0) {
		rc = -errno;
		goto out;
	}
	/* Linux frees the fd even when close fails. */
	rc = close(fd) < 0 ? -errno : 0;
	fd = -1;
	if (rc < 0 || renameat(dfd, tmp, dfd, name) < 0) {
		if (rc == 0)
			rc = -errno;
		unlinkat(dfd, tmp, 0);
		goto out;
	}
	/* The file is in place; a directory that cannot sync still has it. */
	(void)fsync(dfd);
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

	st = json_pack("{s:I,s:s,s:O}", "created_at",
	    (json_int_t)s->created_at, "alg", idp_alg_name(idp_key_alg(s->key)),
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
	const char *an;
	enum idp_alg old;
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
		/*
		 * The alg the key signed with (state.json says; before it did,
		 * its type's default).  Another alg configured now: a new key,
		 * and this one is retired with its own alg, so that tokens it
		 * signed still verify until they expire.
		 */
		an = json_string_value(json_object_get(st, "alg"));
		if (an == NULL || idp_alg_parse(an, &old) < 0 ||
		    idp_key_set_alg(s->key, old) < 0) {
			old = idp_key_type_default_alg(idp_key_type(s->key));
			(void)idp_key_set_alg(s->key, old);
		}
		if (idp_key_type(s->key) != kt || old != sg->alg) {
			log_notice("signer %s: key %s signs %s, not %s: rotating",
			    sg->name, idp_key_kid(s->key), idp_alg_name(old),
			    idp_alg_name(sg->alg));
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

		if (s->key != NULL) {
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
