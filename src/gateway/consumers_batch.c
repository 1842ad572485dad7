/*
 * consumers_batch.c
 *		POST /consumers/batch.
 *
 * Headers are checked before the body is read: a missing or malformed
 * Authorization (401), a Content-Type that is not JSON (415), a
 * Content-Length over --max-body (413) and a token that cannot be a secret
 * key (401, bearer_token.h) are answered at once, so that an
 * unauthenticated client never has its body read nor sent to PostgreSQL.
 * Once the body is in, one statement authenticates the key, sets the
 * tenant and creates the consumers; db_outcome.c maps its errors to the
 * reply.  The rows are collected as they arrive and the 200 is sent only
 * once the statement has completed: an error after some rows (a lost
 * connection) is still a 503.
 * Memory per request: the body (at most --max-body) plus the response,
 * which is about 1.3 kB per consumer plus the size of the values sent.
 */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bearer_token.h"
#include "dry_run.h"
#include "media_type.h"
#include "metrics.h"
#include "../sqlstates.h"

/*
 * One statement per request.  The key goes as text, the body as binary
 * bytea: its bytes reach the function untouched (NUL bytes and invalid
 * UTF-8 included), which checks the key before it reads them.  The
 * Idempotency-Key header goes as received (NULL when there is none): the
 * extension parses it, so that the gateway and PostgREST read it alike.
 * The function returns one created consumer's JSON per row; the other
 * columns read what the call has just set (transaction-local): the tenant
 * for the access log, whether the rows are a replay, and the rate limit
 * (fanfare.rate_limit_status, with fanfare.rate_limit_report on; NULL from
 * an extension that predates it, which sends a notice instead).  A column
 * costs next to nothing; a notice per call cost a tenth of a 1-row request.
 */
static const char create_sql[] =
"SELECT fanfare.api_import_consumers($1, $2, $3),"
" pg_catalog.current_setting('fanfare.organization_id', true),"
" pg_catalog.current_setting('fanfare.idempotency_outcome', true),"
" pg_catalog.current_setting('fanfare.rate_limit_status', true)";

#define CREATE_PARAMS 3
#define CREATE_COLUMNS 4

/*
 * With --prepare 1 (the default) the statement is prepared once per
 * connection (db_pool.c), which saves the server parsing and planning it on
 * every request (about a fifth of a 1-row request's database time).
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
	/* the extension would refuse it before reading the body: so do we */
	switch (bearer_token_key_shape(token))
	{
		case KEY_SHAPE_SECRET:
			return false;
		case KEY_SHAPE_PUBLISHABLE:
			reply_secret_key_required(reply);
			return true;
		case KEY_SHAPE_INVALID:
			reply_invalid_secret_key(reply);
			return true;
	}
	return false;
}

static const Oid create_types[CREATE_PARAMS] = {0, BYTEA_OID, 0};

static const struct db_statement create_statement = {
	.id = 0,
	.name = CREATE_STATEMENT,
	.sql = create_sql,
	.nparams = CREATE_PARAMS,
	.types = create_types,
};

/* A request's statement while it runs: the parameters and the rows so far. */
struct batch_work
{
	struct db_job job;			/* first: the job is the work */
	struct request_state *rs;
	char		token[BEARER_TOKEN_MAX + 1];
	const char *values[CREATE_PARAMS];
	int			lengths[CREATE_PARAMS];
	struct array_body out;
	bool		dry_run;		/* Prefer: tx=rollback (dry_run.c) */
};

static const int create_formats[CREATE_PARAMS] = {0, 1, 0};

static void
batch_work_free(void *p)
{
	struct batch_work *work = p;

	free(work->out.data);
	free(work);
}

/* Copies a text column of a row into dst (cap bytes), if it fits. */
static void
copy_column(const PGresult *result, int column, char *dst, size_t cap)
{
	size_t		len = (size_t) PQgetlength(result, 0, column);

	if (len < cap)
		memcpy(dst, PQgetvalue(result, 0, column), len + 1);
}

/*
 * The extension's report of a call's rate limit,
 * "limit=L remaining=R reset=T retry=S": kept for the X-RateLimit headers
 * when it reads as one.
 */
static void
take_rate_limit(struct request_state *rs, const char *report)
{
	struct rate_limit_state rate = {0};

	if (sscanf(report, "limit=%d remaining=%d reset=%lld", &rate.limit, &rate.remaining,
			   &rate.reset) == 3)
	{
		rate.known = true;
		rs->rate = rate;
	}
}

/*
 * One created consumer: appended to the array; the first also names the
 * tenant, the idempotency outcome and the rate limit.
 */
static void
batch_row(struct db_job *job, const PGresult *row)
{
	struct batch_work *work = (struct batch_work *) job;
	struct request_state *rs = work->rs;

	if (PQnfields(row) != CREATE_COLUMNS)
		return;
	if (job->rows > 1)
		array_body_append(&work->out, ",", 1);
	array_body_append(&work->out, PQgetvalue(row, 0, 0), (size_t) PQgetlength(row, 0, 0));
	if (job->rows == 1)
	{
		copy_column(row, 1, rs->organization_id, ORGANIZATION_ID_LEN + 1);
		copy_column(row, 2, rs->idempotency, IDEMPOTENCY_OUTCOME_MAX + 1);
		if (!PQgetisnull(row, 0, 3))
			take_rate_limit(rs, PQgetvalue(row, 0, 3));
	}
}

/*
 * The rate limit notice of the extension (SQLSTATE 01N01, asked for with
 * fanfare.rate_limit_report), whose DETAIL is the report: sent for a call
 * that answers no row (an error, an empty batch), and by extensions before
 * fanfare.rate_limit_status for every call.
 */
static void
batch_notice(struct db_job *job, const PGresult *notice)
{
	struct batch_work *work = (struct batch_work *) job;
	const char *state = PQresultErrorField(notice, PG_DIAG_SQLSTATE);
	const char *detail = PQresultErrorField(notice, PG_DIAG_MESSAGE_DETAIL);

	if (state == NULL || strcmp(state, fanfare_sqlstate_text(FANFARE_SQLSTATE_RATE_LIMIT_STATUS)) != 0 || detail == NULL)
		return;
	take_rate_limit(work->rs, detail);
}

/* The statement's outcome to the reply; 200 only once it has completed. */
static void
batch_done(struct db_job *job, enum db_status status, PGconn *conn, const PGresult *error)
{
	struct batch_work *work = (struct batch_work *) job;
	struct request_state *rs = work->rs;
	struct reply *reply = &rs->later;

	switch (status)
	{
		case DB_OK:
			array_body_append(&work->out, "]", 1);
			if (work->out.failed)
				db_outcome_unexpected(NULL, rs->request_id, "out of memory for the response", reply);
			else
			{
				reply_take(reply, 200, work->out.data, work->out.len);
				work->out.data = NULL;
				reply->replayed = strcmp(rs->idempotency, "replayed") == 0;
				reply->tx_rollback = work->dry_run;
				if (reply->replayed)
					metrics_idempotent_replay();
				else if (!work->dry_run)
					metrics_consumers_created((unsigned long) job->rows);
			}
			break;
		case DB_ERROR:
		case DB_FAILED:
			/* nothing was sent yet: the partial rows are dropped */
			rs->organization_id[0] = '\0';
			rs->idempotency[0] = '\0';
			if (work->dry_run && dry_run_missing(error, rs->request_id, reply))
				break;
			db_outcome_error(conn, error, rs->request_id, reply);
			/* the dry run's own answer (400, 401, ...): nothing was stored */
			reply->tx_rollback = work->dry_run && reply->status < 500;
			break;
		case DB_UNREACHABLE:
		case DB_POOL_TIMEOUT:
		case DB_DEADLINE:
			fprintf(stderr, "fanfare-gateway: request_id=%s %s\n", rs->request_id,
					status == DB_POOL_TIMEOUT ? "no free database connection"
					: status == DB_DEADLINE ? "no answer from the database within --statement-deadline"
					: "database unreachable");
			reply_service_unavailable(reply);
			metrics_unavailable(status == DB_POOL_TIMEOUT ? UNAVAILABLE_POOL_TIMEOUT
								: status == DB_DEADLINE ? UNAVAILABLE_DEADLINE
								: UNAVAILABLE_UNREACHABLE);
			break;
	}
	server_resume(rs);
}

/*
 * Two idempotency keys that disagree: the extension's 400 for a bad
 * Idempotency-Key (as the PostgREST front answers it), received saying why.
 */
static const char key_conflict_body[] =
"{\"error\":\"validation_error\",\"issues\":[{\"kind\":\"schema\",\"type\":\"idempotency_key\","
"\"expected\":\"a token or a quoted string of 1 to 255 characters\","
"\"received\":\"different values in Idempotency-Key and X-Idempotency-Key\","
"\"message\":\"Invalid Idempotency-Key: Expected a token or a quoted string of 1 to 255 characters"
" but received different values in Idempotency-Key and X-Idempotency-Key\",\"path\":[]}],\"issueCount\":1}";
static const char key_conflict[] = "";

/*
 * Idempotency-Key, or X-Idempotency-Key (its alias in Fanfare's
 * integration guide); NULL if neither; key_conflict if both, differing.
 */
static const char *
idempotency_header(struct MHD_Connection *connection)
{
	const char *key = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Idempotency-Key");
	const char *alias = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "X-Idempotency-Key");

	if (key != NULL && alias != NULL && strcmp(key, alias) != 0)
		return key_conflict;
	return key != NULL ? key : alias;
}

/* The whole body is in rs->body: one statement, run on one of the loop's connections. */
bool
consumers_batch_finish(struct gateway *gw, struct MHD_Connection *connection,
					   struct request_state *rs, struct reply *reply)
{
	struct batch_work *work;

	(void) gw;
	if (rs->body_too_large)
	{
		reply_payload_too_large(reply);
		return true;
	}
	work = calloc(1, sizeof(*work));
	if (work == NULL)
	{
		reply_internal_error(reply);
		return true;
	}
	if (!bearer_token_parse(MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
														MHD_HTTP_HEADER_AUTHORIZATION),
							work->token))
	{
		free(work);
		reply_authentication_required(reply);
		return true;
	}
	work->rs = rs;
	/* the header and the body stay with the connection until it completes */
	work->values[0] = work->token;
	work->values[1] = rs->body ? rs->body : "";
	work->values[2] = idempotency_header(connection);
	if (work->values[2] == key_conflict)
	{
		free(work);
		reply_static(reply, 400, key_conflict_body, sizeof(key_conflict_body) - 1);
		return true;
	}
	work->lengths[1] = (int) rs->body_len;
	array_body_append(&work->out, "[", 1);
	work->dry_run = dry_run_requested(connection);
	work->job.statement = work->dry_run ? &dry_run_statement : &create_statement;
	work->job.values = work->values;
	work->job.lengths = work->lengths;
	work->job.formats = create_formats;
	work->job.on_row = batch_row;
	work->job.on_done = batch_done;
	work->job.on_notice = batch_notice;
	return server_wait(rs, &work->job, work, batch_work_free);
}
