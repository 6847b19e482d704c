/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OAuth 2.0 token requests and responses: client_credentials (RFC 6749
 * 4.4) and token exchange (RFC 8693), authenticated with
 * client_secret_basic, client_secret_post or private_key_jwt (RFC 7523).
 * Pure: bodies and headers are built here, the caller sends them.
 *
 * Everything that may hold a secret (form bodies, the Basic credentials,
 * client assertions, token responses) is built in buffers that are wiped
 * before they are freed and grown by copy-and-wipe, never realloc().
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <idp/b64.h>
#include <idp/http.h>
#include <idp/jwt.h>
#include <idp/oauth.h>

#define GRANT_CLIENT_CREDENTIALS "client_credentials"
#define GRANT_TOKEN_EXCHANGE	"urn:ietf:params:oauth:grant-type:token-exchange"
#define ASSERTION_TYPE_JWT	"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#define ASSERTION_LIFETIME	60		/* seconds */
#define ACCESS_TOKEN_MAX	16384
#define TOKEN_TYPE_MAX		64
#define SCOPE_MAX		4096
#define ISSUED_TYPE_MAX		256
#define ERROR_CODE_MAX		64
#define ERROR_DESC_MAX		200
/* Ten years of 365.25 days. */
#define EXPIRES_IN_MAX		INT64_C(315576000)

static const struct {
	enum idp_auth_method	 m;
	const char		*name;
} auth_methods[] = {
	{ IDP_AUTH_BASIC,		"client_secret_basic" },
	{ IDP_AUTH_POST,		"client_secret_post" },
	{ IDP_AUTH_PRIVATE_KEY_JWT,	"private_key_jwt" },
};

/* Parses a token_endpoint_auth_method name.  Returns 0 or -EINVAL. */
int
idp_auth_method_parse(const char *s, enum idp_auth_method *ret)
{
	size_t i;

	if (s == NULL || ret == NULL)
		return -EINVAL;
	for (i = 0; i < sizeof(auth_methods) / sizeof(auth_methods[0]); i++)
		if (strcmp(s, auth_methods[i].name) == 0) {
			*ret = auth_methods[i].m;
			return 0;
		}
	return -EINVAL;
}

/* Returns the registered name of m (static storage), or NULL. */
const char *
idp_auth_method_name(enum idp_auth_method m)
{
	size_t i;

	for (i = 0; i < sizeof(auth_methods) / sizeof(auth_methods[0]); i++)
		if (auth_methods[i].m == m)
			return auth_methods[i].name;
	return NULL;
}

/* Wipes and frees a growable buffer. */
static void
wipe_free(char *buf, size_t cap)
{
	if (buf == NULL)
		return;
	OPENSSL_cleanse(buf, cap);
	free(buf);
}

/* Returns s as a C string if it has no NUL inside, else NULL. */
static const char *
secret_str(const struct idp_secret *s)
{
	if (s == NULL || s->buf == NULL ||
	    memchr(s->buf, '\0', s->len) != NULL)
		return NULL;
	return (const char *)s->buf;
}

/*
 * Builds "Basic " base64(formenc(id) ":" formenc(secret)) (RFC 6749
 * 2.3.1: both are form-urlencoded before they are joined, and the
 * encoding is standard padded base64, RFC 7617).
 */
static int
basic_auth(const char *id, const char *secret, struct idp_secret **ret)
{
	char *cred = NULL;
	size_t len = 0, cap = 0, b64len;
	struct idp_secret *s = NULL;
	int rc;

	/*
	 * idp_form_append() writes "id=secret", both form-urlencoded; an
	 * encoded id has no '=' (that would be %3D), so the first '=' is
	 * the separator, which Basic spells ':'.
	 */
	if ((rc = idp_form_append(&cred, &len, &cap, id, secret)) < 0)
		goto out;
	*strchr(cred, '=') = ':';
	if (len > (size_t)INT_MAX / 2) {
		rc = -E2BIG;
		goto out;
	}
	b64len = 4 * ((len + 2) / 3);
	if ((s = idp_secret_new(6 + b64len)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	memcpy(s->buf, "Basic ", 6);
	/* EVP_EncodeBlock: padded, no line breaks, NUL-terminated. */
	if ((size_t)EVP_EncodeBlock(s->buf + 6, (const unsigned char *)cred,
	    (int)len) != b64len) {
		rc = -EIO;
		goto out;
	}
	*ret = s;
	s = NULL;
	rc = 0;
out:
	idp_secret_free(s);
	wipe_free(cred, cap);
	return rc;
}

/*
 * Signs the RFC 7523 client assertion: iss = sub = client_id, aud =
 * token_endpoint, a random jti, iat = now, exp = now + 60.  *ret is the
 * compact JWT (wipe and free it); jti receives the jti.
 */
static int
client_assertion(const struct idp_token_req *req, int64_t now, char jti[32],
    char **ret, size_t *ret_len, struct idp_err *err)
{
	unsigned char rnd[16];
	char id[32];
	json_t *claims = NULL;
	int rc;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return idp_err_set(err, -EIO, "no randomness for the jti");
	idp_b64url_encode(rnd, sizeof(rnd), id);
	claims = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}",
	    "iss", req->client_id, "sub", req->client_id,
	    "aud", req->token_endpoint, "jti", id,
	    "iat", (json_int_t)now,
	    "exp", (json_int_t)(now + ASSERTION_LIFETIME));
	if (claims == NULL) {
		rc = idp_err_set(err, -ENOMEM, "cannot build the assertion");
		goto out;
	}
	if ((rc = idp_jwt_sign(req->client_key, "JWT", claims, ret,
	    ret_len)) < 0) {
		idp_err_set(err, rc, "cannot sign the client assertion");
		goto out;
	}
	memcpy(jti, id, strlen(id) + 1);
	rc = 0;
out:
	json_decref(claims);
	return rc;
}

/* Builds the token request; see idp/oauth.h. */
int
idp_token_request(const struct idp_token_req *req, int64_t now,
    struct idp_token_http *ret, struct idp_err *err)
{
	struct idp_token_http t;
	const char *secret = NULL, *subject = NULL;
	char *body = NULL, *assertion = NULL;
	size_t len = 0, cap = 0, alen = 0, i;
	int rc;

	memset(&t, 0, sizeof(t));
	if (req == NULL || ret == NULL)
		return idp_err_set(err, -EINVAL, "no token request");
	if (req->client_id == NULL || req->client_id[0] == '\0')
		return idp_err_set(err, -EINVAL, "no client_id");
	if ((req->n_audience > 0 && req->audience == NULL) ||
	    (req->n_resource > 0 && req->resource == NULL))
		return idp_err_set(err, -EINVAL, "audience or resource "
		    "count without an array");
	switch (req->auth) {
	case IDP_AUTH_BASIC:
	case IDP_AUTH_POST:
		if ((secret = secret_str(req->client_secret)) == NULL)
			return idp_err_set(err, -EINVAL, "%s needs a client "
			    "secret (without NUL bytes)",
			    idp_auth_method_name(req->auth));
		break;
	case IDP_AUTH_PRIVATE_KEY_JWT:
		if (req->client_key == NULL ||
		    !idp_key_is_private(req->client_key))
			return idp_err_set(err, -EINVAL,
			    "private_key_jwt needs a private client key");
		if (req->token_endpoint == NULL ||
		    req->token_endpoint[0] == '\0')
			return idp_err_set(err, -EINVAL,
			    "private_key_jwt needs the token endpoint");
		break;
	default:
		return idp_err_set(err, -EINVAL,
		    "unknown client authentication method");
	}
	if (req->subject_token != NULL &&
	    (subject = secret_str(req->subject_token)) == NULL)
		return idp_err_set(err, -EINVAL,
		    "subject token contains NUL bytes");

#define ADD(k, v)							\
	do {								\
		if ((rc = idp_form_append(&body, &len, &cap, (k), (v))) < 0) { \
			idp_err_set(err, rc, "out of memory");		\
			goto out;					\
		}							\
	} while (0)

	if (subject != NULL) {
		ADD("grant_type", GRANT_TOKEN_EXCHANGE);
		ADD("subject_token", subject);
		ADD("subject_token_type", req->subject_token_type != NULL ?
		    req->subject_token_type : IDP_TOKEN_TYPE_JWT);
		if (req->requested_token_type != NULL)
			ADD("requested_token_type", req->requested_token_type);
	} else {
		ADD("grant_type", GRANT_CLIENT_CREDENTIALS);
	}
	if (req->scope != NULL)
		ADD("scope", req->scope);
	for (i = 0; i < req->n_audience; i++)
		if (req->audience[i] != NULL)
			ADD("audience", req->audience[i]);
	for (i = 0; i < req->n_resource; i++)
		if (req->resource[i] != NULL)
			ADD("resource", req->resource[i]);

	switch (req->auth) {
	case IDP_AUTH_BASIC:
		/* The credentials go in the header only (RFC 6749 2.3.1). */
		if ((rc = basic_auth(req->client_id, secret,
		    &t.authorization)) < 0) {
			idp_err_set(err, rc, "cannot build Basic credentials");
			goto out;
		}
		break;
	case IDP_AUTH_POST:
		ADD("client_id", req->client_id);
		ADD("client_secret", secret);
		break;
	case IDP_AUTH_PRIVATE_KEY_JWT:
		if ((rc = client_assertion(req, now, t.jti, &assertion, &alen,
		    err)) < 0)
			goto out;
		ADD("client_id", req->client_id);
		ADD("client_assertion_type", ASSERTION_TYPE_JWT);
		ADD("client_assertion", assertion);
		break;
	}
#undef ADD

	if ((t.body = idp_secret_dup(body, len)) == NULL) {
		rc = idp_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	*ret = t;
	memset(&t, 0, sizeof(t));
	rc = 0;
out:
	idp_token_http_clear(&t);
	wipe_free(body, cap);
	if (assertion != NULL)
		wipe_free(assertion, alen);
	return rc;
}

/* Frees the body and header of t (wiped) and zeroes t. */
void
idp_token_http_clear(struct idp_token_http *t)
{
	if (t == NULL)
		return;
	idp_secret_free(t->body);
	idp_secret_free(t->authorization);
	memset(t, 0, sizeof(*t));
}

/* ---- token responses ----------------------------------------------- */

/* Frees t (the token and the stored json are wiped); accepts NULL. */
void
idp_token_free(struct idp_token *t)
{
	if (t == NULL)
		return;
	idp_secret_free(t->access_token);
	free(t->token_type);
	free(t->issued_token_type);
	free(t->scope);
	if (t->json != NULL) {
		OPENSSL_cleanse(t->json, strlen(t->json));
		free(t->json);
	}
	free(t);
}

/*
 * Copies an IdP-supplied string for an error message: control characters
 * dropped, at most max bytes, never cutting a UTF-8 sequence in half.
 */
static void
clean_text(char *out, size_t outsz, const char *s, size_t max)
{
	size_t i, o = 0, j, want, lim = max < outsz - 1 ? max : outsz - 1;
	unsigned char lead;

	for (i = 0; s[i] != '\0' && o < lim; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			continue;
		out[o++] = (char)c;
	}
	if (s[i] != '\0') {
		/* Truncated: drop a last character that lost its tail. */
		j = o;
		while (j > 0 && ((unsigned char)out[j - 1] & 0xc0) == 0x80)
			j--;
		if (j > 0 && (lead = (unsigned char)out[j - 1]) >= 0xc0) {
			want = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
			if (o - (j - 1) < want)
				o = j - 1;
		}
	}
	out[o] = '\0';
}

/* Builds the -EACCES reason of an error response. */
static int
token_error(long status, const json_t *root, struct idp_err *err)
{
	const json_t *e = NULL, *d = NULL;
	char code[ERROR_CODE_MAX + 1], desc[ERROR_DESC_MAX + 1];

	if (json_is_object(root)) {
		e = json_object_get(root, "error");
		d = json_object_get(root, "error_description");
	}
	if (!json_is_string(e))
		return idp_err_set(err, -EACCES,
		    "token endpoint answered HTTP %ld", status);
	clean_text(code, sizeof(code), json_string_value(e), ERROR_CODE_MAX);
	if (!json_is_string(d) || json_string_value(d)[0] == '\0')
		return idp_err_set(err, -EACCES, "%s", code);
	clean_text(desc, sizeof(desc), json_string_value(d), ERROR_DESC_MAX);
	return idp_err_set(err, -EACCES, "%s: %s", code, desc);
}

/* Reads an optional string member of at most max bytes into *ret. */
static int
opt_string(const json_t *root, const char *name, size_t max, char **ret,
    struct idp_err *err)
{
	const json_t *v = json_object_get(root, name);

	*ret = NULL;
	if (v == NULL)
		return 0;
	if (!json_is_string(v))
		return idp_err_set(err, -EPROTO,
		    "token response %s is not a string", name);
	if (json_string_length(v) > max)
		return idp_err_set(err, -EPROTO,
		    "token response %s longer than %zu bytes", name, max);
	if ((*ret = strdup(json_string_value(v))) == NULL)
		return idp_err_set(err, -ENOMEM, "out of memory");
	return 0;
}

/* Reads expires_in: an integer, or a string of digits (seen in the wild). */
static int
get_expires_in(const json_t *root, int64_t *ret, struct idp_err *err)
{
	const json_t *v = json_object_get(root, "expires_in");
	const char *s;
	int64_t n = 0;
	size_t i, l;

	*ret = -1;
	if (v == NULL)
		return 0;
	if (json_is_integer(v)) {
		n = (int64_t)json_integer_value(v);
	} else if (json_is_string(v)) {
		s = json_string_value(v);
		l = json_string_length(v);
		if (l == 0 || l > 12)
			goto bad;
		for (i = 0; i < l; i++) {
			if (s[i] < '0' || s[i] > '9')
				goto bad;
			n = n * 10 + (s[i] - '0');
		}
	} else {
		goto bad;
	}
	if (n < 1 || n > EXPIRES_IN_MAX)
		return idp_err_set(err, -EPROTO,
		    "token response expires_in %lld out of range 1..%lld",
		    (long long)n, (long long)EXPIRES_IN_MAX);
	*ret = n;
	return 0;
bad:
	return idp_err_set(err, -EPROTO,
	    "token response expires_in is not a whole number");
}

/*
 * If tok looks like a JWS (three segments), returns the exp of its payload
 * read WITHOUT verification: only to schedule renewal, never to trust.
 * Returns -1 when there is none.
 */
static int64_t
unverified_exp(const char *tok, size_t len)
{
	const char *d1, *d2;
	unsigned char *payload = NULL;
	size_t plen;
	json_t *claims = NULL;
	const json_t *exp;
	int64_t r = -1;
	double x;

	if ((d1 = memchr(tok, '.', len)) == NULL ||
	    (d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok))) == NULL ||
	    memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok)) != NULL)
		return -1;
	if (idp_b64url_decode_alloc(d1 + 1, (size_t)(d2 - d1 - 1), &payload,
	    &plen) < 0)
		return -1;
	claims = json_loadb((const char *)payload, plen,
	    JSON_REJECT_DUPLICATES, NULL);
	exp = json_object_get(claims, "exp");
	if (json_is_integer(exp)) {
		if (json_integer_value(exp) > 0)
			r = (int64_t)json_integer_value(exp);
	} else if (json_is_real(exp)) {
		x = json_real_value(exp);
		if (x > 0 && x < 9.2e15)
			r = (int64_t)x;
	}
	json_decref(claims);
	OPENSSL_cleanse(payload, plen);
	free(payload);
	return r;
}

/* Parses a token endpoint response; see idp/oauth.h. */
int
idp_token_parse(long status, const void *buf, size_t len,
    struct idp_token **ret, struct idp_err *err)
{
	struct idp_token *t = NULL;
	json_t *root = NULL;
	const json_t *at;
	json_error_t jerr;
	int rc;

	if (buf == NULL || ret == NULL)
		return idp_err_set(err, -EINVAL, "no token response");
	if (len > IDP_TOKEN_RESPONSE_MAX)
		return idp_err_set(err, -E2BIG,
		    "token response larger than %d bytes",
		    IDP_TOKEN_RESPONSE_MAX);
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (status >= 400 || (json_is_object(root) &&
	    json_object_get(root, "error") != NULL)) {
		rc = token_error(status, root, err);
		goto out;
	}
	if (status < 200 || status > 299) {
		rc = idp_err_set(err, -EPROTO,
		    "token endpoint answered HTTP %ld", status);
		goto out;
	}
	if (root == NULL) {
		rc = idp_err_set(err, -EBADMSG, "token response is not valid "
		    "JSON (line %d, column %d)", jerr.line, jerr.column);
		goto out;
	}
	if (!json_is_object(root)) {
		rc = idp_err_set(err, -EBADMSG,
		    "token response is not a JSON object");
		goto out;
	}
	at = json_object_get(root, "access_token");
	if (!json_is_string(at) || json_string_length(at) == 0) {
		rc = idp_err_set(err, -EPROTO,
		    "token response lacks a string access_token");
		goto out;
	}
	if (json_string_length(at) > ACCESS_TOKEN_MAX) {
		rc = idp_err_set(err, -E2BIG,
		    "access_token longer than %d bytes", ACCESS_TOKEN_MAX);
		goto out;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->access_token = idp_secret_dup(json_string_value(at),
	    json_string_length(at))) == NULL) {
		rc = idp_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (memchr(t->access_token->buf, '\0', t->access_token->len) != NULL) {
		rc = idp_err_set(err, -EPROTO, "access_token contains NUL");
		goto out;
	}
	if ((rc = opt_string(root, "token_type", TOKEN_TYPE_MAX,
	    &t->token_type, err)) < 0)
		goto out;
	if (t->token_type == NULL || t->token_type[0] == '\0') {
		rc = idp_err_set(err, -EPROTO,
		    "token response lacks token_type");
		goto out;
	}
	if ((rc = opt_string(root, "issued_token_type", ISSUED_TYPE_MAX,
	    &t->issued_token_type, err)) < 0 ||
	    (rc = opt_string(root, "scope", SCOPE_MAX, &t->scope, err)) < 0 ||
	    (rc = get_expires_in(root, &t->expires_in, err)) < 0)
		goto out;
	t->exp = unverified_exp((const char *)t->access_token->buf,
	    t->access_token->len);
	/* What is published as token.json never carries a refresh token. */
	(void)json_object_del(root, "refresh_token");
	if ((t->json = json_dumps(root, JSON_COMPACT)) == NULL) {
		rc = idp_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	*ret = t;
	t = NULL;
	rc = 0;
out:
	idp_token_free(t);
	json_decref(root);
	return rc;
}
