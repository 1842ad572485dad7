/*
 * flags.c
 *		Settings from command-line flags and environment variables (see
 *		flags.h).
 */
#include "flags.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

bool
flags_parse_number(const char *text, bool sized, long min, long max, long *out)
{
	char	   *end;
	long		value;
	long		unit = 1;

	if (text[0] < '0' || text[0] > '9')
		return false;
	errno = 0;
	value = strtol(text, &end, 10);
	if (errno != 0)
		return false;
	if (sized && (*end == 'K' || *end == 'k'))
		unit = 1024, end++;
	else if (sized && (*end == 'M' || *end == 'm'))
		unit = 1024 * 1024, end++;
	if (*end != '\0' || value > max / unit)
		return false;
	value *= unit;
	if (value < min || value > max)
		return false;
	*out = value;
	return true;
}

void
flags_print_help(const struct flag_program *program, FILE *out)
{
	fprintf(out, "%s %s: %s\n\nusage: %s [--flag value | --flag=value]...\n\n",
			program->name, program->version, program->about, program->name);
	for (size_t i = 0; i < program->n_defs; i++)
		fprintf(out, "  --%-24s %s\n  %-26s env %s\n",
				program->defs[i].flag, program->defs[i].help, "", program->defs[i].env);
	fprintf(out, "  --%-24s show this help\n  --%-24s show the version\n\n%s",
			"help", "version", program->notes);
}

/* Stores one textual value into its setting; false (with a message) if bad. */
static bool
apply(const struct flag_program *program, void *config, const struct flag_def *d,
	  const char *value, const char *source)
{
	char	   *field = (char *) config + d->offset;
	long		number;

	switch (d->kind)
	{
		case FLAG_TEXT:
			if (strlen(value) == 0 || strlen(value) > program->text_max)
			{
				fprintf(stderr, "%s: %s: bad value for %s\n", program->name, source, d->flag);
				return false;
			}
			strcpy(field, value);
			return true;
		case FLAG_STRING:
			*(const char **) field = value;
			return true;
		case FLAG_INT:
		case FLAG_SIZE:
			if (!flags_parse_number(value, d->kind == FLAG_SIZE, d->min, d->max, &number))
			{
				fprintf(stderr, "%s: %s: %s must be a number from %ld to %ld\n",
						program->name, source, d->flag, d->min, d->max);
				return false;
			}
			if (d->kind == FLAG_SIZE)
				*(size_t *) field = (size_t) number;
			else
				*(int *) field = (int) number;
			return true;
	}
	return false;
}

/* The setting named by a flag (without "--"), or NULL. */
static const struct flag_def *
find_flag(const struct flag_program *program, const char *flag, size_t len)
{
	for (size_t i = 0; i < program->n_defs; i++)
		if (strlen(program->defs[i].flag) == len &&
			strncmp(program->defs[i].flag, flag, len) == 0)
			return &program->defs[i];
	return NULL;
}

/* One argument (and perhaps its value, the next one) of argv at *i. */
static enum flags_result
load_argument(const struct flag_program *program, void *config, int argc, char **argv, int *i)
{
	const char *arg = argv[*i];
	const char *eq;
	const struct flag_def *d;
	const char *value;

	if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
	{
		flags_print_help(program, stdout);
		return FLAGS_EXIT_OK;
	}
	if (strcmp(arg, "--version") == 0)
	{
		printf("%s %s\n", program->name, program->version);
		return FLAGS_EXIT_OK;
	}
	if (strncmp(arg, "--", 2) != 0)
	{
		fprintf(stderr, "%s: unexpected argument \"%s\" (see --help)\n", program->name, arg);
		return FLAGS_ERROR;
	}
	arg += 2;
	eq = strchr(arg, '=');
	d = find_flag(program, arg, eq ? (size_t) (eq - arg) : strlen(arg));
	if (d == NULL)
	{
		fprintf(stderr, "%s: unknown flag --%s (see --help)\n", program->name, arg);
		return FLAGS_ERROR;
	}
	if (eq != NULL)
		value = eq + 1;
	else if (*i + 1 < argc)
		value = argv[++*i];
	else
	{
		fprintf(stderr, "%s: --%s needs a value\n", program->name, d->flag);
		return FLAGS_ERROR;
	}
	return apply(program, config, d, value, "command line") ? FLAGS_OK : FLAGS_ERROR;
}

enum flags_result
flags_load(const struct flag_program *program, void *config, int argc, char **argv)
{
	for (size_t i = 0; i < program->n_defs; i++)
	{
		const char *value = getenv(program->defs[i].env);

		if (value != NULL && value[0] != '\0' &&
			!apply(program, config, &program->defs[i], value, program->defs[i].env))
			return FLAGS_ERROR;
	}
	for (int i = 1; i < argc; i++)
	{
		enum flags_result r = load_argument(program, config, argc, argv, &i);

		if (r != FLAGS_OK)
			return r;
	}
	return FLAGS_OK;
}
