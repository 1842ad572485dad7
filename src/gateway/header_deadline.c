/*
 * header_deadline.c
 *		Closing connections whose request headers or body do not arrive in
 *		time.
 *
 * libmicrohttpd's --idle-timeout only counts silence: a client that sends
 * one header byte a second is never idle, and enough of them take every
 * connection (slowloris).  Each connection gets a deadline for its next
 * request's headers; a watchdog thread shuts down (shutdown(2), not close:
 * the descriptor stays libmicrohttpd's) the socket of any connection past
 * it, and libmicrohttpd then cleans up as for any client that went away.
 * libmicrohttpd reports a connection closed before it closes the
 * descriptor, and both sides hold the lock, so a descriptor is never shut
 * down after it could have been reused.  A request body gets a deadline
 * of its own once the headers are in (--body-timeout): its size is bounded
 * by --max-body, and this bounds how long it may take to arrive.  A client
 * past either deadline gets no answer, only the closed connection.
 */
#include "header_deadline.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "clock.h"

#define WATCH_INTERVAL_NS (250 * 1000 * 1000)

struct tracked_connection
{
	MHD_socket	fd;
	double		deadline_ms;	/* 0 while a request is being handled */
	struct tracked_connection *prev;
	struct tracked_connection *next;
};

struct header_deadline
{
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t	watchdog;
	bool		stopping;
	double		header_ms;
	double		idle_ms;
	double		body_ms;
	struct tracked_connection list;	/* sentinel of a circular list */
};

static void *
watch(void *arg)
{
	struct header_deadline *hd = arg;

	pthread_mutex_lock(&hd->lock);
	while (!hd->stopping)
	{
		struct timespec until;
		double		now = monotonic_ms();

		for (struct tracked_connection *t = hd->list.next; t != &hd->list; t = t->next)
		{
			if (t->deadline_ms > 0 && now > t->deadline_ms)
			{
				shutdown(t->fd, SHUT_RDWR);
				t->deadline_ms = 0;
			}
		}
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += WATCH_INTERVAL_NS;
		if (until.tv_nsec >= 1000000000L)
		{
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&hd->wake, &hd->lock, &until);
	}
	pthread_mutex_unlock(&hd->lock);
	return NULL;
}

struct header_deadline *
header_deadline_create(int header_s, int idle_s, int body_s)
{
	struct header_deadline *hd = calloc(1, sizeof(*hd));

	if (hd == NULL)
		return NULL;
	pthread_mutex_init(&hd->lock, NULL);
	pthread_cond_init(&hd->wake, NULL);
	hd->header_ms = header_s * 1000.0;
	hd->idle_ms = idle_s * 1000.0;
	hd->body_ms = body_s * 1000.0;
	hd->list.next = hd->list.prev = &hd->list;
	if (pthread_create(&hd->watchdog, NULL, watch, hd) != 0)
	{
		pthread_cond_destroy(&hd->wake);
		pthread_mutex_destroy(&hd->lock);
		free(hd);
		return NULL;
	}
	return hd;
}

void
header_deadline_destroy(struct header_deadline *hd)
{
	if (hd == NULL)
		return;
	pthread_mutex_lock(&hd->lock);
	hd->stopping = true;
	pthread_cond_signal(&hd->wake);
	pthread_mutex_unlock(&hd->lock);
	pthread_join(hd->watchdog, NULL);
	while (hd->list.next != &hd->list)
	{
		struct tracked_connection *t = hd->list.next;

		hd->list.next = t->next;
		free(t);
	}
	pthread_cond_destroy(&hd->wake);
	pthread_mutex_destroy(&hd->lock);
	free(hd);
}

void
header_deadline_on_connection(void *cls, struct MHD_Connection *connection,
							  void **socket_context,
							  enum MHD_ConnectionNotificationCode code)
{
	struct header_deadline *hd = cls;
	struct tracked_connection *t;

	if (code == MHD_CONNECTION_NOTIFY_STARTED)
	{
		const union MHD_ConnectionInfo *info =
			MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);

		*socket_context = NULL;
		if (info == NULL || (t = calloc(1, sizeof(*t))) == NULL)
			return;				/* untracked: only the idle timeout applies */
		t->fd = info->connect_fd;
		pthread_mutex_lock(&hd->lock);
		t->deadline_ms = monotonic_ms() + hd->header_ms;
		t->next = hd->list.next;
		t->prev = &hd->list;
		hd->list.next->prev = t;
		hd->list.next = t;
		pthread_mutex_unlock(&hd->lock);
		*socket_context = t;
	}
	else if (code == MHD_CONNECTION_NOTIFY_CLOSED && (t = *socket_context) != NULL)
	{
		pthread_mutex_lock(&hd->lock);
		t->prev->next = t->next;
		t->next->prev = t->prev;
		pthread_mutex_unlock(&hd->lock);
		free(t);
		*socket_context = NULL;
	}
}

static struct tracked_connection *
tracked(struct MHD_Connection *connection)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return info ? info->socket_context : NULL;
}

/* The connection's deadline becomes at_ms (0: none). */
static void
set_deadline(struct header_deadline *hd, struct MHD_Connection *connection, double at_ms)
{
	struct tracked_connection *t = tracked(connection);

	if (t == NULL)
		return;
	pthread_mutex_lock(&hd->lock);
	t->deadline_ms = at_ms;
	pthread_mutex_unlock(&hd->lock);
}

void
header_deadline_request_begins(struct header_deadline *hd, struct MHD_Connection *connection)
{
	set_deadline(hd, connection, 0);
}

void
header_deadline_request_ends(struct header_deadline *hd, struct MHD_Connection *connection)
{
	set_deadline(hd, connection, monotonic_ms() + hd->idle_ms + hd->header_ms);
}

void
header_deadline_body_begins(struct header_deadline *hd, struct MHD_Connection *connection)
{
	set_deadline(hd, connection, monotonic_ms() + hd->body_ms);
}
