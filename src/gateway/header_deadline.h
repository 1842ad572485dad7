/*
 * header_deadline.h
 *		Deadlines for receiving a request's headers, then its body, so that
 *		slow clients (slowloris, slow bodies) cannot hold connections open
 *		byte by byte.
 */
#ifndef GATEWAY_HEADER_DEADLINE_H
#define GATEWAY_HEADER_DEADLINE_H

#include <microhttpd.h>

struct header_deadline;

/*
 * headers must arrive within header_s of a connection's start, or within
 * idle_s + header_s of the previous request's end on a kept-alive one; a
 * body within body_s of the end of its headers
 */
extern struct header_deadline *header_deadline_create(int header_s, int idle_s, int body_s);

/* call after MHD_stop_daemon: every connection has been closed by then */
extern void header_deadline_destroy(struct header_deadline *hd);

/* MHD_OPTION_NOTIFY_CONNECTION callback; cls is the header_deadline */
extern void header_deadline_on_connection(void *cls, struct MHD_Connection *connection,
										  void **socket_context,
										  enum MHD_ConnectionNotificationCode code);

/* a request's headers are complete: no deadline while it is handled */
extern void header_deadline_request_begins(struct header_deadline *hd,
										   struct MHD_Connection *connection);

/* its headers are complete and a body follows: the body's deadline */
extern void header_deadline_body_begins(struct header_deadline *hd,
										struct MHD_Connection *connection);

/* the request is answered: the connection's next request gets a deadline */
extern void header_deadline_request_ends(struct header_deadline *hd,
										 struct MHD_Connection *connection);

#endif
