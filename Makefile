# Two commands for a fresh machine: `make demo` and `make test`. Everything lives in .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test test-busy lint typecheck check bench bench-docs clean agents docs consumers browser-deps fuzz

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "cab-trace needs Python 3.11 or newer; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Stamps re-run the install whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	@touch $@

# The tests start real Ray nodes (tests/sweep/test_sweep_ray.py): the ray extra comes with them.
$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test,ray]'
	@touch $@ $(VENV)/.installed

## demo: install into .venv, record the bundled demo run, say how to look at it
demo: $(VENV)/.installed
	$(BIN)/cab-trace demo

## test: install what the tests need into .venv and run them
test: $(VENV)/.installed-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## test-busy: the tests most bound to timing (the model proxy, faults, the real terminal), with a
## CPU-bound process per core beside them (tests/busy.py): the suite must hold on a busy machine
BUSY_TESTS ?= tests/proxy tests/unit/test_usage_stripper.py tests/harness/test_observer.py \
	tests/harness/test_faults.py tests/replay/test_tmux.py tests/replay/test_terminal_pane_tmux.py
test-busy: $(VENV)/.installed-test
	$(BIN)/python -m tests.busy $(BUSY_TESTS) $(PYTEST_ARGS)

## agents: install the agent CLIs pinned in agents/versions into .agents/ (commands in .agents/bin/)
AGENTS := .agents
agents: $(AGENTS)/.installed

$(AGENTS)/.installed: agents/versions
	@command -v npm >/dev/null || { echo "make agents needs npm (Node.js 20 or newer)" >&2; exit 1; }
	mkdir -p $(AGENTS)/bin
	npm install --prefix $(AGENTS)/npm --no-audit --no-fund --loglevel=error \
		$$(awk '$$1 == "npm" {print $$2 "@" $$3}' agents/versions)
	$(PYTHON) -m venv $(AGENTS)/aider
	$(AGENTS)/aider/bin/python -m pip install -q $$(awk '$$1 == "pypi" {print $$2 "==" $$3}' agents/versions)
	awk '$$1 == "npm" {print $$4}' agents/versions | while read -r cmd; do \
		ln -sf ../npm/node_modules/.bin/$$cmd $(AGENTS)/bin/$$cmd; done
	ln -sf ../aider/bin/aider $(AGENTS)/bin/aider
	@touch $@

## consumers: Phoenix and MLflow, the GenAI consumers tests/consumers/ feeds traces to, in a venv of
## their own (.venv-consumers/): they are large and pin their own dependencies, so never in .venv
CONSUMERS := .venv-consumers
consumers: $(CONSUMERS)/.installed

$(CONSUMERS)/.installed: tests/consumers/requirements.txt
	$(PYTHON) -m venv $(CONSUMERS)
	$(CONSUMERS)/bin/python -m pip install -q --upgrade pip
	$(CONSUMERS)/bin/python -m pip install -q -r tests/consumers/requirements.txt
	@touch $@

## browser-deps: playwright-core from npm (pinned in tests/browser/package-lock.json) for the cell
## page's browser tests, which drive Debian's chromium (/usr/bin/chromium; apt-get install chromium)
BROWSER := tests/browser
browser-deps: $(BROWSER)/node_modules/.installed

$(BROWSER)/node_modules/.installed: $(BROWSER)/package.json $(BROWSER)/package-lock.json
	@command -v npm >/dev/null || { echo "make browser-deps needs npm (Node.js 20 or newer)" >&2; exit 1; }
	cd $(BROWSER) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

lint: $(VENV)/.installed-test
	$(BIN)/ruff check cab_trace replay tests bench scripts
	$(BIN)/ruff format --check cab_trace replay tests bench scripts

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

## check: lint, strict types and the tests
check: lint typecheck test

## docs: build the documentation site into site/ (strict: a broken link or page fails)
docs: $(VENV)/.installed-test
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

## fuzz: run the fuzz targets (tests/fuzz) for thousands of examples each, not the suite's few
fuzz: $(VENV)/.installed-test
	CAB_FUZZ=long $(BIN)/python -m pytest -m fuzz tests/fuzz $(PYTEST_ARGS)

## bench: run the benchmarks (ratios against baselines measured in the same run); BENCH_ARGS=--quick
bench: $(VENV)/.installed-test
	$(BIN)/python -m bench.run $(BENCH_ARGS)

## bench-docs: write bench/results.json (from `make bench`) into docs/performance.md's table
bench-docs: $(VENV)/.installed-test
	$(BIN)/python -m bench.docs

clean:
	rm -rf $(VENV) $(AGENTS) $(CONSUMERS) $(BROWSER)/node_modules site .mypy_cache .ruff_cache .pytest_cache .hypothesis
