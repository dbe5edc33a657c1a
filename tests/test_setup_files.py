"""pyproject.toml, environment.yml and binder/requirements.txt stay in step; the README starts where a
student starts."""

import json
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CONDA_TO_PYPI = {"pytorch": "torch"}


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def pyproject_names(groups: tuple[str, ...] = ("notebooks", "dev", "book")) -> set[str]:
    """The dependencies plus the named extras (an extra that names sparsekit's own extras counts as those)."""
    d = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = d["dependencies"] + [r for g in groups for r in d["optional-dependencies"][g]]
    return {_name(r) for r in reqs} - {"sparsekit"}


TOOLS = {"pytest", "hypothesis", "pytest-xdist", "ruff", "nbval", "playwright", "sphinx", "myst-nb", "papermill",
         "distributed"}


def conda_names() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            names |= {_name(r) for r in dep["pip"] if not r.startswith("-")}
        else:
            n = _name(dep.split("=")[0])
            if n not in ("python", "pip"):
                names.add(CONDA_TO_PYPI.get(n, n))
    return names


def binder_names() -> set[str]:
    lines = (ROOT / "binder" / "requirements.txt").read_text().splitlines()
    return {_name(ln) for ln in lines if ln.strip() and not ln.startswith(("#", "-"))}


def test_same_dependencies_everywhere():
    py = pyproject_names()
    assert conda_names() == py, f"environment.yml differs: {conda_names() ^ py}"


def test_binder_is_the_slim_student_set():
    student, everything = binder_names(), pyproject_names()
    notebooks = pyproject_names(groups=("notebooks",))
    assert student <= notebooks, f"not a dependency of sparsekit[notebooks]: {student - notebooks}"
    assert student != everything, "binder/requirements.txt should be the student subset, not a copy of everything"
    assert not student & TOOLS, f"runner, test, lint or site tools in the student set: {student & TOOLS}"
    # what the notebooks import must be there
    assert {"torch", "numba", "matplotlib", "jupyterlab", "ipykernel", "mnist1d", "mlxtend", "highspy"} <= student


def test_environment_installs_the_package_and_binder_is_cpu_only():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip
    req = (ROOT / "binder" / "requirements.txt").read_text()
    assert "download.pytorch.org/whl/cpu" in req
    post = (ROOT / "binder" / "postBuild").read_text()
    assert "set -e" in post and "pip install" in post


def test_readme_starts_here():
    text = (ROOT / "README.md").read_text()
    start = text.find("## Start here")
    assert 0 <= start < text.find("make test") and start < text.find("make notebooks"), \
        "the README opens with 'Start here' for students, before the maintainer commands"
    assert "mybinder.org/badge_logo.svg" in text[:start + 2000] and "make lab" in text[:start + 2000]
    assert "results/quick/REPORT.md" in text  # the claims report it links to


def test_readme_binder_links_open_real_notebooks():
    text = (ROOT / "README.md").read_text()
    targets = re.findall(r"mybinder\.org/v2/gh/[^)\s]*?urlpath=lab/tree/(notebooks/[\w.]+\.ipynb)", text)
    stems = {p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    assert {Path(t).stem for t in targets} == stems, "one Binder link per notebook, each to a notebook that exists"
    assert all((ROOT / t).exists() for t in targets)


def test_ci_runs_make_test():
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_readme_verdict_counts_match_the_committed_results():
    """The README's per-lesson counts are the committed results' counts (one source of truth)."""
    text = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| \[\d\d [^]]*\]\(notebooks/(\w+)\.ipynb\).*\| (\d+) / (\d+) / (\d+) / (\d+) \|$",
                      text, re.M)
    assert len(rows) == len(list((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")))
    assert "reproduced / inconclusive / not reproduced / not tested |" in text
    for stem, *counts in rows:
        res = json.loads((ROOT / "results" / "quick" / f"{stem}.json").read_text())
        vs = [c["verdict"] for c in res["claims"]]
        want = [vs.count(v) for v in ("reproduced", "inconclusive", "not reproduced", "not tested")]
        assert [int(c) for c in counts] == want, f"{stem}: README says {counts}, results say {want}"


def test_readme_quick_full_table_is_the_committed_results():
    """The quick-vs-full table is generated from results/ (``update_readme_table``), never typed."""
    from sparsekit.course.report import README_MARKERS, quick_full_rows

    text = (ROOT / "README.md").read_text()
    block = text.split(README_MARKERS[0], 1)[1].split(README_MARKERS[1], 1)[0].strip().splitlines()
    assert block == quick_full_rows(ROOT), "run: python -c 'from sparsekit.course.report import update_readme_table; " \
                                           "update_readme_table(\".\")'"
