/*
 * routes.c
 *		The route table: exact paths, one method each.
 */
#include "routes.h"

#include <string.h>

static const struct route route_table[] = {
	{"/consumers/batch", "POST", "POST", consumers_batch_begin, consumers_batch_finish},
	{"/healthz", "GET", "GET, HEAD", NULL, health_finish},
	{"/ready", "GET", "GET, HEAD", NULL, health_finish},
	{"/live", "GET", "GET, HEAD", NULL, live_finish},
	{"/openapi.json", "GET", "GET, HEAD", NULL, openapi_finish},
	{"/metrics", "GET", "GET, HEAD", NULL, metrics_finish},
};

/* Exact path match; a known path with another method is 405, not 404. */
bool
routes_match(const char *path, const char *method, const struct route **route,
			 struct reply *reply)
{
	for (size_t i = 0; i < sizeof(route_table) / sizeof(route_table[0]); i++)
	{
		const struct route *r = &route_table[i];

		if (strcmp(path, r->path) != 0)
			continue;
		if (strcmp(method, r->method) == 0 ||
			(strcmp(r->method, "GET") == 0 && strcmp(method, "HEAD") == 0))
		{
			*route = r;
			return true;
		}
		reply_method_not_allowed(reply, r->allow);
		return false;
	}
	reply_not_found(reply);
	return false;
}
