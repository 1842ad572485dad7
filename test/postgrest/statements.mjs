// What PostgREST 12 sends for POST /rpc/post_consumers_batch, shared by the
// replay suite (replay.mjs, which says where each statement comes from) and
// the stand-in server the importer's tests run against (standin.mjs).
//
// One request is one transaction on a connection of the "authenticator"
// role:
//
//   BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE
//   settingsStatement   search_path, role, request.jwt.claims, method, path,
//                       headers, cookies (values bound: settingsValues)
//   mainStatement       the function call, with response.headers and
//                       response.status read back in the same statement
//   COMMIT                                  (ABORT when a statement failed)

export const SCHEMA = 'fanfare';
export const FUNCTION = 'post_consumers_batch';
export const EXTRA_SEARCH_PATH = ['public']; // PostgREST's db-extra-search-path default
export const BEGIN = 'BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE';

export const quoteIdent = (s) => `"${s.replaceAll('"', '""')}"`;

// Transaction-scoped settings: names are constants in the text, values are
// bind parameters (PostgREST's setConfigWithConstantName), in PostgREST's
// order: search_path, role settings (none here), role, claims, method, path,
// headers, cookies (then timezone and app settings, none here).
export const settingsStatement =
  "select set_config('search_path', $1, true), set_config('role', $2, true), " +
  "set_config('request.jwt.claims', $3, true), set_config('request.method', $4, true), " +
  "set_config('request.path', $5, true), set_config('request.headers', $6, true), " +
  "set_config('request.cookies', $7, true)";

// The call itself: callPlanToQuery for a scalar function with one
// positional parameter, inside prepareCall with the json handler, no count,
// and the read plan over pgrst_source aliased by the function's name.
export const mainStatement =
  'WITH pgrst_source AS (SELECT pgrst_call.pgrst_scalar FROM ' +
  `(SELECT ${quoteIdent(SCHEMA)}.${quoteIdent(FUNCTION)}($1::json) pgrst_scalar) pgrst_call) ` +
  'SELECT null::bigint AS total_result_set, 1 AS page_total, ' +
  "coalesce(json_agg(_postgrest_t.pgrst_scalar)->0, 'null') AS body, " +
  "nullif(current_setting('response.headers', true), '') AS response_headers, " +
  "nullif(current_setting('response.status', true), '') AS response_status, " +
  "'' AS response_inserted " +
  `FROM (SELECT ${quoteIdent(FUNCTION)}.* FROM "pgrst_source" AS ${quoteIdent(FUNCTION)}    ) _postgrest_t`;

// JSON with object keys sorted, as aeson encodes PostgREST's maps.
export function sortedJson(value) {
  if (Array.isArray(value)) return `[${value.map(sortedJson).join(',')}]`;
  if (value && typeof value === 'object')
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${sortedJson(value[k])}`).join(',')}}`;
  return JSON.stringify(value);
}

// The parameters of settingsStatement: the role to switch to, the verified
// claims ({} for an anonymous request) and the request's headers (names in
// lower case, every header but Cookie, as PostgREST keeps them).
export function settingsValues(role, claims, headers) {
  return [
    [SCHEMA, ...EXTRA_SEARCH_PATH].map(quoteIdent).join(', '),
    role,
    sortedJson(claims ?? {}),
    'POST',
    `/rpc/${FUNCTION}`,
    sortedJson(headers),
    '{}',
  ];
}
