/*
 * metrics.c
 *		GET /metrics of fanfare-relay, in Prometheus' text format 0.0.4.
 *
 * The relay's loop updates the numbers under one mutex; libmicrohttpd's own
 * thread (--metrics-listen) renders them under the same mutex.  No label
 * names an organization, an endpoint, a delivery or a URL: the values are
 * the relay's own, since it was started.
 */
#include "metrics.h"

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "listen_addr.h"
#include "metrics_page.h"

/* what fanfare.record_webhook_attempt returns, in exposition order */
static const char *const outcomes[] = {"delivered", "retry", "failed", "gone", "stale"};

#define N_OUTCOMES (sizeof(outcomes) / sizeof(outcomes[0]))

/* the attempt histogram's upper bounds, seconds (5 ms to 30 s) */
static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

#define N_BUCKETS (sizeof(buckets) / sizeof(buckets[0]))

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long long deliveries[N_OUTCOMES];
static unsigned long long bucket_counts[N_BUCKETS];	/* not cumulative */
static unsigned long long attempt_count;
static double attempt_sum;
static int	in_flight_now;
static int	pending_now;
static struct MHD_Daemon *daemon_handle;

/* Counts one recorded attempt by what the database made of it. */
void
metrics_outcome(const char *outcome)
{
	for (size_t i = 0; i < N_OUTCOMES; i++)
		if (strcmp(outcome, outcomes[i]) == 0)
		{
			pthread_mutex_lock(&lock);
			deliveries[i]++;
			pthread_mutex_unlock(&lock);
			return;
		}
}

/* Observes one finished attempt (answered or not) that took seconds. */
void
metrics_attempt(double seconds)
{
	size_t		i;

	for (i = 0; i < N_BUCKETS && seconds > buckets[i]; i++)
		;
	pthread_mutex_lock(&lock);
	if (i < N_BUCKETS)
		bucket_counts[i]++;
	attempt_count++;
	attempt_sum += seconds;
	pthread_mutex_unlock(&lock);
}

/* Sets the gauges: requests in flight, and deliveries claimed and unrecorded. */
void
metrics_gauges(int in_flight, int pending)
{
	pthread_mutex_lock(&lock);
	in_flight_now = in_flight;
	pending_now = pending;
	pthread_mutex_unlock(&lock);
}

/* a growing text buffer; data NULL after a failed allocation */
struct text
{
	char	   *data;
	size_t		len;
	size_t		size;
};

/* Appends printf-style to t. */
static void
append(struct text *t, const char *fmt,...) __attribute__((format(printf, 2, 3)));

static void
append(struct text *t, const char *fmt,...)
{
	va_list		ap;
	int			n;

	for (;;)
	{
		if (t->data == NULL)
			return;
		va_start(ap, fmt);
		n = vsnprintf(t->data + t->len, t->size - t->len, fmt, ap);
		va_end(ap);
		if (n < 0)
		{
			free(t->data);
			t->data = NULL;
			return;
		}
		if ((size_t) n < t->size - t->len)
		{
			t->len += (size_t) n;
			return;
		}
		{
			char	   *grown = realloc(t->data, t->size * 2 + (size_t) n);

			if (grown == NULL)
				free(t->data);
			t->data = grown;
			t->size = t->size * 2 + (size_t) n;
		}
	}
}

/* The exposition (malloc'd), or NULL without memory (metrics_page_render). */
static char *
render(void *arg, size_t *len)
{
	struct text t = {malloc(2048), 0, 2048};
	unsigned long long d[N_OUTCOMES],
				b[N_BUCKETS],
				count,
				cumulative = 0;
	double		sum;
	int			in_flight,
				pending;

	(void) arg;

	pthread_mutex_lock(&lock);
	memcpy(d, deliveries, sizeof(d));
	memcpy(b, bucket_counts, sizeof(b));
	count = attempt_count;
	sum = attempt_sum;
	in_flight = in_flight_now;
	pending = pending_now;
	pthread_mutex_unlock(&lock);

	append(&t, "# HELP fanfare_relay_deliveries_total Attempts recorded by this relay, by what the database made of them (delivered; retry: failed, will be retried; failed: for good; gone: 410; stale: the claim was lost).\n"
		   "# TYPE fanfare_relay_deliveries_total counter\n");
	for (size_t i = 0; i < N_OUTCOMES; i++)
		append(&t, "fanfare_relay_deliveries_total{outcome=\"%s\"} %llu\n", outcomes[i], d[i]);
	append(&t, "# HELP fanfare_relay_deliveries_pending Deliveries this relay has claimed and not yet recorded (in flight or waiting for the database).\n"
		   "# TYPE fanfare_relay_deliveries_pending gauge\n"
		   "fanfare_relay_deliveries_pending %d\n", pending);
	append(&t, "# HELP fanfare_relay_requests_in_flight Webhook requests in flight.\n"
		   "# TYPE fanfare_relay_requests_in_flight gauge\n"
		   "fanfare_relay_requests_in_flight %d\n", in_flight);
	append(&t, "# HELP fanfare_relay_attempt_duration_seconds Duration of a delivery attempt, connecting included, answered or not.\n"
		   "# TYPE fanfare_relay_attempt_duration_seconds histogram\n");
	for (size_t i = 0; i < N_BUCKETS; i++)
	{
		cumulative += b[i];
		append(&t, "fanfare_relay_attempt_duration_seconds_bucket{le=\"%g\"} %llu\n", buckets[i], cumulative);
	}
	append(&t, "fanfare_relay_attempt_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
		   "fanfare_relay_attempt_duration_seconds_sum %.6f\n"
		   "fanfare_relay_attempt_duration_seconds_count %llu\n", count, sum, count);
	*len = t.len;
	return t.data;
}


/* libmicrohttpd's diagnostics, to stderr */
static void
on_mhd_error(void *cls, const char *fmt, va_list ap)
{
	(void) cls;
	fputs("fanfare-relay: metrics: ", stderr);
	vfprintf(stderr, fmt, ap);
}

/*
 * Serves GET /metrics on listen from a thread of libmicrohttpd's; prints the
 * port it is bound to (port 0 picks one).  An empty listen serves nothing.
 */
bool
metrics_start(const char *listen)
{
	struct sockaddr_storage addr;
	const union MHD_DaemonInfo *info;
	sigset_t	stop_signals,
				saved;

	if (listen[0] == '\0')
		return true;
	if (!listen_addr_resolve("fanfare-relay", "--metrics-listen", listen, &addr, NULL))
		return false;
	/* SIGINT and SIGTERM are the loop's: its thread alone may take them */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_signals, &saved);
	daemon_handle = metrics_page_start(&addr, render, NULL, on_mhd_error);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	if (daemon_handle == NULL)
	{
		fprintf(stderr, "fanfare-relay: cannot serve metrics on %s\n", listen);
		return false;
	}
	info = MHD_get_daemon_info(daemon_handle, MHD_DAEMON_INFO_BIND_PORT);
	fprintf(stderr, "fanfare-relay: metrics on %s (metrics port %u)\n", listen,
			info ? (unsigned int) info->port : 0);
	return true;
}

/* Stops the listener, if any. */
void
metrics_stop(void)
{
	if (daemon_handle)
		MHD_stop_daemon(daemon_handle);
	daemon_handle = NULL;
}
