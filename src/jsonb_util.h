/*
 * jsonb_util.h
 *	  jsonb's binary format: read in place (here), written (jsonb_util.c).
 *	  No other file lays out or takes apart jsonb's bytes.
 *
 * A JsonbNode is one value inside a jsonb datum: its JEntry type and a
 * pointer to its bytes (string bytes, a numeric, or a nested container).
 * Nothing is copied; nodes stay valid as long as the datum does.
 */
#ifndef FANFARE_JSONB_UTIL_H
#define FANFARE_JSONB_UTIL_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

typedef struct JsonbNode
{
	uint32		type;			/* JENTRY_ISSTRING, _ISNUMERIC, ... */
	const char *data;			/* string bytes, Numeric or JsonbContainer */
	uint32		len;			/* bytes of a string, numeric or container */
} JsonbNode;

static inline bool
node_is_container(const JsonbNode *n)
{
	return n->type == JENTRY_ISCONTAINER;
}

static inline const JsonbContainer *
node_container(const JsonbNode *n)
{
	return (const JsonbContainer *) n->data;
}

static inline bool
node_is_object(const JsonbNode *n)
{
	return node_is_container(n) && JsonContainerIsObject(node_container(n));
}

static inline bool
node_is_array(const JsonbNode *n)
{
	return node_is_container(n) && JsonContainerIsArray(node_container(n));
}

static inline int
node_size(const JsonbNode *n)
{
	return JsonContainerSize(node_container(n));
}

/* Children of a container: 2n for an object (keys, then values), n else. */
static inline int
container_children(const JsonbContainer *c)
{
	return JsonContainerIsObject(c) ? 2 * JsonContainerSize(c) : JsonContainerSize(c);
}

/* The index'th child of a container, found from its JEntry (random access). */
static inline void
container_child(const JsonbContainer *c, int index, JsonbNode *node)
{
	const char *base = (const char *) &c->children[container_children(c)];
	uint32		start = getJsonbOffset((JsonbContainer *) c, index);
	uint32		len = getJsonbLength((JsonbContainer *) c, index);

	node->type = c->children[index] & JENTRY_TYPEMASK;
	node->len = 0;
	node->data = NULL;
	switch (node->type)
	{
		case JENTRY_ISSTRING:
			node->data = base + start;
			node->len = len;
			break;
		case JENTRY_ISNUMERIC:
		case JENTRY_ISCONTAINER:
			/* alignment padding before these counts as part of the child */
			node->data = base + INTALIGN(start);
			node->len = start + len - INTALIGN(start);
			break;
		default:
			break;
	}
}

/* Sequential walk over a container's children, without the offset lookups. */
typedef struct ChildCursor
{
	const JsonbContainer *c;
	const char *base;
	int			index;
	uint32		offset;
} ChildCursor;

static inline void
cursor_init(ChildCursor *cur, const JsonbContainer *c, int first)
{
	cur->c = c;
	cur->base = (const char *) &c->children[container_children(c)];
	cur->index = first;
	cur->offset = first == 0 ? 0 : getJsonbOffset((JsonbContainer *) c, first);
}

static inline void
cursor_next(ChildCursor *cur, JsonbNode *node)
{
	JEntry		je = cur->c->children[cur->index++];
	uint32		start = cur->offset;
	uint32		end = JBE_HAS_OFF(je) ? JBE_OFFLENFLD(je) : start + JBE_OFFLENFLD(je);

	cur->offset = end;
	node->type = je & JENTRY_TYPEMASK;
	node->len = 0;
	node->data = NULL;
	if (node->type == JENTRY_ISSTRING)
	{
		node->data = cur->base + start;
		node->len = end - start;
	}
	else if (node->type == JENTRY_ISNUMERIC || node->type == JENTRY_ISCONTAINER)
	{
		node->data = cur->base + INTALIGN(start);
		node->len = end - INTALIGN(start);
	}
}

/* The root value of a jsonb datum (a scalar root is unwrapped). */
static inline void
jsonb_root_node(const Jsonb *jb, JsonbNode *node)
{
	if (JB_ROOT_IS_SCALAR(jb))
		container_child(&jb->root, 0, node);
	else
	{
		node->type = JENTRY_ISCONTAINER;
		node->data = (const char *) &jb->root;
		node->len = VARSIZE(jb) - VARHDRSZ;
	}
}

/*
 * Compare two object keys the way jsonb orders them: shorter first, then
 * bytewise.  A jsonb object's keys are stored in this order.
 */
static inline int
jsonb_key_cmp(const char *a, int alen, const char *b, int blen)
{
	if (alen != blen)
		return alen < blen ? -1 : 1;
	/* an empty key may come with no bytes at all */
	return alen == 0 ? 0 : memcmp(a, b, alen);
}

/* The number of elements of an array container (pairs of an object). */
static inline int
jsonb_container_size(const char *container)
{
	return JsonContainerSize((const JsonbContainer *) container);
}

/* ---- writing (jsonb_util.c): each put returns the child's JEntry type ---- */
extern void jsonb_reserve(StringInfo buf, int n);
extern uint32 jsonb_put_double(StringInfo buf, double d);
extern uint32 jsonb_put_null(void);
extern uint32 jsonb_put_bool(bool value);
extern uint32 jsonb_put_string(StringInfo buf, const char *s, int len);
extern uint32 jsonb_put_container(StringInfo buf, const char *data, int len);
extern uint32 jsonb_put_jsonb(StringInfo buf, const Jsonb *jb);
extern JEntry jsonb_close_child(StringInfo buf, int data_start, int child_start,
								int index, uint32 type);

/* The keys of objects written many times, in jsonb order. */
typedef struct JsonbKeys
{
	int			n;
	char	   *blob;			/* the keys' bytes, one after another */
	int			blob_len;
	JEntry	   *jentries;
} JsonbKeys;

extern void jsonb_keys_init(JsonbKeys *keys, const char *const *names, int n);
extern int	jsonb_object_begin(StringInfo buf, const JsonbKeys *keys, int *jentries);
extern uint32 jsonb_object_end(StringInfo buf, const JsonbKeys *keys, int jentries,
							   const JEntry *values);
extern uint32 jsonb_put_number_pair(StringInfo buf, const JsonbKeys *keys,
									double a, double b);

/* An array of a known number of elements, as one jsonb datum. */
typedef struct JsonbArrayWriter
{
	StringInfoData buf;			/* the datum under construction */
	int			n;				/* elements announced */
	int			count;			/* elements written */
	int			data_start;		/* where the elements' data starts */
} JsonbArrayWriter;

extern void jsonb_array_begin(JsonbArrayWriter *w, int n, Size element_size);
extern void jsonb_array_element_end(JsonbArrayWriter *w, int element_start, uint32 type);
extern Jsonb *jsonb_array_finish(JsonbArrayWriter *w);

#endif							/* FANFARE_JSONB_UTIL_H */
