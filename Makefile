# Two commands for a fresh machine: `make demo` and `make test`. Everything lives in .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint typecheck check bench clean agents docs

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

lint: $(VENV)/.installed-test
	$(BIN)/ruff check cab_trace replay tests bench
	$(BIN)/ruff format --check cab_trace replay tests bench

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

## check: lint, strict types and the tests
check: lint typecheck test

## docs: build the documentation site into site/ (strict: a broken link or page fails)
docs: $(VENV)/.installed-test
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

## bench: run the benchmarks (ratios against baselines measured in the same run); BENCH_ARGS=--quick
bench: $(VENV)/.installed-test
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(AGENTS) site .mypy_cache .ruff_cache .pytest_cache .hypothesis
