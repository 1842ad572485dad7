/*
 * driver.c: times one contender of the benchmark, one round per output line.
 *
 *   bench-driver --mode sql|copy --conn CONNINFO --admin CONNINFO
 *                --statement TEXT --data FILE --rows N --rounds R
 *                [--setup SQL] [--warmup FILE] [--prime FILE] [--result one|rows|none]
 *                [--single-row] [--fresh] [--repeat K] [--expect-rows M]
 *                [--label NAME]
 *   bench-driver --page-fault-cost
 *
 * sql mode sends TEXT with the contents of FILE as its one text parameter
 * ($1), as an application (or the gateway) would, and reads the whole
 * result: one row (--result one: a function returning the batch as one
 * value), one row per consumer (--result rows: a set-returning function)
 * or none (--result none: a command such as INSERT); with --single-row it
 * reads the rows one at a time, as the gateway does.
 * copy mode sends TEXT (a COPY ... FROM STDIN) and streams FILE as the copy
 * data.  Before every call
 * Only the statement itself is timed, including sending the data and
 * receiving the whole result.  With --repeat K, a round is K calls, each
 * with its own data (FILE is then a pattern with %d for the call, 0..K-1,
 * so that no two calls insert the same consumers), and reports their mean:
 * small batches take well under a millisecond, too close to the jitter of
 * one measurement.  The admin connection truncates fanfare.consumers once
 * per round, before the untimed warm-up call (which absorbs the replanning
 * a truncation causes), and checks afterwards that the K timed calls added
 * exactly K x N rows; --expect-rows M says a call adds M rows instead of N
 * (0 for the floors' statements that insert nothing).
 *
 * Connections: with --fresh, every round opens a new worker connection (so
 * that the backend's peak memory belongs to that round alone); otherwise one
 * connection serves all rounds.  Either way, each new connection first runs
 * --setup and one untimed call with --warmup (e.g. a 1-row batch), so that
 * catalog caches and prepared plans are warm before the timed call.  With
 * --prime FILE, a new connection first makes one untimed call with FILE (a
 * batch of the same size; the table is truncated after it): the timed call
 * then runs on a backend that has done such a call before, as on a
 * persistent (pooled) connection.
 *
 * Output, tab-separated, one line per round:
 *   label rows round ms hwm_before_kb hwm_after_kb anon_before_kb anon_peak_kb data_bytes
 * ms is the mean time of the round's calls; the memory columns cover them all.
 * hwm_* is VmHWM of the worker's backend (peak resident set, including the
 * shared buffers it touched); anon_peak_kb is the largest RssAnon (private
 * memory) seen by a thread that samples /proc/<pid>/status every millisecond
 * while the statement runs.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>

#include <libpq-fe.h>

struct options
{
	const char *mode;
	const char *conn;
	const char *admin;
	const char *statement;
	const char *data_file;
	const char *setup;
	const char *warmup_file;
	const char *prime_file;
	const char *label;
	bool		result_rows;
	bool		result_none;	/* a command: no rows back */
	bool		single_row;		/* read the rows one at a time */
	long		rows;
	long		expect_rows;	/* rows one call leaves in the table */
	int			rounds;
	int			repeat;
	bool		fresh;
};

struct sampler
{
	int			pid;
	volatile bool stop;
	long		anon_peak_kb;
	pthread_t	thread;
};

static void
die(const char *what, PGconn *conn)
{
	fprintf(stderr, "bench-driver: %s%s%s\n", what, conn ? ": " : "",
			conn ? PQerrorMessage(conn) : "");
	exit(1);
}

/* Whole file in memory, NUL-terminated; *len gets its size. */
static char *
read_file(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	char	   *buf;
	long		size;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0)
	{
		fprintf(stderr, "bench-driver: cannot read %s: %s\n", path, strerror(errno));
		exit(1);
	}
	rewind(f);
	buf = malloc(size + 1);
	if (buf == NULL || fread(buf, 1, size, f) != (size_t) size)
		die("short read", NULL);
	buf[size] = '\0';
	fclose(f);
	*len = size;
	return buf;
}

/* One field ("VmHWM:", "RssAnon:") of /proc/<pid>/status in kB, or -1. */
static long
proc_status_kb(int pid, const char *field)
{
	char		path[64];
	char		line[256];
	long		kb = -1;
	size_t		flen = strlen(field);
	FILE	   *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
	{
		if (strncmp(line, field, flen) == 0)
		{
			kb = strtol(line + flen, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kb;
}

static void *
sample_memory(void *arg)
{
	struct sampler *s = arg;
	struct timespec tick = {0, 1000000};

	while (!s->stop)
	{
		long		kb = proc_status_kb(s->pid, "RssAnon:");

		if (kb > s->anon_peak_kb)
			s->anon_peak_kb = kb;
		nanosleep(&tick, NULL);
	}
	return NULL;
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static void
exec_ok(PGconn *conn, const char *sql)
{
	PGresult   *res = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
	{
		fprintf(stderr, "bench-driver: %s\n  in: %.200s\n", PQresultErrorMessage(res), sql);
		exit(1);
	}
	PQclear(res);
}

/*
 * --single-row: the statement's rows read one at a time (libpq's single-row
 * mode, as the gateway reads them), so that the client never holds the whole
 * result; true when it returned at least one row and no error.
 */
static bool
run_single_row(PGconn *conn, const struct options *o, const char *data)
{
	const char *values[1] = {data};
	PGresult   *res;
	long		rows = 0;
	bool		ok = true;

	if (!PQsendQueryParams(conn, o->statement, 1, NULL, values, NULL, NULL, 0) ||
		!PQsetSingleRowMode(conn))
		die("PQsendQueryParams", conn);
	while ((res = PQgetResult(conn)) != NULL)
	{
		ExecStatusType st = PQresultStatus(res);

		if (st == PGRES_SINGLE_TUPLE)
			rows++;
		else if (st != PGRES_TUPLES_OK)
		{
			fprintf(stderr, "bench-driver: %s: %s", o->label, PQresultErrorMessage(res));
			ok = false;
		}
		PQclear(res);
	}
	return ok && rows >= 1;
}

/* Runs the contender's statement once with the given data; false on error. */
static bool
run_statement(PGconn *conn, const struct options *o, const char *data, size_t len)
{
	PGresult   *res;
	bool		ok;

	if (strcmp(o->mode, "copy") == 0)
	{
		size_t		off;

		res = PQexec(conn, o->statement);
		if (PQresultStatus(res) != PGRES_COPY_IN)
		{
			fprintf(stderr, "bench-driver: %s", PQresultErrorMessage(res));
			PQclear(res);
			return false;
		}
		PQclear(res);
		for (off = 0; off < len; off += 65536)
		{
			size_t		n = len - off < 65536 ? len - off : 65536;

			if (PQputCopyData(conn, data + off, (int) n) != 1)
				die("PQputCopyData", conn);
		}
		if (PQputCopyEnd(conn, NULL) != 1)
			die("PQputCopyEnd", conn);
		res = PQgetResult(conn);
		ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	}
	else if (o->single_row)
		return run_single_row(conn, o, data);
	else
	{
		const char *values[1] = {data};

		res = PQexecParams(conn, o->statement, 1, NULL, values, NULL, NULL, 0);
		ok = o->result_none ? PQresultStatus(res) == PGRES_COMMAND_OK :
			PQresultStatus(res) == PGRES_TUPLES_OK &&
			(o->result_rows ? PQntuples(res) >= 1 && !PQgetisnull(res, 0, 0)
			 : PQntuples(res) == 1 && !PQgetisnull(res, 0, 0));
	}
	if (!ok)
		fprintf(stderr, "bench-driver: %s: %s", o->label, PQresultErrorMessage(res));
	PQclear(res);
	while ((res = PQgetResult(conn)) != NULL)
		PQclear(res);
	return ok;
}

static long
count_rows(PGconn *admin)
{
	PGresult   *res = PQexec(admin, "SELECT count(*) FROM fanfare.consumers");
	long		n;

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		die("count", admin);
	n = atol(PQgetvalue(res, 0, 0));
	PQclear(res);
	return n;
}

static PGconn *
connect_worker(const struct options *o, const char *prime, size_t prime_len, PGconn *admin)
{
	PGconn	   *conn = PQconnectdb(o->conn);

	if (PQstatus(conn) != CONNECTION_OK)
		die("connect", conn);
	if (o->setup)
		exec_ok(conn, o->setup);
	if (prime)
	{
		exec_ok(admin, "TRUNCATE fanfare.consumers");
		if (!run_statement(conn, o, prime, prime_len))
			die("priming call failed", NULL);
	}
	return conn;
}

/*
 * --page-fault-cost: what this host charges for memory a process touches
 * for the first time, next to copying memory it already has.  Prints
 * "fault_us copy_us": microseconds per 4 kB page to fault in fresh anonymous
 * memory (the best of 3 passes over 64 MB), and to copy a page once it is
 * resident.  A call that moves megabytes through fresh allocations pays the
 * first figure for each page; where a fault costs ten microseconds (some
 * virtual machines), that outweighs the work done on the bytes.
 */
static int
page_fault_cost(void)
{
	size_t		size = 64 << 20;
	size_t		pages = size / 4096;
	double		fault_best = 0;
	double		copy_best = 0;
	int			pass;

	for (pass = 0; pass < 3; pass++)
	{
		char	   *a = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		char	   *b = malloc(size);
		double		t0;
		double		fault_ms;
		double		copy_ms;
		size_t		i;

		if (a == MAP_FAILED || b == NULL)
			die("page-fault-cost: out of memory", NULL);
		memset(b, 1, size);
		t0 = now_ms();
		for (i = 0; i < size; i += 4096)
			a[i] = (char) i;
		fault_ms = now_ms() - t0;
		t0 = now_ms();
		memcpy(a, b, size);
		copy_ms = now_ms() - t0;
		if (pass == 0 || fault_ms < fault_best)
			fault_best = fault_ms;
		if (pass == 0 || copy_ms < copy_best)
			copy_best = copy_ms;
		munmap(a, size);
		free(b);
	}
	printf("%.3f\t%.4f\n", fault_best * 1000 / pages, copy_best * 1000 / pages);
	return 0;
}

static void
usage(void)
{
	fprintf(stderr, "usage: bench-driver --mode sql|copy --conn C --admin C --statement SQL "
			"--data FILE --rows N --rounds R [--setup SQL] [--warmup FILE] [--prime FILE] "
			"[--result one|rows|none] [--single-row] [--fresh] [--repeat K] [--expect-rows M] "
			"[--label L]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct options o = {.mode = "sql", .label = "contender", .rounds = 1, .repeat = 1,
	.expect_rows = -1};
	PGconn	   *admin;
	PGconn	   *conn = NULL;
	char	  **datas;
	size_t	   *lens;
	char	   *warm = NULL;
	char	   *prime = NULL;
	size_t		len;
	size_t		warm_len = 0;
	size_t		prime_len = 0;
	int			i;

	for (i = 1; i < argc; i++)
	{
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--fresh") == 0)
		{
			o.fresh = true;
			continue;
		}
		if (strcmp(a, "--single-row") == 0)
		{
			o.single_row = true;
			continue;
		}
		if (strcmp(a, "--page-fault-cost") == 0)
			return page_fault_cost();
		if (v == NULL)
			usage();
		i++;
		if (strcmp(a, "--mode") == 0)
			o.mode = v;
		else if (strcmp(a, "--conn") == 0)
			o.conn = v;
		else if (strcmp(a, "--admin") == 0)
			o.admin = v;
		else if (strcmp(a, "--statement") == 0)
			o.statement = v;
		else if (strcmp(a, "--data") == 0)
			o.data_file = v;
		else if (strcmp(a, "--setup") == 0)
			o.setup = v;
		else if (strcmp(a, "--warmup") == 0)
			o.warmup_file = v;
		else if (strcmp(a, "--prime") == 0)
			o.prime_file = v;
		else if (strcmp(a, "--result") == 0 &&
				 (strcmp(v, "one") == 0 || strcmp(v, "rows") == 0 || strcmp(v, "none") == 0))
		{
			o.result_rows = strcmp(v, "rows") == 0;
			o.result_none = strcmp(v, "none") == 0;
		}
		else if (strcmp(a, "--label") == 0)
			o.label = v;
		else if (strcmp(a, "--rows") == 0)
			o.rows = atol(v);
		else if (strcmp(a, "--rounds") == 0)
			o.rounds = atoi(v);
		else if (strcmp(a, "--repeat") == 0)
			o.repeat = atoi(v);
		else if (strcmp(a, "--expect-rows") == 0)
			o.expect_rows = atol(v);
		else
			usage();
	}
	if (!o.conn || !o.admin || !o.statement || !o.data_file || o.rows <= 0 || o.rounds <= 0 ||
		o.repeat <= 0)
		usage();
	if (o.expect_rows < 0)
		o.expect_rows = o.rows;

	/* one data file per call of a round */
	datas = calloc(o.repeat, sizeof(char *));
	lens = calloc(o.repeat, sizeof(size_t));
	for (i = 0; i < o.repeat; i++)
	{
		char		path[4096];

		snprintf(path, sizeof(path), o.data_file, i);
		datas[i] = read_file(path, &lens[i]);
	}
	len = lens[0];				/* reported: the size of one call's data */
	if (o.warmup_file)
		warm = read_file(o.warmup_file, &warm_len);
	if (o.prime_file)
		prime = read_file(o.prime_file, &prime_len);

	admin = PQconnectdb(o.admin);
	if (PQstatus(admin) != CONNECTION_OK)
		die("admin connect", admin);

	for (i = 1; i <= o.rounds; i++)
	{
		struct sampler s = {0};
		long		hwm_before;
		long		anon_before;
		long		hwm_after;
		long		rows_before;
		double		elapsed = 0;
		int			j;

		if (conn == NULL)
			conn = connect_worker(&o, prime, prime_len, admin);
		exec_ok(admin, "TRUNCATE fanfare.consumers");
		if (warm && !run_statement(conn, &o, warm, warm_len))
			die("warm-up call failed", NULL);
		rows_before = count_rows(admin);

		s.pid = PQbackendPID(conn);
		hwm_before = proc_status_kb(s.pid, "VmHWM:");
		anon_before = proc_status_kb(s.pid, "RssAnon:");
		s.anon_peak_kb = anon_before;
		if (pthread_create(&s.thread, NULL, sample_memory, &s) != 0)
			die("pthread_create", NULL);

		for (j = 0; j < o.repeat; j++)
		{
			double		t0 = now_ms();

			if (!run_statement(conn, &o, datas[j], lens[j]))
				exit(1);
			elapsed += now_ms() - t0;
		}
		{
			long		want = o.expect_rows * o.repeat;
			long		got = count_rows(admin) - rows_before;

			if (got != want)
			{
				fprintf(stderr, "bench-driver: %s: expected %ld new rows, found %ld\n", o.label, want, got);
				exit(1);
			}
		}

		s.stop = true;
		pthread_join(s.thread, NULL);
		hwm_after = proc_status_kb(s.pid, "VmHWM:");

		printf("%s\t%ld\t%d\t%.3f\t%ld\t%ld\t%ld\t%ld\t%zu\n", o.label, o.rows, i, elapsed / o.repeat,
			   hwm_before, hwm_after, anon_before, s.anon_peak_kb, len);
		fflush(stdout);

		if (o.fresh)
		{
			PQfinish(conn);
			conn = NULL;
		}
	}
	if (conn)
		PQfinish(conn);
	exec_ok(admin, "TRUNCATE fanfare.consumers");
	PQfinish(admin);
	for (i = 0; i < o.repeat; i++)
		free(datas[i]);
	free(datas);
	free(lens);
	free(warm);
	free(prime);
	return 0;
}
