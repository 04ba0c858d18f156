# HybridHub: `make run` starts the app, `make test` runs the checks and tests.
# Both need only Python 3.11+ (and a C compiler for llama.cpp, built once).

VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# A portable llama.cpp build: -march=native builds crash on CPUs whose AMX
# state the kernel does not expose. pip's wheel cache keeps the result.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF
# Connection limits and no trust in X-Forwarded-* (docs/security.md, "Deployment").
UVICORN_LIMITS ?= --no-proxy-headers --timeout-keep-alive 5 --limit-concurrency 1000

.PHONY: install run cluster test lint format bench clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[llamacpp,server,ner,test,dev,bench]"
	touch $@

install: $(VENV)/.installed

.env:
	@echo "Writing .env with a new SECRET_KEY and admin password (edit it to taste)"
	@$(PY) -c "import secrets; print(f'SECRET_KEY={secrets.token_urlsafe(50)}\nHYBRIDHUB_ADMIN_PASSWORD={secrets.token_urlsafe(12)}')" > .env

run: install .env
	$(PY) manage.py migrate --noinput
	$(PY) manage.py bootstrap_demo
	$(PY) manage.py ner_derive --if-enabled
	@echo "HybridHub on http://$(HOST):$(PORT)/  (admin: /admin/, API: /v1/, docs: /v1/docs)"
	$(VENV)/bin/uvicorn hybridhub.asgi:application --host $(HOST) --port $(PORT) --timeout-graceful-shutdown 10 $(UVICORN_LIMITS)

# Several worker processes on PostgreSQL and Redis, with llama.cpp's server as an
# on-prem model server (docs/deploy.md). Throwaway databases unless .env sets
# DATABASE_URL / REDIS_URL; needs Debian's postgresql and redis-server.
cluster: install .env
	$(PY) deploy/cluster.py --host $(HOST) --port $(PORT) --workers $(or $(WORKERS),2)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(VENV)/bin/lint-imports --no-cache

# The project's modules are compiled first, so the test run's server threads
# import them without compiling (see pyproject.toml's pytest addopts).
test: lint
	$(PY) -m compileall -q apps hybridhub bench tests/support
	$(PY) -m pytest

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install
	$(PY) bench/gateway_overhead.py
	$(PY) bench/local_engine.py
	$(PY) bench/policy_decision.py
	$(PY) bench/classification_eval.py
	$(PY) -m bench.privacy_eval.run --split test
	$(PY) bench/budgets.py
	$(PY) bench/cluster.py
	$(PY) bench/processes.py

clean:
	rm -rf $(VENV)
