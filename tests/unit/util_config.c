/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helpers: configs loaded from text with config_load_buf() (util.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "util.h"

int
ut_config_try(const char *text, char **ret_msgs, struct config **ret)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int rc;

	f = open_memstream(&buf, &len);
	assert_non_null(f);
	*ret = NULL;
	rc = config_load_buf("test.ini", text, strlen(text), f, ret);
	fclose(f);
	if (ret_msgs != NULL)
		*ret_msgs = buf;
	else
		free(buf);
	return rc;
}

struct config *
ut_config(const char *fmt, ...)
{
	struct config *c = NULL;
	char *text = NULL, *msgs = NULL;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vasprintf(&text, fmt, ap);
	va_end(ap);
	assert_true(rc >= 0);
	rc = ut_config_try(text, &msgs, &c);
	if (rc != 0 || msgs[0] != '\0')
		print_error("config_load_buf: %d\n%s--- test.ini:\n%s", rc,
		    msgs, text);
	assert_int_equal(rc, 0);
	assert_string_equal(msgs, "");
	assert_non_null(c);
	free(msgs);
	free(text);
	return c;
}
