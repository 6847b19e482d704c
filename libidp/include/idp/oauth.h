/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OAuth 2.0 client requests (RFC 6749 client_credentials, RFC 8693 token
 * exchange) with client_secret_basic, client_secret_post and
 * private_key_jwt (RFC 7523) authentication, and token response parsing.
 * Pure: builds bodies and headers, parses responses; the caller sends.
 */
#ifndef IDP_OAUTH_H
#define IDP_OAUTH_H

#include <stddef.h>
#include <stdint.h>

#include <idp/idp.h>
#include <idp/jwk.h>
#include <idp/secret.h>

#define IDP_TOKEN_RESPONSE_MAX	(64 * 1024)

enum idp_auth_method {
	IDP_AUTH_BASIC = 1,	/* client_secret_basic */
	IDP_AUTH_POST,		/* client_secret_post */
	IDP_AUTH_PRIVATE_KEY_JWT,
};

/* Parses "client_secret_basic" etc.  Returns 0 or -EINVAL. */
int idp_auth_method_parse(const char *s, enum idp_auth_method *ret);
const char *idp_auth_method_name(enum idp_auth_method m);

#define IDP_TOKEN_TYPE_JWT	"urn:ietf:params:oauth:token-type:jwt"
#define IDP_TOKEN_TYPE_ACCESS	"urn:ietf:params:oauth:token-type:access_token"
#define IDP_TOKEN_TYPE_ID	"urn:ietf:params:oauth:token-type:id_token"

struct idp_token_req {
	const char		*token_endpoint;	/* aud of a client assertion */
	const char		*client_id;
	enum idp_auth_method	 auth;
	const struct idp_secret	*client_secret;		/* basic / post */
	struct idp_key		*client_key;		/* private_key_jwt */
	const char		*scope;			/* space-separated, or NULL */
	const char		**audience;		/* RFC 8693 audience params */
	size_t			 n_audience;
	const char		**resource;		/* RFC 8707 resource params */
	size_t			 n_resource;
	/* Token exchange when subject_token is set. */
	const struct idp_secret	*subject_token;
	const char		*subject_token_type;	/* default ..:jwt */
	const char		*requested_token_type;	/* optional */
};

/*
 * A request ready to send: body (form-encoded, secret because it may hold
 * the client secret, assertion or subject token) and the Authorization
 * header value for client_secret_basic (or NULL).
 */
struct idp_token_http {
	struct idp_secret	*body;
	struct idp_secret	*authorization;
	char			 jti[32];	/* of the client assertion, for logs */
};

/*
 * Builds the request at now (seconds): grant_type client_credentials, or
 * token-exchange when subject_token is set.  private_key_jwt signs an
 * assertion with iss = sub = client_id, aud = token_endpoint, a unique
 * jti, iat = now, exp = now + 60.  client_secret_basic form-urlencodes id
 * and secret before base64 (RFC 6749 2.3.1).  Returns 0 or -errno; free
 * with idp_token_http_clear().
 */
int idp_token_request(const struct idp_token_req *req, int64_t now,
    struct idp_token_http *ret, struct idp_err *err);
void idp_token_http_clear(struct idp_token_http *t);

struct idp_token {
	struct idp_secret	*access_token;
	char			*token_type;		/* e.g. "Bearer" */
	char			*issued_token_type;	/* RFC 8693, or NULL */
	char			*scope;			/* or NULL */
	int64_t			 expires_in;		/* seconds, -1 if absent */
	int64_t			 exp;			/* JWT exp if the token is a JWT, else -1 */
	char			*json;			/* the response without refresh_token */
};

/*
 * Parses a token endpoint response body of HTTP status `status`.  On an
 * error response (status >= 400 or "error" member), returns -EACCES with
 * "error: error_description" in err.  Refresh tokens are dropped from the
 * stored json.  Limits: IDP_TOKEN_RESPONSE_MAX, access_token at most 16
 * KiB, duplicate keys rejected.  Returns 0, -EBADMSG, -EPROTO, -EACCES.
 * Free with idp_token_free().
 */
int idp_token_parse(long status, const void *buf, size_t len,
    struct idp_token **ret, struct idp_err *err);
void idp_token_free(struct idp_token *t);

#endif
