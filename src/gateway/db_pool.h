/*
 * db_pool.h
 *		An event loop's libpq connections, driven without blocking.
 *
 * Each event loop (event_loop.h) owns one pool; only that loop's thread
 * touches it.  A request submits a job (one statement and its parameters)
 * and is told the outcome later, from the loop, through the job's
 * callbacks: rows as they arrive, then done exactly once.  A job waits
 * for a free connection up to the pool's wait, then fails with
 * DB_POOL_TIMEOUT; once sent, it has the pool's run deadline to complete,
 * or its connection is cancelled and closed (DB_DEADLINE).
 */
#ifndef GATEWAY_DB_POOL_H
#define GATEWAY_DB_POOL_H

#include <libpq-fe.h>
#include <stdbool.h>

struct db_pool;
struct db_job;

/*
 * A statement a job runs.  With a name (and the pool's prepare setting on)
 * it is prepared once per connection and again when the server says it is
 * gone (a pooler's DISCARD ALL); without one it goes unnamed every time.
 * id is a small number, unique per named statement, below 32.
 */
struct db_statement
{
	int			id;
	const char *name;
	const char *sql;
	int			nparams;
	const Oid  *types;
};

enum db_status
{
	DB_OK,						/* every row arrived and the statement completed */
	DB_ERROR,					/* the server answered an error (error is set) */
	DB_FAILED,					/* the connection broke (conn says why) */
	DB_UNREACHABLE,				/* no connection could be opened */
	DB_POOL_TIMEOUT,			/* every connection stayed busy past the wait */
	DB_DEADLINE					/* no answer within the run deadline: cancelled */
};

/*
 * on_row: one row (single-row mode), the result is the pool's.
 * on_done: once, last; conn is the connection that ran the job (NULL for
 * DB_UNREACHABLE and DB_POOL_TIMEOUT) and only valid during the call;
 * error is the server's error result for DB_ERROR, else NULL, the pool's.
 */
typedef void (*db_row_fn) (struct db_job *job, const PGresult *row);
typedef void (*db_done_fn) (struct db_job *job, enum db_status status,
							PGconn *conn, const PGresult *error);
/* on_notice: a notice or warning the server sent while the job ran */
typedef void (*db_notice_fn) (struct db_job *job, const PGresult *notice);

struct db_job
{
	/* set by the submitter */
	const struct db_statement *statement;
	const char *const *values;
	const int  *lengths;
	const int  *formats;
	db_row_fn	on_row;
	db_done_fn	on_done;
	db_notice_fn on_notice;		/* optional */
	int			limit_ms;		/* > 0: all of it (wait, connect, run) within this */

	/* the pool's */
	struct db_job *next;		/* in the wait queue */
	double		deadline_ms;	/* of the wait */
	double		limit_at_ms;	/* of all of it, when limit_ms; else 0 */
	enum db_status status;
	int			rows;
	bool		retried;
	PGresult   *error;
};

struct db_pool_settings
{
	const char *conninfo;
	int			size;			/* connections */
	int			wait_ms;		/* for a free connection */
	int			statement_timeout_ms;	/* sent as a startup option; 0 = none */
	int			deadline_ms;	/* a job's run, client side; 0 = none */
	bool		prepare;		/* named statements prepared per connection */
};

/* size connections, opened on first use; registered with the loop's epoll */
extern struct db_pool *db_pool_create(int epoll_fd, const struct db_pool_settings *settings);
extern void db_pool_destroy(struct db_pool *pool);

enum db_probe
{
	DB_PROBE_OK,
	DB_PROBE_UNREACHABLE,		/* no connection (the reason is logged) */
	DB_PROBE_REFUSED			/* check said no (and logged why) */
};

/*
 * Opens one connection now (blocking), to report a bad setup at start;
 * check, if not NULL, runs on it first (blocking too) and may refuse it.
 */
typedef bool (*db_probe_check_fn) (PGconn *conn, const void *arg);
extern enum db_probe db_pool_probe(struct db_pool *pool, db_probe_check_fn check,
								   const void *arg);

/* runs the job on a free connection, or queues it; on_done always comes later */
extern void db_pool_submit(struct db_pool *pool, struct db_job *job);

/*
 * For the loop: an epoll event whose data.ptr is one of the pool's
 * connections (db_pool_owns tells), then db_pool_run() once per turn, which
 * starts queued jobs, expires waits and delivers the outcomes.
 */
extern bool db_pool_owns(const struct db_pool *pool, const void *ptr);
extern void db_pool_ready(struct db_pool *pool, void *ptr, unsigned int events);
extern void db_pool_run(struct db_pool *pool);

/* ms until the next wait, connection attempt or run ends; -1 if none */
extern int	db_pool_next_timeout(const struct db_pool *pool);

/* jobs running or waiting */
extern int	db_pool_jobs(const struct db_pool *pool);

/* what /metrics shows of the pools; db_pool_stats adds one pool's */
struct db_pool_stats
{
	int			size;
	int			idle;
	int			busy;
	int			connecting;
	int			down;
	int			waiting;
	unsigned long waits;
	unsigned long timeouts;
};
extern void db_pool_stats(struct db_pool *pool, struct db_pool_stats *stats);

/* fails every job (DB_FAILED), closing busy connections: for a forced stop */
extern void db_pool_abort(struct db_pool *pool);

#endif
