/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rotatord: keeps short-lived credentials fresh for the services beside it.
 *
 * main() parses argv, loads the config and hands it to the daemon.  It
 * stays in the foreground: systemd (Type=notify) supervises it.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sysexits.h>

#include <idp/idp.h>

#include "config/config.h"
#include "config/secretref.h"
#include "core/log.h"
#include "core/notify.h"
#include "daemon/daemon.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: rotatord [-c FILE] [--check-config] [--once] [--version] [--help]\n"
	    "  -c, --config FILE   configuration (default " CONFIG_DEFAULT_PATH ")\n"
	    "      --check-config  validate the configuration and exit (0 or 78)\n"
	    "      --once          bring every credential up to date, reload, exit\n"
	    "      --version       print the version and exit\n"
	    "  -h, --help          this text\n");
}

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "config",		required_argument,	NULL, 'c' },
		{ "check-config",	no_argument,		NULL, 'C' },
		{ "once",		no_argument,		NULL, 'o' },
		{ "version",		no_argument,		NULL, 'V' },
		{ "help",		no_argument,		NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = CONFIG_DEFAULT_PATH;
	struct config *c = NULL;
	struct daemon *d = NULL;
	struct rlimit nocore = { 0, 0 };
	int ch, check = 0, once = 0, rc;

	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'C':
			check = 1;
			break;
		case 'o':
			once = 1;
			break;
		case 'V':
			printf("rotatord %s (libidp %s)\n", ROTATORD_VERSION,
			    idp_version());
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EX_USAGE;
	}

	/* Key material must never reach a core file or another process. */
	setrlimit(RLIMIT_CORE, &nocore);
	prctl(PR_SET_DUMPABLE, 0);
	umask(077);

	/*
	 * Whatever keeps the configuration from being used (missing,
	 * unreadable, too large, invalid) is EX_CONFIG; config_load() has
	 * printed the path and the reason.  Only running out of memory is not.
	 */
	rc = config_load(path, stderr, &c);
	if (rc < 0)
		return rc == -ENOMEM ? 1 : EX_CONFIG;
	if (check) {
		config_free(c);
		return 0;
	}
	/*
	 * env: secrets leave the environment before anything can see it;
	 * on -ENOMEM a variable stays and is taken at its first use.
	 */
	secretref_take_env(c);
	log_setup(c->log_level, c->log_format == LOG_FORMAT_JSON);
	notify_init();
	log_notice("rotatord %s starting with %s: %zu credentials, %zu CAs, "
	    "%zu signers", ROTATORD_VERSION, path, c->n_creds, c->n_cas,
	    c->n_signers);
	if ((rc = daemon_new(c, once ? DAEMON_ONCE : 0, &d)) < 0) {
		log_err("cannot start: %s", strerror(-rc));
		return 1;
	}
	rc = daemon_run(d);
	daemon_free(d);
	secretref_forget_env();
	return rc;
}
