/*
 * metrics.c
 *		GET /metrics: counters, a latency histogram and the pools' state,
 *		in Prometheus' text exposition format (version 0.0.4).
 *
 * Names follow OpenTelemetry's HTTP semantic conventions where one exists
 * (http_server_request_duration_seconds with http_request_method,
 * http_route and http_response_status_code; http_server_active_requests);
 * the pool's are named as PostgREST's pgrst_db_pool_* are, with fanfare_
 * for pgrst_.  Requests by route and status are the histogram's _count.
 *
 * The histogram is a fixed array of atomic counters indexed by route,
 * method and status: recording is a few relaxed atomic additions, and no
 * label value ever comes from a client's bytes.
 */
#include "metrics.h"
#include "metrics_page.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "routes.h"

static const char *const routes[] = {
	"/consumers/batch", "/healthz", "/ready", "/live", "/openapi.json", "/metrics",
	""							/* no route matched (404) */
};
#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

static const char *const methods[] = {"GET", "HEAD", "POST", "_OTHER"};
#define N_METHODS (sizeof(methods) / sizeof(methods[0]))

/* the statuses the gateway sends, and one slot for any other */
static const unsigned int statuses[] = {
	200, 400, 401, 403, 404, 405, 408, 409, 413, 414, 415, 422, 429, 431, 500, 503, 0
};
#define N_STATUSES (sizeof(statuses) / sizeof(statuses[0]))

/* OpenTelemetry's advice for http.server.request.duration, in seconds */
static const double bounds[] = {
	0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10
};
#define N_BOUNDS (sizeof(bounds) / sizeof(bounds[0]))

struct series
{
	atomic_ulong buckets[N_BOUNDS + 1];	/* not cumulative; the last is +Inf */
	atomic_ulong count;
	atomic_ulong sum_us;
};

static struct series histogram[N_ROUTES][N_METHODS][N_STATUSES];
static atomic_ulong consumers_created;
static atomic_ulong idempotent_replays;
static atomic_ulong rate_limited;
static atomic_ulong unavailable[UNAVAILABLE_CAUSES];

static const char *const unavailable_causes[UNAVAILABLE_CAUSES] = {
	"pool_timeout", "deadline", "unreachable", "database"
};

static size_t
index_of_route(const char *route)
{
	for (size_t i = 0; route != NULL && i + 1 < N_ROUTES; i++)
		if (strcmp(route, routes[i]) == 0)
			return i;
	return N_ROUTES - 1;
}

static size_t
index_of_method(const char *method)
{
	for (size_t i = 0; i + 1 < N_METHODS; i++)
		if (strcmp(method, methods[i]) == 0)
			return i;
	return N_METHODS - 1;
}

static size_t
index_of_status(unsigned int status)
{
	for (size_t i = 0; i + 1 < N_STATUSES; i++)
		if (statuses[i] == status)
			return i;
	return N_STATUSES - 1;
}

/* One request answered (status 0: none was sent, not counted). */
void
metrics_request(const char *route, const char *method, unsigned int status, double seconds)
{
	struct series *s;
	size_t		b = 0;

	if (status == 0)
		return;
	s = &histogram[index_of_route(route)][index_of_method(method)][index_of_status(status)];
	while (b < N_BOUNDS && seconds > bounds[b])
		b++;
	atomic_fetch_add_explicit(&s->buckets[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->sum_us, (unsigned long) (seconds * 1e6), memory_order_relaxed);
	atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
	if (status == 429)
		atomic_fetch_add_explicit(&rate_limited, 1, memory_order_relaxed);
}

void
metrics_consumers_created(unsigned long n)
{
	atomic_fetch_add_explicit(&consumers_created, n, memory_order_relaxed);
}

void
metrics_idempotent_replay(void)
{
	atomic_fetch_add_explicit(&idempotent_replays, 1, memory_order_relaxed);
}

void
metrics_unavailable(enum metrics_unavailable cause)
{
	atomic_fetch_add_explicit(&unavailable[cause], 1, memory_order_relaxed);
}

/* ---- the exposition ---- */

struct text
{
	char	   *data;
	size_t		len;
	size_t		cap;
	bool		failed;
};

/* printf onto the text, growing it; a failure is remembered */
static void
text_printf(struct text *t, const char *fmt,...)
{
	va_list		ap;
	int			n;

	if (t->failed)
		return;
	for (;;)
	{
		va_start(ap, fmt);
		n = vsnprintf(t->data + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0)
		{
			t->failed = true;
			return;
		}
		if ((size_t) n < t->cap - t->len)
		{
			t->len += (size_t) n;
			return;
		}
		{
			size_t		cap = t->cap * 2 + (size_t) n;
			char	   *grown = realloc(t->data, cap);

			if (grown == NULL)
			{
				t->failed = true;
				return;
			}
			t->data = grown;
			t->cap = cap;
		}
	}
}

static void
family(struct text *t, const char *name, const char *type, const char *help)
{
	text_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
render_histogram(struct text *t)
{
	family(t, "http_server_request_duration_seconds", "histogram",
		   "Duration of HTTP server requests, from arrival to the response queued.");
	for (size_t r = 0; r < N_ROUTES; r++)
		for (size_t m = 0; m < N_METHODS; m++)
			for (size_t s = 0; s < N_STATUSES; s++)
			{
				struct series *x = &histogram[r][m][s];
				unsigned long count = atomic_load_explicit(&x->count, memory_order_relaxed);
				unsigned long cumulative = 0;
				char		labels[160];
				char		status[16];

				if (count == 0)
					continue;
				if (statuses[s] != 0)
					snprintf(status, sizeof(status), "%u", statuses[s]);
				else
					strcpy(status, "_OTHER");
				snprintf(labels, sizeof(labels),
						 "http_request_method=\"%s\",http_route=\"%s\",http_response_status_code=\"%s\"",
						 methods[m], routes[r], status);
				for (size_t b = 0; b < N_BOUNDS; b++)
				{
					cumulative += atomic_load_explicit(&x->buckets[b], memory_order_relaxed);
					text_printf(t, "http_server_request_duration_seconds_bucket{%s,le=\"%g\"} %lu\n",
								labels, bounds[b], cumulative);
				}
				/* +Inf is the count, so that the two always agree */
				text_printf(t, "http_server_request_duration_seconds_bucket{%s,le=\"+Inf\"} %lu\n",
							labels, count);
				text_printf(t, "http_server_request_duration_seconds_sum{%s} %.6f\n", labels,
							atomic_load_explicit(&x->sum_us, memory_order_relaxed) / 1e6);
				text_printf(t, "http_server_request_duration_seconds_count{%s} %lu\n", labels, count);
			}
}

static void
render_counter(struct text *t, const char *name, const char *help, unsigned long value)
{
	family(t, name, "counter", help);
	text_printf(t, "%s %lu\n", name, value);
}

static void
render_gauge(struct text *t, const char *name, const char *help, long value)
{
	family(t, name, "gauge", help);
	text_printf(t, "%s %ld\n", name, value);
}

static void
render_pool(struct text *t, struct gateway *gw)
{
	struct db_pool_stats stats;

	memset(&stats, 0, sizeof(stats));
	for (int i = 0; i < gw->config->threads; i++)
		if (gw->loops != NULL && gw->loops[i] != NULL)
			db_pool_stats(gw->loops[i]->pool, &stats);
	render_gauge(t, "fanfare_db_pool_max", "Database connections the gateway may open (--pool).", stats.size);
	render_gauge(t, "fanfare_db_pool_available", "Open database connections that are idle.", stats.idle);
	render_gauge(t, "fanfare_db_pool_waiting", "Requests waiting for a database connection.", stats.waiting);
	family(t, "fanfare_db_pool_connections", "gauge", "Database connections by state.");
	text_printf(t, "fanfare_db_pool_connections{state=\"idle\"} %d\n", stats.idle);
	text_printf(t, "fanfare_db_pool_connections{state=\"busy\"} %d\n", stats.busy);
	text_printf(t, "fanfare_db_pool_connections{state=\"connecting\"} %d\n", stats.connecting);
	text_printf(t, "fanfare_db_pool_connections{state=\"down\"} %d\n", stats.down);
	render_counter(t, "fanfare_db_pool_waits_total",
				   "Requests that had to wait for a free database connection.", stats.waits);
	render_counter(t, "fanfare_db_pool_timeouts_total",
				   "Requests whose wait for a database connection ended without one (--pool-wait).",
				   stats.timeouts);
}

char *
metrics_render(struct gateway *gw, size_t *len)
{
	struct text t = {malloc(64 * 1024), 0, 64 * 1024, false};

	if (t.data == NULL)
		return NULL;
	render_histogram(&t);
	render_gauge(&t, "http_server_active_requests", "HTTP requests being served.",
				 atomic_load(&gw->in_flight));
	render_pool(&t, gw);
	render_counter(&t, "fanfare_consumers_created_total", "Consumers created (replays not counted).",
				   atomic_load_explicit(&consumers_created, memory_order_relaxed));
	render_counter(&t, "fanfare_idempotent_replays_total",
				   "Requests answered with a replay of an earlier one (Idempotent-Replayed).",
				   atomic_load_explicit(&idempotent_replays, memory_order_relaxed));
	render_counter(&t, "fanfare_rate_limited_requests_total",
				   "Requests refused by the organization's rate limit (429).",
				   atomic_load_explicit(&rate_limited, memory_order_relaxed));
	family(&t, "fanfare_unavailable_responses_total", "counter", "503 answers, by cause.");
	for (int c = 0; c < UNAVAILABLE_CAUSES; c++)
		text_printf(&t, "fanfare_unavailable_responses_total{cause=\"%s\"} %lu\n",
					unavailable_causes[c],
					atomic_load_explicit(&unavailable[c], memory_order_relaxed));
	if (t.failed)
	{
		free(t.data);
		return NULL;
	}
	*len = t.len;
	return t.data;
}


/*
 * GET /metrics on the main listener; 404 there when --metrics-listen
 * serves it elsewhere.
 */
bool
metrics_finish(struct gateway *gw, struct MHD_Connection *connection,
			   struct request_state *rs, struct reply *reply)
{
	size_t		len;
	char	   *text;

	(void) connection;
	(void) rs;
	if (gw->config->metrics_listen[0] != '\0')
	{
		reply_not_found(reply);
		return true;
	}
	text = metrics_render(gw, &len);
	if (text == NULL)
	{
		reply_internal_error(reply);
		return true;
	}
	reply_take(reply, 200, text, len);
	reply->content_type = metrics_page_content_type;
	return true;
}

/* The page of --metrics-listen (metrics_page.c): arg is the gateway. */
char *
metrics_page_text(void *arg, size_t *len)
{
	return metrics_render((struct gateway *) arg, len);
}
