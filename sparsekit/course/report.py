"""Claims, verdicts and the results JSON every notebook writes (schema in DESIGN.md)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from sparsekit.checks import one_of
from sparsekit.utils import atomic_write_bytes, versions
from sparsekit.verdicts import VERDICTS, Decision, exact, not_tested

__all__ = [
    "VERDICTS",
    "PROFILES",
    "check_profile",
    "Claim",
    "mean_std",
    "quick_full_rows",
    "replace_block",
    "update_readme_table",
    "Report",
    "load_results",
    "md_cell",
    "markdown_table",
    "claims_markdown",
    "write_claims_report",
    "fmt_num",
    "counts",
]

PROFILES = ("quick", "full")


def check_profile(profile: str) -> str:
    return one_of("PROFILE", profile, PROFILES)


def check_device(device: str, accepted: tuple[str, ...] = ("auto", "cpu", "cuda")) -> str:
    """A notebook's ``DEVICE`` parameter, refused with the accepted values where the lesson cannot
    honour it (a CPU-only lesson accepts ``("auto", "cpu")``) rather than silently ignored.

    >>> check_device("cpu", ("auto", "cpu"))
    'cpu'
    """
    return one_of("DEVICE", device, accepted)


TIMED_MARK = " (timed on this machine)"


@dataclass
class Claim:
    """One claim as the results JSON stores it: the texts, the verdict, and its numbers as data
    (``estimate``, ``lower``, ``upper``, ``bar``, ``k``; the whole :class:`Decision` in ``decision``)."""

    id: str
    statement: str
    paper: str
    ours: str
    verdict: str
    timed: bool = False  # decided by a timing on this machine: its verdict can change with the machine's load
    estimate: float | None = None
    lower: float | None = None
    upper: float | None = None
    bar: float | None = None
    k: int | None = None
    decision: dict | None = None

    @classmethod
    def of(cls, id: str, statement: str, paper: str, ours: str, decision: Decision, timed: bool = False) -> Claim:
        return cls(id, statement, paper, ours, decision.verdict, timed, decision.estimate, decision.lower,
                   decision.upper, decision.bar, decision.k, decision.to_dict())

    def numbers(self) -> str:
        """The decision's ``estimate [L, U] vs bar (K)``, or "" for a claim stored without one."""
        return Decision.from_dict(self.decision).numbers() if self.decision else ""

    def line(self) -> str:
        """The verdict line a notebook prints and nbval compares (``tests/nbval_sanitize.cfg`` masks the
        verdict word and the measured numbers; the bar and K stay compared)."""
        nums = self.numbers()
        return f"{self.id}: {self.verdict}{TIMED_MARK if self.timed else ''} - {self.statement}" + (
            f" - {nums}" if nums else "")


def mean_std(values: Iterable[float], fmt: str = "{:.1f}", unit: str = "") -> str:
    """'mean ± std (n=k)' of a list of per-seed values (std with ddof=1; only the value for one seed)."""
    v = np.asarray(list(values), dtype=float)
    if v.size == 0:
        return "n/a"
    if v.size == 1:
        return f"{fmt.format(v[0])}{unit} (n=1)"
    return f"{fmt.format(v.mean())}{unit} ± {fmt.format(v.std(ddof=1))}{unit} (n={v.size})"


def _decision_of(verdict, ours: str) -> Decision:
    if isinstance(verdict, Decision):
        return verdict
    if isinstance(verdict, (bool, np.bool_)):
        return exact(bool(verdict))
    if verdict is None or verdict == "not tested":
        return not_tested(ours)
    raise TypeError(f"verdict must be a Decision (sparsekit.verdicts.decide, decide_every, exact or "
                    f"not_tested), a bool for an exact rule, or None for not tested; got {verdict!r}")


class Report:
    """Collects a notebook's claims and writes ``RESULTS_DIR/<notebook>.json``.

    >>> from sparsekit.verdicts import decide
    >>> r = Report("00_demo", "quick", seeds=[0, 1, 2])
    >>> r.add("D1", "the gap is at least 0", paper="> 0", ours="gap", verdict=decide([1.0, 1.2, 0.9], 0.0))
    >>> r.print_verdicts()
    D1: reproduced - the gap is at least 0 - 1.03 [0.776, 1.29] vs bar 0 (K=3)
    """

    def __init__(self, notebook: str, profile: str, seeds: Sequence[int]):
        self.notebook = notebook
        self.profile = check_profile(profile)
        self.seeds = [int(s) for s in seeds]
        self.claims: list[Claim] = []
        self._t0 = time.perf_counter()

    def add(self, id: str, statement: str, paper: str, ours: str, verdict: Decision | bool | None,
            timed: bool = False) -> None:
        """Record a claim decided by ``verdict``: a :class:`~sparsekit.verdicts.Decision`
        (the interval rule, "every part", an exact rule, or not tested), a bool (an exact rule's
        outcome) or None (not tested; ``ours`` says why). ``timed=True`` marks a verdict decided by a
        timing on this machine: its line says so, and CI compares the line without its verdict."""
        if any(c.id == id for c in self.claims):
            raise ValueError(f"claim {id!r} was already added")
        self.claims.append(Claim.of(str(id), str(statement), str(paper), str(ours), _decision_of(verdict, ours),
                                    bool(timed)))

    def runtime_s(self) -> float:
        return time.perf_counter() - self._t0

    def to_dict(self) -> dict:
        return {
            "notebook": self.notebook,
            "profile": self.profile,
            "seeds": self.seeds,
            "runtime_s": round(self.runtime_s(), 1),
            "versions": versions(),
            "claims": [asdict(c) for c in self.claims],
        }

    def save(self, results_dir: str | Path) -> Path:
        path = Path(results_dir) / f"{self.notebook}.json"
        return atomic_write_bytes(json.dumps(self.to_dict(), indent=2).encode(), path)

    def table(self):
        """The claims as a pandas DataFrame (shown as a table in the notebook), numbers as columns."""
        import pandas as pd

        rows = [{"id": c.id, "statement": c.statement, "paper": c.paper, "ours": c.ours, "verdict": c.verdict,
                 "estimate [L, U] vs bar (K)": c.numbers()} for c in self.claims]
        return pd.DataFrame(rows)

    def print_verdicts(self) -> None:
        """One line per claim: the id, the verdict, the statement and the numbers that decided it.

        >>> from sparsekit.verdicts import decide
        >>> r = Report("00_demo", "quick", seeds=[0])
        >>> r.add("T1", "a kernel is at least 2x faster", paper="2x", ours="2.1x",
        ...       verdict=decide([2.1, 2.2, 2.0], 2.0), timed=True)
        >>> r.print_verdicts()
        T1: inconclusive (timed on this machine) - a kernel is at least 2x faster - 2.1 [1.93, 2.27] vs bar 2 (K=3)
        """
        for c in self.claims:
            print(c.line())


def load_results(results_dir: str | Path) -> list[dict]:
    """Every ``*.json`` results file in a folder, sorted by notebook name."""
    out = []
    for p in sorted(Path(results_dir).glob("*.json")):
        with open(p) as f:
            d = json.load(f)
        if "notebook" in d and "claims" in d:
            out.append(d)
    return out


def md_cell(value) -> str:
    """``value`` as one cell of a markdown table: pipes escaped, newlines flattened."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(header: Sequence[str], rows: Iterable[Sequence]) -> list[str]:
    """The lines of one markdown table (every report here writes its tables with this one function)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return lines


def counts(verdicts: Sequence[str]) -> str:
    """'reproduced / inconclusive / not reproduced / not tested' counts, in that order."""
    return " / ".join(str(sum(v == k for v in verdicts)) for k in VERDICTS)


COUNTS_HEADER = "reproduced / inconclusive / not reproduced / not tested"


def claim_rows(claims: Sequence[dict]) -> list[list[str]]:
    """One row per claim of a results JSON: id, statement, paper, ours, the numbers, the verdict."""
    return [[c["id"], c["statement"], c["paper"], c["ours"], Claim(**c).numbers() if c.get("decision") else "",
             f"**{c['verdict']}**" + (" (timed)" if c.get("timed") else "")] for c in claims]


CLAIM_HEADER = ("claim", "statement", "paper", "ours", "estimate [L, U] vs bar (K)", "verdict")


def claims_markdown(results: Sequence[dict], title: str, notebooks_link: str = "../../notebooks/") -> str:
    """The claims report: one summary row per notebook, then each notebook's claims in full.

    ``results`` are results-JSON dicts (``load_results``); notebooks are linked as
    ``<notebooks_link><notebook>.ipynb``.
    """
    lines = [f"# {title}", "", "Verdicts by the interval rule (the notebook contract, third edition): *reproduced* "
             "if the one-sided 95% bound clears the bar, *not reproduced* if the other bound misses it, "
             "*inconclusive* otherwise.", ""]
    lines += markdown_table(
        ("notebook", "profile", "seeds", "claims", COUNTS_HEADER, "runtime (s)"),
        ([f"[{r['notebook']}]({notebooks_link}{r['notebook']}.ipynb)", r["profile"],
          ", ".join(str(s) for s in r.get("seeds", [])), len(r["claims"]), counts([c["verdict"] for c in r["claims"]]),
          f"{r.get('runtime_s', 0):.0f}"] for r in results))
    for r in results:
        v = r.get("versions", {})
        stamp = ", ".join(f"{k} {v[k]}" for k in ("python", "torch", "numba") if k in v)
        lines += ["", f"## {r['notebook']}", "", f"Profile `{r['profile']}`; {stamp}.", ""]
        lines += markdown_table(CLAIM_HEADER, claim_rows(r["claims"]))
    return "\n".join(lines) + "\n"


def write_claims_report(results_dir: str | Path, path: str | Path, title: str) -> Path:
    """``claims_markdown`` of every results JSON in ``results_dir``, written atomically to ``path``."""
    results = load_results(results_dir)
    if not results:
        raise FileNotFoundError(f"no results JSON in {results_dir}")
    return atomic_write_bytes(claims_markdown(results, title).encode(), path)


def fmt_num(x: float, digits: int = 3) -> str:
    """Compact number for tables: 3 significant digits, scientific below 1e-3."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if x != 0 and abs(x) < 1e-3:
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits}g}"


def quick_full_rows(root: str | Path) -> list[str]:
    """The README's quick-vs-full table rows, from ``results/quick/*.json`` and
    ``results/full/aggregate.json`` (one source of truth): per notebook the four verdict counts of
    both profiles and the claims whose verdicts differ."""
    root = Path(root)
    full_path = root / "results" / "full" / "aggregate.json"
    full = json.loads(full_path.read_text())["notebooks"] if full_path.exists() else {}
    rows = []
    for path in sorted((root / "results" / "quick").glob("[0-9][0-9]_*.json")):
        quick = json.loads(path.read_text())
        q = {c["id"]: c["verdict"] for c in quick["claims"]}
        name = f"[{path.stem}](notebooks/{path.stem}.ipynb)"
        if path.stem not in full:
            rows.append([name, counts(list(q.values())), "not run yet", "-"])
            continue
        claims = full[path.stem]["claims"]
        waiting = sorted(cid for cid, cl in claims.items() if cl.get("redecided") is False)
        f = {cid: cl["verdict"] for cid, cl in claims.items() if cid not in waiting}
        differ = [f"{cid} ({q.get(cid, 'absent')} -> {f.get(cid, 'absent')})" for cid in sorted(set(q) | set(f))
                  if cid not in waiting and q.get(cid) != f.get(cid)]
        seeds = full[path.stem].get("base_seeds") or full[path.stem]["seeds"]
        wait = f"; {', '.join(waiting)} wait for a re-run" if waiting else ""
        rows.append([name, counts(list(q.values())),
                     f"{counts(list(f.values()))} (base seeds {', '.join(str(x) for x in seeds)}){wait}",
                     "; ".join(differ) or "none"])
    return markdown_table(("lesson", f"quick (base seed 0): {COUNTS_HEADER}", f"full: {COUNTS_HEADER}",
                           "verdicts that differ (quick -> full)"), rows)


README_MARKERS = ("<!-- quick-full:start -->", "<!-- quick-full:end -->")


def replace_block(text: str, markers: tuple[str, str], body: str, where: str) -> str:
    """``text`` with what lies between the two marker lines replaced by ``body``; ValueError naming
    ``where`` when a marker is missing."""
    start, end = markers
    if start not in text or end not in text:
        raise ValueError(f"{where} has no {start} ... {end} block")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return head + start + "\n" + body + "\n" + end + tail


def update_readme_table(root: str | Path) -> bool:
    """Rewrite the rows between the README's quick-full markers from the committed results; returns
    whether the README changed. The runner calls it after ``--update-notebooks`` and full runs, and
    then ``sparsekit.course.lessons.write`` for the course table (its verdict counts and runtimes)."""
    path = Path(root) / "README.md"
    text = path.read_text()
    new = replace_block(text, README_MARKERS, "\n".join(quick_full_rows(root)), "README.md (the quick-vs-full table)")
    if new != text:
        atomic_write_bytes(new.encode(), path)
    return new != text
