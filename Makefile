# The README's two commands: `make demo` and `make test`. Everything installs into the clone:
# Python packages into .venv/, promptfoo (pinned, slim) into .tools/promptfoo/.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PROMPTFOO_VERSION := 0.121.20
PROMPTFOO := .tools/promptfoo/node_modules/.bin/promptfoo

.PHONY: demo test test-fast bench install promptfoo clean

$(BIN)/promptlane: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

install: $(BIN)/promptlane

# Slim install: optional native add-ons and install scripts are not needed for local providers.
$(PROMPTFOO):
	mkdir -p .tools/promptfoo
	cd .tools/promptfoo && npm install --no-audit --no-fund --loglevel=error --prefix . \
		promptfoo@$(PROMPTFOO_VERSION) --omit=optional --ignore-scripts @libsql/linux-x64-gnu@0.5.29

promptfoo: $(PROMPTFOO)

demo: install promptfoo
	$(BIN)/python demo/run_demo.py

# Tests run on WORKERS processes (pytest-xdist; default: one a core): most of their time is
# spent waiting on git, pre-commit, pip and node. --dist loadgroup hands out tests one at a
# time, except a file marked xdist_group, which one worker runs whole (its module and session
# fixtures are built once) and which starts first. `pytest` alone still runs in one process.
# pytest exits 5 when it collected nothing: count that as a failure, not a pass.
WORKERS ?= auto
PYTEST := $(BIN)/python -m pytest -q -n $(WORKERS) --dist loadgroup

test: install promptfoo
	PROMPTLANE_PROMPTFOO=$(CURDIR)/$(PROMPTFOO) $(PYTEST); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

test-fast: install
	$(PYTEST) -m "not slow"; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .tools .pytest_cache
