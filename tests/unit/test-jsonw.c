/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libidp's JSON writer against jansson, the reference it promises to
 * match: for random byte strings (mostly near-UTF-8, with controls,
 * quotes and backslashes), idp_jw_strn() refuses exactly what
 * json_stringn() refuses and writes exactly what json_dumps() writes.
 * Then the buffers: a fixed one turns bad instead of overflowing, a
 * growing one stops at its max, and integers at their limits.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include <openssl/evp.h>

#include <idp/jsonw.h>

/* xorshift64*: reproducible without depending on libc's rand(). */
static uint64_t
next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

/* A byte worth testing: ASCII, JSON's specials, or a UTF-8 lead/tail. */
static unsigned char
pick(uint64_t *s)
{
	static const unsigned char special[] = {
		'"', '\\', '/', '\b', '\f', '\n', '\r', '\t', 0x01, 0x1f, 0x7f,
		0x80, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0,
		0xf4, 0xf5, 0xff, 0xa0, 0x9f, 0x8f, 0x90,
	};
	uint64_t r = next(s);

	if (r % 3 == 0)
		return special[(r >> 8) % sizeof(special)];
	if (r % 3 == 1)
		return (unsigned char)(0x80 + (r >> 8) % 0x40);
	return (unsigned char)(0x20 + (r >> 8) % 0x5f);
}

static void
test_strings_match_jansson(void **state)
{
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	unsigned char in[24];
	char out[24 * 6 + 3];
	size_t i, n, j, valid = 0;

	(void)state;
	for (i = 0; i < 200000; i++) {
		struct idp_jw w;
		json_t *js;
		char *ref;

		n = next(&seed) % sizeof(in);
		for (j = 0; j < n; j++)
			in[j] = pick(&seed);
		idp_jw_fixed(&w, out, sizeof(out));
		idp_jw_strn(&w, (const char *)in, n);
		js = json_stringn((const char *)in, n);
		if (js == NULL) {
			assert_true(w.bad);
			continue;
		}
		valid++;
		ref = json_dumps(js, JSON_ENCODE_ANY);
		assert_non_null(ref);
		assert_false(w.bad);
		assert_int_equal(w.len, strlen(ref));
		assert_memory_equal(out, ref, w.len);
		free(ref);
		json_decref(js);
	}
	/* Both outcomes were exercised, not only one. */
	assert_true(valid > 10000 && valid < 190000);
}

static void
test_nul_inside_is_bad(void **state)
{
	struct idp_jw w;
	char out[16];

	(void)state;
	idp_jw_fixed(&w, out, sizeof(out));
	idp_jw_strn(&w, "a\0b", 3);
	assert_true(w.bad);
}

static void
test_fixed_overflow_is_sticky(void **state)
{
	struct idp_jw w;
	char out[8];
	size_t n;

	(void)state;
	idp_jw_fixed(&w, out, sizeof(out));
	idp_jw_lit(&w, "{\"a\":");
	assert_false(w.bad);
	idp_jw_str(&w, "xyz");		/* 5 more: over by 2 */
	assert_true(w.bad);
	assert_true(w.len <= sizeof(out));
	n = w.len;
	idp_jw_lit(&w, "}");		/* would fit, but bad is sticky */
	assert_int_equal(w.len, n);
}

static void
test_growing_up_to_max(void **state)
{
	static const char pad[96] = "to the last byte";
	struct idp_jw w;
	size_t i;

	(void)state;
	idp_jw_growing(&w, 4096);
	for (i = 0; i < 1000; i++)
		idp_jw_lit(&w, "abcd");
	assert_false(w.bad);
	assert_int_equal(w.len, 4000);
	assert_memory_equal(w.p + 3996, "abcd", 4);
	idp_jw_raw(&w, pad, sizeof(pad));	/* exactly to max: fits */
	assert_false(w.bad);
	assert_int_equal(w.len, 4096);
	idp_jw_lit(&w, "x");
	assert_true(w.bad);
	assert_int_equal(w.len, 4096);
	idp_jw_free(&w);
	assert_null(w.p);
	idp_jw_free(&w);		/* twice is harmless */
}

/* idp_jw_b64() against OpenSSL's encoder, 0 to 300 bytes, and its limit. */
static void
test_base64(void **state)
{
	unsigned char in[300], want[2 + 4 * (sizeof(in) + 2) / 3 + 1];
	char fixed[8];
	uint64_t seed = 0x5eed;
	struct idp_jw w;
	size_t n, i;
	int k;

	(void)state;
	for (n = 0; n <= sizeof(in); n++) {
		for (i = 0; i < n; i++)
			in[i] = (unsigned char)(next(&seed) >> 56);
		want[0] = '"';
		k = EVP_EncodeBlock(want + 1, in, (int)n);
		want[1 + k] = '"';
		idp_jw_growing(&w, 4096);
		idp_jw_lit(&w, "");
		idp_jw_b64(&w, in, n);
		assert_false(w.bad);
		assert_int_equal(w.len, (size_t)k + 2);
		assert_memory_equal(w.p, want, w.len);
		idp_jw_free(&w);
	}
	/* "AAAA" needs six bytes with its quotes, and room for a NUL. */
	idp_jw_fixed(&w, fixed, 6);
	idp_jw_b64(&w, "abc", 3);
	assert_true(w.bad);
	idp_jw_fixed(&w, fixed, sizeof(fixed));
	idp_jw_b64(&w, "abc", 3);
	assert_false(w.bad);
	assert_int_equal(w.len, 6);
	assert_memory_equal(fixed, "\"YWJj\"", 6);
	idp_jw_growing(&w, 64);
	idp_jw_b64(&w, in, SIZE_MAX / 2 + 1);
	assert_true(w.bad);
	idp_jw_free(&w);
}

static void
test_integers(void **state)
{
	static const struct {
		int64_t		 v;
		const char	*s;
	} t[] = {
		{ 0, "0" }, { 7, "7" }, { -1, "-1" }, { 1700000000, "1700000000" },
		{ INT64_MAX, "9223372036854775807" },
		{ INT64_MIN, "-9223372036854775808" },
	};
	struct idp_jw w;
	char out[32];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		idp_jw_fixed(&w, out, sizeof(out));
		idp_jw_int(&w, t[i].v);
		assert_false(w.bad);
		assert_int_equal(w.len, strlen(t[i].s));
		assert_memory_equal(out, t[i].s, w.len);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strings_match_jansson),
		cmocka_unit_test(test_nul_inside_is_bad),
		cmocka_unit_test(test_fixed_overflow_is_sticky),
		cmocka_unit_test(test_growing_up_to_max),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_integers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
