/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store/: see store.h.  Must not include anything of rotatord.
 */
#include <stdlib.h>
#include <string.h>

#include <idp/crypto.h>

#include "store/store.h"

struct blob {
	unsigned	 refs;
	size_t		 len;
	char		 data[];
};

struct genfiles {
	uint64_t	 gen;
	size_t		 n;
	char		 name[STORE_MAX_FILES][STORE_NAME_MAX + 1];
	struct blob	*file[STORE_MAX_FILES];
};

struct blob *
blob_new(const void *p, size_t n)
{
	struct blob *b;

	if (n > SIZE_MAX - sizeof(*b) - 1 ||
	    (b = malloc(sizeof(*b) + n + 1)) == NULL)
		return NULL;
	b->refs = 1;
	b->len = n;
	if (n > 0)
		memcpy(b->data, p, n);
	b->data[n] = '\0';
	return b;
}

struct blob *
blob_ref(struct blob *b)
{
	b->refs++;
	return b;
}

void
blob_unref(struct blob *b)
{
	if (b == NULL || --b->refs > 0)
		return;
	idp_wipe(b->data, b->len);
	free(b);
}

const char *
blob_data(const struct blob *b)
{
	return b->data;
}

size_t
blob_len(const struct blob *b)
{
	return b->len;
}

struct genfiles *
genfiles_new(uint64_t gen)
{
	struct genfiles *g;

	if ((g = calloc(1, sizeof(*g))) != NULL)
		g->gen = gen;
	return g;
}

void
genfiles_free(struct genfiles *g)
{
	size_t i;

	if (g == NULL)
		return;
	for (i = 0; i < g->n; i++)
		blob_unref(g->file[i]);
	free(g);
}

uint64_t
genfiles_generation(const struct genfiles *g)
{
	return g->gen;
}

struct blob *
genfiles_get(const struct genfiles *g, const char *name)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		if (strcmp(g->name[i], name) == 0)
			return blob_ref(g->file[i]);
	return NULL;
}

int
genfiles_put(struct genfiles *g, const char *name, struct blob *b)
{
	size_t len = strlen(name);

	if (g->n == STORE_MAX_FILES || len > STORE_NAME_MAX)
		return -1;
	memcpy(g->name[g->n], name, len + 1);
	g->file[g->n++] = blob_ref(b);
	return 0;
}
