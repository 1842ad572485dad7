/*
 * routes.h
 *		The gateway's routes and how a request is dispatched to one.
 */
#ifndef GATEWAY_ROUTES_H
#define GATEWAY_ROUTES_H

#include "gateway.h"
#include "reply.h"

/*
 * A route runs in two steps.  begin() sees only the headers and may answer
 * at once (401, 413, 415...); it returns true when it did.  finish() runs
 * once the whole body has arrived (routes without a body: right after
 * begin()).
 */
struct route
{
	const char *path;
	const char *method;			/* GET routes also answer HEAD */
	const char *allow;			/* Allow header when the method is wrong */
	bool		(*begin) (struct gateway *gw, struct MHD_Connection *connection,
						  struct request_state *rs, struct reply *reply);
	void		(*finish) (struct gateway *gw, struct MHD_Connection *connection,
						   struct request_state *rs, struct reply *reply);
};

/*
 * Finds the route for a request.  Returns true and sets *route when path and
 * method match; otherwise fills reply with 404 or 405 and returns false.
 */
extern bool routes_match(const char *path, const char *method,
						 const struct route **route, struct reply *reply);

/* the handlers, one file each */
extern bool consumers_batch_begin(struct gateway *gw, struct MHD_Connection *connection,
								  struct request_state *rs, struct reply *reply);
extern void consumers_batch_finish(struct gateway *gw, struct MHD_Connection *connection,
								   struct request_state *rs, struct reply *reply);
extern void health_finish(struct gateway *gw, struct MHD_Connection *connection,
						  struct request_state *rs, struct reply *reply);
extern void openapi_finish(struct gateway *gw, struct MHD_Connection *connection,
						   struct request_state *rs, struct reply *reply);

#endif
