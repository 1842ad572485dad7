/*
 * json_value.c
 *	  The two readers behind json_value.h: jsonb's binary form and the
 *	  checked request text.
 */
#include "postgres.h"

#include <math.h>

#include "common/hashfn.h"
#include "miscadmin.h"
#include "utils/fmgrprotos.h"
#include "utils/numeric.h"

#include "js_number.h"
#include "json_text.h"
#include "json_value.h"
#include "jsonb_util.h"

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
		return js_number_from_numeric((Numeric) v->data);
	return js_number_parse(v->data, v->len);
}

/* "A number beyond a double is Infinity", as JSON.parse reads it. */
bool
json_number_is_infinite(const JsonValue *v)
{
	if (v->kind != JSON_NUMBER)
		return false;
	/* from jsonb, only numbers of 1e300 and more need the conversion */
	if (v->source == FROM_JSONB && !js_number_is_huge((Numeric) v->data))
		return false;
	return !isfinite(json_number(v));
}

/* ---- text objects in JavaScript property order ---- */

/* "0".."4294967294" without leading zeros: JavaScript iterates these first. */
bool
json_is_array_index_key(const char *key, int len)
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
json_is_prototype_key(const char *key, int len)
{
	return (len == 9 && memcmp(key, "__proto__", 9) == 0) ||
		(len == 11 && memcmp(key, "constructor", 11) == 0) ||
		(len == 9 && memcmp(key, "prototype", 9) == 0);
}

/*
 * A member of a text object as text_object_members finds it: its key
 * (pointing into the text, or decoded when it has escapes) and where its
 * value is, relative to the object.  Kept small: a hostile object of
 * millions of one-letter keys costs a few times its size, not tens.
 */
typedef struct TextMember
{
	const char *key;
	uint32		keylen;
	uint32		value_start;
	uint32		value_end;
} TextMember;

#define MEMBER_DROPPED PG_UINT32_MAX	/* value_end of a duplicate */

static bool
member_keys_equal(const TextMember *a, const TextMember *b)
{
	return a->keylen == b->keylen && memcmp(a->key, b->key, a->keylen) == 0;
}

/* array-index keys numerically: as canonical numbers, shorter is smaller */
static int
index_key_cmp(const void *a, const void *b, void *arg)
{
	const TextMember *members = arg;
	const TextMember *ma = &members[*(const int *) a];
	const TextMember *mb = &members[*(const int *) b];

	return jsonb_key_cmp(ma->key, ma->keylen, mb->key, mb->keylen);
}

/* Every member of a text object, in text order, with one scan. */
static TextMember *
text_object_members(const JsonValue *object, int *count)
{
	const char *base = object->data;
	const char *end = base + object->len;
	const char *p = json_text_skip_space(base + 1);
	int			allocated = 8;
	int			n = 0;
	TextMember *members = palloc(sizeof(TextMember) * allocated);

	while (*p != '}')
	{
		JsonValue	key;
		const char *value_end;

		if ((n & 4095) == 4095)
			CHECK_FOR_INTERRUPTS();
		if (n == allocated)
		{
			allocated *= 2;
			members = repalloc_huge(members, sizeof(TextMember) * allocated);
		}
		p = json_text_skip_space(json_text_value(p, end, &key));
		Assert(*p == ':');
		p = json_text_skip_space(p + 1);
		value_end = json_text_value_end(p, end);
		members[n].key = key.data;
		members[n].keylen = key.len;
		members[n].value_start = p - base;
		members[n].value_end = value_end - base;
		n++;
		p = json_text_skip_space(value_end);
		if (*p == ',')
			p = json_text_skip_space(p + 1);
	}
	*count = n;
	return members;
}

/*
 * Of a key given twice, keep the first place with the last value: one pass
 * with an open-addressing table of member numbers, so that the work is
 * linear in the members whatever their keys.
 */
static void
drop_duplicate_keys(TextMember *members, int n)
{
	uint32		size = 16;
	int		   *slots;

	if (n <= 16)
	{
		/* small objects (most): compare pairs, no table */
		for (int i = 1; i < n; i++)
			for (int j = 0; j < i; j++)
				if (members[j].value_end != MEMBER_DROPPED &&
					member_keys_equal(&members[i], &members[j]))
				{
					members[j].value_start = members[i].value_start;
					members[j].value_end = members[i].value_end;
					members[i].value_end = MEMBER_DROPPED;
					break;
				}
		return;
	}
	while (size < (uint32) n * 2)
		size *= 2;
	slots = palloc(sizeof(int) * size);
	memset(slots, -1, sizeof(int) * size);
	for (int i = 0; i < n; i++)
	{
		uint32		h = hash_bytes((const unsigned char *) members[i].key, members[i].keylen);

		if ((i & 4095) == 4095)
			CHECK_FOR_INTERRUPTS();
		for (;; h++)
		{
			int		   *slot = &slots[h & (size - 1)];

			if (*slot < 0)
			{
				*slot = i;
				break;
			}
			if (member_keys_equal(&members[*slot], &members[i]))
			{
				members[*slot].value_start = members[i].value_start;
				members[*slot].value_end = members[i].value_end;
				members[i].value_end = MEMBER_DROPPED;
				break;
			}
		}
	}
	pfree(slots);
}

/*
 * The entries of a text object as JSON.parse leaves them: a key given twice
 * keeps its first place and takes its last value; array-index keys first,
 * in numeric order, then the others in text order.
 */
static void
text_object_entries(JsonIter *it)
{
	int			n;
	TextMember *members = text_object_members(it->container, &n);
	int		   *order = palloc(sizeof(int) * Max(n, 1));
	int			norder = 0;

	drop_duplicate_keys(members, n);
	for (int pass = 0; pass < 2; pass++)
	{
		int			first = norder;

		for (int i = 0; i < n; i++)
			if (members[i].value_end != MEMBER_DROPPED &&
				json_is_array_index_key(members[i].key, members[i].keylen) == (pass == 0))
				order[norder++] = i;
		if (pass == 0 && norder - first > 1)
			qsort_arg(order, norder, sizeof(int), index_key_cmp, members);
	}
	it->members = members;
	it->order = order;
	it->norder = norder;
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
				if (json_is_array_index_key(k.data, k.len) == (it->pass == 0))
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
		const TextMember *m;

		if (it->index >= it->norder)
			return false;
		m = &((const TextMember *) it->members)[it->order[it->index++]];
		if (key)
		{
			key->kind = JSON_STRING;
			key->source = FROM_TEXT;
			key->data = m->key;
			key->len = m->keylen;
			key->outline = NULL;
		}
		json_text_value_at(c->data + m->value_start, c->data + m->value_end, value);
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
	if (it->members)
	{
		pfree(it->members);
		pfree(it->order);
	}
	it->members = NULL;
	it->order = NULL;
}

void
json_members_init(JsonMemberScan *scan, const JsonValue *object)
{
	Assert(object->kind == JSON_OBJECT);
	scan->object = object;
	scan->index = 0;
	if (object->source == FROM_JSONB)
	{
		const JsonbContainer *jc = jsonb_container(object);

		scan->n = JsonContainerSize(jc);
		scan->pos = NULL;
		/* keys are children 0..n-1, their values n..2n-1: walked in step */
		cursor_init(&scan->keys, jc, 0);
		cursor_init(&scan->values, jc, scan->n);
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
		JsonbNode	node;

		if (scan->index >= scan->n)
			return false;
		cursor_next(&scan->keys, &node);
		json_from_jsonb_node(&node, key);
		cursor_next(&scan->values, &node);
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
json_record_foreach(const JsonValue *record, RecordEntryFn fn, void *arg)
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
		else if (json_is_prototype_key(key.data, key.len))
			differs = true;
		else if (!fn(arg, key.data, key.len, &value))
			break;
	}
	json_iter_end(&it);
	return differs;
}

/* An array's length, when it is known without reading the array (jsonb). */
bool
json_array_length_known(const JsonValue *array, int *n)
{
	if (array->source != FROM_JSONB || array->kind != JSON_ARRAY)
		return false;
	*n = jsonb_container_size(array->data);
	return true;
}

/* A copy of a container read from jsonb as a jsonb datum; NULL from text. */
Jsonb *
json_container_jsonb(const JsonValue *container)
{
	Jsonb	   *copy;

	if (container->source != FROM_JSONB || !json_is_container(container))
		return NULL;
	copy = palloc(VARHDRSZ + container->len);
	SET_VARSIZE(copy, VARHDRSZ + container->len);
	memcpy(&copy->root, container->data, container->len);
	return copy;
}

/*
 * A finite number as numeric: from jsonb the numeric it is stored as; from
 * text as sent, as jsonb's own input would keep it, or, when numeric cannot
 * hold it as written (too many digits after the point, as in 1e-20000), as
 * JSON.parse reads it, which is what the contract's service would store.
 */
Numeric
json_number_numeric(const JsonValue *number)
{
	char		buf[32];
	char	   *text;

	Assert(number->kind == JSON_NUMBER);
	if (number->source == FROM_JSONB)
		return (Numeric) number->data;
	if (js_number_fits_numeric(number->data, number->len))
		text = pnstrdup(number->data, number->len);
	else
	{
		js_number_format(json_number(number), buf);
		text = buf;
	}
	return DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(text),
											   ObjectIdGetDatum(InvalidOid),
											   Int32GetDatum(-1)));
}

/* Bytes of request text the value spans: 0 for a container read from jsonb. */
uint32
json_text_span(const JsonValue *v)
{
	if (v->source == FROM_JSONB && json_is_container(v))
		return 0;
	return v->len;
}
