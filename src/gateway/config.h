/*
 * config.h
 *		The gateway's settings, from command-line flags and environment.
 */
#ifndef GATEWAY_CONFIG_H
#define GATEWAY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define LISTEN_MAX 255

struct gateway_config
{
	char		listen[LISTEN_MAX + 1];	/* host:port, [v6]:port */
	const char *database;		/* libpq connection string; "" = PG* vars */
	int			pool_size;		/* database connections */
	int			threads;		/* event loops */
	size_t		max_body;		/* bytes */
	int			statement_timeout_ms;	/* 0 = server default */
	int			statement_deadline_ms;	/* client side; 0 = none */
	int			pool_wait_ms;	/* wait for a free connection before 503 */
	int			max_connections;	/* concurrent HTTP connections */
	int			idle_timeout_s; /* HTTP connection inactivity limit */
	int			header_timeout_s;	/* time to send a request's headers */
	int			body_timeout_s; /* time to send a request's body */
	int			max_connections_per_ip; /* 0 = no limit */
	int			health_timeout_ms;	/* /healthz and /ready: wait and run */
	int			retry_after_s;	/* Retry-After on 503 */
	int			shutdown_timeout_s; /* drain limit on SIGINT/SIGTERM */
	int			prepare;		/* 1: prepared statement per connection */
	const char *pooler;			/* "none" or "transaction" */
	bool		pooler_transaction; /* a transaction-pooling pooler in between */
	const char *metrics_listen; /* host:port of /metrics alone; "" = the main listener */
	const char *log_format;		/* "logfmt" or "json" */
	bool		log_json;
};

enum config_result
{
	CONFIG_OK,
	CONFIG_EXIT_OK,				/* --help or --version was printed */
	CONFIG_ERROR				/* message printed to stderr */
};

extern enum config_result config_load(struct gateway_config *config,
									  int argc, char **argv);

#endif
