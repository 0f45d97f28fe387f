# DuckDB for `partita bench dataplane`, the peer it is measured against:
# the npm package @duckdb/node-api (with its prebuilt Linux bindings),
# installed under $(TOOLS)/duckdb (git-ignored); a no-op once it is there.
#
#   make duckdb                   # install if missing
#   PARTITA_DUCKDB=$(DUCKDB_DIR)  # where the bench looks for it

TOOLS ?= $(CURDIR)/tools
DUCKDB_VERSION := 1.5.6-r.1
DUCKDB_DIR := $(TOOLS)/duckdb
DUCKDB_STAMP := $(DUCKDB_DIR)/.installed-$(DUCKDB_VERSION)

.PHONY: duckdb
duckdb: $(DUCKDB_STAMP)

$(DUCKDB_STAMP):
	@command -v npm >/dev/null || { echo "duckdb: npm is required to install @duckdb/node-api@$(DUCKDB_VERSION)" >&2; exit 1; }
	@echo "installing @duckdb/node-api@$(DUCKDB_VERSION) -> $(DUCKDB_DIR)"
	@mkdir -p $(DUCKDB_DIR)
	@npm install --silent --no-audit --no-fund --no-save --prefix $(DUCKDB_DIR) @duckdb/node-api@$(DUCKDB_VERSION)
	@touch $@
