/*
 * metrics_page.h
 *		A listener that serves only GET /metrics (Prometheus' text format),
 *		for the gateway's and the relay's --metrics-listen.
 */
#ifndef FANFARE_METRICS_PAGE_H
#define FANFARE_METRICS_PAGE_H

#include <stddef.h>
#include <sys/socket.h>
#include <microhttpd.h>

/* The exposition's Content-Type (text format 0.0.4). */
extern const char metrics_page_content_type[];

/* Makes the page: malloc'd text and its length, or NULL. */
typedef char *(*metrics_page_render) (void *arg, size_t *len);

extern struct MHD_Daemon *metrics_page_start(const struct sockaddr_storage *addr,
											 metrics_page_render render, void *arg,
											 MHD_LogCallback logger);

#endif
