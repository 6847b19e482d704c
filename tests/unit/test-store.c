/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of store/: blobs (copies, references, the NUL after) and a
 * generation's file set (get, put, limits).  Wiping on the last reference
 * is seen by ASan under make sanitize only as the absence of a leak or a
 * use after free; what is tested here is that references count right.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "store/store.h"

static void
test_blob(void **state)
{
	char src[] = "secret bytes";
	struct blob *b, *c;

	(void)state;
	b = blob_new(src, 6);
	assert_non_null(b);
	/* A copy: the source may go. */
	memset(src, 'x', sizeof(src) - 1);
	assert_int_equal(blob_len(b), 6);
	assert_string_equal(blob_data(b), "secret");
	c = blob_ref(b);
	assert_ptr_equal(b, c);
	blob_unref(b);
	/* Still held by c. */
	assert_string_equal(blob_data(c), "secret");
	blob_unref(c);
	blob_unref(NULL);

	b = blob_new(NULL, 0);
	assert_non_null(b);
	assert_int_equal(blob_len(b), 0);
	assert_string_equal(blob_data(b), "");
	blob_unref(b);
	assert_null(blob_new(src, SIZE_MAX - 4));
}

static void
test_genfiles(void **state)
{
	char name[STORE_NAME_MAX + 2];
	struct genfiles *g;
	struct blob *b, *got;
	size_t i;

	(void)state;
	g = genfiles_new(7);
	assert_non_null(g);
	assert_int_equal(genfiles_generation(g), 7);
	assert_null(genfiles_get(g, "cert.pem"));
	b = blob_new("CERT", 4);
	assert_int_equal(genfiles_put(g, "cert.pem", b), 0);
	/* The set keeps its own reference. */
	blob_unref(b);
	got = genfiles_get(g, "cert.pem");
	assert_non_null(got);
	assert_string_equal(blob_data(got), "CERT");
	assert_null(genfiles_get(g, "key.pem"));

	/* A name too long is not kept. */
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	assert_int_equal(genfiles_put(g, name, got), -1);
	name[STORE_NAME_MAX] = '\0';
	assert_int_equal(genfiles_put(g, name, got), 0);

	/* Full at STORE_MAX_FILES. */
	for (i = 2; i < STORE_MAX_FILES; i++) {
		name[0] = (char)('a' + i);
		assert_int_equal(genfiles_put(g, name, got), 0);
	}
	assert_int_equal(genfiles_put(g, "one-more", got), -1);
	/* Dropping the set leaves the caller's reference valid. */
	genfiles_free(g);
	assert_string_equal(blob_data(got), "CERT");
	blob_unref(got);
	genfiles_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blob),
		cmocka_unit_test(test_genfiles),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
