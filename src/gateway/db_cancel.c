/*
 * db_cancel.c
 *		Cancel requests, sent from detached threads.
 *
 * PostgreSQL 15's libpq has only the blocking PQcancel: it connects to the
 * server, sends the request and waits for the server to close.  From the
 * event loop that would freeze every request of the loop for as long as a
 * slow or unreachable server takes, which is the case a cancel is for.  So
 * each cancel gets a detached thread that owns its PGcancel and frees it.
 * A server that accepts and never closes keeps that thread; the count
 * bounds how many such threads there can be.
 */
#include "db_cancel.h"

#include <pthread.h>
#include <stdatomic.h>

static atomic_int cancels_running;

static void *
cancel_thread(void *arg)
{
	PGcancel   *cancel = arg;
	char		error[256];

	(void) PQcancel(cancel, error, sizeof(error));
	PQfreeCancel(cancel);
	atomic_fetch_sub(&cancels_running, 1);
	return NULL;
}

bool
db_cancel_send(PGconn *conn)
{
	PGcancel   *cancel;
	pthread_t	thread;
	pthread_attr_t attr;
	bool		started;

	if (atomic_fetch_add(&cancels_running, 1) >= DB_CANCEL_MAX)
	{
		atomic_fetch_sub(&cancels_running, 1);
		return false;
	}
	cancel = PQgetCancel(conn);
	if (cancel == NULL)
	{
		atomic_fetch_sub(&cancels_running, 1);
		return false;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	started = pthread_create(&thread, &attr, cancel_thread, cancel) == 0;
	pthread_attr_destroy(&attr);
	if (!started)
	{
		PQfreeCancel(cancel);
		atomic_fetch_sub(&cancels_running, 1);
	}
	return started;
}
