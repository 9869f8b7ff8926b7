# Berth: developer and CI entry points. Everything runs through uv (pip-installed if missing).
#   make run    the whole platform on this machine (embedded defaults; see README.md)
#   make test   the test suite against the machine's PostgreSQL and RabbitMQ
SHELL := /bin/bash
.DEFAULT_GOAL := help

# `uv` on PATH, else the copy `pip install uv` puts next to python3 (run as a module).
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
PYTEST_ARGS ?=
# .ci/run sets this to learn pytest's own exit code (make itself only ever exits 2).
PYTEST_RC_FILE ?=
# `make run PROCS="auth auth-worker"` starts only those Procfile entries.
PROCS ?=

.PHONY: help ensure-uv sync assets system-deps system-deps-test run test fuzz lint format bench clean distclean

help:
	@echo "make run        run the platform: Traefik on http://localhost:8080 (README.md)"
	@echo "make test       uv sync --locked, then pytest (PYTEST_ARGS=... to pass options)"
	@echo "make fuzz       the long schemathesis run against every service through Traefik"
	@echo "make lint       ruff check + ruff format --check + lint-imports (architecture contracts)"
	@echo "make format     ruff format + ruff check --fix"
	@echo "make sync       uv sync"
	@echo "make assets     npm ci + copy the panel's htmx/Chart.js into berth_frontend/static/vendor"
	@echo "make bench      install wrk, run every bench/*.py (bench/_*.py are their helpers)"
	@echo "make clean      remove caches, logs, mail, broker files (keeps database and secrets)"
	@echo "make distclean  clean + all of var/ (embedded database and dev secrets)"

ensure-uv:
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv \
		|| python3 -m pip install --quiet --break-system-packages uv

sync: ensure-uv
	$(UV) sync

# The panel's browser assets come from npm at set-up; nothing third-party is committed.
assets:
	@bash scripts/frontend-assets.sh

# Debian packages pip/npm cannot bring (bubblewrap; chromium for the browser tests)
system-deps:
	@bash scripts/install-system-deps.sh

system-deps-test:
	@bash scripts/install-system-deps.sh --browser --vps

run: sync assets system-deps
	$(UV) run python -m berth_devrun run $(PROCS)

test: ensure-uv assets system-deps-test
	$(UV) sync --locked
	@status=0; $(UV) run pytest $(PYTEST_ARGS) || status=$$?; \
	if [ -n "$(PYTEST_RC_FILE)" ]; then echo $$status > "$(PYTEST_RC_FILE)"; fi; \
	exit $$status

# `make test` runs the same fuzz with its bounded CI profile (tests/e2e/test_fuzz_openapi.py)
fuzz: ensure-uv assets system-deps
	$(UV) sync --locked
	BERTH_FUZZ_PROFILE=long $(UV) run pytest tests/e2e/test_fuzz_openapi.py -s $(PYTEST_ARGS)

lint: ensure-uv
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run lint-imports --no-cache

format: ensure-uv
	$(UV) run ruff format .
	$(UV) run ruff check --fix .

# Benchmarks print figures; they never pass or fail on a timing. Each script starts what it
# measures itself, against the machine's PostgreSQL and RabbitMQ, like the tests do.
bench: sync
	@bash scripts/install-system-deps.sh --bench
	@shopt -s nullglob; scripts=(bench/[!_]*.py); \
	if [ $${#scripts[@]} -eq 0 ]; then echo "no benchmarks in bench/ yet"; exit 0; fi; \
	for script in "$${scripts[@]}"; do echo "== $$script"; $(UV) run python "$$script" || exit $$?; done

# Refuses while `make run` runs (its pid is in var/devrun.lock): files would vanish under it.
clean:
	@if [ -s var/devrun.lock ] && kill -0 "$$(cat var/devrun.lock)" 2>/dev/null; then \
		echo "make run is running in this checkout (pid $$(cat var/devrun.lock)); stop it first"; \
		exit 1; fi
	rm -rf .pytest_cache .ruff_cache var/log var/mail var/broker var/traefik var/celerybeat-*
	find . -name __pycache__ -type d -not -path './.venv/*' -prune -exec rm -rf {} +

distclean: clean
	rm -rf var
