"""The teacher's kit: every lesson's exercises as an nbgrader assignment, with hidden tests, points,
a student release without solutions, autograding and a CSV of scores.

    python -m sparsekit.course.kit build [--out build/kit] [NN ...]   # course folder + student release
    python -m sparsekit.course.kit grade [--out build/kit]            # autograde submitted/, export grades.csv

Why nbgrader (0.9, the Jupyter project's grading tool) and not otter-grader: it runs offline with no
Docker (``otter grade`` runs each submission in a container), its dependencies are the Jupyter stack the
lessons already install, and it has what a course needs in one tool - solution regions stripped from a
student release, hidden tests restored from the teacher's copy at grading time whatever the student did
to the test cells, points per test cell, manually graded answers with points (the open questions, with
their rubric), a gradebook and ``nbgrader export`` to CSV.

What an assignment is. One notebook per lesson, built from the lesson itself (its "Exercises" text),
its worked solutions (``notebooks/solutions/NN_*.py``, which never ship to students: in the source
notebook they sit inside ``### BEGIN SOLUTION`` regions that the release replaces with a stub) and the
graders of ``sparsekit.course.exercises``. Each exercise gets an answer cell, a public test cell
(1 point: the same ``check`` as in the lesson, whose hint the student sees) and, for the "write your own"
exercises, a hidden test cell (2 points: the same grader on random cases drawn with another seed,
``grade(..., hidden=True)``; graders whose cases are a fixed list re-run those). Open questions are
manually graded answers with the rubric in the teacher's copy (``RUBRICS``).

Folder layout (nbgrader's): ``source/<lesson>/<lesson>.ipynb`` (the teacher's copy, with solutions),
``release/<lesson>/<lesson>.ipynb`` (what students get), ``submitted/<student>/<lesson>/<lesson>.ipynb``
(what they hand in), ``autograded/``, ``gradebook.db``, ``grades.csv``, ``RUBRICS.md``.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from .paths import repo_root

__all__ = ["CONTEXT", "RUBRICS", "exercise_names", "open_questions", "solution_sources", "assignment", "build",
           "grade_all", "main"]

# Facts of a lesson's run that an exercise's answer depends on, fixed for the assignment (the lesson
# measures them on the student's machine; the assignment states them).
CONTEXT: dict[str, dict[str, object]] = {
    "06.1": {"horizon": 5},  # 06's HORIZON
    # the decode layer 4096 x 4096 at batch 8: 2 o k b FLOPs over 4 o k + 4 (k b + o b) bytes; 116 GFLOP/s / 20 GB/s
    "07.2": {"intensity": 2 * 8 / (4 + 4 * (8 + 8) / 4096), "ridge": 5.8},
}
CONTEXT_TEXT = {
    "06.1": "In this assignment the horizon is 5 steps (the lesson's `HORIZON`).",
    "07.2": ("In this assignment the machine is the lesson's reference host: peak 116 GFLOP/s, bandwidth 20 GB/s "
             "(ridge point 5.8 FLOP/byte); the dense decode product is 4096 x 4096 at batch 8."),
}
# Open questions: points and the rubric a teacher grades them by (the teacher's copy shows it).
RUBRICS: dict[str, tuple[int, tuple[str, ...]]] = {
    "02.4": (4, (
        "1 point: counts the source nodes (no incoming edge) of the same BA graphs under both orientations, "
        "with the notebook's own functions",
        "1 point: explains the index orientation: every edge points from an older node to a newer one, so only "
        "the first nodes can be sources",
        "1 point: explains the permutation: a node is a source when it comes before all its neighbours "
        "(probability 1 / (degree + 1)), so many more, mostly low-degree, nodes become sources",
        "1 point: says what that does to R4: its source-node correlation partly measures the orientation rule, "
        "and the spread of the property over graphs changes",
    )),
    "05.5": (4, (
        "1 point: GELU is non-zero for almost every input, so the non-zero share is near 100% and says nothing",
        "1 point: chooses a threshold (a > 0, or |a| above a stated fraction of the layer's scale), justifies it "
        "and shows how the measured share moves with it",
        "1 point: trains the top-k ViT for k = 8, 32 and 64 with the lesson's paired seeds and reports test "
        "accuracy against the ReLU ViT",
        "1 point: states where accuracy starts to drop with an interval, or says that the seeds cannot tell",
    )),
    "06.4": (4, (
        "1 point: solve times with the propagated bounds and with big-M = 10^3, measured on the same problems "
        "and reported as ratios",
        "1 point: explains the change: a big-M far above the true bound weakens the LP relaxation, so branch "
        "and bound explores more nodes; the optimum is the same while M stays a valid bound",
        "1 point: re-runs M3 with the samplers given twice the MILP's time and reports the new [L, U]",
        "1 point: says whether the verdict changes by the rule of section 0, unchanged",
    )),
    "07.5": (4, (
        "1 point: the two timings are reported as a ratio measured in one run (not two absolute times)",
        "1 point: at batch 1 the sparse layer is faster and the answer says why - the product is memory-bound "
        "and the CSR layer moves fewer bytes",
        "1 point: at batch 1024 the advantage shrinks or reverses because the dense product becomes compute-bound "
        "(GEMM reuses each weight across the batch; the sparse kernel's irregular access does not)",
        "1 point: a 1 x 4 block format stores one column index per 4 outputs, so it saves index loads (and "
        "re-reads of the input row) - a quarter of the index bytes",
    )),
}
FUNCTION_POINTS, VALUE_POINTS, HIDDEN_POINTS = 1, 1, 2


def _lesson_path(root: Path, number: str) -> Path:
    found = sorted((root / "notebooks").glob(f"{number}_*.ipynb"))
    if not found:
        known = ", ".join(p.stem[:2] for p in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb")))
        raise ValueError(f"lesson {number!r} does not exist; lessons: {known}")
    return found[0]


def exercise_names(nb: dict) -> dict[str, tuple[str, dict[str, str]]]:
    """Each graded exercise's id -> (the name the student's answer is bound to, the context arguments the
    lesson's ``check`` passes), read from the lesson's ``check("NN.k", name, ...)`` calls."""
    out: dict[str, tuple[str, dict[str, str]]] = {}
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "check"
                    and len(node.args) >= 2 and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[1], ast.Name)):
                out[str(node.args[0].value)] = (node.args[1].id, {k.arg: ast.unparse(k.value) for k in node.keywords
                                                                   if k.arg})
    return out


def solution_sources(path: Path) -> tuple[list[str], dict[str, str]]:
    """The worked solutions module's imports, and each top-level name's source with the comment lines
    just above it (the worked reasoning)."""
    text = path.read_text()
    lines = text.splitlines()
    tree = ast.parse(text)
    imports, sources = [], {}
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.append(ast.get_source_segment(text, node) or "")
            continue
        names = ([node.name] if isinstance(node, (ast.FunctionDef, ast.ClassDef)) else
                 [t.id for t in getattr(node, "targets", []) if isinstance(t, ast.Name)])
        if not names:
            continue
        start = node.lineno - 1 - len(getattr(node, "decorator_list", []))
        while start > 0 and lines[start - 1].lstrip().startswith("#"):
            start -= 1
        sources[names[0]] = "\n".join(lines[start:node.end_lineno])
    return imports, sources


def _exercise_texts(nb: dict) -> dict[int, str]:
    """The numbered items after the lesson's "## Exercises" heading, by number."""
    cell = next(("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"
                 and "## Exercises" in "".join(c["source"])), "")
    cell = cell.split("## Exercises", 1)[-1]
    items: dict[int, str] = {}
    for m in re.finditer(r"^(\d+)\. (.*?)(?=^\d+\. |\Z)", cell, re.M | re.S):
        items[int(m.group(1))] = re.sub(r"\n {2,}", "\n", m.group(2).strip())
    return items


def open_questions(nb: dict) -> list[int]:
    """The numbers of the lesson's exercises that no grader checks ("(Open)")."""
    from .lessons import OPEN_ITEM
    return [int(m.group(1)) for c in nb["cells"] if c["cell_type"] == "markdown"
            for m in OPEN_ITEM.finditer("".join(c["source"]))]


def _cell(kind: str, source: str, grade_id: str, **nbgrader) -> dict:
    grade_id = grade_id.replace(".", "_")  # nbgrader's ids: letters, digits, _ and -
    cell: dict = {"cell_type": kind, "id": grade_id, "metadata": {}, "source": source}
    if kind == "code":
        cell.update(outputs=[], execution_count=None)
    if nbgrader:
        meta = {"grade": False, "solution": False, "locked": False, "task": False, "schema_version": 3,
                "grade_id": grade_id}
        meta.update(nbgrader)
        cell["metadata"]["nbgrader"] = meta
    return cell


def assignment(number: str, root: Path | None = None) -> dict:
    """The teacher's copy of lesson ``number``'s assignment (an nbformat 4 notebook as a dict)."""
    from .exercises import EXERCISES
    root = root if root is not None else repo_root()
    path = _lesson_path(root, number)
    nb = json.loads(path.read_text())
    names = exercise_names(nb)
    imports, sources = solution_sources(root / "notebooks" / "solutions" / f"{path.stem}.py")
    texts = _exercise_texts(nb)
    title = nb["cells"][0]["source"][0].lstrip("# ").strip() if nb["cells"] else path.stem
    ids = sorted(names, key=lambda i: int(i.split(".")[1]))
    cells = [_cell("markdown", f"# Exercises of lesson {title}\n\nWork through the lesson "
                   f"(`notebooks/{path.name}`) first. Write each answer in the cell under its exercise; the test "
                   "cell under it runs the same check as the lesson and prints a hint, never the answer. Tests you "
                   "cannot see run when the assignment is graded. Do not call the library function an exercise "
                   "asks you to write: the grader refuses it.", "intro", locked=True),
             _cell("code", "\n".join(["from sparsekit.course.exercises import check, grade"] + imports),
                   "setup", locked=True)]
    for i in ids:
        name, ctx_args = names[i]
        k = int(i.split(".")[1])
        text = texts.get(k, EXERCISES[i].title)
        if i in CONTEXT_TEXT:
            text += "\n\n" + CONTEXT_TEXT[i]
        cells.append(_cell("markdown", f"## Exercise {i}\n\n{text}", f"{i}-text", locked=True))
        solution = sources.get(name)
        if solution is None:
            raise ValueError(f"{path.stem}: the worked solutions define no {name!r} for exercise {i}")
        is_function = solution.lstrip().startswith("def") or "\ndef " in solution
        value_from_function = is_function and not name.startswith("my_")  # answer_1(horizon) -> a value
        body = solution
        if value_from_function:
            call = ", ".join(f"{a}={CONTEXT[i][a]!r}" for a in ctx_args)
            body = f"{solution}\n\n\n{name} = {name}({call})"
        prompt = (f"# write {name}: see the exercise above" if is_function and not value_from_function
                  else f"# bind your answer to {name}")
        cells.append(_cell("code", f"{prompt}\n### BEGIN SOLUTION\n{body}\n### END SOLUTION", f"{i}-answer",
                           solution=True))
        context = ", ".join(f"{a}={CONTEXT[i][a]!r}" for a in ctx_args)
        args = f'"{i}", {name}' + (f", {context}" if context else "")
        cells.append(_cell("code", f'assert check({args}) is True, "see the hint printed above"', f"{i}-check",
                           grade=True, locked=True, points=FUNCTION_POINTS if is_function else VALUE_POINTS))
        if is_function and not value_from_function:
            cells.append(_cell("code", f"# hidden tests: the same grader on cases you have not seen\n"
                                       f"### BEGIN HIDDEN TESTS\nassert grade({args}, hidden=True)[0] is True\n"
                                       "### END HIDDEN TESTS", f"{i}-hidden", grade=True, locked=True,
                               points=HIDDEN_POINTS))
    for k in open_questions(nb):
        i = f"{number}.{k}"
        if i not in RUBRICS:
            raise ValueError(f"open question {i} has no rubric in sparsekit.course.kit.RUBRICS")
        points, rubric = RUBRICS[i]
        text = texts.get(k, "")
        cells.append(_cell("markdown", f"## Exercise {i} (open question, {points} points, graded by hand)\n\n{text}",
                           f"{i}-text", locked=True))
        cells.append(_cell("markdown", "### BEGIN SOLUTION\n**Rubric** (the teacher's copy only):\n\n"
                           + "\n".join(f"- {r}" for r in rubric) + "\n### END SOLUTION", f"{i}-answer",
                           solution=True, grade=True, points=points))
    return {"cells": cells, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                         "language": "python"},
                                         "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def _nbgrader(args: list[str], course: Path) -> None:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")  # nbgrader runs alembic
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True,
                          text=True)
    if done.returncode != 0 or "[ERROR]" in done.stderr or "| ERROR]" in done.stderr:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{done.stderr[-3000:]}")


def _stems(root: Path, numbers: list[str] | None) -> list[str]:
    if not numbers:
        return [p.stem for p in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))]
    return [_lesson_path(root, n).stem for n in numbers]


def build(out: Path | None = None, numbers: list[str] | None = None, root: Path | None = None) -> Path:
    """Write the course folder (teacher's copies, nbgrader config, rubrics) and the student release."""
    root = root if root is not None else repo_root()
    out = Path(out) if out is not None else root / "build" / "kit"
    out.mkdir(parents=True, exist_ok=True)
    (out / "nbgrader_config.py").write_text(
        'c = get_config()  # noqa: F821 - nbgrader provides it\nc.CourseDirectory.root = "."\n'
        'c.CourseDirectory.course_id = "sparsekit"\nc.ExecutePreprocessor.timeout = 600\n')
    for stem in _stems(root, numbers):
        folder = out / "source" / stem
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{stem}.ipynb").write_text(json.dumps(assignment(stem[:2], root), indent=1) + "\n")
        _nbgrader(["generate_assignment", stem, "--force"], out)
    lines = ["# Rubrics of the open questions", ""]
    for i, (points, rubric) in RUBRICS.items():
        lines += [f"## {i} ({points} points)", ""] + [f"- {r}" for r in rubric] + [""]
    (out / "RUBRICS.md").write_text("\n".join(lines))
    return out


def grade_all(out: Path | None = None, root: Path | None = None) -> Path:
    """Autograde every submission under ``submitted/`` and export the scores to ``grades.csv``."""
    root = root if root is not None else repo_root()
    out = Path(out) if out is not None else root / "build" / "kit"
    submitted = out / "submitted"
    if not submitted.is_dir():
        raise FileNotFoundError(f"no {submitted}: put each student's notebook at "
                                "submitted/<student>/<lesson>/<lesson>.ipynb")
    lessons = sorted({p.name for p in submitted.glob("*/*") if p.is_dir()})
    for stem in lessons:
        _nbgrader(["autograde", stem, "--force", "--create"], out)
    _nbgrader(["export", "--to", "grades.csv"], out)
    return out / "grades.csv"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sparsekit.course.kit", description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=("build", "grade"))
    ap.add_argument("lessons", nargs="*", help="lesson numbers (build; default every lesson)")
    ap.add_argument("--out", default=None, help="the course folder (default build/kit)")
    args = ap.parse_intermixed_args(argv)
    out = Path(args.out) if args.out else None
    if args.command == "build":
        path = build(out, args.lessons)
        print(f"course folder {path}: teacher's copies in source/, the student release in release/, RUBRICS.md")
    else:
        print(f"scores in {grade_all(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

