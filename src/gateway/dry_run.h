/*
 * dry_run.h
 *		POST /consumers/batch with Prefer: tx=rollback (RFC 7240): the
 *		extension's dry run answers what the real call would, and stores
 *		nothing.
 */
#ifndef GATEWAY_DRY_RUN_H
#define GATEWAY_DRY_RUN_H

#include <libpq-fe.h>
#include <microhttpd.h>
#include <stdbool.h>

#include "db_pool.h"
#include "reply.h"

/* fanfare.api_import_consumers_dry_run(key, body): the same columns as the real statement */
extern const struct db_statement dry_run_statement;

/* true when a Prefer header of the request holds the preference tx=rollback */
extern bool dry_run_requested(struct MHD_Connection *connection);

/* true (and reply is a 501) when error says the extension has no dry run */
extern bool dry_run_missing(const PGresult *error, const char *request_id,
							struct reply *reply);

#endif
