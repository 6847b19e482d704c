/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the sink: layout of a generation, modes under any umask,
 * unchanged content, pruning, refusal of links rotatord did not make,
 * repair, and a SIGKILL loop that checks the crash invariant after every
 * kill.  Everything happens in a fresh directory under /dev/shm (or
 * $TMPDIR), removed afterwards.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "core/log.h"
#include "sinks/sink.h"
#include "util.h"

#define GEN_RE	"^\\.\\.[0-9]{4}_[0-9]{2}_[0-9]{2}_" \
		"[0-9]{2}_[0-9]{2}_[0-9]{2}\\.[0-9]{9}$"
#define CRED	"nginx"

struct fx {
	char		 root[PATH_MAX];
	char		 out[PATH_MAX];
	char		 state[PATH_MAX];
	struct sink	*s;
};

static regex_t gen_re;

static const struct material_meta meta_x509 = {
	.name = "nginx",
	.type = "x509",
	.issued_at = 1000,
	.not_before = 1000,
	.not_after = 2000,
	.renew_at = 1500,
};

/* A file set like an x509 credential; content varies with tag. */
struct set {
	char		 cert[64];
	char		 key[64];
	char		 bundle[2048];
	struct material_file f[SINK_MAX_FILES];
	size_t		 n;
};

static void
set_make(struct set *st, const char *tag)
{
	size_t i;

	memset(st, 0, sizeof(*st));
	ut_snprintf(st->cert, sizeof(st->cert), "CERT %s\n", tag);
	ut_snprintf(st->key, sizeof(st->key), "KEY %s\n", tag);
	for (i = 0; i + 1 < sizeof(st->bundle); i++)
		st->bundle[i] = (char)('a' + (i + strlen(tag)) % 26);
	memcpy(st->bundle, tag, strlen(tag));
	st->f[0] = (struct material_file){ "cert.pem", st->cert, strlen(st->cert),
	    0644 };
	st->f[1] = (struct material_file){ "key.pem", st->key, strlen(st->key),
	    0600 };
	st->f[2] = (struct material_file){ "bundle.pem", st->bundle,
	    sizeof(st->bundle) - 1, 0640 };
	st->f[3] = (struct material_file){ "chain.pem", "", 0, 0644 };
	st->n = 4;
}

static int
setup(void **state)
{
	struct fx *f;
	char *dir;

	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -1;
	if ((dir = ut_tmpdir("test-sink", UT_TMP_SHM)) == NULL) {
		free(f);
		return -1;
	}
	ut_snprintf(f->root, sizeof(f->root), "%s", dir);
	free(dir);
	ut_snprintf(f->out, sizeof(f->out), "%s/out", f->root);
	ut_snprintf(f->state, sizeof(f->state), "%s/state", f->root);
	if (mkdir(f->state, 0700) < 0 ||
	    sink_open(f->out, f->state, &f->s) < 0) {
		ut_rm_rf(f->root);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	sink_close(f->s);
	ut_rm_rf(f->root);
	free(f);
	return 0;
}

static char *
path_of(struct fx *f, const char *rel, char *buf)
{
	ut_snprintf(buf, PATH_MAX, "%s/%s", f->out, rel);
	return buf;
}

static void
sha_hex(const void *data, size_t len, char hex[65])
{
	unsigned char md[32];
	unsigned int n = 0, i;

	assert_int_equal(EVP_Digest(data, len, md, &n, EVP_sha256(), NULL), 1);
	for (i = 0; i < n; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
}

/* Reads the symlink rel (below output_dir) into buf; returns its length. */
static ssize_t
link_of(struct fx *f, const char *rel, char *buf, size_t size)
{
	char p[PATH_MAX];
	ssize_t n;

	n = readlink(path_of(f, rel, p), buf, size - 1);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

/* Counts entries of output_dir/dir matching GEN_RE, and *.tmp entries. */
static int
count_gens(struct fx *f, const char *dir, int *ret_tmp)
{
	char p[PATH_MAX];
	struct dirent *d;
	DIR *dp;
	int n = 0, tmp = 0;
	size_t len;

	dp = opendir(path_of(f, dir, p));
	assert_non_null(dp);
	while ((d = readdir(dp)) != NULL) {
		len = strlen(d->d_name);
		if (regexec(&gen_re, d->d_name, 0, NULL, 0) == 0)
			n++;
		if ((len > 4 && strcmp(d->d_name + len - 4, ".tmp") == 0) ||
		    strcmp(d->d_name, "..data_tmp") == 0)
			tmp++;
	}
	closedir(dp);
	if (ret_tmp != NULL)
		*ret_tmp = tmp;
	return n;
}

static int
publish(struct fx *f, const struct set *st, uint64_t *gen)
{
	return sink_publish(f->s, CRED, st->f, st->n, &meta_x509, (uid_t)-1,
	    (gid_t)-1, 0750, gen);
}

static mode_t
mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	return st.st_mode & 07777;
}

/*
 * Checks state_dir/creds/DIR.json: mode 0600, our owner, the generation
 * and generation directory given, the digest of every file of st (when
 * given) and of meta.json.
 */
static void
check_record(struct fx *f, const char *dir, const char *gen, uint64_t g,
    const struct set *st)
{
	char p[PATH_MAX], hex[65], gp[PATH_MAX];
	struct sink_record r;
	const struct sink_record_file *mf = NULL;
	struct stat sb;
	size_t i, j, len, mlen;
	char *buf, *meta;

	ut_snprintf(p, sizeof(p), "%s/creds/%s.json", f->state, dir);
	assert_int_equal(lstat(p, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_int_equal(sb.st_uid, geteuid());
	ut_snprintf(gp, sizeof(gp), "%s/creds", f->state);
	assert_int_equal(mode_of(gp), 0700);
	buf = ut_read_file(p, UT_NOFOLLOW, &len);
	assert_non_null(buf);
	assert_int_equal(sink_record_parse(buf, len, &r), 0);
	free(buf);
	assert_string_equal(r.dir, dir);
	assert_string_equal(r.gen_dir, gen);
	assert_int_equal(r.generation, g);
	for (i = 0; st != NULL && i < st->n; i++) {
		for (j = 0; j < r.n_files; j++)
			if (strcmp(r.files[j].name, st->f[i].name) == 0)
				break;
		assert_true(j < r.n_files);
		sha_hex(st->f[i].len ? st->f[i].data : "", st->f[i].len, hex);
		assert_string_equal(r.files[j].sha256, hex);
		assert_int_equal(r.files[j].size, st->f[i].len);
		assert_int_equal(r.files[j].mode, st->f[i].mode);
	}
	for (j = 0; j < r.n_files; j++)
		if (strcmp(r.files[j].name, "meta.json") == 0)
			mf = &r.files[j];
	assert_non_null(mf);
	assert_int_equal(r.n_files, (st != NULL ? st->n : r.n_files - 1) + 1);
	ut_snprintf(gp, sizeof(gp), "%s/%s/%s/meta.json", f->out, dir, gen);
	meta = ut_read_file(gp, UT_NOFOLLOW, &mlen);
	assert_non_null(meta);
	sha_hex(meta, mlen, hex);
	free(meta);
	assert_string_equal(mf->sha256, hex);
}

/* The full layout check of a first publish under umask um. */
static void
first_publish(struct fx *f, mode_t um)
{
	char p[PATH_MAX], q[PATH_MAX], gen[64], target[PATH_MAX], hex[65];
	struct sink_current cur;
	struct set st;
	struct stat sb;
	json_t *m, *files, *e;
	json_error_t jerr;
	uint64_t g = 0;
	mode_t old;
	size_t i, len;
	char *buf;
	int tmp;

	set_make(&st, "one");
	old = umask(um);
	assert_int_equal(publish(f, &st, &g), 1);
	umask(old);
	assert_int_equal(g, 1);

	/* The credential directory must be traversable whatever the umask. */
	assert_int_equal(mode_of(path_of(f, CRED, p)), 0755);
	assert_true(link_of(f, CRED "/..data", gen, sizeof(gen)) > 0);
	assert_int_equal(regexec(&gen_re, gen, 0, NULL, 0), 0);
	ut_snprintf(q, sizeof(q), CRED "/%s", gen);
	assert_int_equal(lstat(path_of(f, q, p), &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0750);
	assert_int_equal(count_gens(f, CRED, &tmp), 1);
	assert_int_equal(tmp, 0);

	for (i = 0; i < st.n; i++) {
		ut_snprintf(q, sizeof(q), CRED "/%s/%s", gen, st.f[i].name);
		assert_int_equal(mode_of(path_of(f, q, p)), st.f[i].mode);
		buf = ut_read_file(p, UT_NOFOLLOW, &len);
		assert_non_null(buf);
		assert_int_equal(len, st.f[i].len);
		assert_memory_equal(buf, st.f[i].len ? st.f[i].data : "", len);
		free(buf);
		ut_snprintf(q, sizeof(q), CRED "/%s", st.f[i].name);
		assert_true(link_of(f, q, target, sizeof(target)) > 0);
		ut_snprintf(q, sizeof(q), "..data/%s", st.f[i].name);
		assert_string_equal(target, q);
	}
	/* meta.json is reached through ..data only: no visible link. */
	assert_int_equal(lstat(path_of(f, CRED "/meta.json", p), &sb), -1);

	ut_snprintf(q, sizeof(q), CRED "/%s/meta.json", gen);
	assert_int_equal(mode_of(path_of(f, q, p)), 0644);
	m = json_load_file(p, JSON_REJECT_DUPLICATES, &jerr);
	assert_non_null(m);
	assert_string_equal(json_string_value(json_object_get(m, "name")),
	    "nginx");
	assert_string_equal(json_string_value(json_object_get(m, "type")),
	    "x509");
	assert_int_equal(json_integer_value(json_object_get(m,
	    "generation")), 1);
	assert_int_equal(json_integer_value(json_object_get(m, "issued_at")),
	    1000);
	assert_int_equal(json_integer_value(json_object_get(m, "not_before")),
	    1000);
	assert_int_equal(json_integer_value(json_object_get(m, "not_after")),
	    2000);
	assert_int_equal(json_integer_value(json_object_get(m, "renew_at")),
	    1500);
	assert_string_equal(json_string_value(json_object_get(m, "expires")),
	    "1970-01-01T00:33:20Z");
	/* No spec, and no digest of anything secret: only public files'. */
	assert_null(json_object_get(m, "spec"));
	files = json_object_get(m, "files");
	assert_int_equal(json_object_size(files), st.n);
	for (i = 0; i < st.n; i++) {
		e = json_object_get(files, st.f[i].name);
		assert_non_null(e);
		sha_hex(st.f[i].len ? st.f[i].data : "", st.f[i].len, hex);
		if (strcmp(st.f[i].name, "cert.pem") == 0 ||
		    strcmp(st.f[i].name, "chain.pem") == 0)
			assert_string_equal(json_string_value(json_object_get(e,
			    "sha256")), hex);
		else
			assert_null(json_object_get(e, "sha256"));
		assert_int_equal(json_integer_value(json_object_get(e, "size")),
		    st.f[i].len);
	}
	json_decref(m);
	buf = ut_read_file(p, UT_NOFOLLOW, &len);
	assert_non_null(buf);
	sha_hex(st.key, strlen(st.key), hex);
	assert_null(strstr(buf, hex));
	free(buf);

	/* The state record: 0600, every file's digest, meta.json's too. */
	check_record(f, CRED, gen, 1, &st);

	assert_int_equal(sink_read_current(f->s, CRED, &cur), 0);
	assert_int_equal(cur.generation, 1);
	assert_int_equal(cur.issued_at, 1000);
	assert_int_equal(cur.not_before, 1000);
	assert_int_equal(cur.not_after, 2000);
	assert_int_equal(cur.renew_at, 1500);
	assert_string_equal(cur.gen_dir, gen);
	assert_int_equal(sink_read_file(f->s, CRED, "key.pem", &buf, &len), 0);
	assert_int_equal(len, strlen(st.key));
	assert_memory_equal(buf, st.key, len);
	free(buf);
	assert_int_equal(sink_read_file(f->s, CRED, "chain.pem", &buf,
	    &len), 0);
	assert_int_equal(len, 0);
	free(buf);
}

static void
test_first_publish_umask_022(void **state)
{
	first_publish(*state, 022);
}

static void
test_first_publish_umask_077(void **state)
{
	first_publish(*state, 077);
}

static void
test_default_dir_mode_and_owner(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX], gen[64], q[PATH_MAX];
	struct stat sb;
	struct set st;

	set_make(&st, "own");
	assert_int_equal(sink_publish(f->s, CRED, st.f, st.n, &meta_x509,
	    getuid(), getgid(), 0, NULL), 1);
	assert_true(link_of(f, CRED "/..data", gen, sizeof(gen)) > 0);
	ut_snprintf(q, sizeof(q), CRED "/%s", gen);
	assert_int_equal(mode_of(path_of(f, q, p)), SINK_DIR_MODE_DEFAULT);
	ut_snprintf(q, sizeof(q), CRED "/%s/key.pem", gen);
	assert_int_equal(lstat(path_of(f, q, p), &sb), 0);
	assert_int_equal(sb.st_uid, getuid());
	assert_int_equal(sb.st_gid, getgid());
}

/* The record's inode and size (an in-place rewrite keeps the inode). */
static void
record_stat(struct fx *f, struct stat *sb)
{
	char p[PATH_MAX];

	ut_snprintf(p, sizeof(p), "%s/creds/%s.json", f->state, CRED);
	assert_int_equal(lstat(p, sb), 0);
}

/*
 * After the first publish the state record is rewritten in place: the same
 * inode, never shorter (a shorter record is padded with spaces, so no tail
 * of an older one is left), still a valid record of the new generation;
 * another handle rewrites the same file; a record that is not ours to
 * rewrite (group bits) is replaced by a fresh 0600 one.
 */
static void
test_record_in_place(void **state)
{
	struct fx *f = *state;
	struct stat a, b;
	struct sink *other;
	struct set st;
	char gen[64], p[PATH_MAX];
	uint64_t g = 0;

	set_make(&st, "one");
	assert_int_equal(publish(f, &st, &g), 1);
	record_stat(f, &a);
	set_make(&st, "two");
	assert_int_equal(publish(f, &st, &g), 1);
	record_stat(f, &b);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_true(link_of(f, CRED "/..data", gen, sizeof(gen)) > 0);
	check_record(f, CRED, gen, 2, &st);
	/* Two files fewer: a shorter record, in a file as long as before. */
	set_make(&st, "three");
	st.n = 2;
	assert_int_equal(publish(f, &st, &g), 1);
	record_stat(f, &b);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_int_equal(b.st_size, a.st_size);
	assert_true(link_of(f, CRED "/..data", gen, sizeof(gen)) > 0);
	check_record(f, CRED, gen, 3, &st);
	/* Another handle writes the same file, and this one then again. */
	assert_int_equal(sink_open(f->out, f->state, &other), 0);
	set_make(&st, "four");
	assert_int_equal(sink_publish(other, CRED, st.f, st.n, &meta_x509,
	    (uid_t)-1, (gid_t)-1, 0750, &g), 1);
	sink_close(other);
	set_make(&st, "five");
	assert_int_equal(publish(f, &st, &g), 1);
	record_stat(f, &b);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_true(link_of(f, CRED "/..data", gen, sizeof(gen)) > 0);
	check_record(f, CRED, gen, 5, &st);
	/* Not ours to rewrite: a new handle stores a new 0600 record. */
	ut_snprintf(p, sizeof(p), "%s/creds/%s.json", f->state, CRED);
	assert_int_equal(chmod(p, 0640), 0);
	assert_int_equal(sink_open(f->out, f->state, &other), 0);
	set_make(&st, "six");
	assert_int_equal(sink_publish(other, CRED, st.f, st.n, &meta_x509,
	    (uid_t)-1, (gid_t)-1, 0750, &g), 1);
	sink_close(other);
	record_stat(f, &b);
	assert_true(a.st_ino != b.st_ino);
	assert_true(link_of(f, CRED "/..data", gen, sizeof(gen)) > 0);
	check_record(f, CRED, gen, 6, &st);
}

static void
test_unchanged(void **state)
{
	struct fx *f = *state;
	struct material_file tmp_file;
	struct sink *other;
	char a[64], b[64];
	struct set st;
	uint64_t g = 0;
	int tmp;

	set_make(&st, "same");
	assert_int_equal(publish(f, &st, &g), 1);
	assert_true(link_of(f, CRED "/..data", a, sizeof(a)) > 0);
	set_make(&st, "same");
	assert_int_equal(publish(f, &st, &g), 0);
	assert_int_equal(g, 1);
	assert_true(link_of(f, CRED "/..data", b, sizeof(b)) > 0);
	assert_string_equal(a, b);
	assert_int_equal(count_gens(f, CRED, &tmp), 1);
	assert_int_equal(tmp, 0);

	/* Same content under another mode is still the same content. */
	st.f[0].mode = 0600;
	assert_int_equal(publish(f, &st, &g), 0);
	/* The order of the files does not matter either. */
	tmp_file = st.f[0];
	st.f[0] = st.f[3];
	st.f[3] = tmp_file;
	assert_int_equal(publish(f, &st, &g), 0);
	/* A dropped file is a change. */
	st.n = 3;
	assert_int_equal(publish(f, &st, &g), 1);
	assert_int_equal(g, 2);

	/*
	 * A second handle (a restarted daemon) remembers nothing and decides
	 * from meta.json on disk; the first one notices that "..data" moved.
	 */
	assert_int_equal(sink_open(f->out, f->state, &other), 0);
	assert_int_equal(sink_publish(other, CRED, st.f, st.n, &meta_x509,
	    (uid_t)-1, (gid_t)-1, 0750, &g), 0);
	assert_int_equal(g, 2);
	set_make(&st, "other");
	assert_int_equal(sink_publish(other, CRED, st.f, st.n, &meta_x509,
	    (uid_t)-1, (gid_t)-1, 0750, &g), 1);
	assert_int_equal(g, 3);
	sink_close(other);
	assert_int_equal(publish(f, &st, &g), 0);
	assert_int_equal(g, 3);
	set_make(&st, "again");
	assert_int_equal(publish(f, &st, &g), 1);
	assert_int_equal(g, 4);
	assert_int_equal(count_gens(f, CRED, &tmp), 1 + SINK_KEEP_OLD);
	assert_int_equal(tmp, 0);
}

static void
test_spec(void **state)
{
	struct fx *f = *state;
	struct material_meta m = meta_x509;
	struct sink_current cur;
	char longspec[66];
	struct sink *other;
	struct set st;
	uint64_t g = 0;

	set_make(&st, "spec");
	assert_int_equal(publish(f, &st, &g), 1);
	assert_int_equal(sink_read_current(f->s, CRED, &cur), 0);
	assert_string_equal(cur.spec, "");
	/* Absent and empty are the same spec. */
	m.spec = "";
	assert_int_equal(sink_publish(f->s, CRED, st.f, st.n, &m, (uid_t)-1,
	    (gid_t)-1, 0750, &g), 0);
	/* A new spec with the same files is a new generation. */
	m.spec = "v1 abc";
	assert_int_equal(sink_publish(f->s, CRED, st.f, st.n, &m, (uid_t)-1,
	    (gid_t)-1, 0750, &g), 1);
	assert_int_equal(g, 2);
	assert_int_equal(sink_read_current(f->s, CRED, &cur), 0);
	assert_string_equal(cur.spec, "v1 abc");
	assert_int_equal(sink_publish(f->s, CRED, st.f, st.n, &m, (uid_t)-1,
	    (gid_t)-1, 0750, &g), 0);
	/* The same decisions from meta.json on disk. */
	assert_int_equal(sink_open(f->out, f->state, &other), 0);
	assert_int_equal(sink_publish(other, CRED, st.f, st.n, &m, (uid_t)-1,
	    (gid_t)-1, 0750, &g), 0);
	m.spec = "v1 \"quoted\" \\";
	assert_int_equal(sink_publish(other, CRED, st.f, st.n, &m, (uid_t)-1,
	    (gid_t)-1, 0750, &g), 1);
	assert_int_equal(g, 3);
	sink_close(other);
	assert_int_equal(sink_read_current(f->s, CRED, &cur), 0);
	assert_string_equal(cur.spec, "v1 \"quoted\" \\");
	/* Bounded by what sink_current can hold. */
	memset(longspec, 'a', sizeof(longspec) - 1);
	longspec[sizeof(longspec) - 1] = '\0';
	m.spec = longspec;
	assert_int_equal(sink_publish(f->s, CRED, st.f, st.n, &m, (uid_t)-1,
	    (gid_t)-1, 0750, &g), -EINVAL);
	longspec[64] = '\0';
	assert_int_equal(sink_publish(f->s, CRED, st.f, st.n, &m, (uid_t)-1,
	    (gid_t)-1, 0750, &g), 1);
	assert_int_equal(sink_read_current(f->s, CRED, &cur), 0);
	assert_string_equal(cur.spec, longspec);
	m.spec = "tab\there";
	assert_int_equal(sink_publish(f->s, CRED, st.f, st.n, &m, (uid_t)-1,
	    (gid_t)-1, 0750, &g), -EINVAL);
}

static void
test_changed_keeps_previous(void **state)
{
	struct fx *f = *state;
	char a[64], b[64], p[PATH_MAX], q[PATH_MAX];
	struct sink_current cur;
	struct set st;
	uint64_t g = 0;
	size_t len;
	char *buf;

	set_make(&st, "v1");
	assert_int_equal(publish(f, &st, &g), 1);
	assert_true(link_of(f, CRED "/..data", a, sizeof(a)) > 0);
	set_make(&st, "v2");
	assert_int_equal(publish(f, &st, &g), 1);
	assert_int_equal(g, 2);
	assert_true(link_of(f, CRED "/..data", b, sizeof(b)) > 0);
	assert_true(strcmp(a, b) < 0);
	assert_int_equal(count_gens(f, CRED, NULL), 2);
	/* The previous generation stays complete for readers mid-read. */
	ut_snprintf(q, sizeof(q), CRED "/%s/cert.pem", a);
	buf = ut_read_file(path_of(f, q, p), UT_NOFOLLOW, &len);
	assert_non_null(buf);
	assert_string_equal(buf, "CERT v1\n");
	free(buf);
	buf = ut_read_file(path_of(f, CRED "/cert.pem", p), 0, &len);
	assert_non_null(buf);
	assert_string_equal(buf, "CERT v2\n");
	free(buf);
	assert_int_equal(sink_read_current(f->s, CRED, &cur), 0);
	assert_int_equal(cur.generation, 2);
	assert_string_equal(cur.gen_dir, b);
}

static void
test_prune(void **state)
{
	struct fx *f = *state;
	char names[5][64], tag[16], p[PATH_MAX], q[PATH_MAX];
	struct stat sb;
	struct set st;
	uint64_t g = 0;
	int i;

	for (i = 0; i < 5; i++) {
		ut_snprintf(tag, sizeof(tag), "p%d", i);
		set_make(&st, tag);
		assert_int_equal(publish(f, &st, &g), 1);
		assert_int_equal(g, (uint64_t)i + 1);
		assert_true(link_of(f, CRED "/..data", names[i],
		    sizeof(names[i])) > 0);
	}
	assert_int_equal(count_gens(f, CRED, NULL), 1 + SINK_KEEP_OLD);
	for (i = 0; i < 5; i++) {
		ut_snprintf(q, sizeof(q), CRED "/%s", names[i]);
		assert_int_equal(lstat(path_of(f, q, p), &sb) == 0,
		    i >= 5 - 1 - SINK_KEEP_OLD);
	}

	sink_set_keep_old(f->s, 0);
	set_make(&st, "p5");
	assert_int_equal(publish(f, &st, &g), 1);
	assert_int_equal(count_gens(f, CRED, NULL), 1);
	sink_set_keep_old(f->s, 1);
	set_make(&st, "p6");
	assert_int_equal(publish(f, &st, &g), 1);
	assert_int_equal(count_gens(f, CRED, NULL), 2);
	assert_int_equal(g, 7);
}

static void
test_file_set_changes(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX], target[PATH_MAX];
	struct stat sb;
	struct set st;
	size_t len;
	char *buf;
	int fd;

	set_make(&st, "s1");
	st.f[4] = (struct material_file){ "extra.pem", "X", 1, 0644 };
	st.n = 5;
	assert_int_equal(publish(f, &st, NULL), 1);
	assert_true(link_of(f, CRED "/extra.pem", target, sizeof(target)) > 0);

	/* Files that are not ours are left alone. */
	fd = open(path_of(f, CRED "/README", p), O_WRONLY | O_CREAT | O_EXCL,
	    0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "hi", 2), 2);
	close(fd);
	assert_int_equal(symlink("/etc/hostname",
	    path_of(f, CRED "/foreign", p)), 0);

	set_make(&st, "s2");
	st.f[3] = (struct material_file){ "new.pem", "N", 1, 0644 };
	assert_int_equal(publish(f, &st, NULL), 1);
	assert_int_equal(lstat(path_of(f, CRED "/extra.pem", p), &sb), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(lstat(path_of(f, CRED "/chain.pem", p), &sb), -1);
	buf = ut_read_file(path_of(f, CRED "/new.pem", p), 0, &len);
	assert_non_null(buf);
	assert_string_equal(buf, "N");
	free(buf);
	buf = ut_read_file(path_of(f, CRED "/README", p), UT_NOFOLLOW, &len);
	assert_non_null(buf);
	assert_string_equal(buf, "hi");
	free(buf);
	assert_true(link_of(f, CRED "/foreign", target, sizeof(target)) > 0);
	assert_string_equal(target, "/etc/hostname");
}

/* Fingerprint of a file outside the sink, to prove it was not touched. */
static void
fingerprint(const char *path, char hex[65], struct stat *sb)
{
	size_t len = 0;
	char *buf;

	assert_int_equal(stat(path, sb), 0);
	buf = ut_read_file(path, 0, &len);
	assert_non_null(buf);
	sha_hex(buf, len, hex);
	free(buf);
}

static void
test_foreign_visible_symlink(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX], h1[65], h2[65], a[64], b[64];
	struct stat s1, s2;
	struct set st;
	int tmp;

	fingerprint("/etc/passwd", h1, &s1);
	assert_int_equal(mkdir(path_of(f, CRED, p), 0755), 0);
	assert_int_equal(symlink("/etc/passwd",
	    path_of(f, CRED "/cert.pem", p)), 0);
	set_make(&st, "f1");
	assert_int_equal(publish(f, &st, NULL), -ELOOP);
	/* Refused before anything was written. */
	assert_int_equal(count_gens(f, CRED, &tmp), 0);
	assert_int_equal(tmp, 0);
	assert_true(link_of(f, CRED "/..data", a, sizeof(a)) < 0);

	/* Once published, a link swapped for a foreign one is refused too. */
	assert_int_equal(unlink(path_of(f, CRED "/cert.pem", p)), 0);
	assert_int_equal(publish(f, &st, NULL), 1);
	assert_true(link_of(f, CRED "/..data", a, sizeof(a)) > 0);
	assert_int_equal(unlink(path_of(f, CRED "/key.pem", p)), 0);
	assert_int_equal(symlink("/etc/passwd",
	    path_of(f, CRED "/key.pem", p)), 0);
	set_make(&st, "f2");
	assert_int_equal(publish(f, &st, NULL), -ELOOP);
	assert_true(link_of(f, CRED "/..data", b, sizeof(b)) > 0);
	assert_string_equal(a, b);
	assert_int_equal(count_gens(f, CRED, &tmp), 1);
	assert_int_equal(tmp, 0);

	/* A link into ..data under another name is not one of ours either. */
	assert_int_equal(unlink(path_of(f, CRED "/key.pem", p)), 0);
	assert_int_equal(symlink("..data/cert.pem",
	    path_of(f, CRED "/key.pem", p)), 0);
	assert_int_equal(publish(f, &st, NULL), -ELOOP);
	/* Repair reports it and leaves it. */
	assert_int_equal(sink_repair(f->s, CRED), -ELOOP);
	assert_true(link_of(f, CRED "/key.pem", b, sizeof(b)) > 0);
	assert_string_equal(b, "..data/cert.pem");

	fingerprint("/etc/passwd", h2, &s2);
	assert_string_equal(h1, h2);
	assert_int_equal(s1.st_size, s2.st_size);
	assert_int_equal(s1.st_mtim.tv_sec, s2.st_mtim.tv_sec);
	assert_int_equal(s1.st_mtim.tv_nsec, s2.st_mtim.tv_nsec);
	assert_int_equal(s1.st_mode, s2.st_mode);
}

/*
 * In steady state the sink knows its links by inode and skips reading
 * them back: a link replaced or renamed since is still caught.
 */
static void
test_foreign_link_steady(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX], q[PATH_MAX], a[64], b[64];
	static const char *const tags[] = { "s1", "s2", "s3", "s4" };
	struct set st;
	size_t i;

	for (i = 0; i < 4; i++) {
		set_make(&st, tags[i]);
		assert_int_equal(publish(f, &st, NULL), 1);
	}
	assert_true(link_of(f, CRED "/..data", a, sizeof(a)) > 0);

	/* Replaced by a link elsewhere. */
	assert_int_equal(unlink(path_of(f, CRED "/key.pem", p)), 0);
	assert_int_equal(symlink("/etc/passwd",
	    path_of(f, CRED "/key.pem", p)), 0);
	set_make(&st, "s5");
	assert_int_equal(publish(f, &st, NULL), -ELOOP);
	assert_true(link_of(f, CRED "/..data", b, sizeof(b)) > 0);
	assert_string_equal(a, b);

	/* Put back, learnt again, then two of ours swapped by rename. */
	assert_int_equal(unlink(path_of(f, CRED "/key.pem", p)), 0);
	assert_int_equal(publish(f, &st, NULL), 1);
	set_make(&st, "s6");
	assert_int_equal(publish(f, &st, NULL), 1);
	set_make(&st, "s7");
	assert_int_equal(publish(f, &st, NULL), 1);
	assert_int_equal(rename(path_of(f, CRED "/key.pem", p),
	    path_of(f, CRED "/tmp-link", q)), 0);
	assert_int_equal(rename(path_of(f, CRED "/cert.pem", p),
	    path_of(f, CRED "/key.pem", q)), 0);
	assert_int_equal(rename(path_of(f, CRED "/tmp-link", p),
	    path_of(f, CRED "/cert.pem", q)), 0);
	set_make(&st, "s8");
	assert_int_equal(publish(f, &st, NULL), -ELOOP);

	/* A regular file in a link's place. */
	assert_int_equal(rename(path_of(f, CRED "/key.pem", p),
	    path_of(f, CRED "/tmp-link", q)), 0);
	assert_int_equal(rename(path_of(f, CRED "/cert.pem", p),
	    path_of(f, CRED "/key.pem", q)), 0);
	assert_int_equal(rename(path_of(f, CRED "/tmp-link", p),
	    path_of(f, CRED "/cert.pem", q)), 0);
	assert_int_equal(publish(f, &st, NULL), 1);
	set_make(&st, "s9");
	assert_int_equal(publish(f, &st, NULL), 1);
	assert_int_equal(unlink(path_of(f, CRED "/cert.pem", p)), 0);
	assert_int_equal(close(open(path_of(f, CRED "/cert.pem", p),
	    O_WRONLY | O_CREAT | O_EXCL, 0644)), 0);
	set_make(&st, "s10");
	assert_int_equal(publish(f, &st, NULL), -EEXIST);
}

static void
test_foreign_data_link(void **state)
{
	static const char *const targets[] = {
		"/etc", "..", "../..", "..2026_01_01_00_00_00.000000000/..",
		"..2026_01_01_00_00_00.000000000.tmp", "x", "..data",
		"..2026_1_01_00_00_00.000000000",
	};
	struct fx *f = *state;
	struct sink_current cur;
	char p[PATH_MAX], t[64];
	struct set st;
	size_t i, len;
	char *buf;
	int fd;

	assert_int_equal(mkdir(path_of(f, CRED, p), 0755), 0);
	set_make(&st, "d1");
	for (i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		assert_int_equal(symlink(targets[i],
		    path_of(f, CRED "/..data", p)), 0);
		assert_int_equal(publish(f, &st, NULL), -ELOOP);
		assert_int_equal(sink_read_current(f->s, CRED, &cur), -ELOOP);
		assert_int_equal(sink_read_file(f->s, CRED, "cert.pem", &buf,
		    &len), -ELOOP);
		assert_int_equal(sink_repair(f->s, CRED), -ELOOP);
		assert_true(link_of(f, CRED "/..data", t, sizeof(t)) > 0);
		assert_string_equal(t, targets[i]);
		assert_int_equal(count_gens(f, CRED, NULL), 0);
		assert_int_equal(unlink(p), 0);
	}
	/* A "..data" that is not a link at all. */
	fd = open(path_of(f, CRED "/..data", p), O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(publish(f, &st, NULL), -EEXIST);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(mkdir(p, 0755), 0);
	assert_int_equal(publish(f, &st, NULL), -EEXIST);
	assert_int_equal(sink_repair(f->s, CRED), -EEXIST);
	assert_int_equal(rmdir(p), 0);
	assert_int_equal(publish(f, &st, NULL), 1);
}

static void
test_planted_regular_file(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX];
	struct set st;
	size_t len;
	char *buf;
	int fd;

	set_make(&st, "r1");
	assert_int_equal(publish(f, &st, NULL), 1);
	assert_int_equal(unlink(path_of(f, CRED "/key.pem", p)), 0);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "mine", 4), 4);
	close(fd);
	set_make(&st, "r2");
	assert_int_equal(publish(f, &st, NULL), -EEXIST);
	buf = ut_read_file(p, UT_NOFOLLOW, &len);
	assert_non_null(buf);
	assert_string_equal(buf, "mine");
	free(buf);
	assert_int_equal(count_gens(f, CRED, NULL), 1);

	/* A planted directory is refused the same way. */
	assert_int_equal(unlink(p), 0);
	assert_int_equal(mkdir(p, 0755), 0);
	assert_int_equal(publish(f, &st, NULL), -EEXIST);
	assert_int_equal(rmdir(p), 0);
	assert_int_equal(publish(f, &st, NULL), 1);
}

static void
test_cred_dir_not_a_dir(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX], q[PATH_MAX];
	struct set st;
	int fd;

	set_make(&st, "c1");
	ut_snprintf(q, sizeof(q), "%s/elsewhere", f->root);
	assert_int_equal(mkdir(q, 0755), 0);
	assert_int_equal(symlink(q, path_of(f, CRED, p)), 0);
	assert_int_equal(publish(f, &st, NULL), -ELOOP);
	assert_int_equal(sink_repair(f->s, CRED), -ELOOP);
	assert_int_equal(unlink(p), 0);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(publish(f, &st, NULL), -ENOTDIR);
	/* Nothing was written through the link. */
	assert_int_equal(rmdir(q), 0);
}

static void
test_bad_arguments(void **state)
{
	static const char *const bad[] = {
		"", ".", "..", ".hidden", "a/b", "/abs", "x y", "a\\b",
		"caf\xc3\xa9", "x.tmp", "..data", "new\nline",
	};
	struct fx *f = *state;
	char longname[SINK_NAME_MAX + 2];
	struct material_file many[SINK_MAX_FILES + 1];
	struct material_meta m = meta_x509;
	struct set st;
	size_t i, len;
	char *buf;
	int tmp;

	set_make(&st, "b");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(sink_publish(f->s, bad[i], st.f, st.n,
		    &meta_x509, (uid_t)-1, (gid_t)-1, 0750, NULL), -EINVAL);
		st.f[0].name = bad[i];
		assert_int_equal(publish(f, &st, NULL), -EINVAL);
		st.f[0].name = "cert.pem";
		assert_int_equal(sink_read_file(f->s, CRED, bad[i], &buf, &len),
		    -EINVAL);
	}
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(sink_publish(f->s, longname, st.f, st.n, &meta_x509,
	    (uid_t)-1, (gid_t)-1, 0750, NULL), -EINVAL);
	longname[SINK_NAME_MAX] = '\0';
	st.f[0].name = longname;
	assert_int_equal(publish(f, &st, NULL), 1);
	st.f[0].name = "meta.json";
	assert_int_equal(publish(f, &st, NULL), -EINVAL);
	st.f[0].name = "key.pem";
	assert_int_equal(publish(f, &st, NULL), -EINVAL);
	st.f[0].name = "cert.pem";

	/* Modes: never group- or world-writable, no special bits. */
	st.f[1].mode = 0660;
	assert_int_equal(publish(f, &st, NULL), -EINVAL);
	st.f[1].mode = 04600;
	assert_int_equal(publish(f, &st, NULL), -EINVAL);
	st.f[1].mode = 0600;
	assert_int_equal(sink_publish(f->s, CRED, st.f, st.n, &meta_x509,
	    (uid_t)-1, (gid_t)-1, 0775, NULL), -EINVAL);
	assert_int_equal(sink_publish(f->s, CRED, st.f, st.n, &meta_x509,
	    (uid_t)-1, (gid_t)-1, 0555, NULL), -EINVAL);

	/* Counts and sizes at and past their limits. */
	assert_int_equal(sink_publish(f->s, CRED, st.f, 0, &meta_x509,
	    (uid_t)-1, (gid_t)-1, 0750, NULL), -EINVAL);
	assert_int_equal(sink_publish(f->s, CRED, st.f, st.n, NULL,
	    (uid_t)-1, (gid_t)-1, 0750, NULL), -EINVAL);
	m.name = NULL;
	assert_int_equal(sink_publish(f->s, CRED, st.f, st.n, &m,
	    (uid_t)-1, (gid_t)-1, 0750, NULL), -EINVAL);
	m.name = "caf\xe9";
	assert_int_equal(sink_publish(f->s, "latin1", st.f, st.n, &m,
	    (uid_t)-1, (gid_t)-1, 0750, NULL), -EINVAL);
	st.f[2].len = SINK_MAX_FILE_SIZE + 1;
	assert_int_equal(publish(f, &st, NULL), -E2BIG);
	st.f[2].len = sizeof(st.bundle) - 1;
	st.f[2].data = NULL;
	assert_int_equal(publish(f, &st, NULL), -EINVAL);
	for (i = 0; i < SINK_MAX_FILES + 1; i++) {
		char *n = malloc(16);

		assert_non_null(n);
		ut_snprintf(n, 16, "f%zu", i);
		many[i] = (struct material_file){ n, "x", 1, 0644 };
	}
	assert_int_equal(sink_publish(f->s, "many", many, SINK_MAX_FILES + 1,
	    &meta_x509, (uid_t)-1, (gid_t)-1, 0750, NULL), -EINVAL);
	assert_int_equal(sink_publish(f->s, "many", many, SINK_MAX_FILES,
	    &meta_x509, (uid_t)-1, (gid_t)-1, 0750, NULL), 1);
	for (i = 0; i < SINK_MAX_FILES + 1; i++)
		free((char *)many[i].name);
	assert_int_equal(count_gens(f, "many", &tmp), 1);
	assert_int_equal(tmp, 0);
	assert_int_equal(count_gens(f, CRED, &tmp), 1);
	assert_int_equal(tmp, 0);
}

static void
test_read_errors(void **state)
{
	struct fx *f = *state;
	struct sink_current cur;
	char p[PATH_MAX];
	struct set st;
	size_t len;
	char *buf;

	assert_int_equal(sink_read_current(f->s, CRED, &cur), -ENOENT);
	assert_int_equal(sink_read_file(f->s, CRED, "cert.pem", &buf, &len),
	    -ENOENT);
	assert_int_equal(sink_repair(f->s, CRED), 0);
	assert_int_equal(mkdir(path_of(f, CRED, p), 0755), 0);
	assert_int_equal(sink_read_current(f->s, CRED, &cur), -ENOENT);
	assert_int_equal(sink_repair(f->s, CRED), 0);
	set_make(&st, "e1");
	assert_int_equal(publish(f, &st, NULL), 1);
	assert_int_equal(sink_read_file(f->s, CRED, "nope.pem", &buf, &len),
	    -ENOENT);
	assert_int_equal(sink_read_file(f->s, CRED, "meta.json", &buf,
	    &len), 0);
	assert_non_null(strstr(buf, "\"generation\": 1"));
	free(buf);
}

/* Plants an entry of type 'l' (symlink to arg), 'd' or 'f' below DIR. */
static void
plant(struct fx *f, const char *rel, char type, const char *arg)
{
	char p[PATH_MAX], q[PATH_MAX];
	int fd;

	ut_snprintf(q, sizeof(q), CRED "/%s", rel);
	path_of(f, q, p);
	if (type == 'l') {
		assert_int_equal(symlink(arg, p), 0);
	} else if (type == 'd') {
		assert_int_equal(mkdir(p, 0700), 0);
	} else {
		fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
		assert_true(fd >= 0);
		if (arg != NULL)
			assert_int_equal(write(fd, arg, strlen(arg)),
			    (ssize_t)strlen(arg));
		close(fd);
	}
}

static int
exists(struct fx *f, const char *rel)
{
	char p[PATH_MAX], q[PATH_MAX];
	struct stat sb;

	ut_snprintf(q, sizeof(q), CRED "/%s", rel);
	return lstat(path_of(f, q, p), &sb) == 0;
}

static void
test_repair_temporaries(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX], gen[64], t[PATH_MAX];
	struct set st;
	int tmp;

	set_make(&st, "t1");
	assert_int_equal(publish(f, &st, NULL), 1);
	assert_true(link_of(f, CRED "/..data", gen, sizeof(gen)) > 0);

	plant(f, "..data_tmp", 'l', "..2020_01_01_00_00_00.000000000");
	plant(f, "..2020_01_01_00_00_00.000000000.tmp", 'd', NULL);
	plant(f, "..2020_01_01_00_00_00.000000000.tmp/cert.pem", 'f', "x");
	plant(f, "..2020_01_01_00_00_00.000000000.tmp/meta.json", 'f', "{");
	plant(f, "cert.pem.tmp", 'l', "..data/cert.pem");
	plant(f, "old.pem", 'l', "..data/old.pem");
	plant(f, "notes.tmp", 'f', "operator notes");
	plant(f, "other.tmp", 'l', "/etc/passwd");
	assert_int_equal(unlink(path_of(f, CRED "/key.pem", p)), 0);

	assert_int_equal(sink_repair(f->s, CRED), 0);
	assert_false(exists(f, "..data_tmp"));
	assert_false(exists(f, "..2020_01_01_00_00_00.000000000.tmp"));
	assert_false(exists(f, "cert.pem.tmp"));
	assert_false(exists(f, "old.pem"));
	/* Entries rotatord could not have made are not its to delete. */
	assert_true(exists(f, "notes.tmp"));
	assert_true(exists(f, "other.tmp"));
	assert_true(link_of(f, CRED "/key.pem", t, sizeof(t)) > 0);
	assert_string_equal(t, "..data/key.pem");
	assert_true(link_of(f, CRED "/..data", t, sizeof(t)) > 0);
	assert_string_equal(t, gen);
	assert_int_equal(count_gens(f, CRED, &tmp), 1);
	assert_int_equal(tmp, 2);
	/* Idempotent. */
	assert_int_equal(sink_repair(f->s, CRED), 0);
	assert_int_equal(count_gens(f, CRED, NULL), 1);
}

/*
 * A swap that fails (here: a directory planted at "..data_tmp") must leave
 * the old generation exactly as visible as it was, links included.
 */
static void
test_swap_failure(void **state)
{
	struct fx *f = *state;
	char a[64], t[PATH_MAX], p[PATH_MAX];
	struct set st;
	int tmp;

	set_make(&st, "w1");
	st.f[st.n++] = (struct material_file){ "extra.pem", "E", 1, 0644 };
	assert_int_equal(publish(f, &st, NULL), 1);
	assert_true(link_of(f, CRED "/..data", a, sizeof(a)) > 0);
	plant(f, "..data_tmp", 'd', NULL);
	set_make(&st, "w2");
	assert_int_equal(publish(f, &st, NULL), -EISDIR);
	assert_true(link_of(f, CRED "/..data", t, sizeof(t)) > 0);
	assert_string_equal(t, a);
	assert_true(link_of(f, CRED "/extra.pem", t, sizeof(t)) > 0);
	assert_string_equal(t, "..data/extra.pem");
	assert_int_equal(count_gens(f, CRED, &tmp), 1);
	assert_int_equal(tmp, 1);
	/* Not a link of ours: repair reports it rather than deleting it. */
	assert_int_equal(sink_repair(f->s, CRED), -EISDIR);
	assert_int_equal(rmdir(path_of(f, CRED "/..data_tmp", p)), 0);
	assert_int_equal(publish(f, &st, NULL), 1);
	assert_false(exists(f, "extra.pem"));
}

static void
test_repair_broken_current(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX], q[PATH_MAX], g[3][64], t[64];
	struct sink_current cur;
	struct set st;
	uint64_t gen = 0;
	int fd, i;

	for (i = 0; i < 3; i++) {
		ut_snprintf(t, sizeof(t), "b%d", i);
		set_make(&st, t);
		assert_int_equal(publish(f, &st, NULL), 1);
		assert_true(link_of(f, CRED "/..data", g[i], sizeof(g[i])) > 0);
	}
	/* An orphan newer than current: made, never swapped in. */
	plant(f, "..2999_01_01_00_00_00.000000000", 'd', NULL);
	plant(f, "..2999_01_01_00_00_00.000000000/meta.json", 'f', "{}");

	/* Current loses its meta.json: back to the newest complete one. */
	ut_snprintf(q, sizeof(q), CRED "/%s/meta.json", g[2]);
	assert_int_equal(unlink(path_of(f, q, p)), 0);
	assert_int_equal(sink_repair(f->s, CRED), 0);
	assert_true(link_of(f, CRED "/..data", t, sizeof(t)) > 0);
	assert_string_equal(t, g[1]);
	/* Not what the state record names: nothing to reuse. */
	assert_int_equal(sink_read_current(f->s, CRED, &cur), -ESTALE);
	assert_int_equal(cur.generation, 3);
	assert_non_null(strstr(cur.why, g[2]));
	assert_false(exists(f, "..2999_01_01_00_00_00.000000000"));
	assert_false(exists(f, g[2]));

	/* A corrupted file is incomplete too. */
	ut_snprintf(q, sizeof(q), CRED "/%s/key.pem", g[1]);
	fd = open(path_of(f, q, p), O_WRONLY | O_TRUNC | O_NOFOLLOW);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "bad", 3), 3);
	close(fd);
	assert_int_equal(sink_repair(f->s, CRED), 0);
	assert_true(link_of(f, CRED "/..data", t, sizeof(t)) > 0);
	assert_string_equal(t, g[0]);
	assert_int_equal(count_gens(f, CRED, NULL), 1);

	/* Numbers continue from the state record: never back. */
	set_make(&st, "b9");
	assert_int_equal(publish(f, &st, &gen), 1);
	assert_int_equal(gen, 4);

	/* ..data lost altogether: the complete generation is adopted. */
	assert_int_equal(unlink(path_of(f, CRED "/..data", p)), 0);
	assert_int_equal(sink_repair(f->s, CRED), 0);
	assert_int_equal(sink_read_current(f->s, CRED, &cur), 0);
	assert_int_equal(cur.generation, 4);

	/* Nothing complete left: repair says so and touches nothing. */
	assert_true(link_of(f, CRED "/..data", t, sizeof(t)) > 0);
	ut_snprintf(q, sizeof(q), CRED "/%s/meta.json", t);
	assert_int_equal(unlink(path_of(f, q, p)), 0);
	ut_snprintf(q, sizeof(q), CRED "/%s/meta.json", g[0]);
	assert_int_equal(unlink(path_of(f, q, p)), 0);
	assert_int_equal(sink_repair(f->s, CRED), -ENOENT);
	assert_true(link_of(f, CRED "/..data", q, sizeof(q)) > 0);
	assert_string_equal(q, t);
	/* The same content over a broken current is a new generation. */
	assert_int_equal(sink_read_current(f->s, CRED, &cur), -ENOENT);
	assert_int_equal(publish(f, &st, &gen), 1);
	assert_int_equal(gen, 5);
	assert_int_equal(sink_read_current(f->s, CRED, &cur), 0);
	assert_int_equal(cur.generation, 5);
}

static void
test_clock_behind(void **state)
{
	struct fx *f = *state;
	char t[64];
	struct set st;

	set_make(&st, "k1");
	assert_int_equal(publish(f, &st, NULL), 1);
	/* A generation from the future (clock stepped back) sorts first. */
	plant(f, "..2999_12_31_23_59_59.999999999", 'd', NULL);
	set_make(&st, "k2");
	assert_int_equal(publish(f, &st, NULL), 1);
	assert_true(link_of(f, CRED "/..data", t, sizeof(t)) > 0);
	assert_string_equal(t, "..3000_01_01_00_00_00.000000000");
	set_make(&st, "k3");
	assert_int_equal(publish(f, &st, NULL), 1);
	assert_true(link_of(f, CRED "/..data", t, sizeof(t)) > 0);
	assert_string_equal(t, "..3000_01_01_00_00_00.000000001");
}

/*
 * The crash invariant, checked with plain path operations like a reader
 * would: "..data" names a complete generation (meta.json parses, every
 * file matches its hash and size) and every visible link of ours resolves
 * into it.  After a repair, nothing temporary is left, every file has its
 * link, and no more than 1 + keep_old generations remain.  Returns the
 * current generation number and counts temporaries in *ret_tmp.
 */
static uint64_t
check_invariant(struct fx *f, int repaired, int *ret_tmp)
{
	char p[PATH_MAX], q[PATH_MAX], gen[64], t[PATH_MAX], hex[65];
	json_t *m, *files, *e;
	json_error_t jerr;
	struct sink_record rec;
	const char *name;
	struct dirent *d;
	struct stat sb;
	uint64_t g;
	size_t len;
	char *buf;
	DIR *dp;
	int tmp, n_gens;

	assert_true(link_of(f, CRED "/..data", gen, sizeof(gen)) > 0);
	assert_int_equal(regexec(&gen_re, gen, 0, NULL, 0), 0);
	ut_snprintf(q, sizeof(q), CRED "/%s/meta.json", gen);
	m = json_load_file(path_of(f, q, p), JSON_REJECT_DUPLICATES, &jerr);
	assert_non_null(m);
	g = (uint64_t)json_integer_value(json_object_get(m, "generation"));
	assert_true(g >= 1);
	files = json_object_get(m, "files");
	assert_true(json_object_size(files) >= 3);
	json_object_foreach(files, name, e) {
		const char *h = json_string_value(json_object_get(e, "sha256"));

		ut_snprintf(q, sizeof(q), CRED "/%s/%s", gen, name);
		buf = ut_read_file(path_of(f, q, p), UT_NOFOLLOW, &len);
		assert_non_null(buf);
		sha_hex(buf, len, hex);
		free(buf);
		/* Keys carry no digest in meta.json; public files do. */
		if (strcmp(name, "cert.pem") == 0 ||
		    strcmp(name, "chain.pem") == 0)
			assert_non_null(h);
		if (strcmp(name, "key.pem") == 0 ||
		    strcmp(name, "bundle.pem") == 0)
			assert_null(h);
		if (h != NULL)
			assert_string_equal(hex, h);
		assert_int_equal(len, json_integer_value(json_object_get(e,
		    "size")));
		ut_snprintf(q, sizeof(q), CRED "/%s", name);
		if (repaired)
			assert_int_equal(lstat(path_of(f, q, p), &sb), 0);
	}

	dp = opendir(path_of(f, CRED, p));
	assert_non_null(dp);
	while ((d = readdir(dp)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		len = strlen(d->d_name);
		if (len > 4 && strcmp(d->d_name + len - 4, ".tmp") == 0)
			continue;
		/* A visible link: ours, and resolving into this generation. */
		ut_snprintf(q, sizeof(q), CRED "/%s", d->d_name);
		assert_true(link_of(f, q, t, sizeof(t)) > 0);
		ut_snprintf(q, sizeof(q), "..data/%s", d->d_name);
		assert_string_equal(t, q);
		assert_non_null(json_object_get(files, d->d_name));
		ut_snprintf(q, sizeof(q), CRED "/%s", d->d_name);
		assert_int_equal(stat(path_of(f, q, p), &sb), 0);
		assert_true(S_ISREG(sb.st_mode));
	}
	closedir(dp);
	json_decref(m);

	/* The state record is stored first: never below what is visible. */
	ut_snprintf(p, sizeof(p), "%s/creds/" CRED ".json", f->state);
	buf = ut_read_file(p, UT_NOFOLLOW, &len);
	assert_non_null(buf);
	assert_int_equal(sink_record_parse(buf, len, &rec), 0);
	free(buf);
	assert_true(rec.generation >= g);
	if (strcmp(rec.gen_dir, gen) == 0)
		assert_int_equal(rec.generation, g);

	n_gens = count_gens(f, CRED, &tmp);
	if (repaired) {
		struct sink_current cur;
		int r;

		assert_int_equal(tmp, 0);
		assert_true(n_gens >= 1 && n_gens <= 1 + SINK_KEEP_OLD);
		/* Reusable exactly when the record names what is current. */
		r = sink_read_current(f->s, CRED, &cur);
		if (strcmp(rec.gen_dir, gen) == 0) {
			assert_int_equal(r, 0);
			assert_int_equal(cur.generation, g);
		} else
			assert_int_equal(r, -ESTALE);
	}
	if (ret_tmp != NULL)
		*ret_tmp = tmp;
	return g;
}

/*
 * Publishes changing content until killed; never returns.  Writes one byte
 * to ready first, so the parent's random delay starts inside the loop.
 */
static void
child_loop(struct fx *f, int ready)
{
	char tag[64];
	struct set st;
	unsigned i;
	int r;

	if (write(ready, "r", 1) != 1)
		_exit(99);
	close(ready);
	for (i = 0;; i++) {
		ut_snprintf(tag, sizeof(tag), "%ld-%u", (long)getpid(), i);
		set_make(&st, tag);
		/* Names come and go, to exercise link removal and creation. */
		if (i % 3 == 0)
			st.f[st.n++] = (struct material_file){ "extra.pem", "E", 1,
			    0644 };
		if (i % 5 == 0)
			st.n = 3;
		r = publish(f, &st, NULL);
		if (r < 0)
			_exit(100 + (-r & 0x7f));
	}
}

static void
test_crash_kill(void **state)
{
	struct fx *f = *state;
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	int i, kills = 0, dirty = 0, status, tmp;
	uint64_t g, last = 0;
	struct set st;
	int pfd[2];
	char c;
	pid_t pid;

	set_make(&st, "base");
	assert_int_equal(publish(f, &st, NULL), 1);
	srand(seed);
	for (i = 0; i < 200; i++) {
		fflush(NULL);
		assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(pfd[0]);
			child_loop(f, pfd[1]);
		}
		close(pfd[1]);
		assert_int_equal(read(pfd[0], &c, 1), 1);
		close(pfd[0]);
		usleep((useconds_t)(rand() % 2001));
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (WIFEXITED(status))
			fail_msg("publisher exited with %d (seed %u)",
			    WEXITSTATUS(status), seed);
		assert_true(WIFSIGNALED(status) &&
		    WTERMSIG(status) == SIGKILL);
		kills++;

		/* Straight after the kill, before any repair. */
		g = check_invariant(f, 0, &tmp);
		assert_true(g >= last);
		if (tmp > 0)
			dirty++;
		assert_int_equal(sink_repair(f->s, CRED), 0);
		g = check_invariant(f, 1, NULL);
		assert_true(g >= last);
		last = g;
	}
	print_message("[ INFO     ] %d SIGKILLs, %d left temporaries,"
	    " last generation %llu, seed %u\n", kills, dirty,
	    (unsigned long long)last, seed);
	assert_int_equal(kills, 200);
}

/* ---- state records ------------------------------------------------------ */

static void
record_sample(struct sink_record *r)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->dir, sizeof(r->dir), "web");
	snprintf(r->name, sizeof(r->name), "web \"q\" \\");
	snprintf(r->type, sizeof(r->type), "x509");
	snprintf(r->spec, sizeof(r->spec), "abc");
	snprintf(r->gen_dir, sizeof(r->gen_dir),
	    "..2026_11_29_04_50_01.123456789");
	r->generation = 42;
	r->issued_at = -5;
	r->not_before = 1000;
	r->not_after = 2000;
	r->renew_at = 1500;
	r->uid = 33;
	r->gid = 44;
	r->dir_mode = 0750;
	r->n_files = 2;
	snprintf(r->files[0].name, sizeof(r->files[0].name), "key.pem");
	memset(r->files[0].sha256, 'a', 64);
	r->files[0].size = 7;
	r->files[0].mode = 0600;
	snprintf(r->files[1].name, sizeof(r->files[1].name), "meta.json");
	memset(r->files[1].sha256, '0', 64);
	r->files[1].size = 300;
	r->files[1].mode = 0644;
}

/* Parses buf with the first occurrence of from replaced by to. */
static int
parse_edited(const char *buf, const char *from, const char *to)
{
	struct sink_record r;
	char out[8192];
	const char *p = strstr(buf, from);
	size_t a;

	assert_non_null(p);
	a = (size_t)(p - buf);
	assert_true(a + strlen(to) + strlen(p + strlen(from)) < sizeof(out));
	memcpy(out, buf, a);
	strcpy(out + a, to);
	strcat(out, p + strlen(from));
	return sink_record_parse(out, strlen(out), &r);
}

static void
test_record_format_parse(void **state)
{
	static const char *const edits[][2] = {
		{ "\"version\": 1", "\"version\": 2" },
		{ "\"dir\": \"web\"", "\"dir\": \"../web\"" },
		{ "\"dir\": \"web\"", "\"dir\": \".web\"" },
		{ "\"generation\": 42", "\"generation\": 0" },
		{ "\"generation\": 42", "\"generation\": 9007199254740993" },
		{ "\"generation\": 42", "\"generation\": \"42\"" },
		{ "\"gen_dir\": \"..2026", "\"gen_dir\": \"../2026" },
		{ "123456789\"", "123456789.tmp\"" },
		{ "\"uid\": 33", "\"uid\": -1" },
		{ "\"uid\": 33", "\"uid\": 4294967295" },
		{ "\"dir_mode\": \"0750\"", "\"dir_mode\": \"0770\"" },
		{ "\"dir_mode\": \"0750\"", "\"dir_mode\": \"0650\"" },
		{ "\"dir_mode\": \"0750\"", "\"dir_mode\": 488" },
		{ "\"mode\": \"0600\"", "\"mode\": \"0602\"" },
		{ "\"mode\": \"0600\"", "\"mode\": \"4600\"" },
		{ "\"mode\": \"0600\"", "\"mode\": \"0608\"" },
		{ "aaaa", "AAAA" },
		{ "aaaa", "aaa" },
		{ "\"size\": 7", "\"size\": -1" },
		{ "\"size\": 7", "\"size\": 1048577" },
		{ "\"size\": 300", "\"size\": 65537" },
		{ "\"meta.json\"", "\"meta2.json\"" },
		{ "\"key.pem\"", "\"meta.json\"" },
		{ "\"key.pem\"", "\"k/ey\"" },
		{ "\"spec\": \"abc\"", "\"spec\": 1" },
		{ "\"issued_at\": -5", "\"issued_at\": 1.5" },
		{ "\"type\": \"x509\"", "\"type\": \"x\\u0001\"" },
		{ "\n}\n", "\n}\n{}" },
		{ "\"version\": 1", "\"version\": 1, \"version\": 1" },
	};
	struct sink_record r, back;
	char buf[8192];
	ssize_t n;
	size_t i;

	(void)state;
	record_sample(&r);
	n = sink_record_format(&r, buf, sizeof(buf));
	assert_true(n > 0);
	buf[n] = '\0';
	assert_int_equal(sink_record_parse(buf, (size_t)n, &back), 0);
	assert_memory_equal(&r, &back, sizeof(r));
	/* Too small a buffer is refused, not truncated. */
	assert_int_equal(sink_record_format(&r, buf, 64), -E2BIG);
	n = sink_record_format(&r, buf, sizeof(buf));
	buf[n] = '\0';
	for (i = 0; i < sizeof(edits) / sizeof(edits[0]); i++)
		if (parse_edited(buf, edits[i][0], edits[i][1]) != -EBADMSG)
			fail_msg("edit %zu (%s -> %s) accepted", i, edits[i][0],
			    edits[i][1]);
	/* Without meta.json, or with no file at all. */
	r.n_files = 1;
	n = sink_record_format(&r, buf, sizeof(buf));
	assert_int_equal(sink_record_parse(buf, (size_t)n, &back), -EBADMSG);
	assert_int_equal(sink_record_parse("", 0, &back), -EBADMSG);
	assert_int_equal(sink_record_parse("[]", 2, &back), -EBADMSG);
	assert_int_equal(sink_record_parse(NULL, 0, &back), -EBADMSG);
}

/* Path of the state record of dir. */
static char *
record_of(struct fx *f, const char *dir, char *buf)
{
	ut_snprintf(buf, PATH_MAX, "%s/creds/%s.json", f->state, dir);
	return buf;
}

static void
test_record_untrusted(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX], q[PATH_MAX];
	struct sink_current cur;
	struct sink *other;
	struct set st;
	uint64_t g = 0, want = 1;
	size_t len;
	char *buf;
	int i, fd;

	set_make(&st, "u");
	assert_int_equal(publish(f, &st, &g), 1);
	record_of(f, CRED, p);
	for (i = 0; i < 6; i++) {
		const char *why;
		int rc;

		switch (i) {
		case 0:
			assert_int_equal(chmod(p, 0644), 0);
			why = "mode 0644";
			rc = -EPERM;
			break;
		case 1:
			assert_int_equal(chown(p, 65534, 65534), 0);
			why = "owned by uid 65534";
			rc = -EPERM;
			break;
		case 2:
			ut_snprintf(q, sizeof(q), "%s/copy.json", f->root);
			assert_int_equal(rename(p, q), 0);
			assert_int_equal(symlink(q, p), 0);
			why = "symlink";
			rc = -EPERM;
			break;
		case 3:
			assert_int_equal(unlink(p), 0);
			assert_int_equal(mkfifo(p, 0600), 0);
			why = "not a regular file";
			rc = -EPERM;
			break;
		case 4:
			fd = open(p, O_WRONLY | O_TRUNC | O_NOFOLLOW);
			assert_true(fd >= 0);
			assert_int_equal(write(fd, "{}", 2), 2);
			close(fd);
			why = "malformed";
			rc = -EBADMSG;
			break;
		default:
			assert_int_equal(unlink(p), 0);
			why = "no state record";
			rc = -ENOENT;
			break;
		}
		/* A new handle: nothing cached, everything from disk. */
		assert_int_equal(sink_open(f->out, f->state, &other), 0);
		assert_int_equal(sink_read_current(other, CRED, &cur), rc);
		assert_non_null(strstr(cur.why, why));
		assert_int_equal(cur.generation, 0);
		assert_int_equal(sink_read_file(other, CRED, "key.pem", &buf,
		    &len), i == 3 || i == 4 ? rc : i == 5 ? -ESTALE : -EPERM);
		/* The same content is not "unchanged" without a record. */
		assert_int_equal(sink_publish(other, CRED, st.f, st.n,
		    &meta_x509, (uid_t)-1, (gid_t)-1, 0750, &g), 1);
		assert_true(g > want);
		want = g;
		assert_int_equal(sink_read_current(other, CRED, &cur), 0);
		sink_close(other);
		/* Replaced by a record of ours, never followed. */
		assert_int_equal(mode_of(p), 0600);
		if (i == 2) {
			buf = ut_read_file(q, UT_NOFOLLOW, &len);
			assert_non_null(buf);
			assert_non_null(strstr(buf, "\"generation\": 3,"));
			free(buf);
		}
	}
}

/* Rewrites output_dir/CRED/..data/name with data, keeping owner and mode. */
static void
tamper(struct fx *f, const char *name, const char *data)
{
	char p[PATH_MAX], q[PATH_MAX], gen[64];
	int fd;

	assert_true(link_of(f, CRED "/..data", gen, sizeof(gen)) > 0);
	ut_snprintf(q, sizeof(q), CRED "/%s/%s", gen, name);
	fd = open(path_of(f, q, p), O_WRONLY | O_TRUNC | O_NOFOLLOW);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	close(fd);
}

static void
test_tampered_generation(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX], q[PATH_MAX], gen[64], h1[65], h2[65];
	struct sink_current cur;
	struct sink *other;
	struct stat s1, s2;
	struct set st;
	uint64_t g = 0;
	size_t len;
	char *buf;

	set_make(&st, "t");
	assert_int_equal(publish(f, &st, &g), 1);
	assert_int_equal(sink_read_current(f->s, CRED, &cur), 0);

	/* Same size, other bytes: a key swapped by the directory's owner. */
	tamper(f, "key.pem", "KEY XX\n");
	assert_int_equal(sink_read_current(f->s, CRED, &cur), -EBADMSG);
	assert_non_null(strstr(cur.why, "key.pem differs"));
	assert_int_equal(cur.generation, 1);
	assert_int_equal(sink_read_file(f->s, CRED, "key.pem", &buf, &len),
	    -EBADMSG);
	assert_int_equal(sink_read_file(f->s, CRED, "cert.pem", &buf, &len),
	    0);
	free(buf);
	/* A restarted publisher does not call it unchanged. */
	assert_int_equal(sink_open(f->out, f->state, &other), 0);
	assert_int_equal(sink_publish(other, CRED, st.f, st.n, &meta_x509,
	    (uid_t)-1, (gid_t)-1, 0750, &g), 1);
	assert_int_equal(g, 2);
	sink_close(other);
	assert_int_equal(sink_read_current(f->s, CRED, &cur), 0);

	/* meta.json is checked too: a later not_after is a change. */
	assert_true(link_of(f, CRED "/..data", gen, sizeof(gen)) > 0);
	ut_snprintf(q, sizeof(q), CRED "/%s/meta.json", gen);
	buf = ut_read_file(path_of(f, q, p), UT_NOFOLLOW, &len);
	assert_non_null(buf);
	assert_non_null(strstr(buf, "\"not_after\": 2000"));
	memcpy(strstr(buf, "\"not_after\": 2000") + 13, "9000", 4);
	tamper(f, "meta.json", buf);
	free(buf);
	assert_int_equal(sink_read_current(f->s, CRED, &cur), -EBADMSG);
	assert_non_null(strstr(cur.why, "meta.json differs"));
	assert_int_equal(sink_read_file(f->s, CRED, "meta.json", &buf, &len),
	    -EBADMSG);
	assert_int_equal(publish(f, &st, &g), 1);
	assert_int_equal(g, 3);

	/* Another mode, another owner: not what was published. */
	assert_true(link_of(f, CRED "/..data", gen, sizeof(gen)) > 0);
	ut_snprintf(q, sizeof(q), CRED "/%s/cert.pem", gen);
	assert_int_equal(chmod(path_of(f, q, p), 0600), 0);
	assert_int_equal(sink_read_current(f->s, CRED, &cur), -EPERM);
	assert_non_null(strstr(cur.why, "cert.pem is"));
	assert_int_equal(chmod(p, 0644), 0);
	assert_int_equal(sink_read_current(f->s, CRED, &cur), 0);
	ut_snprintf(q, sizeof(q), CRED "/%s", gen);
	assert_int_equal(chown(path_of(f, q, p), 65534, 65534), 0);
	assert_int_equal(sink_read_current(f->s, CRED, &cur), -EPERM);
	assert_non_null(strstr(cur.why, "65534:65534"));
	assert_int_equal(chown(p, geteuid(), getegid()), 0);
	assert_int_equal(sink_read_current(f->s, CRED, &cur), 0);

	/* A file swapped for a symlink is not followed. */
	fingerprint("/etc/passwd", h1, &s1);
	ut_snprintf(q, sizeof(q), CRED "/%s/key.pem", gen);
	assert_int_equal(unlink(path_of(f, q, p)), 0);
	assert_int_equal(symlink("/etc/passwd", p), 0);
	assert_int_equal(sink_read_current(f->s, CRED, &cur), -ELOOP);
	assert_non_null(strstr(cur.why, "key.pem is a symlink"));
	assert_int_equal(sink_read_file(f->s, CRED, "key.pem", &buf, &len),
	    -ELOOP);
	assert_int_equal(publish(f, &st, &g), 1);
	assert_int_equal(g, 4);
	fingerprint("/etc/passwd", h2, &s2);
	assert_string_equal(h1, h2);
	assert_int_equal(s1.st_mtim.tv_nsec, s2.st_mtim.tv_nsec);
}

static void
test_foreign_cred_dir(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX];
	struct sink_current cur;
	struct set st;
	size_t len;
	char *buf;

	set_make(&st, "o");
	assert_int_equal(publish(f, &st, NULL), 1);
	/* A credential directory of another user: it could swap ..data. */
	assert_int_equal(chown(path_of(f, CRED, p), 65534, 65534), 0);
	set_make(&st, "o2");
	assert_int_equal(publish(f, &st, NULL), -EPERM);
	assert_int_equal(sink_repair(f->s, CRED), -EPERM);
	assert_int_equal(sink_read_current(f->s, CRED, &cur), -EPERM);
	assert_int_equal(sink_read_file(f->s, CRED, "cert.pem", &buf, &len),
	    -EPERM);
	assert_int_equal(count_gens(f, CRED, NULL), 1);
	assert_int_equal(chown(p, geteuid(), getegid()), 0);
	/* Ours, but writable by the group. */
	assert_int_equal(chmod(p, 0775), 0);
	assert_int_equal(publish(f, &st, NULL), -EPERM);
	assert_int_equal(chmod(p, 0755), 0);
	assert_int_equal(publish(f, &st, NULL), 1);
	/* An output_dir/NAME planted before the first publish. */
	assert_int_equal(mkdir(path_of(f, "planted", p), 0755), 0);
	assert_int_equal(chown(p, 65534, 65534), 0);
	assert_int_equal(sink_publish(f->s, "planted", st.f, st.n, &meta_x509,
	    (uid_t)-1, (gid_t)-1, 0750, NULL), -EPERM);
	assert_int_equal(count_gens(f, "planted", NULL), 0);
}

static void
test_planted_data_tmp(void **state)
{
	struct fx *f = *state;
	char victim[PATH_MAX], t[64];
	struct stat sb;
	struct set st;
	size_t len;
	char *buf;
	int fd;

	ut_snprintf(victim, sizeof(victim), "%s/victim", f->root);
	fd = open(victim, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "precious", 8), 8);
	close(fd);
	set_make(&st, "v1");
	assert_int_equal(publish(f, &st, NULL), 1);
	/* A "..data_tmp" to a file outside: removed as a link. */
	plant(f, "..data_tmp", 'l', victim);
	assert_int_equal(sink_repair(f->s, CRED), 0);
	assert_false(exists(f, "..data_tmp"));
	/* And one met by a publish is replaced, never followed. */
	plant(f, "..data_tmp", 'l', victim);
	set_make(&st, "v2");
	assert_int_equal(publish(f, &st, NULL), 1);
	assert_false(exists(f, "..data_tmp"));
	assert_true(link_of(f, CRED "/..data", t, sizeof(t)) > 0);
	assert_int_equal(regexec(&gen_re, t, 0, NULL, 0), 0);
	buf = ut_read_file(victim, UT_NOFOLLOW, &len);
	assert_non_null(buf);
	assert_string_equal(buf, "precious");
	free(buf);
	assert_int_equal(lstat(victim, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
}

static void
test_state_dir_trust(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX], q[PATH_MAX];
	struct sink *other;
	struct stat sb;
	int fd;

	/* Writable by others: anyone could plant CA keys or records. */
	assert_int_equal(chmod(f->state, 0770), 0);
	assert_int_equal(sink_open(f->out, f->state, &other), -EPERM);
	assert_int_equal(chmod(f->state, 0755), 0);
	assert_int_equal(chown(f->state, 65534, 65534), 0);
	assert_int_equal(sink_open(f->out, f->state, &other), -EPERM);
	assert_int_equal(chown(f->state, geteuid(), getegid()), 0);
	assert_int_equal(chmod(f->state, 0700), 0);

	ut_snprintf(p, sizeof(p), "%s/creds", f->state);
	/* creds of another user, or a symlink: refused. */
	assert_int_equal(chown(p, 65534, 65534), 0);
	assert_int_equal(sink_open(f->out, f->state, &other), -EPERM);
	assert_int_equal(chown(p, geteuid(), getegid()), 0);
	ut_snprintf(q, sizeof(q), "%s/elsewhere", f->root);
	assert_int_equal(rename(p, q), 0);
	assert_int_equal(symlink(q, p), 0);
	assert_int_equal(sink_open(f->out, f->state, &other), -EPERM);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(rename(q, p), 0);
	/* Group bits of ours are dropped; leftover temporaries removed. */
	assert_int_equal(chmod(p, 0750), 0);
	ut_snprintf(q, sizeof(q), "%s/.x.json.tmp", p);
	fd = open(q, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(sink_open(f->out, f->state, &other), 0);
	sink_close(other);
	assert_int_equal(mode_of(p), 0700);
	assert_int_equal(lstat(q, &sb), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_first_publish_umask_022,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_publish_umask_077,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_default_dir_mode_and_owner,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_record_in_place, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unchanged, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_spec, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changed_keeps_previous,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_set_changes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_foreign_visible_symlink,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_link_steady,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_data_link, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_planted_regular_file,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_cred_dir_not_a_dir, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_read_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_repair_temporaries, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_swap_failure, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_repair_broken_current,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_clock_behind, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_crash_kill, setup,
		    teardown),
		cmocka_unit_test(test_record_format_parse),
		cmocka_unit_test_setup_teardown(test_record_untrusted, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tampered_generation, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_foreign_cred_dir, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_planted_data_tmp, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_state_dir_trust, setup,
		    teardown),
	};
	int r;

	/* Refusals and repairs log warnings; the assertions say enough. */
	log_setup(LOG_ERR, 0);
	if (regcomp(&gen_re, GEN_RE, REG_EXTENDED | REG_NOSUB) != 0)
		return 1;
	r = cmocka_run_group_tests(tests, NULL, NULL);
	regfree(&gen_re);
	return r;
}
