# The two commands a new user types: `make demo` and `make test`. Each creates the virtual
# environment from the committed lock (constraints.txt) on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: demo test test-slow test-faults test-fuzz lint bench lock lock-hashes audit clean \
	system-packages

# REQUIRE_HASHES=1 (CI): every package from requirements.lock, each checked against its
# sha256 (pip ignores hashes in a constraints file, pypa/pip#8792, hence the second lock);
# then the project itself, which has no hash, without dependencies.
$(STAMP): pyproject.toml constraints.txt requirements.lock
	$(PYTHON) -m venv $(VENV)
ifeq ($(REQUIRE_HASHES),1)
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
else
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
endif
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
	$(BIN)/pytest -m "not slow and not faults"

# Exit code 5 means no test is marked slow: nothing to run is not a failure.
test-slow: $(STAMP)
	$(BIN)/pytest -m "slow and not faults" || [ $$? -eq 5 ]

# The fault-injection scenarios of issue 14 (docs/reliability.md), end to end on both engines.
test-faults: $(STAMP)
	$(BIN)/pytest -m faults

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

# Refresh the locks after changing dependencies in pyproject.toml: the versions
# (constraints.txt), then the same versions with their hashes (make lock-hashes, a few
# minutes: pip-compile reads every file of every pinned version from the index).
lock: $(STAMP)
	$(BIN)/pip freeze --exclude-editable | grep -v -e '^-e ' -e '^govshare' > constraints.txt
	$(MAKE) lock-hashes

lock-hashes:
	$(BIN)/pip-compile --quiet --allow-unsafe --generate-hashes --extra dev --strip-extras \
	  -c constraints.txt --no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml
	$(BIN)/pip-compile --quiet --allow-unsafe --generate-hashes --strip-extras \
	  -c constraints.txt --no-emit-index-url --no-emit-find-links \
	  -o requirements-runtime.lock pyproject.toml

# Known vulnerabilities in the hashed lock (.ci/audit_dependencies.py says what it decides).
audit: $(STAMP)
	$(BIN)/python .ci/audit_dependencies.py

clean:
	rm -rf $(VENV) var .pytest_cache
