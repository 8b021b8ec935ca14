# auditkit: the two quick-start commands (make demo, make test) bootstrap everything from Python 3.11+.
# `make setup` is the one set-up that `make test` and CI (.ci/run) share: the virtual environment
# with the kit and every extra, then the parts outside Python the tests drive (.ci/install-parts:
# Chromium and ssh-keygen with apt-get as root, Azurite from npm). What cannot be installed here is
# said in one line and its tests skip.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST := $(BIN)/python -m pytest -n auto --dist loadfile

.PHONY: install setup demo test test-fast lint bench clean

# uv installs the same wheels as pip, from the same index, in a fraction of the time; the bytecode
# is compiled once here instead of by the first process of every test that imports a module.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "auditkit needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip 'uv>=0.5'
	$(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode -e '.[all,test]'
	touch $(STAMP)

install: $(STAMP)

setup: $(STAMP)
	@.ci/install-parts

demo: $(STAMP)
	$(BIN)/auditkit demo --out reports/demo

lint: $(STAMP)
	$(BIN)/ruff check auditkit tests benchmarks

# While working: everything but the tests marked slow (under 2 minutes).
test-fast: lint
	$(PYTEST) -m "not slow"

# Before submitting, and in CI: the whole suite.
test: setup lint
	$(PYTEST)

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_scan.py

clean:
	rm -rf $(VENV) .parts .pytest_cache .ruff_cache .hypothesis
