/*
 * batch.c
 *	  A batch of rows: its body, its Idempotency-Key, and what its answer
 *	  means for each row.
 *
 * The body is {"consumers":[...]} with each included row's JSON text as
 * read (CSV rows: jansson's compact form, keys in header order): the same
 * rows give the same bytes, so a resend after a crash matches what the
 * server stored for the key.  The
 * key is fi-RUN-N-HASH: the run id (journal.c), the batch's position and
 * the SHA-256 of the body, so that another run, another batch or other rows
 * never share one.
 * A 400 names rows by their position in the body (consumers.N...): each
 * issue goes to that row, its path made relative to the row (the first two
 * elements dropped), and the row becomes a rejects line
 * {"line":L,"row":R,"issues":[...]}.
 */
#include "import.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#define DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY)

/* An empty batch for up to cap rows. */
struct batch *
batch_new(long no, int cap)
{
	struct batch *b = calloc(1, sizeof(*b));

	if (b == NULL || (b->rows = calloc(cap, sizeof(*b->rows))) == NULL ||
		(b->excluded = calloc(cap, 1)) == NULL || (b->rejects = json_array()) == NULL)
	{
		fprintf(stderr, "fanfare-import: out of memory\n");
		exit(EXIT_GAVE_UP);
	}
	b->no = no;
	b->retry_after = -1;
	return b;
}

/* Frees b and the rows, answers and rejects lines it holds. */
void
batch_free(struct batch *b)
{
	for (int i = 0; i < b->nrows; i++)
		json_decref(b->rows[i].obj);
	json_decref(b->rejects);
	json_decref(b->created);
	free(b->rows);
	free(b->excluded);
	batch_drop_body(b);
	free(b->text);
	free(b->resp);
	free(b);
}

/* A rejects line for a row that could not be read (--skip-invalid-lines). */
void
batch_add_invalid(struct batch *b, const struct input_error *err, bool with_element)
{
	json_t	   *line = json_object();

	json_object_set_new(line, "line", json_integer(err->line));
	json_object_set_new(line, "row", json_null());
	json_object_set_new(line, "issues",
						json_pack("[{s:s, s:s, s:s, s:[]}]", "kind", "input", "type", "invalid_row",
								  "message", err->message, "path"));
	(void) with_element;
	json_array_append_new(b->rejects, line);
	b->n_rejected++;
}

/* a growing byte buffer */
struct buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
};

/* Appends n bytes to buf, growing it (out of memory: exit 3). */
static void
buf_add(struct buf *buf, const char *bytes, size_t n)
{
	if (buf->len + n + 1 > buf->cap)
	{
		size_t		cap = buf->cap ? buf->cap : 64 * 1024;

		while (cap < buf->len + n + 1)
			cap *= 2;
		buf->data = realloc(buf->data, cap);
		if (buf->data == NULL)
		{
			fprintf(stderr, "fanfare-import: out of memory\n");
			exit(EXIT_GAVE_UP);
		}
		buf->cap = cap;
	}
	memcpy(buf->data + buf->len, bytes, n);
	buf->len += n;
	buf->data[buf->len] = '\0';
}

/* jansson's dump callback into a buf */
static int
dump_to_buf(const char *bytes, size_t n, void *data)
{
	buf_add(data, bytes, n);
	return 0;
}

/*
 * SHA-256 of bytes into digest: EVP with the digest fetched once and one
 * context reused.  SHA256() fetches the algorithm and allocates a context
 * on every call (OpenSSL 3); the hashing itself uses the CPU's SHA
 * instructions either way.
 */
static void
sha256(const void *bytes, size_t len, unsigned char *digest)
{
	static EVP_MD *md;
	static EVP_MD_CTX *ctx;

	if (md == NULL)
	{
		md = EVP_MD_fetch(NULL, "SHA256", NULL);
		ctx = EVP_MD_CTX_new();
	}
	if (md == NULL || ctx == NULL || !EVP_DigestInit_ex(ctx, md, NULL) ||
		!EVP_DigestUpdate(ctx, bytes, len) || !EVP_DigestFinal_ex(ctx, digest, NULL))
	{
		fprintf(stderr, "fanfare-import: SHA-256 failed\n");
		exit(EXIT_GAVE_UP);
	}
}

/*
 * Copies a row just read (its raw text, still the reader's) into the
 * batch's text, which is the body of all its rows: one copy, no allocation
 * per row.  The row's raw points into the text once batch_seal has run.
 * The text's first allocation is the size of the largest text yet, so a
 * batch grows it rarely.
 */
void
batch_keep_row(struct batch *b, struct row *row)
{
	static size_t size_hint = 64 * 1024;
	static const char head[] = "{\"consumers\":[";
	size_t		need;

	if (row->raw == NULL)
		return;
	need = b->text_len + (sizeof(head) - 1) + row->raw_len + 4;
	if (need > b->text_cap)
	{
		size_t		cap = b->text_cap ? 2 * b->text_cap : size_hint;

		while (cap < need)
			cap *= 2;
		b->text = realloc(b->text, cap);
		if (b->text == NULL)
		{
			fprintf(stderr, "fanfare-import: out of memory\n");
			exit(EXIT_GAVE_UP);
		}
		b->text_cap = cap;
		if (cap > size_hint && cap <= 64 * 1024 * 1024)
			size_hint = cap;
	}
	if (b->text_len == 0)
	{
		memcpy(b->text, head, sizeof(head) - 1);
		b->text_len = sizeof(head) - 1;
	}
	else
		b->text[b->text_len++] = ',';
	row->raw_off = b->text_len;
	memcpy(b->text + b->text_len, row->raw, row->raw_len);
	b->text_len += row->raw_len;
	row->raw = NULL;
}

/* Ends the text once every row is read; the rows' raw point into it. */
void
batch_seal(struct batch *b)
{
	if (b->text == NULL)
		return;
	memcpy(b->text + b->text_len, "]}", 3);
	b->text_len += 2;
	for (int i = 0; i < b->nrows; i++)
		if (b->rows[i].obj == NULL)
			b->rows[i].raw = b->text + b->rows[i].raw_off;
}

/* Frees the body, unless it is the batch's text. */
void
batch_drop_body(struct batch *b)
{
	if (!b->body_is_text)
		free(b->body);
	b->body = NULL;
	b->body_len = 0;
	b->body_is_text = false;
}

/*
 * The body of the rows not excluded, and its key.  With every row in and
 * every row read as text, the body is the batch's text itself (no copy).
 */
void
batch_build(struct batch *b, const char *run_id)
{
	struct buf	buf = {0};
	unsigned char digest[SHA256_DIGEST_LENGTH];
	char		hex[2 * SHA256_DIGEST_LENGTH + 1];
	bool		first = true;
	bool		whole = b->text != NULL;

	batch_drop_body(b);
	for (int i = 0; i < b->nrows && whole; i++)
		whole = !b->excluded[i] && b->rows[i].raw != NULL;
	if (whole)
	{
		b->body = b->text;
		b->body_len = b->text_len;
		b->body_is_text = true;
		goto key;
	}
	/* one allocation of the body's size (CSV rows: a guess, grown if short) */
	buf.cap = 16;
	for (int i = 0; i < b->nrows; i++)
		if (!b->excluded[i])
			buf.cap += (b->rows[i].raw ? b->rows[i].raw_len : 256) + 1;
	buf.data = malloc(buf.cap);
	if (buf.data == NULL)
	{
		fprintf(stderr, "fanfare-import: out of memory\n");
		exit(EXIT_GAVE_UP);
	}
	buf_add(&buf, "{\"consumers\":[", 14);
	for (int i = 0; i < b->nrows; i++)
	{
		if (b->excluded[i])
			continue;
		if (!first)
			buf_add(&buf, ",", 1);
		first = false;
		if (b->rows[i].raw)
			buf_add(&buf, b->rows[i].raw, b->rows[i].raw_len);
		else
			json_dump_callback(b->rows[i].obj, dump_to_buf, &buf, DUMP_FLAGS);
	}
	buf_add(&buf, "]}", 2);
	b->body = buf.data;
	b->body_len = buf.len;
key:
	sha256(b->body, b->body_len, digest);
	for (int i = 0; i < 12; i++)
		sprintf(hex + 2 * i, "%02x", digest[i]);
	snprintf(b->key, sizeof(b->key), "fi-%.16s-%ld-%s", run_id, b->no, hex);
}

/*
 * chain = SHA-256(chain, the batch's full key, its line count), in hex: one
 * value for the input up to and including b, so that a resumed run knows it
 * skips the very rows the earlier run sent.
 */
void
batch_chain(char *chain, const struct batch *b)
{
	char		text[256];
	unsigned char digest[SHA256_DIGEST_LENGTH];
	int			n = snprintf(text, sizeof(text), "%.64s|%s|%d", chain, b->full_key, b->nlines);

	sha256(text, (size_t) n, digest);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
		sprintf(chain + 2 * i, "%02x", digest[i]);
}

/* The excluded rows as "i,j,k" ("-": none), for the journal; malloc'd. */
char *
batch_excluded_list(const struct batch *b)
{
	struct buf	buf = {0};

	for (int i = 0; i < b->nrows; i++)
		if (b->excluded[i])
		{
			char		num[16];
			int			n = snprintf(num, sizeof(num), "%s%d", buf.len ? "," : "", i);

			buf_add(&buf, num, n);
		}
	if (buf.len == 0)
		buf_add(&buf, "-", 1);
	return buf.data;
}

/* Excludes the rows a journal's list names; false if it names no row of b. */
bool
batch_apply_excluded(struct batch *b, const char *list)
{
	const char *p = list;

	if (strcmp(list, "-") == 0)
		return true;
	while (*p)
	{
		char	   *end;
		long		i = strtol(p, &end, 10);

		if (end == p || i < 0 || i >= b->nrows)
			return false;
		b->excluded[i] = 1;
		p = *end == ',' ? end + 1 : end;
		if (*end != ',' && *end != '\0')
			return false;
	}
	return true;
}

/* Adds rejects lines (strings, as journaled) known from an earlier run. */
void
batch_add_rejects_lines(struct batch *b, json_t *lines)
{
	size_t		i;
	json_t	   *v;

	json_array_foreach(lines, i, v)
	{
		json_t	   *line = json_loads(json_string_value(v), JSON_DECODE_ANY, NULL);

		if (line)
		{
			json_array_append_new(b->rejects, line);
			b->n_rejected++;
		}
	}
}

/* A rejects line as text, without a newline; malloc'd. */
char *
rejects_line(const json_t *line)
{
	return json_dumps(line, DUMP_FLAGS);
}

/* orders rejects lines by line, then element */
static int
line_cmp(const void *a, const void *b)
{
	const json_t *la = *(json_t *const *) a;
	const json_t *lb = *(json_t *const *) b;
	json_int_t	x = json_integer_value(json_object_get(la, "line"));
	json_int_t	y = json_integer_value(json_object_get(lb, "line"));

	if (x != y)
		return x < y ? -1 : 1;
	x = json_integer_value(json_object_get(la, "element"));
	y = json_integer_value(json_object_get(lb, "element"));
	return x < y ? -1 : x > y;
}

/* Sorts the rejects lines into input order. */
void
batch_sort_rejects(struct batch *b)
{
	size_t		n = json_array_size(b->rejects);
	json_t	  **items = malloc((n + 1) * sizeof(*items));
	json_t	   *sorted = json_array();

	for (size_t i = 0; i < n; i++)
		items[i] = json_array_get(b->rejects, i);
	qsort(items, n, sizeof(*items), line_cmp);
	for (size_t i = 0; i < n; i++)
		json_array_append(sorted, items[i]);
	free(items);
	json_decref(b->rejects);
	b->rejects = sorted;
}

/* Row i as a jansson value, parsed from its text the first time. */
static json_t *
row_object(const struct batch *b, int i)
{
	struct row *row = &b->rows[i];

	if (row->obj == NULL && row->raw != NULL)
	{
		row->obj = json_loadb(row->raw, row->raw_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
		/* an integer too large for jansson: as a real, else the text itself */
		if (row->obj == NULL)
			row->obj = json_loadb(row->raw, row->raw_len,
								  JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, NULL);
		if (row->obj == NULL)
			row->obj = json_stringn(row->raw, row->raw_len);
	}
	return row->obj;
}

/* The rejects line of row i with issues. */
static json_t *
row_rejects_line(const struct batch *b, int i, json_t *issues)
{
	json_t	   *line = json_object();

	json_object_set_new(line, "line", json_integer(b->rows[i].line));
	if (b->rows[i].element > 0)
		json_object_set_new(line, "element", json_integer(b->rows[i].element));
	json_object_set(line, "row", row_object(b, i));
	json_object_set_new(line, "issues", issues);
	return line;
}

/* The row index a consumers.N path names, or -1. */
static int
issue_row(const struct batch *b, json_t *issue, const int *sent_to_row, int nsent)
{
	json_t	   *path = json_object_get(issue, "path");
	const char *k0 = json_string_value(json_object_get(json_array_get(path, 0), "key"));
	json_t	   *k1 = json_object_get(json_array_get(path, 1), "key");
	char	   *end;
	long		n;

	(void) b;
	if (k0 == NULL || strcmp(k0, "consumers") != 0)
		return -1;
	if (json_is_integer(k1))
		n = (long) json_integer_value(k1);
	else if (json_is_string(k1))
	{
		n = strtol(json_string_value(k1), &end, 10);
		if (*end != '\0')
			return -1;
	}
	else
		return -1;
	return n >= 0 && n < nsent ? sent_to_row[n] : -1;
}

/*
 * A 400 validation_error: each issue to its row.  Rows with issues are
 * excluded and get rejects lines (into new_rejects as well, for the
 * journal); without split_rejected the other rows are rejected too, as
 * rows of a rejected batch.  -1 when an issue names no row.
 */
static int
apply_issues(struct batch *b, json_t *body, bool split_rejected, json_t *new_rejects)
{
	json_t	   *issues = json_object_get(body, "issues");
	int		   *sent_to_row = malloc((b->nrows + 1) * sizeof(int));
	json_t	  **row_issues = calloc(b->nrows + 1, sizeof(json_t *));
	int			nsent = 0;
	int			mapped = 0;
	size_t		k;
	json_t	   *issue;

	for (int i = 0; i < b->nrows; i++)
		if (!b->excluded[i])
			sent_to_row[nsent++] = i;
	json_array_foreach(issues, k, issue)
	{
		int			r = issue_row(b, issue, sent_to_row, nsent);
		json_t	   *copy;
		json_t	   *path;

		if (r < 0)
		{
			mapped = -1;
			break;
		}
		copy = json_deep_copy(issue);
		path = json_object_get(copy, "path");
		json_array_remove(path, 0);
		json_array_remove(path, 0);
		if (row_issues[r] == NULL)
			row_issues[r] = json_array();
		json_array_append_new(row_issues[r], copy);
	}
	for (int i = 0; i < b->nrows; i++)
	{
		json_t	   *line;

		if (row_issues[i] == NULL)
			continue;
		if (mapped >= 0)
		{
			line = row_rejects_line(b, i, row_issues[i]);
			json_array_append(new_rejects, line);
			json_array_append_new(b->rejects, line);
			b->excluded[i] = 1;
			b->n_rejected++;
			mapped++;
		}
		else
			json_decref(row_issues[i]);
	}
	if (mapped > 0 && !split_rejected)
	{
		for (int i = 0; i < b->nrows; i++)
		{
			if (b->excluded[i])
				continue;
			json_array_append_new(b->rejects,
								  row_rejects_line(b, i, json_pack("[{s:s, s:s, s:s, s:[]}]",
																   "kind", "import", "type", "batch_rejected",
																   "message", "not created: another row of its batch was rejected (--split-rejected sends the others)",
																   "path")));
			b->excluded[i] = 1;
			b->n_rejected++;
		}
	}
	free(sent_to_row);
	free(row_issues);
	return mapped;
}

/* true when some row is still to be sent */
static bool
any_included(const struct batch *b)
{
	for (int i = 0; i < b->nrows; i++)
		if (!b->excluded[i])
			return true;
	return false;
}

/*
 * What the answer in b (status, resp) means.  why gets a message for the
 * verdicts that stop the import.
 */
enum verdict
batch_answer(struct batch *b, bool split_rejected, bool want_output, json_t *new_rejects,
			 char *why, size_t whylen)
{
	json_t	   *body;
	int			mapped;

	switch (b->status)
	{
		case 200:
		case 201:
		case 204:
			b->n_created = 0;
			for (int i = 0; i < b->nrows; i++)
				b->n_created += !b->excluded[i];
			if (want_output)
			{
				b->created = json_loadb(b->resp ? b->resp : "", b->resp_len, 0, NULL);
				if (!json_is_array(b->created) || (int) json_array_size(b->created) != b->n_created)
				{
					snprintf(why, whylen, "batch %ld: the 200 body is not the %d consumers sent",
							 b->no + 1, b->n_created);
					return V_FATAL;
				}
			}
			return V_DONE;
		case 400:
			body = json_loadb(b->resp ? b->resp : "", b->resp_len, 0, NULL);
			if (!json_is_object(body) ||
				!json_is_string(json_object_get(body, "error")) ||
				strcmp(json_string_value(json_object_get(body, "error")), "validation_error") != 0)
			{
				snprintf(why, whylen, "batch %ld: 400 %.200s", b->no + 1, b->resp ? b->resp : "");
				json_decref(body);
				return V_FATAL;
			}
			mapped = apply_issues(b, body, split_rejected, new_rejects);
			json_decref(body);
			if (mapped <= 0)
			{
				snprintf(why, whylen, "batch %ld: a 400 whose issues name no row: %.200s",
						 b->no + 1, b->resp ? b->resp : "");
				return V_FATAL;
			}
			if (split_rejected && any_included(b))
				return V_RESEND;
			return V_DONE;
		case 401:
		case 403:
			snprintf(why, whylen, "the server refused the key (%ld): %.200s", b->status,
					 b->resp ? b->resp : "");
			return V_AUTH;
		case 413:
			snprintf(why, whylen, "batch %ld is larger than the server accepts (413): lower --batch-size",
					 b->no + 1);
			return V_TOO_LARGE;
		case 422:
			snprintf(why, whylen, "batch %ld: its Idempotency-Key was used with another body (422); "
					 "was the state file copied to another input?", b->no + 1);
			return V_FATAL;
		case 0:
		case 409:
		case 429:
		case 502:
		case 503:
		case 504:
			return V_RETRY;
		default:
			snprintf(why, whylen, "batch %ld: unexpected status %ld: %.200s", b->no + 1, b->status,
					 b->resp ? b->resp : "");
			return V_FATAL;
	}
}
