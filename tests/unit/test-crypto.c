/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libidp's digest, random and wipe helpers: FIPS 180-2 SHA-256 vectors one
 * shot and in pieces, a context reused across messages, random bytes.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <idp/crypto.h>

static const unsigned char abc[IDP_SHA256_LEN] = {
	0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde,
	0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
	0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
};
static const unsigned char empty[IDP_SHA256_LEN] = {
	0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8,
	0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c,
	0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
};

static void
test_sha256_one_shot(void **state)
{
	unsigned char md[IDP_SHA256_LEN];

	(void)state;
	assert_int_equal(idp_sha256("abc", 3, md), 0);
	assert_memory_equal(md, abc, sizeof(md));
	assert_int_equal(idp_sha256(NULL, 0, md), 0);
	assert_memory_equal(md, empty, sizeof(md));
}

/* Pieces of any size give the one-shot digest; final starts over. */
static void
test_sha256_incremental(void **state)
{
	unsigned char msg[1000], md[IDP_SHA256_LEN], ref[IDP_SHA256_LEN];
	struct idp_sha256 *h = idp_sha256_new();
	size_t i, step;

	(void)state;
	assert_non_null(h);
	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (unsigned char)(i * 7 + 3);
	assert_int_equal(idp_sha256(msg, sizeof(msg), ref), 0);
	for (step = 1; step <= sizeof(msg); step = step * 3 + 1) {
		for (i = 0; i < sizeof(msg); i += step)
			idp_sha256_update(h, msg + i,
			    sizeof(msg) - i < step ? sizeof(msg) - i : step);
		assert_int_equal(idp_sha256_final(h, md), 0);
		assert_memory_equal(md, ref, sizeof(md));
	}
	idp_sha256_update(h, "a", 1);
	idp_sha256_update(h, "", 0);
	idp_sha256_update(h, "bc", 2);
	assert_int_equal(idp_sha256_final(h, md), 0);
	assert_memory_equal(md, abc, sizeof(md));
	assert_int_equal(idp_sha256_final(h, md), 0);
	assert_memory_equal(md, empty, sizeof(md));
	idp_sha256_free(h);
	idp_sha256_free(NULL);
}

static void
test_random_and_wipe(void **state)
{
	unsigned char a[32], b[32], zero[32];

	(void)state;
	memset(zero, 0, sizeof(zero));
	assert_int_equal(idp_random(a, sizeof(a)), 0);
	assert_int_equal(idp_random(b, sizeof(b)), 0);
	assert_memory_not_equal(a, b, sizeof(a));
	assert_memory_not_equal(a, zero, sizeof(a));
	assert_int_equal(idp_random(a, 0), 0);
	idp_wipe(a, sizeof(a));
	assert_memory_equal(a, zero, sizeof(a));
	idp_wipe(NULL, 5);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256_one_shot),
		cmocka_unit_test(test_sha256_incremental),
		cmocka_unit_test(test_random_and_wipe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
