/*
 * request_id.h
 *		X-Request-Id: echo a sane incoming one, else make one up.
 */
#ifndef GATEWAY_REQUEST_ID_H
#define GATEWAY_REQUEST_ID_H

#include <stdbool.h>

#define REQUEST_ID_MAX 128

/* true if text may be echoed (and logged) as a request id */
extern bool request_id_is_sane(const char *text);

/* writes a random id (32 hex digits) into out[REQUEST_ID_MAX + 1] */
extern void request_id_generate(char *out);

/* out = incoming when sane, else a generated id */
extern void request_id_choose(const char *incoming, char *out);

#endif
