/*
 * media_type.c
 *		Content-Type checking for JSON request bodies (RFC 9110, 8.3).
 *
 * The type is compared case-insensitively; the only parameter accepted is
 * charset, and only as UTF-8, because the body is handed to PostgreSQL as
 * UTF-8 text.
 */
#include "media_type.h"

#include <string.h>
#include <strings.h>

static const char *
skip_spaces(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

bool
media_type_is_json(const char *content_type)
{
	static const char json[] = "application/json";
	static const char charset[] = "charset=";
	const char *p;

	if (content_type == NULL)
		return false;
	p = skip_spaces(content_type);
	if (strncasecmp(p, json, sizeof(json) - 1) != 0)
		return false;
	p = skip_spaces(p + sizeof(json) - 1);
	if (*p == '\0')
		return true;
	if (*p != ';')
		return false;
	p = skip_spaces(p + 1);
	if (strncasecmp(p, charset, sizeof(charset) - 1) != 0)
		return false;
	p += sizeof(charset) - 1;
	if (strncasecmp(p, "utf-8", 5) == 0)
		p += 5;
	else if (strncasecmp(p, "\"utf-8\"", 7) == 0)
		p += 7;
	else
		return false;
	return *skip_spaces(p) == '\0';
}
