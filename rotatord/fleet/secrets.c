/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fleet secrets this host holds: a generation from etcd is
 * authenticated, opened, held against the high-water mark, published here
 * and acknowledged.  Makes no generation itself (rollout.c does).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <idp/b64.h>
#include <idp/secret.h>

#include "core/log.h"
#include "fleet/fleet_int.h"

struct fsecret *
sc_secret_find(struct fleet *f, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < f->n_s; i++)
		if (strlen(f->s[i].name) == len &&
		    memcmp(f->s[i].name, name, len) == 0)
			return &f->s[i];
	return NULL;
}

void
sc_secret_clear_keys(struct fsecret *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		idp_secret_free(s->keys[i]);
	s->n = 0;
}

/*
 * The document of one generation (JSON text, as a secret): the keys
 * (base64url, newest first), when each was made, which one encrypts, the
 * lifetime.  Its bytes are what the fingerprint covers.
 */
struct idp_secret *
sc_doc_plain(const struct fsecret *s, int64_t gen,
    struct idp_secret *const *keys, const int64_t *issued, size_t n,
    size_t active)
{
	struct idp_secret *out = NULL;
	json_t *doc, *ka, *ia;
	char *text, *b;
	size_t i;

	ka = json_array();
	ia = json_array();
	for (i = 0; ka != NULL && ia != NULL && i < n; i++) {
		if ((b = malloc(idp_b64url_enc_len(keys[i]->len) + 1)) == NULL)
			break;
		idp_b64url_encode(keys[i]->buf, keys[i]->len, b);
		json_array_append_new(ka, json_string(b));
		explicit_bzero(b, strlen(b));
		free(b);
		json_array_append_new(ia, json_integer(issued[i]));
	}
	doc = json_pack("{s:i,s:s,s:I,s:o,s:o,s:I,s:I}", "v", 2, "name",
	    s->name, "gen", (json_int_t)gen, "keys", ka, "issued", ia,
	    "active", (json_int_t)active, "lifetime",
	    (json_int_t)s->cfg->lifetime);
	text = doc != NULL && i == n ? json_dumps(doc, JSON_COMPACT |
	    JSON_SORT_KEYS) : NULL;
	/* The key strings inside the jansson tree are wiped with it below. */
	if (doc != NULL) {
		json_array_foreach(json_object_get(doc, "keys"), i, ka)
			if (json_string_value(ka) != NULL)
				explicit_bzero((char *)json_string_value(ka),
				    json_string_length(ka));
	}
	json_decref(doc);
	if (text == NULL)
		return NULL;
	out = idp_secret_dup(text, strlen(text));
	explicit_bzero(text, strlen(text));
	free(text);
	return out;
}

static void
on_ack_put(void *arg, int rc, json_t *reply, const char *why)
{
	struct fleet *f = arg;

	if (rc < 0)
		rp_fail(f, "cannot acknowledge a fleet secret: %s", why);
}

/* Publishes s here (when it changed) and acknowledges its generation. */
void
sc_secret_apply(struct fleet *f, struct fsecret *s)
{
	struct idp_secret *order[FLEET_MAX_KEYS];
	char *k, ls[32];
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
			rp_fail(f, "secret %s: cannot publish generation "
			    "%lld: %s", s->name, (long long)s->gen,
			    strerror(-rc));
			return;
		}
		s->applied = s->gen;
		log_info("cluster: secret %s: fleet generation %lld published "
		    "(%zu keys, %s)", s->name, (long long)s->gen, s->n,
		    s->active == 0 ? "new key encrypts" : "new key accepted "
		    "only");
	}
	if (s->acked == s->gen || f->lease == 0 || f->state != F_RUN)
		return;
	if ((k = fl_key_of(f, "acks/%s/%s", s->name, f->name)) == NULL)
		return;
	snprintf(ls, sizeof(ls), "%lld", (long long)f->lease);
	if (fl_put_record(f, k, json_pack("{s:s,s:s,s:I,s:s,s:s}", "secret",
	    s->name, "host", f->name, "gen", (json_int_t)s->gen, "fp", s->fp,
	    "lease", ls), f->lease, on_ack_put, NULL) == 0)
		s->acked = s->gen;
	free(k);
}

/*
 * Takes generation gen of s, whose document is plain (taken) with
 * fingerprint fp: parses it, raises the high-water mark (durably), and
 * publishes.  Returns 0, or -EBADMSG for a document that does not parse
 * (nothing changed then).
 */
int
sc_secret_take(struct fleet *f, struct fsecret *s, int64_t gen, const char *fp,
    struct idp_secret *plain)
{
	struct idp_secret *keys[FLEET_MAX_KEYS];
	int64_t issued[FLEET_MAX_KEYS];
	json_t *doc, *ka, *ia, *el;
	size_t i, n = 0, active;
	int64_t lifetime;
	int rc = -EBADMSG;

	doc = json_loadb((const char *)plain->buf, plain->len,
	    JSON_REJECT_DUPLICATES, NULL);
	ka = json_object_get(doc, "keys");
	ia = json_object_get(doc, "issued");
	active = (size_t)json_integer_value(json_object_get(doc, "active"));
	lifetime = json_integer_value(json_object_get(doc, "lifetime"));
	if (json_integer_value(json_object_get(doc, "v")) != 2 ||
	    !fl_body_says(doc, "name", s->name, strlen(s->name)) ||
	    json_integer_value(json_object_get(doc, "gen")) != gen ||
	    !json_is_array(ka) || json_array_size(ka) == 0 ||
	    json_array_size(ka) > FLEET_MAX_KEYS ||
	    json_array_size(ia) != json_array_size(ka) ||
	    !json_is_integer(json_object_get(doc, "active")) ||
	    active >= json_array_size(ka) || lifetime <= 0)
		goto out;
	json_array_foreach(ka, i, el) {
		const char *b = json_string_value(el);
		unsigned char *raw;
		size_t rlen;

		if (b == NULL || idp_b64url_decode_alloc(b, strlen(b), &raw,
		    &rlen) < 0)
			goto out;
		if (rlen == 0 || rlen > 4096) {
			explicit_bzero(raw, rlen);
			free(raw);
			goto out;
		}
		keys[n] = idp_secret_dup(raw, rlen);
		explicit_bzero(raw, rlen);
		free(raw);
		if (keys[n] == NULL)
			goto out;
		issued[n] = json_integer_value(json_array_get(ia, i));
		n++;
	}
	/* Durable first: a restart must never accept anything older. */
	if (fleetstate_set_hw(f->st, s->name, gen, fp) < 0 ||
	    fleetstate_save(f->st) < 0)
		rp_fail(f, "secret %s: cannot record generation %lld in %s; "
		    "going on with it", s->name, (long long)gen, f->st->path);
	sc_secret_clear_keys(s);
	for (i = 0; i < n; i++) {
		s->keys[i] = keys[i];
		s->issued[i] = issued[i];
	}
	s->n = n;
	n = 0;
	s->gen = gen;
	snprintf(s->fp, sizeof(s->fp), "%s", fp);
	idp_secret_free(s->plain);
	s->plain = plain;
	plain = NULL;
	s->active = active;
	s->lifetime = lifetime;
	s->waiting_since = 0;
	sc_secret_apply(f, s);
	rc = 0;
out:
	for (i = 0; i < n; i++)
		idp_secret_free(keys[i]);
	if (doc != NULL) {
		json_array_foreach(json_object_get(doc, "keys"), i, el)
			if (json_string_value(el) != NULL)
				explicit_bzero((char *)json_string_value(el),
				    json_string_length(el));
	}
	json_decref(doc);
	idp_secret_free(plain);
	return rc;
}

/*
 * "secrets/NAME" = {name, gen, fp, by, nonce, ct}: authenticated, then
 * opened, then compared with what this host has accepted before.
 */
void
sc_secret_rec(struct fleet *f, const struct etcd_kv *kv, const char *name,
    size_t nlen)
{
	struct fsecret *s = sc_secret_find(f, name, nlen);
	struct idp_secret *plain = NULL;
	const struct fleet_hw *hw;
	char fp[FLEETREC_FP_LEN + 1];
	const char *bfp;
	json_t *body;
	int64_t gen;

	if (s == NULL || s->cfg == NULL)
		return;		/* not a fleet secret of this host's config */
	s->mod_rev = kv->is_delete ? 0 : kv->mod_rev;
	s->etcd_gen = 0;
	s->etcd_fp[0] = '\0';
	if (kv->is_delete || (body = fl_open_record(f, RF_SECRET, kv)) == NULL)
		return;
	gen = fleetrec_int(body, "gen", 0);
	bfp = fleetrec_str(body, "fp");
	if (!fl_body_says(body, "name", name, nlen) || gen <= 0 ||
	    bfp == NULL || strlen(bfp) != FLEETREC_FP_LEN) {
		rp_refuse(f, RF_SECRET, kv, "a secret that does not match its "
		    "key");
		goto out;
	}
	if (fleetrec_open(&f->k, kv->key, gen, body, &plain) < 0 ||
	    fleetrec_fp(&f->k, plain->buf, plain->len, fp) < 0 ||
	    !idp_secret_equal(fp, FLEETREC_FP_LEN, bfp, FLEETREC_FP_LEN)) {
		rp_refuse(f, RF_SECRET, kv, "generation %lld does not open "
		    "with the fleet key", (long long)gen);
		goto out;
	}
	s->etcd_gen = gen;
	snprintf(s->etcd_fp, sizeof(s->etcd_fp), "%s", fp);
	hw = fleetstate_hw(f->st, s->name);
	if (hw != NULL && (gen < hw->gen || (gen == hw->gen &&
	    strcmp(fp, hw->fp) != 0))) {
		rp_refuse(f, RF_ROLLBACK, kv, "generation %lld %s generation "
		    "%lld accepted before", (long long)gen, gen < hw->gen ?
		    "is older than" : "holds another key than",
		    (long long)hw->gen);
		goto out;
	}
	if (gen == s->gen) {
		sc_secret_apply(f, s);	/* an acknowledgement still owed */
		goto out;
	}
	if (sc_secret_take(f, s, gen, fp, plain) < 0)
		rp_refuse(f, RF_SECRET, kv, "generation %lld is malformed",
		    (long long)gen);
	plain = NULL;
out:
	idp_secret_free(plain);
	json_decref(body);
}
