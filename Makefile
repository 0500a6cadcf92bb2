# Every target bootstraps .venv from nothing but python3.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# One stamp per install level: what runs the product (the pinned lock + the package), then the test
# extras on top, so `make test` after `make run` only adds the extras.
RUN_STAMP := $(VENV)/.installed-run
STAMP     := $(VENV)/.installed

.PHONY: run test demo bench lint fmt lock clean

$(RUN_STAMP): pyproject.toml requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --no-compile -r requirements.txt -e .
	touch $(RUN_STAMP)

# --no-compile: Python compiles what it imports on first use; compiling every module of every package at
# install (botocore, yt-dlp's extractors, scipy...) costs time and ~90 MB for code that never runs.
# -c: the extras may not move a runtime package off its pin.
$(STAMP): $(RUN_STAMP)
	$(PY) -m pip install --quiet --no-compile -c requirements.txt -e '.[dev]'
	touch $(STAMP)

run: $(RUN_STAMP)        ## web + embedded worker on 127.0.0.1:$${PORT:-8000}
	$(PY) run_portal.py

# The suite in parallel (pytest-xdist): each test module stays on one worker (--dist loadfile), so a
# module's live server and its ordered steps are shared as written; at most 4 workers, since each may run
# FFmpeg, a live server, Chromium, PostgreSQL and redis at once. PYTEST_XDIST= runs it in one process.
PYTEST_XDIST ?= -n auto --maxprocesses 4 --dist loadfile

test: $(STAMP)           ## the whole suite: engine, API, queue, downloads, browser
	$(PY) -m pytest $(PYTEST_XDIST) $(PYTEST_ARGS)

demo: $(RUN_STAMP)           ## make a sample clip and brand it with the demo brands
	$(PY) demo_orchestrator.py

bench: $(STAMP)          ## benchmarks; figures land in docs/PERFORMANCE.md
	$(PY) -m bench $(BENCH_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

empty :=
space := $(empty) $(empty)
# Installed for the tests only (the dev extra and what it pulls in); never in the runtime lock.
DEV_ONLY := playwright|pytest|pytest-xdist|pyyaml|execnet|iniconfig|pluggy|ruff|requests|pyee|\
	charset-normalizer|idna|moto|antlr4-python3-runtime|attrs|aws-xray-sdk|cfn-lint|\
	cryptography|docker|flask-cors|graphql-core|joserfc|jsonpatch|jsonpath-ng|jsonpointer|jsonschema|\
	jsonschema-path|jsonschema-specifications|lazy-object-proxy|mpmath|networkx|openapi-schema-validator|\
	openapi-spec-validator|pathable|py-partiql-parser|pyparsing|referencing|regex|responses|\
	rfc3339-validator|rpds-py|sympy|wrapt|xmltodict|scikit-image|scipy|lazy-loader|tifffile|imageio|\
	schemathesis|hypothesis|hypothesis-graphql|harfile|jsonschema_rs|pyrate-limiter|sortedcontainers|anyio

lock: $(STAMP)           ## refresh the pinned lock from pyproject's runtime dependencies
	$(PY) -m pip freeze --exclude-editable | grep -v -i -E '^($(subst $(space),,$(DEV_ONLY)))==' > requirements.txt

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
