# fanfare: PGXS build of the extension, plus the gateway and the project's
# entry points (run, test, bench).  See README.md.

EXTENSION  = fanfare
EXTVERSION = 0.3.0

MODULE_big = fanfare
OBJS = \
	src/fanfare.o \
	src/field_catalogue.o \
	src/js_number.o \
	src/json_text.o \
	src/json_value.o \
	src/jsonb_util.o \
	src/json_print.o \
	src/email_check.o \
	src/timestamp_check.o \
	src/issue_list.o \
	src/consumer_record.o \
	src/validate.o \
	src/tenant_context.o \
	src/uuidv7.o \
	src/keys.o \
	src/staged_rows.o \
	src/email_uniqueness.o \
	src/response.o \
	src/create_consumers.o \
	src/idempotency.o \
	src/import_consumers.o \
	src/router_support.o \
	src/rate_limit.o \
	src/outbox.o

DATA = $(wildcard fanfare--*.sql)

# pg_regress suites (sql/ + expected/) and isolation specs (test/isolation/)
REGRESS = install validation defaults response tenancy limits errors issue_format wire numbers idempotency lifecycle security webhooks rate_limit dry_run upgrade
# the webhook outbox trigger's own checks (src/outbox.c)
REGRESS += outbox taken_email
REGRESS_OPTS = --inputdir=.
ISOLATION = email_race idempotency
ISOLATION_OPTS = --inputdir=test/isolation --outputdir=output_iso

# rebuild objects when a header they include changes (override: Debian's
# Makefile.global, included below, assigns autodepend itself)
override autodepend = yes

PG_CONFIG ?= pg_config
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare \
	-Wno-missing-field-initializers -Wno-cast-function-type
# Warnings are errors in CI (make CI=1, as .ci/run does), not in the shipped
# build: a newer compiler on a user's machine must not break it.  CI=1 reaches
# the gateway's Makefile through make's command-line variables.
ifeq ($(CI),1)
PG_CFLAGS += -Werror
endif

# The compiler flags the environment gave, kept before PGXS replaces CFLAGS
# with the server's own (and still exports the result): the gateway is no
# backend module and builds with these alone, as it does on its own.
gateway_env_flags := $(foreach v,CFLAGS CPPFLAGS LDFLAGS,$(if $(filter environment,$(origin $(v))),$(v)='$(value $(v))'))

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# --- the gateway (its own Makefile; links libmicrohttpd, libpq, jansson) ---
all: gateway router import relay
.PHONY: gateway router install-router clean-router run test bench fuzz check-memory soak
gateway:
	env -u CFLAGS -u CPPFLAGS -u LDFLAGS $(gateway_env_flags) \
		$(MAKE) -C src/gateway PG_CONFIG=$(PG_CONFIG)

clean: clean-gateway
clean-gateway:
	$(MAKE) -C src/gateway clean

# --- fanfare-import (src/import, its own Makefile; libcurl, jansson, libcsv) ---
.PHONY: import clean-import import-long
import:
	env -u CFLAGS -u CPPFLAGS -u LDFLAGS $(gateway_env_flags) $(MAKE) -C src/import
clean: clean-import
clean-import:
	$(MAKE) -C src/import clean
# the import suite with a 1 GB NDJSON stream (make check-import: 200 MB)
import-long:
	FANFARE_IMPORT_LONG=1 test/import/run.sh
# --- the webhook relay (src/relay, its own Makefile; links libpq, libcurl,
# libcrypto, libmicrohttpd; see README.md, "Webhooks") ---
.PHONY: relay clean-relay
relay:
	env -u CFLAGS -u CPPFLAGS -u LDFLAGS $(gateway_env_flags) \
		$(MAKE) -C src/relay PG_CONFIG=$(PG_CONFIG)
clean: clean-relay
clean-relay:
	$(MAKE) -C src/relay clean

# --- the router extension (router/, its own PGXS Makefile; see README.md,
# "Scaling out") ---
router:
	$(MAKE) -C router PG_CONFIG=$(PG_CONFIG)
install: install-router
install-router: router
	$(MAKE) -C router PG_CONFIG=$(PG_CONFIG) install
clean: clean-router
clean-router:
	$(MAKE) -C router PG_CONFIG=$(PG_CONFIG) clean

# --- the README's two commands ---
run:
	tools/run.sh $(if $(SHARDS),--shards $(SHARDS)) $(if $(filter-out 0,$(HA)),--ha)

# every suite below, on one throwaway cluster
test:
	tools/test.sh

# --- one suite at a time (see CONTRIBUTING.md) ---
# make check-NAME runs test/NAME/run.sh alone: it builds and installs the
# tree and starts a throwaway cluster of its own (or uses the one PGHOST
# names).  make check-regress REGRESS=validation runs one pg_regress file.
SUITES = regress conformance gateway fuzz hostile reliability memcheck upgrade postgrest router bench failover import webhooks ratelimit
.PHONY: $(addprefix check-,$(SUITES))
$(addprefix check-,$(SUITES)): check-%:
	test/$*/run.sh $(if $(and $(filter regress,$*),$(filter command line,$(origin REGRESS))),$(REGRESS))

bench:
	bench/run.sh $(BENCH_ARGS)

# --- the long runs (see RELIABILITY.md) ---
fuzz:
	SEED=$(SEED) N=$(N) test/fuzz/long.sh

check-memory: check-memcheck

soak:
	test/soak/run.sh

# --- release and packaging (see README.md, "Packages", and CONTRIBUTING.md) ---
.PHONY: deb check-version check-package check-static check-assert check-modules

# the Debian packages postgresql-15-fanfare and fanfare-gateway, into dist/
deb:
	tools/deb.sh

# every file that names the version agrees with EXTVERSION
check-version:
	tools/check-version.sh

# build, install, use, purge the packages; nothing may be left behind
check-package:
	test/package/run.sh

# the clang static analyzer over the extension and the gateway, and the
# modules' borders (tools/check-modules.sh, alone: make check-modules)
check-static:
	test/static/run.sh
check-modules: $(OBJS)
	tools/check-modules.sh

# the pg_regress suite against an assert-enabled build of the extension
check-assert:
	test/assert/run.sh
