/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/nametab.h"

struct slot {
	const char	*name;		/* NULL: empty */
	void		*v;
	uint64_t	 h;
	int		 kind;
};

struct nametab {
	struct slot	*slots;
	size_t		 cap;		/* a power of two */
	size_t		 n;
};

/* FNV-1a over the kind and the name. */
static uint64_t
hash(int kind, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	h = (h ^ (uint64_t)(unsigned)kind) * 0x100000001b3ULL;
	for (; *name != '\0'; name++)
		h = (h ^ (unsigned char)*name) * 0x100000001b3ULL;
	return h ^ (h >> 29);
}

struct nametab *
nametab_new(void)
{
	struct nametab *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->cap = 16;
	if ((t->slots = calloc(t->cap, sizeof(*t->slots))) == NULL) {
		free(t);
		return NULL;
	}
	return t;
}

void
nametab_free(struct nametab *t)
{
	if (t == NULL)
		return;
	free(t->slots);
	free(t);
}

static struct slot *
probe(const struct slot *slots, size_t cap, uint64_t h, int kind,
    const char *name)
{
	size_t i = (size_t)h & (cap - 1);

	for (;; i = (i + 1) & (cap - 1)) {
		const struct slot *s = &slots[i];

		if (s->name == NULL || (s->h == h && s->kind == kind &&
		    strcmp(s->name, name) == 0))
			return (struct slot *)s;
	}
}

static int
grow(struct nametab *t)
{
	struct slot *ns;
	size_t i, cap = t->cap * 2;

	if (cap < t->cap || (ns = calloc(cap, sizeof(*ns))) == NULL)
		return -ENOMEM;
	for (i = 0; i < t->cap; i++)
		if (t->slots[i].name != NULL)
			*probe(ns, cap, t->slots[i].h, t->slots[i].kind,
			    t->slots[i].name) = t->slots[i];
	free(t->slots);
	t->slots = ns;
	t->cap = cap;
	return 0;
}

int
nametab_put(struct nametab *t, int kind, const char *name, void *v,
    void **old)
{
	uint64_t h = hash(kind, name);
	struct slot *s;

	s = probe(t->slots, t->cap, h, kind, name);
	if (s->name != NULL) {
		if (old != NULL)
			*old = s->v;
		return -EEXIST;
	}
	if (2 * (t->n + 1) > t->cap) {
		if (grow(t) < 0)
			return -ENOMEM;
		s = probe(t->slots, t->cap, h, kind, name);
	}
	s->name = name;
	s->v = v;
	s->h = h;
	s->kind = kind;
	t->n++;
	return 0;
}

void *
nametab_get(const struct nametab *t, int kind, const char *name)
{
	const struct slot *s;

	if (t == NULL || name == NULL)
		return NULL;
	s = probe(t->slots, t->cap, hash(kind, name), kind, name);
	return s->name != NULL ? s->v : NULL;
}
