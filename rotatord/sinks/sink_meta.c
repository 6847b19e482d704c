/* SPDX-License-Identifier: Apache-2.0 */
/*
 * meta.json, the public description of a generation: building it, and
 * reading it back to tell a whole generation from a half-made one or keep
 * numbers increasing.  Nothing here decides trust: the state record does.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <idp/jsonw.h>

#include "sinks/sink_int.h"

/* Returns 1 for a name that holds key material or a bearer token. */
static int
secret_name(const char *name)
{
	size_t len = strlen(name);

	return strcmp(name, "key.pem") == 0 || strcmp(name, "bundle.pem") == 0 ||
	    strcmp(name, "token") == 0 || strcmp(name, "token.json") == 0 ||
	    (len >= 4 && strcmp(name + len - 4, ".key") == 0);
}

/*
 * Returns 1 when meta.json may carry the SHA-256 of a file: it is
 * world-readable anyway (so the digest tells nobody anything new) and
 * not a key, a bundle or a token, whatever its mode.
 */
static int
file_public(const char *name, mode_t mode)
{
	return (mode & 0004) != 0 && !secret_name(name);
}

/*
 * Loads meta.json of generation gen into *ret (json_decref() it).  Returns
 * 0, -ENOENT, -EBADMSG when it is not a JSON object, -E2BIG, or -errno.
 */
int
meta_load(struct sink *s, int cfd, const char *gen, json_t **ret)
{
	json_error_t jerr;
	json_t *m;
	ssize_t n;
	int fd;

	fd = open_gen_file(s, cfd, gen, META_NAME);
	if (fd < 0)
		return fd;
	/*
	 * One read: a regular file on a local file system returns less than
	 * asked only at its end, and a truncated meta.json fails to parse.
	 */
	do {
		n = read(fd, s->buf, META_MAX + 1);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		n = -errno;
	close(fd);
	if (n < 0)
		return (int)n;
	if (n > META_MAX)
		return -E2BIG;
	m = json_loadb(s->buf, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
	if (m == NULL)
		return -EBADMSG;
	if (!json_is_object(m)) {
		json_decref(m);
		return -EBADMSG;
	}
	*ret = m;
	return 0;
}

static int
meta_int(const json_t *m, const char *key, int64_t *ret)
{
	const json_t *v = json_object_get(m, key);

	if (!json_is_integer(v))
		return -EBADMSG;
	*ret = json_integer_value(v);
	return 0;
}

/* Returns the generation number of meta m, or 0 when it has none. */
uint64_t
meta_generation(const json_t *m)
{
	int64_t g;

	if (meta_int(m, "generation", &g) < 0 || g < 1 ||
	    (uint64_t)g > GEN_NUM_MAX)
		return 0;
	return (uint64_t)g;
}

/*
 * Returns the "files" object of m when every entry is well formed (valid
 * name, a size within limits, 64 hex digits when a sha256 is given: only
 * public files have one), else NULL.  Borrowed.
 */
json_t *
meta_files(json_t *m)
{
	json_t *files, *e, *h, *sz;
	const char *name;

	files = json_object_get(m, "files");
	if (!json_is_object(files) || json_object_size(files) == 0 ||
	    json_object_size(files) > SINK_MAX_FILES)
		return NULL;
	json_object_foreach(files, name, e) {
		if (!name_valid(name) || strcmp(name, META_NAME) == 0)
			return NULL;
		h = json_object_get(e, "sha256");
		sz = json_object_get(e, "size");
		if ((h != NULL && !hex_valid(json_string_value(h))) ||
		    !json_is_integer(sz) || json_integer_value(sz) < 0 ||
		    json_integer_value(sz) > SINK_MAX_FILE_SIZE)
			return NULL;
	}
	return files;
}

/*
 * Serializes meta.json for a new generation into s->buf and returns its
 * length, or -E2BIG.  It holds names, times, sizes and the hashes of
 * public files (see file_public()), never content nor anything derived
 * from a secret.  Written by hand rather than through jansson: every
 * string in it is validated ASCII, and this runs on every publish.
 */
ssize_t
meta_build(struct sink *s, const struct material_meta *meta, uint64_t generation,
    const struct material_file *files, size_t n_files, char hex[][HEX_LEN + 1])
{
	struct idp_jw o;
	char expires[32] = "";
	time_t t = (time_t)meta->not_after;
	struct tm tm;
	size_t i;

	idp_jw_fixed(&o, s->buf, META_MAX);
	if (gmtime_r(&t, &tm) != NULL)
		strftime(expires, sizeof(expires), "%Y-%m-%dT%H:%M:%SZ", &tm);
	idp_jw_lit(&o, "{\n  \"name\": ");
	idp_jw_str(&o, meta->name);
	idp_jw_lit(&o, ",\n  \"type\": ");
	idp_jw_str(&o, meta->type);
	idp_jw_lit(&o, ",\n  \"generation\": ");
	idp_jw_int(&o, (int64_t)generation);
	idp_jw_lit(&o, ",\n  \"issued_at\": ");
	idp_jw_int(&o, meta->issued_at);
	idp_jw_lit(&o, ",\n  \"not_before\": ");
	idp_jw_int(&o, meta->not_before);
	idp_jw_lit(&o, ",\n  \"not_after\": ");
	idp_jw_int(&o, meta->not_after);
	idp_jw_lit(&o, ",\n  \"renew_at\": ");
	idp_jw_int(&o, meta->renew_at);
	idp_jw_lit(&o, ",\n  \"expires\": ");
	idp_jw_str(&o, expires);
	idp_jw_lit(&o, ",\n  \"files\": {");
	for (i = 0; i < n_files; i++) {
		idp_jw_lit(&o, i == 0 ? "\n    " : ",\n    ");
		idp_jw_str(&o, files[i].name);
		idp_jw_lit(&o, ": {");
		if (file_public(files[i].name, files[i].mode)) {
			idp_jw_lit(&o, "\"sha256\": \"");
			idp_jw_raw(&o, hex[i], HEX_LEN);
			idp_jw_lit(&o, "\", ");
		}
		idp_jw_lit(&o, "\"size\": ");
		idp_jw_int(&o, (int64_t)files[i].len);
		idp_jw_lit(&o, "}");
	}
	idp_jw_lit(&o, "\n  }\n}\n");
	return o.bad ? -E2BIG : (ssize_t)o.len;
}

/*
 * Returns the highest generation number found in the meta.json of any
 * listed generation, or 0.  Only used when the current meta.json is
 * unreadable, so that numbers keep increasing.
 */
uint64_t
newest_generation(struct sink *s, int cfd)
{
	uint64_t g, best = 0;
	json_t *m;
	size_t i;

	for (i = 0; i < s->n_dents; i++) {
		if (!dent_is_gen(&s->dents[i]) ||
		    meta_load(s, cfd, s->dents[i].name, &m) < 0)
			continue;
		g = meta_generation(m);
		if (g > best)
			best = g;
		json_decref(m);
	}
	return best;
}
