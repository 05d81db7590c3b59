# stress-sim: `make demo` and `make test` work on a fresh machine with Python >= 3.11.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean browser

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "stress-sim needs Python >= 3.11"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/stress-sim demo --out demo-out

test: $(STAMP) browser
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# Static checks (configured in pyproject.toml): ruff's lint rules over the tree, mypy on the typed core.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# Headless Chromium for the report's browser test (Debian package; installed when root and missing).
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	      echo "installing chromium (Debian) for the report test"; \
	      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	      echo "warning: could not install chromium; the browser test will be skipped"; \
	    else echo "warning: chromium not found and not root; the browser test will be skipped"; fi; }

bench: $(STAMP)
	$(BIN)/python benchmarks/engine.py
	$(BIN)/python benchmarks/calibration.py
	$(BIN)/python benchmarks/scaleout.py
	$(BIN)/python benchmarks/scenario_scaleout.py
	$(BIN)/python benchmarks/transactions.py
	$(BIN)/python benchmarks/fraud_learnability.py
	$(BIN)/python benchmarks/revaluation.py

clean:
	rm -rf $(VENV) demo-out .pytest_cache
