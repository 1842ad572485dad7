/*
 * json_value.c
 *	  The two readers behind json_value.h: jsonb's binary form and the
 *	  checked request text.
 */
#include "postgres.h"

#include <math.h>

#include "fanfare.h"
#include "json_text.h"
#include "json_value.h"

/* ---- jsonb ---- */

void
json_from_jsonb_node(const JsonbNode *node, JsonValue *v)
{
	v->source = FROM_JSONB;
	v->data = node->data;
	v->len = node->len;
	v->outline = NULL;
	switch (node->type)
	{
		case JENTRY_ISSTRING:
			v->kind = JSON_STRING;
			break;
		case JENTRY_ISNUMERIC:
			v->kind = JSON_NUMBER;
			break;
		case JENTRY_ISBOOL_TRUE:
			v->kind = JSON_TRUE;
			break;
		case JENTRY_ISBOOL_FALSE:
			v->kind = JSON_FALSE;
			break;
		case JENTRY_ISNULL:
			v->kind = JSON_NULL;
			break;
		default:
			v->kind = JsonContainerIsObject(node_container(node)) ? JSON_OBJECT : JSON_ARRAY;
			break;
	}
}

void
json_from_jsonb(const Jsonb *jb, JsonValue *root)
{
	JsonbNode	node;

	jsonb_root_node(jb, &node);
	json_from_jsonb_node(&node, root);
}

static const JsonbContainer *
jsonb_container(const JsonValue *v)
{
	return (const JsonbContainer *) v->data;
}

/* Binary search of an object's keys, which jsonb keeps sorted. */
static bool
jsonb_lookup(const JsonbContainer *c, const char *key, int keylen, JsonValue *value)
{
	int			n = JsonContainerSize(c);
	int			lo = 0;
	int			hi = n;

	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;
		JsonbNode	k;
		int			cmp;

		container_child(c, mid, &k);
		cmp = jsonb_key_cmp(k.data, k.len, key, keylen);
		if (cmp == 0)
		{
			JsonbNode	node;

			container_child(c, n + mid, &node);
			json_from_jsonb_node(&node, value);
			return true;
		}
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* ---- numbers ---- */

double
json_number(const JsonValue *v)
{
	Assert(v->kind == JSON_NUMBER);
	if (v->source == FROM_JSONB)
		return numeric_to_js_double((Numeric) v->data);
	return js_number_parse(v->data, v->len);
}

/* "A number beyond a double is Infinity", as JSON.parse reads it. */
bool
json_number_is_infinite(const JsonValue *v)
{
	if (v->kind != JSON_NUMBER)
		return false;
	/* from jsonb, only numbers of 1e300 and more need the conversion */
	if (v->source == FROM_JSONB && !numeric_is_huge((Numeric) v->data))
		return false;
	return !isfinite(json_number(v));
}

/* ---- text objects in JavaScript property order ---- */

/* "0".."4294967294" without leading zeros: JavaScript iterates these first. */
bool
is_array_index_key(const char *key, int len)
{
	uint64		v = 0;

	if (len < 1 || len > 10 || (len > 1 && key[0] == '0'))
		return false;
	for (int i = 0; i < len; i++)
	{
		if (key[i] < '0' || key[i] > '9')
			return false;
		v = v * 10 + (key[i] - '0');
	}
	return v < UINT64CONST(4294967295);
}

/* Keys a JavaScript record skips: they are neither validated nor kept. */
bool
is_prototype_key(const char *key, int len)
{
	return (len == 9 && memcmp(key, "__proto__", 9) == 0) ||
		(len == 11 && memcmp(key, "constructor", 11) == 0) ||
		(len == 9 && memcmp(key, "prototype", 9) == 0);
}

static int
key_bytes_cmp(const JsonValue *a, const JsonValue *b)
{
	int			cmp = memcmp(a->data, b->data, Min(a->len, b->len));

	if (cmp != 0)
		return cmp;
	return a->len < b->len ? -1 : a->len > b->len ? 1 : 0;
}

/* entries' positions, by key and then by position */
static int
entry_order_cmp(const void *a, const void *b, void *arg)
{
	const JsonEntry *entries = arg;
	int			ia = *(const int *) a;
	int			ib = *(const int *) b;
	int			cmp = key_bytes_cmp(&entries[ia].key, &entries[ib].key);

	if (cmp != 0)
		return cmp;
	return ia < ib ? -1 : ia > ib ? 1 : 0;
}

/* array-index keys numerically: as canonical numbers, shorter is smaller */
static int
index_key_cmp(const void *a, const void *b)
{
	const JsonEntry *ea = a;
	const JsonEntry *eb = b;

	return jsonb_key_cmp(ea->key.data, ea->key.len, eb->key.data, eb->key.len);
}

/*
 * The entries of a text object as JSON.parse leaves them: a key given twice
 * keeps its first place and takes its last value; array-index keys first.
 */
static void
text_object_entries(JsonIter *it)
{
	const JsonValue *object = it->container;
	JsonMemberScan scan;
	JsonEntry  *entries;
	int			allocated = 8;
	int			n = 0;
	int		   *order;
	bool	   *dropped;
	JsonEntry  *out;
	int			nout = 0;
	int			nindex = 0;

	entries = palloc(sizeof(JsonEntry) * allocated);
	json_members_init(&scan, object);
	for (;;)
	{
		if (n == allocated)
		{
			allocated *= 2;
			entries = repalloc_huge(entries, sizeof(JsonEntry) * allocated);
		}
		if (!json_members_next(&scan, &entries[n].key, &entries[n].value))
			break;
		n++;
	}

	/* duplicates: keep each key's first place, with its last value */
	dropped = palloc0(sizeof(bool) * Max(n, 1));
	if (n <= 16)
	{
		/* small objects (most): compare pairs, no sort */
		for (int i = 1; i < n; i++)
			for (int j = 0; j < i; j++)
				if (!dropped[j] && key_bytes_cmp(&entries[i].key, &entries[j].key) == 0)
				{
					entries[j].value = entries[i].value;
					dropped[i] = true;
					break;
				}
		order = NULL;
	}
	else
	{
		/* sort positions by key, then by position */
		order = palloc(sizeof(int) * n);
		for (int i = 0; i < n; i++)
			order[i] = i;
		qsort_arg(order, n, sizeof(int), entry_order_cmp, entries);
		for (int i = 0; i < n;)
		{
			int			j = i + 1;

			while (j < n && key_bytes_cmp(&entries[order[i]].key, &entries[order[j]].key) == 0)
			{
				dropped[order[j]] = true;
				j++;
			}
			entries[order[i]].value = entries[order[j - 1]].value;
			i = j;
		}
	}

	/* array-index keys ascending, then the others in text order */
	out = palloc(sizeof(JsonEntry) * Max(n, 1));
	for (int pass = 0; pass < 2; pass++)
	{
		for (int i = 0; i < n; i++)
		{
			if (dropped[i] ||
				is_array_index_key(entries[i].key.data, entries[i].key.len) != (pass == 0))
				continue;
			out[nout++] = entries[i];
		}
		if (pass == 0)
		{
			nindex = nout;
			if (nindex > 1)
				qsort(out, nindex, sizeof(JsonEntry), index_key_cmp);
		}
	}
	pfree(entries);
	if (order)
		pfree(order);
	pfree(dropped);
	it->entries = out;
	it->nentries = nout;
}

/* ---- iteration ---- */

void
json_iter_init(JsonIter *it, const JsonValue *container)
{
	Assert(json_is_container(container));
	memset(it, 0, sizeof(*it));
	it->container = container;
	if (container->source == FROM_JSONB)
		it->n = JsonContainerSize(jsonb_container(container));
	else if (container->kind == JSON_ARRAY)
		it->pos = container->outline ? NULL : container->data + 1;
	else
		text_object_entries(it);
}

bool
json_iter_next(JsonIter *it, JsonValue *key, JsonValue *value)
{
	const JsonValue *c = it->container;

	if (c->source == FROM_JSONB)
	{
		const JsonbContainer *jc = jsonb_container(c);

		if (c->kind == JSON_ARRAY)
		{
			JsonbNode	node;

			if (it->index >= it->n)
				return false;
			container_child(jc, it->index++, &node);
			json_from_jsonb_node(&node, value);
			return true;
		}
		/* an object: its array-index keys first, then the others */
		for (; it->pass < 2; it->pass++, it->index = 0)
		{
			while (it->index < it->n)
			{
				JsonbNode	k;
				int			i = it->index++;

				container_child(jc, i, &k);
				if (is_array_index_key(k.data, k.len) == (it->pass == 0))
				{
					JsonbNode	node;

					json_from_jsonb_node(&k, key);
					container_child(jc, it->n + i, &node);
					json_from_jsonb_node(&node, value);
					return true;
				}
			}
		}
		return false;
	}

	if (c->kind == JSON_OBJECT)
	{
		if (it->index >= it->nentries)
			return false;
		*key = it->entries[it->index].key;
		*value = it->entries[it->index].value;
		it->index++;
		return true;
	}

	/* a text array: the next item, from the outline or after a comma */
	if (c->outline)
	{
		if (it->index >= c->outline->n)
			return false;
		json_text_outline_child(c->outline, it->index++, NULL, value);
		return true;
	}
	{
		const char *p = json_text_skip_space(it->pos);

		if (*p == ',')
			p = json_text_skip_space(p + 1);
		if (*p == ']')
			return false;
		it->pos = json_text_value(p, c->data + c->len, value);
		it->index++;
		return true;
	}
}

void
json_iter_end(JsonIter *it)
{
	if (it->entries)
		pfree(it->entries);
	it->entries = NULL;
}

void
json_members_init(JsonMemberScan *scan, const JsonValue *object)
{
	Assert(object->kind == JSON_OBJECT);
	scan->object = object;
	scan->index = 0;
	if (object->source == FROM_JSONB)
	{
		scan->n = JsonContainerSize(jsonb_container(object));
		scan->pos = NULL;
	}
	else
	{
		scan->n = -1;
		scan->pos = object->data + 1;
	}
}

bool
json_members_next(JsonMemberScan *scan, JsonValue *key, JsonValue *value)
{
	const char *p;
	const char *end;

	if (scan->object->outline)
	{
		if (scan->index >= scan->object->outline->n)
			return false;
		json_text_outline_child(scan->object->outline, scan->index++, key, value);
		return true;
	}
	if (scan->object->source == FROM_JSONB)
	{
		const JsonbContainer *jc = jsonb_container(scan->object);
		JsonbNode	node;

		if (scan->index >= scan->n)
			return false;
		container_child(jc, scan->index, &node);
		json_from_jsonb_node(&node, key);
		container_child(jc, scan->n + scan->index, &node);
		json_from_jsonb_node(&node, value);
		scan->index++;
		return true;
	}

	p = json_text_skip_space(scan->pos);
	if (*p == ',')
		p = json_text_skip_space(p + 1);
	if (*p == '}')
		return false;
	end = scan->object->data + scan->object->len;
	p = json_text_value(p, end, key);
	p = json_text_skip_space(p);
	Assert(*p == ':');
	p = json_text_skip_space(p + 1);
	scan->pos = json_text_value(p, end, value);
	scan->index++;
	return true;
}

bool
json_lookup(const JsonValue *object, const char *key, int keylen, JsonValue *value)
{
	JsonMemberScan scan;
	JsonValue	k;
	JsonValue	v;
	bool		found = false;

	Assert(object->kind == JSON_OBJECT);
	if (object->source == FROM_JSONB)
		return jsonb_lookup(jsonb_container(object), key, keylen, value);
	json_members_init(&scan, object);
	while (json_members_next(&scan, &k, &v))
	{
		if (json_string_equals(&k, key, keylen))
		{
			*value = v;
			found = true;
		}
	}
	return found;
}

bool
record_foreach(const JsonValue *record, RecordEntryFn fn, void *arg)
{
	JsonIter	it;
	JsonValue	key = {0};
	JsonValue	value;
	bool		differs = record->kind == JSON_ARRAY;

	json_iter_init(&it, record);
	while (json_iter_next(&it, &key, &value))
	{
		if (record->kind == JSON_ARRAY)
		{
			char	   *name = psprintf("%d", it.index - 1);

			if (!fn(arg, name, strlen(name), &value))
				break;
		}
		else if (is_prototype_key(key.data, key.len))
			differs = true;
		else if (!fn(arg, key.data, key.len, &value))
			break;
	}
	json_iter_end(&it);
	return differs;
}
