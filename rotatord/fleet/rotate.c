/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rotate --fleet: requests written (fleet_rotate()), read, and applied
 * once to this host's own credentials; the done marks of fleet secrets.
 * New keys of fleet secrets are the leader's (rollout.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <idp/secret.h>

#include "core/log.h"
#include "fleet/fleet_int.h"

#define MAX_NAMES	64		/* names in one rotate request */

int
rq_done_known(const struct fleet *f, const char *id, const char *name)
{
	size_t i;

	for (i = 0; i < f->n_dones; i++)
		if (strcmp(f->dones[i].id, id) == 0 &&
		    strcmp(f->dones[i].name, name) == 0)
			return 1;
	return 0;
}

/* "done/ID/NAME": request ID's new key for fleet secret NAME is made. */
void
rq_done_rec(struct fleet *f, const struct etcd_kv *kv, const char *k,
    size_t len)
{
	const char *slash = memchr(k, '/', len);
	struct done *d, *nd;
	size_t il, nl, i;
	json_t *body;

	if (slash == NULL)
		return;
	il = (size_t)(slash - k);
	nl = len - il - 1;
	for (i = 0; i < f->n_dones; i++)
		if (strlen(f->dones[i].id) == il &&
		    memcmp(f->dones[i].id, k, il) == 0 &&
		    strlen(f->dones[i].name) == nl &&
		    memcmp(f->dones[i].name, slash + 1, nl) == 0) {
			f->dones[i] = f->dones[--f->n_dones];
			break;
		}
	if (kv->is_delete || (body = fl_open_record(f, RF_DONE, kv)) == NULL)
		return;
	if (il > FLEET_ID_MAX ||
	    !fl_good_name(slash + 1, nl, CONFIG_MAX_NAME) ||
	    !fl_body_says(body, "id", k, il) ||
	    !fl_body_says(body, "name", slash + 1, nl)) {
		rp_refuse(f, RF_DONE, kv, "a done mark that does not match its "
		    "key");
		json_decref(body);
		return;
	}
	json_decref(body);
	if ((nd = reallocarray(f->dones, f->n_dones + 1, sizeof(*nd))) == NULL)
		return;
	f->dones = nd;
	d = &f->dones[f->n_dones++];
	memcpy(d->id, k, il);
	d->id[il] = '\0';
	memcpy(d->name, slash + 1, nl);
	d->name[nl] = '\0';
}

void
rq_free(struct rotreq *r)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		free(r->names[i]);
	free(r->names);
}

int
rq_names(const struct rotreq *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (strcmp(r->names[i], "*") == 0 ||
		    strcmp(r->names[i], name) == 0)
			return 1;
	return 0;
}

/* Does a request wait for a new key of fleet secret s (none done yet)? */
const struct rotreq *
rq_secret_pending(const struct fleet *f, const struct fsecret *s)
{
	size_t i;

	for (i = 0; i < f->n_reqs; i++)
		if (rq_names(&f->reqs[i], s->name) &&
		    f->reqs[i].at >= f->st->joined - ROTATE_KEEP_MS &&
		    !rq_done_known(f, f->reqs[i].id, s->name))
			return &f->reqs[i];
	return NULL;
}

/*
 * Applies request r to this host's own credentials, once (fleet secrets
 * are the leader's: see rq_secret_pending()).
 */
static void
req_apply(struct fleet *f, const struct rotreq *r)
{
	size_t i;
	int rc;

	if (fleetstate_applied(f->st, r->id))
		return;
	/* Made before this host first joined: not meant for it. */
	if (r->at < f->st->joined) {
		(void)fleetstate_mark_applied(f->st, r->id, r->at,
		    loop_now_wall() - 2 * ROTATE_KEEP_MS);
		return;
	}
	log_notice("cluster: rotate --fleet request %s from %s", r->id,
	    r->n == 1 ? r->names[0] : "several credentials");
	for (i = 0; i < f->cfg->n_creds; i++) {
		const struct cfg_cred *c = f->cfg->creds[i];

		if (!rq_names(r, c->name))
			continue;
		if (c->type == CRED_SECRET && c->fleet)
			continue;	/* the leader makes it */
		f->ops.rotate(f->ops.arg, c->name);
	}
	if (fleetstate_mark_applied(f->st, r->id, r->at, loop_now_wall() -
	    2 * ROTATE_KEEP_MS) < 0 || (rc = fleetstate_save(f->st)) < 0)
		rp_fail(f, "cannot record rotate request %s in %s", r->id,
		    f->st->path);
}

/* "rotate/ID": a rotate --fleet request. */
void
rq_rec(struct fleet *f, const struct etcd_kv *kv, const char *id, size_t len)
{
	struct rotreq r, *nr;
	json_t *body, *names, *el;
	size_t i;

	for (i = 0; i < f->n_reqs; i++)
		if (strlen(f->reqs[i].id) == len &&
		    memcmp(f->reqs[i].id, id, len) == 0) {
			rq_free(&f->reqs[i]);
			f->reqs[i] = f->reqs[--f->n_reqs];
			break;
		}
	if (kv->is_delete || (body = fl_open_record(f, RF_ROTATE, kv)) == NULL)
		return;
	memset(&r, 0, sizeof(r));
	names = json_object_get(body, "names");
	if (len > FLEET_ID_MAX || !fl_good_name(id, len, FLEET_ID_MAX) ||
	    !fl_body_says(body, "id", id, len) || !json_is_array(names) ||
	    json_array_size(names) == 0 ||
	    json_array_size(names) > MAX_NAMES ||
	    (r.at = fleetrec_int(body, "at", 0)) <= 0)
		goto bad;
	if ((r.names = calloc(json_array_size(names), sizeof(*r.names))) ==
	    NULL)
		goto out;
	json_array_foreach(names, i, el) {
		const char *n = json_string_value(el);

		if (n == NULL || (strcmp(n, "*") != 0 &&
		    !fl_good_name(n, strlen(n), CONFIG_MAX_NAME)))
			goto bad;
		if ((r.names[r.n] = strdup(n)) == NULL)
			goto out;
		r.n++;
	}
	memcpy(r.id, id, len);
	r.id[len] = '\0';
	if ((nr = reallocarray(f->reqs, f->n_reqs + 1, sizeof(*nr))) == NULL)
		goto out;
	f->reqs = nr;
	f->reqs[f->n_reqs++] = r;
	json_decref(body);
	req_apply(f, &f->reqs[f->n_reqs - 1]);
	return;
bad:
	rp_refuse(f, RF_ROTATE, kv, "a rotate request that does not match its "
	    "key");
out:
	rq_free(&r);
	json_decref(body);
}

static void
on_rotate_put(void *arg, int rc, json_t *reply, const char *why)
{
	struct fleet *f = arg;

	if (rc < 0)
		rp_fail(f, "rotate --fleet: %s", why);
}

int
fleet_rotate(struct fleet *f, const char *const *names, size_t n,
    char *why, size_t whylen)
{
	unsigned char rnd[6];
	char id[FLEET_ID_MAX + 1], hex[13], *k;
	struct idp_secret *r = NULL;
	json_t *arr;
	size_t i;
	int rc;

	if (f->state != F_RUN) {
		snprintf(why, whylen, "not connected to etcd (%s)",
		    f->last_error[0] ? f->last_error : "starting");
		return -ENOTCONN;
	}
	if (n > MAX_NAMES) {
		snprintf(why, whylen, "at most %d names at once", MAX_NAMES);
		return -E2BIG;
	}
	if ((rc = idp_secret_random(sizeof(rnd), &r)) < 0)
		return rc;
	memcpy(rnd, r->buf, sizeof(rnd));
	idp_secret_free(r);
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
	snprintf(id, sizeof(id), "%lld-%s-%s", (long long)loop_now_wall(),
	    f->name, hex);
	arr = json_array();
	for (i = 0; i < (n > 0 ? n : 1); i++)
		json_array_append_new(arr, json_string(n > 0 ? names[i] : "*"));
	if ((k = fl_key_of(f, "rotate/%s", id)) == NULL) {
		json_decref(arr);
		return -ENOMEM;
	}
	rc = fl_put_record(f, k, json_pack("{s:s,s:o,s:s,s:I}", "id", id,
	    "names", arr, "by", f->name, "at", (json_int_t)loop_now_wall()), 0,
	    on_rotate_put, NULL);
	free(k);
	if (rc < 0) {
		snprintf(why, whylen, "%s", strerror(-rc));
		return rc;
	}
	log_notice("cluster: rotate --fleet request %s written", id);
	return 0;
}
