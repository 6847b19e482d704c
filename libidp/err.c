/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Error reasons and version.
 */
#include <stdarg.h>
#include <stdio.h>

#include <idp/idp.h>

int
idp_err_set(struct idp_err *err, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return rc;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return rc;
}

const char *
idp_version(void)
{
	return IDP_VERSION;
}
