# heterocat set-up and entry points.  `make test` and `make demo` install what
# they need (Debian packages, .venv, GPAW from its PyPI source, PAW data) and
# are idempotent: the second run only checks stamps.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
GPAW_VERSION := 26.7.0
GPAW_DATA_VERSION := 1.2.1
SITECONFIG := $(CURDIR)/configs/gpaw/siteconfig.py
# Libraries GPAW links against (libxc, OpenBLAS, FFTW, Open MPI, ScaLAPACK), and
# Slurm with munge for the test that submits to a single-node Slurm on localhost.
DEBIAN_PACKAGES := libxc-dev libopenblas-dev libfftw3-dev libopenmpi-dev \
                   openmpi-bin libscalapack-openmpi-dev slurm-wlm munge
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Open MPI refuses to start as root unless told; harmless for other users.
export OMPI_ALLOW_RUN_AS_ROOT := 1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM := 1
export OMPI_MCA_rmaps_base_oversubscribe := 1

GPAW_STAMP := $(VENV)/.stamp-gpaw-$(GPAW_VERSION)
PKG_STAMP := $(VENV)/.stamp-heterocat

.PHONY: all install system test demo structures bench clean distclean

all: install

install: system $(PKG_STAMP)

# Debian libraries: checked with dpkg every time (fast), installed when missing.
system:
	@missing=""; for p in $(DEBIAN_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	$(PYTHON) -c 'import ensurepip, sysconfig, os; assert os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h"))' 2>/dev/null \
	  || missing="$$missing python3-venv python3-dev"; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

$(PY): | system
	$(PYTHON) -m venv $(VENV)

$(GPAW_STAMP): $(SITECONFIG) | $(PY)
	@echo "Building GPAW $(GPAW_VERSION) from its PyPI source (about a minute) ..."
	GPAW_CONFIG=$(SITECONFIG) $(PIP) install --no-binary gpaw gpaw==$(GPAW_VERSION) gpaw-data==$(GPAW_DATA_VERSION)
	touch $@

$(PKG_STAMP): pyproject.toml $(GPAW_STAMP)
	$(PIP) install -e '.[test,mlip,cluster]'
	touch $@

# The suite runs on every core (pytest-xdist, at most 4 workers), one BLAS/OpenMP thread each.
TEST_WORKERS ?= $(shell n=$$(getconf _NPROCESSORS_ONLN); [ $$n -gt 4 ] && echo 4 || echo $$n)
test: install
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $(PY) -m pytest -n $(TEST_WORKERS)

# The paper's workflow on the fast preset (small models, MLIP screening in front of GPAW),
# then a report.  Finished calculations are kept in work/demo: a second run only reads them.
demo: install
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $(VENV)/bin/heterocat study run workflows/demo.toml --workdir work/demo --workers 2
	$(VENV)/bin/heterocat report work/demo

structures: install
	$(VENV)/bin/heterocat build reference --outdir structures

bench: install
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf .pytest_cache build src/*.egg-info

distclean: clean
	rm -rf $(VENV)
