/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Signer keys and CA certificates of the fleet: this host's own, written
 * to etcd (again when they go missing), and the other hosts', kept while
 * authentic and unexpired.  The leader removes the expired ones.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "fleet/fleet_int.h"

void
pk_pubs_clear(struct pub *v, size_t *n)
{
	while (*n > 0)
		free(v[--*n].doc);
}

/*
 * "pub/HOST/jwks/SIGNER" = {host, kind: "jwks", name, until, jwks} or
 * "pub/HOST/ca/CA" = {host, kind: "ca", name, until, pem}, or deleted.
 * Only an authentic record of another host, unexpired, is taken.
 */
void
pk_pub_rec(struct fleet *f, const struct etcd_kv *kv, const char *k, size_t len)
{
	const char *s1 = memchr(k, '/', len), *signer;
	size_t hl, sl, i;
	struct pub *p = NULL, *np;
	json_t *body = NULL;
	char *doc = NULL;
	int64_t until;
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
	/*
	 * This host's own keys are its own business: when what etcd holds is
	 * not what this host wrote (removed, replaced), it writes it again.
	 */
	if (strlen(f->name) == hl && memcmp(f->name, k, hl) == 0) {
		for (i = 0; i < f->n_own; i++) {
			if (f->own[i].ca != ca || strlen(f->own[i].signer) != sl ||
			    memcmp(f->own[i].signer, signer, sl) != 0)
				continue;
			body = kv->is_delete ? NULL : fl_open_record(f, RF_PUB,
			    kv);
			doc = body != NULL ? json_dumps(body, JSON_COMPACT |
			    JSON_SORT_KEYS) : NULL;
			if (doc == NULL || strcmp(doc, f->own[i].doc) != 0) {
				f->own[i].written = 0;
				pk_own_write(f);
			}
			free(doc);
			json_decref(body);
		}
		return;
	}
	for (i = 0; i < f->n_pubs; i++)
		if (f->pubs[i].ca == ca && strlen(f->pubs[i].host) == hl &&
		    memcmp(f->pubs[i].host, k, hl) == 0 &&
		    strlen(f->pubs[i].signer) == sl &&
		    memcmp(f->pubs[i].signer, signer, sl) == 0) {
			p = &f->pubs[i];
			break;
		}
	if (!kv->is_delete && (body = fl_open_record(f, RF_PUB, kv)) != NULL) {
		until = fleetrec_int(body, "until", 0);
		if (!fl_body_says(body, "host", k, hl) ||
		    !fl_body_says(body, "name", signer, sl) ||
		    !fl_body_says(body, "kind", ca ? "ca" : "jwks",
		    ca ? 2 : 4) ||
		    (ca ? fleetrec_str(body, "pem") == NULL :
		    !json_is_object(json_object_get(body, "jwks")))) {
			rp_refuse(f, RF_PUB, kv, "keys that do not match their "
			    "key");
		} else if (until <= loop_now_wall()) {
			/* Authentic but past its time: not trusted any more. */
		} else if (ca) {
			doc = strdup(fleetrec_str(body, "pem"));
		} else {
			doc = json_dumps(json_object_get(body, "jwks"),
			    JSON_COMPACT);
		}
		json_decref(body);
	}
	if (doc == NULL) {
		/* Deleted, refused or expired: no longer trusted. */
		if (p != NULL) {
			free(p->doc);
			*p = f->pubs[--f->n_pubs];
			if (f->ops.keys != NULL)
				f->ops.keys(f->ops.arg, ca ?
				    FLEET_KEYS_CA : FLEET_KEYS_JWKS);
		}
		return;
	}
	if (p == NULL) {
		if ((np = reallocarray(f->pubs, f->n_pubs + 1,
		    sizeof(*np))) == NULL) {
			free(doc);
			return;
		}
		f->pubs = np;
		p = &f->pubs[f->n_pubs++];
		memset(p, 0, sizeof(*p));
		p->ca = ca;
		memcpy(p->host, k, hl);
		memcpy(p->signer, signer, sl);
	}
	p->until = until;
	if (p->doc != NULL && strcmp(p->doc, doc) == 0) {
		free(doc);
		return;
	}
	free(p->doc);
	p->doc = doc;
	if (f->ops.keys != NULL)
		f->ops.keys(f->ops.arg, ca ? FLEET_KEYS_CA :
		    FLEET_KEYS_JWKS);
}

void
pk_on_pub_put(void *arg, int rc, json_t *reply, const char *why)
{
	struct fleet *f = arg;

	if (rc < 0)
		rp_fail(f, "cannot publish this host's signer keys: %s", why);
}

/* Writes this host's signer keys that are not in etcd yet. */
void
pk_own_write(struct fleet *f)
{
	struct pub *p;
	json_t *body;
	size_t i;
	char *k;

	if (f->state != F_RUN)
		return;
	for (i = 0; i < f->n_own; i++) {
		p = &f->own[i];
		if (p->written || (k = fl_key_of(f, "pub/%s/%s/%s", f->name,
		    p->ca ? "ca" : "jwks", p->signer)) == NULL)
			continue;
		body = json_loads(p->doc, 0, NULL);
		if (fl_put_record(f, k, body, 0, pk_on_pub_put, NULL) == 0)
			p->written = 1;
		free(k);
	}
}

/* This host's keys or certificates (body v, taken) for the fleet. */
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
	pk_own_write(f);
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
	return own_set(f, 0, signer, json_pack("{s:s,s:s,s:s,s:I,s:o}", "host",
	    f->name, "kind", "jwks", "name", signer, "until",
	    (json_int_t)until, "jwks", jw), until);
}

int
fleet_publish_ca(struct fleet *f, const char *ca, const char *pem,
    int64_t until)
{
	if (strlen(ca) > CONFIG_MAX_NAME)
		return -EINVAL;
	return own_set(f, 1, ca, json_pack("{s:s,s:s,s:s,s:I,s:s}", "host",
	    f->name, "kind", "ca", "name", ca, "until", (json_int_t)until,
	    "pem", pem), until);
}

size_t
fleet_peer_ca(const struct fleet *f, const char *ca, const char **docs,
    size_t max)
{
	int64_t now = loop_now_wall();
	size_t i, n = 0;

	for (i = 0; i < f->n_pubs; i++)
		if (f->pubs[i].ca && strcmp(f->pubs[i].signer, ca) == 0 &&
		    f->pubs[i].until > now) {
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
	int64_t now = loop_now_wall();
	size_t i, n = 0;

	for (i = 0; i < f->n_pubs; i++)
		if (!f->pubs[i].ca && strcmp(f->pubs[i].signer, signer) == 0 &&
		    f->pubs[i].until > now) {
			if (n < max)
				docs[n] = f->pubs[i].doc;
			n++;
		}
	return n;
}

/* Leader: other hosts' keys past their time go (a host long gone). */
void
pk_pubs_expire(struct fleet *f, int64_t now)
{
	size_t i;
	char *k;

	for (i = 0; i < f->n_pubs; i++) {
		if (f->pubs[i].until >= now || f->pubs[i].asked ||
		    (k = fl_key_of(f, "pub/%s/%s/%s", f->pubs[i].host,
		    f->pubs[i].ca ? "ca" : "jwks", f->pubs[i].signer)) == NULL)
			continue;
		log_info("cluster: host %s's %s of %s expired; removing them",
		    f->pubs[i].host, f->pubs[i].ca ? "certificates" : "keys",
		    f->pubs[i].signer);
		(void)etcd_call(f->e, "/v3/kv/deleterange", json_pack("{s:o}",
		    "key", fl_b64s(k)), pk_on_pub_put, f, NULL);
		f->pubs[i].asked = 1;		/* once */
		free(k);
	}
}
