/*
 * db_cancel.h
 *		Cancelling a statement without blocking the event loop.
 */
#ifndef GATEWAY_DB_CANCEL_H
#define GATEWAY_DB_CANCEL_H

#include <libpq-fe.h>
#include <stdbool.h>

/*
 * Sends a cancel request for conn's running statement from a short-lived
 * thread of its own (PQcancel blocks: it opens a connection to the server
 * and waits for it to close).  conn may be closed right after.  At most
 * DB_CANCEL_MAX are under way at once; past that nothing is sent (the
 * server's statement_timeout still ends the statement).  False if not sent.
 */
#define DB_CANCEL_MAX 4

extern bool db_cancel_send(PGconn *conn);

#endif
