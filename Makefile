# WIT Dispatcher. `make demo` and `make test` install what is missing first.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
SYSTEM_PYTHON := /usr/bin/python3
DEBIAN_PACKAGES := qgis python3-qgis qgis-providers python3-venv python3-pip python3-matplotlib python3-scipy xvfb openssl poppler-utils
QGIS_PROFILE ?= $(HOME)/.local/share/QGIS/QGIS3/profiles/default
# Bundled in the plugin (ext_libs/) by tools/plugin_files.py, for QGIS installations without it.
WHEEL := build/wheels/xmltodict-0.13.0-py2.py3-none-any.whl
EXT_LIBS := ext_libs/xmltodict.py
# Leave empty for the embedded local WIT server; set to use a real one, e.g. DEA's:
#   make demo WPS_URL='https://ows.dev.dea.ga.gov.au/wps/?service=WPS&request=Execute'
WPS_URL ?=
# pytest-xdist workers for make test and in each root of make test-matrix (0: one process).
WORKERS ?= 4
MATRIX_WORKERS ?= 3
# Runs of each fault-injection test (marked faults) in make test and in each root of make
# test-matrix, among the rest of the suite (FAULT_RUNS=20 for a longer series).
FAULT_RUNS ?= 1
# Where make test-matrix keeps its Debian roots, shared by every clone on the machine.
ROOTS ?= /var/cache/wit-dispatcher/roots

.PHONY: deps demo test test-matrix matrix-roots debootstrap bench lint deploy package clean clean-roots

deps: $(VENV)/.installed

$(VENV)/.installed: requirements-dev.txt Makefile
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages:" $$missing; \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing; \
	fi
	@[ -x $(PY) ] || $(SYSTEM_PYTHON) -m venv --system-site-packages $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@$(PY) -c "import qgis.core, requests, xmltodict, pywps" || { echo "The venv cannot import QGIS: is $(SYSTEM_PYTHON) Debian's Python?"; exit 1; }
	@touch $@

demo: deps $(WHEEL) $(EXT_LIBS)
	$(PY) -m tools.demo $(if $(WPS_URL),--wps-url '$(WPS_URL)')

test: deps $(WHEEL) $(EXT_LIBS)
	WIT_FAULT_RUNS=$(FAULT_RUNS) $(PY) -m pytest -n $(WORKERS) --maxschedchunk=1 $(PYTEST_ARGS)

# The suite on QGIS 3.40 (Debian 13) and 3.44 (Debian sid), side by side, each in a Debian root in $(ROOTS).
test-matrix: deps $(WHEEL) $(EXT_LIBS) debootstrap
	WIT_FAULT_RUNS=$(FAULT_RUNS) $(PY) -m tools.matrix $(MATRIX) --roots '$(ROOTS)' --workers $(MATRIX_WORKERS) \
		$(if $(PYTEST_ARGS),--pytest='$(PYTEST_ARGS)')

# The roots alone, made (or found) without testing: .ci/run makes them while make test runs.
matrix-roots: deps debootstrap
	$(PY) -m tools.matrix $(MATRIX) --roots '$(ROOTS)' --prepare-only

debootstrap:
	@command -v debootstrap >/dev/null || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q debootstrap; }

bench: deps $(WHEEL)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-bench.txt
	$(PY) -m bench.run

lint: deps
	$(PY) -m ruff check .
	$(PY) -m tools.qt6_check

$(WHEEL): | deps
	$(PY) -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: -d $(@D) xmltodict==0.13.0

# The same bundled copy in the checkout (git-ignored), for a linked checkout on a QGIS without xmltodict.
$(EXT_LIBS): $(WHEEL)
	$(PY) -m tools.plugin_files ext-libs

deploy: deps $(WHEEL)
	$(PY) -m tools.plugin_files install "$(QGIS_PROFILE)/python/plugins"

package: deps $(WHEEL)
	$(PY) -m tools.plugin_files zip dist/wit_dispatcher-$$($(PY) -m tools.plugin_files version).zip

clean:
	rm -rf --one-file-system build dist demo-output test-artifacts ext_libs .pytest_cache .ruff_cache

# The matrix's roots (shared by every clone), each once no run uses it, unmounted first.
clean-roots: deps
	$(PY) -m tools.matrix $(MATRIX) --roots '$(ROOTS)' --remove
