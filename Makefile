# The two commands a newcomer needs: `make run` and `make test`. Everything else is a step of those.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The first of python3.13, python3.12, python3 that is at least 3.12 (a .python-version file selects
# pyenv's 3.12 inside this folder).
PYTHON ?= $(shell for p in python3.13 python3.12 python3; do \
	if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then \
	echo $$p; break; fi; done)
VENV := .venv
PY := $(VENV)/bin/python
FRONTEND := build/frontend
PYTEST_ARGS ?=
PYTEST_WORKERS ?= 2
# Passed to `python -m benchmarks`: module names, and --strict to exit 1 on a missed target
# (`make bench BENCH_ARGS="--strict dashboard"`).
BENCH_ARGS ?=

.PHONY: help prerequisites install frontend run test lint check bench screenshots docker-config clean

help:
	@echo "make run    - set up everything and serve the portal on http://127.0.0.1:$${PORT:-8000}"
	@echo "make test   - run the whole test suite"
	@echo "make lint   - ruff, mypy, pip-audit of the pinned set, migrations check and the production deploy check"
	@echo "make bench  - benchmarks, reported as ratios measured in the same run"
	@echo "make screenshots - each role's home page and an error page at 320 and 1280 px, in screenshots/"
	@echo "              (BENCH_ARGS=\"--strict [module ...]\": exit 1 on a missed target; only those modules)"

$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt
	@if [ -z "$(PYTHON)" ]; then echo "Python 3.12 or newer is needed (python3.12 or python3.13 on PATH)." >&2; exit 1; fi
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	touch $@

install: $(VENV)/.installed

# Every system package `make run` needs, checked before anything is built or started; what is
# missing is named, with the one apt-get command that installs it.
prerequisites:
	@python3 nir_portal/prerequisites.py --python "$(PYTHON)"

$(FRONTEND)/.built: package.json package-lock.json Makefile
	@command -v npm >/dev/null 2>&1 || { echo "npm (Node.js 20 or newer) is needed to build the NHS.UK frontend assets." >&2; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	rm -rf $(FRONTEND)
	mkdir -p $(FRONTEND)/static/nhsuk $(FRONTEND)/root $(FRONTEND)/static/vendor
	cp node_modules/nhsuk-frontend/dist/nhsuk/nhsuk-frontend.min.css node_modules/nhsuk-frontend/dist/nhsuk/nhsuk-frontend.min.css.map \
		node_modules/nhsuk-frontend/dist/nhsuk/nhsuk-frontend.min.js node_modules/nhsuk-frontend/dist/nhsuk/nhsuk-frontend.min.js.map \
		$(FRONTEND)/static/nhsuk/
	cp -r node_modules/nhsuk-frontend/dist/nhsuk/assets $(FRONTEND)/static/nhsuk/assets
	cp -r node_modules/nhsuk-frontend/dist/nhsuk/assets $(FRONTEND)/root/assets
	cp node_modules/axe-core/axe.min.js $(FRONTEND)/axe.min.js
	# The NHS fonts come from an outside host: a page's load event waits for them, which on a
	# network that drops outside traffic stalls every page for seconds. Pages use the NHS.UK
	# fallback font stack (Arial) and load nothing from outside the portal.
	sed -E -i 's/@font-face\{[^}]*\}//g' $(FRONTEND)/static/nhsuk/nhsuk-frontend.min.css
	if grep -Eq '@font-face|https?://' $(FRONTEND)/static/nhsuk/nhsuk-frontend.min.css; then \
		echo "The NHS.UK stylesheet still refers to an outside host." >&2; exit 1; fi
	touch $@

frontend: $(FRONTEND)/.built

run: prerequisites install frontend
	$(PY) -m nir_portal.embedded run

test: install frontend
	$(PY) -m nir_portal.embedded exec -- $(PY) -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(PY) tools/audit_dependencies.py
	$(VENV)/bin/lint-imports
	DEBUG=true $(PY) -m nir_portal.embedded exec -- $(PY) manage.py makemigrations --check --dry-run
	DEBUG=false SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(64))') \
		ALLOWED_HOSTS=nir-portal.example.nhs.uk DATABASE_URL=$${DATABASE_URL:-postgres://localhost/unused} \
		$(PY) manage.py check --deploy --fail-level WARNING

# Each role's home page and one error page at 320 px and 1280 px, into screenshots/ (not committed).
screenshots: install frontend
	$(PY) -m nir_portal.embedded exec -- $(PY) -m pytest -p no:xdist -p no:cacheprovider tests/browser/screenshots.py -q

bench: install frontend
	$(PY) -m nir_portal.embedded exec -- $(PY) -m benchmarks $(BENCH_ARGS)

docker-config:
	docker-compose -f docker/compose.yaml config --quiet

clean:
	rm -rf $(VENV) $(FRONTEND) node_modules staticfiles
