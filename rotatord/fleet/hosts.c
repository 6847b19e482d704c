/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hosts as etcd shows them: registrations bound to their lease, who
 * left lately, acknowledgements, stale marks (this host's own included).
 * Writes nothing to etcd but this host's registration again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "fleet/fleet_int.h"

struct host *
hs_host_find(struct fleet *f, const char *h, size_t len)
{
	size_t i;

	for (i = 0; i < f->n_hosts; i++)
		if (strlen(f->hosts[i].name) == len &&
		    memcmp(f->hosts[i].name, h, len) == 0)
			return &f->hosts[i];
	return NULL;
}

/* Forgets that host h left (it is back, or long gone). */
static void
left_drop(struct fleet *f, const char *h, size_t len)
{
	size_t i;

	for (i = 0; i < f->n_left; i++)
		if (strlen(f->left[i].name) == len &&
		    memcmp(f->left[i].name, h, len) == 0) {
			free(f->left[i].secrets);
			f->left[i] = f->left[--f->n_left];
			return;
		}
}

/* Host h's registration is gone; remember: wait for it a while still. */
static void
host_gone(struct fleet *f, const char *h, size_t len, int remember)
{
	struct host *x = hs_host_find(f, h, len), *nl;

	left_drop(f, h, len);
	if (x == NULL)
		return;
	if (remember && (nl = reallocarray(f->left, f->n_left + 1,
	    sizeof(*nl))) != NULL) {
		f->left = nl;
		f->left[f->n_left] = *x;
		f->left[f->n_left++].left = loop_now_mono();
	} else {
		free(x->secrets);
	}
	*x = f->hosts[--f->n_hosts];
}

/* Does host x serve fleet secret name (then the leader waits for it)? */
int
hs_host_serves(const struct host *x, const char *name)
{
	char pat[CONFIG_MAX_NAME + 3];

	snprintf(pat, sizeof(pat), ",%s,", name);
	return x->secrets != NULL && strstr(x->secrets, pat) != NULL;
}

/* The registration's list of fleet secrets as ",a,b," (NULL: none). */
static char *
host_secrets(const json_t *arr)
{
	size_t i, len = 2;
	json_t *el;
	char *out;

	json_array_foreach(arr, i, el)
		if (json_string_value(el) != NULL)
			len += json_string_length(el) + 1;
	if (!json_is_array(arr) || len > 64 * 1024 ||
	    (out = malloc(len)) == NULL)
		return NULL;
	strcpy(out, ",");
	json_array_foreach(arr, i, el)
		if (json_string_value(el) != NULL && strchr(json_string_value(
		    el), ',') == NULL) {
			strcat(out, json_string_value(el));
			strcat(out, ",");
		}
	return out;
}

/* "hosts/HOST": a registration, bound to the lease it names. */
void
hs_host_rec(struct fleet *f, const struct etcd_kv *kv, const char *h,
    size_t len)
{
	json_t *body;
	struct host *x, *nx;
	int64_t lease;
	int self = strlen(f->name) == len && memcmp(f->name, h, len) == 0;

	if (kv->is_delete) {
		host_gone(f, h, len, 1);
		/* Ours removed while we live (by hand, or an attacker). */
		if (self && f->state == F_RUN && f->lease != 0)
			(void)mb_register_self(f, NULL);
		return;
	}
	host_gone(f, h, len, 1);
	if ((body = fl_open_record(f, RF_HOST, kv)) == NULL)
		goto mine;
	lease = fleetrec_int(body, "lease", 0);
	if (!fl_good_name(h, len, 64) || !fl_body_says(body, "host", h, len) ||
	    lease == 0 || lease != kv->lease) {
		rp_refuse(f, RF_HOST, kv, "a registration that is not bound to "
		    "the lease it names");
		json_decref(body);
		goto mine;
	}
	if ((nx = reallocarray(f->hosts, f->n_hosts + 1, sizeof(*nx))) == NULL) {
		json_decref(body);
		return;
	}
	f->hosts = nx;
	x = &f->hosts[f->n_hosts++];
	memcpy(x->name, h, len);
	x->name[len] = '\0';
	x->lease = lease;
	x->secrets = host_secrets(json_object_get(body, "secrets"));
	json_decref(body);
	left_drop(f, h, len);	/* back: no longer waited for as gone */
	return;
mine:
	/* Ours overwritten by something else: register again. */
	if (self && f->state == F_RUN && f->lease != 0)
		(void)mb_register_self(f, NULL);
}

static struct ack *
ack_find(struct fleet *f, const char *secret, size_t sl, const char *host,
    size_t hl)
{
	size_t i;

	for (i = 0; i < f->n_acks; i++)
		if (strlen(f->acks[i].secret) == sl &&
		    memcmp(f->acks[i].secret, secret, sl) == 0 &&
		    strlen(f->acks[i].host) == hl &&
		    memcmp(f->acks[i].host, host, hl) == 0)
			return &f->acks[i];
	return NULL;
}

/* "acks/SECRET/HOST": HOST holds generation gen (fingerprint fp). */
void
hs_ack_rec(struct fleet *f, const struct etcd_kv *kv, const char *k, size_t len)
{
	const char *slash = memchr(k, '/', len), *fp;
	struct ack *a, *na;
	size_t sl, hl;
	json_t *body;
	int64_t lease;

	if (slash == NULL)
		return;
	sl = (size_t)(slash - k);
	hl = len - sl - 1;
	if ((a = ack_find(f, k, sl, slash + 1, hl)) != NULL)
		*a = f->acks[--f->n_acks];
	if (kv->is_delete || (body = fl_open_record(f, RF_ACK, kv)) == NULL)
		return;
	lease = fleetrec_int(body, "lease", 0);
	fp = fleetrec_str(body, "fp");
	if (!fl_good_name(k, sl, CONFIG_MAX_NAME) ||
	    !fl_good_name(slash + 1, hl, 64) ||
	    !fl_body_says(body, "secret", k, sl) ||
	    !fl_body_says(body, "host", slash + 1, hl) || lease == 0 ||
	    lease != kv->lease || fp == NULL || strlen(fp) != FLEETREC_FP_LEN ||
	    fleetrec_int(body, "gen", 0) <= 0) {
		rp_refuse(f, RF_ACK, kv, "an acknowledgement that does not "
		    "match its key or lease");
		json_decref(body);
		return;
	}
	if ((na = reallocarray(f->acks, f->n_acks + 1, sizeof(*na))) != NULL) {
		f->acks = na;
		a = &f->acks[f->n_acks++];
		memcpy(a->secret, k, sl);
		a->secret[sl] = '\0';
		memcpy(a->host, slash + 1, hl);
		a->host[hl] = '\0';
		a->gen = fleetrec_int(body, "gen", 0);
		snprintf(a->fp, sizeof(a->fp), "%s", fp);
	}
	json_decref(body);
}

/* Has host h acknowledged exactly what this host holds of s? */
int
hs_host_acked(const struct fleet *f, const struct fsecret *s, const char *h)
{
	size_t i;

	for (i = 0; i < f->n_acks; i++)
		if (strcmp(f->acks[i].secret, s->name) == 0 &&
		    strcmp(f->acks[i].host, h) == 0 &&
		    f->acks[i].gen == s->gen && strcmp(f->acks[i].fp, s->fp) == 0)
			return 1;
	return 0;
}

static struct stale *
stale_find(struct fleet *f, const char *h, size_t len)
{
	size_t i;

	for (i = 0; i < f->n_stales; i++)
		if (strlen(f->stales[i].host) == len &&
		    memcmp(f->stales[i].host, h, len) == 0)
			return &f->stales[i];
	return NULL;
}

/* "stale/HOST": the leader went on without HOST; it must catch up. */
void
hs_stale_rec(struct fleet *f, const struct etcd_kv *kv, const char *h,
    size_t len)
{
	struct stale *x, *nx;
	int self = strlen(f->name) == len && memcmp(f->name, h, len) == 0;
	json_t *body;
	const char *sec;

	if ((x = stale_find(f, h, len)) != NULL)
		*x = f->stales[--f->n_stales];
	if (kv->is_delete || (body = fl_open_record(f, RF_STALE, kv)) == NULL) {
		if (self && f->self_stale) {
			f->self_stale = 0;
			log_notice("cluster: this host is no longer stale");
		}
		return;
	}
	sec = fleetrec_str(body, "secret");
	if (!fl_good_name(h, len, 64) || !fl_body_says(body, "host", h, len) ||
	    sec == NULL || strlen(sec) > CONFIG_MAX_NAME) {
		rp_refuse(f, RF_STALE, kv, "a stale mark that does not match "
		    "its key");
		json_decref(body);
		return;
	}
	if ((nx = reallocarray(f->stales, f->n_stales + 1,
	    sizeof(*nx))) != NULL) {
		f->stales = nx;
		x = &f->stales[f->n_stales++];
		memset(x, 0, sizeof(*x));
		memcpy(x->host, h, len);
		snprintf(x->secret, sizeof(x->secret), "%s", sec);
		x->gen = fleetrec_int(body, "gen", 0);
	}
	json_decref(body);
	if (self && !f->self_stale) {
		f->self_stale = 1;
		log_warn("cluster: the leader went on without this host (it did "
		    "not acknowledge %s generation %lld in time): reading the "
		    "fleet again", x != NULL ? x->secret : "a secret",
		    (long long)(x != NULL ? x->gen : 0));
		if (f->state == F_RUN && !f->syncing) {
			f->state = F_SYNC;
			loop_timer_set(f->step_t, loop_now_mono());
		}
	}
}
