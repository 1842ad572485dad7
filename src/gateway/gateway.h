/*
 * gateway.h
 *		What every route can reach: the settings, the event loops and the
 *		state of one request.
 */
#ifndef GATEWAY_GATEWAY_H
#define GATEWAY_GATEWAY_H

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "config.h"
#include "db_outcome.h"
#include "db_pool.h"
#include "event_loop.h"
#include "reply.h"
#include "request_id.h"

struct route;

struct header_deadline;

struct gateway
{
	const struct gateway_config *config;
	struct event_loop **loops;	/* config->threads of them */
	int			listen_fd;		/* shared by the loops' daemons */
	atomic_int	in_flight;		/* requests begun and not yet completed */
	atomic_bool draining;		/* SIGINT/SIGTERM received */
	struct header_deadline *headers;	/* closes slow-header connections */
	struct MHD_Daemon *metrics_daemon;	/* --metrics-listen's, or NULL */
};

/* The organization's rate limit after this request, from the database. */
struct rate_limit_state
{
	bool		known;			/* send the X-RateLimit headers */
	int			limit;
	int			remaining;
	long long	reset;			/* unix seconds */
};

#define LOG_METHOD_MAX 16
#define LOG_PATH_MAX 200

struct request_state
{
	struct timespec started_wall;	/* for the log's time */
	struct timespec started;	/* CLOCK_MONOTONIC, for the duration */
	char		request_id[REQUEST_ID_MAX + 1];
	char		organization_id[ORGANIZATION_ID_LEN + 1];
	char		idempotency[IDEMPOTENCY_OUTCOME_MAX + 1];	/* created, replayed or "" */
	char		method[LOG_METHOD_MAX];
	char		path[LOG_PATH_MAX];
	struct rate_limit_state rate;
	const struct route *route;
	struct event_loop *loop;	/* the loop whose daemon has the connection */
	struct MHD_Connection *connection;
	struct reply early;			/* answer decided from the headers alone */
	struct reply later;			/* answer of a route that had to wait */
	bool		suspended;		/* waiting for the database */
	void	   *work;			/* the route's state while it waits */
	void		(*work_free) (void *work);
	char	   *body;			/* owned; NUL-terminated when complete */
	size_t		body_len;
	size_t		body_cap;
	size_t		body_discarded; /* bytes dropped after the limit was hit */
	bool		body_too_large;
	bool		responded;
	unsigned int status;
	size_t		bytes;
};

#endif
