/*
 * db_outcome.c
 *		The status mapping of POST /consumers/batch.
 *
 * SQLSTATEs the key functions raise (see the keys section of the install
 * script):
 *   28P01  unknown or revoked key      -> 401 Invalid secret key
 *   28F01  publishable key             -> 401 Secret key required
 *   42F01  organization disabled       -> 403 Forbidden
 * and create_consumers:
 *   22023 with a JSON DETAIL           -> 400, DETAIL forwarded byte for byte
 * An error while PostgreSQL reads the body parameter itself ($2, i.e. the
 * body is not JSON, not UTF-8, or holds \u0000) is a 400 with one issue.
 * Lost connections, shutdowns, timeouts and resource limits are 503; the
 * rest is 500.
 */
#include "db_outcome.h"

#include <stdio.h>
#include <string.h>

#define REASON_MAX 200

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

/* Copies at most REASON_MAX bytes of text, cutting at a UTF-8 boundary. */
static void
clip_utf8(char *dst, const char *text)
{
	size_t		len = strlen(text);

	if (len > REASON_MAX)
	{
		len = REASON_MAX;
		while (len > 0 && ((unsigned char) text[len] & 0xC0) == 0x80)
			len--;
	}
	memcpy(dst, text, len);
	dst[len] = '\0';
}

/*
 * True if the body could not be read: 22F02 from api_create_consumers (not
 * JSON; raised after the key check, without the body's text), or an error
 * converting the parameter itself (the context line that exec_bind_message
 * adds names parameter $2), e.g. invalid UTF-8.
 */
static bool
failed_reading_body(const PGresult *result)
{
	const char *context = field(result, PG_DIAG_CONTEXT);
	const char *state = field(result, PG_DIAG_SQLSTATE);

	/* not JSON (after the key check), or not text (e.g. invalid UTF-8) */
	return strcmp(state, "22F02") == 0 ||
		(strstr(context, "portal parameter $2") != NULL &&
		 (strncmp(state, "22", 2) == 0 || strcmp(state, "54001") == 0));
}

/* The 400 for a body PostgreSQL could not read as jsonb. */
static void
reply_body_unreadable(const PGresult *result, struct reply *reply)
{
	char		received[REASON_MAX + 1];
	char		reason[REASON_MAX + 1];
	const char *detail = field(result, PG_DIAG_MESSAGE_DETAIL);

	if (strcmp(field(result, PG_DIAG_SQLSTATE), "54001") == 0)
	{
		reply_invalid_json(reply, "too deeply nested JSON",
						   "the body nests arrays or objects too deeply");
		return;
	}
	if (strcmp(field(result, PG_DIAG_SQLSTATE), "22F02") == 0)
	{
		/* the DETAIL says what is wrong with the body */
		clip_utf8(reason, detail[0] ? detail : field(result, PG_DIAG_MESSAGE_PRIMARY));
		reply_invalid_json(reply, reason, reason);
		return;
	}
	clip_utf8(reason, field(result, PG_DIAG_MESSAGE_PRIMARY));
	clip_utf8(received, detail[0] ? detail : reason);
	reply_invalid_json(reply, received, reason);
}

/* The DETAIL of a validation error is the whole 400 body. */
static bool
is_validation_body(const char *detail)
{
	static const char prefix[] = "{\"error\":";

	return strncmp(detail, prefix, sizeof(prefix) - 1) == 0 &&
		detail[strlen(detail) - 1] == '}';
}

/* Logs what became a 500: SQLSTATE and primary message, never DETAIL (it may quote data). */
static void
log_unmapped(const PGresult *result, const char *request_id, const char *what)
{
	fprintf(stderr, "fanfare-gateway: request_id=%s %s: sqlstate=%s %s\n",
			request_id, what, field(result, PG_DIAG_SQLSTATE),
			field(result, PG_DIAG_MESSAGE_PRIMARY));
}

/* The 200: column 1 is the jsonb array, column 2 the tenant. */
static void
map_success(const PGresult *result, const char *request_id,
			char *organization_id, struct reply *reply)
{
	const char *org;

	if (PQntuples(result) != 1 || PQnfields(result) != 2 || PQgetisnull(result, 0, 0))
	{
		log_unmapped(result, request_id, "unexpected result shape");
		reply_internal_error(reply);
		return;
	}
	org = PQgetvalue(result, 0, 1);
	if (strlen(org) == ORGANIZATION_ID_LEN)
		memcpy(organization_id, org, ORGANIZATION_ID_LEN + 1);
	reply_copy(reply, 200, PQgetvalue(result, 0, 0),
			   (size_t) PQgetlength(result, 0, 0));
}

void
db_outcome_consumers(PGconn *conn, const PGresult *result, const char *request_id,
					 char *organization_id, struct reply *reply)
{
	const char *state;

	if (result != NULL && PQresultStatus(result) == PGRES_TUPLES_OK)
	{
		map_success(result, request_id, organization_id, reply);
		return;
	}
	if (db_outcome_is_transient(conn, result))
	{
		fprintf(stderr, "fanfare-gateway: request_id=%s database unavailable: sqlstate=%s %s\n",
				request_id, field(result, PG_DIAG_SQLSTATE),
				result ? field(result, PG_DIAG_MESSAGE_PRIMARY) : PQerrorMessage(conn));
		reply_service_unavailable(reply);
		return;
	}
	state = field(result, PG_DIAG_SQLSTATE);
	if (strcmp(state, "28P01") == 0)
		reply_invalid_secret_key(reply);
	else if (strcmp(state, "28F01") == 0)
		reply_secret_key_required(reply);
	else if (strcmp(state, "42F01") == 0)
		reply_forbidden(reply);
	else if (failed_reading_body(result))
		reply_body_unreadable(result, reply);
	else if (strcmp(state, "22023") == 0 &&
			 is_validation_body(field(result, PG_DIAG_MESSAGE_DETAIL)))
	{
		const char *detail = field(result, PG_DIAG_MESSAGE_DETAIL);

		reply_copy(reply, 400, detail, strlen(detail));
	}
	else
	{
		log_unmapped(result, request_id, "unexpected database error");
		reply_internal_error(reply);
	}
}
