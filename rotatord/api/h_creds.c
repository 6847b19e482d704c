/* SPDX-License-Identifier: Apache-2.0 */
/*
 * GET /v1/credentials, /v1/credentials/NAME and /v1/credentials/NAME/FILE
 * (ETag, If-None-Match, ?wait= long polls), with the response cache of
 * credential files.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <idp/crypto.h>

#include "api/authz.h"
#include "api/server_int.h"
#include "core/log.h"

#define RC_SLOTS		256		/* file response cache, direct-mapped */
#define MAX_FILE_NAME		64

/*
 * A credential file's response, made once per generation and queued for
 * every GET of it (libmicrohttpd counts the references of a response):
 * no copy of the file, no new response and headers per request.  The
 * body is wiped when the last reference goes (secret_body_free).
 */
struct resp_slot {
	struct MHD_Response	*r;		/* NULL: empty */
	uint64_t		 gen;
	char			 name[MAX_NAME + 1];
	char			 file[MAX_FILE_NAME + 1];
};

/*
 * ?wait= duration: N, Ns, Nm or Nms (N: up to 9 digits).  Returns 0 and
 * milliseconds in *ret, or -EINVAL.
 */
static int
parse_wait(const char *s, int64_t *ret)
{
	int64_t v = 0;
	size_t i;

	for (i = 0; s[i] >= '0' && s[i] <= '9'; i++) {
		if (i == 9)
			return -EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	if (i == 0)
		return -EINVAL;
	if (s[i] == '\0' || strcmp(s + i, "s") == 0)
		v *= 1000;
	else if (strcmp(s + i, "m") == 0)
		v *= 60 * 1000;
	else if (strcmp(s + i, "ms") != 0)
		return -EINVAL;
	*ret = v;
	return 0;
}

/*
 * Does an If-None-Match list name generation gen ("*" names any)?  Weak
 * tags compare like strong ones (RFC 9110 13.1.2).
 */
static int
etag_match(const char *h, uint64_t gen)
{
	const char *p = h;

	while (*p != '\0') {
		uint64_t v = 0;
		int digits = 0, over = 0;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		if (*p == '*')
			return 1;
		if (p[0] == 'W' && p[1] == '/')
			p += 2;
		if (*p == '"') {
			for (p++; *p >= '0' && *p <= '9'; p++, digits++) {
				if (v > (UINT64_MAX - 9) / 10)
					over = 1;
				v = v * 10 + (uint64_t)(*p - '0');
			}
			if (*p == '"' && digits > 0 && !over && v == gen)
				return 1;
		}
		while (*p != '\0' && *p != ',')
			p++;
	}
	return 0;
}

static const char *
file_type(const char *file)
{
	size_t n = strlen(file);

	if (n > 4 && strcmp(file + n - 4, ".pem") == 0)
		return "application/x-pem-file";
	if (n > 5 && strcmp(file + n - 5, ".json") == 0)
		return CT_JSON;
	if (strcmp(file, "token") == 0)
		return "application/jwt";
	return "application/octet-stream";
}

/* GET /v1/credentials */
enum MHD_Result
h_cred_list(struct req *rq, const struct caller *cl)
{
	struct server *s = rq->cn->ls->srv;
	const char *const *names = s->ops.names(s->ops.arg);
	json_t *arr = json_array(), *o;
	const char *type;
	int64_t not_after;
	uint64_t gen;
	size_t i, n = 0;

	for (i = 0; names != NULL && names[i] != NULL && arr != NULL; i++) {
		if (!authz_may_read(s->cfg, &cl->who, names[i]))
			continue;
		type = NULL;
		gen = 0;
		not_after = 0;
		if (s->ops.generation(s->ops.arg, names[i], &gen, &type,
		    &not_after) < 0)
			continue;
		o = json_pack("{s:s,s:s,s:I,s:o}", "name", names[i],
		    "type", type != NULL ? type : "", "generation",
		    (json_int_t)gen, "not_after", gen > 0 ?
		    json_integer(not_after) : json_null());
		if (o == NULL || json_array_append_new(arr, o) < 0) {
			json_decref(arr);
			arr = NULL;
		}
		n++;
	}
	log_info("audit: credentials_list by %s ok (%zu)", cl->desc, n);
	return resp_queue(rq, MHD_HTTP_OK, resp_json(arr));
}

/* "NAME" or "NAME/FILE" in buf, for audit lines (not yet made safe). */
static const char *
what_of(char *buf, size_t size, const char *name, const char *file)
{
	snprintf(buf, size, "%s%s%s", name, file != NULL ? "/" : "",
	    file != NULL ? file : "");
	return buf;
}

/*
 * Looks up credential name for a read by cl (of one of its files when
 * file is not NULL): 0 with its generation, or -1 after queuing 404 / 403
 * / 503 (audited).  A generation past its not_after is not served: the
 * caller gets 503 "expired" until a new one is published (renewal failing,
 * or a fleet secret this host cannot reach), as with no generation yet.
 */
static int
cred_check(struct req *rq, const struct caller *cl, const char *name,
    const char *file, uint64_t *ret_gen, enum MHD_Result *ret)
{
	struct server *s = rq->cn->ls->srv;
	char what[MAX_NAME + MAX_FILE_NAME + 2], sb[80];
	struct MHD_Response *r;
	int64_t not_after = 0;

	if (!txt_name_ok(name, strlen(name), MAX_NAME) ||
	    s->ops.generation(s->ops.arg, name, ret_gen, NULL, &not_after) < 0) {
		log_info("audit: %s %s by %s not_found",
		    resp_route_names[rq->route], txt_safe(sb, sizeof(sb),
		    what_of(what, sizeof(what), name, file), 64), cl->desc);
		*ret = resp_error(rq, MHD_HTTP_NOT_FOUND, "not_found",
		    "no credential named %s", txt_safe(sb, sizeof(sb), name,
		    64));
		return -1;
	}
	if (!authz_may_read(s->cfg, &cl->who, name)) {
		log_notice("audit: %s %s by %s denied",
		    resp_route_names[rq->route], txt_safe(sb, sizeof(sb),
		    what_of(what, sizeof(what), name, file), 64), cl->desc);
		*ret = resp_error(rq, MHD_HTTP_FORBIDDEN, "access_denied",
		    "not allowed to read %s", name);
		return -1;
	}
	if (*ret_gen > 0 && not_after <= loop_now_wall() / 1000) {
		log_notice("audit: %s %s by %s expired",
		    resp_route_names[rq->route], txt_safe(sb, sizeof(sb),
		    what_of(what, sizeof(what), name, file), 64), cl->desc);
		r = resp_json(json_pack("{s:s,s:s}", "error", "expired",
		    "error_description", "the published generation has expired "
		    "and no new one could be made yet"));
		if (r != NULL)
			MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER,
			    "5");
		*ret = resp_queue(rq, MHD_HTTP_SERVICE_UNAVAILABLE, r);
		return -1;
	}
	return 0;
}

static enum MHD_Result
reply_unpublished(struct req *rq)
{
	struct MHD_Response *r;

	r = resp_json(json_pack("{s:s,s:s}", "error", "not_ready",
	    "error_description", "no generation published yet"));
	if (r != NULL)
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "5");
	return resp_queue(rq, MHD_HTTP_SERVICE_UNAVAILABLE, r);
}

/*
 * GET /v1/credentials/NAME: {"name", "generation", "meta": meta.json,
 * "files": {"FILE": {"encoding": "text"|"base64", "content": ...}}} with
 * every file of the generation.  Key files (*.key) and anything that is
 * not UTF-8 text are base64.  Built in a wiped buffer: it holds keys.
 */
enum MHD_Result
h_cred(struct req *rq, const struct caller *cl, const char *name)
{
	struct server *s = rq->cn->ls->srv;
	struct idp_jw b;
	json_t *meta = NULL, *e;
	const char *fname, *data;
	struct blob *bl;
	char *mtext;
	enum MHD_Result ret;
	uint64_t gen, fgen;
	size_t len, flen;
	int first = 1, rc, missing = 0;

	if (cred_check(rq, cl, name, NULL, &gen, &ret) < 0)
		return ret;
	if (gen == 0)
		return reply_unpublished(rq);
	if ((rc = s->ops.meta(s->ops.arg, name, &meta)) < 0 ||
	    !json_is_object(json_object_get(meta, "files"))) {
		json_decref(meta);
		log_warn("http: credential %s: cannot read its meta.json: %s",
		    name, rc < 0 ? strerror(-rc) : "no files");
		return resp_error(rq, MHD_HTTP_INTERNAL_SERVER_ERROR,
		    "server_error", "cannot read the credential's metadata");
	}
	mtext = json_dumps(meta, JSON_COMPACT);
	idp_jw_growing(&b, RESP_MAX);
	idp_jw_lit(&b, "{\"name\":");
	idp_jw_str(&b, name);
	idp_jw_lit(&b, ",\"generation\":");
	idp_jw_int(&b, (int64_t)gen);
	idp_jw_lit(&b, ",\"meta\":");
	if (mtext != NULL)
		idp_jw_lit(&b, mtext);
	else
		b.bad = 1;
	idp_jw_lit(&b, ",\"files\":{");
	free(mtext);
	json_object_foreach(json_object_get(meta, "files"), fname, e) {
		flen = strlen(fname);
		if (!txt_name_ok(fname, flen, MAX_FILE_NAME))
			continue;
		if ((rc = s->ops.read_file(s->ops.arg, name, fname, &bl,
		    &fgen)) < 0) {
			missing = 1;
			break;
		}
		data = blob_data(bl);
		len = blob_len(bl);
		idp_jw_lit(&b, first ? "" : ",");
		first = 0;
		idp_jw_strn(&b, fname, flen);
		if ((flen > 4 && strcmp(fname + flen - 4, ".key") == 0) ||
		    !txt_utf8_ok((const unsigned char *)data, len)) {
			idp_jw_lit(&b,
			    ":{\"encoding\":\"base64\",\"content\":");
			idp_jw_b64(&b, data, len);
		} else {
			idp_jw_lit(&b,
			    ":{\"encoding\":\"text\",\"content\":");
			idp_jw_strn(&b, data, len);
		}
		idp_jw_lit(&b, "}");
		blob_unref(bl);
	}
	json_decref(meta);
	idp_jw_lit(&b, "}}");
	if (missing || b.bad) {
		idp_jw_free(&b);
		log_warn("http: credential %s: %s", name, missing ?
		    "a file listed in meta.json cannot be read" :
		    "out of memory");
		return resp_error(rq, MHD_HTTP_INTERNAL_SERVER_ERROR,
		    "server_error", "cannot read the credential");
	}
	log_info("audit: credential %s gen %llu by %s ok", name,
	    (unsigned long long)gen, cl->desc);
	{
		struct MHD_Response *r = resp_secret(b.p, b.len, b.cap);

		if (r != NULL) {
			MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
			    CT_JSON);
			MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL,
			    "no-store");
		}
		return resp_queue(rq, MHD_HTTP_OK, r);
	}
}

/* The cache slot of name/file (FNV-1a), or NULL without memory. */
static struct resp_slot *
rc_slot(struct server *s, const char *name, const char *file)
{
	uint32_t h = 2166136261u;
	const char *p;

	if (s->rc == NULL && (s->rc = calloc(RC_SLOTS, sizeof(*s->rc))) == NULL)
		return NULL;
	for (p = name; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	h = (h ^ '/') * 16777619u;
	for (p = file; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return &s->rc[h % RC_SLOTS];
}

/* Drops the cached responses of cred, or all of them when cred is NULL. */
void
h_cred_cache_clear(struct server *s, const char *cred)
{
	size_t i;

	if (s->rc == NULL)
		return;
	for (i = 0; i < RC_SLOTS; i++)
		if (s->rc[i].r != NULL && (cred == NULL ||
		    strcmp(s->rc[i].name, cred) == 0)) {
			/* Requests still sending it hold their own reference. */
			MHD_destroy_response(s->rc[i].r);
			memset(&s->rc[i], 0, sizeof(s->rc[i]));
		}
	if (cred == NULL) {
		free(s->rc);
		s->rc = NULL;
	}
}

/*
 * GET /v1/credentials/NAME/FILE: the raw bytes, ETag "GEN".  With
 * If-None-Match naming the current generation: 304, or with ?wait=D held
 * until a newer generation is published or D (capped at max_wait) passes.
 * This is the hot path: no JSON, and a file already served in this
 * generation is answered with the response made then (rc_slot()); what is
 * left per request is the access check and the audit line.
 */
enum MHD_Result
h_cred_file(struct req *rq, const struct caller *cl, const char *name,
    const char *file)
{
	struct server *s = rq->cn->ls->srv;
	struct resp_slot *e = NULL;
	struct MHD_Response *r;
	const char *inm, *w;
	char etag[24], what[MAX_NAME + MAX_FILE_NAME + 2], sb[80];
	struct blob *bl;
	enum MHD_Result ret;
	int64_t wait_ms = 0;
	uint64_t gen, fgen = 0;
	int rc;

	w = MHD_lookup_connection_value(rq->mc, MHD_GET_ARGUMENT_KIND, "wait");
	if (w != NULL) {
		if (parse_wait(w, &wait_ms) < 0)
			return resp_error(rq, MHD_HTTP_BAD_REQUEST,
			    "invalid_request", "bad wait %s (like 30s, 5m or "
			    "500ms)", txt_safe(sb, sizeof(sb), w, 32));
		if (wait_ms > s->cfg->listen.max_wait)
			wait_ms = s->cfg->listen.max_wait;
	}
	if (cred_check(rq, cl, name, file, &gen, &ret) < 0)
		return ret;
	if (!txt_name_ok(file, strlen(file), MAX_FILE_NAME)) {
		log_info("audit: credential_file %s/%s by %s not_found", name,
		    txt_safe(sb, sizeof(sb), file, 64), cl->desc);
		return resp_error(rq, MHD_HTTP_NOT_FOUND, "not_found",
		    "no such file");
	}
	inm = MHD_lookup_connection_value(rq->mc, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_IF_NONE_MATCH);
	if (gen == 0) {
		if (wait_ms > 0 && lp_can_wait(rq))
			return lp_wait(rq, name, 0, wait_ms);
		return reply_unpublished(rq);
	}
	if (inm != NULL && etag_match(inm, gen)) {
		if (wait_ms > 0 && lp_can_wait(rq))
			return lp_wait(rq, name, gen, wait_ms);
		snprintf(etag, sizeof(etag), "\"%llu\"", (unsigned long long)gen);
		r = MHD_create_response_from_buffer(0, NULL,
		    MHD_RESPMEM_PERSISTENT);
		if (r != NULL)
			MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag);
		log_debug("audit: credential_file %s/%s gen %llu by %s "
		    "not_modified", name, file, (unsigned long long)gen,
		    cl->desc);
		return resp_queue(rq, MHD_HTTP_NOT_MODIFIED, r);
	}
	/* A draining listener adds "Connection: close": not to a shared one. */
	if (!rq->cn->ls->draining && !s->stopping &&
	    (e = rc_slot(s, name, file)) != NULL && e->r != NULL &&
	    e->gen == gen && strcmp(e->name, name) == 0 &&
	    strcmp(e->file, file) == 0) {
		log_info("audit: credential_file %s/%s gen %llu by %s ok", name,
		    file, (unsigned long long)gen, cl->desc);
		return resp_shared(rq, MHD_HTTP_OK, e->r);
	}
	if ((rc = s->ops.read_file(s->ops.arg, name, file, &bl, &fgen)) < 0) {
		what_of(what, sizeof(what), name, file);
		if (rc == -ENOENT) {
			log_info("audit: credential_file %s by %s not_found",
			    what, cl->desc);
			return resp_error(rq, MHD_HTTP_NOT_FOUND, "not_found",
			    "no file %s in credential %s", file, name);
		}
		log_warn("http: cannot read %s: %s", what, strerror(-rc));
		return resp_error(rq, MHD_HTTP_INTERNAL_SERVER_ERROR,
		    "server_error", "cannot read the file");
	}
	snprintf(etag, sizeof(etag), "\"%llu\"", (unsigned long long)fgen);
	if ((r = resp_blob(bl)) != NULL) {
		MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag);
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
		    file_type(file));
		MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL,
		    "no-store");
	}
	log_info("audit: credential_file %s/%s gen %llu by %s ok", name, file,
	    (unsigned long long)fgen, cl->desc);
	if (r == NULL || e == NULL || fgen != gen)
		return resp_queue(rq, MHD_HTTP_OK, r);
	/* The slot keeps the reference made with the response. */
	if (e->r != NULL)
		MHD_destroy_response(e->r);
	e->r = r;
	e->gen = gen;
	snprintf(e->name, sizeof(e->name), "%s", name);
	snprintf(e->file, sizeof(e->file), "%s", file);
	return resp_shared(rq, MHD_HTTP_OK, r);
}
