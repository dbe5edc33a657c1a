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

__all__ = [
    "VERDICTS",
    "PROFILES",
    "check_profile",
    "verdict",
    "Claim",
    "mean_std",
    "seed_spread",
    "lower_bound",
    "holds_beyond_spread",
    "quick_full_rows",
    "update_readme_table",
    "Report",
    "load_results",
    "claims_markdown",
    "write_claims_report",
    "fmt_num",
]

VERDICTS = ("reproduced", "not reproduced", "not tested")
PROFILES = ("quick", "full")


def check_profile(profile: str) -> str:
    return one_of("PROFILE", profile, PROFILES)


def verdict(ok: bool | None) -> str:
    """``True`` -> 'reproduced', ``False`` -> 'not reproduced', ``None`` -> 'not tested'."""
    if ok is None:
        return "not tested"
    return "reproduced" if bool(ok) else "not reproduced"


TIMED_MARK = " (timed on this machine)"


@dataclass
class Claim:
    id: str
    statement: str
    paper: str
    ours: str
    verdict: str
    timed: bool = False  # decided by a timing on this machine: its verdict can change with the machine's load


def mean_std(values: Iterable[float], fmt: str = "{:.1f}", unit: str = "") -> str:
    """'mean ± std (n=k)' of a list of per-seed values (std with ddof=1; only the value for one seed)."""
    v = np.asarray(list(values), dtype=float)
    if v.size == 0:
        return "n/a"
    if v.size == 1:
        return f"{fmt.format(v[0])}{unit} (n=1)"
    return f"{fmt.format(v.mean())}{unit} ± {fmt.format(v.std(ddof=1))}{unit} (n={v.size})"


def seed_spread(*samples: Iterable[float], floor: float = 0.0) -> float:
    """The largest standard deviation (ddof=1) over seeds among ``samples``, and at least ``floor``:
    the margin inside which the means of two arms are not told apart. One-value samples add nothing.

    >>> seed_spread([1.0, 3.0], [2.0, 2.5], floor=0.5)
    1.4142135623730951
    >>> seed_spread([1.0], floor=0.3)
    0.3
    """
    stds = [float(np.std(v, ddof=1)) for v in (np.asarray(list(s), dtype=float) for s in samples) if v.size > 1]
    return max([float(floor), *stds])


def lower_bound(values: Iterable[float]) -> float:
    """Mean minus one standard deviation (ddof=1) over paired seeds: the low end of the seed spread.

    >>> lower_bound([2.0, 4.0, 3.0])
    2.0
    """
    v = np.asarray(list(values), dtype=float)
    if v.size < 2:
        raise ValueError(f"a spread needs at least 2 paired seeds, got {v.size}")
    return float(v.mean() - v.std(ddof=1))


def holds_beyond_spread(values: Iterable[float], threshold: float) -> bool:
    """The pre-registered rule for "X is at least ``threshold``" over paired seeds: it holds only if
    the mean stays at or above ``threshold`` by at least one seed standard deviation, so noise
    alone cannot pass it.

    >>> holds_beyond_spread([1.0, 1.2, 0.9], 0.0)   # mean 1.03, sd 0.15
    True
    >>> holds_beyond_spread([1.0, -0.8, 0.9], 0.0)  # mean 0.37, sd 1.01
    False
    """
    return lower_bound(values) >= threshold


class Report:
    """Collects a notebook's claims and writes ``RESULTS_DIR/<notebook>.json``.

    >>> r = Report("00_demo", "quick", seeds=[0])
    >>> r.add("D1", "two plus two is four", paper="4", ours="4", verdict=True)
    >>> r.print_verdicts()
    D1: reproduced - two plus two is four
    """

    def __init__(self, notebook: str, profile: str, seeds: Sequence[int]):
        self.notebook = notebook
        self.profile = check_profile(profile)
        self.seeds = [int(s) for s in seeds]
        self.claims: list[Claim] = []
        self._t0 = time.perf_counter()

    def add(self, id: str, statement: str, paper: str, ours: str, verdict: bool | str | None,
            timed: bool = False) -> None:
        """Record a claim. ``timed=True`` marks a verdict decided by a timing ratio: its verdict line
        says so, and CI's notebook check compares the line without its verdict (tests never assert a
        speed; ``tests/nbval_sanitize.cfg``), while the committed notebook shows the measured one."""
        v = verdict if isinstance(verdict, str) else globals()["verdict"](verdict)
        if v not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS} (or a bool / None), got {verdict!r}")
        if any(c.id == id for c in self.claims):
            raise ValueError(f"claim {id!r} was already added")
        self.claims.append(Claim(str(id), str(statement), str(paper), str(ours), v, bool(timed)))

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
        """The claims as a pandas DataFrame (shown as a table in the notebook)."""
        import pandas as pd

        return pd.DataFrame([asdict(c) for c in self.claims], columns=["id", "statement", "paper", "ours", "verdict"])

    def print_verdicts(self) -> None:
        """One line per claim - the text nbval compares, so it holds no measured numbers.

        >>> r = Report("00_demo", "quick", seeds=[0])
        >>> r.add("T1", "a kernel is faster", paper="2x", ours="2.1x", verdict=True, timed=True)
        >>> r.print_verdicts()
        T1: reproduced (timed on this machine) - a kernel is faster
        """
        for c in self.claims:
            print(f"{c.id}: {c.verdict}{TIMED_MARK if c.timed else ''} - {c.statement}")


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


def claims_markdown(results: Sequence[dict], title: str, notebooks_link: str = "../../notebooks/") -> str:
    """The claims report: one summary row per notebook, then each notebook's claims in full.

    ``results`` are results-JSON dicts (``load_results``); notebooks are linked as
    ``<notebooks_link><notebook>.ipynb``.
    """
    lines = [f"# {title}", "", "| notebook | profile | seeds | claims | reproduced | not reproduced | not tested "
             "| runtime (s) |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        vs = [c["verdict"] for c in r["claims"]]
        seeds = ", ".join(str(s) for s in r.get("seeds", []))
        lines.append(f"| [{r['notebook']}]({notebooks_link}{r['notebook']}.ipynb) | {r['profile']} | {seeds} | "
                     f"{len(vs)} | {vs.count('reproduced')} | {vs.count('not reproduced')} | "
                     f"{vs.count('not tested')} | {r.get('runtime_s', 0):.0f} |")
    for r in results:
        v = r.get("versions", {})
        stamp = ", ".join(f"{k} {v[k]}" for k in ("python", "torch", "numba") if k in v)
        lines += ["", f"## {r['notebook']}", "", f"Profile `{r['profile']}`; {stamp}.", "",
                  "| claim | statement | paper | ours | verdict |", "|---|---|---|---|---|"]
        lines += [f"| {c['id']} | {md_cell(c['statement'])} | {md_cell(c['paper'])} | {md_cell(c['ours'])} | "
                  f"**{c['verdict']}** |"
                  for c in r["claims"]]
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


def _counts(verdicts: Sequence[str]) -> str:
    text = " / ".join(str(sum(v == k for v in verdicts)) for k in ("reproduced", "not reproduced", "not tested"))
    split = sum(v == "seeds disagree" for v in verdicts)
    return text + (f" ({split} where the seeds disagree)" if split else "")


def quick_full_rows(root: str | Path) -> list[str]:
    """The README's quick-vs-full table rows, from ``results/quick/*.json`` and
    ``results/full/aggregate.json`` (one source of truth): per notebook the verdict counts of both
    profiles and the claims whose verdicts differ."""
    root = Path(root)
    full_path = root / "results" / "full" / "aggregate.json"
    full = json.loads(full_path.read_text())["notebooks"] if full_path.exists() else {}
    rows = ["| lesson | quick (seed 0): reproduced / not / not tested "
            "| full: reproduced / not / not tested (base seeds) | verdicts that differ (quick -> full) |",
            "|---|---|---|---|"]
    for path in sorted((root / "results" / "quick").glob("[0-9][0-9]_*.json")):
        quick = json.loads(path.read_text())
        q = {c["id"]: c["verdict"] for c in quick["claims"]}
        name = f"[{path.stem}](notebooks/{path.stem}.ipynb)"
        if path.stem not in full:
            rows.append(f"| {name} | {_counts(list(q.values()))} | not run yet | - |")
            continue
        f = {cid: cl["verdict"] for cid, cl in full[path.stem]["claims"].items()}
        differ = [f"{cid} ({q.get(cid, 'absent')} -> {f.get(cid, 'absent')})" for cid in sorted(set(q) | set(f))
                  if q.get(cid) != f.get(cid)]
        seeds = ", ".join(str(x) for x in full[path.stem]["seeds"])
        rows.append(f"| {name} | {_counts(list(q.values()))} | {_counts(list(f.values()))} (seeds {seeds}) | "
                    f"{'; '.join(differ) or 'none'} |")
    return rows


README_MARKERS = ("<!-- quick-full:start -->", "<!-- quick-full:end -->")


def update_readme_table(root: str | Path) -> bool:
    """Rewrite the rows between the README's quick-full markers from the committed results; returns
    whether the README changed. The runner calls it after ``--update-notebooks`` and full runs."""
    path = Path(root) / "README.md"
    text = path.read_text()
    start, end = README_MARKERS
    if start not in text or end not in text:
        raise ValueError(f"README.md has no {start} ... {end} block for the quick-vs-full table")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    new = head + start + "\n" + "\n".join(quick_full_rows(root)) + "\n" + end + tail
    if new != text:
        atomic_write_bytes(new.encode(), path)
    return new != text
