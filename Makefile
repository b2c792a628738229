# Quick start: `make demo` serves a seeded demo; `make test` runs lint and every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: venv demo test lint format validate messages clean

# Reinstalls whenever pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/screening demo

lint: $(STAMP)
	$(BIN)/ruff check screening tests bench
	$(BIN)/ruff format --check screening tests bench

format: $(STAMP)
	$(BIN)/ruff check --fix screening tests bench
	$(BIN)/ruff format screening tests bench

# Database tests run on SQLite and, when reachable, PostgreSQL (required with CI=true).
test: lint
	$(BIN)/python -m pytest -p no:cacheprovider $(PYTEST_ARGS)

validate: $(STAMP)
	$(BIN)/screening validate

# The app's own words, for translators: edit a copy per language, never ship it unreviewed.
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _ -k gettext -k lazy_gettext --no-location \
		--omit-header -o screening/translations/messages.pot .

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache .hypothesis tests/artifacts
