# The two commands a new user types: `make demo` and `make test`. Each creates the virtual
# environment from the committed lock (constraints.txt) on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: demo test test-slow test-fuzz lint bench lock clean system-packages

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/govshare demo

# What the daily report needs besides Python packages: Chromium (prints the PDF; the browser
# tests drive it), poppler-utils (pdftoppm, the PDF tests) and a CJK font (no tofu boxes).
# Installed with apt-get where this is Debian/Ubuntu as root; elsewhere it says what to do.
SYSTEM_PACKAGES = chromium poppler-utils fonts-noto-cjk
system-packages:
	@if command -v chromium >/dev/null && command -v pdftoppm >/dev/null && \
	    [ -f /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ]; then \
	  echo "system packages present: $(SYSTEM_PACKAGES)"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(SYSTEM_PACKAGES); \
	else \
	  echo "The daily report needs: $(SYSTEM_PACKAGES) (Debian/Ubuntu names)." >&2; \
	  echo "Install them as root: apt-get install $(SYSTEM_PACKAGES)" >&2; \
	  echo "or point GOVSHARE_CHROMIUM / GOVSHARE_CJK_FONT at a Chromium and a CJK font." >&2; \
	fi

test: $(STAMP)
	$(BIN)/pytest -m "not slow"

# Exit code 5 means no test is marked slow: nothing to run is not a failure.
test-slow: $(STAMP)
	$(BIN)/pytest -m slow || [ $$? -eq 5 ]

# The parsers' fuzz tests (tests/test_fuzz_parsers.py) with CI's fixed budget of examples per
# test (80 s of CPU on this machine); make test runs them with 10 examples each.
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
