/*
 * health.c
 *		GET /healthz: 200 when the database answers, 503 when it does not.
 */
#include "routes.h"

/* SELECT 1 on a pooled connection. */
void
health_finish(struct gateway *gw, struct MHD_Connection *connection,
			  struct request_state *rs, struct reply *reply)
{
	static const char ok[] = "{\"status\":\"ok\"}";
	struct db_lease lease;
	PGresult   *result;

	(void) connection;
	(void) rs;
	if (db_pool_acquire(gw->pool, &lease) != DB_ACQUIRED)
	{
		reply_service_unavailable(reply);
		return;
	}
	result = PQexec(lease.conn, "SELECT 1");
	if (result != NULL && PQresultStatus(result) == PGRES_TUPLES_OK)
		reply_static(reply, 200, ok, sizeof(ok) - 1);
	else
		reply_service_unavailable(reply);
	PQclear(result);
	db_pool_release(&lease);
}
