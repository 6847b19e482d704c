/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fleet/: hosts agreeing over etcd (etcd client, sealed and MACed records,
 * leader, rollout).  Only daemon/ includes it; must not include sources/,
 * sinks/ or api/.
 */
/*
 * The fleet over etcd (fleet.h).
 *
 * One state machine per host: a lease, the host's registration, a read
 * of the whole prefix, then a watch from the revision after it (of all
 * but acks/, which only the leader follows: view.c).  Every
 * host's view of the fleet goes through that read and that watch; the
 * leader also applies its own writes as soon as etcd has taken them.
 * Failures are retried from the step that failed, after a backoff, while
 * whatever is published stays in place.
 *
 * Trust.  etcd is a transport: every value under the prefix is an
 * authenticated record (fleetrec.h) and one that does not verify, or that
 * names another key, host, secret or generation than the one it is
 * stored at, is refused: counted (rotatord_fleet_records_refused_total)
 * and logged once, never half applied.  Leases are checked too: a host's
 * registration, its acknowledgements and the leader key count only while
 * bound to the lease they name.
 *
 * Generations.  A generation number means one key set forever.  The
 * leader writes each generation with a compare-and-swap on the record it
 * replaces (its mod revision, or absence) as well as the fence on its
 * leadership; a lost race re-reads instead of minting again.  Every host
 * keeps the highest generation it accepted, with its fingerprint, in
 * state_dir (fleetstate.h) and refuses anything older, or another key
 * under the same number, also after a restart; the leader numbers new
 * generations above both etcd's and its own mark.
 *
 * Rollout in two phases: a new key is first published accept-only (after
 * the key that encrypts); when every registered host has acknowledged
 * exactly that generation (its number and fingerprint) the leader
 * promotes it.  A host that stays silent for ack_timeout is left behind:
 * the leader promotes without it and marks it stale (PREFIX/stale/HOST),
 * and the stale host, seeing that, reads the fleet again and is not
 * ready until it has caught up.
 *
 * rotate --fleet writes a request with its own identity
 * (PREFIX/rotate/ID).  Every host applies it once to its own credentials
 * (also a host that was away, on its return: applied ids are kept in
 * state_dir); for fleet secrets whoever leads makes the new key and marks
 * the request done for that secret (PREFIX/done/ID/NAME) in the same
 * transaction, so a leader change never repeats it.  Requests are kept a
 * day.
 *
 * The parts, a file each (fleet_int.h): member.c the lease, the
 * registration and the state machine's steps; view.c the read, the watch
 * and each key to its reader; hosts.c, secrets.c, pubs.c and rotate.c
 * those readers; leader.c the leader key and the leader's duties;
 * rollout.c the leader's generations; report.c failures, refusals, status
 * and metrics.  This file: the fleet's life (new, configure, free), its
 * key, and how records under the prefix are named, written and read.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <idp/secret.h>

#include "core/log.h"
#include "fleet/fleet_int.h"

#define KEY_LEN		32

/* ---- records under the prefix ---------------------------------------- */

/* PREFIX followed by fmt, as a new string. */
char *
fl_key_of(const struct fleet *f, const char *fmt, ...)
{
	char rest[512], *k;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rest, sizeof(rest), fmt, ap);
	va_end(ap);
	if (asprintf(&k, "%s%s", f->prefix, rest) < 0)
		return NULL;
	return k;
}

json_t *
fl_b64s(const char *s)
{
	return etcd_b64(s, strlen(s));
}

/*
 * The etcd value (base64 JSON string) of an authenticated record with
 * body (taken) at key, or NULL.
 */
json_t *
fl_record(const struct fleet *f, const char *key, json_t *body)
{
	char *text, *val;
	json_t *v;

	text = body != NULL ? json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS) :
	    NULL;
	json_decref(body);
	if (text == NULL)
		return NULL;
	val = fleetrec_wrap(&f->k, key, strlen(key), text);
	free(text);
	if (val == NULL)
		return NULL;
	v = fl_b64s(val);
	free(val);
	return v;
}

/* A txn operation that writes an authenticated record. */
json_t *
fl_put_op(const struct fleet *f, const char *key, json_t *body)
{
	json_t *v = fl_record(f, key, body);

	return v != NULL ? json_pack("{s:{s:o,s:o}}", "requestPut", "key",
	    fl_b64s(key), "value", v) : NULL;
}

/* Writes an authenticated record (body taken), bound to lease if not 0. */
int
fl_put_record(struct fleet *f, const char *key, json_t *body, int64_t lease,
    etcd_cb cb, uint64_t *ret_id)
{
	json_t *v = fl_record(f, key, body), *req;
	char ls[32];

	if (v == NULL)
		return -ENOMEM;
	req = json_pack("{s:o,s:o}", "key", fl_b64s(key), "value", v);
	if (req != NULL && lease != 0) {
		snprintf(ls, sizeof(ls), "%lld", (long long)lease);
		json_object_set_new(req, "lease", json_string(ls));
	}
	return etcd_call(f->e, "/v3/kv/put", req, cb, f, ret_id);
}

/*
 * The body of the record kv if it is authentic (0), else refuses it as
 * why and returns -1.  A deleted key has no body.
 */
json_t *
fl_open_record(struct fleet *f, enum refusal why, const struct etcd_kv *kv)
{
	json_t *body = NULL;
	int rc;

	rc = fleetrec_unwrap(&f->k, kv->key, kv->klen, kv->val, kv->vlen,
	    &body);
	if (rc == 0)
		return body;
	rp_refuse(f, why, kv, "%s", rc == -EKEYREJECTED ? "not authenticated "
	    "with the fleet key" : rc == -E2BIG ? "too large" : "not a fleet "
	    "record");
	return NULL;
}

/* Is member name of body the string want (len bytes)? */
int
fl_body_says(const json_t *body, const char *name, const char *want, size_t len)
{
	const char *v = fleetrec_str(body, name);

	return v != NULL && strlen(v) == len && memcmp(v, want, len) == 0;
}

/* A name of the fleet (host, secret): 1 to max bytes of [A-Za-z0-9._-]. */
int
fl_good_name(const char *s, size_t len, size_t max)
{
	size_t i;

	if (len == 0 || len > max)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' &&
		    s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return 0;
	return 1;
}

/* ---- setup ------------------------------------------------------------------- */

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The fleet key: 32 bytes, or their hex (64) or base64 (44) spelling. */
static int
read_key(const char *path, unsigned char *out)
{
	struct idp_secret *s = NULL;
	struct idp_err err;
	unsigned char *dec = NULL;
	size_t dlen = 0, i, n;
	json_t *j;
	int rc;

	err.msg[0] = '\0';
	if ((rc = idp_secret_read_file(path, 4096, IDP_SECRET_STRICT_MODE,
	    &s, &err)) < 0) {
		log_err("cluster: key_file: %s", err.msg[0] ? err.msg :
		    strerror(-rc));
		return rc;
	}
	rc = -EINVAL;
	/*
	 * Exactly 32 bytes are the raw key, whatever they are: one in 256
	 * keys from openssl rand ends in 0x0a, which is not a newline.  Only
	 * the text spellings may end in one (or CRLF).
	 */
	if (s->len == KEY_LEN) {
		memcpy(out, s->buf, KEY_LEN);
		rc = 0;
		goto done;
	}
	n = s->len;
	if (n > 0 && s->buf[n - 1] == '\n')
		n--;
	if (n > 0 && s->buf[n - 1] == '\r')
		n--;
	if (n == 2 * KEY_LEN) {
		for (i = 0; i < KEY_LEN; i++) {
			int hi = hexval(s->buf[2 * i]), lo = hexval(s->buf[2 * i + 1]);

			if (hi < 0 || lo < 0)
				break;
			out[i] = (unsigned char)(hi << 4 | lo);
		}
		rc = i == KEY_LEN ? 0 : -EINVAL;
	} else if (n == 44 && (j = json_stringn((const char *)s->buf,
	    n)) != NULL) {
		if (etcd_unb64(j, &dec, &dlen) == 0 && dlen == KEY_LEN) {
			memcpy(out, dec, KEY_LEN);
			rc = 0;
		}
		if (dec != NULL) {
			explicit_bzero(dec, dlen);
			free(dec);
		}
		json_decref(j);
	}
done:
	idp_secret_free(s);
	if (rc < 0)
		log_err("cluster: key_file %s: want 32 bytes (raw, 64 hex "
		    "digits or base64), e.g. from openssl rand -out FILE 32",
		    path);
	return rc;
}

static void
secret_forget(struct fsecret *s)
{
	sc_secret_clear_keys(s);
	idp_secret_free(s->plain);
	s->plain = NULL;
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
		if ((s = sc_secret_find(f, cr->name,
		    strlen(cr->name))) == NULL) {
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
			secret_forget(&f->s[i]);
			continue;
		}
		f->s[j++] = f->s[i];
	}
	f->n_s = j;
	/* The leader's write points into f->s, which may have moved. */
	ro_write_clear(f);
	return 0;
}

int
fleet_new(struct loop *l, const struct config *c, const struct fleet_ops *ops,
    struct fleet **ret)
{
	const struct cfg_cluster *cc = &c->cluster;
	unsigned char key[KEY_LEN];
	struct fleet *f;
	char why[512];
	int rc;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -ENOMEM;
	f->loop = l;
	f->cfg = c;
	f->ops = *ops;
	f->ttl = cc->lease_ttl;
	f->ack_timeout = cc->ack_timeout;
	f->state = F_LEASE;
	rc = read_key(cc->key_file, key);
	if (rc == 0)
		rc = fleetrec_derive(key, sizeof(key), &f->k);
	explicit_bzero(key, sizeof(key));
	if (rc < 0)
		goto fail;
	rc = -ENOMEM;
	if ((f->prefix = strdup(cc->prefix)) == NULL ||
	    (f->name = strdup(cc->name)) == NULL ||
	    secrets_bind(f, c) < 0)
		goto fail;
	if ((rc = fleetstate_load(c->state_dir, f->prefix, loop_now_wall(),
	    &f->st, why, sizeof(why))) < 0)
		goto fail;
	if (why[0] != '\0')
		log_err("cluster: %s; starting from an empty fleet state",
		    why);
	if ((rc = etcd_new(l, cc->endpoints, cc->n_endpoints, cc->ca_file,
	    cc->client_cert, cc->client_key, cc->timeout, &f->e)) < 0)
		goto fail;
	rc = -ENOMEM;
	if ((f->step_t = loop_timer_add(l, mb_on_step_timer, f)) == NULL ||
	    (f->ka_t = loop_timer_add(l, mb_on_ka_timer, f)) == NULL ||
	    (f->duty_t = loop_timer_add(l, ld_on_duty_timer, f)) == NULL)
		goto fail;
	log_info("cluster: joining as %s through %s (prefix %s)", f->name,
	    etcd_endpoint(f->e), f->prefix);
	loop_timer_set(f->step_t, loop_now_mono());
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
	    strcmp(f->cfg->state_dir, c->state_dir) != 0 ||
	    a->lease_ttl != b->lease_ttl || a->timeout != b->timeout ||
	    !same_str(a->ca_file, b->ca_file) ||
	    !same_str(a->client_cert, b->client_cert) ||
	    !same_str(a->client_key, b->client_key))
		return 1;
	for (i = 0; i < a->n_endpoints; i++)
		if (strcmp(a->endpoints[i], b->endpoints[i]) != 0)
			return 1;
	f->cfg = c;
	f->ack_timeout = b->ack_timeout;
	if (secrets_bind(f, c) < 0)
		return -ENOMEM;
	/*
	 * The registration says which secrets this host serves; secrets new
	 * to it are published as soon as they are read.
	 */
	if (f->state == F_RUN) {
		(void)mb_register_self(f, NULL);
		f->state = F_SYNC;
		loop_timer_set(f->step_t, loop_now_mono());
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
	ro_write_clear(f);
	etcd_free(f->e);
	loop_timer_del(f->step_t);
	loop_timer_del(f->ka_t);
	loop_timer_del(f->duty_t);
	for (i = 0; i < f->n_s; i++)
		secret_forget(&f->s[i]);
	free(f->s);
	for (i = 0; i < f->n_hosts; i++)
		free(f->hosts[i].secrets);
	free(f->hosts);
	for (i = 0; i < f->n_left; i++)
		free(f->left[i].secrets);
	free(f->left);
	free(f->acks);
	for (i = 0; i < f->n_reqs; i++)
		rq_free(&f->reqs[i]);
	free(f->reqs);
	free(f->dones);
	free(f->stales);
	pk_pubs_clear(f->pubs, &f->n_pubs);
	free(f->pubs);
	pk_pubs_clear(f->own, &f->n_own);
	free(f->own);
	fleetstate_free(f->st);
	free(f->prefix);
	free(f->name);
	explicit_bzero(&f->k, sizeof(f->k));
	free(f);
}
