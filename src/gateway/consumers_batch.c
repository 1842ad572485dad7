/*
 * consumers_batch.c
 *		POST /consumers/batch.
 *
 * Headers are checked before the body is read: a missing or malformed
 * Authorization (401), a Content-Type that is not JSON (415) and a
 * Content-Length over --max-body (413) are answered at once.  Once the body
 * is in, one statement authenticates the key, sets the tenant and creates
 * the consumers; db_outcome.c maps what it says to the reply.
 */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bearer_token.h"
#include "media_type.h"

/*
 * Parameters are sent as text, without a statement name; the function
 * reads the body as JSON only once the key is known good.  The second
 * column reads the tenant the call has just set (transaction-local), for
 * the access log: a target list is evaluated in order, so it sees the call's
 * setting.  (A subquery with OFFSET 0 would say so explicitly, but costs
 * about 8% of a 1-row request's database time in planning; the gateway tests
 * check the logged organization.)
 */
static const char create_sql[] =
"SELECT fanfare.api_create_consumers($1, $2),"
" pg_catalog.current_setting('fanfare.organization_id', true)";

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

/* The whole body is in rs->body: one statement, then the status mapping. */
void
consumers_batch_finish(struct gateway *gw, struct MHD_Connection *connection,
					   struct request_state *rs, struct reply *reply)
{
	char		token[BEARER_TOKEN_MAX + 1];
	const char *params[2];
	struct db_lease lease;
	enum db_acquire_result acquired;
	PGresult   *result;

	if (rs->body_too_large)
	{
		reply_payload_too_large(reply);
		return;
	}
	/* libpq sends text parameters up to the first NUL */
	if (rs->body_len > 0 && memchr(rs->body, '\0', rs->body_len) != NULL)
	{
		reply_invalid_json(reply, "a NUL byte", "the body contains a NUL byte");
		return;
	}
	if (!bearer_token_parse(MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
														MHD_HTTP_HEADER_AUTHORIZATION),
							token))
	{
		reply_authentication_required(reply);
		return;
	}

	acquired = db_pool_acquire(gw->pool, &lease);
	if (acquired != DB_ACQUIRED)
	{
		fprintf(stderr, "fanfare-gateway: request_id=%s %s\n", rs->request_id,
				acquired == DB_POOL_TIMEOUT ? "no free database connection"
				: "database unreachable");
		reply_service_unavailable(reply);
		return;
	}
	params[0] = token;
	params[1] = rs->body ? rs->body : "";
	result = PQexecParams(lease.conn, create_sql, 2, NULL, params, NULL, NULL, 0);
	db_outcome_consumers(lease.conn, result, rs->request_id, rs->organization_id, reply);
	PQclear(result);
	db_pool_release(&lease);
}
