# make notebooks   run every notebook headless (quick profile) and write build/REPORT.md
# make test        unit tests + nbval over the committed notebooks (what CI runs)
# make reproduce   full profile, seeds 0-2, as tasks on Dask (resumable); results/full and figures/
# make lab         JupyterLab on the notebooks
# make book        the course site (static HTML) into build/book/html
# The first target you run creates .venv and installs sparsekit into it.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.sparsekit-installed

export NUMBA_CACHE_DIR ?= $(CURDIR)/build/numba-cache
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: all install notebooks test unit nbval reproduce bench lab book lint update-notebooks clean

all: test

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (sparsekit)" >/dev/null
	touch $(STAMP)

install: $(STAMP)

notebooks: $(STAMP)
	$(PY) -m sparsekit.course.run --profile quick

test: unit nbval

unit: $(STAMP)
	$(VENV)/bin/ruff check sparsekit tests
	$(PY) -m pytest tests -q

nbval: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout 900 notebooks/

reproduce: $(STAMP)
	$(PY) -m sparsekit.course.run --profile full --seeds 0 1 2 --results-dir results/full --figures-dir figures

bench: $(STAMP)
	$(PY) -m sparsekit.bench

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

book: $(STAMP)
	$(PY) -m sparsekit.course.book

lint: $(STAMP)
	$(VENV)/bin/ruff check sparsekit tests

update-notebooks: $(STAMP)
	$(PY) -m sparsekit.course.run --update-notebooks

clean:
	rm -rf build .pytest_cache .hypothesis
