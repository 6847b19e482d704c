/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Project Wycheproof signature vectors through idp_sig_verify().
 *
 * The vectors are read from $WYCHEPROOF_DIR (default
 * ../shared/data/wycheproof, relative to the project root where the tests
 * run); when the directory is absent the tests say so and skip.
 *
 * Policy: "valid" must verify; "invalid" and "acceptable" must be
 * rejected.  An "acceptable" vector that verifies is reported (with its
 * tcId and flags) and counted, not failed: those are legacy encodings a
 * verifier may tolerate.  Each group's public key is loaded from its PEM
 * and, where the file has one, also from its JWK; both must agree.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include <idp/jwk.h>
#include <idp/jwt.h>

static const char *dir;

struct vecfile {
	const char	*name;
	enum idp_alg	 alg;
	const char	*sha;		/* the group's "sha" must be this */
	int		 pss;		/* check mgf, mgfSha, sLen */
	size_t		 expect_min;	/* at least this many vectors checked */
};

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes hex into a new buffer (never NULL, even for ""). */
static unsigned char *
unhex(const char *s, size_t *ret_len)
{
	size_t n = strlen(s), i;
	unsigned char *b;

	assert_int_equal(n % 2, 0);
	b = malloc(n / 2 + 1);
	assert_non_null(b);
	for (i = 0; i < n / 2; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

		assert_true(hi >= 0 && lo >= 0);
		b[i] = (unsigned char)(hi << 4 | lo);
	}
	*ret_len = n / 2;
	return b;
}

static const char *
jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static void
run_file(const struct vecfile *vf)
{
	char path[4096], flags[256];
	json_error_t jerr;
	json_t *root, *groups, *g, *tests, *t, *jwk, *fl;
	struct idp_key *k, *kj;
	size_t gi, ti, fi, mlen, slen;
	size_t checked = 0, valid_ok = 0, invalid_rej = 0, accept_rej = 0;
	size_t accept_acc = 0, failures = 0, skipped = 0, jwk_checked = 0;
	unsigned char *msg, *sig;
	const char *result;
	int rc, ok;

	snprintf(path, sizeof(path), "%s/%s", dir, vf->name);
	root = json_load_file(path, 0, &jerr);
	if (root == NULL)
		fail_msg("%s: %s (line %d)", path, jerr.text, jerr.line);
	groups = json_object_get(root, "testGroups");
	assert_true(json_is_array(groups));

	json_array_foreach(groups, gi, g) {
		tests = json_object_get(g, "tests");
		if (vf->sha != NULL &&
		    (jstr(g, "sha") == NULL || strcmp(jstr(g, "sha"), vf->sha))) {
			print_message("%s: group %zu uses %s, not %s: skipped\n",
			    vf->name, gi, jstr(g, "sha"), vf->sha);
			skipped += json_array_size(tests);
			continue;
		}
		if (vf->pss && (strcmp(jstr(g, "mgf"), "MGF1") != 0 ||
		    strcmp(jstr(g, "mgfSha"), "SHA-256") != 0 ||
		    json_integer_value(json_object_get(g, "sLen")) != 32)) {
			print_message("%s: group %zu is not PSS MGF1-SHA-256 "
			    "sLen 32 as PS256 uses: skipped\n", vf->name, gi);
			skipped += json_array_size(tests);
			continue;
		}
		assert_non_null(jstr(g, "publicKeyPem"));
		rc = idp_key_from_pem(jstr(g, "publicKeyPem"),
		    strlen(jstr(g, "publicKeyPem")), &k, NULL);
		assert_int_equal(rc, 0);
		assert_false(idp_key_is_private(k));
		assert_int_equal(idp_key_set_alg(k, vf->alg), 0);

		jwk = json_object_get(g, "publicKeyJwk");
		if (jwk == NULL)
			jwk = json_object_get(g, "keyJwk");
		if (jwk != NULL) {
			assert_int_equal(idp_key_from_jwk(jwk, &kj, NULL), 0);
			assert_true(idp_key_equal_public(k, kj));
			assert_int_equal(idp_key_type(kj), idp_key_type(k));
			idp_key_free(kj);
			jwk_checked++;
		}

		json_array_foreach(tests, ti, t) {
			msg = unhex(jstr(t, "msg"), &mlen);
			sig = unhex(jstr(t, "sig"), &slen);
			result = jstr(t, "result");
			rc = idp_sig_verify(k, vf->alg, msg, mlen, sig, slen);
			assert_true(rc == 0 || rc == -EKEYREJECTED);
			flags[0] = '\0';
			json_array_foreach(json_object_get(t, "flags"), fi, fl) {
				strncat(flags, json_string_value(fl),
				    sizeof(flags) - strlen(flags) - 2);
				strcat(flags, " ");
			}
			if (strcmp(result, "valid") == 0) {
				ok = rc == 0;
				valid_ok += ok;
			} else if (strcmp(result, "invalid") == 0) {
				ok = rc != 0;
				invalid_rej += ok;
			} else {
				assert_string_equal(result, "acceptable");
				ok = 1;
				if (rc != 0) {
					accept_rej++;
				} else {
					accept_acc++;
					print_message("%s: tcId %lld acceptable "
					    "and accepted [%s]\n", vf->name,
					    (long long)json_integer_value(
					    json_object_get(t, "tcId")), flags);
				}
			}
			if (!ok) {
				failures++;
				print_message("%s: tcId %lld (%s) %s: got %d "
				    "[%s] %s\n", vf->name,
				    (long long)json_integer_value(
				    json_object_get(t, "tcId")), result,
				    rc == 0 ? "accepted" : "rejected", rc,
				    flags, jstr(t, "comment"));
			}
			checked++;
			free(msg);
			free(sig);
		}
		idp_key_free(k);
	}
	print_message("%s: %zu vectors checked (%zu skipped), %zu groups, "
	    "%zu JWKs cross-checked: valid accepted %zu, invalid rejected "
	    "%zu, acceptable rejected %zu, acceptable accepted %zu, "
	    "failures %zu\n", vf->name, checked, skipped,
	    json_array_size(groups), jwk_checked, valid_ok, invalid_rej,
	    accept_rej, accept_acc, failures);
	assert_int_equal(checked + skipped, (size_t)json_integer_value(
	    json_object_get(root, "numberOfTests")));
	assert_true(checked >= vf->expect_min);
	json_decref(root);
	assert_int_equal(failures, 0);
}

static int
have_dir(void **state)
{
	struct stat st;

	(void)state;
	dir = getenv("WYCHEPROOF_DIR");
	if (dir == NULL || dir[0] == '\0')
		dir = "../shared/data/wycheproof";
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		print_message("Wycheproof vectors not found in %s (set "
		    "WYCHEPROOF_DIR): skipping\n", dir);
		dir = NULL;
	}
	return 0;
}

#define VEC_TEST(fn, file, alg, sha, pss, min)				\
static void								\
fn(void **state)							\
{									\
	static const struct vecfile vf = { file, alg, sha, pss, min };	\
									\
	(void)state;							\
	if (dir == NULL)						\
		skip();							\
	run_file(&vf);							\
}

VEC_TEST(test_ecdsa_p256, "ecdsa_secp256r1_sha256_p1363_test.json",
    IDP_ALG_ES256, "SHA-256", 0, 200)
VEC_TEST(test_ecdsa_p384, "ecdsa_secp384r1_sha384_p1363_test.json",
    IDP_ALG_ES384, "SHA-384", 0, 200)
VEC_TEST(test_ed25519, "ed25519_test.json", IDP_ALG_EDDSA, NULL, 0, 100)
VEC_TEST(test_rsa_pkcs1, "rsa_signature_2048_sha256_test.json",
    IDP_ALG_RS256, "SHA-256", 0, 200)
VEC_TEST(test_rsa_pss, "rsa_pss_2048_sha256_mgf1_32_test.json",
    IDP_ALG_PS256, "SHA-256", 1, 100)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ecdsa_p256),
		cmocka_unit_test(test_ecdsa_p384),
		cmocka_unit_test(test_ed25519),
		cmocka_unit_test(test_rsa_pkcs1),
		cmocka_unit_test(test_rsa_pss),
	};

	return cmocka_run_group_tests(tests, have_dir, NULL);
}
