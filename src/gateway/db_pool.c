/*
 * db_pool.c
 *		The gateway's database connections.
 *
 * A fixed array of slots under one mutex.  A slot is taken by one request at
 * a time; waiting for a free slot is bounded by pool_wait_ms.  Connecting
 * happens outside the lock, lazily, in the thread that needs the connection,
 * so a database restart costs the next request a reconnect and never a
 * gateway restart.  The one piece of session state is the prepared
 * statement of consumers_batch.c (the slot's prepared flag); the caller
 * prepares it again when the server says it is gone (a pooler's DISCARD
 * ALL), and --prepare 0 does without it.
 */
#include "db_pool.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct db_slot
{
	PGconn	   *conn;			/* NULL until first used */
	bool		in_use;
	bool		prepared;		/* the caller's statement exists on conn */
};

struct db_pool
{
	pthread_mutex_t lock;
	pthread_cond_t freed;
	int			size;
	int			wait_ms;
	char	   *conninfo;
	char		options[96];	/* -c statement_timeout=... -c plan_cache_mode=..., or "" */
	struct db_slot *slots;
};

/* An empty pool; connections are opened on first use. */
struct db_pool *
db_pool_create(const char *conninfo, int size, int wait_ms, int statement_timeout_ms)
{
	struct db_pool *pool = calloc(1, sizeof(*pool));
	pthread_condattr_t attr;

	if (pool == NULL)
		return NULL;
	pool->slots = calloc((size_t) size, sizeof(*pool->slots));
	pool->conninfo = strdup(conninfo);
	if (pool->slots == NULL || pool->conninfo == NULL)
	{
		free(pool->slots);
		free(pool->conninfo);
		free(pool);
		return NULL;
	}
	pool->size = size;
	pool->wait_ms = wait_ms;
	/*
	 * plan_cache_mode: the body is one parameter of an unnamed statement,
	 * and a custom plan would copy it into the plan as a constant (one more
	 * copy of the body per request).  --statement-timeout 0 sends no options
	 * at all, for poolers that refuse them (set both on the role there).
	 */
	if (statement_timeout_ms > 0)
		snprintf(pool->options, sizeof(pool->options),
				 "-c statement_timeout=%d -c plan_cache_mode=force_generic_plan",
				 statement_timeout_ms);
	pthread_mutex_init(&pool->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&pool->freed, &attr);
	pthread_condattr_destroy(&attr);
	return pool;
}

/* Closes every connection; no lease may be outstanding. */
void
db_pool_destroy(struct db_pool *pool)
{
	if (pool == NULL)
		return;
	for (int i = 0; i < pool->size; i++)
		if (pool->slots[i].conn != NULL)
			PQfinish(pool->slots[i].conn);
	pthread_cond_destroy(&pool->freed);
	pthread_mutex_destroy(&pool->lock);
	free(pool->slots);
	free(pool->conninfo);
	free(pool);
}

/*
 * Opens a connection.  The keywords before "dbname" are defaults that the
 * connection string may override; client_encoding after it is forced, since
 * the gateway sends and expects UTF-8.
 */
static PGconn *
connect_one(struct db_pool *pool)
{
	const char *keys[] = {"application_name", "connect_timeout", "options",
	"dbname", "client_encoding", NULL};
	const char *values[] = {"fanfare-gateway", "5", pool->options,
	pool->conninfo, "UTF8", NULL};
	PGconn	   *conn = PQconnectdbParams(keys, values, 1);

	if (conn != NULL && PQstatus(conn) == CONNECTION_OK)
		return conn;
	fprintf(stderr, "fanfare-gateway: database connection failed: %s",
			conn ? PQerrorMessage(conn) : "out of memory\n");
	PQfinish(conn);
	return NULL;
}

/*
 * True if an idle connection still looks usable.  A server that restarted
 * or terminated the backend has closed the socket (often after sending an
 * error), which shows as readable input; consuming it updates the status.
 */
static bool
connection_alive(PGconn *conn)
{
	struct pollfd pfd;

	if (PQstatus(conn) != CONNECTION_OK || PQtransactionStatus(conn) != PQTRANS_IDLE)
		return false;
	pfd.fd = PQsocket(conn);
	pfd.events = POLLIN;
	pfd.revents = 0;
	if (pfd.fd < 0)
		return false;
	if (poll(&pfd, 1, 0) == 0)
		return true;
	if (!PQconsumeInput(conn))
		return false;
	return PQstatus(conn) == CONNECTION_OK;
}

/* Now + ms on CLOCK_MONOTONIC, the clock of the condition variable. */
static void
deadline_after(struct timespec *deadline, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, deadline);
	deadline->tv_sec += ms / 1000;
	deadline->tv_nsec += (long) (ms % 1000) * 1000000L;
	if (deadline->tv_nsec >= 1000000000L)
	{
		deadline->tv_sec++;
		deadline->tv_nsec -= 1000000000L;
	}
}

/* Takes a free slot, waiting up to pool->wait_ms; -1 on timeout. */
static int
take_slot(struct db_pool *pool)
{
	struct timespec deadline;
	int			slot = -1;

	deadline_after(&deadline, pool->wait_ms);
	pthread_mutex_lock(&pool->lock);
	for (;;)
	{
		/* prefer a slot that is already connected */
		for (int i = 0; i < pool->size; i++)
			if (!pool->slots[i].in_use &&
				(slot < 0 || (pool->slots[slot].conn == NULL && pool->slots[i].conn != NULL)))
				slot = i;
		if (slot >= 0)
		{
			pool->slots[slot].in_use = true;
			break;
		}
		if (pthread_cond_timedwait(&pool->freed, &pool->lock, &deadline) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&pool->lock);
	return slot;
}

/* Marks a slot free and wakes one waiter. */
static void
give_back(struct db_pool *pool, int slot)
{
	pthread_mutex_lock(&pool->lock);
	pool->slots[slot].in_use = false;
	pthread_cond_signal(&pool->freed);
	pthread_mutex_unlock(&pool->lock);
}

enum db_acquire_result
db_pool_acquire(struct db_pool *pool, struct db_lease *lease)
{
	int			slot = take_slot(pool);
	struct db_slot *s;

	memset(lease, 0, sizeof(*lease));
	if (slot < 0)
		return DB_POOL_TIMEOUT;
	/* the slot is ours alone now: no lock needed to touch its connection */
	s = &pool->slots[slot];
	if (s->conn != NULL && !connection_alive(s->conn))
	{
		PQfinish(s->conn);
		s->conn = NULL;
	}
	if (s->conn == NULL)
	{
		s->conn = connect_one(pool);
		s->prepared = false;
	}
	if (s->conn == NULL)
	{
		give_back(pool, slot);
		return DB_UNREACHABLE;
	}
	lease->pool = pool;
	lease->slot = slot;
	lease->conn = s->conn;
	lease->prepared = &s->prepared;
	return DB_ACQUIRED;
}

void
db_pool_release(struct db_lease *lease)
{
	struct db_slot *s;

	if (lease->pool == NULL)
		return;
	s = &lease->pool->slots[lease->slot];
	if (PQstatus(s->conn) != CONNECTION_OK ||
		PQtransactionStatus(s->conn) != PQTRANS_IDLE)
	{
		PQfinish(s->conn);
		s->conn = NULL;
	}
	give_back(lease->pool, lease->slot);
	memset(lease, 0, sizeof(*lease));
}

/* Connects one slot, so that a wrong --database shows at start. */
bool
db_pool_probe(struct db_pool *pool)
{
	struct db_lease lease;

	if (db_pool_acquire(pool, &lease) != DB_ACQUIRED)
		return false;
	db_pool_release(&lease);
	return true;
}
