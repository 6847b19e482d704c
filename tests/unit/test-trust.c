/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for rotatord/api/trust.c with real keys and tokens: a [signer]-like
 * issuer without audience and an [issuer]-like one with audience and
 * refetchable keys.  Each token is checked against a set holding both,
 * and against sets holding one (the path that verifies before reading
 * iss): valid tokens, another issuer's token, an unknown kid (refetch
 * hint only for an [issuer]), forged, expired, wrong audience, malformed,
 * no keys yet; and the snapshot outliving the key set it was built from.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include <idp/jwk.h>
#include <idp/jwt.h>

#include "api/trust.h"

#define SIG_ISS	"https://rotatord.test"
#define UP_ISS	"https://idp.test"
#define NOW	1800000000

static struct idp_key *sig_key, *up_key, *other_key;
static struct idp_jwks *sig_set, *up_set;

static struct idp_jwks *
public_set(struct idp_key *k)
{
	struct idp_jwks *set = idp_jwks_new();
	struct idp_key *pub;
	json_t *j;

	assert_non_null(set);
	assert_int_equal(idp_key_to_jwk(k, &j), 0);
	assert_int_equal(idp_key_from_jwk(j, &pub, NULL), 0);
	json_decref(j);
	assert_int_equal(idp_jwks_add(set, pub), 0);
	return set;
}

static int
setup(void **state)
{
	(void)state;
	if (idp_key_generate(IDP_KEY_EC_P256, &sig_key) != 0 ||
	    idp_key_generate(IDP_KEY_ED25519, &up_key) != 0 ||
	    idp_key_generate(IDP_KEY_EC_P256, &other_key) != 0)
		return -1;
	sig_set = public_set(sig_key);
	up_set = public_set(up_key);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	idp_jwks_free(sig_set);
	idp_jwks_free(up_set);
	idp_key_free(sig_key);
	idp_key_free(up_key);
	idp_key_free(other_key);
	return 0;
}

/* A token signed by k (its kid set to kid when not NULL). */
static char *
mint(struct idp_key *k, const char *kid, const char *iss, const char *aud,
    int64_t exp)
{
	json_t *c = json_pack("{s:s,s:s,s:I}", "iss", iss, "sub", "alice",
	    "exp", (json_int_t)exp);
	char *tok, saved[256];

	if (aud != NULL)
		json_object_set_new(c, "aud", json_string(aud));
	snprintf(saved, sizeof(saved), "%s", idp_key_kid(k));
	if (kid != NULL)
		assert_int_equal(idp_key_set_kid(k, kid), 0);
	assert_int_equal(idp_jwt_sign(k, "JWT", c, &tok, NULL), 0);
	if (kid != NULL)
		assert_int_equal(idp_key_set_kid(k, saved), 0);
	json_decref(c);
	return tok;
}

static struct trust *
set_of(int sig, int up, int up_has_keys)
{
	struct trust *t = trust_new();

	assert_non_null(t);
	if (sig)
		assert_int_equal(trust_add(t, "local", SIG_ISS, NULL, 60, sig_set,
		    0), 0);
	if (up)
		assert_int_equal(trust_add(t, "okta", UP_ISS, "rotatord", 30,
		    up_has_keys ? up_set : NULL, 1), 0);
	return t;
}

static int
check(const struct trust *t, const char *tok, struct trust_result *res)
{
	int rc = trust_verify(t, tok, strlen(tok), NOW, res);

	assert_int_equal(rc, res->rc);
	if (rc == 0) {
		assert_non_null(res->jws);
		assert_string_equal(json_string_value(json_object_get(
		    res->jws->claims, "sub")), "alice");
		idp_jws_free(res->jws);
		res->jws = NULL;
	} else {
		assert_null(res->jws);
		assert_true(res->why[0] != '\0');
	}
	return rc;
}

static void
test_cases(void **state)
{
	struct trust *sets[3];
	struct trust_result res;
	char *sig_ok, *up_ok, *up_nokid, *sig_nokid, *forged, *expired,
	    *wrong_aud, *stranger, *cross;
	size_t i;

	(void)state;
	sets[0] = set_of(1, 1, 1);	/* both: iss read first */
	sets[1] = set_of(1, 0, 0);	/* the signer alone */
	sets[2] = set_of(0, 1, 1);	/* the issuer alone */
	sig_ok = mint(sig_key, NULL, SIG_ISS, NULL, NOW + 300);
	up_ok = mint(up_key, NULL, UP_ISS, "rotatord", NOW + 300);
	up_nokid = mint(up_key, "rotated-key", UP_ISS, "rotatord", NOW + 300);
	sig_nokid = mint(sig_key, "rotated-key", SIG_ISS, NULL, NOW + 300);
	/* Our kid and iss, another key. */
	forged = mint(other_key, idp_key_kid(sig_key), SIG_ISS, NULL,
	    NOW + 300);
	expired = mint(sig_key, NULL, SIG_ISS, NULL, NOW - 3600);
	wrong_aud = mint(up_key, NULL, UP_ISS, "someone-else", NOW + 300);
	stranger = mint(other_key, NULL, "https://evil.test", NULL, NOW + 300);
	cross = mint(sig_key, NULL, UP_ISS, "rotatord", NOW + 300);

	for (i = 0; i < 3; i++) {
		int has_sig = i != 2, has_up = i != 1;

		assert_int_equal(check(sets[i], sig_ok, &res),
		    has_sig ? 0 : -EACCES);
		if (has_sig)
			assert_string_equal(res.name, "local");
		assert_int_equal(check(sets[i], up_ok, &res),
		    has_up ? 0 : -EACCES);
		if (has_up) {
			assert_string_equal(res.name, "okta");
			assert_int_equal(res.upstream, 1);
		}
		/* An unknown kid: a refetch may help an [issuer] only. */
		assert_int_equal(check(sets[i], up_nokid, &res),
		    has_up ? -ENOKEY : -EACCES);
		assert_int_equal(res.upstream, has_up);
		if (has_up)
			assert_string_equal(res.name, "okta");
		assert_int_equal(check(sets[i], sig_nokid, &res),
		    has_sig ? -ENOKEY : -EACCES);
		assert_int_equal(res.upstream, 0);
		assert_int_equal(check(sets[i], forged, &res),
		    has_sig ? -EKEYREJECTED : -EACCES);
		assert_int_equal(check(sets[i], expired, &res),
		    has_sig ? -EKEYEXPIRED : -EACCES);
		/* Wrong audience (or, alone, another issuer's): refused. */
		assert_int_equal(check(sets[i], wrong_aud, &res), -EACCES);
		assert_int_equal(check(sets[i], stranger, &res), -EACCES);
		assert_null(res.name);
		assert_int_equal(res.upstream, 0);
		assert_int_equal(check(sets[i], "not.a.jwt", &res), -EBADMSG);
		assert_int_equal(check(sets[i], "x", &res), -EBADMSG);
		/* The signer's token is not the issuer's: iss decides. */
		assert_int_equal(check(sets[i], cross, &res),
		    has_up ? -ENOKEY : -EACCES);
	}
	for (i = 0; i < 3; i++)
		trust_unref(sets[i]);
	free(sig_ok);
	free(up_ok);
	free(up_nokid);
	free(sig_nokid);
	free(forged);
	free(expired);
	free(wrong_aud);
	free(stranger);
	free(cross);
}

/* An [issuer] whose keys have not been fetched yet. */
static void
test_no_keys_yet(void **state)
{
	struct trust *t = set_of(1, 1, 0);
	struct trust_result res;
	char *tok = mint(up_key, NULL, UP_ISS, "rotatord", NOW + 300);

	(void)state;
	assert_int_equal(check(t, tok, &res), -ENOKEY);
	assert_int_equal(res.upstream, 1);
	assert_non_null(strstr(res.why, "no keys"));
	assert_int_equal(check(NULL, tok, &res), -EACCES);
	free(tok);
	trust_unref(t);
}

/* The snapshot keeps its keys when the set it was built from goes. */
static void
test_outlives_source(void **state)
{
	struct idp_jwks *src = public_set(sig_key);
	struct trust *t = trust_new(), *t2;
	struct trust_result res;
	char *tok = mint(sig_key, NULL, SIG_ISS, NULL, NOW + 300);

	(void)state;
	assert_int_equal(trust_add(t, "local", SIG_ISS, NULL, 0, src, 0), 0);
	idp_jwks_free(src);
	t2 = trust_ref(t);
	trust_unref(t);
	assert_int_equal(check(t2, tok, &res), 0);
	trust_unref(t2);
	free(tok);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_no_keys_yet),
		cmocka_unit_test(test_outlives_source),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
