/*
 * metrics.h
 *		What GET /metrics tells an operator, in Prometheus' text format.
 *
 * Counters are process-wide atomics, added to by every loop; nothing is
 * labelled with a tenant, a key or anything of a client's request but the
 * route (from the route table), the method (GET, HEAD, POST or _OTHER) and
 * the status code.
 */
#ifndef GATEWAY_METRICS_H
#define GATEWAY_METRICS_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

struct gateway;

/* why a request was answered 503 */
enum metrics_unavailable
{
	UNAVAILABLE_POOL_TIMEOUT,	/* no free database connection in time */
	UNAVAILABLE_DEADLINE,		/* no answer within --statement-deadline */
	UNAVAILABLE_UNREACHABLE,	/* no connection could be opened */
	UNAVAILABLE_DATABASE,		/* the database failed (shutdown, lost connection...) */
	UNAVAILABLE_CAUSES
};

/* one answered request: route NULL when no route matched */
extern void metrics_request(const char *route, const char *method, unsigned int status,
							double seconds);
extern void metrics_consumers_created(unsigned long n);
extern void metrics_idempotent_replay(void);
extern void metrics_unavailable(enum metrics_unavailable cause);

/* the exposition, malloc'ed (*len bytes); NULL when out of memory */
extern char *metrics_render(struct gateway *gw, size_t *len);

/* the request handler of the --metrics-listen daemon (cls: the gateway) */
extern char *metrics_page_text(void *arg, size_t *len);

#endif
