/*
 * config.h
 *		fanfare-relay's settings, from command-line flags and environment.
 */
#ifndef RELAY_CONFIG_H
#define RELAY_CONFIG_H

#include <stdbool.h>

#define RETRY_SCHEDULE_MAX 32

struct relay_config
{
	const char *database;		/* libpq connection string; "" = PG* vars */
	int			timeout_s;		/* an attempt's limit, connection included */
	const char *retry_schedule; /* comma-separated seconds, as given */
	int			retry_delays[RETRY_SCHEDULE_MAX];	/* parsed from it */
	int			n_retry_delays;
	int			max_in_flight;	/* requests at once, all endpoints */
	int			per_endpoint;	/* requests at once to one endpoint */
	int			poll_interval_ms;	/* claim this often without a NOTIFY */
	int			disable_after;	/* consecutive failures that disable */
	int			disable_window_s;	/* ... counted within this window */
	int			verbose;		/* 1: one line per attempt on stdout */
	const char *metrics_listen;	/* host:port of GET /metrics; "" = none */
};

enum config_result
{
	CONFIG_OK,
	CONFIG_EXIT_OK,				/* --help or --version was printed */
	CONFIG_ERROR				/* message printed to stderr */
};

extern enum config_result config_load(struct relay_config *config,
									  int argc, char **argv);

#endif
