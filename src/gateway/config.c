/*
 * config.c
 *		Flags and environment variables of fanfare-gateway.
 *
 * The table below, read by ../common/flags.c: every setting has a flag and
 * an environment variable; a flag wins over the variable, which wins over
 * the default.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "flags.h"

/* the extension's version (EXTVERSION in the top Makefile), set by the Makefile */
#ifndef GATEWAY_VERSION
#error "GATEWAY_VERSION is not defined: build with the gateway's Makefile"
#endif

#define FIELD(name) offsetof(struct gateway_config, name)

static const struct flag_def settings[] = {
	{"listen", "FANFARE_LISTEN", FLAG_TEXT, FIELD(listen), 0, 0,
	"address and port to listen on (default 127.0.0.1:4800; [::1]:4800 for IPv6; port 0 picks a free port)"},
	{"database", "FANFARE_DATABASE_URL", FLAG_STRING, FIELD(database), 0, 0,
	"libpq connection string or URI (default: empty, i.e. the PG* environment variables)"},
	{"pool", "FANFARE_POOL", FLAG_INT, FIELD(pool_size), 1, 1000,
	"database connections, shared out among the event loops (default 4 x CPU cores, at most 64)"},
	{"threads", "FANFARE_THREADS", FLAG_INT, FIELD(threads), 1, 1000,
	"event loops: threads, each with its share of the pool (default 1 per 4 CPU cores; at most the pool size)"},
	{"max-body", "FANFARE_MAX_BODY", FLAG_SIZE, FIELD(max_body), 1, 1L << 30,
	"largest request body in bytes, K and M suffixes allowed (default 16M)"},
	{"statement-timeout", "FANFARE_STATEMENT_TIMEOUT", FLAG_INT, FIELD(statement_timeout_ms), 0, INT_MAX,
	"statement_timeout in ms for the gateway's sessions, 0 = server default (default 30000)"},
	{"statement-deadline", "FANFARE_STATEMENT_DEADLINE", FLAG_INT, FIELD(statement_deadline_ms), 0, INT_MAX,
	"ms a statement may run, counted by the gateway, before it is cancelled, its connection closed and the request answered 503; 0 = none (default: --statement-timeout + 2000, or 32000 when that is 0)"},
	{"pool-wait", "FANFARE_POOL_WAIT", FLAG_INT, FIELD(pool_wait_ms), 0, 600000,
	"ms to wait for a free database connection before answering 503 (default 5000)"},
	{"max-connections", "FANFARE_MAX_CONNECTIONS", FLAG_INT, FIELD(max_connections), 1, 100000,
	"concurrent HTTP connections (default 512)"},
	{"idle-timeout", "FANFARE_IDLE_TIMEOUT", FLAG_INT, FIELD(idle_timeout_s), 1, 3600,
	"seconds of inactivity after which an HTTP connection is closed (default 30)"},
	{"header-timeout", "FANFARE_HEADER_TIMEOUT", FLAG_INT, FIELD(header_timeout_s), 1, 3600,
	"seconds a client has to send a request's headers, however slowly it trickles them (default 10)"},
	{"body-timeout", "FANFARE_BODY_TIMEOUT", FLAG_INT, FIELD(body_timeout_s), 1, 3600,
	"seconds a client has to send a request's body once its headers are in, however slowly it trickles it (default 60)"},
	{"max-connections-per-ip", "FANFARE_MAX_CONNECTIONS_PER_IP", FLAG_INT, FIELD(max_connections_per_ip), 0, 100000,
	"concurrent HTTP connections from one client address, 0 = no limit (default 64)"},
	{"health-timeout", "FANFARE_HEALTH_TIMEOUT", FLAG_INT, FIELD(health_timeout_ms), 1, 60000,
	"ms in which /healthz and /ready must get a database connection and its answer, else 503 (default 1000)"},
	{"retry-after", "FANFARE_RETRY_AFTER", FLAG_INT, FIELD(retry_after_s), 1, 3600,
	"Retry-After seconds sent with 503 (default 2)"},
	{"shutdown-timeout", "FANFARE_SHUTDOWN_TIMEOUT", FLAG_INT, FIELD(shutdown_timeout_s), 0, 3600,
	"seconds to let in-flight requests finish on SIGINT/SIGTERM (default 30)"},
	{"prepare", "FANFARE_PREPARE", FLAG_INT, FIELD(prepare), 0, 1,
	"1: prepare the statement once per database connection (default, but 0 with --pooler transaction); 0: send it unnamed with every request, for poolers that do not keep prepared statements"},
	{"pooler", "FANFARE_POOLER", FLAG_STRING, FIELD(pooler), 0, 0,
	"none (default), or transaction: behind a transaction-pooling pooler (PgBouncer pool_mode = transaction): no startup options, the role's own statement_timeout, plan_cache_mode and fanfare.rate_limit_report, checked at start"},
	{"metrics-listen", "FANFARE_METRICS_LISTEN", FLAG_STRING, FIELD(metrics_listen), 0, 0,
	"address and port (host:port) that serves GET /metrics alone; the main listener then answers 404 there (default: empty, /metrics on the main listener)"},
	{"log-format", "FANFARE_LOG_FORMAT", FLAG_STRING, FIELD(log_format), 0, 0,
	"logfmt (default) or json: the access log as one JSON object per line, with the same fields"},
};

#define N_SETTINGS (sizeof(settings) / sizeof(settings[0]))

static const struct flag_program program = {
	.name = "fanfare-gateway",
	.version = GATEWAY_VERSION,
	.about = "HTTP gateway for the fanfare extension\n"
	"(POST /consumers/batch, GET /healthz, /live, /ready, /openapi.json, /metrics).",
	.notes = "POST /consumers/batch with Prefer: tx=rollback is a dry run: the answer the\n"
	"real call would give, with Preference-Applied: tx=rollback, and nothing stored\n"
	"(Idempotency-Key ignored; 501 when the extension has no dry run).\n"
	"Access log lines go to stdout, diagnostics to stderr.\n",
	.defs = settings,
	.n_defs = N_SETTINGS,
	.text_max = LISTEN_MAX,
};

/*
 * Defaults; the pool and the loops follow the number of CPU cores.  A
 * connection is busy only while its statement runs (the loop handles the
 * HTTP side meanwhile), so the pool needs a few per core to keep the server
 * fed; one loop per 4 cores handles the HTTP side of them.
 */
static void
set_defaults(struct gateway_config *config)
{
	long		cores = sysconf(_SC_NPROCESSORS_ONLN);

	memset(config, 0, sizeof(*config));
	strcpy(config->listen, "127.0.0.1:4800");
	config->database = "";
	config->pool_size = (int) (cores > 0 && cores < 16 ? 4 * cores : cores > 0 ? 64 : 8);
	config->threads = (int) (cores > 0 && cores < 4000 ? (cores + 3) / 4 : 1);
	config->max_body = 16 * 1024 * 1024;
	config->statement_timeout_ms = 30000;
	config->statement_deadline_ms = -1; /* from statement_timeout_ms, below */
	config->pool_wait_ms = 5000;
	config->max_connections = 512;
	config->idle_timeout_s = 30;
	config->header_timeout_s = 10;
	config->body_timeout_s = 60;
	config->max_connections_per_ip = 64;
	config->health_timeout_ms = 1000;
	config->retry_after_s = 2;
	config->shutdown_timeout_s = 30;
	config->prepare = -1;		/* from the pooler, below */
	config->pooler = "none";
	config->metrics_listen = "";
	config->log_format = "logfmt";
}

/*
 * --pooler: none or transaction.  Behind a transaction pooler, named
 * prepared statements are off unless --prepare 1 says the pooler keeps
 * them (PgBouncer 1.21 and later with max_prepared_statements).
 */
static bool
resolve_pooler(struct gateway_config *config)
{
	if (strcmp(config->pooler, "transaction") == 0)
		config->pooler_transaction = true;
	else if (strcmp(config->pooler, "none") != 0)
	{
		fprintf(stderr, "fanfare-gateway: --pooler must be none or transaction, got \"%s\"\n",
				config->pooler);
		return false;
	}
	if (config->prepare < 0)
		config->prepare = config->pooler_transaction ? 0 : 1;
	return true;
}

/*
 * Fills config from defaults, then the environment, then argv.  Returns
 * CONFIG_EXIT_OK after --help/--version, CONFIG_ERROR after a bad setting.
 */
enum config_result
config_load(struct gateway_config *config, int argc, char **argv)
{
	enum flags_result loaded;

	set_defaults(config);
	loaded = flags_load(&program, config, argc, argv);
	if (loaded != FLAGS_OK)
		return loaded == FLAGS_EXIT_OK ? CONFIG_EXIT_OK : CONFIG_ERROR;
	if (!resolve_pooler(config))
		return CONFIG_ERROR;
	config->log_json = strcmp(config->log_format, "json") == 0;
	if (!config->log_json && strcmp(config->log_format, "logfmt") != 0)
	{
		fprintf(stderr, "fanfare-gateway: --log-format must be logfmt or json, got \"%s\"\n",
				config->log_format);
		return CONFIG_ERROR;
	}
	/* the server's own timeout first, if it can still answer */
	if (config->statement_deadline_ms < 0)
		config->statement_deadline_ms = (config->statement_timeout_ms > 0 &&
										 config->statement_timeout_ms < INT_MAX - 2000 ?
										 config->statement_timeout_ms : 30000) + 2000;
	/* every loop needs a connection of its own */
	if (config->threads > config->pool_size)
		config->threads = config->pool_size;
	return CONFIG_OK;
}
