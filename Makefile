# Every target bootstraps .venv from nothing but python3.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test demo bench lint fmt lock clean

$(STAMP): pyproject.toml requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)            ## web + embedded worker on 127.0.0.1:$${PORT:-8000}
	$(PY) run_portal.py

test: $(STAMP)           ## the whole suite: engine, API, queue, downloads, browser
	$(PY) -m pytest $(PYTEST_ARGS)

demo: $(STAMP)           ## make a sample clip and brand it with the demo brands
	$(PY) demo_orchestrator.py

bench: $(STAMP)          ## benchmarks; figures land in docs/PERFORMANCE.md
	$(PY) -m bench $(BENCH_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

lock: $(STAMP)           ## refresh the pinned lock from pyproject's runtime dependencies
	$(PY) -m pip freeze --exclude-editable | grep -v -i -E '^(playwright|pytest|pytest-xdist|pyyaml|execnet|iniconfig|pluggy|ruff|requests|greenlet|pyee|charset-normalizer|urllib3|certifi|idna)==' > requirements.txt

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
