/*
 * listen_addr.h
 *		"host:port" or "[v6]:port" to a socket address, for the listeners of
 *		fanfare's programs (the gateway's --listen and --metrics-listen, the
 *		relay's --metrics-listen).
 */
#ifndef FANFARE_LISTEN_ADDR_H
#define FANFARE_LISTEN_ADDR_H

#include <stdbool.h>
#include <sys/socket.h>

#define LISTEN_ADDR_MAX 255

extern bool listen_addr_resolve(const char *program, const char *flag, const char *listen,
								struct sockaddr_storage *addr, socklen_t *len);

#endif
