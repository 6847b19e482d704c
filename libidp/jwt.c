/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JWT claims (RFC 7519): idp_jwt_check() judges the registered claims of
 * a verified token (types, exp / nbf / iat with leeway, iss, aud, typ)
 * against what the caller expects, at the time it is given.  Pure: no
 * clock, no I/O, no signatures (those are jws_sign.c's and jws_verify.c's).
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <idp/jwt.h>

/* NumericDate values beyond 9999-12-31T23:59:59Z are refused. */
#define TIME_MAX	INT64_C(253402300799)

/*
 * Reads a NumericDate claim.  Returns 1 and the value (rounded towards the
 * stricter side: down for exp, up for nbf and iat), 0 when absent, or
 * -EBADMSG for anything but a number in [0, year 9999].
 */
static int
claim_time(const json_t *claims, const char *name, int round_up,
    int64_t *ret)
{
	json_t *v = json_object_get(claims, name);
	json_int_t i;
	double d;
	int64_t t;

	if (v == NULL)
		return 0;
	if (json_is_integer(v)) {
		i = json_integer_value(v);
		if (i < 0 || i > TIME_MAX)
			return -EBADMSG;
		*ret = (int64_t)i;
		return 1;
	}
	if (json_is_real(v)) {
		d = json_real_value(v);
		if (!isfinite(d) || d < 0 || d > (double)TIME_MAX)
			return -EBADMSG;
		t = (int64_t)d;		/* truncation: floor for d >= 0 */
		if (round_up && (double)t < d)
			t++;
		*ret = t;
		return 1;
	}
	return -EBADMSG;
}

/* Returns 1 if the JSON string v equals s (byte for byte). */
static int
json_str_eq(const json_t *v, const char *s)
{
	size_t n = strlen(s);

	return json_is_string(v) && json_string_length(v) == n &&
	    memcmp(json_string_value(v), s, n) == 0;
}

/* Strips "application/" from a media type without another '/'. */
static const char *
typ_short(const char *s)
{
	static const char app[] = "application/";

	if (strncasecmp(s, app, sizeof(app) - 1) == 0 &&
	    strchr(s + sizeof(app) - 1, '/') == NULL)
		return s + sizeof(app) - 1;
	return s;
}

int
idp_jwt_check(const struct idp_jws *t, const struct idp_jwt_expect *e,
    int64_t now, struct idp_err *err)
{
	static const struct idp_jwt_expect none;
	const char *str_claims[] = { "iss", "sub", "jti" };
	int64_t exp, nbf, iat, leeway;
	json_t *c, *v, *a;
	size_t i;
	int rc, found;

	if (t == NULL || t->claims == NULL)
		return idp_err_set(err, -EINVAL, "no token");
	if (e == NULL)
		e = &none;
	leeway = e->leeway;
	if (now < 0 || now > TIME_MAX || leeway < 0 || leeway > TIME_MAX)
		return idp_err_set(err, -EINVAL, "bad time or leeway");
	c = t->claims;

	/* Types of the registered claims, checked whether expected or not. */
	for (i = 0; i < sizeof(str_claims) / sizeof(str_claims[0]); i++) {
		v = json_object_get(c, str_claims[i]);
		if (v != NULL && !json_is_string(v))
			return idp_err_set(err, -EBADMSG,
			    "claim %s is not a string", str_claims[i]);
	}
	v = json_object_get(c, "aud");
	if (v != NULL && !json_is_string(v)) {
		if (!json_is_array(v))
			return idp_err_set(err, -EBADMSG,
			    "claim aud is not a string or an array");
		json_array_foreach(v, i, a)
			if (!json_is_string(a))
				return idp_err_set(err, -EBADMSG,
				    "claim aud holds a non-string");
	}

	if ((rc = claim_time(c, "exp", 0, &exp)) < 0)
		return idp_err_set(err, rc, "claim exp is not a valid time");
	if (rc == 0 && e->require_exp)
		return idp_err_set(err, -EBADMSG, "token has no exp");
	if (rc == 1 && exp <= now - leeway)
		return idp_err_set(err, -EKEYEXPIRED, "token expired");
	if ((rc = claim_time(c, "nbf", 1, &nbf)) < 0)
		return idp_err_set(err, rc, "claim nbf is not a valid time");
	if (rc == 1 && nbf > now + leeway)
		return idp_err_set(err, -EKEYEXPIRED, "token not yet valid");
	if ((rc = claim_time(c, "iat", 1, &iat)) < 0)
		return idp_err_set(err, rc, "claim iat is not a valid time");
	if (rc == 1 && iat > now + leeway)
		return idp_err_set(err, -EKEYEXPIRED,
		    "token issued in the future");

	if (e->iss != NULL && !json_str_eq(json_object_get(c, "iss"), e->iss))
		return idp_err_set(err, -EACCES, "issuer mismatch");
	if (e->aud != NULL) {
		v = json_object_get(c, "aud");
		found = json_str_eq(v, e->aud);
		if (json_is_array(v))
			json_array_foreach(v, i, a)
				if (json_str_eq(a, e->aud))
					found = 1;
		if (!found)
			return idp_err_set(err, -EACCES, "audience mismatch");
	}
	if (e->typ != NULL) {
		v = t->header != NULL ? json_object_get(t->header, "typ") : NULL;
		if (v != NULL && !json_is_string(v))
			return idp_err_set(err, -EBADMSG,
			    "header typ is not a string");
		if (v == NULL || strlen(json_string_value(v)) !=
		    json_string_length(v) ||
		    strcasecmp(typ_short(json_string_value(v)),
		    typ_short(e->typ)) != 0)
			return idp_err_set(err, -EACCES, "token type mismatch");
	}
	return 0;
}
