# Two commands (README): `make book` builds the site, `make test` runs every test.
# Both create .venv and install requirements.txt themselves (re-installed when it changes).
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export ANGPT_QUICK ?= 1
export ANGPT_BOOK := 1
export PYTHONHASHSEED := 0

.PHONY: book test unit notebooks site site-build site-test linkcheck clean venv

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@command -v $(PY) >/dev/null || { echo "needs $(PY) (set PY=python3.x)"; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

# Build the site into _build/html, executing every notebook at the quick size on the CPU.
book: $(STAMP)
	rm -rf _build  # the whole build: a kept environment (.doctrees) would skip executing the notebooks
	$(BIN)/jupyter-book build -W --keep-going .
	@echo "site: _build/html/index.html  (view: $(BIN)/python -m http.server -b 127.0.0.1 -d _build/html 8000)"

unit: $(STAMP)
	$(NICE) $(BIN)/pytest -q tests --ignore=tests/site

# ANGPT_BOOK=0: nbval runs each chapter as a live kernel would (widgets constructed and
# shown); the site build runs the static-page path. Both must pass.
notebooks: $(STAMP)
	ANGPT_BOOK=0 $(NICE) $(BIN)/pytest -q --nbval-lax --nbval-current-env --nbval-cell-timeout=300 -p no:cacheprovider book/ || [ $$? -eq 5 ]  # 5: no notebook yet

linkcheck:
	$(BIN)/linkchecker --no-warnings _build/html/index.html   # internal links only (no --check-extern)

site-test: $(STAMP)
	$(BIN)/pytest -q -n 2 tests/site  # two browsers: near the end of make test a core is free

# Everything: unit tests, nbval on every notebook, the site build (which the browser tests
# then test, so they always see what the current code produces), internal links, browser.
# Three single-threaded jobs side by side keep two cores busy: the unit tests, nbval, and the
# build followed by its link and browser checks. The build is the longest chain, so the other
# two run niced: the build gets a core of its own, its checks start as soon as it is done, and
# the unit tests and nbval fill the rest.
test: $(STAMP)
	OMP_NUM_THREADS=1 $(MAKE) -j3 --output-sync=target unit notebooks site NICE="nice -n 10"

site: book
	$(MAKE) linkcheck site-test

clean:
	rm -rf _build .pytest_cache
