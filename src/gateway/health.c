/*
 * health.c
 *		GET /healthz and /ready: 200 when the database answers, 503 when it
 *		does not; GET /live: 200 while the gateway's loop runs.
 *
 * A probe must not wait behind a saturated pool nor a database that does
 * not answer: waiting for a free connection, connecting and SELECT 1 all
 * together get --health-timeout, then the probe is 503.
 */
#include "routes.h"

#include <stdlib.h>

#include "metrics.h"

static const struct db_statement select_one = {
	.id = 1,
	.name = NULL,				/* too small to be worth preparing */
	.sql = "SELECT 1",
	.nparams = 0,
	.types = NULL,
};

struct health_work
{
	struct db_job job;			/* first: the job is the work */
	struct request_state *rs;
};

static const char status_ok[] = "{\"status\":\"ok\"}";

static void
ignore_row(struct db_job *job, const PGresult *row)
{
	(void) job;
	(void) row;
}

static void
health_done(struct db_job *job, enum db_status status, PGconn *conn, const PGresult *error)
{
	struct request_state *rs = ((struct health_work *) job)->rs;

	(void) conn;
	(void) error;
	if (status == DB_OK)
		reply_static(&rs->later, 200, status_ok, sizeof(status_ok) - 1);
	else
	{
		reply_service_unavailable(&rs->later);
		metrics_unavailable(status == DB_POOL_TIMEOUT ? UNAVAILABLE_POOL_TIMEOUT
							: status == DB_DEADLINE ? UNAVAILABLE_DEADLINE
							: status == DB_UNREACHABLE ? UNAVAILABLE_UNREACHABLE
							: UNAVAILABLE_DATABASE);
	}
	server_resume(rs);
}

/* SELECT 1 on one of the loop's connections. */
bool
health_finish(struct gateway *gw, struct MHD_Connection *connection,
			  struct request_state *rs, struct reply *reply)
{
	struct health_work *work = calloc(1, sizeof(*work));

	(void) connection;
	if (work == NULL)
	{
		reply_internal_error(reply);
		return true;
	}
	work->rs = rs;
	work->job.statement = &select_one;
	work->job.on_row = ignore_row;
	work->job.on_done = health_done;
	work->job.limit_ms = gw->config->health_timeout_ms;
	return server_wait(rs, &work->job, work, free);
}

/* The loop answers: no database involved (a liveness probe). */
bool
live_finish(struct gateway *gw, struct MHD_Connection *connection,
			struct request_state *rs, struct reply *reply)
{
	(void) gw;
	(void) connection;
	(void) rs;
	reply_static(reply, 200, status_ok, sizeof(status_ok) - 1);
	return true;
}
