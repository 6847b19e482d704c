/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Material: what a source makes and a sink publishes, the one vocabulary
 * the two share.  Sources (mint, upstream) fill these in; sinks write
 * them.  Neither includes the other; both include this, which includes
 * nothing of rotatord.
 */
#ifndef ROTATORD_MATERIAL_H
#define ROTATORD_MATERIAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MATERIAL_MAX_FILES	16	/* files in one generation */
#define MATERIAL_NAME_MAX	128	/* longest file name */

/*
 * One file of a generation.  name is a plain file name ([A-Za-z0-9._-], at
 * most MATERIAL_NAME_MAX bytes, not starting with '.', not ending in ".tmp",
 * not "meta.json"); mode has no group/world write or special bits.
 */
struct material_file {
	const char	*name;
	const void	*data;
	size_t		 len;
	mode_t		 mode;		/* final mode, e.g. 0600 for keys */
};

/* Metadata written as meta.json into each generation. */
struct material_meta {
	const char	*name;		/* credential or signer name */
	const char	*type;		/* "x509", "jwt", "secret", "signer" */
	int64_t		 issued_at;	/* seconds since the epoch */
	int64_t		 not_before;
	int64_t		 not_after;
	int64_t		 renew_at;	/* planned renewal, seconds since epoch */
	const char	*spec;		/* opaque fingerprint of what shaped it, or NULL */
};

#endif /* ROTATORD_MATERIAL_H */
