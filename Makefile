# Quick start: `make demo` serves a seeded demo; `make test` runs lint and every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: venv lock demo test lint format validate messages clean

PIP := $(BIN)/python -m pip --disable-pip-version-check
COMPILE := $(BIN)/uv pip compile pyproject.toml --python-version 3.11 --generate-hashes --quiet

# Installs exactly the locked versions (hash-checked), then the project itself; reinstalls
# whenever pyproject.toml or the lock changes.
$(STAMP): pyproject.toml requirements-dev.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet --require-hashes -r requirements-dev.lock
	$(PIP) install --quiet --no-deps -e .
	touch $(STAMP)

# Pins pyproject.toml's dependencies again after a change to them, keeping every pin that
# still fits (`make lock UPGRADE=--upgrade` takes the newest). requirements.lock is what a
# server installs; requirements-dev.lock adds the test tools at the same versions.
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet uv
	$(COMPILE) $(UPGRADE) -o requirements.lock
	$(COMPILE) $(UPGRADE) --extra dev -c requirements.lock -o requirements-dev.lock

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/screening demo

lint: $(STAMP)
	$(BIN)/ruff check screening tests bench deploy
	$(BIN)/ruff format --check screening tests bench deploy

format: $(STAMP)
	$(BIN)/ruff check --fix screening tests bench deploy
	$(BIN)/ruff format screening tests bench deploy

# The single sign-on tests sign in on a real OpenID provider (tests/oidc, under Node).
OIDC_PROVIDER := tests/oidc/node_modules/.package-lock.json
$(OIDC_PROVIDER): tests/oidc/package-lock.json
	npm ci --prefix tests/oidc --no-audit --no-fund --silent

# Database tests run on SQLite and, when reachable, PostgreSQL (required with CI=true).
test: lint $(OIDC_PROVIDER)
	$(BIN)/python -m pytest -p no:cacheprovider $(PYTEST_ARGS)

validate: $(STAMP)
	$(BIN)/screening validate

# The app's own words, for translators: edit a copy per language, never ship it unreviewed.
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _ -k gettext -k lazy_gettext --no-location \
		--omit-header -o screening/core/translations/messages.pot .

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache .hypothesis tests/artifacts tests/oidc/node_modules
