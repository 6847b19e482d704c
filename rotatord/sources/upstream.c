/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Upstream issuers on the loop.  Each issuer is a small cache (discovery
 * document, JWKS, client key) plus the token requests waiting on it.
 * Nothing here decides what happens to a credential: results go back to
 * the caller, which logs and schedules.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <idp/http.h>
#include <idp/oidc.h>

#include "config/secretref.h"
#include "core/httploop.h"
#include "core/log.h"
#include "sources/upstream.h"

#define DISCOVERY_MAX_AGE	(3600 * 1000)	/* re-read discovery hourly */
#define JWKS_MAX_KEYS		64
#define SECRET_MAX		4096
#define CLIENT_KEY_MAX		(64 * 1024)

struct issuer;

/* A token request waiting for discovery or in flight. */
struct fetch {
	struct issuer		*is;
	const struct cfg_cred	*cr;
	upstream_token_cb	 cb;
	void			*arg;
	uint64_t		 http_id;	/* 0 while waiting for discovery */
	struct fetch		*next;
};

struct issuer {
	struct upstream		*u;
	const struct cfg_issuer	*cfg;
	char			*url;		/* to match across reconfigure */
	struct idp_discovery	*disc;
	int64_t			 disc_at;	/* wall ms */
	uint64_t		 disc_id;	/* request in flight, or 0 */
	struct idp_jwks_cache	 jwks;
	uint64_t		 jwks_id;	/* request in flight, or 0 */
	struct loop_timer	*jwks_timer;	/* scheduled refresh */
	struct idp_key		*client_key;
	struct fetch		*fetches;
	struct upstream_stats	 st;
};

struct upstream {
	struct loop		*loop;
	struct httploop		*hl;
	struct idp_http		*http;		/* hl's client, once made */
	struct issuer		**is;
	size_t			 n;
	void			(*keys_cb)(void *);	/* a JWKS fetch ended */
	void			 *keys_arg;
};

static void issuer_discover(struct issuer *);
static void issuer_fetch_jwks(struct issuer *);

int
upstream_new(struct loop *l, struct upstream **ret)
{
	struct upstream *u;
	int rc;

	if ((u = calloc(1, sizeof(*u))) == NULL)
		return -ENOMEM;
	u->loop = l;
	if ((rc = httploop_new(l, &u->hl)) < 0) {
		free(u);
		return rc;
	}
	*ret = u;
	return 0;
}

/*
 * Makes the HTTP client on first need: a host without [issuer] sections
 * never loads libcurl (and its thirty libraries).
 */
static int
upstream_http(struct upstream *u, struct idp_err *err)
{
	return httploop_client(u->hl, &u->http, err);
}

/* Drops every fetch of is without calling back. */
static void
issuer_cancel(struct issuer *is)
{
	struct fetch *f, *n;

	for (f = is->fetches; f != NULL; f = n) {
		n = f->next;
		if (f->http_id != 0)
			idp_http_cancel(is->u->http, f->http_id);
		free(f);
	}
	is->fetches = NULL;
	if (is->disc_id != 0)
		idp_http_cancel(is->u->http, is->disc_id);
	if (is->jwks_id != 0)
		idp_http_cancel(is->u->http, is->jwks_id);
	is->disc_id = is->jwks_id = 0;
}

static void
issuer_free(struct issuer *is)
{
	if (is == NULL)
		return;
	issuer_cancel(is);
	loop_timer_del(is->jwks_timer);
	idp_discovery_free(is->disc);
	idp_jwks_cache_clear(&is->jwks);
	idp_key_free(is->client_key);
	free(is->url);
	free(is);
}

void
upstream_free(struct upstream *u)
{
	size_t i;

	if (u == NULL)
		return;
	for (i = 0; i < u->n; i++)
		issuer_free(u->is[i]);
	free(u->is);
	httploop_free(u->hl);
	free(u);
}

static struct issuer *
issuer_find(const struct upstream *u, const char *name)
{
	size_t i;

	for (i = 0; i < u->n; i++)
		if (strcmp(u->is[i]->cfg->name, name) == 0)
			return u->is[i];
	return NULL;
}

static int64_t
on_jwks_timer(struct loop *l, void *arg)
{
	struct issuer *is = arg;

	issuer_fetch_jwks(is);		/* its answer sets the next refresh */
	return 0;
}

/* Loads the private key for private_key_jwt. */
static int
issuer_load_key(const struct cfg_issuer *ci, struct idp_key **ret,
    struct idp_err *err)
{
	struct idp_secret *pem = NULL;
	int rc;

	if ((rc = idp_secret_read_file(ci->client_key, CLIENT_KEY_MAX,
	    IDP_SECRET_STRICT_MODE, &pem, err)) < 0)
		return rc;
	rc = idp_key_from_pem(pem->buf, pem->len, ret, err);
	idp_secret_free(pem);
	if (rc == 0 && ci->client_key_id != NULL &&
	    (rc = idp_key_set_kid(*ret, ci->client_key_id)) < 0) {
		idp_key_free(*ret);
		*ret = NULL;
	}
	return rc;
}

int
upstream_configure(struct upstream *u, const struct config *c,
    struct idp_err *err)
{
	struct issuer **nis = NULL;
	struct idp_key *keys[64] = { NULL };
	size_t i, j;
	int rc;

	if (c->n_issuers > 64)
		return idp_err_set(err, -E2BIG, "too many issuers");
	if (c->n_issuers > 0 && (rc = upstream_http(u, err)) < 0)
		return rc;
	/* Load every client key first: all or nothing. */
	for (i = 0; i < c->n_issuers; i++)
		if (c->issuers[i]->client_key != NULL &&
		    (rc = issuer_load_key(c->issuers[i], &keys[i], err)) < 0) {
			idp_err_set(err, rc, "issuer %s: client_key %s: %s",
			    c->issuers[i]->name, c->issuers[i]->client_key,
			    err != NULL && err->msg[0] ? err->msg : strerror(-rc));
			goto fail;
		}
	if (c->n_issuers > 0 &&
	    (nis = calloc(c->n_issuers, sizeof(*nis))) == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	for (i = 0; i < c->n_issuers; i++) {
		const struct cfg_issuer *ci = c->issuers[i];
		struct issuer *is = NULL;

		/* Same name and url: keep discovery and JWKS. */
		for (j = 0; j < u->n; j++)
			if (u->is[j] != NULL && strcmp(u->is[j]->cfg->name,
			    ci->name) == 0 && strcmp(u->is[j]->url, ci->url) == 0) {
				is = u->is[j];
				u->is[j] = NULL;
				issuer_cancel(is);
				idp_key_free(is->client_key);
				break;
			}
		if (is == NULL) {
			if ((is = calloc(1, sizeof(*is))) == NULL ||
			    (is->url = strdup(ci->url)) == NULL) {
				free(is);
				rc = -ENOMEM;
				goto fail_new;
			}
			is->u = u;
			idp_jwks_cache_init(&is->jwks);
			is->jwks_timer = loop_timer_add(u->loop, on_jwks_timer,
			    is);
			if (is->jwks_timer == NULL) {
				free(is->url);
				free(is);
				rc = -ENOMEM;
				goto fail_new;
			}
		}
		is->cfg = ci;
		is->jwks.cooldown = ci->jwks_cooldown;
		is->client_key = keys[i];
		keys[i] = NULL;
		nis[i] = is;
	}
	for (j = 0; j < u->n; j++)
		issuer_free(u->is[j]);
	free(u->is);
	u->is = nis;
	u->n = c->n_issuers;
	/*
	 * Trusted issuers need their keys before the first caller does.  A
	 * kept issuer whose scheduled refresh was in flight (its timer has
	 * fired and only the answer re-arms it) lost it to issuer_cancel():
	 * start it again, or its keys would never be refreshed.
	 */
	for (i = 0; i < u->n; i++)
		if (u->is[i]->cfg->trust && (u->is[i]->jwks.keys == NULL ||
		    loop_timer_when(u->is[i]->jwks_timer) == 0))
			issuer_fetch_jwks(u->is[i]);
	return 0;
fail_new:
	for (j = 0; j < i; j++)
		if (nis[j] != NULL)
			issuer_free(nis[j]);
fail:
	for (i = 0; i < 64; i++)
		idp_key_free(keys[i]);
	free(nis);
	return rc;
}

const struct upstream_stats *
upstream_get_stats(const struct upstream *u, const char *name)
{
	const struct issuer *is = issuer_find(u, name);

	return is == NULL ? NULL : &is->st;
}

static void
issuer_failed(struct issuer *is, const char *what, const char *why)
{
	is->st.failures++;
	snprintf(is->st.last_error, sizeof(is->st.last_error), "%s: %s", what,
	    why);
}

/* Fills the common parts of a request to this issuer. */
static void
issuer_req(const struct issuer *is, struct idp_http_req *r, const char *url)
{
	memset(r, 0, sizeof(*r));
	r->url = url;
	r->ca_file = is->cfg->ca_file;
	r->timeout_ms = is->cfg->timeout;
	r->connect_timeout_ms = is->cfg->timeout < 5000 ? is->cfg->timeout : 5000;
	/* The config allows http only for loopback issuers. */
	r->allow_http_loopback = 1;
}

/* Completes fetch f (unlinked by the caller) with an error. */
static void
fetch_fail(struct fetch *f, int rc, const char *why)
{
	f->cb(f->arg, f->cr, rc, NULL, why);
	free(f);
}

static void
fetch_unlink(struct issuer *is, struct fetch *f)
{
	struct fetch **pp;

	for (pp = &is->fetches; *pp != NULL; pp = &(*pp)->next)
		if (*pp == f) {
			*pp = f->next;
			return;
		}
}

static void
on_token(void *arg, const struct idp_http_resp *resp)
{
	struct fetch *f = arg;
	struct issuer *is = f->is;
	struct idp_token *tok = NULL;
	struct idp_err err;
	char why[320];
	int rc;

	fetch_unlink(is, f);
	err.msg[0] = '\0';
	if (resp->rc < 0) {
		snprintf(why, sizeof(why), "token endpoint: %s",
		    resp->error != NULL ? resp->error : strerror(-resp->rc));
		issuer_failed(is, "token", why);
		/* A transport failure may mean the endpoints moved. */
		is->disc_at = 0;
		fetch_fail(f, resp->rc, why);
		return;
	}
	if ((rc = idp_token_parse(resp->status, resp->body, resp->body_len,
	    &tok, &err)) < 0) {
		snprintf(why, sizeof(why), "token endpoint answered %ld: %s",
		    resp->status, err.msg[0] ? err.msg : strerror(-rc));
		issuer_failed(is, "token", why);
		fetch_fail(f, rc, why);
		return;
	}
	is->st.last_ok = loop_now_wall();
	f->cb(f->arg, f->cr, 0, tok, NULL);
	idp_token_free(tok);
	free(f);
}

/* Sends the token request of f, whose issuer has a discovery document. */
static void
fetch_send(struct fetch *f)
{
	struct issuer *is = f->is;
	const struct cfg_issuer *ci = is->cfg;
	const struct cfg_cred *cr = f->cr;
	struct idp_secret *secret = NULL, *subject = NULL;
	struct idp_token_http th;
	struct idp_token_req tr;
	struct idp_http_req r;
	struct idp_err err;
	char why[320], reason[200];
	int rc;

	memset(&th, 0, sizeof(th));
	err.msg[0] = '\0';
	if (ci->client_secret.source != 0 &&
	    (rc = secretref_load(&ci->client_secret, SECRET_MAX, &secret,
	    reason, sizeof(reason))) < 0) {
		snprintf(why, sizeof(why), "client_secret: %s", reason);
		goto fail;
	}
	if (cr->subject_token.source != 0 &&
	    (rc = secretref_load(&cr->subject_token, 64 * 1024, &subject,
	    reason, sizeof(reason))) < 0) {
		snprintf(why, sizeof(why), "subject_token: %s", reason);
		goto fail;
	}
	memset(&tr, 0, sizeof(tr));
	tr.token_endpoint = is->disc->token_endpoint;
	tr.client_id = ci->client_id;
	tr.auth = ci->auth_method;
	tr.client_secret = secret;
	tr.client_key = is->client_key;
	tr.scope = cr->scope;
	tr.audience = (const char **)cr->audience;
	tr.n_audience = cr->n_audience;
	tr.resource = (const char **)cr->resource;
	tr.n_resource = cr->n_resource;
	tr.subject_token = subject;
	tr.subject_token_type = cr->subject_token_type;
	if ((rc = idp_token_request(&tr, loop_now_wall() / 1000, &th, &err)) < 0) {
		snprintf(why, sizeof(why), "cannot build token request: %s",
		    err.msg[0] ? err.msg : strerror(-rc));
		goto fail;
	}
	issuer_req(is, &r, is->disc->token_endpoint);
	r.method = "POST";
	r.body = th.body->buf;
	r.body_len = th.body->len;
	r.content_type = "application/x-www-form-urlencoded";
	r.authorization = th.authorization != NULL ?
	    (const char *)th.authorization->buf : NULL;
	is->st.token++;
	log_debug("issuer %s: token request for %s (%s%s%s)", ci->name, cr->name,
	    idp_auth_method_name(ci->auth_method), th.jti[0] ? ", jti " : "",
	    th.jti);
	if ((rc = idp_http_start(is->u->http, &r, on_token, f, &f->http_id)) < 0) {
		snprintf(why, sizeof(why), "cannot start request: %s",
		    strerror(-rc));
		goto fail;
	}
	idp_token_http_clear(&th);
	idp_secret_free(secret);
	idp_secret_free(subject);
	return;
fail:
	idp_token_http_clear(&th);
	idp_secret_free(secret);
	idp_secret_free(subject);
	issuer_failed(is, "token", why);
	fetch_unlink(is, f);
	fetch_fail(f, rc, why);
}

static void
on_discovery(void *arg, const struct idp_http_resp *resp)
{
	struct issuer *is = arg;
	struct idp_discovery *d = NULL;
	struct fetch *f, *next;
	struct idp_err err;
	char why[320];
	int rc;

	is->disc_id = 0;
	err.msg[0] = '\0';
	if (resp->rc < 0) {
		rc = resp->rc;
		snprintf(why, sizeof(why), "discovery: %s",
		    resp->error != NULL ? resp->error : strerror(-rc));
	} else if (resp->status != 200) {
		rc = -EPROTO;
		snprintf(why, sizeof(why), "discovery: HTTP status %ld",
		    resp->status);
	} else if ((rc = idp_discovery_parse(resp->body, resp->body_len,
	    is->cfg->url, 1, &d, &err)) < 0)
		snprintf(why, sizeof(why), "discovery: %s",
		    err.msg[0] ? err.msg : strerror(-rc));
	if (rc < 0) {
		issuer_failed(is, "discovery", why);
		/*
		 * A trusted issuer's keys are still owed: try again (discovery
		 * first) after the cooldown, as after a failed JWKS fetch, not
		 * only when a caller's token names a kid.
		 */
		if (is->cfg->trust && is->disc == NULL) {
			log_warn("issuer %s: %s; no keys yet, retrying in %llds",
			    is->cfg->name, why,
			    (long long)(is->jwks.cooldown / 1000));
			loop_timer_set(is->jwks_timer, loop_now_mono() +
			    is->jwks.cooldown);
		}
		/* A key fetch that waited for discovery has ended too. */
		if (is->cfg->trust && is->u->keys_cb != NULL)
			is->u->keys_cb(is->u->keys_arg);
		/* Every waiting fetch fails; the caller retries with backoff. */
		for (f = is->fetches; f != NULL; f = next) {
			next = f->next;
			if (f->http_id == 0) {
				fetch_unlink(is, f);
				fetch_fail(f, rc, why);
			}
		}
		return;
	}
	idp_discovery_free(is->disc);
	is->disc = d;
	is->disc_at = loop_now_wall();
	is->st.last_ok = is->disc_at;
	for (f = is->fetches; f != NULL; f = next) {
		next = f->next;
		if (f->http_id == 0)
			fetch_send(f);
	}
	if (is->cfg->trust && is->jwks.keys == NULL && is->jwks_id == 0)
		issuer_fetch_jwks(is);
}

static void
issuer_discover(struct issuer *is)
{
	struct idp_http_req r;
	char *url;
	int rc;

	if (is->disc_id != 0)
		return;
	if ((url = idp_discovery_url(is->cfg->url)) == NULL)
		return;
	issuer_req(is, &r, url);
	is->st.discovery++;
	rc = idp_http_start(is->u->http, &r, on_discovery, is, &is->disc_id);
	free(url);
	if (rc < 0) {
		struct idp_http_resp fake;

		memset(&fake, 0, sizeof(fake));
		fake.rc = rc;
		fake.error = "cannot start request";
		on_discovery(is, &fake);
	}
}

int
upstream_fetch_token(struct upstream *u, const struct cfg_cred *cr,
    upstream_token_cb cb, void *arg)
{
	struct issuer *is;
	struct fetch *f;

	if (cr->issuer == NULL || (is = issuer_find(u, cr->issuer->name)) == NULL)
		return -ENOENT;
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -ENOMEM;
	f->is = is;
	f->cr = cr;
	f->cb = cb;
	f->arg = arg;
	f->next = is->fetches;
	is->fetches = f;
	if (is->disc == NULL ||
	    loop_now_wall() - is->disc_at > DISCOVERY_MAX_AGE || is->disc_at == 0)
		issuer_discover(is);
	else
		fetch_send(f);
	return 0;
}

static void
on_jwks(void *arg, const struct idp_http_resp *resp)
{
	struct issuer *is = arg;
	struct idp_jwks *set = NULL;
	struct idp_err err;
	int64_t now = loop_now_wall(), next;
	int rc;

	is->jwks_id = 0;
	err.msg[0] = '\0';
	if (resp->rc < 0)
		rc = idp_err_set(&err, resp->rc, "%s", resp->error != NULL ?
		    resp->error : strerror(-resp->rc));
	else if (resp->status != 200)
		rc = idp_err_set(&err, -EPROTO, "HTTP status %ld", resp->status);
	else
		rc = idp_jwks_parse(resp->body, resp->body_len, JWKS_MAX_KEYS,
		    &set, &err);
	if (rc < 0) {
		issuer_failed(is, "jwks", err.msg);
		next = now + is->jwks.cooldown;
		log_warn("issuer %s: JWKS refresh failed: %s; keeping %s, "
		    "retrying in %llds", is->cfg->name, err.msg,
		    is->jwks.keys != NULL ? "the last good key set" : "no keys",
		    (long long)(is->jwks.cooldown / 1000));
	} else {
		idp_jwks_cache_put(&is->jwks, set, resp->cache_control, now);
		is->st.last_ok = now;
		next = is->jwks.expires_at;
		log_info("issuer %s: JWKS has %zu keys, next refresh in %llds",
		    is->cfg->name, idp_jwks_count(set),
		    (long long)((next - now) / 1000));
	}
	loop_timer_set(is->jwks_timer, loop_now_mono() + (next - now));
	if (is->u->keys_cb != NULL)
		is->u->keys_cb(is->u->keys_arg);
}

static void
issuer_fetch_jwks(struct issuer *is)
{
	struct idp_http_req r;
	int rc;

	if (is->jwks_id != 0)
		return;
	if (is->disc == NULL) {
		issuer_discover(is);
		return;
	}
	issuer_req(is, &r, is->disc->jwks_uri);
	is->st.jwks++;
	if ((rc = idp_http_start(is->u->http, &r, on_jwks, is, &is->jwks_id)) < 0)
		issuer_failed(is, "jwks", strerror(-rc));
}

const struct idp_jwks *
upstream_keys(const struct upstream *u, const char *name)
{
	const struct issuer *is = issuer_find(u, name);

	return is != NULL && is->cfg->trust ? is->jwks.keys : NULL;
}

int
upstream_unknown_kid(struct upstream *u, const char *name, int64_t now)
{
	struct issuer *is = issuer_find(u, name);

	if (is == NULL || !is->cfg->trust)
		return 0;
	/* Maybe the issuer rotated: refetch, at most once per cooldown. */
	if (is->jwks_id == 0 && is->disc_id == 0 &&
	    idp_jwks_cache_unknown_kid(&is->jwks, now))
		issuer_fetch_jwks(is);
	/* Discovery first when needed: it fetches the keys of a set without. */
	return is->jwks_id != 0 || (is->disc_id != 0 && is->jwks.keys == NULL);
}

void
upstream_on_keys(struct upstream *u, void (*cb)(void *), void *arg)
{
	u->keys_cb = cb;
	u->keys_arg = arg;
}
