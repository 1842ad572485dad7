/*
 * bearer_token.h
 *		The secret key from "Authorization: Bearer <key>".
 */
#ifndef GATEWAY_BEARER_TOKEN_H
#define GATEWAY_BEARER_TOKEN_H

#include <stdbool.h>

#define BEARER_TOKEN_MAX 256

/*
 * Copies the token of a well-formed Bearer header into out (which has room
 * for BEARER_TOKEN_MAX + 1 bytes).  False if the header is missing,
 * another scheme, empty, too long or has characters outside RFC 6750's
 * b64token.
 */
extern bool bearer_token_parse(const char *header, char *out);

#endif
