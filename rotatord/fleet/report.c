/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the fleet counts and tells: failures and refused records (each
 * counted, logged once), rotatorctl status and the Prometheus lines.
 * Counts and reads only: changes no other state and calls no etcd.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "fleet/fleet_int.h"

static const char *const refusal_names[RF_N] = {
	[RF_LEADER] = "leader", [RF_HOST] = "host", [RF_ACK] = "ack",
	[RF_PUB] = "pub", [RF_SECRET] = "secret", [RF_ROLLBACK] = "rollback",
	[RF_ROTATE] = "rotate", [RF_DONE] = "done", [RF_STALE] = "stale",
	[RF_OTHER] = "other",
};

/* Records and logs a failure (once per change of reason at warning). */
void
rp_fail(struct fleet *f, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	f->errors++;
	if (strcmp(buf, f->last_error) != 0)
		log_warn("cluster: %s", buf);
	else
		log_debug("cluster: %s", buf);
	snprintf(f->last_error, sizeof(f->last_error), "%s", buf);
}

/*
 * A record that is refused: counted, and logged once per (key, mod
 * revision), so that an attacker writing garbage cannot flood the log.
 */
void
rp_refuse(struct fleet *f, enum refusal why, const struct etcd_kv *kv,
    const char *fmt, ...)
{
	uint64_t h = 1469598103934665603ULL;
	char buf[256];
	va_list ap;
	size_t i;

	f->refused[why]++;
	for (i = 0; i < kv->klen; i++)
		h = (h ^ (unsigned char)kv->key[i]) * 1099511628211ULL;
	h ^= (uint64_t)kv->mod_rev * 0x9e3779b97f4a7c15ULL;
	for (i = 0; i < f->n_logged; i++)
		if (f->logged[i] == h)
			return;
	if (f->n_logged < LOGGED)
		f->logged[f->n_logged++] = h;
	else
		f->logged[h % LOGGED] = h;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_warn("cluster: refused %.*s (revision %lld): %s",
	    (int)(kv->klen < 200 ? kv->klen : 200), kv->key,
	    (long long)kv->mod_rev, buf);
}

int
fleet_stale(const struct fleet *f)
{
	return f->self_stale;
}

int
fleet_degraded(const struct fleet *f)
{
	return f->state != F_RUN || f->lease == 0 ||
	    loop_now_mono() - f->last_ka > f->ttl;
}

json_t *
fleet_status(const struct fleet *f)
{
	static const char *const states[] = {
		[F_LEASE] = "lease", [F_REGISTER] = "register",
		[F_SYNC] = "sync", [F_RUN] = "run",
	};
	json_t *o, *hosts, *secrets, *stale;
	uint64_t refused = 0;
	size_t i;

	hosts = json_array();
	for (i = 0; i < f->n_hosts; i++)
		json_array_append_new(hosts, json_string(f->hosts[i].name));
	stale = json_array();
	for (i = 0; i < f->n_stales; i++)
		json_array_append_new(stale, json_string(f->stales[i].host));
	secrets = json_array();
	for (i = 0; i < f->n_s; i++)
		json_array_append_new(secrets, json_pack("{s:s,s:I,s:I,s:b}",
		    "name", f->s[i].name, "generation", (json_int_t)f->s[i].gen,
		    "published", (json_int_t)f->s[i].applied, "accept_only",
		    f->s[i].n > 0 && f->s[i].active != 0));
	for (i = 0; i < RF_N; i++)
		refused += f->refused[i];
	o = json_pack("{s:s,s:s,s:s,s:b,s:s,s:I,s:o,s:o,s:o,s:b,s:I,s:s}",
	    "name", f->name, "state", states[f->state], "endpoint",
	    etcd_endpoint(f->e), "leader", f->leader, "leader_name",
	    f->leader_name, "revision", (json_int_t)f->rev, "hosts", hosts,
	    "stale_hosts", stale, "secrets", secrets, "stale", f->self_stale,
	    "records_refused", (json_int_t)refused, "last_error",
	    f->last_error);
	return o;
}

void
fleet_metrics(const struct fleet *f, FILE *out)
{
	size_t i;

	fprintf(out, "# HELP rotatord_cluster_leader 1 while this host leads "
	    "the fleet.\n# TYPE rotatord_cluster_leader gauge\n"
	    "rotatord_cluster_leader %d\n", f->leader);
	fprintf(out, "# HELP rotatord_cluster_connected 1 while this host is "
	    "in sync with etcd and watching.\n"
	    "# TYPE rotatord_cluster_connected gauge\n"
	    "rotatord_cluster_connected %d\n",
	    f->state == F_RUN && f->watch != 0);
	fprintf(out, "# HELP rotatord_cluster_hosts Hosts registered in the "
	    "fleet.\n# TYPE rotatord_cluster_hosts gauge\n"
	    "rotatord_cluster_hosts %zu\n", f->n_hosts);
	fprintf(out, "# HELP rotatord_fleet_hosts_stale Hosts the leader went "
	    "on without (no acknowledgement within ack_timeout).\n"
	    "# TYPE rotatord_fleet_hosts_stale gauge\n"
	    "rotatord_fleet_hosts_stale %zu\n", f->n_stales);
	fprintf(out, "# HELP rotatord_fleet_this_host_stale 1 while this host "
	    "is marked stale.\n# TYPE rotatord_fleet_this_host_stale gauge\n"
	    "rotatord_fleet_this_host_stale %d\n", f->self_stale);
	fprintf(out, "# HELP rotatord_fleet_records_refused_total Fleet "
	    "records refused: not authentic, not matching their key, or "
	    "older than a generation accepted before (rollback).\n"
	    "# TYPE rotatord_fleet_records_refused_total counter\n");
	for (i = 0; i < RF_N; i++)
		fprintf(out, "rotatord_fleet_records_refused_total{kind=\"%s\"} "
		    "%llu\n", refusal_names[i],
		    (unsigned long long)f->refused[i]);
	fprintf(out, "# HELP rotatord_cluster_errors_total Failed etcd steps.\n"
	    "# TYPE rotatord_cluster_errors_total counter\n"
	    "rotatord_cluster_errors_total %llu\n",
	    (unsigned long long)f->errors);
	fprintf(out, "# HELP rotatord_cluster_secret_writes_total Fleet secret "
	    "documents written by this host as leader.\n"
	    "# TYPE rotatord_cluster_secret_writes_total counter\n"
	    "rotatord_cluster_secret_writes_total %llu\n",
	    (unsigned long long)f->writes);
}
