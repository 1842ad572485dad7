/*
 * config.c
 *		Flags and environment variables of fanfare-relay.
 *
 * The table below, read by ../common/flags.c as the gateway's is: every
 * setting has a flag and an environment variable; a flag wins over the
 * variable, which wins over the default.
 */
#include "config.h"

#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "flags.h"

#ifndef RELAY_VERSION
#error "RELAY_VERSION is not defined: build with the relay's Makefile"
#endif

/* Fanfare's schedule: the delays after attempts 1 to 7 (8 attempts, ~44.5 h) */
#define DEFAULT_RETRY_SCHEDULE "60,300,1800,7200,21600,43200,86400"

#define FIELD(name) offsetof(struct relay_config, name)

static const struct flag_def settings[] = {
	{"database", "FANFARE_RELAY_DATABASE_URL", FLAG_STRING, FIELD(database), 0, 0,
	"libpq connection string or URI of a fanfare database, one shard of it, or each shard in turn with one relay each (default: empty, i.e. the PG* environment variables)"},
	{"timeout", "FANFARE_RELAY_TIMEOUT", FLAG_INT, FIELD(timeout_s), 1, 3600,
	"seconds an attempt may take, connecting included, before it counts as failed (default 30)"},
	{"retry-schedule", "FANFARE_RELAY_RETRY_SCHEDULE", FLAG_STRING, FIELD(retry_schedule), 0, 0,
	"seconds to wait after each failed attempt, comma-separated; one attempt more than delays (default " DEFAULT_RETRY_SCHEDULE ": 8 attempts over about 44.5 h)"},
	{"max-in-flight", "FANFARE_RELAY_MAX_IN_FLIGHT", FLAG_INT, FIELD(max_in_flight), 1, 10000,
	"requests in flight at once, all endpoints together (default 64)"},
	{"per-endpoint", "FANFARE_RELAY_PER_ENDPOINT", FLAG_INT, FIELD(per_endpoint), 1, 1000,
	"requests in flight at once to one endpoint, so that a slow receiver delays only its own deliveries (default 4)"},
	{"poll-interval", "FANFARE_RELAY_POLL_INTERVAL", FLAG_INT, FIELD(poll_interval_ms), 10, 600000,
	"ms between claims when no NOTIFY wakes the relay (retries come due this way) (default 1000)"},
	{"disable-after", "FANFARE_RELAY_DISABLE_AFTER", FLAG_INT, FIELD(disable_after), 1, 1000000,
	"consecutive failed attempts that disable an endpoint (default 100)"},
	{"disable-window", "FANFARE_RELAY_DISABLE_WINDOW", FLAG_INT, FIELD(disable_window_s), 1, INT_MAX,
	"seconds within which those failures count; a streak older than this starts again (default 604800, 7 days)"},
	{"verbose", "FANFARE_RELAY_VERBOSE", FLAG_INT, FIELD(verbose), 0, 1,
	"1: one line per attempt on stdout (delivery id, attempt, status, outcome, ms; never a secret or a body) (default 0)"},
	{"metrics-listen", "FANFARE_RELAY_METRICS_LISTEN", FLAG_STRING, FIELD(metrics_listen), 0, 0,
	"address and port (host:port, [::1]:port for IPv6; port 0 picks a free one) that serves Prometheus metrics at GET /metrics and 404 elsewhere (default: empty, no metrics)"},
};

#define N_SETTINGS (sizeof(settings) / sizeof(settings[0]))

static const struct flag_program program = {
	.name = "fanfare-relay",
	.version = RELAY_VERSION,
	.about = "delivers fanfare's webhooks (consumer.created,\n"
	"webhook.delivery.failed) from the database's outbox to the registered endpoints.",
	.notes = "It logs in as a role granted fanfare_relay.  Several relays may run against one\n"
	"database: each claims due deliveries with FOR UPDATE SKIP LOCKED.  SIGINT or\n"
	"SIGTERM stops claiming and lets the requests in flight finish (at most --timeout).\n"
	"Diagnostics go to stderr.\n",
	.defs = settings,
	.n_defs = N_SETTINGS,
};

/* --retry-schedule into retry_delays: 0 to RETRY_SCHEDULE_MAX delays of 0 to 7 days */
static bool
parse_retry_schedule(struct relay_config *config)
{
	const char *p = config->retry_schedule;

	config->n_retry_delays = 0;
	while (*p != '\0')
	{
		char		item[16];
		size_t		len = strcspn(p, ",");
		long		delay;

		if (len == 0 || len >= sizeof(item) || config->n_retry_delays == RETRY_SCHEDULE_MAX)
			goto bad;
		memcpy(item, p, len);
		item[len] = '\0';
		if (!flags_parse_number(item, false, 0, 7L * 86400, &delay))
			goto bad;
		config->retry_delays[config->n_retry_delays++] = (int) delay;
		p += len;
		if (*p == ',' && *++p == '\0')
			goto bad;
	}
	return true;
bad:
	fprintf(stderr, "fanfare-relay: --retry-schedule must be up to %d comma-separated numbers of seconds (0 to 604800), got \"%s\"\n",
			RETRY_SCHEDULE_MAX, config->retry_schedule);
	return false;
}

/* Defaults: Fanfare's published behaviour. */
static void
set_defaults(struct relay_config *config)
{
	memset(config, 0, sizeof(*config));
	config->database = "";
	config->metrics_listen = "";
	config->timeout_s = 30;
	config->retry_schedule = DEFAULT_RETRY_SCHEDULE;
	config->max_in_flight = 64;
	config->per_endpoint = 4;
	config->poll_interval_ms = 1000;
	config->disable_after = 100;
	config->disable_window_s = 7 * 86400;
}

/*
 * Fills config from defaults, then the environment, then argv.  Returns
 * CONFIG_EXIT_OK after --help/--version, CONFIG_ERROR after a bad setting.
 */
enum config_result
config_load(struct relay_config *config, int argc, char **argv)
{
	enum flags_result loaded;

	set_defaults(config);
	loaded = flags_load(&program, config, argc, argv);
	if (loaded != FLAGS_OK)
		return loaded == FLAGS_EXIT_OK ? CONFIG_EXIT_OK : CONFIG_ERROR;
	if (!parse_retry_schedule(config))
		return CONFIG_ERROR;
	return CONFIG_OK;
}
