/*
 * consumers_batch.c
 *		POST /consumers/batch.
 *
 * Headers are checked before the body is read: a missing or malformed
 * Authorization (401), a Content-Type that is not JSON (415) and a
 * Content-Length over --max-body (413) are answered at once.  Once the body
 * is in, one statement authenticates the key, sets the tenant and creates
 * the consumers; db_outcome.c maps its errors to the reply.  The rows are
 * collected as they arrive and the 200 is sent only once the statement has
 * completed: an error after some rows (a lost connection) is still a 503.
 * Memory per request: the body (at most --max-body) plus the response,
 * which is about 1.3 kB per consumer plus the size of the values sent.
 */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bearer_token.h"
#include "media_type.h"

/*
 * One statement per request.  The key goes as text, the body as binary
 * bytea: its bytes reach the function untouched (NUL bytes and invalid
 * UTF-8 included), which checks the key before it reads them.  The
 * Idempotency-Key header goes as received (NULL when there is none): the
 * extension parses it, so that the gateway and PostgREST read it alike.
 * The function returns one created consumer's JSON per row; the other
 * columns read what the call has just set (transaction-local): the tenant
 * for the access log, and whether the rows are a replay.
 */
static const char create_sql[] =
"SELECT fanfare.api_import_consumers($1, $2, $3),"
" pg_catalog.current_setting('fanfare.organization_id', true),"
" pg_catalog.current_setting('fanfare.idempotency_outcome', true)";

#define CREATE_PARAMS 3
#define CREATE_COLUMNS 3

/*
 * With --prepare 1 (the default) the statement is prepared once per
 * connection, which saves the server parsing and planning it on every
 * request (about a fifth of a 1-row request's database time).
 */
#define CREATE_STATEMENT "fanfare_gateway_create"

#define BYTEA_OID 17

/* The 200 body, assembled from the rows: [row,row,...] */
struct array_body
{
	char	   *data;
	size_t		len;
	size_t		cap;
	bool		failed;			/* out of memory */
};

static void
array_body_append(struct array_body *b, const char *bytes, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 2 > b->cap)
	{
		size_t		cap = b->cap ? b->cap : 16 * 1024;
		char	   *grown;

		while (cap < b->len + n + 2)
			cap *= 2;
		grown = realloc(b->data, cap);
		if (grown == NULL)
		{
			b->failed = true;
			return;
		}
		b->data = grown;
		b->cap = cap;
	}
	memcpy(b->data + b->len, bytes, n);
	b->len += n;
}

/* Header-only checks; true when reply holds the answer already. */
bool
consumers_batch_begin(struct gateway *gw, struct MHD_Connection *connection,
					  struct request_state *rs, struct reply *reply)
{
	char		token[BEARER_TOKEN_MAX + 1];
	const char *length_text;
	unsigned long long length = 0;

	(void) rs;
	if (!bearer_token_parse(MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
														MHD_HTTP_HEADER_AUTHORIZATION),
							token))
	{
		reply_authentication_required(reply);
		return true;
	}
	if (!media_type_is_json(MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
														MHD_HTTP_HEADER_CONTENT_TYPE)))
	{
		reply_unsupported_media_type(reply);
		return true;
	}
	length_text = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
											  MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (length_text != NULL)
	{
		char	   *end;

		length = strtoull(length_text, &end, 10);
		if (*end != '\0' || length > gw->config->max_body)
		{
			reply_payload_too_large(reply);
			return true;
		}
	}
	return false;
}

/*
 * Runs the statement in single-row mode and collects its rows into out.
 * Returns the first error result, or NULL: then *failed says whether libpq
 * itself failed (the connection is gone) or every row arrived and the
 * statement completed.
 */
/* Prepares the statement on a connection that has not got it; false if that failed. */
static bool
prepare_create(struct db_lease *lease, PGresult **error)
{
	Oid			types[CREATE_PARAMS] = {0, BYTEA_OID, 0};
	PGresult   *result;

	if (*lease->prepared)
		return true;
	result = PQprepare(lease->conn, CREATE_STATEMENT, create_sql, CREATE_PARAMS, types);
	if (result == NULL || PQresultStatus(result) != PGRES_COMMAND_OK)
	{
		*error = result;
		return false;
	}
	PQclear(result);
	*lease->prepared = true;
	return true;
}

/* What a request sends and what its statement said besides the rows. */
struct create_call
{
	const char *token;
	const char *body;
	size_t		body_len;
	const char *idempotency_key;	/* the header as received, or NULL */
	char	   *organization_id;	/* [ORGANIZATION_ID_LEN + 1] */
	char	   *idempotency;	/* [IDEMPOTENCY_OUTCOME_MAX + 1] */
};

/* Copies a text column of the first row into dst (cap bytes), if it fits. */
static void
copy_column(const PGresult *result, int column, char *dst, size_t cap)
{
	size_t		len = (size_t) PQgetlength(result, 0, column);

	if (len < cap)
		memcpy(dst, PQgetvalue(result, 0, column), len + 1);
}

static PGresult *
run_create(struct db_lease *lease, bool prepare, const struct create_call *call,
		   struct array_body *out, bool *failed)
{
	PGconn	   *conn = lease->conn;
	const char *params[CREATE_PARAMS] = {call->token, call->body, call->idempotency_key};
	int			lengths[CREATE_PARAMS] = {0, (int) call->body_len, 0};
	int			formats[CREATE_PARAMS] = {0, 1, 0};
	Oid			types[CREATE_PARAMS] = {0, BYTEA_OID, 0};
	PGresult   *result;
	PGresult   *error = NULL;
	bool		first = true;
	int			sent;

	*failed = false;
	if (prepare && !prepare_create(lease, &error))
	{
		*failed = error == NULL;
		return error;
	}
	sent = prepare
		? PQsendQueryPrepared(conn, CREATE_STATEMENT, CREATE_PARAMS, params, lengths, formats, 0)
		: PQsendQueryParams(conn, create_sql, CREATE_PARAMS, types, params, lengths, formats, 0);
	if (!sent || !PQsetSingleRowMode(conn))
	{
		*failed = true;
		return NULL;
	}
	array_body_append(out, "[", 1);
	while ((result = PQgetResult(conn)) != NULL)
	{
		ExecStatusType status = PQresultStatus(result);

		if (status == PGRES_SINGLE_TUPLE && error == NULL && PQnfields(result) == CREATE_COLUMNS)
		{
			if (!first)
				array_body_append(out, ",", 1);
			array_body_append(out, PQgetvalue(result, 0, 0), (size_t) PQgetlength(result, 0, 0));
			if (first)
			{
				copy_column(result, 1, call->organization_id, ORGANIZATION_ID_LEN + 1);
				copy_column(result, 2, call->idempotency, IDEMPOTENCY_OUTCOME_MAX + 1);
			}
			first = false;
		}
		else if (status != PGRES_TUPLES_OK && status != PGRES_SINGLE_TUPLE && error == NULL)
		{
			error = result;
			continue;
		}
		PQclear(result);
	}
	array_body_append(out, "]", 1);
	if (error == NULL && PQstatus(conn) != CONNECTION_OK)
		*failed = true;
	return error;
}

/* The whole body is in rs->body: one statement, then the status mapping. */
void
consumers_batch_finish(struct gateway *gw, struct MHD_Connection *connection,
					   struct request_state *rs, struct reply *reply)
{
	char		token[BEARER_TOKEN_MAX + 1];
	struct db_lease lease;
	enum db_acquire_result acquired;
	struct array_body out = {0};
	struct create_call call;
	PGresult   *error;
	bool		failed;

	if (rs->body_too_large)
	{
		reply_payload_too_large(reply);
		return;
	}
	if (!bearer_token_parse(MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
														MHD_HTTP_HEADER_AUTHORIZATION),
							token))
	{
		reply_authentication_required(reply);
		return;
	}
	call.token = token;
	call.body = rs->body ? rs->body : "";
	call.body_len = rs->body_len;
	call.idempotency_key = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
													   "Idempotency-Key");
	call.organization_id = rs->organization_id;
	call.idempotency = rs->idempotency;

	acquired = db_pool_acquire(gw->pool, &lease);
	if (acquired != DB_ACQUIRED)
	{
		fprintf(stderr, "fanfare-gateway: request_id=%s %s\n", rs->request_id,
				acquired == DB_POOL_TIMEOUT ? "no free database connection"
				: "database unreachable");
		reply_service_unavailable(reply);
		return;
	}
	error = run_create(&lease, gw->config->prepare, &call, &out, &failed);
	if (error != NULL && strcmp(PQresultErrorField(error, PG_DIAG_SQLSTATE) ?
								PQresultErrorField(error, PG_DIAG_SQLSTATE) : "", "26000") == 0)
	{
		/* the prepared statement went away (a pooler's DISCARD ALL): once more */
		PQclear(error);
		free(out.data);
		memset(&out, 0, sizeof(out));
		*lease.prepared = false;
		error = run_create(&lease, gw->config->prepare, &call, &out, &failed);
	}
	if (error != NULL || failed)
	{
		/* nothing was sent yet: the partial rows are dropped */
		free(out.data);
		rs->organization_id[0] = '\0';
		rs->idempotency[0] = '\0';
		db_outcome_error(lease.conn, error, rs->request_id, reply);
		PQclear(error);
	}
	else if (out.failed)
	{
		free(out.data);
		db_outcome_unexpected(NULL, rs->request_id, "out of memory for the response", reply);
	}
	else
	{
		reply_take(reply, 200, out.data, out.len);
		reply->replayed = strcmp(rs->idempotency, "replayed") == 0;
	}
	db_pool_release(&lease);
}
