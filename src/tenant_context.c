/*
 * tenant_context.c
 *	  Which organization a request acts for, and who is acting.
 *
 * The organization comes from the fanfare.organization_id setting (the
 * gateway sets it per transaction), else from the organization_id claim of
 * request.jwt.claims (PostgREST's convention).  The actor, stored as
 * createdBy, comes from fanfare.actor, else the sub claim, else the current
 * role's name.  Payload values never override either.
 */
#include "postgres.h"

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "fanfare.h"
#include "tenant_context.h"

/* Parse the usual text forms of a uuid (hyphens optional); false if not one. */
static bool
parse_uuid(const char *s, pg_uuid_t *out)
{
	int			j = 0;

	if (s == NULL)
		return false;
	if (*s == '{')
		s++;
	for (int i = 0; j < UUID_LEN * 2; i++)
	{
		char		c = s[i];
		int			v;

		if (c == '-' && j > 0 && j % 4 == 0)
			continue;
		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'a' && c <= 'f')
			v = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v = c - 'A' + 10;
		else
			return false;
		if (j % 2 == 0)
			out->data[j / 2] = v << 4;
		else
			out->data[j / 2] |= v;
		j++;
		if (j == UUID_LEN * 2)
		{
			const char *rest = s + i + 1;

			if (*rest == '}')
				rest++;
			return *rest == '\0';
		}
	}
	return false;
}

/* JSON parser callbacks return a status from PostgreSQL 16 on. */
#if PG_VERSION_NUM >= 160000
#define CALLBACK_RESULT JsonParseErrorType
#define CALLBACK_DONE return JSON_SUCCESS
#else
#define CALLBACK_RESULT void
#define CALLBACK_DONE return
#endif

/* State for picking two top-level string members out of the JWT claims. */
typedef struct ClaimsState
{
	int			depth;
	const char *want;			/* member name wanted */
	bool		matched;		/* the current top-level member is the one */
	char	   *value;
} ClaimsState;

/*
 * Arrays count as nesting too: a string inside {"organization_id": [...]}
 * is not the member's value (a token naming several tenants names none).
 */
static CALLBACK_RESULT
claims_nest(void *state)
{
	((ClaimsState *) state)->depth++;
	CALLBACK_DONE;
}

static CALLBACK_RESULT
claims_unnest(void *state)
{
	((ClaimsState *) state)->depth--;
	CALLBACK_DONE;
}

static CALLBACK_RESULT
claims_field_start(void *state, char *fname, bool isnull)
{
	ClaimsState *cs = state;

	cs->matched = cs->depth == 1 && strcmp(fname, cs->want) == 0;
	CALLBACK_DONE;
}

static CALLBACK_RESULT
claims_scalar(void *state, char *token, JsonTokenType tokentype)
{
	ClaimsState *cs = state;

	if (cs->matched && cs->depth == 1 && tokentype == JSON_TOKEN_STRING)
		cs->value = pstrdup(token);
	cs->matched = false;
	CALLBACK_DONE;
}

/*
 * A top-level string member of request.jwt.claims, or NULL when the setting,
 * the member or a valid JSON text is missing.  Never throws on bad JSON.
 */
static char *
jwt_claim(const char *name)
{
	const char *claims = GetConfigOption("request.jwt.claims", true, false);
	JsonLexContext *lex;
	JsonSemAction sem = {0};
	ClaimsState state = {0, name, false, NULL};

	if (claims == NULL || claims[0] == '\0')
		return NULL;
#if PG_VERSION_NUM >= 170000
	lex = makeJsonLexContextCstringLen(NULL, (char *) claims, strlen(claims),
									   GetDatabaseEncoding(), true);
#else
	lex = makeJsonLexContextCstringLen((char *) claims, strlen(claims),
									   GetDatabaseEncoding(), true);
#endif
	sem.semstate = &state;
	sem.object_start = claims_nest;
	sem.object_end = claims_unnest;
	sem.array_start = claims_nest;
	sem.array_end = claims_unnest;
	sem.object_field_start = claims_field_start;
	sem.scalar = claims_scalar;
	if (pg_parse_json(lex, &sem) != JSON_SUCCESS)
		return NULL;
	return state.value;
}

/* Where the current organization comes from, and what it is. */
static const char *
tenant_setting(const char **source)
{
	const char *setting = fanfare_organization_id_setting;

	*source = "fanfare.organization_id";
	if (setting == NULL || setting[0] == '\0')
	{
		setting = jwt_claim("organization_id");
		*source = "the organization_id claim of request.jwt.claims";
	}
	return setting;
}

/* The current organization, without raising: found, missing or malformed. */
TenantLookup
tenant_lookup(pg_uuid_t *org)
{
	const char *source;
	const char *setting = tenant_setting(&source);

	if (setting == NULL || setting[0] == '\0')
		return TENANT_MISSING;
	return parse_uuid(setting, org) ? TENANT_FOUND : TENANT_MALFORMED;
}

/*
 * The current organization, if any.  A setting that is present but not a
 * uuid is an error: acting for a tenant nobody can name is never right.
 */
bool
tenant_organization_id(pg_uuid_t *org)
{
	const char *source;

	switch (tenant_lookup(org))
	{
		case TENANT_FOUND:
			return true;
		case TENANT_MISSING:
			return false;
		case TENANT_MALFORMED:
			break;
	}
	tenant_setting(&source);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
			 errmsg("malformed organization id in %s", source),
			 errdetail("The tenant must be a uuid."),
			 errhint("Set fanfare.organization_id to the organization's id.")));
	return false;				/* not reached */
}

/* The current organization; an error when the request names none. */
pg_uuid_t
tenant_require_organization_id(void)
{
	pg_uuid_t	org;

	if (!tenant_organization_id(&org))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("no organization for this request"),
				 errdetail("Consumers are created for the organization in fanfare.organization_id or in the organization_id claim of request.jwt.claims, and neither is set."),
				 errhint("SET fanfare.organization_id = '<uuid>' before calling the function, or call it through the gateway.")));
	return org;
}

/* Who is acting: fanfare.actor, else the JWT's sub, else the role name. */
char *
tenant_actor(void)
{
	char	   *actor = fanfare_actor_setting;

	if (actor != NULL && actor[0] != '\0')
		return actor;
	actor = jwt_claim("sub");
	if (actor != NULL && actor[0] != '\0')
		return actor;
	return GetUserNameFromId(GetUserId(), false);
}

PG_FUNCTION_INFO_V1(fanfare_current_organization_id);

/* SQL: fanfare.current_organization_id(), used by the row-level policy. */
Datum
fanfare_current_organization_id(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *org = palloc(sizeof(pg_uuid_t));

	if (!tenant_organization_id(org))
		PG_RETURN_NULL();
	PG_RETURN_UUID_P(org);
}

PG_FUNCTION_INFO_V1(fanfare_current_actor);

/* SQL: fanfare.current_actor(). */
Datum
fanfare_current_actor(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(tenant_actor()));
}
