/*
 * tenant_context.h
 *	  The tenant and actor of the current call (tenant_context.c).
 */
#ifndef FANFARE_TENANT_CONTEXT_H
#define FANFARE_TENANT_CONTEXT_H

#include "postgres.h"

#include "utils/uuid.h"

typedef enum TenantLookup
{
	TENANT_FOUND,
	TENANT_MISSING,
	TENANT_MALFORMED
} TenantLookup;

extern TenantLookup tenant_lookup(pg_uuid_t *org);
extern bool tenant_organization_id(pg_uuid_t *org);
extern pg_uuid_t tenant_require_organization_id(void);
extern char *tenant_actor(void);

#endif							/* FANFARE_TENANT_CONTEXT_H */
