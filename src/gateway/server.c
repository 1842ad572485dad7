/*
 * server.c
 *		libmicrohttpd glue: one request_state per request, body collection
 *		under --max-body, dispatch to the routes, responses with the common
 *		headers, the access log line, and the graceful stop.
 *
 * libmicrohttpd calls on_request several times per request: once with the
 * headers, then once per chunk of body, then once more with no data.  A
 * route that needs the database has its connection suspended on that last
 * call; once the outcome is in, the connection is resumed and
 * libmicrohttpd calls once more, which sends it.  The state lives in
 * *req_cls from the first call until on_completed.
 *
 * There is one daemon per event loop (event_loop.c), in external epoll
 * mode, all on one listening socket that this file opens.
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access_log.h"
#include "listen_addr.h"
#include "metrics.h"
#include "metrics_page.h"
#include "header_deadline.h"
#include "pooler.h"
#include "routes.h"

#define BODY_INITIAL_CAPACITY (64 * 1024)
#define HEADER_MEMORY_LIMIT (64 * 1024)

/*
 * libmicrohttpd 0.9.75 cannot answer before it has read the whole body, so
 * a chunked body that outgrows --max-body is read on and dropped, then
 * answered 413; past this many dropped bytes the connection is just closed.
 */
#define BODY_DISCARD_LIMIT ((size_t) 8 * 1024 * 1024)

/* Milliseconds since a CLOCK_MONOTONIC instant. */
static double
elapsed_ms(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double) (now.tv_sec - since->tv_sec) * 1000.0 +
		(double) (now.tv_nsec - since->tv_nsec) / 1e6;
}

/* State for a new request: timing, request id, sanitized method and path for the log. */
static struct request_state *
request_state_new(struct event_loop *loop, struct MHD_Connection *connection,
				  const char *url, const char *method)
{
	struct request_state *rs = calloc(1, sizeof(*rs));

	if (rs == NULL)
		return NULL;
	rs->loop = loop;
	rs->connection = connection;
	clock_gettime(CLOCK_REALTIME, &rs->started_wall);
	clock_gettime(CLOCK_MONOTONIC, &rs->started);
	request_id_choose(MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "X-Request-Id"),
					  rs->request_id);
	access_log_sanitize(rs->method, sizeof(rs->method), method);
	access_log_sanitize(rs->path, sizeof(rs->path), url);
	return rs;
}

static void
request_state_free(struct request_state *rs)
{
	reply_free(&rs->early);
	reply_free(&rs->later);
	if (rs->work_free != NULL)
		rs->work_free(rs->work);
	free(rs->body);
	free(rs);
}

/*
 * Appends a chunk of body.  Past max_body the body is dropped and the rest
 * counted but not kept; false when even that has gone on for too long.
 */
static bool
body_append(struct request_state *rs, size_t max_body, const char *data, size_t size)
{
	size_t		need;

	if (rs->body_too_large || size > max_body - rs->body_len)
	{
		if (!rs->body_too_large)
		{
			rs->body_too_large = true;
			rs->body_discarded = rs->body_len;
			free(rs->body);
			rs->body = NULL;
			rs->body_len = rs->body_cap = 0;
		}
		rs->body_discarded += size;
		return rs->body_discarded - max_body <= BODY_DISCARD_LIMIT;
	}
	need = rs->body_len + size + 1;
	if (need > rs->body_cap)
	{
		size_t		cap = rs->body_cap ? rs->body_cap : BODY_INITIAL_CAPACITY;
		char	   *grown;

		while (cap < need)
			cap *= 2;
		if (cap > max_body + 1)
			cap = max_body + 1;
		grown = realloc(rs->body, cap);
		if (grown == NULL)
			return false;
		rs->body = grown;
		rs->body_cap = cap;
	}
	memcpy(rs->body + rs->body_len, data, size);
	rs->body_len += size;
	rs->body[rs->body_len] = '\0';
	return true;
}

/* X-RateLimit-Limit, -Remaining and -Reset, as Fanfare sends them. */
static void
add_rate_limit_headers(struct MHD_Response *response, const struct rate_limit_state *rate)
{
	char		number[24];

	snprintf(number, sizeof(number), "%d", rate->limit);
	MHD_add_response_header(response, "X-RateLimit-Limit", number);
	snprintf(number, sizeof(number), "%d", rate->remaining);
	MHD_add_response_header(response, "X-RateLimit-Remaining", number);
	snprintf(number, sizeof(number), "%lld", rate->reset);
	MHD_add_response_header(response, "X-RateLimit-Reset", number);
}

/* Sends a reply with the common headers; the reply is consumed. */
static enum MHD_Result
respond(struct gateway *gw, struct MHD_Connection *connection,
		struct request_state *rs, struct reply *reply)
{
	struct MHD_Response *response;
	enum MHD_Result queued;
	char		seconds[16];
	size_t		len = reply->body_len;

	if (reply->body_static)
		response = MHD_create_response_from_buffer(len, reply->body, MHD_RESPMEM_PERSISTENT);
	else
	{
		response = MHD_create_response_from_buffer(len, reply->body, MHD_RESPMEM_MUST_FREE);
		if (response != NULL)
			reply->body = NULL; /* libmicrohttpd frees it now */
	}
	if (response == NULL)
	{
		reply_free(reply);
		return MHD_NO;
	}
	MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
							reply->content_type ? reply->content_type : "application/json");
	MHD_add_response_header(response, "X-Request-Id", rs->request_id);
	MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (reply->allow != NULL)
		MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, reply->allow);
	if (reply->retry_after)
	{
		snprintf(seconds, sizeof(seconds), "%d",
				 reply->retry_after_s > 0 ? reply->retry_after_s : gw->config->retry_after_s);
		MHD_add_response_header(response, MHD_HTTP_HEADER_RETRY_AFTER, seconds);
	}
	if (rs->rate.known)
		add_rate_limit_headers(response, &rs->rate);
	if (reply->replayed)
		MHD_add_response_header(response, "Idempotent-Replayed", "true");
	if (reply->tx_rollback)
		MHD_add_response_header(response, "Preference-Applied", "tx=rollback");
	if (atomic_load(&gw->draining))
		MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");

	queued = MHD_queue_response(connection, reply->status, response);
	MHD_destroy_response(response);
	if (queued == MHD_YES)
	{
		rs->responded = true;
		rs->status = reply->status;
		rs->bytes = len;
	}
	reply_free(reply);
	return queued;
}

/* true if the request announces a body (Content-Length > 0 or chunked) */
static bool
has_body(struct MHD_Connection *connection)
{
	const char *length = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
													 MHD_HTTP_HEADER_CONTENT_LENGTH);

	if (MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
									MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL)
		return true;
	return length != NULL && strspn(length, "0") != strlen(length);
}

/*
 * First call: request state, routing, and the header-only checks.  An answer
 * that needs no body is kept for the last call when no body follows (so the
 * connection stays open for the next request), and sent at once when one
 * does (so the body is never read; libmicrohttpd then closes the connection).
 */
static enum MHD_Result
on_headers(struct event_loop *loop, struct MHD_Connection *connection, const char *url,
		   const char *method, void **req_cls)
{
	struct gateway *gw = loop->gw;
	struct request_state *rs;

	header_deadline_request_begins(gw->headers, connection);
	if (has_body(connection))
		header_deadline_body_begins(gw->headers, connection);
	rs = request_state_new(loop, connection, url, method);
	if (rs == NULL)
		return MHD_NO;
	*req_cls = rs;
	atomic_fetch_add(&gw->in_flight, 1);

	reply_init(&rs->early);
	if (routes_match(url, method, &rs->route, &rs->early) &&
		(rs->route->begin == NULL || !rs->route->begin(gw, connection, rs, &rs->early)))
	{
		reply_free(&rs->early);
		return MHD_YES;			/* the route runs after the body */
	}
	if (has_body(connection))
		return respond(gw, connection, rs, &rs->early);
	return MHD_YES;
}

/* libmicrohttpd's access handler: headers, body chunks, then the final call. */
static enum MHD_Result
on_request(void *cls, struct MHD_Connection *connection, const char *url,
		   const char *method, const char *version, const char *upload_data,
		   size_t *upload_data_size, void **req_cls)
{
	struct event_loop *loop = cls;
	struct gateway *gw = loop->gw;
	struct request_state *rs = *req_cls;
	struct reply reply;

	(void) version;
	if (rs == NULL)
		return on_headers(loop, connection, url, method, req_cls);

	if (*upload_data_size > 0)
	{
		size_t		size = *upload_data_size;

		*upload_data_size = 0;
		if (rs->responded)
			return MHD_YES;
		if (!body_append(rs, gw->config->max_body, upload_data, size))
			return MHD_NO;		/* close the connection */
		return MHD_YES;
	}
	if (rs->responded)
		return MHD_YES;
	if (rs->suspended)
	{
		/* resumed: the route's answer is in */
		rs->suspended = false;
		return respond(gw, connection, rs, &rs->later);
	}
	/* the body is in: no deadline while the request is handled */
	header_deadline_request_begins(gw->headers, connection);
	if (rs->early.status != 0)
		return respond(gw, connection, rs, &rs->early);

	reply_init(&reply);
	if (!rs->route->finish(gw, connection, rs, &reply))
	{
		/* the route waits for the database; it calls server_resume() */
		rs->suspended = true;
		MHD_suspend_connection(connection);
		return MHD_YES;
	}
	return respond(gw, connection, rs, &reply);
}

bool
server_wait(struct request_state *rs, struct db_job *job, void *work,
			void (*work_free) (void *work))
{
	rs->work = work;
	rs->work_free = work_free;
	db_pool_submit(rs->loop->pool, job);
	return false;
}

void
server_resume(struct request_state *rs)
{
	event_loop_resume(rs->loop, rs->connection);
}

/* After the response was sent or the connection failed: log and free. */
static void
on_completed(void *cls, struct MHD_Connection *connection, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct event_loop *loop = cls;
	struct gateway *gw = loop->gw;
	struct request_state *rs = *req_cls;
	struct access_entry entry;

	(void) toe;
	header_deadline_request_ends(gw->headers, connection);
	if (rs == NULL)
		return;
	entry.started = rs->started_wall;
	entry.duration_ms = elapsed_ms(&rs->started);
	entry.method = rs->method;
	entry.path = rs->path;
	entry.status = rs->status;
	entry.bytes = rs->bytes;
	entry.request_id = rs->request_id;
	entry.organization_id = rs->organization_id;
	entry.idempotency = rs->idempotency;
	entry.json = gw->config->log_json;
	access_log_write(&entry);
	metrics_request(rs->route ? rs->route->path : NULL, rs->method, rs->status,
					entry.duration_ms / 1000.0);
	request_state_free(rs);
	*req_cls = NULL;
	/* the last request in flight: nobody else will flush the log soon */
	if (atomic_fetch_sub(&gw->in_flight, 1) == 1)
		fflush(stdout);
}

/* libmicrohttpd's own diagnostics, to stderr. */
static void
on_mhd_error(void *cls, const char *fmt, va_list ap)
{
	(void) cls;
	fputs("fanfare-gateway: http: ", stderr);
	vfprintf(stderr, fmt, ap);
}

/*
 * The listening socket, non-blocking, shared by every loop's daemon; -1 if
 * it failed.  TCP_NODELAY is inherited by the accepted sockets: a response
 * goes out as headers then body, and with Nagle's algorithm the body would
 * wait for the client's (delayed) acknowledgement of the headers.
 */
static int
open_listener(const char *listen_text, const struct sockaddr_storage *addr, socklen_t len)
{
	int			fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int			on = 1;

	if (fd >= 0 &&
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == 0 &&
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == 0 &&
		bind(fd, (const struct sockaddr *) addr, len) == 0 &&
		listen(fd, SOMAXCONN) == 0)
		return fd;
	fprintf(stderr, "fanfare-gateway: cannot listen on %s: %s\n", listen_text, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

/* The port the listener is bound to (for port 0). */
static unsigned int
bound_port(int fd)
{
	struct sockaddr_storage addr;
	socklen_t	len = sizeof(addr);

	if (getsockname(fd, (struct sockaddr *) &addr, &len) != 0)
		return 0;
	if (addr.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *) &addr)->sin6_port);
	return ntohs(((struct sockaddr_in *) &addr)->sin_port);
}

/*
 * A connection opens or closes: the header watchdog tracks it.  After a
 * close the daemon is run once more: a daemon that was at its connection
 * limit takes its listening socket back into its epoll set only at the
 * start of a run, and with no other event due it would not get one (with
 * several loops on one socket, a loop that reached its limit stopped
 * accepting for good).
 */
static void
on_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct event_loop *loop = cls;

	header_deadline_on_connection(loop->gw->headers, connection, socket_context, code);
	if (code == MHD_CONNECTION_NOTIFY_CLOSED)
		loop->mhd_due = true;
}

/*
 * One loop's daemon: external epoll mode, connections suspended while they
 * wait.  The connection limits are libmicrohttpd's, which counts per
 * daemon: each loop gets its share of them (0 per address is no limit).
 */
static struct MHD_Daemon *
start_daemon(struct gateway *gw, struct event_loop *loop, bool ipv6)
{
	const struct gateway_config *config = gw->config;
	unsigned int flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
		(ipv6 ? MHD_USE_IPv6 : 0);
	unsigned int limit = (unsigned int) ((config->max_connections + config->threads - 1) /
										 config->threads);
	unsigned int per_ip = (unsigned int) ((config->max_connections_per_ip + config->threads - 1) /
										  config->threads);

	return MHD_start_daemon(flags, 0, NULL, NULL, on_request, loop,
							MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, NULL,
							MHD_OPTION_LISTEN_SOCKET, (MHD_socket) gw->listen_fd,
							MHD_OPTION_CONNECTION_LIMIT, limit,
							MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip,
							MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) config->idle_timeout_s,
							MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) HEADER_MEMORY_LIMIT,
							MHD_OPTION_NOTIFY_COMPLETED, on_completed, loop,
							MHD_OPTION_NOTIFY_CONNECTION, on_connection, loop,
							MHD_OPTION_END);
}

/* Stops and frees the loops started so far, closes the listener. */
static void
stop_loops(struct gateway *gw)
{
	for (int i = 0; gw->loops != NULL && i < gw->config->threads; i++)
		if (gw->loops[i] != NULL)
		{
			event_loop_stop(gw->loops[i]);
			event_loop_destroy(gw->loops[i]);
		}
	free(gw->loops);
	gw->loops = NULL;
	if (gw->listen_fd >= 0)
		close(gw->listen_fd);
	gw->listen_fd = -1;
	header_deadline_destroy(gw->headers);
	gw->headers = NULL;
	if (gw->metrics_daemon != NULL)
		MHD_stop_daemon(gw->metrics_daemon);
	gw->metrics_daemon = NULL;
}

/*
 * --metrics-listen: a daemon of its own, with its own thread, that serves
 * GET /metrics and nothing else (no database, so it answers while the
 * loops are busy).  Prints the port it is bound to.
 */
static bool
start_metrics_daemon(struct gateway *gw)
{
	const char *listen = gw->config->metrics_listen;
	struct sockaddr_storage addr;
	socklen_t	addr_len;
	const union MHD_DaemonInfo *info;

	if (listen[0] == '\0')
		return true;
	if (!listen_addr_resolve("fanfare-gateway", "--metrics-listen", listen, &addr, &addr_len))
		return false;
	gw->metrics_daemon = metrics_page_start(&addr, metrics_page_text, gw, on_mhd_error);
	if (gw->metrics_daemon == NULL)
	{
		fprintf(stderr, "fanfare-gateway: cannot serve /metrics on %s\n", listen);
		return false;
	}
	info = MHD_get_daemon_info(gw->metrics_daemon, MHD_DAEMON_INFO_BIND_PORT);
	fprintf(stderr, "fanfare-gateway: metrics on %s (metrics port %u)\n", listen,
			info ? (unsigned int) info->port : 0);
	return true;
}

/* With --pooler transaction: the role's settings stand in for the startup options. */
static bool
check_pooler_settings(PGconn *conn, const void *arg)
{
	const struct gateway_config *config = arg;

	return pooler_check_settings(conn, config->statement_timeout_ms);
}

/*
 * One connection before the loops start, so that a wrong --database shows
 * at once: unreachable is a warning (requests get 503 until the database
 * answers), settings a pooler would lose are a refusal to start.
 */
static bool
probe_database(struct gateway *gw)
{
	const struct gateway_config *config = gw->config;

	switch (db_pool_probe(gw->loops[0]->pool,
						  config->pooler_transaction ? check_pooler_settings : NULL, config))
	{
		case DB_PROBE_OK:
			return true;
		case DB_PROBE_UNREACHABLE:
			fprintf(stderr, "fanfare-gateway: database not reachable yet; requests get 503 until it is\n");
			return true;
		case DB_PROBE_REFUSED:
			break;
	}
	return false;
}

/*
 * The listener and --threads loops, each with its daemon and its share of
 * the --pool connections, after one probe of the database
 * (probe_database).
 */
bool
server_start(struct gateway *gw, unsigned int *port)
{
	const struct gateway_config *config = gw->config;
	struct sockaddr_storage addr;
	socklen_t	addr_len;

	gw->loops = NULL;
	gw->listen_fd = -1;
	gw->metrics_daemon = NULL;
	if (!listen_addr_resolve("fanfare-gateway", "--listen", config->listen, &addr, &addr_len))
		return false;
	gw->headers = header_deadline_create(config->header_timeout_s, config->idle_timeout_s,
										 config->body_timeout_s);
	if (gw->headers == NULL)
	{
		fprintf(stderr, "fanfare-gateway: cannot start the header watchdog\n");
		return false;
	}
	gw->listen_fd = open_listener(config->listen, &addr, addr_len);
	gw->loops = calloc((size_t) config->threads, sizeof(*gw->loops));
	if (gw->listen_fd < 0 || gw->loops == NULL)
	{
		stop_loops(gw);
		return false;
	}
	for (int i = 0; i < config->threads; i++)
	{
		/* the pool is shared out evenly, the first loops taking the remainder */
		int			share = config->pool_size / config->threads +
			(i < config->pool_size % config->threads ? 1 : 0);
		struct MHD_Daemon *daemon;

		gw->loops[i] = event_loop_create(gw, share);
		if (gw->loops[i] == NULL)
		{
			fprintf(stderr, "fanfare-gateway: out of resources for event loop %d\n", i);
			stop_loops(gw);
			return false;
		}
		if (i == 0 && !probe_database(gw))
		{
			stop_loops(gw);
			return false;
		}
		daemon = start_daemon(gw, gw->loops[i], addr.ss_family == AF_INET6);
		if (daemon == NULL || !event_loop_start(gw->loops[i], daemon))
		{
			fprintf(stderr, "fanfare-gateway: cannot start the HTTP server on %s\n", config->listen);
			gw->loops[i]->daemon = daemon;	/* event_loop_stop() quiesces and stops it */
			stop_loops(gw);
			return false;
		}
	}
	if (!start_metrics_daemon(gw))
	{
		stop_loops(gw);
		return false;
	}
	*port = bound_port(gw->listen_fd);
	return true;
}

/* Quiesce (stop accepting), wait for in-flight requests, stop. */
void
server_stop(struct gateway *gw)
{
	struct timespec tick = {0, 50 * 1000 * 1000};
	long		ticks = (long) gw->config->shutdown_timeout_s * 20;

	atomic_store(&gw->draining, true);
	for (int i = 0; i < gw->config->threads; i++)
		event_loop_quiesce(gw->loops[i]);
	close(gw->listen_fd);
	gw->listen_fd = -1;
	while (atomic_load(&gw->in_flight) > 0 && ticks-- > 0)
		nanosleep(&tick, NULL);
	if (atomic_load(&gw->in_flight) > 0)
		fprintf(stderr, "fanfare-gateway: %d requests still running at shutdown\n",
				atomic_load(&gw->in_flight));
	stop_loops(gw);
}
