/*
 * media_type.h
 *		Is a Content-Type header JSON?
 */
#ifndef GATEWAY_MEDIA_TYPE_H
#define GATEWAY_MEDIA_TYPE_H

#include <stdbool.h>

/* true for "application/json", optionally with "; charset=utf-8" */
extern bool media_type_is_json(const char *content_type);

#endif
