/*
 * db_pool.h
 *		A fixed-size pool of libpq connections shared by the worker threads.
 */
#ifndef GATEWAY_DB_POOL_H
#define GATEWAY_DB_POOL_H

#include <libpq-fe.h>
#include <stdbool.h>

struct db_pool;

struct db_lease
{
	struct db_pool *pool;
	int			slot;
	PGconn	   *conn;
	bool	   *prepared;		/* false again whenever conn is new */
};

enum db_acquire_result
{
	DB_ACQUIRED,
	DB_POOL_TIMEOUT,			/* every connection busy past the wait */
	DB_UNREACHABLE				/* could not (re)connect */
};

extern struct db_pool *db_pool_create(const char *conninfo, int size,
									  int wait_ms, int statement_timeout_ms);
extern void db_pool_destroy(struct db_pool *pool);

/* opens one connection now, to report a bad setup at start; true if ok */
extern bool db_pool_probe(struct db_pool *pool);

/*
 * Borrows a connection that is open and idle, reconnecting it first if the
 * server went away.  On DB_ACQUIRED the caller must db_pool_release().
 */
extern enum db_acquire_result db_pool_acquire(struct db_pool *pool,
											  struct db_lease *lease);

/* returns it; a connection that went bad is closed and reopened on next use */
extern void db_pool_release(struct db_lease *lease);

#endif
