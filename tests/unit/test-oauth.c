/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OAuth token requests and responses: the exact form body of every client
 * authentication method and of token exchange, RFC 6749 2.3.1 encoding of
 * Basic credentials (expected values worked out by hand below), the
 * private_key_jwt assertion verified against the public key, and hostile
 * or odd token responses.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <idp/b64.h>
#include <idp/http.h>
#include <idp/jwk.h>
#include <idp/jwt.h>
#include <idp/oauth.h>
#include <idp/secret.h>

#define NOW		INT64_C(1700000000)
#define TOKEN_EP	"https://idp.example.com/oauth2/v1/token"

static struct idp_key *client_key;	/* private, ES256 */
static struct idp_jwks *client_pub;	/* its public half */

static int
setup(void **state)
{
	struct idp_key *pub;
	json_t *j;

	(void)state;
	if (idp_key_generate(IDP_KEY_EC_P256, &client_key) != 0 ||
	    idp_key_to_jwk(client_key, &j) != 0)
		return -1;
	if (idp_key_from_jwk(j, &pub, NULL) != 0)
		return -1;
	json_decref(j);
	if ((client_pub = idp_jwks_new()) == NULL ||
	    idp_jwks_add(client_pub, pub) != 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	idp_key_free(client_key);
	idp_jwks_free(client_pub);
	return 0;
}

static struct idp_secret *
sec(const char *s)
{
	struct idp_secret *x = idp_secret_dup(s, strlen(s));

	assert_non_null(x);
	return x;
}

static void
test_auth_method_names(void **state)
{
	enum idp_auth_method m;

	(void)state;
	assert_int_equal(idp_auth_method_parse("client_secret_basic", &m), 0);
	assert_int_equal(m, IDP_AUTH_BASIC);
	assert_int_equal(idp_auth_method_parse("client_secret_post", &m), 0);
	assert_int_equal(m, IDP_AUTH_POST);
	assert_int_equal(idp_auth_method_parse("private_key_jwt", &m), 0);
	assert_int_equal(m, IDP_AUTH_PRIVATE_KEY_JWT);
	assert_int_equal(idp_auth_method_parse("client_secret_jwt", &m),
	    -EINVAL);
	assert_int_equal(idp_auth_method_parse("Client_Secret_Basic", &m),
	    -EINVAL);
	assert_int_equal(idp_auth_method_parse("none", &m), -EINVAL);
	assert_int_equal(idp_auth_method_parse(NULL, &m), -EINVAL);
	assert_string_equal(idp_auth_method_name(IDP_AUTH_BASIC),
	    "client_secret_basic");
	assert_string_equal(idp_auth_method_name(IDP_AUTH_POST),
	    "client_secret_post");
	assert_string_equal(idp_auth_method_name(IDP_AUTH_PRIVATE_KEY_JWT),
	    "private_key_jwt");
	assert_null(idp_auth_method_name(0));
}

static void
test_form_append(void **state)
{
	char *b = NULL;
	size_t len = 0, cap = 0;
	int i;

	(void)state;
	assert_int_equal(idp_form_append(&b, &len, &cap, "a", "b c"), 0);
	assert_string_equal(b, "a=b+c");
	assert_int_equal(len, 5);
	assert_int_equal(idp_form_append(&b, &len, &cap, "k y",
	    "A-z_0.9~:/?#[]@!$&'()*+,;=%\xc3\xa9"), 0);
	assert_string_equal(b, "a=b+c&k+y=A-z_0.9~%3A%2F%3F%23%5B%5D%40%21%24"
	    "%26%27%28%29%2A%2B%2C%3B%3D%25%C3%A9");
	assert_int_equal(len, strlen(b));
	assert_int_equal(idp_form_append(&b, &len, &cap, "empty", NULL), 0);
	assert_int_equal(idp_form_append(&b, &len, &cap, "e2", ""), 0);
	assert_non_null(strstr(b, "&empty=&e2="));
	/* Growth keeps the content. */
	for (i = 0; i < 200; i++)
		assert_int_equal(idp_form_append(&b, &len, &cap, "x",
		    "0123456789"), 0);
	assert_int_equal(len, strlen(b));
	assert_true(cap > len);
	assert_string_equal(b + len - 12, "x=0123456789");
	free(b);
}

static void
test_body_basic(void **state)
{
	struct idp_token_req r;
	struct idp_token_http t;
	struct idp_secret *s = sec("s3cret");
	struct idp_err err;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.token_endpoint = TOKEN_EP;
	r.client_id = "rotatord";
	r.auth = IDP_AUTH_BASIC;
	r.client_secret = s;
	r.scope = "agent:read agent:write";
	assert_int_equal(idp_token_request(&r, NOW, &t, &err), 0);
	/* No client_id in the body for Basic. */
	assert_string_equal((char *)t.body->buf,
	    "grant_type=client_credentials&scope=agent%3Aread+agent%3Awrite");
	assert_int_equal(t.body->len, strlen((char *)t.body->buf));
	/* base64("rotatord:s3cret") */
	assert_string_equal((char *)t.authorization->buf,
	    "Basic cm90YXRvcmQ6czNjcmV0");
	assert_string_equal(t.jti, "");
	idp_token_http_clear(&t);
	assert_null(t.body);
	assert_null(t.authorization);
	idp_token_http_clear(&t);
	idp_secret_free(s);
}

/*
 * RFC 6749 2.3.1: id and secret are form-urlencoded, then joined with ':'
 * and base64'd (standard alphabet, padded).  Worked out by hand:
 *   id     "my:client id+1"   -> "my%3Aclient+id%2B1"
 *   secret "p@ss:w+rd %41 é" -> "p%40ss%3Aw%2Brd+%2541+%C3%A9"
 *   base64("my%3Aclient+id%2B1:p%40ss%3Aw%2Brd+%2541+%C3%A9")
 *     = "bXklM0FjbGllbnQraWQlMkIxOnAlNDBzcyUzQXclMkJyZCslMjU0MSslQzMlQTk="
 * (58 bytes in, so one '=' of padding; a url-safe or unpadded encoder
 * would differ).
 */
static void
test_basic_encoding(void **state)
{
	struct idp_token_req r;
	struct idp_token_http t;
	struct idp_secret *s = sec("p@ss:w+rd %41 \xc3\xa9");

	(void)state;
	memset(&r, 0, sizeof(r));
	r.client_id = "my:client id+1";
	r.auth = IDP_AUTH_BASIC;
	r.client_secret = s;
	assert_int_equal(idp_token_request(&r, NOW, &t, NULL), 0);
	assert_string_equal((char *)t.authorization->buf, "Basic "
	    "bXklM0FjbGllbnQraWQlMkIxOnAlNDBzcyUzQXclMkJyZCslMjU0MSslQzMlQTk=");
	assert_string_equal((char *)t.body->buf,
	    "grant_type=client_credentials");
	idp_token_http_clear(&t);
	idp_secret_free(s);

	/* Lengths 1 and 2 mod 3: "==" and "=" padding. */
	s = sec("ab");
	r.client_id = "a";
	r.client_secret = s;
	assert_int_equal(idp_token_request(&r, NOW, &t, NULL), 0);
	assert_string_equal((char *)t.authorization->buf, "Basic YTphYg==");
	idp_token_http_clear(&t);
	idp_secret_free(s);
}

static void
test_body_post(void **state)
{
	const char *aud[] = { "https://api.example.com", "payments" };
	const char *res[] = { "https://api.example.com/v1" };
	struct idp_token_req r;
	struct idp_token_http t;
	struct idp_secret *s = sec("s3 cr&t=");

	(void)state;
	memset(&r, 0, sizeof(r));
	r.token_endpoint = TOKEN_EP;
	r.client_id = "rotatord";
	r.auth = IDP_AUTH_POST;
	r.client_secret = s;
	r.audience = aud;
	r.n_audience = 2;
	r.resource = res;
	r.n_resource = 1;
	assert_int_equal(idp_token_request(&r, NOW, &t, NULL), 0);
	assert_null(t.authorization);
	assert_string_equal((char *)t.body->buf,
	    "grant_type=client_credentials"
	    "&audience=https%3A%2F%2Fapi.example.com"
	    "&audience=payments"
	    "&resource=https%3A%2F%2Fapi.example.com%2Fv1"
	    "&client_id=rotatord&client_secret=s3+cr%26t%3D");
	idp_token_http_clear(&t);
	idp_secret_free(s);
}

static void
test_token_exchange(void **state)
{
	struct idp_token_req r;
	struct idp_token_http t;
	struct idp_secret *s = sec("pw"), *subj = sec("eyJhbGciOi.x.y");

	(void)state;
	memset(&r, 0, sizeof(r));
	r.token_endpoint = TOKEN_EP;
	r.client_id = "rotatord";
	r.auth = IDP_AUTH_POST;
	r.client_secret = s;
	r.subject_token = subj;
	r.scope = "read";
	assert_int_equal(idp_token_request(&r, NOW, &t, NULL), 0);
	assert_string_equal((char *)t.body->buf,
	    "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange"
	    "&subject_token=eyJhbGciOi.x.y"
	    "&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt"
	    "&scope=read&client_id=rotatord&client_secret=pw");
	idp_token_http_clear(&t);

	r.subject_token_type = IDP_TOKEN_TYPE_ID;
	r.requested_token_type = IDP_TOKEN_TYPE_ACCESS;
	r.scope = NULL;
	r.auth = IDP_AUTH_BASIC;
	assert_int_equal(idp_token_request(&r, NOW, &t, NULL), 0);
	assert_string_equal((char *)t.body->buf,
	    "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange"
	    "&subject_token=eyJhbGciOi.x.y"
	    "&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aid_token"
	    "&requested_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type"
	    "%3Aaccess_token");
	assert_string_equal((char *)t.authorization->buf,
	    "Basic cm90YXRvcmQ6cHc=");
	idp_token_http_clear(&t);
	idp_secret_free(s);
	idp_secret_free(subj);
}

/* Splits "k=v&..." and returns the decoded value of key (malloc'd). */
static char *
form_get(const char *body, const char *key)
{
	size_t kl = strlen(key);
	const char *p = body, *e;
	char *v;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, key, kl) == 0 && p[kl] == '=') {
			p += kl + 1;
			e = strchr(p, '&');
			v = strndup(p, e != NULL ? (size_t)(e - p) : strlen(p));
			return v;	/* JWTs and our values need no decoding */
		}
		p = strchr(p, '&');
		if (p != NULL)
			p++;
	}
	return NULL;
}

static void
check_assertion(const char *assertion, char *ret_jti, size_t jtisz)
{
	struct idp_jws *j = NULL;
	struct idp_err err;
	const json_t *c;

	assert_int_equal(idp_jws_verify(assertion, strlen(assertion),
	    client_pub, &j, &err), 0);
	assert_string_equal(json_string_value(json_object_get(j->header,
	    "typ")), "JWT");
	assert_string_equal(json_string_value(json_object_get(j->header,
	    "alg")), "ES256");
	c = j->claims;
	assert_string_equal(json_string_value(json_object_get(c, "iss")),
	    "rotatord");
	assert_string_equal(json_string_value(json_object_get(c, "sub")),
	    "rotatord");
	assert_string_equal(json_string_value(json_object_get(c, "aud")),
	    TOKEN_EP);
	assert_int_equal(json_integer_value(json_object_get(c, "iat")), NOW);
	assert_int_equal(json_integer_value(json_object_get(c, "exp")),
	    NOW + 60);
	assert_true(json_is_string(json_object_get(c, "jti")));
	/* 16 random bytes, base64url: 22 characters. */
	assert_int_equal(strlen(json_string_value(json_object_get(c, "jti"))),
	    22);
	snprintf(ret_jti, jtisz, "%s",
	    json_string_value(json_object_get(c, "jti")));
	{
		struct idp_jwt_expect e = {
			.iss = "rotatord", .aud = TOKEN_EP, .typ = "JWT",
			.require_exp = 1,
		};

		assert_int_equal(idp_jwt_check(j, &e, NOW + 30, &err), 0);
		assert_int_equal(idp_jwt_check(j, &e, NOW + 61, &err),
		    -EKEYEXPIRED);
	}
	idp_jws_free(j);
}

static void
test_private_key_jwt(void **state)
{
	struct idp_token_req r;
	struct idp_token_http t;
	char *a, jti[64], seen[20][64];
	const char *prefix = "grant_type=client_credentials&scope=s"
	    "&client_id=rotatord&client_assertion_type=urn%3Aietf%3Aparams"
	    "%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=";
	struct idp_err err;
	int i, k;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.token_endpoint = TOKEN_EP;
	r.client_id = "rotatord";
	r.auth = IDP_AUTH_PRIVATE_KEY_JWT;
	r.client_key = client_key;
	r.scope = "s";
	for (i = 0; i < 20; i++) {
		assert_int_equal(idp_token_request(&r, NOW, &t, &err), 0);
		assert_null(t.authorization);
		assert_int_equal(strncmp((char *)t.body->buf, prefix,
		    strlen(prefix)), 0);
		a = form_get((char *)t.body->buf, "client_assertion");
		assert_non_null(a);
		check_assertion(a, jti, sizeof(jti));
		assert_string_equal(jti, t.jti);
		for (k = 0; k < i; k++)
			assert_string_not_equal(seen[k], jti);
		snprintf(seen[i], sizeof(seen[i]), "%s", jti);
		free(a);
		idp_token_http_clear(&t);
	}

	/* A public key cannot sign; no token endpoint, no audience. */
	{
		struct idp_key *pub = idp_key_ref(
		    (struct idp_key *)idp_jwks_get(client_pub, 0));

		r.client_key = pub;
		assert_int_equal(idp_token_request(&r, NOW, &t, &err), -EINVAL);
		idp_key_free(pub);
	}
	r.client_key = client_key;
	r.token_endpoint = NULL;
	assert_int_equal(idp_token_request(&r, NOW, &t, &err), -EINVAL);
}

static void
test_request_errors(void **state)
{
	struct idp_token_req r;
	struct idp_token_http t;
	struct idp_secret nul = { (unsigned char *)"a\0b", 3 };
	struct idp_err err;

	(void)state;
	memset(&t, 0x5a, sizeof(t));
	memset(&r, 0, sizeof(r));
	r.auth = IDP_AUTH_POST;
	assert_int_equal(idp_token_request(&r, NOW, &t, &err), -EINVAL);
	r.client_id = "c";
	assert_int_equal(idp_token_request(&r, NOW, &t, &err), -EINVAL);
	r.client_secret = &nul;
	assert_int_equal(idp_token_request(&r, NOW, &t, &err), -EINVAL);
	r.auth = 99;
	assert_int_equal(idp_token_request(&r, NOW, &t, &err), -EINVAL);
	r.auth = IDP_AUTH_BASIC;
	r.client_secret = NULL;
	assert_int_equal(idp_token_request(&r, NOW, &t, &err), -EINVAL);
	/* ret untouched on failure. */
	assert_int_equal(t.jti[0], 0x5a);
	assert_int_equal(idp_token_request(NULL, NOW, &t, &err), -EINVAL);
}

/* ---- responses ----------------------------------------------------- */

static int
tparse(long status, const char *body, struct idp_token **t,
    struct idp_err *err)
{
	*t = NULL;
	return idp_token_parse(status, body, strlen(body), t, err);
}

static void
test_parse_success(void **state)
{
	struct idp_token *t;
	struct idp_err err;
	json_t *j;

	(void)state;
	assert_int_equal(tparse(200, "{\"access_token\":\"abc.def\","
	    "\"token_type\":\"Bearer\",\"expires_in\":3600,\"scope\":\"a b\","
	    "\"refresh_token\":\"RT-SECRET\",\"id_token\":\"x.y.z\"}", &t,
	    &err), 0);
	assert_string_equal((char *)t->access_token->buf, "abc.def");
	assert_int_equal(t->access_token->len, 7);
	assert_string_equal(t->token_type, "Bearer");
	assert_string_equal(t->scope, "a b");
	assert_null(t->issued_token_type);
	assert_int_equal(t->expires_in, 3600);
	assert_int_equal(t->exp, -1);
	/* Stored json: compact, no refresh_token, id_token kept. */
	assert_null(strstr(t->json, "refresh_token"));
	assert_null(strstr(t->json, "RT-SECRET"));
	j = json_loads(t->json, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j,
	    "id_token")), "x.y.z");
	assert_int_equal(json_integer_value(json_object_get(j,
	    "expires_in")), 3600);
	json_decref(j);
	assert_string_equal(t->json, "{\"access_token\":\"abc.def\","
	    "\"token_type\":\"Bearer\",\"expires_in\":3600,\"scope\":\"a b\","
	    "\"id_token\":\"x.y.z\"}");
	idp_token_free(t);
	idp_token_free(NULL);

	/* Token exchange: N_A token type, issued_token_type, no expires_in. */
	assert_int_equal(tparse(200, "{\"access_token\":\"t\",\"token_type\":"
	    "\"N_A\",\"issued_token_type\":\"" IDP_TOKEN_TYPE_JWT "\"}", &t,
	    &err), 0);
	assert_string_equal(t->token_type, "N_A");
	assert_string_equal(t->issued_token_type, IDP_TOKEN_TYPE_JWT);
	assert_int_equal(t->expires_in, -1);
	idp_token_free(t);

	/* expires_in as a string. */
	assert_int_equal(tparse(200, "{\"access_token\":\"t\",\"token_type\":"
	    "\"bearer\",\"expires_in\":\"300\"}", &t, &err), 0);
	assert_int_equal(t->expires_in, 300);
	idp_token_free(t);
	/* At the upper bound (ten years). */
	assert_int_equal(tparse(200, "{\"access_token\":\"t\",\"token_type\":"
	    "\"bearer\",\"expires_in\":315576000}", &t, &err), 0);
	idp_token_free(t);
}

static void
test_parse_errors(void **state)
{
	struct idp_token *t;
	struct idp_err err;
	char desc[600], body[1024];

	(void)state;
	assert_int_equal(tparse(400, "{\"error\":\"invalid_client\","
	    "\"error_description\":\"Client authentication failed.\"}", &t,
	    &err), -EACCES);
	assert_null(t);
	assert_string_equal(err.msg,
	    "invalid_client: Client authentication failed.");
	assert_int_equal(tparse(401, "{\"error\":\"invalid_client\"}", &t,
	    &err), -EACCES);
	assert_string_equal(err.msg, "invalid_client");
	/* An "error" member on a 200 is an error too. */
	assert_int_equal(tparse(200, "{\"error\":\"invalid_scope\","
	    "\"access_token\":\"x\",\"token_type\":\"Bearer\"}", &t, &err),
	    -EACCES);
	assert_string_equal(err.msg, "invalid_scope");
	/* A non-JSON error page. */
	assert_int_equal(tparse(503, "<html>Service Unavailable</html>", &t,
	    &err), -EACCES);
	assert_non_null(strstr(err.msg, "HTTP 503"));
	/* Control characters stripped, description truncated to 200. */
	memset(desc, 'd', sizeof(desc));
	desc[sizeof(desc) - 1] = '\0';
	snprintf(body, sizeof(body), "{\"error\":\"bad\\n\\u001b[0m\","
	    "\"error_description\":\"line1\\r\\nline2 %s\"}", desc);
	assert_int_equal(tparse(400, body, &t, &err), -EACCES);
	assert_null(strchr(err.msg, '\n'));
	assert_null(strchr(err.msg, '\r'));
	assert_null(strchr(err.msg, 0x1b));
	assert_int_equal(strncmp(err.msg, "bad[0m: line1line2 ddd", 22), 0);
	assert_int_equal(strlen(err.msg), strlen("bad[0m: ") + 200);
	/* Truncation does not split a UTF-8 character. */
	{
		char d2[512];
		size_t o = 0;

		o += (size_t)snprintf(d2, sizeof(d2), "%.*s", 199,
		    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
		snprintf(d2 + o, sizeof(d2) - o, "\xc3\xa9tail");
		snprintf(body, sizeof(body), "{\"error\":\"e\","
		    "\"error_description\":\"%s\"}", d2);
		assert_int_equal(tparse(400, body, &t, &err), -EACCES);
		assert_int_equal(strlen(err.msg), strlen("e: ") + 199);
	}

	/* Missing or bad access_token / token_type. */
	assert_int_equal(tparse(200, "{\"token_type\":\"Bearer\"}", &t, &err),
	    -EPROTO);
	assert_int_equal(tparse(200, "{\"access_token\":1,\"token_type\":"
	    "\"Bearer\"}", &t, &err), -EPROTO);
	assert_int_equal(tparse(200, "{\"access_token\":\"\",\"token_type\":"
	    "\"Bearer\"}", &t, &err), -EPROTO);
	assert_int_equal(tparse(200, "{\"access_token\":\"t\"}", &t, &err),
	    -EPROTO);
	assert_int_equal(tparse(200, "{\"access_token\":\"t\",\"token_type\":"
	    "\"\"}", &t, &err), -EPROTO);
	assert_int_equal(tparse(200, "{\"access_token\":\"t\",\"token_type\":"
	    "\"b\",\"scope\":[\"a\"]}", &t, &err), -EPROTO);

	/* expires_in: negative, zero, huge, real, junk string, null. */
	assert_int_equal(tparse(200, "{\"access_token\":\"t\",\"token_type\":"
	    "\"b\",\"expires_in\":-1}", &t, &err), -EPROTO);
	assert_int_equal(tparse(200, "{\"access_token\":\"t\",\"token_type\":"
	    "\"b\",\"expires_in\":0}", &t, &err), -EPROTO);
	assert_int_equal(tparse(200, "{\"access_token\":\"t\",\"token_type\":"
	    "\"b\",\"expires_in\":315576001}", &t, &err), -EPROTO);
	assert_int_equal(tparse(200, "{\"access_token\":\"t\",\"token_type\":"
	    "\"b\",\"expires_in\":9223372036854775807}", &t, &err), -EPROTO);
	assert_int_equal(tparse(200, "{\"access_token\":\"t\",\"token_type\":"
	    "\"b\",\"expires_in\":\"99999999999999999999\"}", &t, &err),
	    -EPROTO);
	assert_int_equal(tparse(200, "{\"access_token\":\"t\",\"token_type\":"
	    "\"b\",\"expires_in\":\"-5\"}", &t, &err), -EPROTO);
	assert_int_equal(tparse(200, "{\"access_token\":\"t\",\"token_type\":"
	    "\"b\",\"expires_in\":\"\"}", &t, &err), -EPROTO);
	assert_int_equal(tparse(200, "{\"access_token\":\"t\",\"token_type\":"
	    "\"b\",\"expires_in\":3600.5}", &t, &err), -EPROTO);
	assert_int_equal(tparse(200, "{\"access_token\":\"t\",\"token_type\":"
	    "\"b\",\"expires_in\":null}", &t, &err), -EPROTO);

	/* Duplicate keys: the second access_token must not win. */
	assert_int_equal(tparse(200, "{\"access_token\":\"a\",\"access_token\":"
	    "\"b\",\"token_type\":\"Bearer\"}", &t, &err), -EBADMSG);
	assert_int_equal(tparse(200, "{\"access_token\":\"a\",\"token_type\":"
	    "\"Bearer\",\"expires_in\":1,\"expires_in\":99}", &t, &err),
	    -EBADMSG);
	/* Not JSON, not an object. */
	assert_int_equal(tparse(200, "access_token=a&token_type=bearer", &t,
	    &err), -EBADMSG);
	assert_int_equal(tparse(200, "[]", &t, &err), -EBADMSG);
	/* A 3xx or 1xx is not a token response. */
	assert_int_equal(tparse(302, "{\"access_token\":\"a\",\"token_type\":"
	    "\"Bearer\"}", &t, &err), -EPROTO);
	assert_null(t);
}

static void
test_parse_limits(void **state)
{
	struct idp_token *t = NULL;
	struct idp_err err;
	char *body, *tok;
	size_t n;

	(void)state;
	/* An access token of exactly 16 KiB is fine, one more byte is not. */
	tok = malloc(16385 + 1);
	assert_non_null(tok);
	memset(tok, 'A', 16385);
	tok[16384] = '\0';
	assert_true(asprintf(&body, "{\"access_token\":\"%s\",\"token_type\":"
	    "\"Bearer\"}", tok) > 0);
	assert_int_equal(tparse(200, body, &t, &err), 0);
	assert_int_equal(t->access_token->len, 16384);
	idp_token_free(t);
	free(body);
	tok[16384] = 'A';
	tok[16385] = '\0';
	assert_true(asprintf(&body, "{\"access_token\":\"%s\",\"token_type\":"
	    "\"Bearer\"}", tok) > 0);
	assert_int_equal(tparse(200, body, &t, &err), -E2BIG);
	free(body);
	free(tok);

	/* The whole response is capped before parsing. */
	n = IDP_TOKEN_RESPONSE_MAX + 1;
	body = malloc(n);
	assert_non_null(body);
	memset(body, ' ', n);
	body[0] = '{';
	body[n - 1] = '}';
	assert_int_equal(idp_token_parse(200, body, n, &t, &err), -E2BIG);
	assert_int_equal(idp_token_parse(400, body, n, &t, &err), -E2BIG);
	free(body);
}

/* Builds an unsigned-looking JWS with the given payload JSON. */
static char *
fake_jws(const char *payload)
{
	static const char hdr[] = "{\"alg\":\"ES256\",\"typ\":\"at+jwt\"}";
	char h[128], *p, *out;

	idp_b64url_encode(hdr, sizeof(hdr) - 1, h);
	p = malloc(idp_b64url_enc_len(strlen(payload)) + 1);
	assert_non_null(p);
	idp_b64url_encode(payload, strlen(payload), p);
	assert_true(asprintf(&out, "%s.%s.c2ln", h, p) > 0);
	free(p);
	return out;
}

static int64_t
exp_of(const char *payload)
{
	struct idp_token *t = NULL;
	char *jws = payload != NULL ? fake_jws(payload) : strdup("a.b"), *body;
	int64_t e;

	assert_true(asprintf(&body, "{\"access_token\":\"%s\",\"token_type\":"
	    "\"Bearer\",\"expires_in\":60}", jws) > 0);
	assert_int_equal(tparse(200, body, &t, NULL), 0);
	e = t->exp;
	idp_token_free(t);
	free(body);
	free(jws);
	return e;
}

static void
test_jwt_exp(void **state)
{
	(void)state;
	assert_int_equal(exp_of("{\"sub\":\"x\",\"exp\":1700003600}"),
	    1700003600);
	assert_int_equal(exp_of("{\"exp\":1700003600.0}"), 1700003600);
	assert_int_equal(exp_of("{\"sub\":\"x\"}"), -1);
	assert_int_equal(exp_of("{\"exp\":\"1700003600\"}"), -1);
	assert_int_equal(exp_of("{\"exp\":-5}"), -1);
	assert_int_equal(exp_of("{\"exp\":1,\"exp\":2}"), -1);
	assert_int_equal(exp_of("not json"), -1);
	assert_int_equal(exp_of("[1700003600]"), -1);
	assert_int_equal(exp_of(NULL), -1);
	/* Four segments or a bad base64url payload: not a JWS. */
	{
		struct idp_token *t = NULL;

		assert_int_equal(tparse(200, "{\"access_token\":\"a.b.c.d\","
		    "\"token_type\":\"Bearer\"}", &t, NULL), 0);
		assert_int_equal(t->exp, -1);
		idp_token_free(t);
		assert_int_equal(tparse(200, "{\"access_token\":\"a.b=.c\","
		    "\"token_type\":\"Bearer\"}", &t, NULL), 0);
		assert_int_equal(t->exp, -1);
		idp_token_free(t);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_auth_method_names),
		cmocka_unit_test(test_form_append),
		cmocka_unit_test(test_body_basic),
		cmocka_unit_test(test_basic_encoding),
		cmocka_unit_test(test_body_post),
		cmocka_unit_test(test_token_exchange),
		cmocka_unit_test(test_private_key_jwt),
		cmocka_unit_test(test_request_errors),
		cmocka_unit_test(test_parse_success),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_limits),
		cmocka_unit_test(test_jwt_exp),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
