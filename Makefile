# Convene: `make run` serves the demo, `make test` runs the whole suite.
# Both set everything up first: virtualenv, Python packages, npm packages, database.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST ?= 127.0.0.1
PYTEST_ARGS ?=

.PHONY: run test setup migrate demo lint format bench clean

$(BIN)/.installed: pyproject.toml
	@echo "Installing Python packages into $(VENV) (first run: a minute or two)..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	@echo "Installing front-end packages from npm (package-lock.json)..."
	npm ci --no-audit --no-fund
	touch $@

var:
	mkdir -p var

setup: $(BIN)/.installed node_modules/.installed var

migrate: setup
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py load_demo --accounts
	$(BIN)/python manage.py load_demo_qa

run: demo
	@$(BIN)/python manage.py demo_signins
	@echo "Convene on http://$(HOST):$(PORT)/ (Ctrl+C to stop)"
	$(BIN)/daphne -b $(HOST) -p $(PORT) config.asgi:application

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# `make bench BENCH_ARGS="--quick"`; see docs/performance.md. No npm needed: no browser.
BENCH_ARGS ?=
bench: $(BIN)/.installed var
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) node_modules var
