/*
 * config.c
 *		Flags and environment variables of fanfare-relay.
 *
 * As the gateway's: every setting has a flag and an environment variable; a
 * flag wins over the variable, which wins over the default.  Numbers are
 * parsed strictly and bounded.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef RELAY_VERSION
#error "RELAY_VERSION is not defined: build with the relay's Makefile"
#endif

/* Fanfare's schedule: the delays after attempts 1 to 7 (8 attempts, ~44.5 h) */
#define DEFAULT_RETRY_SCHEDULE "60,300,1800,7200,21600,43200,86400"

enum setting_kind
{
	SETTING_STRING,				/* pointer kept (argv or environ) */
	SETTING_INT
};

struct setting
{
	const char *flag;
	const char *env;
	enum setting_kind kind;
	size_t		offset;
	long		min;
	long		max;
	const char *help;
};

#define FIELD(name) offsetof(struct relay_config, name)

static const struct setting settings[] = {
	{"database", "FANFARE_RELAY_DATABASE_URL", SETTING_STRING, FIELD(database), 0, 0,
	"libpq connection string or URI of a fanfare database, one shard of it, or each shard in turn with one relay each (default: empty, i.e. the PG* environment variables)"},
	{"timeout", "FANFARE_RELAY_TIMEOUT", SETTING_INT, FIELD(timeout_s), 1, 3600,
	"seconds an attempt may take, connecting included, before it counts as failed (default 30)"},
	{"retry-schedule", "FANFARE_RELAY_RETRY_SCHEDULE", SETTING_STRING, FIELD(retry_schedule), 0, 0,
	"seconds to wait after each failed attempt, comma-separated; one attempt more than delays (default " DEFAULT_RETRY_SCHEDULE ": 8 attempts over about 44.5 h)"},
	{"max-in-flight", "FANFARE_RELAY_MAX_IN_FLIGHT", SETTING_INT, FIELD(max_in_flight), 1, 10000,
	"requests in flight at once, all endpoints together (default 64)"},
	{"per-endpoint", "FANFARE_RELAY_PER_ENDPOINT", SETTING_INT, FIELD(per_endpoint), 1, 1000,
	"requests in flight at once to one endpoint, so that a slow receiver delays only its own deliveries (default 4)"},
	{"poll-interval", "FANFARE_RELAY_POLL_INTERVAL", SETTING_INT, FIELD(poll_interval_ms), 10, 600000,
	"ms between claims when no NOTIFY wakes the relay (retries come due this way) (default 1000)"},
	{"disable-after", "FANFARE_RELAY_DISABLE_AFTER", SETTING_INT, FIELD(disable_after), 1, 1000000,
	"consecutive failed attempts that disable an endpoint (default 100)"},
	{"disable-window", "FANFARE_RELAY_DISABLE_WINDOW", SETTING_INT, FIELD(disable_window_s), 1, INT_MAX,
	"seconds within which those failures count; a streak older than this starts again (default 604800, 7 days)"},
	{"verbose", "FANFARE_RELAY_VERBOSE", SETTING_INT, FIELD(verbose), 0, 1,
	"1: one line per attempt on stdout (delivery id, attempt, status, outcome, ms; never a secret or a body) (default 0)"},
	{"metrics-listen", "FANFARE_RELAY_METRICS_LISTEN", SETTING_STRING, FIELD(metrics_listen), 0, 0,
	"address and port (host:port, [::1]:port for IPv6; port 0 picks a free one) that serves Prometheus metrics at GET /metrics and 404 elsewhere (default: empty, no metrics)"},
};

#define N_SETTINGS (sizeof(settings) / sizeof(settings[0]))

/* The --help text, generated from the settings table. */
static void
print_help(FILE *out)
{
	fprintf(out,
			"fanfare-relay " RELAY_VERSION ": delivers fanfare's webhooks (consumer.created,\n"
			"webhook.delivery.failed) from the database's outbox to the registered endpoints.\n\n"
			"usage: fanfare-relay [--flag value | --flag=value]...\n\n");
	for (size_t i = 0; i < N_SETTINGS; i++)
		fprintf(out, "  --%-24s %s\n  %-26s env %s\n",
				settings[i].flag, settings[i].help, "", settings[i].env);
	fprintf(out,
			"  --%-24s show this help\n  --%-24s show the version\n\n"
			"It logs in as a role granted fanfare_relay.  Several relays may run against one\n"
			"database: each claims due deliveries with FOR UPDATE SKIP LOCKED.  SIGINT or\n"
			"SIGTERM stops claiming and lets the requests in flight finish (at most --timeout).\n"
			"Diagnostics go to stderr.\n",
			"help", "version");
}

/* Parses a whole decimal number within [min, max]. */
static bool
parse_number(const char *text, long min, long max, long *out)
{
	char	   *end;
	long		value;

	if (text[0] < '0' || text[0] > '9')
		return false;
	errno = 0;
	value = strtol(text, &end, 10);
	if (errno != 0 || *end != '\0' || value < min || value > max)
		return false;
	*out = value;
	return true;
}

/* Stores one textual value into its setting; false (with a message) if bad. */
static bool
apply(struct relay_config *config, const struct setting *s,
	  const char *value, const char *source)
{
	char	   *field = (char *) config + s->offset;
	long		number;

	if (s->kind == SETTING_STRING)
	{
		*(const char **) field = value;
		return true;
	}
	if (!parse_number(value, s->min, s->max, &number))
	{
		fprintf(stderr, "fanfare-relay: %s: %s must be a number from %ld to %ld\n",
				source, s->flag, s->min, s->max);
		return false;
	}
	*(int *) field = (int) number;
	return true;
}

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
		if (!parse_number(item, 0, 7L * 86400, &delay))
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

/* The setting named by a flag (without "--"), or NULL. */
static const struct setting *
find_setting(const char *flag, size_t len)
{
	for (size_t i = 0; i < N_SETTINGS; i++)
		if (strlen(settings[i].flag) == len && strncmp(settings[i].flag, flag, len) == 0)
			return &settings[i];
	return NULL;
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
	set_defaults(config);

	for (size_t i = 0; i < N_SETTINGS; i++)
	{
		const char *value = getenv(settings[i].env);

		if (value != NULL && value[0] != '\0' &&
			!apply(config, &settings[i], value, settings[i].env))
			return CONFIG_ERROR;
	}

	for (int i = 1; i < argc; i++)
	{
		const char *arg = argv[i];
		const char *eq;
		const struct setting *s;
		const char *value;

		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
		{
			print_help(stdout);
			return CONFIG_EXIT_OK;
		}
		if (strcmp(arg, "--version") == 0)
		{
			printf("fanfare-relay " RELAY_VERSION "\n");
			return CONFIG_EXIT_OK;
		}
		if (strncmp(arg, "--", 2) != 0)
		{
			fprintf(stderr, "fanfare-relay: unexpected argument \"%s\" (try --help)\n", arg);
			return CONFIG_ERROR;
		}
		arg += 2;
		eq = strchr(arg, '=');
		s = find_setting(arg, eq ? (size_t) (eq - arg) : strlen(arg));
		if (s == NULL)
		{
			fprintf(stderr, "fanfare-relay: unknown flag --%s (try --help)\n", arg);
			return CONFIG_ERROR;
		}
		if (eq)
			value = eq + 1;
		else if (i + 1 < argc)
			value = argv[++i];
		else
		{
			fprintf(stderr, "fanfare-relay: --%s needs a value\n", s->flag);
			return CONFIG_ERROR;
		}
		if (!apply(config, s, value, s->flag))
			return CONFIG_ERROR;
	}
	if (!parse_retry_schedule(config))
		return CONFIG_ERROR;
	return CONFIG_OK;
}
