/* SPDX-License-Identifier: Apache-2.0 */
/*
 * runtime.c: what is built from one config (CAs, signers, each
 * credential's state adopted from what is published) and the index of
 * credentials by name.  Mints nothing; a reload swaps a runtime whole.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/loop.h"
#include "daemon/daemon_int.h"
#include "sinks/sink.h"
#include "sources/mint.h"

static int runtime_index(struct runtime *);

/* See daemon_int.h. */
void
runtime_free(struct runtime *rt)
{
	size_t i;

	if (rt == NULL)
		return;
	for (i = 0; rt->creds != NULL && rt->cfg != NULL &&
	    i < rt->cfg->n_creds; i++)
		genfiles_free(rt->creds[i].files);
	if (rt->cfg != NULL) {
		for (i = 0; rt->cas != NULL && i < rt->cfg->n_cas; i++)
			ca_state_free(rt->cas[i]);
		for (i = 0; rt->signers != NULL && i < rt->cfg->n_signers; i++)
			signer_state_free(rt->signers[i]);
	}
	free(rt->cas);
	free(rt->signers);
	free(rt->signer_due);
	free(rt->ca_minted);
	free(rt->ca_reminted);
	free(rt->creds);
	free(rt->names);
	free(rt->index);
	free(rt->jwks);
	signer_keys_dirty(rt);
	free(rt->keys);
	for (i = 0; i < rt->n_peers; i++) {
		free(rt->peers[i].doc);
		idp_jwks_free(rt->peers[i].set);
	}
	free(rt->peers);
	sink_close(rt->sink);
	config_free(rt->cfg);
	free(rt);
}

/* See daemon_int.h. */
size_t
ca_index(const struct config *c, const struct cfg_ca *ca)
{
	size_t i;

	for (i = 0; i < c->n_cas; i++)
		if (c->cas[i] == ca)
			return i;
	return 0;
}

/* See daemon_int.h. */
size_t
signer_index(const struct config *c, const struct cfg_signer *sg)
{
	size_t i;

	for (i = 0; i < c->n_signers; i++)
		if (c->signers[i] == sg)
			return i;
	return 0;
}

/* See daemon_int.h. */
const char *
type_name(enum cred_type t)
{
	switch (t) {
	case CRED_X509:		return "x509";
	case CRED_JWT:		return "jwt";
	case CRED_SECRET:	return "secret";
	case CRED_OAUTH:	return "oauth";
	}
	return "?";
}

/*
 * Adopts what is already published for credential i: a generation that
 * was minted from the same configuration and is before its renewal point
 * is reused as it is (same serial, same generation, no reload).  What is
 * believed comes from the state record in state_dir, and only when every
 * published file still matches it (sink_read_current()); anything else
 * mints anew, saying why in one line.
 */
static void
cred_adopt(struct runtime *rt, size_t i, int64_t now_w, int64_t now_m)
{
	struct cred_rt *cr = &rt->creds[i];
	const struct cfg_cred *c = cr->cfg;
	struct sink_current cur;
	char *pem = NULL;
	size_t len;
	int rc;

	cr->due_mono = now_m;
	if ((rc = sink_repair(rt->sink, c->dir)) < 0 && rc != -ENOENT)
		log_warn("credential %s: cannot repair %s/%s: %s", c->name,
		    rt->cfg->output_dir, c->dir, strerror(-rc));
	if ((rc = sink_read_current(rt->sink, c->dir, &cur)) < 0) {
		cr->generation = cur.generation;
		if (rc == -ENOENT && cur.why[0] != '\0')
			log_info("credential %s: not reusing: %s; minting a new "
			    "one", c->name, cur.why);
		else if (rc != -ENOENT)
			log_warn("credential %s: not reusing what is published: "
			    "%s; minting a new one", c->name, cur.why[0] ?
			    cur.why : strerror(-rc));
		return;
	}
	cr->generation = cur.generation;
	if (strcmp(cur.spec, cr->spec) != 0) {
		log_info("credential %s: configuration changed since generation "
		    "%llu, minting a new one", c->name,
		    (unsigned long long)cur.generation);
		return;
	}
	if (c->type == CRED_X509) {
		if (sink_read_file(rt->sink, c->dir, "cert.pem", &pem, &len) < 0 ||
		    mint_leaf_info(pem, len, cr->leaf_sha256, cr->serial,
		    NULL) < 0) {
			free(pem);
			log_warn("credential %s: published certificate unreadable, "
			    "minting a new one", c->name);
			return;
		}
		free(pem);
	}
	cr->published = now_w < cur.not_after * 1000;
	cr->issued_at = cur.issued_at * 1000;
	cr->not_before = cur.not_before * 1000;
	cr->not_after = cur.not_after * 1000;
	cr->renew_wall = cur.renew_at * 1000;
	if (now_w < cr->renew_wall) {
		cr->due_mono = schedule_mono(cr->renew_wall, now_w, now_m);
		log_info("credential %s: reusing generation %llu%s%s, renewal in %llds",
		    c->name, (unsigned long long)cur.generation,
		    cr->serial[0] ? " serial " : "", cr->serial,
		    (long long)((cr->renew_wall - now_w) / 1000));
	}
}

/*
 * Builds a runtime from config c (owned on success and on failure).  Loads
 * or creates every CA and signer, publishes signers, adopts published
 * credentials.  Returns 0 or -errno after logging.
 */
int
runtime_build(struct config *c, struct runtime **ret)
{
	struct runtime *rt;
	struct idp_err err;
	int64_t now_w = loop_now_wall(), now_m = loop_now_mono();
	size_t i;
	int rc;

	if ((rt = calloc(1, sizeof(*rt))) == NULL) {
		config_free(c);
		return -ENOMEM;
	}
	rt->cfg = c;
	if ((c->n_cas && ((rt->cas = calloc(c->n_cas, sizeof(*rt->cas))) ==
	    NULL || (rt->ca_minted = calloc(c->n_cas,
	    sizeof(*rt->ca_minted))) == NULL || (rt->ca_reminted =
	    calloc(c->n_cas, sizeof(*rt->ca_reminted))) == NULL)) ||
	    (c->n_signers && ((rt->signers = calloc(c->n_signers,
	    sizeof(*rt->signers))) == NULL || (rt->signer_due =
	    calloc(c->n_signers, sizeof(*rt->signer_due))) == NULL)) ||
	    (c->n_creds && (rt->creds = calloc(c->n_creds,
	    sizeof(*rt->creds))) == NULL) ||
	    (rt->names = calloc(c->n_creds + 1, sizeof(*rt->names))) == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	if ((rc = mint_mkdirs(c->output_dir, 0755)) < 0 ||
	    (rc = mint_mkdirs(c->state_dir, 0700)) < 0 ||
	    (rc = sink_open(c->output_dir, c->state_dir, &rt->sink)) < 0) {
		log_err("cannot open output_dir %s or state_dir %s: %s",
		    c->output_dir, c->state_dir, strerror(-rc));
		goto fail;
	}
	for (i = 0; i < c->n_cas; i++) {
		err.msg[0] = '\0';
		if ((rc = ca_state_load(c, c->cas[i], now_w, &rt->cas[i], &err)) < 0) {
			log_err("ca %s: %s", c->cas[i]->name,
			    err.msg[0] ? err.msg : strerror(-rc));
			goto fail;
		}
	}
	for (i = 0; i < c->n_signers; i++) {
		err.msg[0] = '\0';
		if ((rc = signer_state_load(c, c->signers[i], now_w,
		    &rt->signers[i], &err)) < 0) {
			log_err("signer %s: %s", c->signers[i]->name,
			    err.msg[0] ? err.msg : strerror(-rc));
			goto fail;
		}
		if ((rc = sink_repair(rt->sink, c->signers[i]->dir)) < 0 &&
		    rc != -ENOENT)
			log_warn("signer %s: cannot repair: %s",
			    c->signers[i]->name, strerror(-rc));
		if ((rc = signer_publish(rt, i, NULL)) < 0) {
			log_err("signer %s: cannot publish JWKS: %s",
			    c->signers[i]->name, strerror(-rc));
			goto fail;
		}
	}
	for (i = 0; i < c->n_creds; i++) {
		const struct cfg_cred *cc = c->creds[i];
		char fp[512] = "";

		rt->creds[i].cfg = cc;
		rt->names[i] = cc->name;
		/* What the credential depends on besides its own keys. */
		if (cc->type == CRED_X509)
			snprintf(fp, sizeof(fp), "%s",
			    rt->cas[ca_index(c, cc->ca)]->sha256);
		else if (cc->type == CRED_JWT)
			snprintf(fp, sizeof(fp), "%s %s", cc->signer->issuer,
			    idp_alg_name(cc->signer->alg));
		else if (cc->type == CRED_OAUTH)
			snprintf(fp, sizeof(fp), "%s %s %d %d %s", cc->issuer->url,
			    cc->issuer->client_id, (int)cc->issuer->auth_method,
			    (int)cc->subject_token.source,
			    cc->subject_token.source == CFG_SECRET_LITERAL ? "" :
			    cc->subject_token.arg != NULL ?
			    cc->subject_token.arg : "");
		mint_spec(cc, fp, rt->creds[i].spec);
		cred_adopt(rt, i, now_w, now_m);
	}
	if ((rc = runtime_index(rt)) < 0)
		goto fail;
	*ret = rt;
	return 0;
fail:
	runtime_free(rt);
	return rc;
}

static uint32_t
name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* Builds the name index: the API looks credentials up per request. */
static int
runtime_index(struct runtime *rt)
{
	size_t i, size = 16, j;

	while (size < 2 * rt->cfg->n_creds)
		size *= 2;
	if ((rt->index = calloc(size, sizeof(*rt->index))) == NULL)
		return -ENOMEM;
	rt->index_size = size;
	for (i = 0; i < rt->cfg->n_creds; i++) {
		j = name_hash(rt->creds[i].cfg->name) & (size - 1);
		while (rt->index[j] != 0)
			j = (j + 1) & (size - 1);
		rt->index[j] = (uint32_t)i + 1;
	}
	return 0;
}

/* See daemon_int.h. */
struct cred_rt *
cred_find(struct runtime *rt, const char *name)
{
	size_t j;

	if (rt->index == NULL)
		return NULL;
	for (j = name_hash(name) & (rt->index_size - 1); rt->index[j] != 0;
	    j = (j + 1) & (rt->index_size - 1))
		if (strcmp(rt->creds[rt->index[j] - 1].cfg->name, name) == 0)
			return &rt->creds[rt->index[j] - 1];
	return NULL;
}
