/*
 * db_pool.c
 *		An event loop's database connections, driven without blocking.
 *
 * A connection is down (not opened yet, or closed after it broke), idle,
 * or busy with one job.  Its socket stays in the loop's epoll set from
 * connect to close, so an idle connection that the server closed (a
 * restart, pg_terminate_backend) is noticed when it happens and reopened
 * by the next job, never handed out.  A busy one is read as the server
 * answers: PQconsumeInput, then every complete result, one row at a time.
 *
 * Three steps still block the loop, all rare: opening a connection
 * (bounded by connect_timeout, 5 s), preparing the statement on a new
 * connection, and preparing it again after a pooler dropped it.
 *
 * Outcomes are delivered from db_pool_run(), never from inside
 * db_pool_submit(), so that a caller can finish setting itself up (the
 * server suspends the HTTP connection) before its callback can run.
 */
#include "db_pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include "clock.h"

enum conn_state
{
	CONN_DOWN,
	CONN_IDLE,
	CONN_BUSY
};

struct db_conn
{
	PGconn	   *conn;			/* NULL while down */
	enum conn_state state;
	unsigned int prepared;		/* bit per db_statement.id */
	bool		want_write;		/* EPOLLOUT on: the query is not all sent */
	bool		finished;		/* busy, and the job's outcome is known */
	struct db_job *job;
};

struct db_pool
{
	int			epoll_fd;
	int			size;
	int			wait_ms;
	bool		prepare;
	char	   *conninfo;
	char		options[96];	/* -c statement_timeout=... -c plan_cache_mode=..., or "" */
	struct db_conn *conns;
	struct db_job *waiting;		/* FIFO, so the head's deadline is the next */
	struct db_job *waiting_tail;
	struct db_job *failed;		/* outcomes known before any connection ran them */
	struct db_job *failed_tail;
	int			jobs;
};

struct db_pool *
db_pool_create(int epoll_fd, const char *conninfo, int size, int wait_ms,
			   int statement_timeout_ms, bool prepare)
{
	struct db_pool *pool = calloc(1, sizeof(*pool));

	if (pool == NULL)
		return NULL;
	pool->conns = calloc((size_t) size, sizeof(*pool->conns));
	pool->conninfo = strdup(conninfo);
	if (pool->conns == NULL || pool->conninfo == NULL)
	{
		free(pool->conns);
		free(pool->conninfo);
		free(pool);
		return NULL;
	}
	pool->epoll_fd = epoll_fd;
	pool->size = size;
	pool->wait_ms = wait_ms;
	pool->prepare = prepare;
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
	return pool;
}

static void
close_conn(struct db_pool *pool, struct db_conn *c)
{
	if (c->conn == NULL)
		return;
	if (PQsocket(c->conn) >= 0)
		epoll_ctl(pool->epoll_fd, EPOLL_CTL_DEL, PQsocket(c->conn), NULL);
	PQfinish(c->conn);
	c->conn = NULL;
	c->state = CONN_DOWN;
	c->prepared = 0;
	c->want_write = false;
}

void
db_pool_destroy(struct db_pool *pool)
{
	if (pool == NULL)
		return;
	for (int i = 0; i < pool->size; i++)
		close_conn(pool, &pool->conns[i]);
	free(pool->conns);
	free(pool->conninfo);
	free(pool);
}

/*
 * Opens a connection (blocking).  The keywords before "dbname" are
 * defaults that the connection string may override; client_encoding after
 * it is forced, since the gateway sends and expects UTF-8.
 */
static bool
open_conn(struct db_pool *pool, struct db_conn *c)
{
	const char *keys[] = {"application_name", "connect_timeout", "options",
	"dbname", "client_encoding", NULL};
	const char *values[] = {"fanfare-gateway", "5", pool->options,
	pool->conninfo, "UTF8", NULL};
	PGconn	   *conn = PQconnectdbParams(keys, values, 1);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};

	if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "fanfare-gateway: database connection failed: %s",
				conn ? PQerrorMessage(conn) : "out of memory\n");
		PQfinish(conn);
		return false;
	}
	if (PQsetnonblocking(conn, 1) != 0 ||
		epoll_ctl(pool->epoll_fd, EPOLL_CTL_ADD, PQsocket(conn), &ev) != 0)
	{
		fprintf(stderr, "fanfare-gateway: cannot watch a database connection\n");
		PQfinish(conn);
		return false;
	}
	c->conn = conn;
	c->state = CONN_IDLE;
	c->prepared = 0;
	c->want_write = false;
	return true;
}

bool
db_pool_probe(struct db_pool *pool)
{
	return pool->conns[0].conn != NULL || open_conn(pool, &pool->conns[0]);
}

/* Watches for writability too while libpq has unsent query bytes. */
static void
want_write(struct db_pool *pool, struct db_conn *c, bool on)
{
	struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};

	if (c->want_write == on)
		return;
	c->want_write = on;
	epoll_ctl(pool->epoll_fd, EPOLL_CTL_MOD, PQsocket(c->conn), &ev);
}

/* The job's outcome is known; db_pool_run() delivers it. */
static void
finish(struct db_conn *c, enum db_status status)
{
	c->job->status = status;
	c->finished = true;
}

/* Appends a job to a list (waiting or failed). */
static void
append(struct db_job **head, struct db_job **tail, struct db_job *job)
{
	job->next = NULL;
	if (*tail)
		(*tail)->next = job;
	else
		*head = job;
	*tail = job;
}

/* Prepares the job's statement on c if it needs it (blocking); false if that failed. */
static bool
prepare_statement(struct db_pool *pool, struct db_conn *c, struct db_job *job)
{
	const struct db_statement *st = job->statement;
	PGresult   *result;

	if (!pool->prepare || st->name == NULL || (c->prepared & (1u << st->id)))
		return true;
	result = PQprepare(c->conn, st->name, st->sql, st->nparams, st->types);
	if (result != NULL && PQresultStatus(result) == PGRES_COMMAND_OK)
	{
		PQclear(result);
		c->prepared |= 1u << st->id;
		return true;
	}
	if (result != NULL && PQstatus(c->conn) == CONNECTION_OK)
	{
		job->error = result;
		finish(c, DB_ERROR);
	}
	else
	{
		PQclear(result);
		finish(c, DB_FAILED);
	}
	return false;
}

/*
 * Sends the job's statement on c (opening c first if it is down).  False
 * only when no connection could be opened; any later failure is the job's
 * outcome, delivered by db_pool_run().
 */
static bool
start(struct db_pool *pool, struct db_conn *c, struct db_job *job)
{
	const struct db_statement *st = job->statement;
	int			sent;
	int			flushed;

	if (c->state == CONN_DOWN && !open_conn(pool, c))
		return false;
	c->state = CONN_BUSY;
	c->job = job;
	c->finished = false;
	if (!prepare_statement(pool, c, job))
		return true;
	if (pool->prepare && st->name != NULL)
		sent = PQsendQueryPrepared(c->conn, st->name, st->nparams, job->values,
								   job->lengths, job->formats, 0);
	else
		sent = PQsendQueryParams(c->conn, st->sql, st->nparams, st->types, job->values,
								 job->lengths, job->formats, 0);
	if (!sent || !PQsetSingleRowMode(c->conn))
	{
		finish(c, DB_FAILED);
		return true;
	}
	flushed = PQflush(c->conn);
	if (flushed < 0)
		finish(c, DB_FAILED);
	else
		want_write(pool, c, flushed == 1);
	return true;
}

/* A free connection, idle ones first; NULL if all are busy. */
static struct db_conn *
free_conn(struct db_pool *pool)
{
	struct db_conn *down = NULL;

	for (int i = 0; i < pool->size; i++)
	{
		if (pool->conns[i].state == CONN_IDLE)
			return &pool->conns[i];
		if (pool->conns[i].state == CONN_DOWN && down == NULL)
			down = &pool->conns[i];
	}
	return down;
}

void
db_pool_submit(struct db_pool *pool, struct db_job *job)
{
	struct db_conn *c = pool->waiting ? NULL : free_conn(pool);

	job->rows = 0;
	job->retried = false;
	job->error = NULL;
	job->status = DB_OK;
	pool->jobs++;
	if (c != NULL)
	{
		if (!start(pool, c, job))
		{
			job->status = DB_UNREACHABLE;
			append(&pool->failed, &pool->failed_tail, job);
		}
		return;
	}
	if (pool->wait_ms == 0)
	{
		job->status = DB_POOL_TIMEOUT;
		append(&pool->failed, &pool->failed_tail, job);
		return;
	}
	job->deadline_ms = monotonic_ms() + pool->wait_ms;
	append(&pool->waiting, &pool->waiting_tail, job);
}

/* The statement completed: its outcome, or once more after a lost prepared statement. */
static void
completed(struct db_pool *pool, struct db_conn *c)
{
	struct db_job *job = c->job;
	const char *state = job->error ? PQresultErrorField(job->error, PG_DIAG_SQLSTATE) : NULL;

	if (state != NULL && strcmp(state, "26000") == 0 && !job->retried && job->rows == 0 &&
		PQstatus(c->conn) == CONNECTION_OK)
	{
		/* the prepared statement went away (a pooler's DISCARD ALL): once more */
		PQclear(job->error);
		job->error = NULL;
		job->retried = true;
		c->prepared = 0;
		if (!start(pool, c, job))
			finish(c, DB_FAILED);
		return;
	}
	if (job->error != NULL)
		finish(c, DB_ERROR);
	else
		finish(c, PQstatus(c->conn) == CONNECTION_OK ? DB_OK : DB_FAILED);
}

/* Reads every complete result of a busy connection. */
static void
read_results(struct db_pool *pool, struct db_conn *c)
{
	while (!c->finished && !PQisBusy(c->conn))
	{
		PGresult   *result = PQgetResult(c->conn);
		ExecStatusType status;

		if (result == NULL)
		{
			completed(pool, c);
			continue;
		}
		status = PQresultStatus(result);
		if (status == PGRES_SINGLE_TUPLE)
		{
			if (c->job->error == NULL)
			{
				c->job->rows++;
				c->job->on_row(c->job, result);
			}
		}
		else if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK &&
				 c->job->error == NULL)
		{
			c->job->error = result;
			continue;
		}
		PQclear(result);
	}
}

bool
db_pool_owns(const struct db_pool *pool, const void *ptr)
{
	const struct db_conn *c = ptr;

	return c >= pool->conns && c < pool->conns + pool->size;
}

void
db_pool_ready(struct db_pool *pool, void *ptr, unsigned int events)
{
	struct db_conn *c = ptr;

	if (c->conn == NULL)
		return;
	if (c->state == CONN_IDLE)
	{
		/* nothing is expected: a notice, or the server closing the connection */
		if (!PQconsumeInput(c->conn) || PQstatus(c->conn) != CONNECTION_OK)
			close_conn(pool, c);
		return;
	}
	if (c->finished)
		return;
	if ((events & EPOLLOUT) && c->want_write)
	{
		int			flushed = PQflush(c->conn);

		if (flushed < 0)
		{
			finish(c, DB_FAILED);
			return;
		}
		want_write(pool, c, flushed == 1);
	}
	if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) && !PQconsumeInput(c->conn))
	{
		read_results(pool, c);
		if (!c->finished)
			finish(c, DB_FAILED);
		return;
	}
	read_results(pool, c);
}

/* Tells a job its outcome; the connection is free again (or closed) after. */
static void
deliver(struct db_pool *pool, struct db_conn *c, struct db_job *job)
{
	PGresult   *error = job->error;

	job->error = NULL;
	pool->jobs--;
	job->on_done(job, job->status, c ? c->conn : NULL, error);
	PQclear(error);
	if (c == NULL)
		return;
	c->job = NULL;
	c->finished = false;
	if (PQstatus(c->conn) == CONNECTION_OK && PQtransactionStatus(c->conn) == PQTRANS_IDLE)
	{
		c->state = CONN_IDLE;
		want_write(pool, c, false);
	}
	else
		close_conn(pool, c);
}

void
db_pool_run(struct db_pool *pool)
{
	double		now = -1;
	bool		again = true;

	while (again)
	{
		again = false;
		for (int i = 0; i < pool->size; i++)
			if (pool->conns[i].state == CONN_BUSY && pool->conns[i].finished)
				deliver(pool, &pool->conns[i], pool->conns[i].job);
		while (pool->failed != NULL)
		{
			struct db_job *job = pool->failed;

			pool->failed = job->next;
			if (pool->failed == NULL)
				pool->failed_tail = NULL;
			deliver(pool, NULL, job);
		}
		/* waits that ended, then the queue onto free connections */
		if (pool->waiting != NULL && now < 0)
			now = monotonic_ms();
		while (pool->waiting != NULL && pool->waiting->deadline_ms <= now)
		{
			struct db_job *job = pool->waiting;

			pool->waiting = job->next;
			if (pool->waiting == NULL)
				pool->waiting_tail = NULL;
			job->status = DB_POOL_TIMEOUT;
			append(&pool->failed, &pool->failed_tail, job);
			again = true;
		}
		while (pool->waiting != NULL)
		{
			struct db_conn *c = free_conn(pool);
			struct db_job *job = pool->waiting;

			if (c == NULL)
				break;
			pool->waiting = job->next;
			if (pool->waiting == NULL)
				pool->waiting_tail = NULL;
			if (!start(pool, c, job))
			{
				job->status = DB_UNREACHABLE;
				append(&pool->failed, &pool->failed_tail, job);
			}
			again = true;
		}
	}
}

int
db_pool_next_timeout(const struct db_pool *pool)
{
	double		left;

	if (pool->waiting == NULL)
		return -1;
	left = pool->waiting->deadline_ms - monotonic_ms();
	return left <= 0 ? 0 : (int) left + 1;
}

int
db_pool_jobs(const struct db_pool *pool)
{
	return pool->jobs;
}

void
db_pool_abort(struct db_pool *pool)
{
	while (pool->waiting != NULL)
	{
		struct db_job *job = pool->waiting;

		pool->waiting = job->next;
		job->status = DB_FAILED;
		append(&pool->failed, &pool->failed_tail, job);
	}
	pool->waiting_tail = NULL;
	for (int i = 0; i < pool->size; i++)
		if (pool->conns[i].state == CONN_BUSY && !pool->conns[i].finished)
		{
			PQclear(pool->conns[i].job->error);
			pool->conns[i].job->error = NULL;
			finish(&pool->conns[i], DB_FAILED);
		}
	db_pool_run(pool);
}
