"""Each lesson's facts come from one place: the generated README table, syllabus, site index and lesson
cards agree with the notebooks, prerequisites form no cycle, and every reference points somewhere."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from sparsekit.course import lessons as L

ROOT = Path(__file__).resolve().parent.parent


def test_the_committed_course_agrees_with_its_notebooks():
    assert L.problems(ROOT) == []


@pytest.fixture()
def course(tmp_path):
    """A copy of what the lesson facts are read from and written to."""
    for part in ("notebooks", "book", "results/quick"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("solutions", "__pycache__"))
    shutil.copy2(ROOT / "README.md", tmp_path / "README.md")
    assert L.problems(tmp_path) == []
    return tmp_path


def edit(root: Path, stem: str, fn) -> None:
    path = next((root / "notebooks").glob(f"{stem}_*.ipynb"))
    nb = json.loads(path.read_text())
    fn(nb)
    path.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n")


def test_changed_metadata_makes_the_generated_files_stale_until_written(course):
    def change(nb):
        nb["metadata"]["sparsekit"]["lesson"]["outcomes"].append("count to ten")
        nb["metadata"]["sparsekit"]["lesson"]["learn"] = "codes"
    edit(course, "04", change)
    found = L.problems(course)
    assert any("README.md" in p for p in found) and any("syllabus.md" in p for p in found)
    assert any("04_sdr_memory.ipynb: generated" in p for p in found)
    changed = {p.name for p in L.write(course)}
    assert {"README.md", "syllabus.md", "04_sdr_memory.ipynb"} <= changed
    assert L.problems(course) == []
    assert "- count to ten" in (course / "book" / "syllabus.md").read_text()


def test_a_hand_edit_inside_a_generated_block_is_found(course):
    readme = course / "README.md"
    readme.write_text(readme.read_text().replace("| 00 | ", "| 00, 01 | ", 1))
    assert any("README.md" in p for p in L.problems(course))


def test_a_prerequisite_cycle_is_refused(course):
    edit(course, "00", lambda nb: nb["metadata"]["sparsekit"]["lesson"]["builds_on"].append("08"))
    found = L.problems(course)
    assert len(found) == 1 and "cycle" in found[0] and "00" in found[0] and "08" in found[0]
    with pytest.raises(ValueError, match="cycle"):
        L.order(L.load(course))


def test_a_prerequisite_that_is_no_lesson_is_refused(course):
    edit(course, "03", lambda nb: nb["metadata"]["sparsekit"]["lesson"]["builds_on"].append("42"))
    assert "builds on 42, which is not a lesson" in L.problems(course)[0]


def test_builds_on_must_match_the_you_should_know_paragraph(course):
    edit(course, "02", lambda nb: nb["metadata"]["sparsekit"]["lesson"].update(builds_on=["00", "01"]))
    assert any("02_rnn_pruning.ipynb: its 'You should know' paragraph names notebooks ['00']" in p
               for p in L.problems(course))


def test_missing_or_unknown_metadata_keys_are_named(course):
    edit(course, "05", lambda nb: nb["metadata"]["sparsekit"]["lesson"].pop("needs"))
    assert "lacks ['needs']" in L.problems(course)[0]
    edit(course, "05", lambda nb: nb["metadata"]["sparsekit"]["lesson"].update(needs="", minutes=3))
    assert "unknown ['minutes']" in L.problems(course)[0]


def _append_markdown(text):
    def fn(nb):
        nb["cells"].append({"cell_type": "markdown", "metadata": {}, "source": [text]})
    return fn


@pytest.mark.parametrize("text, expected", [
    ("As section 42 shows.", "notebook 01 has no section 42"),
    ("See sections 1 and 17.", "notebook 01 has no section 17"),
    ("Section 9 of notebook 04 again.", "notebook 04 has no section 9"),  # 04's sections end at 7
    ("As notebook 05's section 12 shows.", "notebook 05 has no section 12"),
    ("Compare with notebook 11.", "there is no notebook 11"),
    ("See the [glossary](../book/glossary.md#nothing-here).", "the glossary's 'nothing-here', which has no entry"),
    ("See [this](../book/missing.md).", "book/missing.md, which does not exist"),
])
def test_references_that_point_nowhere_are_found(course, text, expected):
    edit(course, "01", _append_markdown(text))
    found = L.references(course)
    assert any(expected in p for p in found), found


@pytest.mark.parametrize("text", ["As section 3 shows.", "Notebook 04's section 6, and lesson 09 (planned).",
                                  "[ERK](../book/glossary.md#erk)", "sections 1-4 of notebook 07"])
def test_references_that_exist_pass(course, text):
    edit(course, "01", _append_markdown(text))
    assert L.references(course) == []


def test_graded_exercises_must_match_the_registry(course):
    def drop_last_check(nb):
        cell = [c for c in nb["cells"] if c["cell_type"] == "code" and 'check("06.3"' in "".join(c["source"])][0]
        cell["source"] = ["".join(cell["source"]).replace('check("06.3"', 'print("06.3"')]
    edit(course, "06", drop_last_check)
    assert any("grade ['06.1', '06.2'], the registry has ['06.1', '06.2', '06.3']" in p for p in L.problems(course))


def test_the_week_plan_is_checked(course, monkeypatch):
    weeks = tuple(w for w in L.WEEKS if w[1] != ("08",)) + ((13, ("01",), ""),)
    monkeypatch.setattr(L, "WEEKS", weeks)
    found = L.problems(course)
    assert "the week plan has no week for lesson 08" in found
    assert "the week plan lists lesson 01 more than once" in found
    monkeypatch.setattr(L, "WEEKS", tuple(((1, ("01",), "") if w[1] == ("00",) else
                                            (2, ("00",), "") if w[1] == ("01",) else w) for w in L.WEEKS))
    assert any("puts lesson 01 (week 1) before or beside 00" in p for p in L.problems(course))


def test_reading_minutes():
    assert L.reading_minutes(0, 0, 0) == 5
    assert L.reading_minutes(1300, 0, 0) == 10  # 10 minutes of text
    assert L.reading_minutes(1301, 0, 0) == 15  # rounded up to 5
    assert L.reading_minutes(1300, 2, 1) == 45  # 10 + 2 x 8 + 15 = 41, rounded up
    with pytest.raises(ValueError, match="markdown_words"):
        L.reading_minutes(-1, 0, 0)


def test_order_respects_prerequisites():
    lessons = L.load(ROOT)
    seq = L.order(lessons)
    assert sorted(seq) == sorted(ls.number for ls in lessons)
    for ls in lessons:
        assert all(seq.index(b) < seq.index(ls.number) for b in ls.builds_on)


def test_the_parameters_comment_states_the_measured_quick_runtime(course):
    """A hand-typed runtime in the PROFILE comment is found stale and rewritten from results/quick."""
    def typed(nb):
        cell = next(c for c in nb["cells"] if c["cell_type"] == "code")
        cell["source"] = [re.sub(r"about \d+ minutes? on 2 CPU cores", "about 99 minutes on 2 CPU cores",
                                 "".join(cell["source"]), count=1)]
    edit(course, "00", typed)
    assert any("00_sparsity_tour.ipynb: generated lesson facts are out of date" in p for p in L.problems(course))
    L.write(course)
    assert L.problems(course) == []
    runtime = json.loads((course / "results/quick/00_sparsity_tour.json").read_text())["runtime_s"]
    nb = json.loads(next((course / "notebooks").glob("00_*.ipynb")).read_text())
    n = max(1, round(runtime / 60))
    assert f'"quick": about {n} minute' in "".join(nb["cells"][1]["source"])
