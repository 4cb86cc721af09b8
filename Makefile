# townhall: `make run` starts the server, `make test` runs every test.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PG_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: run test test-js lint bench clean setup screenshots docs

# The fan-out's C loop (src/townhall/media/_fanout_c.c) is built here when a C compiler and
# Python's headers exist (Debian: apt-get install gcc python3-dev); without them the
# install goes on and the fan-out runs its Python loop. The last line says which runs.
$(STAMP): pyproject.toml constraints.txt setup.py src/townhall/media/_fanout_c.c
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -c 'import os, shutil, sysconfig; h = os.path.join(sysconfig.get_paths()["include"], "Python.h"); shutil.which("cc") and os.path.exists(h) or print("note: no C compiler (cc) or no " + h + ": the fan-out will run its Python loop")'
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	@$(BIN)/python -c 'from townhall.media import native as n; print("fan-out loop:", "C" if n.available() else "Python (" + str(n.unavailable_reason()) + ")")'
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/townhall db upgrade
	$(BIN)/townhall serve

# PostgreSQL and Redis tests run when the local servers answer, and are skipped otherwise.
# Tests marked `serial` (several browsers or server processes at once) run after the rest,
# one at a time, so that real-time audio checks are not starved of CPU.
test: $(STAMP)
	@export TOWNHALL_TEST_POSTGRES_URL="$${TOWNHALL_TEST_POSTGRES_URL:-$$( $(BIN)/python -c 'import socket; socket.create_connection(("127.0.0.1", 5432), 1); print("$(PG_URL)")' 2>/dev/null)}"; \
	 export TOWNHALL_TEST_REDIS_URL="$${TOWNHALL_TEST_REDIS_URL:-$$( $(BIN)/python -c 'import socket; socket.create_connection(("127.0.0.1", 6379), 1); print("redis://127.0.0.1:6379/15")' 2>/dev/null)}"; \
	 $(BIN)/ruff check src tests bench && \
	 $(BIN)/ruff format --check src tests bench && \
	 $(BIN)/mypy && \
	 node --test tests/js && \
	 $(BIN)/pytest -n auto -q -m "not serial" $(PYTEST_ARGS) && \
	 $(BIN)/pytest -q -m serial $(PYTEST_ARGS)

# The web client's unit tests (its pure room state, the WebSocket's resume logic): Node's
# own test runner, no npm packages.
test-js:
	node --test tests/js

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

# Pages generated from the code (tests fail when they are stale).
docs: $(STAMP)
	$(BIN)/python -c 'from townhall.domain.error_codes import render_markdown as r; open("docs/ERRORS.md", "w").write(r())'
	$(BIN)/python -m townhall.bus.events_doc docs/EVENTS.md

# Refresh the README's screenshots (docs/screenshots) from the browser tests that take them.
screenshots: $(STAMP)
	TOWNHALL_SCREENSHOTS=1 $(BIN)/pytest -q tests/web/test_layout_web.py tests/web/test_moderation_web.py tests/web/test_home_web.py

bench: $(STAMP)
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) build *.egg-info src/townhall/media/*.so
