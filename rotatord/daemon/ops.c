/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ops.c: the HTTP API's view of the daemon (struct api_ops, daemon_api):
 * lookups, files (with their cache), tokens, trust, readiness, status and
 * admin requests.  api/ calls these through the table and never sees the
 * daemon; the schedule is changed only by setting due times for
 * daemon_tick(), never by minting or publishing here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <idp/b64.h>
#include <idp/crypto.h>

#include "api/api.h"
#include "api/trust.h"
#include "core/log.h"
#include "core/loop.h"
#include "daemon/daemon_int.h"
#include "fleet/fleet.h"
#include "sinks/reload.h"
#include "sinks/sink.h"
#include "sources/mint.h"
#include "sources/upstream.h"
#include "store/store.h"

/*
 * The trust set is rebuilt when next asked for: keys were fetched, a
 * signer rotated, or the config changed.  Requests in flight keep the
 * old one alive through their references.
 */
void
trust_dirty(struct daemon *d)
{
	trust_unref(d->trust);
	d->trust = NULL;
	signer_keys_dirty(d->rt);
}

static struct trust *
api_trust(void *arg)
{
	struct daemon *d = arg;
	const struct config *c = d->rt->cfg;
	const struct cfg_issuer *ci;
	struct trust *t;
	size_t i;
	int rc = 0;

	if (d->trust != NULL)
		return d->trust;
	if ((t = trust_new()) == NULL)
		return NULL;
	/*
	 * Tokens of our own signers: no audience is imposed.  In a fleet,
	 * the other hosts' keys of the same signer count too, so a token
	 * minted on one host is accepted on every other.
	 */
	for (i = 0; i < c->n_signers && rc == 0; i++) {
		struct idp_jwks *keys = signer_keys(d, i);

		rc = keys != NULL ? trust_add(t, c->signers[i]->name,
		    c->signers[i]->issuer, NULL, 60, keys, 0) : -ENOMEM;
		idp_jwks_free(keys);
	}
	for (i = 0; i < c->n_issuers && rc == 0; i++) {
		ci = c->issuers[i];
		if (ci->trust)
			rc = trust_add(t, ci->name, ci->url, ci->audience,
			    ci->leeway / 1000, upstream_keys(d->up, ci->name),
			    1);
	}
	if (rc < 0) {
		log_warn("http: cannot build the trusted key set: %s",
		    strerror(-rc));
		trust_unref(t);
		return NULL;
	}
	d->trust = t;
	return t;
}

static int
api_unknown_kid(void *arg, const char *issuer)
{
	struct daemon *d = arg;

	return upstream_unknown_kid(d->up, issuer, loop_now_wall());
}

static const char *const *
api_names(void *arg)
{
	struct daemon *d = arg;

	return d->rt->names;
}

static int
api_generation(void *arg, const char *cred, uint64_t *ret_gen,
    const char **ret_type, int64_t *ret_not_after)
{
	struct daemon *d = arg;
	struct cred_rt *cr = cred_find(d->rt, cred);

	if (cr == NULL)
		return -ENOENT;
	*ret_gen = cr->published ? cr->generation : 0;
	if (ret_type != NULL)
		*ret_type = type_name(cr->cfg->type);
	if (ret_not_after != NULL)
		*ret_not_after = cr->not_after / 1000;
	return 0;
}

/*
 * Files of the current generation are read from disk (checked against
 * the state record) the first time the API asks, then held in the store
 * (cr->files) until the generation changes: a hot credential costs no
 * open or read per request, an idle one nothing, and the API's cached
 * responses share the same bytes.
 */
static int
api_read_file(void *arg, const char *cred, const char *file,
    struct blob **ret, uint64_t *ret_gen)
{
	struct daemon *d = arg;
	struct cred_rt *cr = cred_find(d->rt, cred);
	struct blob *b;
	char *buf = NULL;
	size_t len;
	int rc;

	if (cr == NULL || !cr->published || strlen(file) > STORE_NAME_MAX)
		return -ENOENT;
	if (cr->files != NULL &&
	    genfiles_generation(cr->files) != cr->generation) {
		genfiles_free(cr->files);
		cr->files = NULL;
	}
	if (cr->files == NULL || (b = genfiles_get(cr->files, file)) == NULL) {
		if ((rc = sink_read_file(d->rt->sink, cr->cfg->dir, file,
		    &buf, &len)) < 0)
			return rc == -EINVAL ? -ENOENT : rc;
		b = blob_new(buf, len);
		idp_wipe(buf, len);
		free(buf);
		if (b == NULL)
			return -ENOMEM;
		if (cr->files == NULL)
			cr->files = genfiles_new(cr->generation);
		/* Without room or memory, served all the same, not kept. */
		if (cr->files != NULL)
			(void)genfiles_put(cr->files, file, b);
	}
	*ret = b;
	if (ret_gen != NULL)
		*ret_gen = cr->generation;
	return 0;
}

static int
api_meta(void *arg, const char *cred, json_t **ret)
{
	struct blob *b;
	json_t *j;
	int rc;

	if ((rc = api_read_file(arg, cred, "meta.json", &b, NULL)) < 0)
		return rc;
	j = json_loadb(blob_data(b), blob_len(b), JSON_REJECT_DUPLICATES,
	    NULL);
	blob_unref(b);
	if (j == NULL)
		return -EBADMSG;
	*ret = j;
	return 0;
}

static int
api_mint(void *arg, const char *signer, const char *sub,
    const char *const *aud, size_t n_aud, const char *scope, const json_t *act,
    int64_t lifetime, char **ret_token, int64_t *ret_expires_in, char *why,
    size_t whylen)
{
	struct daemon *d = arg;
	struct runtime *rt = d->rt;
	struct signer_state *sg = NULL;
	unsigned char rnd[16];
	char jti[32];
	json_t *claims = NULL, *a = NULL;
	int64_t now = loop_now_wall() / 1000;
	size_t i, toklen;
	int rc;

	for (i = 0; i < rt->cfg->n_signers; i++)
		if (signer == NULL || strcmp(rt->cfg->signers[i]->name, signer) == 0) {
			sg = rt->signers[i];
			break;
		}
	if (sg == NULL) {
		snprintf(why, whylen, "no signer");
		return -ENOENT;
	}
	if (idp_random(rnd, sizeof(rnd)) != 0) {
		snprintf(why, whylen, "no randomness");
		return -EIO;
	}
	idp_b64url_encode(rnd, sizeof(rnd), jti);
	if (n_aud == 1)
		a = json_string(aud[0]);
	else {
		a = json_array();
		for (i = 0; a != NULL && i < n_aud; i++)
			json_array_append_new(a, json_string(aud[i]));
	}
	claims = json_pack("{s:s,s:s,s:o,s:I,s:I,s:I,s:s}",
	    "iss", sg->cfg->issuer, "sub", sub, "aud", a,
	    "iat", (json_int_t)now, "nbf", (json_int_t)(now - rt->cfg->backdate / 1000),
	    "exp", (json_int_t)(now + lifetime / 1000), "jti", jti);
	if (claims == NULL) {
		snprintf(why, whylen, "cannot build claims");
		return -EINVAL;
	}
	if (scope != NULL && *scope != '\0')
		json_object_set_new(claims, "scope", json_string(scope));
	if (act != NULL && json_object_set(claims, "act", (json_t *)act) < 0) {
		json_decref(claims);
		snprintf(why, whylen, "cannot build claims");
		return -ENOMEM;
	}
	rc = idp_jwt_sign(sg->key, "JWT", claims, ret_token, &toklen);
	json_decref(claims);
	if (rc < 0) {
		snprintf(why, whylen, "cannot sign: %s", strerror(-rc));
		return rc;
	}
	*ret_expires_in = lifetime / 1000;
	/* The server writes the audit line; this names the token for it. */
	log_debug("minted token jti %s kid %.16s", jti, idp_key_kid(sg->key));
	return 0;
}

static const char *
api_discovery(void *arg, size_t *ret_len)
{
	struct daemon *d = arg;

	if (d->rt->cfg->n_signers == 0)
		return NULL;
	*ret_len = d->rt->signers[0]->discovery_len;
	return d->rt->signers[0]->discovery_json;
}

static const char *
api_jwks(void *arg, size_t *ret_len)
{
	struct daemon *d = arg;
	struct runtime *rt = d->rt;
	json_t *all, *one;
	size_t i, j;

	if (rt->cfg->n_signers == 0)
		return NULL;
	if (rt->jwks == NULL) {
		/*
		 * Every signer's keys in one set (kids are thumbprints), with
		 * the other hosts' in a fleet.
		 */
		all = json_array();
		for (i = 0; all != NULL && i < rt->cfg->n_signers; i++) {
			struct idp_jwks *keys = signer_keys(d, i);
			char *txt = NULL;
			size_t tlen;
			json_t *k;

			if (keys == NULL || idp_jwks_dump(keys, &txt, &tlen) < 0) {
				idp_jwks_free(keys);
				continue;
			}
			idp_jwks_free(keys);
			one = json_loadb(txt, tlen, 0, NULL);
			free(txt);
			json_array_foreach(json_object_get(one, "keys"), j, k)
				json_array_append(all, k);
			json_decref(one);
		}
		one = json_pack("{s:o}", "keys", all);
		rt->jwks = one != NULL ? json_dumps(one, JSON_COMPACT) : NULL;
		rt->jwks_len = rt->jwks != NULL ? strlen(rt->jwks) : 0;
		json_decref(one);
	}
	*ret_len = rt->jwks_len;
	return rt->jwks;
}

/*
 * Not ready: a credential without a valid generation, or a host the
 * leader left behind.  Degraded (still ready): a credential whose renewal
 * keeps failing, or etcd out of reach, so that fleet secrets and rotate
 * requests cannot arrive.
 */
static int
api_ready(void *arg, json_t **ret, json_t **ret_degraded)
{
	struct daemon *d = arg;
	struct runtime *rt = d->rt;
	int64_t now = loop_now_wall();
	json_t *bad = json_array(), *deg = json_array();
	size_t i;

	for (i = 0; i < rt->cfg->n_creds; i++) {
		const struct cred_rt *cr = &rt->creds[i];

		/* In whole seconds, as the API refuses it (not_after). */
		if (!cr->published || now / 1000 >= cr->not_after / 1000)
			json_array_append_new(bad, json_string(cr->cfg->name));
		else if (cr->failures > 0)
			json_array_append_new(deg, json_sprintf("%s (renewal "
			    "failing)", cr->cfg->name));
	}
	/* The leader went on without this host: not ready until caught up. */
	if (d->fleet != NULL && fleet_stale(d->fleet))
		json_array_append_new(bad, json_string("[cluster] (stale)"));
	/*
	 * Names only: /readyz answers anyone who can connect; the errors are
	 * in rotatorctl status (last_error, cluster.last_error).
	 */
	if (d->fleet != NULL && fleet_degraded(d->fleet))
		json_array_append_new(deg, json_string("[cluster] (etcd out of "
		    "reach)"));
	if (json_array_size(deg) > 0)
		*ret_degraded = deg;
	else
		json_decref(deg);
	if (json_array_size(bad) == 0) {
		json_decref(bad);
		return 1;
	}
	*ret = bad;
	return 0;
}

/*
 * The admin status document (rotatorctl status, schema 1; its fields are
 * documented in rotatorctl(1)): readiness as /readyz judges it, every
 * credential, every reload target, the cluster.
 */
static json_t *
api_status(void *arg)
{
	struct daemon *d = arg;
	struct runtime *rt = d->rt;
	json_t *creds = json_array(), *reloads = json_array(), *o;
	json_t *not_ready = NULL, *degraded = NULL;
	int64_t now = loop_now_wall();
	size_t i;
	int ready;

	for (i = 0; i < rt->cfg->n_creds; i++) {
		struct cred_rt *cr = &rt->creds[i];

		o = json_pack("{s:s,s:s,s:I,s:b,s:I,s:I,s:I,s:I,s:I,s:s}",
		    "name", cr->cfg->name, "type", type_name(cr->cfg->type),
		    "generation", (json_int_t)cr->generation,
		    "published", cr->published,
		    "not_after", (json_int_t)(cr->not_after / 1000),
		    "renew_at", (json_int_t)(cr->renew_wall / 1000),
		    "expires_in", (json_int_t)(cr->published ?
		    (cr->not_after - now) / 1000 : 0),
		    "rotations", (json_int_t)cr->rotations,
		    "failures", (json_int_t)cr->failures,
		    "last_error", cr->last_error);
		json_array_append_new(creds, o);
	}
	ready = api_ready(d, &not_ready, &degraded) == 1;
	if (not_ready == NULL)
		not_ready = json_array();
	if (degraded == NULL)
		degraded = json_array();
	for (i = 0; i < rt->cfg->n_reloads; i++) {
		const struct reload_stats *st = reload_get_stats(d->rl,
		    rt->cfg->reloads[i]->name);

		if (st == NULL)
			continue;
		json_array_append_new(reloads, json_pack(
		    "{s:s,s:I,s:I,s:b,s:s}", "name", rt->cfg->reloads[i]->name,
		    "ok", (json_int_t)st->ok, "failed", (json_int_t)st->failed,
		    "pending", st->pending, "last_error", st->last_error));
	}
	return json_pack("{s:i,s:b,s:s,s:b,s:o,s:o,s:o,s:o,s:o}", "schema", 1,
	    "running", 1, "version", ROTATORD_VERSION, "ready", ready,
	    "not_ready", not_ready, "degraded", degraded, "credentials", creds,
	    "reloads", reloads,
	    "cluster", d->fleet != NULL ? fleet_status(d->fleet) : json_null());
}

static int
api_rotate(void *arg, const char *const *names, size_t n, char *why,
    size_t whylen)
{
	struct daemon *d = arg;
	struct runtime *rt = d->rt;
	struct cred_rt *cr;
	size_t i;

	for (i = 0; i < n; i++)
		if (cred_find(rt, names[i]) == NULL) {
			snprintf(why, whylen, "no credential named %s", names[i]);
			return -ENOENT;
		}
	for (i = 0; i < (n == 0 ? rt->cfg->n_creds : n); i++) {
		cr = n == 0 ? &rt->creds[i] : cred_find(rt, names[i]);
		if (!cr->inflight)
			cred_ask(cr, 0);
	}
	log_notice("rotatorctl: rotating %s", n == 0 ? "every credential" :
	    "on request");
	daemon_tick(d);
	return 0;
}

static int
api_reload_config(void *arg, char *why, size_t whylen)
{
	return daemon_reconfigure(arg, why, whylen);
}

static int
api_rotate_fleet(void *arg, const char *const *names, size_t n, char *why,
    size_t whylen)
{
	struct daemon *d = arg;
	size_t i;

	if (d->fleet == NULL)
		return -ENOTSUP;
	for (i = 0; i < n; i++)
		if (cred_find(d->rt, names[i]) == NULL) {
			snprintf(why, whylen, "no credential named %s", names[i]);
			return -ENOENT;
		}
	return fleet_rotate(d->fleet, names, n, why, whylen);
}

/* See daemon_int.h. */
const struct api_ops daemon_api = {
	.trust = api_trust,
	.verify = trust_verify,
	.unknown_kid = api_unknown_kid,
	.names = api_names,
	.generation = api_generation,
	.read_file = api_read_file,
	.meta = api_meta,
	.mint = api_mint,
	.discovery = api_discovery,
	.jwks = api_jwks,
	.ready = api_ready,
	.metrics = api_metrics,
	.status = api_status,
	.rotate = api_rotate,
	.reload_config = api_reload_config,
	.rotate_fleet = api_rotate_fleet,
};
