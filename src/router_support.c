/*
 * router_support.c
 *	  Entry points of fanfare.so for the router extension (router/).
 *
 * A router database does not install fanfare: it installs fanfare_router,
 * which keeps the directory (organizations, API keys) and sends each call
 * to the shard of its organization.  Authentication and the tenant rules
 * are fanfare's own, so the router's install script declares these C
 * functions from '$libdir/fanfare' instead of writing them again.
 * fanfare's own install script does not declare them.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"

#include "keys.h"
#include "tenant_context.h"

PG_FUNCTION_INFO_V1(fanfare_authenticate_key);

/*
 * fanfare.authenticate_key(key text, OUT organization_id uuid, OUT actor text)
 *
 * The organization and actor of a secret key, or the error of
 * api_key_authenticate (28N01, 28N02, 42N01).  The caller is SECURITY
 * DEFINER: it may read the key tables.
 */
Datum
fanfare_authenticate_key(PG_FUNCTION_ARGS)
{
	char	   *key = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	pg_uuid_t  *org = palloc(sizeof(pg_uuid_t));
	char	   *actor;
	TupleDesc	desc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "authenticate_key must return a record");
	api_key_authenticate(key, org, &actor);
	values[0] = UUIDPGetDatum(org);
	values[1] = CStringGetTextDatum(actor);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

PG_FUNCTION_INFO_V1(fanfare_require_organization_id);

/*
 * fanfare.require_organization_id() RETURNS uuid
 *
 * The current tenant (setting, else JWT claim), or fanfare's 28000 errors
 * for none and for a malformed one: the router raises them as a single
 * node would, before it picks a shard.
 */
Datum
fanfare_require_organization_id(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *org = palloc(sizeof(pg_uuid_t));

	*org = tenant_require_organization_id();
	PG_RETURN_UUID_P(org);
}
