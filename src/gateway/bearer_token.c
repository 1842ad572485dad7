/*
 * bearer_token.c
 *		Parsing the Authorization header (RFC 6750, section 2.1).
 */
#include "bearer_token.h"

#include <string.h>
#include <strings.h>

/* b64token characters other than the trailing '=' padding. */
static bool
is_token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
		c == '~' || c == '+' || c == '/';
}

bool
bearer_token_parse(const char *header, char *out)
{
	const char *token;
	size_t		len = 0;

	if (header == NULL || strncasecmp(header, "Bearer ", 7) != 0)
		return false;
	token = header + 7;
	while (*token == ' ')
		token++;
	while (is_token_char(token[len]))
		len++;
	if (len == 0)
		return false;
	/* b64token may end in '=' padding, then only trailing spaces */
	while (token[len] == '=')
		len++;
	for (const char *rest = token + len; *rest != '\0'; rest++)
		if (*rest != ' ' && *rest != '\t')
			return false;
	if (len > BEARER_TOKEN_MAX)
		return false;
	memcpy(out, token, len);
	out[len] = '\0';
	return true;
}

#define SECRET_KEY_RANDOM_LEN 43	/* base64url of 32 bytes, unpadded */

/* base64url's alphabet, in which the random part of a key is written */
static bool
is_base64url_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || c == '-' || c == '_';
}

enum key_shape
bearer_token_key_shape(const char *token)
{
	const char *random;

	if (strncmp(token, "pk_", 3) == 0)
		return KEY_SHAPE_PUBLISHABLE;
	if (strncmp(token, "sk_live_", 8) != 0 && strncmp(token, "sk_test_", 8) != 0)
		return KEY_SHAPE_INVALID;
	random = token + 8;
	for (int i = 0; i < SECRET_KEY_RANDOM_LEN; i++)
		if (!is_base64url_char(random[i]))
			return KEY_SHAPE_INVALID;
	return random[SECRET_KEY_RANDOM_LEN] == '\0' ? KEY_SHAPE_SECRET : KEY_SHAPE_INVALID;
}
