"""The teacher's kit: a student release without solutions, hidden tests with points, autograding of a
right and a wrong submission of every lesson, and the scores exported as CSV (nbgrader)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from sparsekit.course import kit
from sparsekit.course.exercises import EXERCISES

ROOT = Path(__file__).resolve().parent.parent
STEMS = [p.stem for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))]

pytestmark = pytest.mark.slow


def test_every_open_question_has_a_rubric_and_every_exercise_a_cell():
    for stem in STEMS:
        nb = json.loads((ROOT / "notebooks" / f"{stem}.ipynb").read_text())
        for k in kit.open_questions(nb):
            assert f"{stem[:2]}.{k}" in kit.RUBRICS, f"{stem[:2]}.{k} has no rubric"
        ids = {c["id"] for c in kit.assignment(stem[:2], ROOT)["cells"]}
        for i in (i for i in EXERCISES if i.startswith(stem[:2] + ".")):
            assert f"{i.replace('.', '_')}-check" in ids


def test_an_unknown_lesson_is_named():
    with pytest.raises(ValueError, match="lesson '42' does not exist; lessons: 00"):
        kit.assignment("42", ROOT)


def _wrong(release: dict) -> dict:
    """The student release with every answer filled in, wrongly: -1 for a value, a function that returns
    its first argument, and (lesson 00) the library function the exercise asks to re-implement."""
    nb = json.loads(json.dumps(release))
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if not meta.get("solution") or cell["cell_type"] != "code":
            continue
        prompt = "".join(cell["source"]).splitlines()[0]
        name = prompt.split()[2].rstrip(":")
        if name == "my_magnitude_mask":
            body = "from sparsekit.masks import magnitude_mask as my_magnitude_mask"
        elif name.startswith("my_"):
            body = f"def {name}(*args, **kwargs):\n    return args[0]"
        else:
            body = f"{name} = -1"
        cell["source"] = prompt + "\n" + body
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    out = kit.build(tmp_path_factory.mktemp("kit") / "course", root=ROOT)
    for stem in STEMS:
        source = out / "source" / stem / f"{stem}.ipynb"
        release = out / "release" / stem / f"{stem}.ipynb"
        right, wrong = json.loads(source.read_text()), _wrong(json.loads(release.read_text()))
        for student, nb in (("right", right), ("wrong", wrong)):
            folder = out / "submitted" / student / stem
            folder.mkdir(parents=True)
            (folder / f"{stem}.ipynb").write_text(json.dumps(nb))
    shutil.rmtree(out / "autograded", ignore_errors=True)
    return out, kit.grade_all(out, root=ROOT)


def test_the_release_has_no_solution_and_no_hidden_test(graded):
    out, _ = graded
    for stem in STEMS:
        text = (out / "release" / stem / f"{stem}.ipynb").read_text()
        source = (out / "source" / stem / f"{stem}.ipynb").read_text()
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text and "hidden=True" not in text
        assert "BEGIN SOLUTION" in source and "Rubric" not in text
        _, solutions = kit.solution_sources(ROOT / "notebooks" / "solutions" / f"{stem}.py")
        for body in solutions.values():  # no line of a worked solution reaches the student
            for line in body.splitlines():
                if len(line.strip()) > 25 and not line.lstrip().startswith(("def ", "#", "return", "import")):
                    assert line.strip() not in text, (stem, line)


def test_right_and_wrong_submissions_are_scored_and_exported(graded):
    out, scores = graded
    rows = {(r["assignment"], r["student_id"]): r for r in csv.DictReader(scores.open())}
    for stem in STEMS:
        right, wrong = rows[(stem, "right")], rows[(stem, "wrong")]
        manual = sum(kit.RUBRICS[f"{stem[:2]}.{k}"][0]
                     for k in kit.open_questions(json.loads((ROOT / "notebooks" / f"{stem}.ipynb").read_text())))
        assert float(right["max_score"]) > manual
        assert float(right["raw_score"]) == float(right["max_score"]) - manual, stem  # every test passes
        assert float(wrong["raw_score"]) == 0.0, stem  # no test passes


def test_hidden_tests_carry_points_and_run_at_grading(graded):
    out, _ = graded
    nb = json.loads((out / "autograded" / "right" / "00_sparsity_tour" / "00_sparsity_tour.ipynb").read_text())
    hidden = [c for c in nb["cells"] if c["id"].endswith("-hidden")]
    assert hidden and all(c["metadata"]["nbgrader"]["points"] == kit.HIDDEN_POINTS for c in hidden)
    assert all("hidden=True" in "".join(c["source"]) for c in hidden)  # restored from the teacher's copy
