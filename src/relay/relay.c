/*
 * relay.c
 *		fanfare-relay: the loop that claims due webhook deliveries, sends them
 *		with libcurl's multi interface and records every attempt.
 *
 * One thread, one database connection, one curl multi handle.  A claim
 * (fanfare.claim_webhook_deliveries) leases each delivery for --timeout plus
 * a margin and commits at once, so a relay killed mid-flight loses nothing:
 * its leases run out and any relay sends those deliveries again (receivers
 * deduplicate on the envelope's id, which stays the same).  Outcomes are
 * recorded by fanfare.record_webhook_attempt; while the database is away
 * they wait in memory and are recorded once it is back (a lease that ran
 * out meanwhile makes the record "stale", and the delivery is sent again).
 * The relay wakes on NOTIFY fanfare_webhooks and claims every
 * --poll-interval besides, which is how retries come due.
 * With --metrics-listen, libmicrohttpd's thread serves GET /metrics
 * (metrics.c) from numbers this loop updates.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <libpq-fe.h>

#include "config.h"
#include "metrics.h"
#include "signature.h"

#define LEASE_MARGIN_S 10		/* a lease is --timeout plus this */
#define ERROR_MAX 256

/* one request in flight */
struct transfer
{
	CURL	   *easy;
	struct curl_slist *headers;
	char	   *body;
	char		organization_id[40];
	char		delivery_id[40];
	char		endpoint_id[40];
	int			attempt;
	long long	started_ms;		/* wall clock, for the record */
	struct timespec started_mono;	/* for the duration metric */
	char		errbuf[CURL_ERROR_SIZE];
	struct transfer *next;
};

/* one outcome to record */
struct result
{
	char		organization_id[40];
	char		delivery_id[40];
	char		endpoint_id[40];
	int			attempt;
	long long	started_ms;
	int			duration_ms;
	int			http_status;	/* 0: no response */
	char		error[ERROR_MAX];
	struct result *next;
};

static struct relay_config config;
static volatile sig_atomic_t stop_requested;
static PGconn *conn;
static CURLM *multi;
static struct transfer *in_flight;
static int	n_in_flight;
static int	n_results;			/* the length of results */
static struct result *results;	/* oldest first */
static struct result **results_tail = &results;
static char retry_schedule_array[RETRY_SCHEDULE_MAX * 12 + 3];

/* SIGINT, SIGTERM: stop claiming, drain */
static void
on_stop_signal(int sig)
{
	(void) sig;
	stop_requested = 1;
}

/* Milliseconds of CLOCK_REALTIME (rt) or CLOCK_MONOTONIC. */
static long long
now_ms(bool rt)
{
	struct timespec ts;

	clock_gettime(rt ? CLOCK_REALTIME : CLOCK_MONOTONIC, &ts);
	return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Publishes the gauges: in flight, and claimed but not yet recorded. */
static void
publish_gauges(void)
{
	metrics_gauges(n_in_flight, n_in_flight + n_results);
}

/* Copies src into a fixed buffer, truncating. */
static void
copy_text(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src);
}

/* Drops the connection after an error; the loop reconnects. */
static void
drop_connection(const char *what)
{
	fprintf(stderr, "fanfare-relay: %s: %s", what, conn ? PQerrorMessage(conn) : "no connection\n");
	if (conn)
		PQfinish(conn);
	conn = NULL;
}

/* Connects and LISTENs; false (conn NULL) if the database is not there. */
static bool
connect_database(void)
{
	PGresult   *res;

	conn = PQconnectdb(config.database);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		drop_connection("cannot connect");
		return false;
	}
	res = PQexec(conn, "SET application_name = 'fanfare-relay'; SET statement_timeout = '60s'; LISTEN fanfare_webhooks");
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		PQclear(res);
		drop_connection("cannot listen");
		return false;
	}
	PQclear(res);
	return true;
}

/* Discards what a receiver answers: only the status matters. */
static size_t
discard_body(char *data, size_t size, size_t nmemb, void *arg)
{
	(void) data;
	(void) arg;
	return size * nmemb;
}

/* Appends "name: value" to a header list (NULL stays NULL on failure). */
static struct curl_slist *
add_header(struct curl_slist *list, const char *name, const char *value)
{
	char		line[512];
	struct curl_slist *grown;

	snprintf(line, sizeof(line), "%s: %s", name, value);
	grown = curl_slist_append(list, line);
	if (grown == NULL)
		curl_slist_free_all(list);
	return grown;
}

/* Frees a transfer that is no longer in the multi handle. */
static void
transfer_free(struct transfer *t)
{
	if (t->easy)
		curl_easy_cleanup(t->easy);
	curl_slist_free_all(t->headers);
	free(t->body);
	free(t);
}

/*
 * Starts the request of one claimed row: the signed POST with Fanfare's
 * headers (the retry headers from the second attempt on).  false when it
 * could not be set up; the lease then runs out and it is claimed again.
 */
static bool
start_transfer(PGresult *res, int row)
{
	struct transfer *t = calloc(1, sizeof(*t));
	const char *url = PQgetvalue(res, row, 3);
	const char *secret = PQgetvalue(res, row, 4);
	const char *event_type = PQgetvalue(res, row, 5);
	const char *original_time = PQgetvalue(res, row, 7);
	char		timestamp[24];
	char		signature[SIGNATURE_LEN];
	char		retry_count[16];
	struct curl_slist *h = NULL;

	if (t == NULL)
		return false;
	copy_text(t->organization_id, sizeof(t->organization_id), PQgetvalue(res, row, 0));
	copy_text(t->delivery_id, sizeof(t->delivery_id), PQgetvalue(res, row, 1));
	copy_text(t->endpoint_id, sizeof(t->endpoint_id), PQgetvalue(res, row, 2));
	t->attempt = atoi(PQgetvalue(res, row, 6));
	t->body = strdup(PQgetvalue(res, row, 8));
	t->easy = curl_easy_init();
	t->started_ms = now_ms(true);
	clock_gettime(CLOCK_MONOTONIC, &t->started_mono);
	if (t->body == NULL || t->easy == NULL)
		goto fail;

	snprintf(timestamp, sizeof(timestamp), "%lld", t->started_ms / 1000);
	signature_compute(secret, timestamp, t->body, strlen(t->body), signature);
	h = add_header(h, "Content-Type", "application/json");
	if (h) h = add_header(h, "X-Fanfare-Signature", signature);
	if (h) h = add_header(h, "X-Fanfare-Timestamp", timestamp);
	if (h) h = add_header(h, "X-Fanfare-Event-Type", event_type);
	if (h) h = add_header(h, "X-Fanfare-Delivery-Id", t->delivery_id);
	if (h && t->attempt > 1)
	{
		snprintf(retry_count, sizeof(retry_count), "%d", t->attempt - 1);
		h = add_header(h, "X-Fanfare-Retry-Count", retry_count);
		if (h) h = add_header(h, "X-Fanfare-Original-Time", original_time);
		if (h) h = add_header(h, "X-Fanfare-Webhook-Id", t->endpoint_id);
	}
	if (h) h = curl_slist_append(h, "Expect:");
	if (h == NULL)
		goto fail;
	t->headers = h;

	curl_easy_setopt(t->easy, CURLOPT_URL, url);
	curl_easy_setopt(t->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(t->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->headers);
	curl_easy_setopt(t->easy, CURLOPT_USERAGENT, "Fanfare-Webhooks/1.0");
	curl_easy_setopt(t->easy, CURLOPT_POSTFIELDS, t->body);
	curl_easy_setopt(t->easy, CURLOPT_POSTFIELDSIZE, (long) strlen(t->body));
	curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, (long) config.timeout_s * 1000);
	curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, discard_body);
	curl_easy_setopt(t->easy, CURLOPT_ERRORBUFFER, t->errbuf);
	curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
	if (curl_multi_add_handle(multi, t->easy) != CURLM_OK)
		goto fail;
	t->next = in_flight;
	in_flight = t;
	n_in_flight++;
	publish_gauges();
	return true;

fail:
	curl_slist_free_all(h);
	t->headers = NULL;
	transfer_free(t);
	return false;
}

/*
 * The claim's arguments for what is in flight: the endpoints and how many
 * requests each has, as two array literals (endpoint ids are whe_ and hex).
 */
static void
busy_arrays(char **ids, char **counts)
{
	size_t		size = 3 + (size_t) n_in_flight * 48;
	struct transfer *t,
			   *u;

	*ids = malloc(size);
	*counts = malloc(size);
	if (*ids == NULL || *counts == NULL)
	{
		free(*ids);
		free(*counts);
		*ids = *counts = NULL;
		return;
	}
	strcpy(*ids, "{");
	strcpy(*counts, "{");
	for (t = in_flight; t; t = t->next)
	{
		int			n = 0;
		bool		first = true;

		for (u = in_flight; u != t; u = u->next)
			if (strcmp(u->endpoint_id, t->endpoint_id) == 0)
				first = false;
		if (!first)
			continue;
		for (u = t; u; u = u->next)
			n += strcmp(u->endpoint_id, t->endpoint_id) == 0;
		snprintf(*ids + strlen(*ids), size - strlen(*ids), "%s%s", (*ids)[1] ? "," : "", t->endpoint_id);
		snprintf(*counts + strlen(*counts), size - strlen(*counts), "%s%d", (*counts)[1] ? "," : "", n);
	}
	strcat(*ids, "}");
	strcat(*counts, "}");
}

/* Claims up to max due deliveries and starts them; returns how many were claimed, -1 on error. */
static int
claim(int max)
{
	char		max_text[16],
				lease_text[16],
				per_endpoint_text[16];
	char	   *ids,
			   *counts;
	const char *params[5];
	PGresult   *res;
	int			n;

	busy_arrays(&ids, &counts);
	if (ids == NULL)
		return 0;
	snprintf(max_text, sizeof(max_text), "%d", max);
	snprintf(lease_text, sizeof(lease_text), "%d", config.timeout_s + LEASE_MARGIN_S);
	snprintf(per_endpoint_text, sizeof(per_endpoint_text), "%d", config.per_endpoint);
	params[0] = max_text;
	params[1] = lease_text;
	params[2] = per_endpoint_text;
	params[3] = ids;
	params[4] = counts;
	res = PQexecParams(conn,
					   "SELECT organization_id, delivery_id, endpoint_id, url, secret, event_type, attempt, original_time, body "
					   "FROM fanfare.claim_webhook_deliveries($1::integer, $2::integer, $3::integer, $4::text[], $5::integer[])",
					   5, NULL, params, NULL, NULL, 0);
	free(ids);
	free(counts);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		PQclear(res);
		drop_connection("claim failed");
		return -1;
	}
	n = PQntuples(res);
	for (int i = 0; i < n; i++)
		if (!start_transfer(res, i))
			fprintf(stderr, "fanfare-relay: out of memory starting delivery %s (it will be sent again)\n",
					PQgetvalue(res, i, 1));
	PQclear(res);
	return n;
}

#define RECORD_BATCH 128			/* attempts recorded in one round trip */
#define RECORD_SQL \
	"SELECT fanfare.record_webhook_attempt($1::uuid, $2, $3::integer, " \
	"pg_catalog.to_timestamp($4::float8 / 1000), $5::integer, $6::integer, $7, " \
	"$8::integer[], $9::integer, pg_catalog.make_interval(secs => $10::integer))"

/* the text parameters of one record_webhook_attempt call */
struct record_params
{
	char		attempt[16],
				started[32],
				duration[16],
				status[16],
				disable_after[16],
				window[16];
	const char *values[10];
};

/* Fills the parameters of r's call. */
static void
record_params_fill(struct record_params *p, const struct result *r)
{
	snprintf(p->attempt, sizeof(p->attempt), "%d", r->attempt);
	snprintf(p->started, sizeof(p->started), "%lld", r->started_ms);
	snprintf(p->duration, sizeof(p->duration), "%d", r->duration_ms);
	snprintf(p->status, sizeof(p->status), "%d", r->http_status);
	snprintf(p->disable_after, sizeof(p->disable_after), "%d", config.disable_after);
	snprintf(p->window, sizeof(p->window), "%d", config.disable_window_s);
	p->values[0] = r->organization_id;
	p->values[1] = r->delivery_id;
	p->values[2] = p->attempt;
	p->values[3] = p->started;
	p->values[4] = p->duration;
	p->values[5] = r->http_status ? p->status : NULL;
	p->values[6] = r->error[0] ? r->error : NULL;
	p->values[7] = retry_schedule_array;
	p->values[8] = p->disable_after;
	p->values[9] = p->window;
}

/* What a recorded attempt's outcome means for the loop; counts it, logs it if verbose. */
static void
record_outcome(const struct result *r, const char *outcome, bool *again)
{
	metrics_outcome(outcome);
	if (config.verbose)
		printf("%s attempt %d status %d %s %d ms\n", r->delivery_id, r->attempt,
			   r->http_status, outcome, r->duration_ms);
	/* a failed delivery may have queued webhook.delivery.failed */
	if (strcmp(outcome, "failed") == 0)
		*again = true;
}

/* Orders a batch by endpoint, so that relays lock endpoints in one order. */
static int
result_cmp(const void *a, const void *b)
{
	const struct result *x = *(const struct result *const *) a;
	const struct result *y = *(const struct result *const *) b;

	return strcmp(x->endpoint_id, y->endpoint_id);
}

/* Frees the first n results of the list. */
static void
results_pop(int n)
{
	while (n-- > 0 && results)
	{
		struct result *r = results;

		results = r->next;
		free(r);
		n_results--;
	}
	if (results == NULL)
		results_tail = &results;
	publish_gauges();
}

/*
 * Records up to RECORD_BATCH of the oldest results in one round trip and one
 * transaction (libpq's pipeline mode).  Returns the number recorded, 0 when
 * the batch failed without losing the connection (the caller records them
 * one by one), -1 when the connection is lost.
 */
static int
record_batch(bool *again)
{
	struct result *batch[RECORD_BATCH];
	struct record_params params;
	int			n = 0;
	bool		ok = true;
	PGresult   *res;

	for (struct result *r = results; r && n < RECORD_BATCH; r = r->next)
		batch[n++] = r;
	qsort(batch, n, sizeof(batch[0]), result_cmp);
	if (!PQenterPipelineMode(conn))
		return 0;
	for (int i = 0; i < n && ok; i++)
	{
		record_params_fill(&params, batch[i]);
		ok = PQsendQueryParams(conn, RECORD_SQL, 10, NULL, params.values, NULL, NULL, 0) == 1;
	}
	if (!ok || !PQpipelineSync(conn))
	{
		drop_connection("connection lost");
		return -1;
	}
	for (int i = 0; i < n; i++)
	{
		res = PQgetResult(conn);
		if (res == NULL)
		{
			drop_connection("connection lost");
			return -1;
		}
		if (PQresultStatus(res) == PGRES_TUPLES_OK)
			record_outcome(batch[i], PQgetvalue(res, 0, 0), again);
		else
			ok = false;
		PQclear(res);
		while ((res = PQgetResult(conn)) != NULL)	/* the end of this query */
			PQclear(res);
	}
	res = PQgetResult(conn);	/* the sync */
	if (res == NULL || PQresultStatus(res) != PGRES_PIPELINE_SYNC)
	{
		PQclear(res);
		drop_connection("connection lost");
		return -1;
	}
	PQclear(res);
	if (!PQexitPipelineMode(conn))
	{
		drop_connection("cannot leave pipeline mode");
		return -1;
	}
	if (!ok)
		return 0;				/* the transaction rolled back: none is recorded */
	results_pop(n);
	return n;
}

/* Records the oldest result on its own; false when the connection is lost. */
static bool
record_one(bool *again)
{
	struct result *r = results;
	struct record_params params;
	PGresult   *res;

	record_params_fill(&params, r);
	res = PQexecParams(conn, RECORD_SQL, 10, NULL, params.values, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		bool		lost = PQstatus(conn) != CONNECTION_OK;

		fprintf(stderr, "fanfare-relay: recording %s failed: %s", r->delivery_id, PQresultErrorMessage(res));
		PQclear(res);
		if (lost)
		{
			drop_connection("connection lost");
			return false;
		}
		/* refused for good (it cannot succeed later): dropped; the lease runs out */
	}
	else
	{
		record_outcome(r, PQgetvalue(res, 0, 0), again);
		PQclear(res);
	}
	results_pop(1);
	return true;
}

/*
 * Records every result, in batches; a batch that fails (a deadlock, one bad
 * row) is recorded again one by one.  false when the connection is lost.
 */
static bool
record_results(bool *again)
{
	while (results)
	{
		int			n = record_batch(again);

		if (n < 0)
			return false;
		if (n == 0)
		{
			for (int i = 0; i < RECORD_BATCH && results; i++)
				if (!record_one(again))
					return false;
		}
	}
	if (config.verbose)
		fflush(stdout);
	return true;
}

/* Moves finished transfers to the results list; returns how many. */
static int
collect_finished(void)
{
	CURLMsg    *msg;
	int			left;
	int			n = 0;

	while ((msg = curl_multi_info_read(multi, &left)) != NULL)
	{
		struct transfer *t,
				  **p;
		struct result *r;
		long		code = 0;
		struct timespec end;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &t);
		clock_gettime(CLOCK_MONOTONIC, &end);
		metrics_attempt((double) (end.tv_sec - t->started_mono.tv_sec) +
						(double) (end.tv_nsec - t->started_mono.tv_nsec) / 1e9);
		r = calloc(1, sizeof(*r));
		if (r)
		{
			copy_text(r->organization_id, sizeof(r->organization_id), t->organization_id);
			copy_text(r->delivery_id, sizeof(r->delivery_id), t->delivery_id);
			copy_text(r->endpoint_id, sizeof(r->endpoint_id), t->endpoint_id);
			r->attempt = t->attempt;
			r->started_ms = t->started_ms;
			r->duration_ms = (int) (now_ms(true) - t->started_ms);
			if (msg->data.result == CURLE_OK)
			{
				curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
				r->http_status = (int) code;
				if (code < 200 || code > 299)
					snprintf(r->error, sizeof(r->error), "HTTP %ld", code);
			}
			else
				snprintf(r->error, sizeof(r->error), "%s",
						 t->errbuf[0] ? t->errbuf : curl_easy_strerror(msg->data.result));
			*results_tail = r;
			results_tail = &r->next;
			n_results++;
		}
		/* without memory for the result, the lease runs out: sent again */
		curl_multi_remove_handle(multi, t->easy);
		for (p = &in_flight; *p != t; p = &(*p)->next)
			;
		*p = t->next;
		n_in_flight--;
		transfer_free(t);
		n++;
	}
	if (n > 0)
		publish_gauges();
	return n;
}

/* Drops the requests still in flight at the end of a drain (sent again later). */
static void
abandon_in_flight(void)
{
	while (in_flight)
	{
		struct transfer *t = in_flight;

		in_flight = t->next;
		curl_multi_remove_handle(multi, t->easy);
		transfer_free(t);
	}
	n_in_flight = 0;
	publish_gauges();
}

/* The retry schedule as an integer[] literal. */
static void
build_retry_schedule_array(void)
{
	size_t		len;

	strcpy(retry_schedule_array, "{");
	for (int i = 0; i < config.n_retry_delays; i++)
	{
		len = strlen(retry_schedule_array);
		snprintf(retry_schedule_array + len, sizeof(retry_schedule_array) - len, "%s%d",
				 i ? "," : "", config.retry_delays[i]);
	}
	strcat(retry_schedule_array, "}");
}

/*
 * The drain after SIGINT/SIGTERM: starts it, and says whether the loop is
 * over (everything recorded, or the drain's time is up).
 */
static bool
drain_over(long long now, long long *drain_deadline)
{
	if (stop_requested && *drain_deadline == 0)
	{
		*drain_deadline = now + (long long) config.timeout_s * 1000 + 1000;
		fprintf(stderr, "fanfare-relay: stopping: %d requests in flight\n", n_in_flight);
	}
	if (*drain_deadline && n_in_flight == 0 && (results == NULL || conn == NULL))
		return true;
	if (*drain_deadline && now > *drain_deadline)
	{
		fprintf(stderr, "fanfare-relay: %d requests still in flight at the end of the drain (they will be sent again)\n",
				n_in_flight);
		abandon_in_flight();
		return true;
	}
	return false;
}

/*
 * Waits for a transfer, a NOTIFY or the next claim (at most 200 ms while
 * disconnected or draining); *wake is set by a NOTIFY.  False when the
 * database connection was lost.
 */
static bool
wait_for_work(bool *wake, long long next_claim, long long drain_deadline)
{
	struct curl_waitfd wfd;
	unsigned int n_wfd = 0;
	long		wait_ms;
	PGnotify   *note;

	if (conn)
	{
		wfd.fd = PQsocket(conn);
		wfd.events = CURL_WAIT_POLLIN;
		wfd.revents = 0;
		n_wfd = 1;
	}
	wait_ms = *wake ? 0 : next_claim - now_ms(false);
	if (wait_ms > 1000 || conn == NULL || drain_deadline)
		wait_ms = wait_ms > 200 ? 200 : wait_ms;
	if (wait_ms < 0)
		wait_ms = 0;
	if (n_in_flight >= config.max_in_flight && wait_ms < 50)
		wait_ms = 50;			/* full: only transfers can make room */
	curl_multi_poll(multi, n_wfd ? &wfd : NULL, n_wfd, (int) wait_ms, NULL);
	if (conn == NULL)
		return true;
	if (!PQconsumeInput(conn))
	{
		drop_connection("connection lost");
		return false;
	}
	while ((note = PQnotifies(conn)) != NULL)
	{
		*wake = true;
		PQfreemem(note);
	}
	return true;
}

/* The loop; returns the exit status. */
static int
run(void)
{
	long long	next_claim = 0;
	long long	next_connect = 0;
	long long	drain_deadline = 0;
	bool		wake = true;
	bool		claimed_some = false;

	for (;;)
	{
		long long	now = now_ms(false);
		int			running;

		if (drain_over(now, &drain_deadline))
			break;
		if (conn == NULL && now >= next_connect)
		{
			next_connect = now + 1000;
			if (connect_database())
				wake = true;
		}
		if (conn && results && !record_results(&wake))
			continue;
		if (conn && !drain_deadline && n_in_flight < config.max_in_flight && (wake || now >= next_claim))
		{
			int			want = config.max_in_flight - n_in_flight;
			int			got = claim(want);

			/* a full claim may have left more due rows behind */
			wake = got == want;
			claimed_some = got > 0;
			next_claim = now + config.poll_interval_ms;
		}

		curl_multi_perform(multi, &running);
		/* a finished request frees a slot: claim again while there was work */
		if (collect_finished() && claimed_some)
			wake = true;
		if (results && conn)
			continue;
		wait_for_work(&wake, next_claim, drain_deadline);
	}
	if (conn && results)
	{
		bool		ignored = false;

		record_results(&ignored);
	}
	if (results)
		fprintf(stderr, "fanfare-relay: exiting with unrecorded attempts (their deliveries will be sent again)\n");
	return 0;
}

int
main(int argc, char **argv)
{
	struct sigaction sa;
	int			status;

	switch (config_load(&config, argc, argv))
	{
		case CONFIG_OK:
			break;
		case CONFIG_EXIT_OK:
			return 0;
		case CONFIG_ERROR:
			return 2;
	}
	build_retry_schedule_array();

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || (multi = curl_multi_init()) == NULL)
	{
		fprintf(stderr, "fanfare-relay: cannot initialise libcurl\n");
		return 1;
	}
	curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long) config.max_in_flight);
	fprintf(stderr, "fanfare-relay " RELAY_VERSION ": up to %d requests in flight, %d per endpoint, %d s timeout, %d retries\n",
			config.max_in_flight, config.per_endpoint, config.timeout_s, config.n_retry_delays);

	if (!metrics_start(config.metrics_listen))
	{
		curl_multi_cleanup(multi);
		curl_global_cleanup();
		return 1;
	}

	status = run();

	metrics_stop();

	curl_multi_cleanup(multi);
	curl_global_cleanup();
	if (conn)
		PQfinish(conn);
	return status;
}
