/*
 * event_loop.h
 *		One thread, one epoll set: a libmicrohttpd daemon in external mode
 *		and the database connections of its pool.
 *
 * The gateway runs --threads loops on one listening socket.  A request is
 * handled entirely by the loop whose daemon accepted its connection: its
 * HTTP connection is suspended while its statement runs on one of the
 * loop's database connections, and resumed when the outcome is in.  No
 * thread ever waits for the database, so a busy loop picks up the next
 * ready socket instead of sleeping and being woken for each one.
 */
#ifndef GATEWAY_EVENT_LOOP_H
#define GATEWAY_EVENT_LOOP_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "db_pool.h"

struct gateway;

struct event_loop
{
	struct gateway *gw;
	struct db_pool *pool;
	struct MHD_Daemon *daemon;
	int			epoll_fd;
	int			wake_fd;		/* eventfd: a command is waiting */
	pthread_t	thread;
	bool		running;
	atomic_int	command;		/* LOOP_* below */
	atomic_bool quiesced;		/* the daemon accepts no more connections */
	bool		mhd_due;		/* MHD_run() needed: resumed connections */
	char		mhd_tag;		/* epoll data.ptr of the daemon's epoll fd */
	char		wake_tag;		/* epoll data.ptr of wake_fd */
};

/* an epoll set and a pool of pool_size connections; NULL if out of resources */
extern struct event_loop *event_loop_create(struct gateway *gw, int pool_size);

/* watches the daemon (started in external epoll mode) and starts the thread */
extern bool event_loop_start(struct event_loop *loop, struct MHD_Daemon *daemon);

/* the daemon stops accepting; returns once it has (the listening socket stays open) */
extern void event_loop_quiesce(struct event_loop *loop);

/* fails what is still running, ends the thread, stops the daemon */
extern void event_loop_stop(struct event_loop *loop);

extern void event_loop_destroy(struct event_loop *loop);

/* a suspended request's outcome is in: resume its connection on this turn */
extern void event_loop_resume(struct event_loop *loop, struct MHD_Connection *connection);

#endif
