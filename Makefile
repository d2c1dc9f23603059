# Set-up and checks. `make run` installs everything and runs the quickstart campaign; `make test`
# the test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# MP-20 lives outside the repository; point MATTERLOOP_DATA_DIR (or DATA_DIR) at its parent folder.
DATA_DIR ?= $(or $(MATTERLOOP_DATA_DIR),../shared/data)
export MATTERLOOP_DATA_DIR := $(abspath $(DATA_DIR))
export HF_HUB_OFFLINE := 1

.PHONY: install install-dft install-browser run test lint imports format clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU build of torch; an unpinned torch pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(BIN)/.installed

# GPAW (the DFT oracle) builds against Debian's libxc, OpenBLAS and FFTW (apt, needs root or sudo).
$(BIN)/.installed-dft: $(BIN)/.installed install/gpaw.sh install/gpaw-siteconfig.py
	bash install/gpaw.sh $(VENV)
	touch $@

install-dft: $(BIN)/.installed-dft

# Debian's Chromium and chromedriver, for the browser test of the campaign report (apt, root/sudo).
install-browser:
	bash install/chromium.sh

run: install
	$(BIN)/matterloop run

test: install-dft install-browser lint
	$(BIN)/python -m pytest

lint: install imports
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The import contracts of pyproject.toml (layers, no circles), checked by import-linter on the
# package as its wheel installs it (every subpackage under matterloop/), from the unpacked wheel's
# folder, which import-linter puts first on the import path.
imports: install
	rm -rf build
	$(BIN)/python -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir build/wheel .
	$(BIN)/python -m zipfile -e build/wheel/matterloop-*.whl build/site
	cd build/site && $(abspath $(BIN))/lint-imports --config ../../pyproject.toml

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
