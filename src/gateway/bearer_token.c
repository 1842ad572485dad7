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
