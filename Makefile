# Set-up and entry points of the course. Needs only python3 (and root or sudo
# for installing bubblewrap on Debian/Ubuntu when it is missing).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# nbgrader runs alembic from PATH: always run with the venv first on PATH.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: venv test test-fast lint demo grade master release sandbox-check clean

# The gradebook is run data (not committed): add the committed assignment to it
# when it is missing, so that plain `nbgrader autograde` works on a fresh clone
# (`generate_assignment` alone skips the committed release; this checks that the
# release nbgrader makes equals the committed one and never writes release/).
venv: $(VENV)/.installed
	@$(BIN)/python -m autograder.classgrade --prepare || \
	  echo "warning: gradebook not prepared (above); 'make release' regenerates release/ and the gradebook" >&2

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# Student code is graded inside bubblewrap (with setpriv and prlimit from
# util-linux): install it when missing, then start one sandboxed command.
sandbox-check: venv
	@command -v bwrap >/dev/null 2>&1 || { \
	  echo "bubblewrap (bwrap) is missing: installing the Debian package 'bubblewrap'"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get install -y -q bubblewrap >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q bubblewrap >/dev/null; }; \
	  elif command -v sudo >/dev/null 2>&1; then sudo apt-get install -y -q bubblewrap >/dev/null; \
	  else echo "cannot install bubblewrap: run 'apt-get install bubblewrap' as root" >&2; exit 1; fi; }
	@$(BIN)/python -c "from autograder.sandbox.bubblewrap import require_sandbox; require_sandbox()" \
	  && echo "sandbox: bubblewrap works"

# The master notebook is the truth (edit it in JupyterLab). After an edit: copy its
# solution code into autograder/assignment/reference.py and check its points and
# given names (tools/check_master.py); the release is what nbgrader makes of it.
master: venv
	$(BIN)/python tools/sync_reference.py
	$(BIN)/python tools/check_master.py

release: venv
	$(BIN)/nbgrader generate_assignment one_neuron --force --create

demo: venv sandbox-check
	$(BIN)/python -m demo

# Grade the class in submitted/ (or ARGS="--zip export.zip --lms moodle ...").
# GNU make exits 2 whenever a recipe fails, so `make grade` exits 0 (nothing
# needs the instructor) or 2; the command's own status (1: something needs the
# instructor, 2: usage or set-up error) is printed last, and scripts that need
# it run `python -m autograder.classgrade` directly.
grade: venv sandbox-check
	@$(BIN)/python -m autograder.classgrade one_neuron $(ARGS); status=$$?; \
	  case $$status in 0) ;; 1) echo "class command exit status 1: something needs the instructor (see the summary)" >&2;; \
	  *) echo "class command exit status $$status: usage or set-up error" >&2;; esac; exit $$status

# The browser tests drive Debian's headless Chromium through chromium-driver
# (selenium, pinned in pyproject.toml): install both when missing, then check
# that the driver starts the browser.
.PHONY: browser-check
browser-check: venv
	@{ command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; } || { \
	  echo "chromium or chromedriver is missing: installing the Debian packages 'chromium chromium-driver'"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get install -y -q chromium chromium-driver >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null; }; \
	  elif command -v sudo >/dev/null 2>&1; then sudo apt-get install -y -q chromium chromium-driver >/dev/null; \
	  else echo "cannot install chromium: run 'apt-get install chromium chromium-driver' as root" >&2; exit 1; fi; }
	@chromedriver --version >/dev/null && echo "browser: $$(chromium --version 2>/dev/null)"

# The services tests start a real PostgreSQL server (the Debian package's
# initdb/pg_ctl, run as the 'postgres' user when root) and a Dask scheduler
# with workers, all on 127.0.0.1: install PostgreSQL when missing.
.PHONY: services-check
services-check: venv
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { \
	  echo "PostgreSQL is missing: installing the Debian package 'postgresql'"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get install -y -q postgresql >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q postgresql >/dev/null; }; \
	  elif command -v sudo >/dev/null 2>&1; then sudo apt-get install -y -q postgresql >/dev/null; \
	  else echo "cannot install PostgreSQL: run 'apt-get install postgresql' as root" >&2; exit 1; fi; }
	@$(BIN)/dask --version >/dev/null && echo "services: $$(ls -d /usr/lib/postgresql/*/bin | tail -1), $$($(BIN)/dask --version)"

# The whole suite (what CI runs), lint and format included.
test: venv sandbox-check browser-check services-check lint
	$(BIN)/python -m pytest

# The fast part for development: no whole-class runs, browser or servers.
test-fast: venv sandbox-check lint
	$(BIN)/python -m pytest -m "not slow and not browser and not services"

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) submitted autograded feedback gradebook.db reports .demo
