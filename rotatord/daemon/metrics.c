/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics.c: GET /metrics, the Prometheus text of every credential, reload
 * target, upstream issuer and the cluster.  Reads the runtime; changes
 * nothing, and keeps the metric names (dashboards and alerts use them).
 */
#include <stdio.h>

#include "core/loop.h"
#include "daemon/daemon_int.h"
#include "fleet/fleet.h"
#include "sinks/reload.h"
#include "sources/upstream.h"

/* See daemon_int.h. */
void
api_metrics(void *arg, FILE *out)
{
	struct daemon *d = arg;
	struct runtime *rt = d->rt;
	int64_t now = loop_now_wall();
	size_t i;

	fprintf(out, "# HELP rotatord_build_info rotatord version.\n"
	    "# TYPE rotatord_build_info gauge\n"
	    "rotatord_build_info{version=\"%s\"} 1\n", ROTATORD_VERSION);
	fprintf(out, "# HELP rotatord_credential_expiry_timestamp_seconds "
	    "notAfter / exp of the published generation.\n"
	    "# TYPE rotatord_credential_expiry_timestamp_seconds gauge\n");
	for (i = 0; i < rt->cfg->n_creds; i++)
		if (rt->creds[i].published)
			fprintf(out, "rotatord_credential_expiry_timestamp_seconds"
			    "{name=\"%s\",type=\"%s\"} %lld\n",
			    rt->creds[i].cfg->name,
			    type_name(rt->creds[i].cfg->type),
			    (long long)(rt->creds[i].not_after / 1000));
	fprintf(out, "# HELP rotatord_credential_seconds_until_expiry Seconds "
	    "the published generation stays valid if nothing is renewed.\n"
	    "# TYPE rotatord_credential_seconds_until_expiry gauge\n");
	for (i = 0; i < rt->cfg->n_creds; i++)
		if (rt->creds[i].published)
			fprintf(out, "rotatord_credential_seconds_until_expiry"
			    "{name=\"%s\"} %.3f\n", rt->creds[i].cfg->name,
			    (rt->creds[i].not_after - now) / 1000.0);
	fprintf(out, "# HELP rotatord_credential_renewal_timestamp_seconds "
	    "Planned renewal.\n"
	    "# TYPE rotatord_credential_renewal_timestamp_seconds gauge\n");
	for (i = 0; i < rt->cfg->n_creds; i++)
		if (rt->creds[i].published)
			fprintf(out, "rotatord_credential_renewal_timestamp_seconds"
			    "{name=\"%s\"} %lld\n", rt->creds[i].cfg->name,
			    (long long)(rt->creds[i].renew_wall / 1000));
	fprintf(out, "# HELP rotatord_credential_generation Published "
	    "generation.\n# TYPE rotatord_credential_generation gauge\n");
	for (i = 0; i < rt->cfg->n_creds; i++)
		fprintf(out, "rotatord_credential_generation{name=\"%s\"} %llu\n",
		    rt->creds[i].cfg->name,
		    (unsigned long long)rt->creds[i].generation);
	fprintf(out, "# HELP rotatord_rotations_total Generations published.\n"
	    "# TYPE rotatord_rotations_total counter\n");
	for (i = 0; i < rt->cfg->n_creds; i++)
		fprintf(out, "rotatord_rotations_total{name=\"%s\"} %llu\n",
		    rt->creds[i].cfg->name,
		    (unsigned long long)rt->creds[i].rotations);
	fprintf(out, "# HELP rotatord_rotation_failures_total Failed "
	    "rotation attempts.\n# TYPE rotatord_rotation_failures_total counter\n");
	for (i = 0; i < rt->cfg->n_creds; i++)
		fprintf(out, "rotatord_rotation_failures_total{name=\"%s\"} %llu\n",
		    rt->creds[i].cfg->name,
		    (unsigned long long)rt->creds[i].errors);
	fprintf(out, "# HELP rotatord_reloads_total Consumer reloads by "
	    "result.\n# TYPE rotatord_reloads_total counter\n");
	for (i = 0; i < rt->cfg->n_reloads; i++) {
		const struct reload_stats *st = reload_get_stats(d->rl,
		    rt->cfg->reloads[i]->name);

		if (st == NULL)
			continue;
		fprintf(out, "rotatord_reloads_total{target=\"%s\",result=\"ok\"} "
		    "%llu\nrotatord_reloads_total{target=\"%s\",result=\"failed\"} "
		    "%llu\n", rt->cfg->reloads[i]->name,
		    (unsigned long long)st->ok, rt->cfg->reloads[i]->name,
		    (unsigned long long)st->failed);
	}
	fprintf(out, "# HELP rotatord_upstream_requests_total Requests to "
	    "upstream issuers.\n# TYPE rotatord_upstream_requests_total counter\n");
	for (i = 0; i < rt->cfg->n_issuers; i++) {
		const struct upstream_stats *st = upstream_get_stats(d->up,
		    rt->cfg->issuers[i]->name);
		const char *n = rt->cfg->issuers[i]->name;

		if (st == NULL)
			continue;
		fprintf(out, "rotatord_upstream_requests_total{issuer=\"%s\","
		    "kind=\"discovery\"} %llu\n", n,
		    (unsigned long long)st->discovery);
		fprintf(out, "rotatord_upstream_requests_total{issuer=\"%s\","
		    "kind=\"jwks\"} %llu\n", n, (unsigned long long)st->jwks);
		fprintf(out, "rotatord_upstream_requests_total{issuer=\"%s\","
		    "kind=\"token\"} %llu\n", n, (unsigned long long)st->token);
	}
	fprintf(out, "# HELP rotatord_upstream_failures_total Upstream "
	    "requests that failed.\n"
	    "# TYPE rotatord_upstream_failures_total counter\n");
	for (i = 0; i < rt->cfg->n_issuers; i++) {
		const struct upstream_stats *st = upstream_get_stats(d->up,
		    rt->cfg->issuers[i]->name);

		if (st != NULL)
			fprintf(out, "rotatord_upstream_failures_total{issuer="
			    "\"%s\"} %llu\n", rt->cfg->issuers[i]->name,
			    (unsigned long long)st->failures);
	}
	if (d->fleet != NULL)
		fleet_metrics(d->fleet, out);
}
