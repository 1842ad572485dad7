/*
 * openapi.c
 *		GET /openapi.json: the contract, compiled into the binary from the
 *		project's contract/openapi.json (generated from openapi.yaml).
 */
#include "routes.h"

#include <stddef.h>

extern const unsigned char openapi_json[];
extern const size_t openapi_json_len;

/* The embedded document, never copied. */
bool
openapi_finish(struct gateway *gw, struct MHD_Connection *connection,
			   struct request_state *rs, struct reply *reply)
{
	(void) gw;
	(void) connection;
	(void) rs;
	reply_static(reply, 200, (const char *) openapi_json, openapi_json_len);
	return true;
}
