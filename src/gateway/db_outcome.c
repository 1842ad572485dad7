/*
 * db_outcome.c
 *		From what PostgreSQL answered to what the client is told.
 *
 * Errors are told apart by SQLSTATE alone (never by message or CONTEXT
 * text, which change with lc_messages and the statement's shape).  The
 * codes the extension raises (see its README):
 *   28N01  unknown or revoked key      -> 401 Invalid secret key
 *   28N02  publishable key             -> 401 Secret key required
 *   42N01  organization disabled       -> 403 Forbidden
 *   22023  the batch has issues        -> 400, DETAIL forwarded byte for byte
 *   22N01  the body is not JSON        -> 400, likewise
 *   22N02  JSON PostgreSQL cannot store-> 400, likewise
 *   22N03  the body nests too deeply   -> 400, likewise
 *   22N05  malformed Idempotency-Key   -> 400, likewise
 *   22N04  the key, another body       -> 422
 *   55N01  the key's request running   -> 409, with Retry-After
 *   54N01  the organization's rate limit -> 429, DETAIL forwarded, with
 *          Retry-After of its retryAfter
 * Lost connections, shutdowns, timeouts and resource limits are 503; the
 * rest is 500.
 */
#include "db_outcome.h"

#include "metrics.h"

#include <stdio.h>
#include <string.h>

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
is_bad_request(const char *state)
{
	return strcmp(state, "22023") == 0 || strcmp(state, "22N01") == 0 ||
		strcmp(state, "22N02") == 0 || strcmp(state, "22N03") == 0 ||
		strcmp(state, "22N05") == 0;
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
	if (strcmp(state, "28N01") == 0)
		reply_invalid_secret_key(reply);
	else if (strcmp(state, "28N02") == 0)
		reply_secret_key_required(reply);
	else if (strcmp(state, "42N01") == 0)
		reply_forbidden(reply);
	else if (strcmp(state, "55N01") == 0)
		reply_idempotency_key_in_use(reply);
	else if (strcmp(state, "22N04") == 0)
		reply_idempotency_key_reused(reply);
	else if (strcmp(state, "54N01") == 0 && detail[0] != '\0')
		reply_rate_limited(reply, detail);
	else if (is_bad_request(state) && detail[0] != '\0')
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
