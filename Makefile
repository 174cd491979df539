# The two commands a new user types: `make demo` and `make test`. Each creates the virtual
# environment from the committed lock (constraints.txt) on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: demo test test-slow test-faults test-fuzz lint bench lock clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/govshare demo

test: $(STAMP)
	$(BIN)/pytest -m "not slow and not faults"

# Exit code 5 means no test is marked slow: nothing to run is not a failure.
test-slow: $(STAMP)
	$(BIN)/pytest -m "slow and not faults" || [ $$? -eq 5 ]

# The fault-injection scenarios of issue 14 (docs/reliability.md), end to end on both engines.
test-faults: $(STAMP)
	$(BIN)/pytest -m faults

# The parsers' fuzz tests (tests/test_fuzz_parsers.py) with CI's fixed budget of examples per
# test (about a minute and a half); make test runs them with a few examples each.
test-fuzz: $(STAMP)
	GOVSHARE_FUZZ_EXAMPLES=400 $(BIN)/pytest -m fuzz

# ruff, then the layer contracts of pyproject.toml ([tool.importlinter]).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# The quick figures; benchmarks/README.md lists the city-scale runs.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_dag_import.py
	$(BIN)/python benchmarks/bench_simulate.py --scale small

# Refresh the lock after changing dependencies in pyproject.toml.
lock: $(STAMP)
	$(BIN)/pip freeze --exclude-editable | grep -v -e '^-e ' -e '^govshare' > constraints.txt

clean:
	rm -rf $(VENV) var .pytest_cache
