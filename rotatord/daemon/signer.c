/* SPDX-License-Identifier: Apache-2.0 */
/*
 * signer.c: the keys this host publishes and verifies with: each signer's
 * JWKS and discovery files, in a fleet the union with the other hosts'
 * keys and CA certificates.  Schedules nothing itself but signer_due.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "daemon/daemon_int.h"
#include "fleet/fleet.h"
#include "sinks/sink.h"
#include "sources/mint.h"

/* A 64-bit FNV-1a hash: tells whether a ca.pem changed. */
uint64_t
fnv1a(const char *p, size_t n)
{
	uint64_t h = 14695981039346656037ULL;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/*
 * CA ci's certificates with the other hosts' of the same CA appended
 * (each certificate once), as a new string; NULL when there are none
 * (or outside a fleet): then this host's own.
 */
char *
ca_fleet_pem(struct daemon *d, size_t ci)
{
	static const char end_mark[] = "-----END CERTIFICATE-----";
	struct ca_state *ca = d->rt->cas[ci];
	const char **docs, *p, *e;
	char *out;
	size_t n, j, len, cap, k;

	/* Every host's: a fleet of any size (no fixed cap). */
	if (d->fleet == NULL || (n = fleet_peer_ca(d->fleet,
	    d->rt->cfg->cas[ci]->name, NULL, 0)) == 0 ||
	    (docs = calloc(n, sizeof(*docs))) == NULL)
		return NULL;
	n = fleet_peer_ca(d->fleet, d->rt->cfg->cas[ci]->name, docs, n);
	for (cap = ca->trust_len + 1, j = 0; j < n; j++)
		cap += strlen(docs[j]) + 1;
	if ((out = malloc(cap)) == NULL) {
		free(docs);
		return NULL;
	}
	memcpy(out, ca->trust_pem, ca->trust_len);
	len = ca->trust_len;
	out[len] = '\0';
	for (j = 0; j < n; j++)
		for (p = docs[j]; (e = strstr(p, end_mark)) != NULL; p = e) {
			e += sizeof(end_mark) - 1;
			if (*e == '\n')
				e++;
			k = (size_t)(e - p);
			while (k > 0 && (*p == '\n' || *p == '\r')) {
				p++;
				k--;
			}
			/* A certificate already there is not added twice. */
			if (k == 0 || memmem(out, len, p, k) != NULL)
				continue;
			memcpy(out + len, p, k);
			len += k;
			if (out[len - 1] != '\n')
				out[len++] = '\n';
			out[len] = '\0';
		}
	free(docs);
	return out;
}

/*
 * Publishes signer i's JWKS and discovery document (no-op if unchanged);
 * jwks (may be NULL: the signer's own) is the JWKS to publish, in a
 * fleet the union of every host's keys of this signer.
 */
int
signer_publish(struct runtime *rt, size_t i, const char *jwks)
{
	struct signer_state *s = rt->signers[i];
	struct mint_result r;
	struct material_meta m;
	char *own = s->jwks_json;
	size_t own_len = s->jwks_len;
	int64_t next;
	size_t j;
	int rc;

	if (jwks != NULL) {
		s->jwks_json = (char *)(uintptr_t)jwks;
		s->jwks_len = strlen(jwks);
	}
	rc = mint_signer_files(s, &r);
	s->jwks_json = own;
	s->jwks_len = own_len;
	if (rc < 0)
		return rc;
	memset(&m, 0, sizeof(m));
	m.name = s->cfg->name;
	m.type = "signer";
	m.issued_at = r.issued_at / 1000;
	m.not_before = r.not_before / 1000;
	m.not_after = r.not_after / 1000;
	m.renew_at = r.not_after / 1000;
	rc = sink_publish(rt->sink, s->cfg->dir, r.files, r.n_files, &m,
	    (uid_t)-1, (gid_t)-1, 0755, NULL);
	mint_result_clear(&r);
	if (rc < 0)
		return rc;
	if (rc == 1) {
		log_notice("signer %s: published JWKS (current key %s)",
		    s->cfg->name, idp_key_kid(s->key));
		free(rt->jwks);
		rt->jwks = NULL;
	}
	/* Next change: key rotation or a retired key leaving the JWKS. */
	next = s->rotate_wall;
	for (j = 0; j < json_array_size(s->retired); j++) {
		int64_t until = json_integer_value(json_object_get(
		    json_array_get(s->retired, j), "until")) * 1000;

		if (until < next)
			next = until;
	}
	rt->signer_due[i] = next;
	return 0;
}

/*
 * Signer i's keys: this host's, plus in a fleet the other hosts' (a kid
 * already present is not added twice).  A new set (idp_jwks_free()).
 */
void
signer_keys_dirty(struct runtime *rt)
{
	size_t i;

	for (i = 0; rt != NULL && rt->keys != NULL && i < rt->cfg->n_signers;
	    i++) {
		idp_jwks_free(rt->keys[i]);
		rt->keys[i] = NULL;
	}
}

/* A new set of references to the keys of set. */
static struct idp_jwks *
keys_copy(const struct idp_jwks *set)
{
	struct idp_jwks *c;
	struct idp_key *k;
	size_t j;

	if ((c = idp_jwks_new()) == NULL)
		return NULL;
	for (j = 0; j < idp_jwks_count(set); j++) {
		k = idp_key_ref((struct idp_key *)(uintptr_t)idp_jwks_get(set,
		    j));
		if (idp_jwks_add(c, k) < 0) {
			idp_key_free(k);
			idp_jwks_free(c);
			return NULL;
		}
	}
	return c;
}

/*
 * Another host's JWKS document of signer i, parsed (borrowed), or NULL:
 * parsed once for as long as that host publishes the same document, so a
 * change of one host's keys costs one parse, not one per host.
 */
static struct idp_jwks *
peer_parsed(struct runtime *rt, size_t i, const char *doc)
{
	struct peer_doc *p, *np;
	struct idp_jwks *set;
	size_t j;

	for (j = 0; j < rt->n_peers; j++) {
		p = &rt->peers[j];
		if (p->signer == i && strcmp(p->doc, doc) == 0) {
			p->used = 1;
			return p->set;
		}
	}
	if (idp_jwks_parse(doc, strlen(doc), 64, &set, NULL) < 0)
		return NULL;
	if ((np = reallocarray(rt->peers, rt->n_peers + 1,
	    sizeof(*np))) == NULL) {
		idp_jwks_free(set);
		return NULL;
	}
	rt->peers = np;
	p = &rt->peers[rt->n_peers];
	if ((p->doc = strdup(doc)) == NULL) {
		idp_jwks_free(set);
		return NULL;
	}
	rt->n_peers++;
	p->signer = i;
	p->set = set;
	p->used = 1;
	return set;
}

static struct idp_jwks *
keys_build(struct daemon *d, size_t i)
{
	const struct idp_jwks *own = d->rt->signers[i]->jwks;
	const char **docs = NULL;
	struct idp_jwks *set, *peer;
	struct idp_key *k;
	size_t j, n = 0, m;

	if ((set = idp_jwks_new()) == NULL)
		return NULL;
	for (j = 0; j < idp_jwks_count(own); j++) {
		k = idp_key_ref((struct idp_key *)(uintptr_t)idp_jwks_get(own, j));
		if (idp_jwks_add(set, k) < 0)
			idp_key_free(k);
	}
	/* Every host's: a fleet of any size (no fixed cap). */
	if (d->fleet != NULL && (n = fleet_peer_jwks(d->fleet,
	    d->rt->cfg->signers[i]->name, NULL, 0)) > 0) {
		if ((docs = calloc(n, sizeof(*docs))) == NULL) {
			idp_jwks_free(set);
			return NULL;
		}
		n = fleet_peer_jwks(d->fleet, d->rt->cfg->signers[i]->name,
		    docs, n);
	}
	for (j = 0; j < d->rt->n_peers; j++)
		if (d->rt->peers[j].signer == i)
			d->rt->peers[j].used = 0;
	for (j = 0; j < n; j++) {
		if ((peer = peer_parsed(d->rt, i, docs[j])) == NULL)
			continue;
		for (m = 0; m < idp_jwks_count(peer); m++) {
			k = idp_key_ref((struct idp_key *)(uintptr_t)
			    idp_jwks_get(peer, m));
			if (idp_jwks_add(set, k) < 0)
				idp_key_free(k);	/* a kid seen already */
		}
	}
	free(docs);
	/* Documents no longer there go. */
	for (j = d->rt->n_peers; j-- > 0; ) {
		struct peer_doc *p = &d->rt->peers[j];

		if (p->signer != i || p->used)
			continue;
		free(p->doc);
		idp_jwks_free(p->set);
		*p = d->rt->peers[--d->rt->n_peers];
	}
	return set;
}

struct idp_jwks *
signer_keys(struct daemon *d, size_t i)
{
	struct runtime *rt = d->rt;

	if (rt->keys == NULL && (rt->keys = calloc(rt->cfg->n_signers,
	    sizeof(*rt->keys))) == NULL)
		return NULL;
	if (rt->keys[i] == NULL && (rt->keys[i] = keys_build(d, i)) == NULL)
		return NULL;
	return keys_copy(rt->keys[i]);
}

/* Publishes signer i with the fleet's keys of it (own only outside one). */
int
signer_refresh(struct daemon *d, size_t i)
{
	struct idp_jwks *keys = NULL;
	char *txt = NULL;
	size_t len;
	int rc;

	if (d->fleet != NULL && (keys = signer_keys(d, i)) != NULL &&
	    idp_jwks_count(keys) > idp_jwks_count(d->rt->signers[i]->jwks) &&
	    idp_jwks_dump(keys, &txt, &len) < 0)
		txt = NULL;
	idp_jwks_free(keys);
	rc = signer_publish(d->rt, i, txt);
	free(txt);
	return rc;
}

/*
 * Gives the fleet this host's signer keys, kept after this host is gone
 * for as long as a token it signed may live (two key lifetimes).
 */
void
daemon_publish_jwks(struct daemon *d)
{
	struct runtime *rt = d->rt;
	int64_t now = loop_now_wall(), keep;
	size_t i;

	if (d->fleet == NULL)
		return;
	for (i = 0; i < rt->cfg->n_signers; i++) {
		/* Whole hours: the value changes with the keys, not the clock. */
		keep = schedule_fleet_keep(rt->cfg->signers[i]->key_lifetime,
		    rt->signers[i]->max_token_life, now);
		if (fleet_publish_jwks(d->fleet, rt->cfg->signers[i]->name,
		    rt->signers[i]->jwks_json, keep) < 0)
			log_warn("cluster: cannot publish the keys of signer %s",
			    rt->cfg->signers[i]->name);
	}
	/* CA certificates: until the current one expires. */
	for (i = 0; i < rt->cfg->n_cas; i++)
		if (fleet_publish_ca(d->fleet, rt->cfg->cas[i]->name,
		    rt->cas[i]->trust_pem, rt->cas[i]->not_after) < 0)
			log_warn("cluster: cannot publish the certificates of "
			    "CA %s", rt->cfg->cas[i]->name);
}
