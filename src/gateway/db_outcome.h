/*
 * db_outcome.h
 *		From what PostgreSQL answered to what the client is told.
 */
#ifndef GATEWAY_DB_OUTCOME_H
#define GATEWAY_DB_OUTCOME_H

#include <libpq-fe.h>

#include "reply.h"

#define ORGANIZATION_ID_LEN 36

/*
 * Maps the result of "SELECT fanfare.api_create_consumers($1, $2)"
 * (result may be NULL when libpq failed outright) to a reply.  On success
 * the organization id from the result's second column is copied into
 * organization_id (ORGANIZATION_ID_LEN + 1 bytes).  Anything not mapped to
 * a contract status is logged to stderr with the request id and becomes a
 * 500; the body of the request is never logged.
 */
extern void db_outcome_consumers(PGconn *conn, const PGresult *result,
								 const char *request_id,
								 char *organization_id, struct reply *reply);

/* true if the error (or a missing result) means "try again later" */
extern bool db_outcome_is_transient(PGconn *conn, const PGresult *result);

#endif
