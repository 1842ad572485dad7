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
 * begin()).  It either fills reply and returns true, or starts work on the
 * database and returns false: the server then suspends the connection
 * until the work has filled rs->later and called server_resume(rs).
 */
struct route
{
	const char *path;
	const char *method;			/* GET routes also answer HEAD */
	const char *allow;			/* Allow header when the method is wrong */
	bool		(*begin) (struct gateway *gw, struct MHD_Connection *connection,
						  struct request_state *rs, struct reply *reply);
	bool		(*finish) (struct gateway *gw, struct MHD_Connection *connection,
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
extern bool consumers_batch_finish(struct gateway *gw, struct MHD_Connection *connection,
								   struct request_state *rs, struct reply *reply);
extern bool health_finish(struct gateway *gw, struct MHD_Connection *connection,
						  struct request_state *rs, struct reply *reply);
extern bool live_finish(struct gateway *gw, struct MHD_Connection *connection,
						struct request_state *rs, struct reply *reply);
extern bool metrics_finish(struct gateway *gw, struct MHD_Connection *connection,
						   struct request_state *rs, struct reply *reply);
extern bool openapi_finish(struct gateway *gw, struct MHD_Connection *connection,
						   struct request_state *rs, struct reply *reply);

/*
 * For finish(): the request waits for job; work (which holds the job) is the
 * request's until it completes, then freed with work_free.  Returns false,
 * finish()'s "waiting".
 */
extern bool server_wait(struct request_state *rs, struct db_job *job,
						void *work, void (*work_free) (void *work));

/* a waiting route's answer is in rs->later: send it (server.c) */
extern void server_resume(struct request_state *rs);

#endif
