/*
 * jsonb_walk.h
 *	  Reading jsonb's binary form in place.
 *
 * A JsonbNode is one value inside a jsonb datum: its JEntry type and a
 * pointer to its bytes (string bytes, a numeric, or a nested container).
 * Nothing is copied; nodes stay valid as long as the datum does.
 */
#ifndef JSONB_WALK_H
#define JSONB_WALK_H

#include "postgres.h"

#include "utils/jsonb.h"

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

#endif							/* JSONB_WALK_H */
