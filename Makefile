# igbsim: `make sim` and `make test` set everything up first (venv, packages, Icarus Verilog).
PYTHON ?= python3
VENV   ?= .venv
VPY    := $(VENV)/bin/python
VBIN   := $(abspath $(VENV))/bin
STAMP  := $(VENV)/.igbsim-installed

.PHONY: setup sim test bench mutate clean iverilog help

help:
	@echo "make setup  - create .venv, install the Python packages and (as root) Icarus Verilog"
	@echo "make sim    - set up, then run the cocotb/pyuvm testbenches under Icarus Verilog"
	@echo "              (SEED=n reproduces a seed; CORNERS=..., PROFILES=..., WAVES=1: docs/verification.md)"
	@echo "make test   - set up, then run the whole pytest suite (cocotb benches included)"
	@echo "make bench  - set up, then run the benchmarks (ratios against a baseline) and the explorer's whole matrix"
	@echo "make mutate - set up, then plant model bugs one at a time and show the testbench catches each"
	@echo "make clean  - remove simulation build products"

setup: $(STAMP) iverilog

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || \
	  { echo "igbsim needs Python >= 3.11; set PYTHON=/path/to/python3.11" >&2; exit 1; }
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

iverilog:
	@command -v iverilog >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Icarus Verilog is missing: installing Debian's iverilog"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iverilog >/dev/null || exit 1; \
	  else \
	    echo "Icarus Verilog (iverilog) is missing. Install it with:  sudo apt-get install -y iverilog" >&2; \
	    exit 1; \
	  fi; }

sim: setup
	PATH="$(VBIN):$$PATH" $(MAKE) --no-print-directory -C sim/tb

mutate: setup
	PATH="$(VBIN):$$PATH" $(VPY) -m sim.verif.mutate

test: setup
	PATH="$(VBIN):$$PATH" $(VPY) -m pytest

bench: setup
	PATH="$(VBIN):$$PATH" $(VPY) benchmarks/run.py
	@echo "=== the explorer's whole matrix: every profile x every barrier site (a long exploration)"
	PATH="$(VBIN):$$PATH" IGBSIM_MATRIX_PROFILES=all $(VPY) -m pytest -q -p no:cacheprovider tests/explore/test_matrix.py

clean:
	-$(MAKE) --no-print-directory -C sim/tb clean 2>/dev/null
	rm -rf sim/tb/sim_build sim/tb/results.xml .pytest_cache
