/*
 * db_outcome.c
 *		From what PostgreSQL answered to what the client is told.
 *
 * Errors are told apart by SQLSTATE alone (never by message or CONTEXT
 * text, which change with lc_messages and the statement's shape).  The
 * extension's own codes and their statuses come from its table
 * (../sqlstates.h); what each is answered with:
 *   INVALID_KEY              -> 401 Invalid secret key
 *   SECRET_KEY_REQUIRED      -> 401 Secret key required
 *   ORGANIZATION_DISABLED    -> 403 Forbidden
 *   IDEMPOTENCY_KEY_IN_USE   -> 409, with Retry-After
 *   IDEMPOTENCY_KEY_REUSED   -> 422
 *   RATE_LIMITED             -> 429, DETAIL forwarded, with Retry-After of
 *                               its retryAfter
 *   every code of status 400 -> 400, its DETAIL forwarded byte for byte,
 *   as for 22023 (invalid_parameter_value: the batch has issues).
 * Lost connections, shutdowns, timeouts and resource limits are 503; the
 * rest is 500.
 */
#include "db_outcome.h"

#include "metrics.h"

#include <stdio.h>
#include <string.h>

#include "../sqlstates.h"

/* PostgreSQL's invalid_parameter_value: a batch with issues */
#define SQLSTATE_INVALID_PARAMETER_VALUE "22023"

/* An error field of a result, "" when absent (or no result at all). */
static const char *
field(const PGresult *result, int code)
{
	const char *value = result ? PQresultErrorField(result, code) : NULL;

	return value ? value : "";
}

bool
db_outcome_is_transient(PGconn *conn, const PGresult *result)
{
	const char *state;

	if (result == NULL || PQstatus(conn) != CONNECTION_OK)
		return true;
	state = field(result, PG_DIAG_SQLSTATE);
	return strncmp(state, "08", 2) == 0 ||	/* connection exception */
		strncmp(state, "53", 2) == 0 || /* insufficient resources */
		strcmp(state, "57P01") == 0 ||	/* admin shutdown */
		strcmp(state, "57P02") == 0 ||	/* crash shutdown */
		strcmp(state, "57P03") == 0 ||	/* cannot connect now */
		strcmp(state, "57014") == 0 ||	/* statement timeout */
		strcmp(state, "40001") == 0 ||	/* serialization failure */
		strcmp(state, "40P01") == 0;	/* deadlock */
}

/* The SQLSTATEs whose DETAIL is a 400 body written by the extension. */
static bool
is_bad_request(const char *state, int code)
{
	return strcmp(state, SQLSTATE_INVALID_PARAMETER_VALUE) == 0 ||
		(code >= 0 && fanfare_sqlstate_http_status((FanfareSqlstate) code) == 400);
}

/* Logs what became a 500: SQLSTATE and primary message, never DETAIL (it may quote data). */
static void
log_unmapped(const PGresult *result, const char *request_id, const char *what)
{
	fprintf(stderr, "fanfare-gateway: request_id=%s %s: sqlstate=%s %s\n",
			request_id, what, field(result, PG_DIAG_SQLSTATE),
			field(result, PG_DIAG_MESSAGE_PRIMARY));
}

void
db_outcome_error(PGconn *conn, const PGresult *result, const char *request_id,
				 struct reply *reply)
{
	const char *state;
	const char *detail;
	int			code;

	if (db_outcome_is_transient(conn, result))
	{
		fprintf(stderr, "fanfare-gateway: request_id=%s database unavailable: sqlstate=%s %s\n",
				request_id, field(result, PG_DIAG_SQLSTATE),
				result ? field(result, PG_DIAG_MESSAGE_PRIMARY) : PQerrorMessage(conn));
		reply_service_unavailable(reply);
		metrics_unavailable(UNAVAILABLE_DATABASE);
		return;
	}
	state = field(result, PG_DIAG_SQLSTATE);
	detail = field(result, PG_DIAG_MESSAGE_DETAIL);
	code = fanfare_sqlstate_lookup(state);
	if (code == FANFARE_SQLSTATE_INVALID_KEY)
		reply_invalid_secret_key(reply);
	else if (code == FANFARE_SQLSTATE_SECRET_KEY_REQUIRED)
		reply_secret_key_required(reply);
	else if (code == FANFARE_SQLSTATE_ORGANIZATION_DISABLED)
		reply_forbidden(reply);
	else if (code == FANFARE_SQLSTATE_IDEMPOTENCY_KEY_IN_USE)
		reply_idempotency_key_in_use(reply);
	else if (code == FANFARE_SQLSTATE_IDEMPOTENCY_KEY_REUSED)
		reply_idempotency_key_reused(reply);
	else if (code == FANFARE_SQLSTATE_RATE_LIMITED && detail[0] != '\0')
		reply_rate_limited(reply, detail);
	else if (is_bad_request(state, code) && detail[0] != '\0')
		reply_copy(reply, 400, detail, strlen(detail));
	else
	{
		log_unmapped(result, request_id, "unexpected database error");
		reply_internal_error(reply);
	}
}

void
db_outcome_unexpected(const PGresult *result, const char *request_id, const char *what,
					  struct reply *reply)
{
	log_unmapped(result, request_id, what);
	reply_internal_error(reply);
}
