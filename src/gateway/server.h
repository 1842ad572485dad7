/*
 * server.h
 *		The HTTP server: libmicrohttpd's thread pool, the request lifecycle
 *		and the graceful stop.
 */
#ifndef GATEWAY_SERVER_H
#define GATEWAY_SERVER_H

#include "gateway.h"

/* starts listening; *port is the bound port (useful with port 0) */
extern struct MHD_Daemon *server_start(struct gateway *gw, unsigned int *port);

/* stops accepting, lets in-flight requests finish (bounded), stops */
extern void server_stop(struct gateway *gw, struct MHD_Daemon *daemon);

#endif
