"""Run the notebooks headless and gather their claims into build/REPORT.md.

    python -m sparsekit.course.run                      # every notebook, quick profile, seed 0
    python -m sparsekit.course.run --profile full 01    # one notebook (by number, name or part of it)
    python -m sparsekit.course.run --update-notebooks   # refresh the committed notebooks' quick outputs
    python -m sparsekit.course.run --profile full --seeds 0 1 2 --results-dir results/full   # on Dask
    python -m sparsekit.course.run --seeds 0 1 --scheduler tcp://host:8786 01                 # an existing cluster

Each notebook runs under papermill with PROFILE, SEED, DEVICE, RESULTS_DIR and FIGURES_DIR injected,
into build/executed/. A failing notebook is reported and the run carries on; the exit status is 1
if any notebook failed. With ``--seeds`` (or ``--scheduler``) the (notebook, seed) tasks fan out on
Dask instead, resumably, and the report aggregates the seeds (see ``sparsekit.course.fanout``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sparsekit.utils import DEVICES, atomic_write_bytes

from .execute import execute, finish_progress_lines, finished_line, strip_run_metadata
from .paths import repo_root
from .report import (
    CLAIM_HEADER,
    COUNTS_HEADER,
    PROFILES,
    claim_rows,
    counts,
    load_results,
    markdown_table,
    update_readme_table,
    write_claims_report,
)

__all__ = [
    "Paths",
    "available_notebooks",
    "select_notebooks",
    "strip_run_metadata",
    "finished_line",
    "finish_progress_lines",
    "execute",
    "write_report",
    "main",
]


@dataclass(frozen=True)
class Paths:
    """The folders the runner reads and writes, under one checkout ``root``."""

    root: Path

    @classmethod
    def find(cls, root: str | os.PathLike | None = None) -> Paths:
        return cls(Path(root).resolve() if root is not None else repo_root())

    @property
    def notebooks(self) -> Path:
        return self.root / "notebooks"

    @property
    def build(self) -> Path:
        return self.root / "build"

    @property
    def committed_quick(self) -> Path:
        """The committed notebooks' results and their claims report."""
        return self.root / "results" / "quick"


def available_notebooks(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).glob("[0-9][0-9]_*.ipynb"))


def select_notebooks(names: list[str], folder: Path) -> list[Path]:
    """Notebooks whose stem equals, starts with, or contains each given name ('01', 'lottery')."""
    nbs = available_notebooks(folder)
    if not names:
        return nbs
    chosen: list[Path] = []
    for name in names:
        hits = [p for p in nbs if p.stem == name] or [p for p in nbs if p.stem.startswith(name)] or [
            p for p in nbs if name in p.stem
        ]
        if not hits:
            raise SystemExit(
                f"error: unknown notebook {name!r}; available: {', '.join(p.stem for p in nbs) or '(none)'}"
            )
        chosen += [p for p in hits if p not in chosen]
    return chosen


def write_report(results_dir: Path, runs: list[dict], path: Path, profile: str, seed: int) -> Path:
    """build/REPORT.md: each notebook's status, runtime and verdict counts, then one row per claim."""
    results = {r["notebook"]: r for r in load_results(results_dir)}
    lines = ["# sparsekit notebooks: report", "",
             f"Profile `{profile}`, base seed {seed}, written {_dt.datetime.now().strftime('%Y-%m-%d %H:%M')}.", ""]
    ok = {r["notebook"]: results.get(r["notebook"]) if r["status"] == "ok" else None for r in runs}
    lines += markdown_table(("notebook", "status", "runtime (s)", f"claims: {COUNTS_HEADER}"),
                            ([r["notebook"], r["status"], f"{r['seconds']:.0f}",
                              counts([c["verdict"] for c in ok[r["notebook"]]["claims"]]) if ok[r["notebook"]] else "-"]
                             for r in runs))
    rows = []
    for r in runs:
        res = ok[r["notebook"]]
        if res is None:
            rows.append([r["notebook"], "-", f"notebook failed: {r.get('error', '')}", "", "", "", ""])
        else:
            rows += [[r["notebook"], *row] for row in claim_rows(res["claims"])]
    lines += [""] + markdown_table(("notebook", *CLAIM_HEADER), rows)
    return atomic_write_bytes(("\n".join(lines) + "\n").encode(), path)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m sparsekit.course.run", description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help="notebooks to run (number, name, or part of a name); default all")
    ap.add_argument("--root", default=None, help="the checkout (default: found from the working directory)")
    ap.add_argument("--profile", default="quick", help=f"one of {PROFILES} (default quick)")
    ap.add_argument("--seed", type=int, default=0, help="base seed passed to every notebook (default 0)")
    ap.add_argument("--device", default="auto", help=f"one of {DEVICES} (default auto)")
    ap.add_argument("--results-dir", default=None, help="default build/results")
    ap.add_argument("--figures-dir", default=None, help="default build/figures")
    ap.add_argument("--executed-dir", default=None, help="default build/executed")
    ap.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds (default none)")
    ap.add_argument("--seeds", type=int, nargs="+", default=None,
                    help="run every notebook with each of these seeds as tasks on Dask (resumable; aggregated report)")
    ap.add_argument("--scheduler", default=None,
                    help="address of a running Dask scheduler (default: a LocalCluster sized to this machine)")
    ap.add_argument("--tasks-dir", default=None,
                    help="where the Dask tasks keep their executed notebooks and done markers (default build/)")
    ap.add_argument(
        "--update-notebooks", action="store_true",
        help="execute the committed notebooks as they stand (quick profile, seed 0) and write them back in place",
    )
    return ap


def _check_args(ap: argparse.ArgumentParser, args) -> None:
    if args.profile not in PROFILES:
        ap.error(f"unknown profile {args.profile!r}; choose one of {PROFILES}")
    if args.device not in DEVICES:
        ap.error(f"unknown device {args.device!r}; choose one of {DEVICES}")
    if args.update_notebooks and (args.profile != "quick" or args.seed != 0):
        ap.error("--update-notebooks stores the quick profile with seed 0; drop --profile/--seed")
    if args.update_notebooks and (args.seeds is not None or args.scheduler is not None):
        ap.error("--update-notebooks runs locally and stores seed 0; drop --seeds/--scheduler")


def _prepare_environment(paths: Paths) -> None:
    """What the notebooks' kernels inherit: a writable Numba cache, and Jupyter's inline figures."""
    os.environ.setdefault("NUMBA_CACHE_DIR", str(paths.build / "numba-cache"))
    # the kernels keep Jupyter's inline backend, so every figure is stored as an image output;
    # a non-interactive MPLBACKEND (Agg) in this environment would leave the figure cells empty
    os.environ.pop("MPLBACKEND", None)


def _update_in_place(nb: Path, paths: Paths, executed_dir: Path, results_dir: Path, timeout: int | None) -> None:
    """Execute the committed notebook as it stands and write it back with its outputs; copy its
    results JSON beside it into ``results/quick``."""
    import nbformat

    tmp = executed_dir / f"{nb.stem}.ipynb"
    execute(nb, tmp, None, timeout)
    out = nbformat.read(tmp, as_version=4)
    strip_run_metadata(out)
    finish_progress_lines(out)
    nbformat.write(out, nb)
    default_results = paths.build / "results"  # the committed defaults write to ../build/results
    if default_results.resolve() != results_dir:
        src = default_results / f"{nb.stem}.json"
        if src.exists():
            atomic_write_bytes(src.read_bytes(), results_dir / src.name)
    src = results_dir / f"{nb.stem}.json"
    if src.exists():
        atomic_write_bytes(src.read_bytes(), paths.committed_quick / src.name)


def _run_one(nb: Path, args, paths: Paths, results_dir: Path, executed_dir: Path, figures_dir: Path) -> dict:
    stale = results_dir / f"{nb.stem}.json"
    if stale.exists():
        stale.unlink()  # a failed run must not report the claims of an earlier one
    run = {"notebook": nb.stem, "status": "ok", "seconds": 0.0}
    t0 = time.perf_counter()
    try:
        if args.update_notebooks:
            _update_in_place(nb, paths, executed_dir, results_dir, args.timeout)
        else:
            params = {"PROFILE": args.profile, "SEED": args.seed, "DEVICE": args.device,
                      "RESULTS_DIR": str(results_dir), "FIGURES_DIR": str(figures_dir)}
            execute(nb, executed_dir / f"{nb.stem}.ipynb", params, args.timeout)
    except Exception as e:  # carry on past a failing notebook
        run["status"] = "failed"
        run["error"] = f"{type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}"
        print(f"  FAILED: {run['error']}", file=sys.stderr, flush=True)
    run["seconds"] = time.perf_counter() - t0
    print(f"  {run['status']} in {run['seconds']:.0f} s", flush=True)
    return run


def main(argv: list[str] | None = None) -> int:
    ap = _parser()
    args = ap.parse_args(argv)
    _check_args(ap, args)
    paths = Paths.find(args.root)
    nbs = select_notebooks(args.names, paths.notebooks)
    if not nbs:
        print("no notebooks found in", paths.notebooks, file=sys.stderr)
        return 1
    _prepare_environment(paths)
    if args.seeds is not None or args.scheduler is not None:
        return _main_dask(args, nbs, paths)
    results_dir = Path(args.results_dir or paths.build / "results").resolve()
    executed_dir = Path(args.executed_dir or paths.build / "executed").resolve()
    figures_dir = Path(args.figures_dir or paths.build / "figures").resolve()
    results_dir.mkdir(parents=True, exist_ok=True)
    runs = []
    for i, nb in enumerate(nbs, 1):
        print(f"[{i}/{len(nbs)}] {nb.stem} ({args.profile}, seed {args.seed})", flush=True)
        runs.append(_run_one(nb, args, paths, results_dir, executed_dir, figures_dir))
    report = write_report(results_dir, runs, paths.build / "REPORT.md", args.profile, args.seed)
    if args.update_notebooks and paths.committed_quick.is_dir():
        write_claims_report(paths.committed_quick, paths.committed_quick / "REPORT.md",
                            "Claims report: the committed notebooks (quick profile, seed 0)")
        update_readme_table(paths.root)
        from .lessons import write as write_lessons
        write_lessons(paths.root)  # the course table's verdict counts and runtimes, the syllabus, the cards
    atomic_write_bytes(json.dumps(runs, indent=2).encode(), paths.build / "runs.json")
    print(f"wrote {report}")
    failed = [r["notebook"] for r in runs if r["status"] != "ok"]
    if failed:
        print(f"{len(failed)} notebook(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _main_dask(args, nbs: list[Path], paths: Paths) -> int:
    import shutil

    from .fanout import fan_out, provenance, write_aggregate_report

    seeds = args.seeds if args.seeds is not None else [args.seed]
    prov = provenance(paths.root)
    client = None
    if args.scheduler is not None:
        from distributed import Client

        client = Client(args.scheduler, timeout="30s")
    t0 = time.perf_counter()
    try:
        records = fan_out(nbs, args.profile, seeds, args.device, Path(args.tasks_dir or paths.build).resolve(), client,
                          timeout=args.timeout)
    finally:
        if client is not None:
            client.close()
    results_dir = Path(args.results_dir or paths.build / "results").resolve()
    report = write_aggregate_report(records, results_dir, args.profile, paths.root, time.perf_counter() - t0, prov)
    if results_dir == (paths.root / "results" / "full").resolve():
        update_readme_table(paths.root)
    figures = Path(args.figures_dir or paths.build / "figures").resolve()
    for nb in nbs:  # the figures of each notebook's first seed
        ok = sorted((r for r in records if r["notebook"] == nb.stem and r["status"] == "ok"), key=lambda r: r["seed"])
        src = Path(ok[0]["folder"]) / "figures" if ok else None
        if src is not None and src.is_dir():
            figures.mkdir(parents=True, exist_ok=True)
            for png in src.glob("*.png"):
                shutil.copy2(png, figures / png.name)
    skipped = sum(bool(r.get("skipped")) for r in records)
    failed = [f"{r['notebook']} seed {r['seed']}" for r in records if r["status"] != "ok"]
    print(f"{len(records)} tasks ({skipped} already done); wrote {report}")
    if failed:
        print(f"{len(failed)} task(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
