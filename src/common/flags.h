/*
 * flags.h
 *		Settings from command-line flags and environment variables, shared by
 *		fanfare-gateway and fanfare-relay.
 *
 * A program describes its settings in a table: each has a flag, an
 * environment variable, a kind, where it goes in the program's config
 * struct, bounds for numbers and a line of help.  A flag wins over the
 * variable, which wins over the default the program set beforehand.
 * Numbers are parsed strictly and bounded, so a typo stops the program at
 * start rather than at 3 a.m.
 */
#ifndef FANFARE_FLAGS_H
#define FANFARE_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum flag_kind
{
	FLAG_TEXT,					/* copied into a char[text_max + 1] */
	FLAG_STRING,				/* pointer kept (argv or environ) */
	FLAG_INT,
	FLAG_SIZE					/* a size_t of bytes, K or M suffix allowed */
};

struct flag_def
{
	const char *flag;			/* without "--" */
	const char *env;
	enum flag_kind kind;
	size_t		offset;			/* in the program's config struct */
	long		min;
	long		max;
	const char *help;
};

struct flag_program
{
	const char *name;			/* "fanfare-gateway" */
	const char *version;
	const char *about;			/* the first lines of --help, after the name */
	const char *notes;			/* the last lines of --help */
	const struct flag_def *defs;
	size_t		n_defs;
	size_t		text_max;		/* longest FLAG_TEXT value */
};

enum flags_result
{
	FLAGS_OK,
	FLAGS_EXIT_OK,				/* --help or --version was printed */
	FLAGS_ERROR					/* message printed to stderr */
};

/* The environment, then argv, into config (defaults already set). */
extern enum flags_result flags_load(const struct flag_program *program, void *config,
									int argc, char **argv);

/* A whole decimal number within [min, max]; K and M suffixes if sized. */
extern bool flags_parse_number(const char *text, bool sized, long min, long max,
							   long *out);

/* The --help text, generated from the table. */
extern void flags_print_help(const struct flag_program *program, FILE *out);

#endif
