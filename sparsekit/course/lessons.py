"""Each lesson's facts in one place - its notebook's metadata - and everything generated from them.

    python -m sparsekit.course.lessons            # check: exit 1 and list what disagrees
    python -m sparsekit.course.lessons --write    # regenerate every block below from the notebooks

A notebook keeps what only its author can say under ``metadata["sparsekit"]["lesson"]``:

- ``short``: the title in tables ("A tour of sparsity"); the notebook's first heading starts with it;
- ``learn``: one line, what the lesson teaches;
- ``needs``: what it assumes from outside the course ("linear programming"), or "";
- ``builds_on``: the lessons it assumes (["00", "03"]); they must exist and form no cycle, and they
  are exactly the notebooks its "**You should know**" paragraph names;
- ``outcomes``: what a student can do afterwards, each finishing "After this lesson you can ...".

Everything else is read from the notebook and the package, never typed twice: the graded exercises
(the ``check("NN.k", ...)`` calls, which must match the graders registered in
``sparsekit.course.exercises``, and their titles), the open exercises (items marked "(Not graded.)"),
the reading time (estimated from the notebook's length, ``reading_minutes``), the claims and their
quick-profile verdicts (``results/quick/NN.json``) and the quick profile's runtime there.

Generated from those facts, between marker comments: the course table of the README, the syllabus's
table and learning outcomes, the site's table of contents (``book/index.md``) and the "lesson card"
at the end of each notebook's first cell. ``problems`` also checks every "section N" and "notebook NN"
reference in the notebooks' text against the headings and files that exist. ``tests/test_lessons.py``
fails when anything disagrees.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from ..utils import atomic_write_bytes
from .paths import repo_root

__all__ = ["Lesson", "LESSON_KEYS", "OPEN_ITEM", "PLANNED", "load", "reading_minutes", "order", "problems", "write",
           "WEEKS", "week_table", "readme_table", "syllabus_block", "index_block", "card", "references"]

LESSON_KEYS = ("short", "learn", "needs", "builds_on", "outcomes")
PLANNED = {"09": "sparse attention"}  # lessons in preparation: a reference to one says so
OPEN_ITEM = re.compile(r"^(\d+)\. \((?:Open|Not graded)\.?\)", re.M)  # an exercise without a grader
WORDS_PER_MINUTE = 130  # technical text with maths, read to be understood
MINUTES_PER_GRADED, MINUTES_PER_OPEN = 8, 15

MARKERS = {
    "readme": ("<!-- lessons:start -->", "<!-- lessons:end -->"),
    "syllabus": ("<!-- syllabus:start -->", "<!-- syllabus:end -->"),
    "index": ("<!-- toc:start -->", "<!-- toc:end -->"),
    "card": ("<!-- lesson-card:start (generated from this notebook's metadata by "
             "`python -m sparsekit.course.lessons --write`: edit the metadata, not this block) -->",
             "<!-- lesson-card:end -->"),
}
# A 12-week plan: (week, lessons, what else to assign). ``problems`` checks that it has every lesson once,
# each after the lessons it builds on.
WEEKS: tuple[tuple[int, tuple[str, ...], str], ...] = (
    (1, ("00",), "read How to read a verdict first; in class, run the quick profile live"),
    (2, ("01",), "run the lesson with `SEED = 1` (its parameters cell); compare its verdicts with the committed ones"),
    (3, ("08",), ""),
    (4, ("02",), ""),
    (5, ("03",), ""),
    (6, ("04",), ""),
    (7, ("05",), ""),
    (8, ("07",), "run `python -m sparsekit.bench --quick` on your own machine"),
    (9, ("10",), ""),
    (10, ("06",), ""),
    (11, (), "project: one claim of any lesson run under its full profile (or a new base seed), written up "
             "with its [L, U] and what would change the verdict"),
    (12, (), "project presentations; the claims report as the reading"),
)
BINDER = "https://mybinder.org/v2/gh/sparsekit/sparsekit-notebooks/HEAD?urlpath=lab/tree/notebooks/{file}"


@dataclass(frozen=True)
class Lesson:
    number: str  # "00"
    stem: str  # "00_sparsity_tour"
    heading: str  # the notebook's first heading, without "# "
    short: str
    learn: str
    needs: str
    builds_on: tuple[str, ...]
    outcomes: tuple[str, ...]
    graded: tuple[str, ...]  # exercise ids, in the notebook's order
    open_items: tuple[str, ...]  # ids of the exercises graded by hand ("(Open)")
    reading_minutes: int
    claims: tuple[tuple[str, str], ...]  # (id, quick-profile verdict); () before the first run
    quick_runtime_s: float | None

    @property
    def open_exercises(self) -> int:
        return len(self.open_items)

    @property
    def file(self) -> str:
        return f"{self.stem}.ipynb"


def _cells(nb: dict, kind: str) -> list[str]:
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == kind]


def reading_minutes(markdown_words: int, graded: int, open_exercises: int) -> int:
    """The estimate every lesson states: its text at ``WORDS_PER_MINUTE``, 8 minutes a graded exercise
    and 15 an open one, rounded up to 5 minutes."""
    if min(markdown_words, graded, open_exercises) < 0:
        raise ValueError("markdown_words, graded and open_exercises must be >= 0")
    minutes = markdown_words / WORDS_PER_MINUTE + MINUTES_PER_GRADED * graded + MINUTES_PER_OPEN * open_exercises
    return max(5, 5 * math.ceil(minutes / 5))


_CARD = re.compile(re.escape(MARKERS["card"][0]) + r".*?" + re.escape(MARKERS["card"][1]), re.S)


def _text_words(markdown: list[str]) -> int:
    return sum(len(_CARD.sub("", s).split()) for s in markdown)


def _read(path: Path, root: Path) -> Lesson:
    nb = json.loads(path.read_text())
    facts = nb.get("metadata", {}).get("sparsekit", {}).get("lesson")
    if not isinstance(facts, dict):
        raise ValueError(f"{path.name}: no metadata.sparsekit.lesson (keys {', '.join(LESSON_KEYS)})")
    missing, unknown = set(LESSON_KEYS) - set(facts), set(facts) - set(LESSON_KEYS)
    if missing or unknown:
        raise ValueError(f"{path.name}: metadata.sparsekit.lesson lacks {sorted(missing)} / has unknown "
                         f"{sorted(unknown)}; the keys are {', '.join(LESSON_KEYS)}")
    markdown, code = _cells(nb, "markdown"), _cells(nb, "code")
    first = markdown[0].splitlines()[0] if markdown else ""
    if not first.startswith("# "):
        raise ValueError(f"{path.name}: the first cell must open with the lesson's '# NN · title' heading")
    graded = tuple(dict.fromkeys(re.findall(r"""check\(\s*["'](\d\d\.\d+)["']""", "\n".join(code))))
    open_items = tuple(f"{path.stem[:2]}.{m}" for s in markdown for m in OPEN_ITEM.findall(s))
    claims: tuple[tuple[str, str], ...] = ()
    runtime = None
    results = root / "results" / "quick" / f"{path.stem}.json"
    if results.exists():
        data = json.loads(results.read_text())
        claims = tuple((c["id"], c["verdict"]) for c in data["claims"])
        runtime = data.get("runtime_s")
    return Lesson(number=path.stem[:2], stem=path.stem, heading=first[2:].strip(), short=str(facts["short"]),
                  learn=str(facts["learn"]), needs=str(facts["needs"]),
                  builds_on=tuple(str(b) for b in facts["builds_on"]),
                  outcomes=tuple(str(o) for o in facts["outcomes"]), graded=graded, open_items=open_items,
                  reading_minutes=reading_minutes(_text_words(markdown), len(graded), len(open_items)),
                  claims=claims, quick_runtime_s=runtime)


def load(root: str | Path | None = None) -> list[Lesson]:
    """Every lesson of ``notebooks/``, in number order."""
    root = Path(root) if root is not None else repo_root()
    paths = sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"no notebooks in {root / 'notebooks'}")
    return [_read(p, root) for p in paths]


def order(lessons: list[Lesson]) -> list[str]:
    """The lesson numbers in an order that respects ``builds_on`` (ties by number); ValueError naming the
    cycle or the missing lesson when there is none."""
    known = {ls.number: ls for ls in lessons}
    for ls in lessons:
        for b in ls.builds_on:
            if b not in known:
                raise ValueError(f"lesson {ls.number} builds on {b}, which is not a lesson "
                                 f"(lessons: {', '.join(sorted(known))})")
    done: list[str] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(n: str, path: list[str]) -> None:
        if state.get(n) == 2:
            return
        if state.get(n) == 1:
            cycle = path[path.index(n):] + [n]
            raise ValueError("prerequisites form a cycle: " + " -> ".join(cycle))
        state[n] = 1
        for b in sorted(known[n].builds_on):
            visit(b, path + [n])
        state[n] = 2
        done.append(n)

    for n in sorted(known):
        visit(n, [])
    return done


def _counts(claims: tuple[tuple[str, str], ...]) -> str:
    from .report import counts
    return counts([v for _, v in claims]) if claims else "not run yet"


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def _exercises(ls: Lesson) -> str:
    from .exercises import EXERCISES
    titles = [EXERCISES[i].title for i in ls.graded if i in EXERCISES]
    out = f"{len(ls.graded)} graded ({'; '.join(titles)})"
    return out + (f", {ls.open_exercises} open" if ls.open_exercises else "")


def _link(ls: Lesson, prefix: str) -> str:
    return f"[{ls.number} · {ls.short}]({prefix}{ls.file})"


def readme_table(lessons: list[Lesson]) -> str:
    from .report import COUNTS_HEADER
    rows = ["| lesson | open on Binder | you learn | you need | builds on | reading and exercises | "
            f"quick profile here | quick profile: {COUNTS_HEADER} |", "|---|---|---|---|---|---|---|---|"]
    for ls in lessons:
        rows.append(f"| {_link(ls, 'notebooks/')} | [launch]({BINDER.format(file=ls.file)}) | {ls.learn} | "
                    f"{ls.needs or '-'} | {', '.join(ls.builds_on) or '-'} | about {ls.reading_minutes} min | "
                    f"{_minutes(ls.quick_runtime_s)} | {_counts(ls.claims)} |")
    return "\n".join(rows)


def syllabus_block(lessons: list[Lesson]) -> str:
    rows = ["| lesson | you learn | builds on | you need | reading and exercises | exercises |",
            "|---|---|---|---|---|---|"]
    for ls in lessons:
        rows.append(f"| {_link(ls, 'notebooks/')} | {ls.learn} | {', '.join(ls.builds_on) or '-'} | "
                    f"{ls.needs or '-'} | about {ls.reading_minutes} min | {_exercises(ls)} |")
    out = ["An order that respects every prerequisite: " + " → ".join(order(lessons)) + ".", "",
           "\n".join(rows), "", "## A 12-week plan", "",
           "Each lesson after the ones it builds on; assign its graded exercises and the work named.", "",
           week_table(lessons), "", "## Learning outcomes", ""]
    for ls in lessons:
        out += [f"**{ls.number} · {ls.short}.** After this lesson you can:", ""]
        out += [f"- {o}" for o in ls.outcomes] + [""]
    return "\n".join(out).rstrip()


def week_table(lessons: list[Lesson]) -> str:
    """The 12-week plan as a table: each week's lessons, their graded exercises, and what else to assign."""
    known = {ls.number: ls for ls in lessons}
    rows = ["| week | lesson | assign |", "|---|---|---|"]
    for week, nums, extra in WEEKS:
        names = ", ".join(_link(known[n], "notebooks/") for n in nums if n in known) or "-"
        graded = [i for n in nums if n in known for i in known[n].graded]
        opened = [i for n in nums if n in known for i in known[n].open_items]
        work = (([f"exercises {graded[0]}-{graded[-1]}"] if graded else [])
                + ([f"open question{'s' if len(opened) > 1 else ''} {', '.join(opened)} (graded by hand, rubric in "
                    "the teacher's kit)"] if opened else []) + ([extra] if extra else []))
        rows.append(f"| {week} | {names} | {'; '.join(work)} |")
    return "\n".join(rows)


def _week_problems(lessons: list[Lesson]) -> list[str]:
    known = {ls.number: ls for ls in lessons}
    planned = [n for _, nums, _ in WEEKS for n in nums]
    out = [f"the week plan lists lesson {n} more than once" for n in sorted(set(planned)) if planned.count(n) > 1]
    out += [f"the week plan has no week for lesson {n}" for n in sorted(set(known) - set(planned))]
    out += [f"the week plan names lesson {n}, which is not a lesson" for n in sorted(set(planned) - set(known))]
    week_of = {n: w for w, nums, _ in WEEKS for n in nums}
    for n, ls in known.items():
        for b in ls.builds_on:
            if n in week_of and b in week_of and week_of[b] >= week_of[n]:
                out.append(f"the week plan puts lesson {n} (week {week_of[n]}) before or beside {b} (week "
                           f"{week_of[b]}), which it builds on")
    return out


def index_block(lessons: list[Lesson]) -> str:
    return "\n".join(["```{toctree}", ":maxdepth: 1", ":caption: Course", "", "syllabus", "verdicts",
                      "glossary"] + [f"notebooks/{ls.stem}" for ls in lessons] + ["```"])


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def card(ls: Lesson) -> str:
    """The block at the end of a notebook's first cell."""
    builds = ("notebook" + ("s " if len(ls.builds_on) > 1 else " ") + _and(list(ls.builds_on))
              if ls.builds_on else "no earlier notebook")
    work = f"{len(ls.graded)} graded exercise{'s' if len(ls.graded) != 1 else ''}"
    if ls.open_exercises:
        work += f" and {ls.open_exercises} open"
    lines = [f"**This lesson.** Builds on {builds}; you need {ls.needs or 'nothing more'}. About "
             f"{ls.reading_minutes} minutes to read and to do its {work}. How each claim below is decided: "
             "[How to read a verdict](../book/verdicts.md); the field's words: [the glossary](../book/glossary.md).",
             "", "**After this lesson you can:**", ""]
    lines += [f"- {o}" for o in ls.outcomes]
    return "\n".join(lines)


def _with_card(nb: dict, ls: Lesson) -> dict:
    cell = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
    text = "".join(cell["source"])
    start, end = MARKERS["card"]
    block = start + "\n" + card(ls) + "\n" + end
    text = _CARD.sub(lambda _: block, text) if start in text else text.rstrip("\n") + "\n\n" + block
    lines = text.splitlines(keepends=True)
    cell["source"] = lines
    return nb


_QUICK_RUNTIME = re.compile(r'("quick": about )([^;"]*?)( on 2 CPU cores)')


def _with_runtime(nb: dict, ls: Lesson) -> dict:
    """The parameters cell's comment states the quick profile's runtime measured in ``results/quick``
    (whole minutes), never a number typed by hand."""
    if ls.quick_runtime_s is None:
        return nb
    n = max(1, round(ls.quick_runtime_s / 60))
    for cell in nb["cells"]:
        text = "".join(cell["source"])
        if cell["cell_type"] == "code" and text.startswith("PROFILE ="):
            new = _QUICK_RUNTIME.sub(lambda m: f"{m.group(1)}{n} minute{'s' if n != 1 else ''}{m.group(3)}", text, 1)
            cell["source"] = new.splitlines(keepends=True)
            break
    return nb


def _generated(root: Path, lessons: list[Lesson]) -> dict[Path, str]:
    """Every generated file's new text, keyed by path."""
    from .report import replace_block
    out = {}
    readme = root / "README.md"
    out[readme] = replace_block(readme.read_text(), MARKERS["readme"], readme_table(lessons), "README.md")
    syl = root / "book" / "syllabus.md"
    out[syl] = replace_block(syl.read_text(), MARKERS["syllabus"], syllabus_block(lessons), "book/syllabus.md")
    idx = root / "book" / "index.md"
    out[idx] = replace_block(idx.read_text(), MARKERS["index"], index_block(lessons), "book/index.md")
    for ls in lessons:
        path = root / "notebooks" / ls.file
        nb = _with_runtime(_with_card(json.loads(path.read_text()), ls), ls)
        out[path] = json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    return out


_SECTION = re.compile(r"\bsections? (\d+)((?:(?:, | and | or |-)\d+)*)(?: of notebook (\d\d))?", re.I)
_NOTEBOOK = re.compile(r"\b(?:notebook|lesson)s? (\d\d)((?:(?:, | and | or |-)\d\d)*)", re.I)
_OF_NOTEBOOK = re.compile(r"\b(?:notebook|lesson) (\d\d)(?:'s|,) $", re.I)


def _numbers(first: str, rest: str) -> list[str]:
    return [first] + re.findall(r"\d+", rest)


def _sections(nb: dict) -> set[int]:
    return {int(m) for s in _cells(nb, "markdown") for m in re.findall(r"^## (\d+)\.", s, re.M)}


def references(root: str | Path | None = None) -> list[str]:
    """Every "section N" (of this notebook, or "of notebook NN") and "notebook NN" / "lesson NN" in the
    notebooks' text that points nowhere."""
    root = Path(root) if root is not None else repo_root()
    books = {p.stem[:2]: json.loads(p.read_text()) for p in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))}
    sections = {n: _sections(nb) for n, nb in books.items()}
    bad = []
    for n, nb in books.items():
        for i, cell in enumerate(nb["cells"]):
            if cell["cell_type"] != "markdown":
                continue
            text = _CARD.sub("", "".join(cell["source"]))
            for m in _NOTEBOOK.finditer(text):
                for ref in _numbers(m.group(1), m.group(2)):
                    if ref not in books and ref not in PLANNED:
                        bad.append(f"{n} cell {i}: '{m.group(0)}' - there is no notebook {ref}")
            for m in _SECTION.finditer(text):
                before = _OF_NOTEBOOK.search(text[max(0, m.start() - 20):m.start()])  # "notebook 05's section 7"
                target = m.group(3) or (before.group(1) if before else n)
                if target in PLANNED:
                    continue
                for sec in _numbers(m.group(1), m.group(2)):
                    if target in sections and int(sec) not in sections[target]:
                        bad.append(f"{n} cell {i}: '{m.group(0)}' - notebook {target} has no section {sec} "
                                   f"(its sections: {', '.join(map(str, sorted(sections[target])))})")
    glossary = root / "book" / "glossary.md"
    anchors = {_slug(t) for t in re.findall(r"^## (.+)$", glossary.read_text(), re.M)} if glossary.exists() else set()
    for n, nb in books.items():
        for i, text in enumerate(_cells(nb, "markdown")):
            for page in re.findall(r"\]\(\.\./book/([\w-]+\.md)", text):
                if not (root / "book" / page).exists():
                    bad.append(f"{n} markdown cell {i}: a link to book/{page}, which does not exist")
            for anchor in re.findall(r"\]\(\.\./book/glossary\.md#([\w-]+)\)", text):
                if anchor not in anchors:
                    bad.append(f"{n} markdown cell {i}: a link to the glossary's '{anchor}', which has no entry")
    return bad


def _slug(heading: str) -> str:
    """The anchor MyST gives a heading (lower case, punctuation but hyphens dropped, spaces as hyphens)."""
    return re.sub(r"[^a-z0-9 -]", "", heading.lower()).strip().replace(" ", "-")


def _should_know(nb: dict) -> set[str] | None:
    m = re.search(r"\*\*You should know\*\*(.*?)(?:\n\n|$)", _CARD.sub("", _cells(nb, "markdown")[0]), re.S)
    if m is None:
        return None
    return set(re.findall(r"\bnotebook (\d\d)\b", m.group(1)))


def problems(root: str | Path | None = None) -> list[str]:
    """Everything that disagrees: generated blocks out of date, exercises unlike the registry, headings,
    prerequisites (a cycle, a lesson that does not exist, or unlike the "You should know" paragraph),
    and references that point nowhere. Empty when all agree."""
    from .exercises import EXERCISES
    root = Path(root) if root is not None else repo_root()
    try:
        lessons = load(root)
        order(lessons)
    except ValueError as e:
        return [str(e)]
    out = _week_problems(lessons)
    for ls in lessons:
        if not ls.heading.startswith(f"{ls.number} · {ls.short}"):
            out.append(f"{ls.file}: the heading '{ls.heading}' does not start with '{ls.number} · {ls.short}'")
        registered = tuple(sorted((i for i in EXERCISES if i.startswith(ls.number + ".")),
                                  key=lambda i: int(i.split(".")[1])))
        if tuple(sorted(ls.graded, key=lambda i: int(i.split(".")[1]))) != registered:
            out.append(f"{ls.file}: its check cells grade {list(ls.graded)}, the registry has {list(registered)}")
        if not ls.outcomes:
            out.append(f"{ls.file}: no learning outcomes")
        named = _should_know(json.loads((root / "notebooks" / ls.file).read_text()))
        if named is not None and named != set(ls.builds_on):
            out.append(f"{ls.file}: its 'You should know' paragraph names notebooks {sorted(named)}, its "
                       f"metadata builds_on {list(ls.builds_on)}")
    for path, text in _generated(root, lessons).items():
        if path.read_text() != text:
            out.append(f"{path.relative_to(root)}: generated lesson facts are out of date "
                       "(run `python -m sparsekit.course.lessons --write`)")
    return out + references(root)


def write(root: str | Path | None = None) -> list[Path]:
    """Regenerate every block from the notebooks; returns the files that changed."""
    root = Path(root) if root is not None else repo_root()
    lessons = load(root)
    order(lessons)
    changed = []
    for path, text in _generated(root, lessons).items():
        if path.read_text() != text:
            atomic_write_bytes(text.encode(), path)
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sparsekit.course.lessons", description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true", help="regenerate the README table, syllabus, site index "
                    "and lesson cards from the notebooks")
    args = ap.parse_args(argv)
    if args.write:
        for p in write():
            print(f"updated {p}")
    found = problems()
    for p in found:
        print(p, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
