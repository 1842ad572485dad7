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

/*
 * What a token can be, from its shape alone.  Secret keys are sk_live_ or
 * sk_test_ and 43 base64url characters (32 random bytes, fanfare's
 * issue_api_key); the extension refuses every pk_ key as publishable
 * (28N02) and anything not sk_ as unknown (28N01).  A token that cannot be
 * a secret key is answered from the headers with the body the extension's
 * error maps to, so that its request body is never read nor sent.
 */
enum key_shape
{
	KEY_SHAPE_SECRET,			/* may be a secret key: ask the database */
	KEY_SHAPE_PUBLISHABLE,		/* pk_...: 401 Secret key required */
	KEY_SHAPE_INVALID			/* anything else: 401 Invalid secret key */
};

extern enum key_shape bearer_token_key_shape(const char *token);

#endif
