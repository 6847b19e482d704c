/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The admin API of rotatorctl (/v1/admin/...), on the unix socket only:
 * status, rotate, reload-config.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/authz.h"
#include "api/server_int.h"
#include "core/log.h"

#define MAX_ADMIN_NAMES		1024

/*
 * POST /v1/admin/rotate with a JSON body: {"names": ["a", ...]} or
 * {"all": true}; with "fleet": true every host of the [cluster] rotates.
 */
static enum MHD_Result
h_admin_rotate(struct req *rq, const struct caller *cl)
{
	struct server *s = rq->cn->ls->srv;
	const char **names = NULL;
	json_t *j, *arr, *el;
	json_error_t jerr;
	char why[256], sb[80];
	size_t i, n = 0;
	int all, fleet, rc;

	if (!txt_media_type_is(MHD_lookup_connection_value(rq->mc,
	    MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE), CT_JSON))
		return resp_error(rq, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
		    "invalid_request", "the body must be application/json");
	j = json_loadb(rq->body != NULL ? rq->body : "", rq->body_len,
	    JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(j)) {
		json_decref(j);
		return resp_error(rq, MHD_HTTP_BAD_REQUEST, "invalid_request",
		    "the body must be a JSON object");
	}
	fleet = json_is_true(json_object_get(j, "fleet"));
	all = json_is_true(json_object_get(j, "all"));
	arr = json_object_get(j, "names");
	if ((all && arr != NULL) || (!all && (!json_is_array(arr) ||
	    json_array_size(arr) == 0 ||
	    json_array_size(arr) > MAX_ADMIN_NAMES))) {
		json_decref(j);
		return resp_error(rq, MHD_HTTP_BAD_REQUEST, "invalid_request",
		    "give \"names\": [...] (1 to %d) or \"all\": true",
		    MAX_ADMIN_NAMES);
	}
	if (!all) {
		n = json_array_size(arr);
		if ((names = calloc(n, sizeof(*names))) == NULL) {
			json_decref(j);
			return resp_queue(rq, 500, NULL);
		}
		json_array_foreach(arr, i, el) {
			names[i] = json_string_value(el);
			if (names[i] == NULL || !txt_name_ok(names[i],
			    strlen(names[i]), MAX_NAME)) {
				free(names);
				json_decref(j);
				return resp_error(rq, MHD_HTTP_NOT_FOUND,
				    "not_found", "no credential named %s",
				    txt_safe(sb, sizeof(sb),
				    json_string_value(el), 64));
			}
		}
	}
	why[0] = '\0';
	if (!fleet)
		rc = s->ops.rotate(s->ops.arg, names, n, why, sizeof(why));
	else if (s->ops.rotate_fleet == NULL)
		rc = -ENOTSUP;
	else
		rc = s->ops.rotate_fleet(s->ops.arg, names, n, why,
		    sizeof(why));
	log_notice("audit: admin rotate%s %s%s by %s %s", fleet ? " --fleet" :
	    "", all ? "all" : names[0], n > 1 ? " ..." : "", cl->desc,
	    rc == 0 ? "ok" : "failed");
	free(names);
	json_decref(j);
	if (rc == -ENOTSUP)
		return resp_error(rq, MHD_HTTP_NOT_IMPLEMENTED,
		    "not_implemented", "no [cluster] configured: --fleet "
		    "needs one");
	if (rc == -ENOTCONN)
		return resp_error(rq, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "temporarily_unavailable", "%s", why);
	if (rc == -ENOENT)
		return resp_error(rq, MHD_HTTP_NOT_FOUND, "not_found", "%s",
		    why[0] ? why : "no such credential");
	if (rc < 0)
		return resp_error(rq, MHD_HTTP_INTERNAL_SERVER_ERROR,
		    "server_error", "%s", why[0] ? why : strerror(-rc));
	return resp_queue(rq, MHD_HTTP_ACCEPTED, resp_json(json_pack(
	    "{s:b,s:I}", "rotating", 1, "count", (json_int_t)n)));
}

enum MHD_Result
h_admin(struct req *rq, const char *what, const char *method)
{
	struct server *s = rq->cn->ls->srv;
	struct caller cl;
	enum MHD_Result ret;
	char why[512];
	int rc;

	if (strcmp(what, "status") != 0 && strcmp(what, "rotate") != 0 &&
	    strcmp(what, "reload-config") != 0)
		return resp_error(rq, MHD_HTTP_NOT_FOUND, "not_found",
		    "no such admin endpoint");
	if (strcmp(what, "status") == 0 ? !txt_is_get(method) :
	    strcmp(method, MHD_HTTP_METHOD_POST) != 0)
		return resp_405(rq, strcmp(what, "status") == 0 ? "GET, HEAD" :
		    "POST");
	if (caller_get(rq, &cl, &ret) < 0)
		return ret;
	if (!authz_is_admin(s->cfg, &cl.who)) {
		log_notice("audit: admin %s by %s denied", what, cl.desc);
		return resp_error(rq, MHD_HTTP_FORBIDDEN, "access_denied",
		    "the admin API needs root or the admin_group");
	}
	if (strcmp(what, "status") == 0) {
		log_info("audit: admin status by %s ok", cl.desc);
		return resp_queue(rq, MHD_HTTP_OK, resp_json(s->ops.status(
		    s->ops.arg)));
	}
	if (strcmp(what, "rotate") == 0)
		return h_admin_rotate(rq, &cl);
	/* reload-config may swap s->cfg (server_configure) under us. */
	why[0] = '\0';
	rc = s->ops.reload_config(s->ops.arg, why, sizeof(why));
	log_notice("audit: admin reload-config by %s %s", cl.desc,
	    rc == 0 ? "ok" : "failed");
	if (rc == -EINVAL)
		return resp_error(rq, 422, "invalid_config", "%s",
		    why[0] ? why : "the new config has errors");
	if (rc < 0)
		return resp_error(rq, MHD_HTTP_INTERNAL_SERVER_ERROR,
		    "server_error", "%s", why[0] ? why : strerror(-rc));
	return resp_queue(rq, MHD_HTTP_OK, resp_copy("{\"reloaded\":true}", 17,
	    CT_JSON));
}
