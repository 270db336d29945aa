# The two commands a newcomer needs: `make run` and `make test`.
# Both create .venv with the interpreter found as $(PYTHON) and install into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev
STAMP_BROWSE := $(VENV)/.installed-browse
PYTEST_ARGS ?=

.PHONY: run test bench bench-full hardening-long browse test-browser clean help

help:  ## show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

# Set-up output goes to stderr and recipes are not echoed: with `make run` over stdio,
# stdout is the MCP channel and must carry nothing but protocol messages.
$(BIN)/python:
	@echo "creating $(VENV) with $(PYTHON)" >&2
	@$(PYTHON) -m venv $(VENV) >&2
	@$(BIN)/python -m pip install --quiet --upgrade pip >&2

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	@echo "installing llm-mcp-server into $(VENV)" >&2
	@$(BIN)/python -m pip install --quiet -e . >&2
	@touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	@echo "installing llm-mcp-server with dev extras into $(VENV)" >&2
	@$(BIN)/python -m pip install --quiet -e '.[dev]' >&2
	@touch $@ $(STAMP_RUN)

run: $(STAMP_RUN)  ## start the MCP server over stdio (pass ARGS="--transport http" etc.)
	@exec $(BIN)/python server.py $(ARGS)

test: $(STAMP_DEV)  ## run the test suite with coverage
	$(BIN)/python -m pytest --cov --cov-report=term $(PYTEST_ARGS)

bench: $(STAMP_DEV)  ## quick benchmarks (under 2 minutes)
	$(BIN)/python -m pytest tests/bench --benchmark-only --benchmark-enable -p no:cacheprovider $(PYTEST_ARGS)

bench-full: $(STAMP_DEV)  ## full-size benchmarks (100,000 sessions; long)
	BENCH_FULL=1 $(BIN)/python -m pytest tests/bench --benchmark-only --benchmark-enable -p no:cacheprovider $(PYTEST_ARGS)

hardening-long: $(STAMP_DEV)  ## long fuzz/concurrency profile of the hardening tests (a few minutes)
	HARDENING_LONG=1 $(BIN)/python -m pytest tests/server/test_hardening_*.py -p no:cacheprovider $(PYTEST_ARGS)

$(STAMP_BROWSE): pyproject.toml | $(BIN)/python
	@echo "installing llm-mcp-server with the browse extra into $(VENV)" >&2
	@$(BIN)/python -m pip install --quiet -e '.[browse]' >&2
	@touch $@ $(STAMP_RUN)

browse: $(STAMP_BROWSE)  ## browse, search and chart the index in a web browser (ARGS="--port 8001 --open --root DIR")
	@exec $(BIN)/python scripts/sessions.py browse $(ARGS)

# Headless Chromium (Debian: apt-get install chromium) loads the session page and a chart page and
# saves the screenshots into docs/images/; the test skips, saying why, where Chromium is missing.
test-browser: $(STAMP_DEV)  ## real-browser check of the browse pages; screenshots into docs/images/
	@command -v chromium >/dev/null || [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null || \
		timeout 900 sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium' >&2 || \
		echo "could not install chromium with apt-get: the browser test will skip" >&2
	BROWSE_SCREENSHOTS=docs/images $(BIN)/python -m pytest tests/index/test_browse_browser.py -p no:cacheprovider -rs $(PYTEST_ARGS)

clean:  ## remove the virtualenv and caches (never touches .llm_sessions)
	rm -rf $(VENV) .pytest_cache .coverage htmlcov
