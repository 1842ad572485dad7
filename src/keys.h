/*
 * keys.h
 *	  API keys (keys.c).
 */
#ifndef FANFARE_KEYS_H
#define FANFARE_KEYS_H

#include "postgres.h"

#include "utils/uuid.h"

extern void api_key_authenticate(const char *key, pg_uuid_t *org, char **actor);

#endif							/* FANFARE_KEYS_H */
