/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fleet over etcd (fleet.h).
 *
 * One state machine per host: a lease, the host's registration, a read
 * of the whole prefix, then a watch from the revision after it.  Every
 * write of the leader, and every host's view of the fleet, goes through
 * that watch, so the leader learns of its own writes the way every other
 * host does.  Failures are retried from the step that failed, after a
 * backoff, while whatever is published stays in place.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <idp/secret.h>

#include "etcd.h"
#include "fleet.h"
#include "log.h"

#define KEY_LEN		32
#define NONCE_LEN	12
#define TAG_LEN		16
#define MAX_DOC		(256 * 1024)	/* 17 keys of 4096 bytes, base64 */
#define RETRY_MIN_MS	500
#define RETRY_MAX_MS	10000
#define DUTY_MS		1000		/* the leader looks at its secrets */
#define WAIT_WARN_MS	60000		/* a promotion waiting this long: say so */

enum state { F_LEASE, F_REGISTER, F_SYNC, F_RUN };

struct fsecret {
	char			 name[CONFIG_MAX_NAME + 1];
	const struct cfg_cred	*cfg;		/* NULL: no longer configured */
	int64_t			 gen;		/* newest document, 0: none */
	int64_t			 seen;		/* newest generation in etcd */
	struct idp_secret	*keys[FLEET_MAX_KEYS];	/* newest first */
	int64_t			 issued[FLEET_MAX_KEYS];
	size_t			 n;
	size_t			 active;	/* the key that encrypts */
	int64_t			 lifetime;
	int64_t			 applied;	/* gen published here */
	int64_t			 acked;		/* gen acknowledged */
	int			 forced;	/* leader: rotate --fleet */
	int64_t			 waiting_since;	/* leader: promotion pending */
};

struct ack {
	char		 secret[CONFIG_MAX_NAME + 1];
	char		 host[65];
	int64_t		 gen;
};

/* Public keys of a signer: another host's (pubs) or this host's (own). */
struct pub {
	char		 host[65];
	int		 ca;		/* a CA's certificates, not a JWKS */
	char		 signer[CONFIG_MAX_NAME + 1];	/* signer or CA name */
	char		*doc;		/* JWKS; own: the whole etcd value */
	int64_t		 until;		/* wall ms */
	int		 written;	/* own: in etcd since the last sync */
};

struct fleet {
	struct loop		*loop;
	const struct config	*cfg;
	struct fleet_ops	 ops;
	struct etcd		*e;
	unsigned char		 key[KEY_LEN];
	char			*prefix;
	char			*name;
	int64_t			 ttl;		/* ms */
	enum state		 state;
	int64_t			 lease;		/* 0: none */
	int64_t			 rev;		/* last revision seen */
	uint64_t		 call;		/* the state machine's call */
	uint64_t		 watch;
	uint64_t		 ka_call;
	uint64_t		 campaign;
	uint64_t		 write;		/* leader: a secret being written */
	int64_t			 last_ka;	/* boottime ms of the last good one */
	int			 leader;
	int64_t			 leader_rev;	/* create_revision of our leader key */
	char			 leader_name[65];
	unsigned		 failures;
	int			 tfd;		/* retry / next step */
	int			 kfd;		/* keepalive */
	int			 dfd;		/* leader duties */
	struct fsecret		*s;
	size_t			 n_s;
	char			**hosts;
	size_t			 n_hosts;
	struct ack		*acks;
	size_t			 n_acks;
	struct pub		*pubs;		/* other hosts' signer keys */
	size_t			 n_pubs;
	struct pub		*own;		/* this host's */
	size_t			 n_own;
	uint64_t		 errors;
	uint64_t		 writes;
	char			 last_error[256];
};

static void step(struct fleet *);
static void duties(struct fleet *);
static void campaign(struct fleet *);

/* ---- sealing ------------------------------------------------------------ */

json_t *
fleet_seal(const unsigned char *key, const char *aad, const void *plain,
    size_t len)
{
	unsigned char nonce[NONCE_LEN], *ct = NULL;
	EVP_CIPHER_CTX *ctx = NULL;
	json_t *j = NULL;
	int n, fin;

	if (len > MAX_DOC || RAND_bytes(nonce, sizeof(nonce)) != 1 ||
	    (ct = malloc(len + TAG_LEN)) == NULL ||
	    (ctx = EVP_CIPHER_CTX_new()) == NULL)
		goto out;
	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &n, (const unsigned char *)aad,
	    (int)strlen(aad)) != 1 ||
	    EVP_EncryptUpdate(ctx, ct, &n, plain, (int)len) != 1 ||
	    EVP_EncryptFinal_ex(ctx, ct + n, &fin) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN,
	    ct + len) != 1)
		goto out;
	j = json_pack("{s:i,s:o,s:o}", "v", 1, "nonce", etcd_b64(nonce,
	    sizeof(nonce)), "ct", etcd_b64(ct, len + TAG_LEN));
out:
	EVP_CIPHER_CTX_free(ctx);
	free(ct);
	return j;
}

struct idp_secret *
fleet_open(const unsigned char *key, const char *aad, const json_t *sealed)
{
	unsigned char *nonce = NULL, *ct = NULL;
	size_t nlen = 0, clen = 0;
	struct idp_secret *p = NULL;
	EVP_CIPHER_CTX *ctx = NULL;
	int n, ok = 0;

	if (json_integer_value(json_object_get(sealed, "v")) != 1 ||
	    etcd_unb64(json_object_get(sealed, "nonce"), &nonce, &nlen) < 0 ||
	    etcd_unb64(json_object_get(sealed, "ct"), &ct, &clen) < 0 ||
	    nlen != NONCE_LEN || clen < TAG_LEN || clen > MAX_DOC + TAG_LEN ||
	    (p = idp_secret_new(clen - TAG_LEN)) == NULL ||
	    (ctx = EVP_CIPHER_CTX_new()) == NULL)
		goto out;
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce) != 1 ||
	    EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *)aad,
	    (int)strlen(aad)) != 1 ||
	    EVP_DecryptUpdate(ctx, p->buf, &n, ct, (int)(clen - TAG_LEN)) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN,
	    ct + clen - TAG_LEN) != 1 ||
	    EVP_DecryptFinal_ex(ctx, p->buf + n, &n) != 1)
		goto out;
	ok = 1;
out:
	EVP_CIPHER_CTX_free(ctx);
	free(nonce);
	free(ct);
	if (!ok) {
		idp_secret_free(p);
		return NULL;
	}
	return p;
}

/* What a document is bound to: its key and generation. */
static void
doc_aad(const struct fleet *f, const char *name, int64_t gen, char *buf,
    size_t size)
{
	snprintf(buf, size, "rotatord-fleet-v1 %ssecrets/%s %lld", f->prefix,
	    name, (long long)gen);
}

/* ---- small helpers -------------------------------------------------------- */

static void
fail(struct fleet *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records and logs a failure (once per change of reason at warning). */
static void
fail(struct fleet *f, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	f->errors++;
	if (strcmp(buf, f->last_error) != 0)
		log_warn("cluster: %s", buf);
	else
		log_debug("cluster: %s", buf);
	snprintf(f->last_error, sizeof(f->last_error), "%s", buf);
}

static char *
key_of(const struct fleet *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* PREFIX followed by fmt, as a new string. */
static char *
key_of(const struct fleet *f, const char *fmt, ...)
{
	char rest[256], *k;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rest, sizeof(rest), fmt, ap);
	va_end(ap);
	if (asprintf(&k, "%s%s", f->prefix, rest) < 0)
		return NULL;
	return k;
}

static json_t *
b64s(const char *s)
{
	return etcd_b64(s, strlen(s));
}

static void
retry(struct fleet *f)
{
	int64_t d = RETRY_MIN_MS;
	unsigned i;

	for (i = 0; i < f->failures && d < RETRY_MAX_MS; i++)
		d *= 2;
	if (d > RETRY_MAX_MS)
		d = RETRY_MAX_MS;
	f->failures++;
	loop_timer_at(f->tfd, loop_now_mono() + d);
}

static struct fsecret *
secret_find(struct fleet *f, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < f->n_s; i++)
		if (strlen(f->s[i].name) == len &&
		    memcmp(f->s[i].name, name, len) == 0)
			return &f->s[i];
	return NULL;
}

static void
secret_clear_keys(struct fsecret *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		idp_secret_free(s->keys[i]);
	s->n = 0;
}

static void
step_down(struct fleet *f, const char *why)
{
	if (!f->leader)
		return;
	f->leader = 0;
	f->leader_rev = 0;
	etcd_cancel(f->e, f->write);
	f->write = 0;
	loop_timer_at(f->dfd, 0);
	log_notice("cluster: no longer leading the fleet: %s", why);
}

/* ---- hosts and acknowledgements ------------------------------------------- */

static void
host_set(struct fleet *f, const char *h, size_t len, int present)
{
	size_t i;
	char **v;

	if (len == 0 || len > 64)
		return;
	for (i = 0; i < f->n_hosts; i++)
		if (strlen(f->hosts[i]) == len &&
		    memcmp(f->hosts[i], h, len) == 0)
			break;
	if (present && i == f->n_hosts) {
		if ((v = reallocarray(f->hosts, f->n_hosts + 1,
		    sizeof(*v))) == NULL)
			return;
		f->hosts = v;
		if ((f->hosts[f->n_hosts] = strndup(h, len)) != NULL)
			f->n_hosts++;
	} else if (!present && i < f->n_hosts) {
		free(f->hosts[i]);
		f->hosts[i] = f->hosts[--f->n_hosts];
	}
}

/* "SECRET/HOST" = gen (absent: deleted). */
static void
ack_set(struct fleet *f, const char *k, size_t len, const unsigned char *v,
    int present)
{
	const char *slash = memchr(k, '/', len);
	struct ack *a, *na;
	size_t sl, hl, i;

	if (slash == NULL)
		return;
	sl = (size_t)(slash - k);
	hl = len - sl - 1;
	if (sl == 0 || sl > CONFIG_MAX_NAME || hl == 0 || hl > 64)
		return;
	for (i = 0; i < f->n_acks; i++) {
		a = &f->acks[i];
		if (strlen(a->secret) == sl && memcmp(a->secret, k, sl) == 0 &&
		    strlen(a->host) == hl && memcmp(a->host, slash + 1, hl) == 0)
			break;
	}
	if (!present) {
		if (i < f->n_acks)
			f->acks[i] = f->acks[--f->n_acks];
		return;
	}
	if (i == f->n_acks) {
		if ((na = reallocarray(f->acks, f->n_acks + 1,
		    sizeof(*na))) == NULL)
			return;
		f->acks = na;
		a = &f->acks[f->n_acks++];
		memcpy(a->secret, k, sl);
		a->secret[sl] = '\0';
		memcpy(a->host, slash + 1, hl);
		a->host[hl] = '\0';
	}
	f->acks[i].gen = strtoll((const char *)v, NULL, 10);
}

/* Has every registered host acknowledged gen of secret name? */
static int
all_acked(const struct fleet *f, const char *name, int64_t gen,
    const char **missing)
{
	size_t i, j;

	for (i = 0; i < f->n_hosts; i++) {
		for (j = 0; j < f->n_acks; j++)
			if (strcmp(f->acks[j].secret, name) == 0 &&
			    strcmp(f->acks[j].host, f->hosts[i]) == 0 &&
			    f->acks[j].gen >= gen)
				break;
		if (j == f->n_acks) {
			*missing = f->hosts[i];
			return 0;
		}
	}
	return 1;
}

/* ---- signer keys of the fleet ------------------------------------------- */

static void
pubs_clear(struct pub *v, size_t *n)
{
	while (*n > 0)
		free(v[--*n].doc);
}

/*
 * "HOST/jwks/SIGNER" = {"until": ms, "jwks": {...}} or "HOST/ca/CA" =
 * {"until": ms, "pem": "..."}, or deleted.
 */
static void
pub_set(struct fleet *f, const char *k, size_t len, const unsigned char *val,
    size_t vlen, int present)
{
	const char *s1 = memchr(k, '/', len), *signer;
	size_t hl, sl, i;
	struct pub *p, *np;
	json_t *j = NULL;
	char *doc = NULL;
	int ca;

	if (s1 == NULL || (hl = (size_t)(s1 - k)) == 0 || hl > 64)
		return;
	if (len - hl > 6 && memcmp(s1, "/jwks/", 6) == 0) {
		ca = 0;
		signer = s1 + 6;
		sl = len - hl - 6;
	} else if (len - hl > 4 && memcmp(s1, "/ca/", 4) == 0) {
		ca = 1;
		signer = s1 + 4;
		sl = len - hl - 4;
	} else
		return;
	if (sl == 0 || sl > CONFIG_MAX_NAME)
		return;
	/* This host's own keys are its own business. */
	if (strlen(f->name) == hl && memcmp(f->name, k, hl) == 0)
		return;
	for (i = 0; i < f->n_pubs; i++) {
		p = &f->pubs[i];
		if (p->ca == ca && strlen(p->host) == hl &&
		    memcmp(p->host, k, hl) == 0 && strlen(p->signer) == sl &&
		    memcmp(p->signer, signer, sl) == 0)
			break;
	}
	if (!present) {
		if (i < f->n_pubs) {
			free(f->pubs[i].doc);
			f->pubs[i] = f->pubs[--f->n_pubs];
			if (f->ops.keys != NULL)
				f->ops.keys(f->ops.arg);
		}
		return;
	}
	if ((j = json_loadb((const char *)val, vlen, 0, NULL)) == NULL ||
	    (ca ? (json_string_value(json_object_get(j, "pem")) == NULL ||
	    (doc = strdup(json_string_value(json_object_get(j, "pem")))) ==
	    NULL) : (!json_is_object(json_object_get(j, "jwks")) ||
	    (doc = json_dumps(json_object_get(j, "jwks"), JSON_COMPACT)) ==
	    NULL))) {
		json_decref(j);
		return;
	}
	if (i == f->n_pubs) {
		if ((np = reallocarray(f->pubs, f->n_pubs + 1,
		    sizeof(*np))) == NULL) {
			free(doc);
			json_decref(j);
			return;
		}
		f->pubs = np;
		p = &f->pubs[f->n_pubs++];
		memset(p, 0, sizeof(*p));
		p->ca = ca;
		memcpy(p->host, k, hl);
		memcpy(p->signer, signer, sl);
	}
	p = &f->pubs[i];
	p->until = json_integer_value(json_object_get(j, "until"));
	json_decref(j);
	if (p->doc != NULL && strcmp(p->doc, doc) == 0) {
		free(doc);
		return;
	}
	free(p->doc);
	p->doc = doc;
	if (f->ops.keys != NULL)
		f->ops.keys(f->ops.arg);
}

static void
on_pub_put(void *arg, int rc, json_t *reply, const char *why)
{
	struct fleet *f = arg;

	if (rc < 0)
		fail(f, "cannot publish this host's signer keys: %s", why);
}

/* Writes this host's signer keys that are not in etcd yet. */
static void
own_write(struct fleet *f)
{
	struct pub *p;
	size_t i;
	char *k;

	if (f->state != F_RUN)
		return;
	for (i = 0; i < f->n_own; i++) {
		p = &f->own[i];
		if (p->written || (k = key_of(f, "pub/%s/%s/%s", f->name,
		    p->ca ? "ca" : "jwks", p->signer)) == NULL)
			continue;
		if (etcd_call(f->e, "/v3/kv/put", json_pack("{s:o,s:o}", "key",
		    b64s(k), "value", b64s(p->doc)), on_pub_put, f, NULL) == 0)
			p->written = 1;
		free(k);
	}
}

/* This host's keys or certificates (value v, taken) for the fleet. */
static int
own_set(struct fleet *f, int ca, const char *signer, json_t *v,
    int64_t until)
{
	struct pub *p = NULL, *np;
	char *val;
	size_t i;

	val = v != NULL ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(v);
	if (val == NULL)
		return -ENOMEM;
	for (i = 0; i < f->n_own; i++)
		if (f->own[i].ca == ca && strcmp(f->own[i].signer, signer) == 0)
			p = &f->own[i];
	if (p == NULL) {
		if ((np = reallocarray(f->own, f->n_own + 1,
		    sizeof(*np))) == NULL) {
			free(val);
			return -ENOMEM;
		}
		f->own = np;
		p = &f->own[f->n_own++];
		memset(p, 0, sizeof(*p));
		p->ca = ca;
		snprintf(p->signer, sizeof(p->signer), "%s", signer);
	}
	if (p->doc != NULL && strcmp(p->doc, val) == 0) {
		free(val);
		return 0;
	}
	free(p->doc);
	p->doc = val;
	p->until = until;
	p->written = 0;
	own_write(f);
	return 0;
}

int
fleet_publish_jwks(struct fleet *f, const char *signer, const char *doc,
    int64_t until)
{
	json_t *jw;

	if (strlen(signer) > CONFIG_MAX_NAME)
		return -EINVAL;
	if ((jw = json_loads(doc, 0, NULL)) == NULL)
		return -EINVAL;
	return own_set(f, 0, signer, json_pack("{s:I,s:o}", "until",
	    (json_int_t)until, "jwks", jw), until);
}

int
fleet_publish_ca(struct fleet *f, const char *ca, const char *pem,
    int64_t until)
{
	if (strlen(ca) > CONFIG_MAX_NAME)
		return -EINVAL;
	return own_set(f, 1, ca, json_pack("{s:I,s:s}", "until",
	    (json_int_t)until, "pem", pem), until);
}

size_t
fleet_peer_ca(const struct fleet *f, const char *ca, const char **docs,
    size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < f->n_pubs; i++)
		if (f->pubs[i].ca && strcmp(f->pubs[i].signer, ca) == 0) {
			if (n < max)
				docs[n] = f->pubs[i].doc;
			n++;
		}
	return n;
}

size_t
fleet_peer_jwks(const struct fleet *f, const char *signer, const char **docs,
    size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < f->n_pubs; i++)
		if (!f->pubs[i].ca && strcmp(f->pubs[i].signer, signer) == 0) {
			if (n < max)
				docs[n] = f->pubs[i].doc;
			n++;
		}
	return n;
}

/* Leader: other hosts' keys past their time go (a host long gone). */
static void
pubs_expire(struct fleet *f, int64_t now)
{
	size_t i;
	char *k;

	for (i = 0; i < f->n_pubs; i++) {
		if (f->pubs[i].until >= now || (k = key_of(f,
		    "pub/%s/%s/%s", f->pubs[i].host, f->pubs[i].ca ? "ca" :
		    "jwks", f->pubs[i].signer)) == NULL)
			continue;
		log_info("cluster: host %s's %s of %s expired; removing them",
		    f->pubs[i].host, f->pubs[i].ca ? "certificates" : "keys",
		    f->pubs[i].signer);
		(void)etcd_call(f->e, "/v3/kv/deleterange", json_pack("{s:o}",
		    "key", b64s(k)), on_pub_put, f, NULL);
		f->pubs[i].until = INT64_MAX;	/* asked once */
		free(k);
	}
}

/* ---- secrets: read, publish, acknowledge ------------------------------------ */

static void
on_ack_put(void *arg, int rc, json_t *reply, const char *why)
{
	struct fleet *f = arg;

	if (rc < 0)
		fail(f, "cannot acknowledge a fleet secret: %s", why);
}

/* Publishes s here (when it changed) and acknowledges its generation. */
static void
secret_apply(struct fleet *f, struct fsecret *s)
{
	struct idp_secret *order[FLEET_MAX_KEYS];
	char *k, gen[32], lease[32];
	size_t i, o = 0;
	int rc;

	if (s->cfg == NULL || s->n == 0 || s->active >= s->n)
		return;
	if (s->applied != s->gen) {
		/* The key that encrypts first, then the others, newest first. */
		order[o++] = s->keys[s->active];
		for (i = 0; i < s->n; i++)
			if (i != s->active)
				order[o++] = s->keys[i];
		rc = f->ops.secret(f->ops.arg, s->name, order, o,
		    s->issued[s->active], s->issued[s->active] + s->lifetime);
		if (rc < 0) {
			fail(f, "secret %s: cannot publish generation %lld: %s",
			    s->name, (long long)s->gen, strerror(-rc));
			return;
		}
		s->applied = s->gen;
		log_info("cluster: secret %s: fleet generation %lld published "
		    "(%zu keys, %s)", s->name, (long long)s->gen, s->n,
		    s->active == 0 ? "new key encrypts" : "new key accepted "
		    "only");
	}
	if (s->acked == s->gen || f->lease == 0)
		return;
	snprintf(gen, sizeof(gen), "%lld", (long long)s->gen);
	if ((k = key_of(f, "acks/%s/%s", s->name, f->name)) == NULL)
		return;
	snprintf(lease, sizeof(lease), "%lld", (long long)f->lease);
	if (etcd_call(f->e, "/v3/kv/put", json_pack("{s:o,s:o,s:s}", "key",
	    b64s(k), "value", b64s(gen), "lease", lease), on_ack_put, f,
	    NULL) == 0)
		s->acked = s->gen;
	free(k);
}

/* PREFIX/secrets/NAME = a sealed document (see doc_make()). */
static void
secret_read(struct fleet *f, const char *name, size_t nlen,
    const unsigned char *val, size_t vlen)
{
	struct fsecret *s = secret_find(f, name, nlen);
	struct idp_secret *plain = NULL;
	json_t *env = NULL, *doc = NULL, *keys, *issued, *el;
	char aad[512];
	int64_t gen;
	size_t i;

	if (s == NULL || s->cfg == NULL)
		return;		/* not a fleet secret of this host's config */
	if ((env = json_loadb((const char *)val, vlen, 0, NULL)) == NULL ||
	    (gen = json_integer_value(json_object_get(env, "gen"))) <= 0) {
		fail(f, "secret %s: a document that is not readable", s->name);
		goto out;
	}
	if (gen > s->seen)
		s->seen = gen;
	if (gen <= s->gen)
		goto out;
	doc_aad(f, s->name, gen, aad, sizeof(aad));
	if ((plain = fleet_open(f->key, aad, env)) == NULL) {
		fail(f, "secret %s: generation %lld does not decrypt with this "
		    "host's key_file (a different fleet key?)", s->name,
		    (long long)gen);
		goto out;
	}
	doc = json_loadb((const char *)plain->buf, plain->len, 0, NULL);
	keys = json_object_get(doc, "keys");
	issued = json_object_get(doc, "issued");
	if (!json_is_array(keys) || json_array_size(keys) == 0 ||
	    json_array_size(keys) > FLEET_MAX_KEYS ||
	    json_array_size(issued) != json_array_size(keys) ||
	    (size_t)json_integer_value(json_object_get(doc, "active")) >=
	    json_array_size(keys) ||
	    json_integer_value(json_object_get(doc, "gen")) != gen) {
		fail(f, "secret %s: generation %lld is malformed", s->name,
		    (long long)gen);
		goto out;
	}
	secret_clear_keys(s);
	json_array_foreach(keys, i, el) {
		unsigned char *raw;
		size_t rlen;

		if (etcd_unb64(el, &raw, &rlen) < 0)
			break;
		s->keys[i] = idp_secret_dup(raw, rlen);
		OPENSSL_cleanse(raw, rlen);
		free(raw);
		if (s->keys[i] == NULL)
			break;
		s->issued[i] = json_integer_value(json_array_get(issued, i));
		s->n++;
	}
	if (s->n != json_array_size(keys)) {
		secret_clear_keys(s);
		fail(f, "secret %s: generation %lld is malformed", s->name,
		    (long long)gen);
		goto out;
	}
	s->gen = gen;
	s->active = (size_t)json_integer_value(json_object_get(doc, "active"));
	s->lifetime = json_integer_value(json_object_get(doc, "lifetime"));
	secret_apply(f, s);
out:
	json_decref(doc);
	json_decref(env);
	idp_secret_free(plain);
}

/* ---- what the prefix says ----------------------------------------------------- */

/* One key of the prefix (from the first read or the watch). */
static void
apply(struct fleet *f, const char *key, size_t klen, const unsigned char *val,
    size_t vlen, int del, int live)
{
	size_t pl = strlen(f->prefix);
	const char *k;
	size_t n;

	if (klen < pl || memcmp(key, f->prefix, pl) != 0)
		return;
	k = key + pl;
	n = klen - pl;
	if (n == 6 && memcmp(k, "leader", 6) == 0) {
		if (del || vlen == 0) {
			f->leader_name[0] = '\0';
			step_down(f, "the leader key is gone");
			if (f->state == F_RUN)
				campaign(f);
		} else {
			snprintf(f->leader_name, sizeof(f->leader_name), "%.*s",
			    (int)(vlen < 64 ? vlen : 64), (const char *)val);
			if (f->leader && strcmp(f->leader_name, f->name) != 0)
				step_down(f, "another host holds the leader key");
		}
	} else if (n > 6 && memcmp(k, "hosts/", 6) == 0) {
		host_set(f, k + 6, n - 6, !del);
	} else if (n > 5 && memcmp(k, "acks/", 5) == 0) {
		ack_set(f, k + 5, n - 5, val, !del);
	} else if (n > 4 && memcmp(k, "pub/", 4) == 0) {
		pub_set(f, k + 4, n - 4, val, vlen, !del);
	} else if (n > 8 && memcmp(k, "secrets/", 8) == 0) {
		if (!del)
			secret_read(f, k + 8, n - 8, val, vlen);
	} else if (n > 7 && memcmp(k, "rotate/", 7) == 0 && live && !del) {
		char name[CONFIG_MAX_NAME + 1];
		struct fsecret *s;
		size_t i;

		if (n - 7 > CONFIG_MAX_NAME)
			return;
		memcpy(name, k + 7, n - 7);
		name[n - 7] = '\0';
		log_notice("cluster: rotate --fleet %s", name);
		for (i = 0; i < f->cfg->n_creds; i++) {
			const struct cfg_cred *c = f->cfg->creds[i];

			if (strcmp(name, "*") != 0 && strcmp(name, c->name) != 0)
				continue;
			if ((s = secret_find(f, c->name, strlen(c->name))) !=
			    NULL && s->cfg != NULL)
				s->forced = 1;	/* the leader makes it */
			else
				f->ops.rotate(f->ops.arg, c->name);
		}
	}
	if (f->leader)
		duties(f);
}

/* ---- the leader -------------------------------------------------------------- */

static void
on_write(void *arg, int rc, json_t *reply, const char *why)
{
	struct fleet *f = arg;

	f->write = 0;
	if (rc < 0) {
		fail(f, "cannot write a fleet secret: %s", why);
		loop_timer_at(f->dfd, loop_now_mono() + DUTY_MS);
		return;
	}
	if (!json_is_true(json_object_get(reply, "succeeded"))) {
		step_down(f, "the leader key changed under a write (fenced)");
		return;
	}
	f->writes++;
	/* The watch brings the document back; look again after it. */
	loop_timer_at(f->dfd, loop_now_mono() + 50);
}

/*
 * Writes generation s->gen + 1 of secret s with keys[0..n) (newest first)
 * of which active encrypts, fenced on this host's leadership.
 */
static int
doc_write(struct fleet *f, struct fsecret *s, struct idp_secret *const *keys,
    const int64_t *issued, size_t n, size_t active)
{
	json_t *doc, *ka, *ia, *env, *cmp, *put;
	char aad[512], *plain, *sk, *lk, rev[32];
	int64_t gen = s->gen + 1;
	size_t i;
	int rc;

	ka = json_array();
	ia = json_array();
	for (i = 0; i < n; i++) {
		json_array_append_new(ka, etcd_b64(keys[i]->buf, keys[i]->len));
		json_array_append_new(ia, json_integer(issued[i]));
	}
	doc = json_pack("{s:i,s:s,s:I,s:o,s:o,s:I,s:I}", "v", 1, "name",
	    s->name, "gen", (json_int_t)gen, "keys", ka, "issued", ia,
	    "active", (json_int_t)active, "lifetime",
	    (json_int_t)s->cfg->lifetime);
	plain = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (plain == NULL)
		return -ENOMEM;
	doc_aad(f, s->name, gen, aad, sizeof(aad));
	env = fleet_seal(f->key, aad, plain, strlen(plain));
	OPENSSL_cleanse(plain, strlen(plain));
	free(plain);
	if (env == NULL)
		return -ENOMEM;
	json_object_set_new(env, "gen", json_integer(gen));
	plain = json_dumps(env, JSON_COMPACT);
	json_decref(env);
	sk = key_of(f, "secrets/%s", s->name);
	lk = key_of(f, "leader");
	if (plain == NULL || sk == NULL || lk == NULL) {
		free(plain);
		free(sk);
		free(lk);
		return -ENOMEM;
	}
	snprintf(rev, sizeof(rev), "%lld", (long long)f->leader_rev);
	cmp = json_pack("[{s:o,s:s,s:s,s:s}]", "key", b64s(lk), "target",
	    "CREATE", "result", "EQUAL", "create_revision", rev);
	put = json_pack("[{s:{s:o,s:o}}]", "requestPut", "key", b64s(sk),
	    "value", b64s(plain));
	free(plain);
	free(sk);
	free(lk);
	rc = etcd_call(f->e, "/v3/kv/txn", json_pack("{s:o,s:o}", "compare",
	    cmp, "success", put), on_write, f, &f->write);
	return rc;
}

/* One secret's next step, if any: its first key, a new key, a promotion. */
static int
duty(struct fleet *f, struct fsecret *s, int64_t now)
{
	struct idp_secret *keys[FLEET_MAX_KEYS], *fresh = NULL;
	int64_t issued[FLEET_MAX_KEYS];
	const char *missing = NULL;
	size_t n = 0, i, keep;
	int rc;

	/* A newer document this host cannot read: never overwrite it. */
	if (s->cfg == NULL || s->seen > s->gen)
		return 0;
	keep = s->cfg->keep > 0 ? s->cfg->keep : 1;
	if (s->gen > 0 && s->n > 0 && s->active != 0) {
		/* Accept-only out there: promote once every host has it. */
		if (!all_acked(f, s->name, s->gen, &missing)) {
			if (s->waiting_since == 0)
				s->waiting_since = now;
			else if (now - s->waiting_since > WAIT_WARN_MS) {
				log_warn("cluster: secret %s: host %s has not "
				    "taken generation %lld for %llds; the new "
				    "key waits", s->name, missing,
				    (long long)s->gen,
				    (long long)((now - s->waiting_since) / 1000));
				s->waiting_since = now;
			}
			return 0;
		}
		s->waiting_since = 0;
		for (i = 0; i < s->n && n < keep; i++) {
			keys[n] = s->keys[i];
			issued[n++] = s->issued[i];
		}
		log_notice("cluster: secret %s: every host has the new key; "
		    "promoting it", s->name);
		return doc_write(f, s, keys, issued, n, 0) < 0 ? -1 : 1;
	}
	if (s->gen > 0 && s->n > 0 && !s->forced &&
	    now < s->issued[0] + (int64_t)((double)s->cfg->lifetime *
	    s->cfg->renew_at))
		return 0;
	/* A new key: accepted first, except the very first one. */
	if ((rc = idp_secret_random(s->cfg->bytes, &fresh)) < 0)
		return -1;
	keys[n] = fresh;
	issued[n++] = now;
	for (i = 0; i < s->n && i < keep; i++) {
		keys[n] = s->keys[i];
		issued[n++] = s->issued[i];
	}
	rc = doc_write(f, s, keys, issued, n, s->n > 0 ? 1 : 0);
	idp_secret_free(fresh);
	if (rc < 0)
		return -1;
	log_notice("cluster: secret %s: new key (fleet generation %lld)%s",
	    s->name, (long long)s->gen + 1, s->n > 0 ? ", accept-only until "
	    "every host has it" : "");
	s->forced = 0;
	return 1;
}

static void
duties(struct fleet *f)
{
	int64_t now = loop_now_wall();
	size_t i;

	if (!f->leader || f->write != 0 || f->state != F_RUN)
		return;
	pubs_expire(f, now);
	for (i = 0; i < f->n_s; i++)
		switch (duty(f, &f->s[i], now)) {
		case 0:
			continue;
		case 1:
			return;		/* one write at a time */
		default:
			fail(f, "secret %s: cannot write the next generation",
			    f->s[i].name);
			loop_timer_at(f->dfd, loop_now_mono() + DUTY_MS);
			return;
		}
	loop_timer_at(f->dfd, loop_now_mono() + DUTY_MS);
}

static void
on_duty_timer(struct loop *l, int fd, uint32_t events, void *arg)
{
	loop_timer_ack(fd);
	duties(arg);
}

static void
on_campaign(void *arg, int rc, json_t *reply, const char *why)
{
	struct fleet *f = arg;

	f->campaign = 0;
	if (rc < 0) {
		fail(f, "campaign for leader: %s", why);
		return;
	}
	if (json_is_true(json_object_get(reply, "succeeded"))) {
		f->leader = 1;
		f->leader_rev = etcd_int(json_object_get(json_object_get(reply,
		    "header"), "revision"), 0);
		snprintf(f->leader_name, sizeof(f->leader_name), "%s", f->name);
		log_notice("cluster: leading the fleet (%zu hosts)",
		    f->n_hosts);
		duties(f);
	}
	/* Lost: the winner's key arrives through the watch. */
}

/* Takes the leader key if nobody holds it. */
static void
campaign(struct fleet *f)
{
	json_t *cmp, *put;
	char *lk, lease[32];

	if (f->campaign != 0 || f->leader || f->lease == 0 ||
	    f->leader_name[0] != '\0' || (lk = key_of(f, "leader")) == NULL)
		return;
	snprintf(lease, sizeof(lease), "%lld", (long long)f->lease);
	cmp = json_pack("[{s:o,s:s,s:s,s:s}]", "key", b64s(lk), "target",
	    "CREATE", "result", "EQUAL", "create_revision", "0");
	put = json_pack("[{s:{s:o,s:o,s:s}}]", "requestPut", "key", b64s(lk),
	    "value", b64s(f->name), "lease", lease);
	free(lk);
	if (etcd_call(f->e, "/v3/kv/txn", json_pack("{s:o,s:o}", "compare",
	    cmp, "success", put), on_campaign, f, &f->campaign) < 0)
		fail(f, "cannot campaign for leader");
}

/* ---- the state machine ---------------------------------------------------------- */

static void on_watch_event(void *, const char *, size_t,
    const unsigned char *, size_t, int, int64_t);
static void on_watch_end(void *, int, int64_t, const char *);

static void
watch_start(struct fleet *f)
{
	char *end = etcd_prefix_end(f->prefix);
	int rc;

	if (end == NULL)
		return;
	rc = etcd_watch(f->e, f->prefix, end, f->rev + 1, on_watch_event,
	    on_watch_end, f, &f->watch);
	free(end);
	if (rc < 0) {
		fail(f, "cannot watch: %s", strerror(-rc));
		f->state = F_SYNC;
		retry(f);
	}
}

static void
on_watch_event(void *arg, const char *key, size_t klen,
    const unsigned char *val, size_t vlen, int del, int64_t rev)
{
	struct fleet *f = arg;

	if (rev > f->rev)
		f->rev = rev;
	apply(f, key, klen, val, vlen, del, 1);
}

static void
on_watch_end(void *arg, int rc, int64_t compact_rev, const char *why)
{
	struct fleet *f = arg;

	f->watch = 0;
	if (rc == -ESTALE) {
		/* Missed history: read everything again. */
		log_notice("cluster: watch fell behind a compaction; reading "
		    "the prefix again");
		f->state = F_SYNC;
		loop_timer_at(f->tfd, loop_now_mono());
		return;
	}
	fail(f, "%s", why);
	f->state = F_SYNC;
	retry(f);
}

static void
on_range(void *arg, int rc, json_t *reply, const char *why)
{
	struct fleet *f = arg;
	json_t *kvs, *kv;
	unsigned char *k, *v;
	size_t i, kl, vl;
	int had_leader = 0;

	f->call = 0;
	if (rc < 0) {
		fail(f, "cannot read the prefix: %s", why);
		retry(f);
		return;
	}
	f->rev = etcd_int(json_object_get(json_object_get(reply, "header"),
	    "revision"), 0);
	/* What was known before is replaced by what is there now. */
	while (f->n_hosts > 0)
		free(f->hosts[--f->n_hosts]);
	f->n_acks = 0;
	pubs_clear(f->pubs, &f->n_pubs);
	kvs = json_object_get(reply, "kvs");
	json_array_foreach(kvs, i, kv) {
		if (etcd_unb64(json_object_get(kv, "key"), &k, &kl) < 0)
			continue;
		if (etcd_unb64(json_object_get(kv, "value"), &v, &vl) == 0) {
			if (kl == strlen(f->prefix) + 6 &&
			    memcmp(k + strlen(f->prefix), "leader", 6) == 0) {
				had_leader = 1;
				/*
				 * Still ours (same lease): lead again, after a
				 * step down for keepalives that did not get
				 * through while the lease lived on.
				 */
				if (!f->leader && f->lease != 0 &&
				    etcd_int(json_object_get(kv, "lease"), 0) ==
				    f->lease) {
					f->leader = 1;
					f->leader_rev = etcd_int(json_object_get(
					    kv, "create_revision"), 0);
					log_notice("cluster: leading the fleet "
					    "again (the leader key is still "
					    "this host's)");
				}
			}
			apply(f, (const char *)k, kl, v, vl, 0, 0);
			OPENSSL_cleanse(v, vl);
			free(v);
		}
		free(k);
	}
	if (!had_leader) {
		f->leader_name[0] = '\0';
		step_down(f, "no leader key");
	}
	f->state = F_RUN;
	f->failures = 0;
	f->last_error[0] = '\0';
	log_info("cluster: in sync with etcd at revision %lld (%zu hosts, "
	    "leader %s)", (long long)f->rev, f->n_hosts,
	    f->leader_name[0] ? f->leader_name : "none");
	watch_start(f);
	/* This host's keys again (they may have expired meanwhile). */
	for (i = 0; i < f->n_own; i++)
		f->own[i].written = 0;
	own_write(f);
	if (f->ops.keys != NULL)
		f->ops.keys(f->ops.arg);
	if (!had_leader)
		campaign(f);
	else if (f->leader)
		duties(f);
}

static void
on_register(void *arg, int rc, json_t *reply, const char *why)
{
	struct fleet *f = arg;

	f->call = 0;
	if (rc < 0) {
		fail(f, "cannot register this host: %s", why);
		retry(f);
		return;
	}
	f->state = F_SYNC;
	step(f);
}

static void
on_grant(void *arg, int rc, json_t *reply, const char *why)
{
	struct fleet *f = arg;

	f->call = 0;
	if (rc < 0 || (f->lease = etcd_int(json_object_get(reply, "ID"),
	    0)) <= 0) {
		f->lease = 0;
		fail(f, "cannot get a lease: %s", rc < 0 ? why : "no ID");
		retry(f);
		return;
	}
	f->last_ka = loop_now_mono();
	f->state = F_REGISTER;
	loop_timer_at(f->kfd, loop_now_mono() + f->ttl / 3);
	step(f);
}

/* Does the step the state is at. */
static void
step(struct fleet *f)
{
	char *k, *end, lease[32], ttl[32];
	json_t *body;

	if (f->call != 0)
		return;
	switch (f->state) {
	case F_LEASE:
		snprintf(ttl, sizeof(ttl), "%lld", (long long)(f->ttl / 1000));
		if (etcd_call(f->e, "/v3/lease/grant", json_pack("{s:s}", "TTL",
		    ttl), on_grant, f, &f->call) < 0)
			retry(f);
		break;
	case F_REGISTER:
		if ((k = key_of(f, "hosts/%s", f->name)) == NULL)
			break;
		snprintf(lease, sizeof(lease), "%lld", (long long)f->lease);
		body = json_pack("{s:o,s:o,s:s}", "key", b64s(k), "value",
		    b64s(f->cfg->region != NULL ? f->cfg->region : ""),
		    "lease", lease);
		free(k);
		if (etcd_call(f->e, "/v3/kv/put", body, on_register, f,
		    &f->call) < 0)
			retry(f);
		break;
	case F_SYNC:
		etcd_cancel(f->e, f->watch);
		f->watch = 0;
		if ((end = etcd_prefix_end(f->prefix)) == NULL)
			break;
		body = json_pack("{s:o,s:o}", "key", b64s(f->prefix),
		    "range_end", b64s(end));
		free(end);
		if (etcd_call(f->e, "/v3/kv/range", body, on_range, f,
		    &f->call) < 0)
			retry(f);
		break;
	case F_RUN:
		if (f->watch == 0)
			watch_start(f);
		break;
	}
}

static void
on_step_timer(struct loop *l, int fd, uint32_t events, void *arg)
{
	loop_timer_ack(fd);
	step(arg);
}

/* Starts over: a new lease (the old one is gone), registration, sync. */
static void
restart(struct fleet *f, const char *why)
{
	size_t i;

	step_down(f, why);
	etcd_cancel(f->e, f->call);
	etcd_cancel(f->e, f->watch);
	etcd_cancel(f->e, f->campaign);
	f->call = f->watch = f->campaign = 0;
	f->lease = 0;
	f->state = F_LEASE;
	for (i = 0; i < f->n_s; i++)
		f->s[i].acked = 0;	/* acks went with the lease */
	loop_timer_at(f->kfd, 0);
	loop_timer_at(f->tfd, loop_now_mono());
}

static void
on_keepalive(void *arg, int rc, json_t *reply, const char *why)
{
	struct fleet *f = arg;
	json_t *res;
	size_t i;

	f->ka_call = 0;
	if (rc < 0) {
		fail(f, "lease keepalive: %s", why);
		/* Not renewed for 2/3 of the lease: it may be gone. */
		if (f->leader && loop_now_mono() - f->last_ka > f->ttl * 2 / 3)
			step_down(f, "the lease could not be renewed");
		/*
		 * The member the watch hangs on may be the one that stopped
		 * answering (a stopped or cut-off member keeps the stream
		 * open and silent): watch again, through the next endpoint.
		 */
		if (f->state == F_RUN && f->watch != 0) {
			etcd_cancel(f->e, f->watch);
			f->watch = 0;
			watch_start(f);
		}
		return;
	}
	res = json_object_get(reply, "result");
	if (etcd_int(json_object_get(res, "TTL"), 0) <= 0) {
		log_warn("cluster: the lease expired; registering again");
		restart(f, "the lease expired");
		return;
	}
	f->last_ka = loop_now_mono();
	/* Stepped down, but the leader key is ours: read it again. */
	if (!f->leader && strcmp(f->leader_name, f->name) == 0 &&
	    f->state == F_RUN && f->call == 0) {
		f->state = F_SYNC;
		step(f);
	}
	/* Acknowledgements that did not go out yet. */
	for (i = 0; i < f->n_s; i++)
		if (f->s[i].applied != 0 && f->s[i].acked != f->s[i].applied)
			secret_apply(f, &f->s[i]);
}

static void
on_ka_timer(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct fleet *f = arg;
	char id[32];

	loop_timer_ack(fd);
	if (f->lease == 0)
		return;
	loop_timer_at(f->kfd, loop_now_mono() + f->ttl / 3);
	if (f->ka_call != 0)
		return;
	snprintf(id, sizeof(id), "%lld", (long long)f->lease);
	if (etcd_call(f->e, "/v3/lease/keepalive", json_pack("{s:s}", "ID", id),
	    on_keepalive, f, &f->ka_call) < 0)
		fail(f, "cannot send a lease keepalive");
	if (f->leader && loop_now_mono() - f->last_ka > f->ttl * 2 / 3)
		step_down(f, "the lease could not be renewed");
}

/* ---- setup ------------------------------------------------------------------- */

/* The fleet key: 32 bytes, or their hex (64) or base64 (44) spelling. */
static int
read_key(const char *path, unsigned char *out)
{
	struct idp_secret *s = NULL;
	struct idp_err err;
	unsigned char *dec = NULL;
	size_t dlen = 0, i;
	json_t *j;
	int rc;

	err.msg[0] = '\0';
	if ((rc = idp_secret_read_file(path, 4096, IDP_SECRET_STRICT_MODE |
	    IDP_SECRET_STRIP_NL, &s, &err)) < 0) {
		log_err("cluster: key_file: %s", err.msg[0] ? err.msg :
		    strerror(-rc));
		return rc;
	}
	rc = -EINVAL;
	if (s->len == KEY_LEN) {
		memcpy(out, s->buf, KEY_LEN);
		rc = 0;
	} else if (s->len == 2 * KEY_LEN) {
		for (i = 0; i < KEY_LEN; i++) {
			unsigned int b;

			if (sscanf((const char *)s->buf + 2 * i, "%2x", &b) != 1)
				break;
			out[i] = (unsigned char)b;
		}
		rc = i == KEY_LEN ? 0 : -EINVAL;
	} else if (s->len == 44 && (j = json_stringn((const char *)s->buf,
	    s->len)) != NULL) {
		if (etcd_unb64(j, &dec, &dlen) == 0 && dlen == KEY_LEN) {
			memcpy(out, dec, KEY_LEN);
			rc = 0;
		}
		if (dec != NULL) {
			OPENSSL_cleanse(dec, dlen);
			free(dec);
		}
		json_decref(j);
	}
	idp_secret_free(s);
	if (rc < 0)
		log_err("cluster: key_file %s: want 32 bytes (raw, 64 hex "
		    "digits or base64), e.g. from openssl rand -out FILE 32",
		    path);
	return rc;
}

/* The fleet secrets of c: kept where they were, new ones added. */
static int
secrets_bind(struct fleet *f, const struct config *c)
{
	struct fsecret *s, *ns;
	size_t i, j;

	for (i = 0; i < f->n_s; i++)
		f->s[i].cfg = NULL;
	for (i = 0; i < c->n_creds; i++) {
		const struct cfg_cred *cr = c->creds[i];

		if (cr->type != CRED_SECRET || !cr->fleet)
			continue;
		if ((s = secret_find(f, cr->name, strlen(cr->name))) == NULL) {
			if ((ns = reallocarray(f->s, f->n_s + 1,
			    sizeof(*ns))) == NULL)
				return -ENOMEM;
			f->s = ns;
			s = &f->s[f->n_s++];
			memset(s, 0, sizeof(*s));
			snprintf(s->name, sizeof(s->name), "%s", cr->name);
		}
		s->cfg = cr;
	}
	/* Secrets no longer configured are forgotten. */
	for (i = j = 0; i < f->n_s; i++) {
		if (f->s[i].cfg == NULL) {
			secret_clear_keys(&f->s[i]);
			continue;
		}
		f->s[j++] = f->s[i];
	}
	f->n_s = j;
	return 0;
}

int
fleet_new(struct loop *l, const struct config *c, const struct fleet_ops *ops,
    struct fleet **ret)
{
	const struct cfg_cluster *cc = &c->cluster;
	struct fleet *f;
	int rc;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -ENOMEM;
	f->loop = l;
	f->cfg = c;
	f->ops = *ops;
	f->tfd = f->kfd = f->dfd = -1;
	f->ttl = cc->lease_ttl;
	f->state = F_LEASE;
	if ((rc = read_key(cc->key_file, f->key)) < 0)
		goto fail;
	rc = -ENOMEM;
	if ((f->prefix = strdup(cc->prefix)) == NULL ||
	    (f->name = strdup(cc->name)) == NULL ||
	    secrets_bind(f, c) < 0)
		goto fail;
	if ((rc = etcd_new(l, cc->endpoints, cc->n_endpoints, cc->ca_file,
	    cc->client_cert, cc->client_key, cc->timeout, &f->e)) < 0)
		goto fail;
	if ((f->tfd = loop_timer_new()) < 0 || (f->kfd = loop_timer_new()) < 0 ||
	    (f->dfd = loop_timer_new()) < 0) {
		rc = -EMFILE;
		goto fail;
	}
	if ((rc = loop_add(l, f->tfd, EPOLLIN, on_step_timer, f)) < 0 ||
	    (rc = loop_add(l, f->kfd, EPOLLIN, on_ka_timer, f)) < 0 ||
	    (rc = loop_add(l, f->dfd, EPOLLIN, on_duty_timer, f)) < 0)
		goto fail;
	log_info("cluster: joining as %s through %s (prefix %s)", f->name,
	    etcd_endpoint(f->e), f->prefix);
	loop_timer_at(f->tfd, loop_now_mono());
	*ret = f;
	return 0;
fail:
	fleet_free(f);
	return rc;
}

static int
same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL &&
	    strcmp(a, b) == 0);
}

int
fleet_configure(struct fleet *f, const struct config *c)
{
	const struct cfg_cluster *a = &f->cfg->cluster, *b = &c->cluster;
	size_t i;

	if (b->line == 0 || a->n_endpoints != b->n_endpoints ||
	    strcmp(a->prefix, b->prefix) != 0 || strcmp(a->name, b->name) != 0 ||
	    strcmp(a->key_file, b->key_file) != 0 ||
	    a->lease_ttl != b->lease_ttl || a->timeout != b->timeout ||
	    !same_str(a->ca_file, b->ca_file) ||
	    !same_str(a->client_cert, b->client_cert) ||
	    !same_str(a->client_key, b->client_key))
		return 1;
	for (i = 0; i < a->n_endpoints; i++)
		if (strcmp(a->endpoints[i], b->endpoints[i]) != 0)
			return 1;
	f->cfg = c;
	if (secrets_bind(f, c) < 0)
		return -ENOMEM;
	/* Secrets new to this host: published as soon as they are read. */
	if (f->state == F_RUN) {
		f->state = F_SYNC;
		loop_timer_at(f->tfd, loop_now_mono());
	}
	return 0;
}

/*
 * Revokes the lease on the way out, so the leader key (and this host's
 * registration and acknowledgements) go at once, not after the TTL.
 * Blocking, but short: the daemon is stopping.
 */
static void
lease_revoke(struct fleet *f)
{
	char body[64];

	if (f->lease == 0 || f->e == NULL)
		return;
	snprintf(body, sizeof(body), "{\"ID\":\"%lld\"}", (long long)f->lease);
	if (etcd_call_wait(f->e, "/v3/lease/revoke", body, 1000) == 0)
		log_info("cluster: left the fleet (lease revoked)");
}

void
fleet_free(struct fleet *f)
{
	size_t i;

	if (f == NULL)
		return;
	lease_revoke(f);
	etcd_free(f->e);
	if (f->tfd >= 0) {
		loop_del(f->loop, f->tfd);
		close(f->tfd);
	}
	if (f->kfd >= 0) {
		loop_del(f->loop, f->kfd);
		close(f->kfd);
	}
	if (f->dfd >= 0) {
		loop_del(f->loop, f->dfd);
		close(f->dfd);
	}
	for (i = 0; i < f->n_s; i++)
		secret_clear_keys(&f->s[i]);
	free(f->s);
	for (i = 0; i < f->n_hosts; i++)
		free(f->hosts[i]);
	free(f->hosts);
	free(f->acks);
	pubs_clear(f->pubs, &f->n_pubs);
	free(f->pubs);
	pubs_clear(f->own, &f->n_own);
	free(f->own);
	free(f->prefix);
	free(f->name);
	OPENSSL_cleanse(f->key, sizeof(f->key));
	free(f);
}

static void
on_rotate_put(void *arg, int rc, json_t *reply, const char *why)
{
	struct fleet *f = arg;

	if (rc < 0)
		fail(f, "rotate --fleet: %s", why);
}

int
fleet_rotate(struct fleet *f, const char *const *names, size_t n,
    char *why, size_t whylen)
{
	char *k, val[160];
	size_t i;
	int rc;

	if (f->state != F_RUN) {
		snprintf(why, whylen, "not connected to etcd (%s)",
		    f->last_error[0] ? f->last_error : "starting");
		return -ENOTCONN;
	}
	snprintf(val, sizeof(val), "{\"by\":\"%s\",\"at\":%lld}", f->name,
	    (long long)loop_now_wall());
	for (i = 0; i < (n > 0 ? n : 1); i++) {
		if ((k = key_of(f, "rotate/%s", n > 0 ? names[i] : "*")) ==
		    NULL)
			return -ENOMEM;
		rc = etcd_call(f->e, "/v3/kv/put", json_pack("{s:o,s:o}", "key",
		    b64s(k), "value", b64s(val)), on_rotate_put, f, NULL);
		free(k);
		if (rc < 0) {
			snprintf(why, whylen, "%s", strerror(-rc));
			return rc;
		}
	}
	return 0;
}

json_t *
fleet_status(const struct fleet *f)
{
	static const char *const states[] = {
		[F_LEASE] = "lease", [F_REGISTER] = "register",
		[F_SYNC] = "sync", [F_RUN] = "run",
	};
	json_t *o, *hosts, *secrets;
	size_t i;

	hosts = json_array();
	for (i = 0; i < f->n_hosts; i++)
		json_array_append_new(hosts, json_string(f->hosts[i]));
	secrets = json_array();
	for (i = 0; i < f->n_s; i++)
		json_array_append_new(secrets, json_pack("{s:s,s:I,s:I,s:b}",
		    "name", f->s[i].name, "generation", (json_int_t)f->s[i].gen,
		    "published", (json_int_t)f->s[i].applied, "accept_only",
		    f->s[i].n > 0 && f->s[i].active != 0));
	o = json_pack("{s:s,s:s,s:s,s:b,s:s,s:I,s:o,s:o,s:s}", "name", f->name,
	    "state", states[f->state], "endpoint", etcd_endpoint(f->e),
	    "leader", f->leader, "leader_name", f->leader_name,
	    "revision", (json_int_t)f->rev, "hosts", hosts, "secrets",
	    secrets, "last_error", f->last_error);
	return o;
}

void
fleet_metrics(const struct fleet *f, FILE *out)
{
	fprintf(out, "# HELP rotatord_cluster_leader 1 while this host leads "
	    "the fleet.\n# TYPE rotatord_cluster_leader gauge\n"
	    "rotatord_cluster_leader %d\n", f->leader);
	fprintf(out, "# HELP rotatord_cluster_connected 1 while this host is "
	    "in sync with etcd and watching.\n"
	    "# TYPE rotatord_cluster_connected gauge\n"
	    "rotatord_cluster_connected %d\n",
	    f->state == F_RUN && f->watch != 0);
	fprintf(out, "# HELP rotatord_cluster_hosts Hosts registered in the "
	    "fleet.\n# TYPE rotatord_cluster_hosts gauge\n"
	    "rotatord_cluster_hosts %zu\n", f->n_hosts);
	fprintf(out, "# HELP rotatord_cluster_errors_total Failed etcd steps.\n"
	    "# TYPE rotatord_cluster_errors_total counter\n"
	    "rotatord_cluster_errors_total %llu\n",
	    (unsigned long long)f->errors);
	fprintf(out, "# HELP rotatord_cluster_secret_writes_total Fleet secret "
	    "documents written by this host as leader.\n"
	    "# TYPE rotatord_cluster_secret_writes_total counter\n"
	    "rotatord_cluster_secret_writes_total %llu\n",
	    (unsigned long long)f->writes);
}
