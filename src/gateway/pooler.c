/*
 * pooler.c
 *		What the gateway needs from the role when a pooler sits between it
 *		and PostgreSQL.
 *
 * Without a pooler the gateway sends statement_timeout,
 * plan_cache_mode = force_generic_plan and fanfare.rate_limit_report = on
 * (each call's rate limit, for the X-RateLimit-* headers) as
 * startup options.  PgBouncer
 * refuses those ("unsupported startup parameter: options"), and its usual
 * workaround, ignore_startup_parameters = options, drops them silently: no
 * statement timeout, and a custom plan that copies every body once more.
 * Setting them per transaction would cost each request more messages (or a
 * round trip), so with --pooler transaction they are the role's
 * (ALTER ROLE ... SET), which costs nothing per request, and the gateway
 * refuses to start without them rather than run without a timeout.
 */
#include "pooler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char settings_sql[] =
"SELECT pg_catalog.current_setting('plan_cache_mode'),"
" (SELECT s.setting FROM pg_catalog.pg_settings s WHERE s.name = 'statement_timeout'),"
" COALESCE(pg_catalog.current_setting('fanfare.rate_limit_report', true), '')";

bool
pooler_check_settings(PGconn *conn, int statement_timeout_ms)
{
	PGresult   *result = PQexec(conn, settings_sql);
	bool		generic;
	bool		report;
	long		timeout_ms;

	if (PQresultStatus(result) != PGRES_TUPLES_OK || PQntuples(result) != 1)
	{
		fprintf(stderr, "fanfare-gateway: --pooler transaction: cannot read the role's settings: %s",
				PQerrorMessage(conn));
		PQclear(result);
		return false;
	}
	generic = strcmp(PQgetvalue(result, 0, 0), "force_generic_plan") == 0;
	timeout_ms = strtol(PQgetvalue(result, 0, 1), NULL, 10);
	report = strcmp(PQgetvalue(result, 0, 2), "on") == 0;
	PQclear(result);
	if (generic && report && (statement_timeout_ms == 0 || timeout_ms > 0))
	{
		if (statement_timeout_ms > 0 && timeout_ms != statement_timeout_ms)
			fprintf(stderr, "fanfare-gateway: --pooler transaction: the role's statement_timeout is %ld ms, not the %d of --statement-timeout; the role's applies\n",
					timeout_ms, statement_timeout_ms);
		return true;
	}
	fprintf(stderr,
			"fanfare-gateway: --pooler transaction: the gateway's session settings must be the role's, since a pooler takes no startup options; run, as a superuser:\n"
			"  ALTER ROLE \"%s\" SET statement_timeout = %d;\n"
			"  ALTER ROLE \"%s\" SET plan_cache_mode = force_generic_plan;\n"
			"  ALTER ROLE \"%s\" SET fanfare.rate_limit_report = on;\n"
			"(or --statement-timeout 0 to run without a statement timeout)\n",
			PQuser(conn), statement_timeout_ms > 0 ? statement_timeout_ms : 30000, PQuser(conn),
			PQuser(conn));
	return false;
}

void
pooler_hint_refused_options(PGconn *conn)
{
	if (conn == NULL || strstr(PQerrorMessage(conn), "unsupported startup parameter") == NULL)
		return;
	fprintf(stderr, "fanfare-gateway: the server refused the gateway's startup parameters: behind a transaction-pooling pooler (PgBouncer), start the gateway with --pooler transaction (FANFARE_POOLER=transaction)\n");
}
