"""What a reader sees is stored in the committed notebooks (DESIGN.md, contract point 7).

Every notebook: each cell that draws a figure has an image output; no widget views (an untrusted or
static viewer shows them as a frozen "0%"); no stderr streams (warnings belong at their source);
no absolute machine paths; tables printed whole. Second-edition notebooks (``CONVERTED``, which may
only grow) also keep every code cell to at most 40 lines and carry at least three graded exercises.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# notebooks whose second edition has landed, in the order they landed; add to the end, never remove
CONVERTED = ["00_sparsity_tour", "01_lottery_tickets", "03_nm_sparsity", "04_sdr_memory", "07_sparse_kernels",
             "05_lazy_neurons", "06_sparse_dynamics_mpc", "02_rnn_pruning", "08_sparse_training", "10_llm_pruning"]
MAX_CELL_LINES = 40
MIN_EXERCISES = 3

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
# a path that names this machine: a home, root's home, a temporary folder, a Windows drive, a venv
MACHINE_PATH = re.compile(r"(/home/\w|/root/|/tmp/|/work/|/Users/\w|[A-Z]:\\\\|site-packages|\.venv/)")
TRUNCATED = re.compile(r"\.\.\.|…")


def load(path: Path):
    return nbformat.read(path, as_version=4)


def code_cells(nb):
    return [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]


def output_texts(cell):
    """Every text a reader sees in a cell's outputs, with the output type that carried it."""
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            yield out.name, out.text
        elif out.output_type in ("display_data", "execute_result"):
            for mime, data in out.get("data", {}).items():
                if mime.startswith("text/"):
                    yield mime, data if isinstance(data, str) else "".join(data)
        elif out.output_type == "error":
            yield "error", "\n".join(out.get("traceback", []))


def shown_at_least(source: str) -> int:
    """How many ``plt.show()`` calls a cell makes on every path: an if/else counts its smaller branch,
    a loop body none (it may not run). Cells that are not plain Python (magics) count 0."""
    import ast

    def count(stmts) -> int:
        n = 0
        for st in stmts:
            if isinstance(st, ast.Expr) and isinstance(st.value, ast.Call) and ast.unparse(st.value.func) == "plt.show":
                n += 1
            elif isinstance(st, ast.If):
                n += min(count(st.body), count(st.orelse))
            elif isinstance(st, (ast.With, ast.Try)):
                n += count(st.body)
        return n

    try:
        return count(ast.parse(source).body)
    except SyntaxError:
        return 0


def figure_problems(nb) -> list[str]:
    bad = []
    for i, c in code_cells(nb):
        n_shown = shown_at_least(c.source)
        n_img = sum(1 for o in c.get("outputs", []) if "image/png" in o.get("data", {}))
        if n_img < n_shown:
            bad.append(f"cell {i}: {n_shown} plt.show() on every path but {n_img} stored image(s)")
    return bad


def caption_problems(nb) -> list[str]:
    """Every stored figure is followed by its caption cell, "*Figure L.k - what it shows. The takeaway.*",
    numbered in order."""
    bad, k = [], 0
    for i, c in enumerate(nb.cells):
        n_img = sum(1 for o in c.get("outputs", []) if "image/png" in o.get("data", {}))
        if not n_img:
            continue
        k += 1
        nxt = nb.cells[i + 1] if i + 1 < len(nb.cells) else None
        m = re.match(r"\*Figure (\d+)\.(\d+) - (.+)\*\s*$", nxt.source, re.S) if nxt is not None and \
            nxt.cell_type == "markdown" else None
        if m is None:
            bad.append(f"cell {i}: a figure without its caption cell ('*Figure N.{k} - ...*') after it")
        elif int(m.group(2)) != k:
            bad.append(f"cell {i}: caption numbered {m.group(1)}.{m.group(2)}, expected figure {k} of the lesson")
        elif len(re.findall(r"[.:;]", m.group(3))) < 1:
            bad.append(f"cell {i}: the caption needs a takeaway sentence after what the figure shows")
    return bad


def widget_problems(nb) -> list[str]:
    bad = ["notebook metadata holds widget state"] if "widgets" in nb.metadata else []
    return bad + [f"cell {i}: widget output" for i, c in code_cells(nb)
                  for o in c.get("outputs", []) if WIDGET_MIME in o.get("data", {})]


def stderr_problems(nb) -> list[str]:
    return [f"cell {i}: {kind}: {text.strip()[:120]!r}" for i, c in code_cells(nb)
            for kind, text in output_texts(c) if kind in ("stderr", "error")]


def path_problems(nb) -> list[str]:
    return [f"cell {i}: {MACHINE_PATH.search(text).group(0)!r} in {kind}" for i, c in code_cells(nb)
            for kind, text in output_texts(c) if MACHINE_PATH.search(text)]


def table_problems(nb) -> list[str]:
    """A pandas table shown with '...' in a cell or a row/column elided has lost numbers."""
    bad = []
    for i, c in code_cells(nb):
        for o in c.get("outputs", []):
            data = o.get("data", {})
            html = data.get("text/html", "")
            html = html if isinstance(html, str) else "".join(html)
            if "<table" in html and TRUNCATED.search(html):
                bad.append(f"cell {i}: table cut with '...'")
    return bad


def long_cells(nb) -> list[str]:
    return [f"cell {i}: {len(c.source.splitlines())} lines" for i, c in code_cells(nb)
            if len(c.source.splitlines()) > MAX_CELL_LINES]


def graded_exercises(nb) -> int:
    """Number of distinct ``check("<id>", ...)`` grader calls from sparsekit.course.exercises."""
    ids = set()
    for _, c in code_cells(nb):
        ids |= set(re.findall(r"""\bcheck\(\s*["']([\w.-]+)["']""", c.source))
    return len(ids)


CHECKS = {
    "figures": figure_problems,
    "captions": caption_problems,
    "widgets": widget_problems,
    "stderr": stderr_problems,
    "paths": path_problems,
    "tables": table_problems,
}


@pytest.mark.parametrize("check", list(CHECKS))
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_outputs(path, check):
    problems = CHECKS[check](load(path))
    assert not problems, f"{path.name}: " + "; ".join(problems)


@pytest.mark.parametrize("stem", CONVERTED)
def test_second_edition_shape(stem):
    nb = load(ROOT / "notebooks" / f"{stem}.ipynb")
    assert not long_cells(nb), f"{stem}: code cells over {MAX_CELL_LINES} lines: {long_cells(nb)}"
    n = graded_exercises(nb)
    assert n >= MIN_EXERCISES, f"{stem}: {n} graded exercises, need at least {MIN_EXERCISES}"


CONTRACT_PARAMETERS = {"PROFILE", "SEED", "DEVICE", "RESULTS_DIR", "FIGURES_DIR"}


def declared_parameters(nb) -> set[str]:
    """The names papermill reads from the cell tagged ``parameters`` (what it can override)."""
    from papermill.translators import PythonTranslator

    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    return {p.name for p in PythonTranslator.inspect(cells[0])} if len(cells) == 1 else set()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_papermill_reads_every_contract_parameter(path):
    missing = CONTRACT_PARAMETERS - declared_parameters(load(path))
    assert not missing, f"{path.name}: papermill does not read {sorted(missing)} from its one parameters cell"


def test_parameter_check_catches_an_unparsable_line():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        'PROFILE = "quick"\nSEED = 0  # K = 3\nDEVICE = "auto"\nRESULTS_DIR = "r"\nFIGURES_DIR = "f"',
        metadata={"tags": ["parameters"]})])
    assert CONTRACT_PARAMETERS - declared_parameters(nb) == {"SEED"}


def test_converted_list_names_real_notebooks_in_order():
    stems = [p.stem for p in NOTEBOOKS]
    assert all(s in stems for s in CONVERTED)
    assert CONVERTED[0] == "00_sparsity_tour"


# each rule must be able to fail: a notebook built to break it is caught
def _nb_with(source: str, outputs: list) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(source)
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    nb.cells = [cell]
    return nb


def test_rules_catch_bad_notebooks():
    plain = {"output_type": "display_data", "data": {"text/plain": "<Figure>"}, "metadata": {}}
    assert figure_problems(_nb_with("plt.show()", [plain]))
    png = {"output_type": "display_data", "data": {"image/png": "iVBOR", "text/plain": "<Figure>"}, "metadata": {}}
    assert not figure_problems(_nb_with("plt.show()", [png]))
    uncaptioned = _nb_with("plt.show()", [png])
    assert caption_problems(uncaptioned)
    uncaptioned.cells.append(nbformat.v4.new_markdown_cell("*Figure 3.2 - the curve. It rises.*"))
    assert "expected figure 1" in caption_problems(uncaptioned)[0]
    uncaptioned.cells[-1].source = "*Figure 3.1 - the curve. It rises.*"
    assert not caption_problems(uncaptioned)
    assert figure_problems(_nb_with("if x:\n    plt.show()\nelse:\n    plt.show()", [plain]))
    assert not figure_problems(_nb_with("if x:\n    plt.show()\nelse:\n    print('not run')", [plain]))
    widget = {"output_type": "display_data", "data": {WIDGET_MIME: {"model_id": "x"}, "text/plain": "0%"},
              "metadata": {}}
    assert widget_problems(_nb_with("x", [widget]))
    state = _nb_with("x", [])
    state.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {}}
    assert widget_problems(state)
    warn = {"output_type": "stream", "name": "stderr", "text": "UserWarning: x"}
    assert stderr_problems(_nb_with("x", [warn]))
    path = {"output_type": "stream", "name": "stdout", "text": "saved to /home/alice/x.png"}
    assert path_problems(_nb_with("x", [path]))
    assert not path_problems(_nb_with("x", [{"output_type": "stream", "name": "stdout", "text": "../build/x"}]))
    cut = {"output_type": "execute_result", "execution_count": 1, "metadata": {},
           "data": {"text/html": "<table><td>global 93.1...</td></table>", "text/plain": "x"}}
    assert table_problems(_nb_with("df", [cut]))
    assert long_cells(_nb_with("\n".join(["x = 1"] * 41), []))
    assert not long_cells(_nb_with("\n".join(["x = 1"] * 40), []))
    nb = _nb_with('check("00.1", a)\ncheck("00.2", b)', [])
    assert graded_exercises(nb) == 2
