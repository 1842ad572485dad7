/*
 * pooler.h
 *		Behind a transaction-pooling pooler (--pooler transaction).
 */
#ifndef GATEWAY_POOLER_H
#define GATEWAY_POOLER_H

#include <libpq-fe.h>
#include <stdbool.h>

/*
 * A transaction pooler hands each transaction to any server connection and
 * refuses startup options, so the session settings the gateway would send
 * as options must be the role's own.  Checks them on a new connection
 * (blocking; at start only).  False, with a message naming the ALTER ROLE
 * to run, when they are missing.  statement_timeout_ms is what
 * --statement-timeout asks for (0: no timeout required).
 */
extern bool pooler_check_settings(PGconn *conn, int statement_timeout_ms);

/* a hint when the server refused the startup parameters (a pooler) */
extern void pooler_hint_refused_options(PGconn *conn);

#endif
