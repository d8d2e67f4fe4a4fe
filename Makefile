# Videotermin portal. Quick start: `make run`, then in another terminal `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HTMX := static/js/vendor/htmx.min.js
MO := portal/translations/de/LC_MESSAGES/messages.mo
SECRET := instance/secret_key
HOST ?= 127.0.0.1
PORT ?= 5000
export PORTAL_BASE_URL ?= http://$(HOST):$(PORT)

.PHONY: install run test lint translations-extract lock clean

install: $(BIN)/.installed $(HTMX) $(MO) instance/.migrated

# Exact versions with hashes from the lock file (runtime + dev); the project itself on top.
$(BIN)/.installed: pyproject.toml requirements/dev.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

$(HTMX): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(dir $@)
	cp node_modules/htmx.org/dist/htmx.min.js $@

$(MO): portal/translations/de/LC_MESSAGES/messages.po $(BIN)/.installed
	$(BIN)/pybabel compile --statistics -d portal/translations

$(SECRET):
	mkdir -p -m 700 instance
	umask 077; $(BIN)/python -c 'import secrets; print(secrets.token_hex(32))' > $@

# Migrates the default SQLite database (or PORTAL_SQLALCHEMY_DATABASE_URI) to the newest schema.
instance/.migrated: $(BIN)/.installed $(SECRET) $(wildcard migrations/versions/*.py)
	PORTAL_SECRET_KEY=$$(cat $(SECRET)) $(BIN)/flask --app portal db upgrade
	touch $@

# The local default: SQLite, the built-in call, mail written to instance/outbox/*.eml.
# Plain http on 127.0.0.1, so cookies are not marked Secure here (they are by default).
run: install
	@PORTAL_SECRET_KEY=$$(cat $(SECRET)) PORTAL_SESSION_COOKIE_SECURE=false \
	  $(BIN)/flask --app portal demo
	@echo "  Mail is written to instance/outbox/. Stop with Ctrl+C."
	PORTAL_SECRET_KEY=$$(cat $(SECRET)) PORTAL_SESSION_COOKIE_SECURE=false PORTAL_REQUIRE_2FA=false \
	  $(BIN)/flask --app portal run --host $(HOST) --port $(PORT)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(BIN)/.installed
	$(BIN)/ruff check .

translations-extract: $(BIN)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o portal/translations/messages.pot --no-location --sort-output .
	$(BIN)/pybabel update -i portal/translations/messages.pot -d portal/translations --no-fuzzy-matching --ignore-obsolete

# Re-resolves the lock files from pyproject.toml (newest versions allowed by its ranges).
# Review the diff, run `make test`, commit. See docs/operating.md, "Updating dependencies".
LOCK_VENV := .venv-lock
lock:
	test -x $(LOCK_VENV)/bin/pip-compile || { $(PYTHON) -m venv $(LOCK_VENV) && \
	  $(LOCK_VENV)/bin/pip install --quiet pip-tools; }
	$(LOCK_VENV)/bin/pip-compile --quiet --upgrade --generate-hashes --strip-extras --allow-unsafe \
	  -o requirements/main.lock pyproject.toml
	$(LOCK_VENV)/bin/pip-compile --quiet --upgrade --generate-hashes --strip-extras --allow-unsafe \
	  --extra dev -o requirements/dev.lock pyproject.toml

clean:
	rm -rf $(VENV) node_modules static/js/vendor instance/.migrated $(MO)
