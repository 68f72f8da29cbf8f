# The two commands of the README, and the steps behind them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test docs install install-dev lint format slow clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .

install-dev: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"

demo: install
	$(BIN)/specbayes demo

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: install-dev lint
	$(BIN)/python -m pytest -m "not slow" -n 2 --dist loadfile --durations=15

# API reference (pdoc, offline): the three packages and their public modules, numpydoc style.
# pdoc cannot evaluate postponed annotations in the __init__ that Python generates for a
# NamedTuple (e.g. deconv.lineshapes.LineShape); those harmless warnings are silenced, any
# other warning is shown.
API_MODULES := deconv gp_property datasets \
	$(basename $(subst /,.,$(sort $(wildcard deconv/[a-z]*.py gp_property/[a-z]*.py datasets/[a-z]*.py))))
PDOC := $(BIN)/python -c "import runpy, warnings; warnings.filterwarnings('ignore', \
	r'Error parsing type annotation .+ for [\w.]+\.__init__\b'); \
	runpy.run_module('pdoc', run_name='__main__', alter_sys=True)"

docs: install-dev
	rm -rf docs/_build/api
	$(PDOC) --docformat numpy --output-directory docs/_build/api $(API_MODULES)
	@echo "API reference: docs/_build/api/index.html"

slow: install-dev
	$(BIN)/python -m pytest -m slow

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) specbayes-demo .pytest_cache .ruff_cache *.egg-info docs/_build
