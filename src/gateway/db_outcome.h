/*
 * db_outcome.h
 *		From what PostgreSQL answered to what the client is told.
 */
#ifndef GATEWAY_DB_OUTCOME_H
#define GATEWAY_DB_OUTCOME_H

#include <libpq-fe.h>

#include "reply.h"

#define ORGANIZATION_ID_LEN 36
#define IDEMPOTENCY_OUTCOME_MAX 8	/* "replayed" */

/*
 * Maps an error result of "SELECT fanfare.api_import_consumers(...)"
 * (result may be NULL when libpq failed outright) to a reply.  Anything not
 * mapped to a contract status is logged to stderr with the request id and
 * becomes a 500; the body of the request is never logged.
 */
extern void db_outcome_error(PGconn *conn, const PGresult *result,
							 const char *request_id, struct reply *reply);

/* A result of the wrong shape: logged, then 500. */
extern void db_outcome_unexpected(const PGresult *result, const char *request_id,
								  const char *what, struct reply *reply);

/* true if the error (or a missing result) means "try again later" */
extern bool db_outcome_is_transient(PGconn *conn, const PGresult *result);

#endif
