/*
 * server.h
 *		The HTTP server: the listener, one libmicrohttpd daemon per event
 *		loop, the request lifecycle and the graceful stop.
 */
#ifndef GATEWAY_SERVER_H
#define GATEWAY_SERVER_H

#include "gateway.h"

/* starts listening and the loops; *port is the bound port (useful with port 0) */
extern bool server_start(struct gateway *gw, unsigned int *port);

/* stops accepting, lets in-flight requests finish (bounded), stops */
extern void server_stop(struct gateway *gw);

#endif
