/*
 * event_loop.c
 *		The loop: wait on the epoll set, read the database connections
 *		that are ready, deliver the outcomes (which resume HTTP
 *		connections), then let libmicrohttpd do its part.
 *
 * Database events are handled before libmicrohttpd's in each turn, so an
 * idle connection that the server has just closed is marked down before a
 * new request could be handed it.  Commands from the main thread (quiesce,
 * stop) come through an eventfd and are carried out by the loop's own
 * thread, since a daemon in external mode must only be driven by one.
 */
#include "event_loop.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "gateway.h"

#define LOOP_NONE 0
#define LOOP_QUIESCE 1
#define LOOP_STOP 2

#define MAX_EVENTS 64

struct event_loop *
event_loop_create(struct gateway *gw, int pool_size)
{
	struct event_loop *loop = calloc(1, sizeof(*loop));
	struct epoll_event ev = {.events = EPOLLIN};
	const struct gateway_config *config = gw->config;

	if (loop == NULL)
		return NULL;
	loop->gw = gw;
	loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	loop->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	atomic_init(&loop->command, LOOP_NONE);
	atomic_init(&loop->quiesced, false);
	ev.data.ptr = &loop->wake_tag;
	if (loop->epoll_fd < 0 || loop->wake_fd < 0 ||
		epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, loop->wake_fd, &ev) != 0)
	{
		event_loop_destroy(loop);
		return NULL;
	}
	loop->pool = db_pool_create(loop->epoll_fd, &(struct db_pool_settings) {
		.conninfo = config->database,
		.size = pool_size,
		.wait_ms = config->pool_wait_ms,
		.statement_timeout_ms = config->pooler_transaction ? 0 : config->statement_timeout_ms,
		.deadline_ms = config->statement_deadline_ms,
		.prepare = config->prepare != 0,
	});
	if (loop->pool == NULL)
	{
		event_loop_destroy(loop);
		return NULL;
	}
	return loop;
}

void
event_loop_destroy(struct event_loop *loop)
{
	if (loop == NULL)
		return;
	db_pool_destroy(loop->pool);
	if (loop->wake_fd >= 0)
		close(loop->wake_fd);
	if (loop->epoll_fd >= 0)
		close(loop->epoll_fd);
	free(loop);
}

void
event_loop_resume(struct event_loop *loop, struct MHD_Connection *connection)
{
	MHD_resume_connection(connection);
	loop->mhd_due = true;
}

/* ms to wait: the sooner of libmicrohttpd's timeout and the pool's; -1 = none */
static int
next_timeout(struct event_loop *loop)
{
	MHD_UNSIGNED_LONG_LONG mhd_ms;
	int			pool_ms = db_pool_next_timeout(loop->pool);
	int			ms = -1;

	if (loop->mhd_due)
		return 0;
	if (MHD_get_timeout(loop->daemon, &mhd_ms) == MHD_YES)
		ms = mhd_ms > 60000 ? 60000 : (int) mhd_ms;
	if (pool_ms >= 0 && (ms < 0 || pool_ms < ms))
		ms = pool_ms;
	return ms;
}

static void *
run(void *arg)
{
	struct event_loop *loop = arg;
	struct epoll_event events[MAX_EVENTS];

	for (;;)
	{
		int			timeout = next_timeout(loop);
		int			n = epoll_wait(loop->epoll_fd, events, MAX_EVENTS, timeout);
		bool		mhd_ready = n == 0 && timeout >= 0;	/* its timeout, maybe */
		int			command;

		if (n < 0 && errno != EINTR)
		{
			perror("fanfare-gateway: epoll_wait");
			n = 0;
		}
		for (int i = 0; i < n; i++)
		{
			void	   *ptr = events[i].data.ptr;

			if (ptr == &loop->mhd_tag)
				mhd_ready = true;
			else if (ptr == &loop->wake_tag)
			{
				uint64_t	count;

				if (read(loop->wake_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
					perror("fanfare-gateway: eventfd");
			}
			else if (db_pool_owns(loop->pool, ptr))
				db_pool_ready(loop->pool, ptr, events[i].events);
		}
		db_pool_run(loop->pool);
		if (mhd_ready || loop->mhd_due)
		{
			loop->mhd_due = false;
			MHD_run(loop->daemon);
			/* outcomes known at once (no connection to be had) go out this turn */
			db_pool_run(loop->pool);
		}

		command = atomic_exchange(&loop->command, LOOP_NONE);
		if (command == LOOP_QUIESCE && !atomic_load(&loop->quiesced))
		{
			MHD_quiesce_daemon(loop->daemon);
			atomic_store(&loop->quiesced, true);
		}
		else if (command == LOOP_STOP)
			break;
	}

	/* a forced stop: what still runs fails (503), and is answered if it can be */
	if (db_pool_jobs(loop->pool) > 0)
	{
		db_pool_abort(loop->pool);
		for (int i = 0; i < 3; i++)
			MHD_run(loop->daemon);
	}
	return NULL;
}

bool
event_loop_start(struct event_loop *loop, struct MHD_Daemon *daemon)
{
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_EPOLL_FD);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &loop->mhd_tag};

	loop->daemon = daemon;
	if (info == NULL || epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, info->epoll_fd, &ev) != 0)
		return false;
	if (pthread_create(&loop->thread, NULL, run, loop) != 0)
		return false;
	loop->running = true;
	return true;
}

static void
send_command(struct event_loop *loop, int command)
{
	uint64_t	one = 1;

	atomic_store(&loop->command, command);
	if (write(loop->wake_fd, &one, sizeof(one)) < 0)
		perror("fanfare-gateway: eventfd");
}

void
event_loop_quiesce(struct event_loop *loop)
{
	struct timespec tick = {0, 10 * 1000 * 1000};

	if (!loop->running)
		return;
	send_command(loop, LOOP_QUIESCE);
	while (!atomic_load(&loop->quiesced))
		nanosleep(&tick, NULL);
}

/*
 * The listening socket is shared, so every daemon is quiesced before it is
 * stopped: a daemon stopped while still listening would close the socket
 * under the others (server.c closes it once, at the end).
 */
void
event_loop_stop(struct event_loop *loop)
{
	if (loop->running)
	{
		event_loop_quiesce(loop);
		send_command(loop, LOOP_STOP);
		pthread_join(loop->thread, NULL);
		loop->running = false;
	}
	else if (loop->daemon != NULL && !atomic_load(&loop->quiesced))
		MHD_quiesce_daemon(loop->daemon);
	if (loop->daemon != NULL)
		MHD_stop_daemon(loop->daemon);
	loop->daemon = NULL;
}
