/*
 * db_pool.c
 *		An event loop's database connections, driven without blocking.
 *
 * A connection is down (not opened yet, or closed after it broke),
 * connecting, idle, or busy with one job.  Nothing here waits on the
 * server: a connection is opened with PQconnectStartParams and advanced by
 * PQconnectPoll as its socket becomes ready, the statement is prepared with
 * PQsendPrepare, and results are read as they arrive.  Its socket stays in
 * the loop's epoll set from connect to close, so an idle connection that
 * the server closed (a restart, pg_terminate_backend) is noticed when it
 * happens and reopened by the next job, never handed out.
 *
 * Time is bounded on the client side too: an attempt to connect has the
 * connection string's connect_timeout (5 s unless it says otherwise), and a
 * job, once sent, the pool's deadline; past it the statement is cancelled
 * (db_cancel.c) and its connection closed, to be opened anew by the next
 * job.  TCP keepalives and tcp_user_timeout make a partition show as a
 * broken connection instead of one that waits for hours.
 *
 * Outcomes are delivered from db_pool_run(), never from inside
 * db_pool_submit(), so that a caller can finish setting itself up (the
 * server suspends the HTTP connection) before its callback can run.
 */
#include "db_pool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include "clock.h"
#include "db_cancel.h"
#include "pooler.h"

enum conn_state
{
	CONN_DOWN,
	CONN_CONNECTING,			/* PQconnectPoll until it is up; has a job */
	CONN_IDLE,
	CONN_BUSY
};

struct db_conn
{
	PGconn	   *conn;			/* NULL while down */
	enum conn_state state;
	int			fd;				/* the socket in the epoll set, or -1 */
	unsigned int events;		/* what it is watched for */
	unsigned int prepared;		/* bit per db_statement.id */
	bool		preparing;		/* busy: the job's statement is being prepared */
	bool		finished;		/* busy, and the job's outcome is known */
	double		deadline_ms;	/* connecting or busy: when to give up; 0 = never */
	struct db_job *job;
};

struct db_pool
{
	int			epoll_fd;
	int			size;
	int			wait_ms;
	int			deadline_ms;
	bool		prepare;
	char	   *conninfo;
	char		options[160];	/* -c statement_timeout=... -c plan_cache_mode=... -c fanfare.rate_limit_report=on, or "" */
	struct db_conn *conns;
	struct db_job *waiting;		/* in order of arrival */
	struct db_job *waiting_tail;
	struct db_job *failed;		/* outcomes known before any connection ran them */
	struct db_job *failed_tail;
	int			jobs;
	/* for /metrics, read from any thread */
	atomic_int	waiting_now;	/* jobs in the wait queue */
	atomic_ulong waits;			/* jobs that had to wait for a connection */
	atomic_ulong timeouts;		/* jobs whose wait ended without one */
};

struct db_pool *
db_pool_create(int epoll_fd, const struct db_pool_settings *settings)
{
	struct db_pool *pool = calloc(1, sizeof(*pool));

	if (pool == NULL)
		return NULL;
	pool->conns = calloc((size_t) settings->size, sizeof(*pool->conns));
	pool->conninfo = strdup(settings->conninfo);
	if (pool->conns == NULL || pool->conninfo == NULL)
	{
		free(pool->conns);
		free(pool->conninfo);
		free(pool);
		return NULL;
	}
	for (int i = 0; i < settings->size; i++)
		pool->conns[i].fd = -1;
	pool->epoll_fd = epoll_fd;
	pool->size = settings->size;
	pool->wait_ms = settings->wait_ms;
	pool->deadline_ms = settings->deadline_ms;
	pool->prepare = settings->prepare;
	/*
	 * plan_cache_mode: the body is one parameter of an unnamed statement,
	 * and a custom plan would copy it into the plan as a constant (one more
	 * copy of the body per request).  --statement-timeout 0 sends no options
	 * at all, for poolers that refuse them (set both on the role there).
	 */
	if (settings->statement_timeout_ms > 0)
		snprintf(pool->options, sizeof(pool->options),
				 "-c statement_timeout=%d -c plan_cache_mode=force_generic_plan"
				 " -c fanfare.rate_limit_report=on",
				 settings->statement_timeout_ms);
	return pool;
}

static void
close_conn(struct db_pool *pool, struct db_conn *c)
{
	if (c->fd >= 0)
		epoll_ctl(pool->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
	PQfinish(c->conn);
	c->conn = NULL;
	c->fd = -1;
	c->events = 0;
	c->state = CONN_DOWN;
	c->prepared = 0;
	c->preparing = false;
	c->deadline_ms = 0;
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
 * Watches c's socket for events.  libpq may change the socket while it
 * connects (another host, another SSL attempt): the old one is dropped
 * from the set, the new one added.  The new one may have the old one's
 * number, and a closed socket leaves the set by itself, so while c
 * connects it is registered again every time.
 */
static void
watch(struct db_pool *pool, struct db_conn *c, unsigned int events)
{
	int			fd = PQsocket(c->conn);
	struct epoll_event ev = {.events = events, .data.ptr = c};

	if (fd == c->fd && events == c->events && c->state != CONN_CONNECTING)
		return;
	if (c->fd >= 0 && fd != c->fd)
		epoll_ctl(pool->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
	c->fd = fd;
	c->events = events;
	if (fd < 0)
		return;
	if (epoll_ctl(pool->epoll_fd, EPOLL_CTL_MOD, fd, &ev) != 0 && errno == ENOENT)
		epoll_ctl(pool->epoll_fd, EPOLL_CTL_ADD, fd, &ev);
}

/*
 * The connection's parameters.  The keywords before "dbname" are defaults
 * that the connection string may override (keepalives so that a partition
 * breaks the connection instead of hanging it); client_encoding after it
 * is forced, since the gateway sends and expects UTF-8.
 */
#define CONN_PARAMS 11

static void
conn_params(const struct db_pool *pool, const char *keys[CONN_PARAMS + 1],
			const char *values[CONN_PARAMS + 1])
{
	static const char *const names[CONN_PARAMS] = {
		"application_name", "connect_timeout", "keepalives", "keepalives_idle",
		"keepalives_interval", "keepalives_count", "tcp_user_timeout", "options",
		"dbname", "client_encoding", NULL
	};
	const char *const defaults[CONN_PARAMS] = {
		"fanfare-gateway", "5", "1", "10", "5", "3", "25000", pool->options,
		pool->conninfo, "UTF8", NULL
	};

	for (int i = 0; i < CONN_PARAMS; i++)
	{
		keys[i] = names[i];
		values[i] = defaults[i];
	}
	keys[CONN_PARAMS] = values[CONN_PARAMS] = NULL;
}

/* The connection's connect_timeout in ms (libpq's rules: 0 none, at least 2 s). */
static int
connect_timeout_ms(PGconn *conn)
{
	PQconninfoOption *options = PQconninfo(conn);
	int			seconds = 0;

	for (PQconninfoOption *o = options; o != NULL && o->keyword != NULL; o++)
		if (strcmp(o->keyword, "connect_timeout") == 0 && o->val != NULL)
			seconds = atoi(o->val);
	PQconninfoFree(options);
	if (seconds <= 0)
		return 0;
	return (seconds < 2 ? 2 : seconds) * 1000;
}

/* Logs why a connection could not be opened. */
static void
log_connect_failure(PGconn *conn)
{
	fprintf(stderr, "fanfare-gateway: database connection failed: %s",
			conn ? PQerrorMessage(conn) : "out of memory\n");
	pooler_hint_refused_options(conn);
}

/* c is up: idle, watched for what the server may say. */
static void
conn_up(struct db_pool *pool, struct db_conn *c)
{
	c->state = CONN_IDLE;
	c->prepared = 0;
	c->deadline_ms = 0;
	watch(pool, c, EPOLLIN);
}

/* A notice of the server goes to the job of the connection, if it wants it. */
static void
notice_to_job(void *arg, const PGresult *notice)
{
	struct db_conn *c = arg;

	if (c->job != NULL && c->job->on_notice != NULL)
		c->job->on_notice(c->job, notice);
}

enum db_probe
db_pool_probe(struct db_pool *pool, db_probe_check_fn check, const void *arg)
{
	const char *keys[CONN_PARAMS + 1];
	const char *values[CONN_PARAMS + 1];
	struct db_conn *c = &pool->conns[0];
	PGconn	   *conn;

	if (c->conn != NULL)
		return DB_PROBE_OK;
	conn_params(pool, keys, values);
	conn = PQconnectdbParams(keys, values, 1);
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
	{
		log_connect_failure(conn);
		PQfinish(conn);
		return DB_PROBE_UNREACHABLE;
	}
	if (check != NULL && !check(conn, arg))
	{
		PQfinish(conn);
		return DB_PROBE_REFUSED;
	}
	if (PQsetnonblocking(conn, 1) != 0)
	{
		log_connect_failure(conn);
		PQfinish(conn);
		return DB_PROBE_UNREACHABLE;
	}
	PQsetNoticeReceiver(conn, notice_to_job, c);
	c->conn = conn;
	conn_up(pool, c);
	return DB_PROBE_OK;
}

/* Begins opening c without waiting; false if it failed at once. */
static bool
connect_start(struct db_pool *pool, struct db_conn *c)
{
	const char *keys[CONN_PARAMS + 1];
	const char *values[CONN_PARAMS + 1];
	int			timeout_ms;

	conn_params(pool, keys, values);
	c->conn = PQconnectStartParams(keys, values, 1);
	if (c->conn == NULL || PQstatus(c->conn) == CONNECTION_BAD ||
		PQsetnonblocking(c->conn, 1) != 0)
	{
		log_connect_failure(c->conn);
		close_conn(pool, c);
		return false;
	}
	PQsetNoticeReceiver(c->conn, notice_to_job, c);
	c->state = CONN_CONNECTING;
	timeout_ms = connect_timeout_ms(c->conn);
	c->deadline_ms = timeout_ms > 0 ? monotonic_ms() + timeout_ms : 0;
	/* as if PQconnectPoll had said PGRES_POLLING_WRITING */
	watch(pool, c, EPOLLOUT);
	return true;
}

/* c's deadline becomes at_ms if that is sooner (at_ms 0: no change). */
static void
sooner_deadline(struct db_conn *c, double at_ms)
{
	if (at_ms > 0 && (c->deadline_ms == 0 || at_ms < c->deadline_ms))
		c->deadline_ms = at_ms;
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

/* Sends what libpq has buffered; watches for writability while some is left. */
static void
flush(struct db_pool *pool, struct db_conn *c)
{
	int			flushed = PQflush(c->conn);

	if (flushed < 0)
		finish(c, DB_FAILED);
	else
		watch(pool, c, EPOLLIN | (flushed == 1 ? EPOLLOUT : 0));
}

/* Sends the job's statement itself (it is prepared, or goes unnamed). */
static void
send_statement(struct db_pool *pool, struct db_conn *c)
{
	const struct db_statement *st = c->job->statement;
	const struct db_job *job = c->job;
	int			sent;

	if (pool->prepare && st->name != NULL)
		sent = PQsendQueryPrepared(c->conn, st->name, st->nparams, job->values,
								   job->lengths, job->formats, 0);
	else
		sent = PQsendQueryParams(c->conn, st->sql, st->nparams, st->types, job->values,
								 job->lengths, job->formats, 0);
	if (!sent || !PQsetSingleRowMode(c->conn))
	{
		finish(c, DB_FAILED);
		return;
	}
	flush(pool, c);
}

/*
 * c is up and has a job: prepares its statement first if c has not yet
 * (the statement follows once the server has answered), else sends it.
 * The job's run deadline starts here.
 */
static void
send_job(struct db_pool *pool, struct db_conn *c)
{
	const struct db_statement *st = c->job->statement;
	c->state = CONN_BUSY;
	c->deadline_ms = pool->deadline_ms > 0 ? monotonic_ms() + pool->deadline_ms : 0;
	sooner_deadline(c, c->job->limit_at_ms);
	if (!pool->prepare || st->name == NULL || (c->prepared & (1u << st->id)))
	{
		send_statement(pool, c);
		return;
	}
	c->preparing = true;
	if (!PQsendPrepare(c->conn, st->name, st->sql, st->nparams, st->types))
	{
		finish(c, DB_FAILED);
		return;
	}
	flush(pool, c);
}

/* One step of opening c, when its socket is ready (or at the start). */
static void
connect_poll(struct db_pool *pool, struct db_conn *c)
{
	switch (PQconnectPoll(c->conn))
	{
		case PGRES_POLLING_READING:
			watch(pool, c, EPOLLIN);
			return;
		case PGRES_POLLING_WRITING:
			watch(pool, c, EPOLLOUT);
			return;
		case PGRES_POLLING_OK:
			conn_up(pool, c);
			if (c->job != NULL)
				send_job(pool, c);
			return;
		default:
			log_connect_failure(c->conn);
			finish(c, DB_UNREACHABLE);
			return;
	}
}

/*
 * Gives c the job: sent at once if c is up, after it has connected if c
 * is down.  Any failure is the job's outcome, delivered by db_pool_run().
 */
static void
start(struct db_pool *pool, struct db_conn *c, struct db_job *job)
{
	c->job = job;
	c->finished = false;
	if (c->state == CONN_IDLE)
	{
		send_job(pool, c);
		return;
	}
	if (!connect_start(pool, c))
	{
		c->state = CONN_CONNECTING;	/* owns the job until it is delivered */
		finish(c, DB_UNREACHABLE);
		return;
	}
	sooner_deadline(c, job->limit_at_ms);
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
	job->limit_at_ms = job->limit_ms > 0 ? monotonic_ms() + job->limit_ms : 0;
	if (c != NULL)
	{
		start(pool, c, job);
		return;
	}
	if (pool->wait_ms == 0 && job->limit_ms == 0)
	{
		job->status = DB_POOL_TIMEOUT;
		append(&pool->failed, &pool->failed_tail, job);
		return;
	}
	job->deadline_ms = job->limit_ms > 0 ? job->limit_at_ms : monotonic_ms() + pool->wait_ms;
	append(&pool->waiting, &pool->waiting_tail, job);
	atomic_fetch_add_explicit(&pool->waiting_now, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&pool->waits, 1, memory_order_relaxed);
}

/* The statement is prepared on c (the job goes on), or could not be. */
static void
prepared(struct db_pool *pool, struct db_conn *c)
{
	c->preparing = false;
	if (c->job->error != NULL)
	{
		finish(c, PQstatus(c->conn) == CONNECTION_OK ? DB_ERROR : DB_FAILED);
		return;
	}
	c->prepared |= 1u << c->job->statement->id;
	send_statement(pool, c);
}

/*
 * The server has answered all of what was sent: the preparation, or the
 * statement, whose outcome it is; or once more after a lost prepared
 * statement.
 */
static void
completed(struct db_pool *pool, struct db_conn *c)
{
	struct db_job *job = c->job;
	const char *state = job->error ? PQresultErrorField(job->error, PG_DIAG_SQLSTATE) : NULL;

	if (c->preparing)
	{
		prepared(pool, c);
		return;
	}
	if (state != NULL && strcmp(state, "26000") == 0 && !job->retried && job->rows == 0 &&
		PQstatus(c->conn) == CONNECTION_OK)
	{
		/* the prepared statement went away (a pooler's DISCARD ALL): once more */
		PQclear(job->error);
		job->error = NULL;
		job->retried = true;
		c->prepared = 0;
		send_job(pool, c);
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
	if (c->state == CONN_CONNECTING)
	{
		if (!c->finished)
			connect_poll(pool, c);
		return;
	}
	if (c->state == CONN_IDLE)
	{
		/* nothing is expected: a notice, or the server closing the connection */
		if (!PQconsumeInput(c->conn) || PQstatus(c->conn) != CONNECTION_OK)
			close_conn(pool, c);
		return;
	}
	if (c->finished)
		return;
	if ((events & EPOLLOUT) && (c->events & EPOLLOUT))
	{
		flush(pool, c);
		if (c->finished)
			return;
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
	c->preparing = false;
	c->deadline_ms = 0;
	if (c->state == CONN_BUSY && PQstatus(c->conn) == CONNECTION_OK &&
		PQtransactionStatus(c->conn) == PQTRANS_IDLE)
	{
		c->state = CONN_IDLE;
		watch(pool, c, EPOLLIN);
	}
	else
		close_conn(pool, c);
}

/*
 * Fails the queued jobs whose wait has ended; true if there were any.  The
 * queue is in order of arrival, but waits differ (a health probe's is
 * short), so the whole queue is looked at.
 */
static bool
expire_waits(struct db_pool *pool, double now)
{
	struct db_job **link = &pool->waiting;
	bool		expired = false;

	pool->waiting_tail = NULL;
	while (*link != NULL)
	{
		struct db_job *job = *link;

		if (job->deadline_ms > now)
		{
			pool->waiting_tail = job;
			link = &job->next;
			continue;
		}
		*link = job->next;
		job->status = DB_POOL_TIMEOUT;
		append(&pool->failed, &pool->failed_tail, job);
		atomic_fetch_sub_explicit(&pool->waiting_now, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&pool->timeouts, 1, memory_order_relaxed);
		expired = true;
	}
	return expired;
}

/*
 * A connection's time is up: an attempt to connect (the job is told the
 * database is unreachable), or a job's run (cancelled; the connection is
 * closed once the job has been told).
 */
static void
conn_expired(struct db_conn *c)
{
	if (c->state == CONN_CONNECTING)
	{
		fprintf(stderr, "fanfare-gateway: database connection failed: no answer within connect_timeout\n");
		finish(c, DB_UNREACHABLE);
		return;
	}
	if (!db_cancel_send(c->conn))
		fprintf(stderr, "fanfare-gateway: no cancel request sent (%d under way)\n", DB_CANCEL_MAX);
	finish(c, DB_DEADLINE);
}

/* Ends the connection attempts and runs that are past their deadline. */
static void
expire_conns(struct db_pool *pool, double now)
{
	for (int i = 0; i < pool->size; i++)
	{
		struct db_conn *c = &pool->conns[i];

		if (c->job != NULL && !c->finished && c->deadline_ms > 0 && c->deadline_ms <= now)
			conn_expired(c);
	}
}

void
db_pool_run(struct db_pool *pool)
{
	bool		again = true;

	while (again)
	{
		double		now = monotonic_ms();

		again = false;
		expire_conns(pool, now);
		for (int i = 0; i < pool->size; i++)
			if (pool->conns[i].job != NULL && pool->conns[i].finished)
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
		if (expire_waits(pool, now))
			again = true;
		while (pool->waiting != NULL)
		{
			struct db_conn *c = free_conn(pool);
			struct db_job *job = pool->waiting;

			if (c == NULL)
				break;
			pool->waiting = job->next;
			if (pool->waiting == NULL)
				pool->waiting_tail = NULL;
			atomic_fetch_sub_explicit(&pool->waiting_now, 1, memory_order_relaxed);
			start(pool, c, job);
			again = true;
		}
	}
}

int
db_pool_next_timeout(const struct db_pool *pool)
{
	double		next = -1;
	double		left;

	for (const struct db_job *job = pool->waiting; job != NULL; job = job->next)
		if (next < 0 || job->deadline_ms < next)
			next = job->deadline_ms;
	for (int i = 0; i < pool->size; i++)
	{
		const struct db_conn *c = &pool->conns[i];

		if (c->job != NULL && !c->finished && c->deadline_ms > 0 &&
			(next < 0 || c->deadline_ms < next))
			next = c->deadline_ms;
	}
	if (next < 0)
		return -1;
	left = next - monotonic_ms();
	return left <= 0 ? 0 : (int) left + 1;
}

int
db_pool_jobs(const struct db_pool *pool)
{
	return pool->jobs;
}

/*
 * For /metrics, from any thread: the connections by state are read without
 * the loop's knowledge, so they may be a moment old (each one is a whole
 * value); the counters are atomic.
 */
void
db_pool_stats(struct db_pool *pool, struct db_pool_stats *stats)
{
	stats->size += pool->size;
	for (int i = 0; i < pool->size; i++)
	{
		enum conn_state state = *(volatile enum conn_state *) &pool->conns[i].state;

		switch (state)
		{
			case CONN_DOWN:
				stats->down++;
				break;
			case CONN_CONNECTING:
				stats->connecting++;
				break;
			case CONN_IDLE:
				stats->idle++;
				break;
			case CONN_BUSY:
				stats->busy++;
				break;
		}
	}
	stats->waiting += atomic_load_explicit(&pool->waiting_now, memory_order_relaxed);
	stats->waits += atomic_load_explicit(&pool->waits, memory_order_relaxed);
	stats->timeouts += atomic_load_explicit(&pool->timeouts, memory_order_relaxed);
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
		atomic_fetch_sub_explicit(&pool->waiting_now, 1, memory_order_relaxed);
	}
	pool->waiting_tail = NULL;
	for (int i = 0; i < pool->size; i++)
		if (pool->conns[i].job != NULL && !pool->conns[i].finished)
		{
			PQclear(pool->conns[i].job->error);
			pool->conns[i].job->error = NULL;
			finish(&pool->conns[i], DB_FAILED);
		}
	db_pool_run(pool);
}
