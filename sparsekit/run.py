"""Run the notebooks headless and gather their claims into build/REPORT.md.

    python -m sparsekit.run                      # every notebook, quick profile, seed 0
    python -m sparsekit.run --profile full 01    # one notebook (by number, name or part of it)
    python -m sparsekit.run --update-notebooks   # refresh the committed notebooks' quick outputs
    python -m sparsekit.run --profile full --seeds 0 1 2 --results-dir results/full   # on Dask
    python -m sparsekit.run --seeds 0 1 --scheduler tcp://host:8786 01                 # an existing cluster

Each notebook runs under papermill with PROFILE, SEED, DEVICE, RESULTS_DIR and FIGURES_DIR injected,
into build/executed/. A failing notebook is reported and the run carries on; the exit status is 1
if any notebook failed. With ``--seeds`` (or ``--scheduler``) the (notebook, seed) tasks fan out on
Dask instead, resumably, and the report aggregates the seeds (see ``sparsekit.fanout``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys
import time
from pathlib import Path

from .report import PROFILES, load_results, md_cell, update_readme_table, write_claims_report
from .utils import DEVICES, atomic_write_bytes

__all__ = [
    "ROOT",
    "NOTEBOOKS",
    "BUILD",
    "COMMITTED_QUICK",
    "available_notebooks",
    "select_notebooks",
    "strip_run_metadata",
    "finished_line",
    "finish_progress_lines",
    "execute",
    "write_report",
    "main",
]


def _find_root() -> Path:
    """The checkout holding notebooks/: the working directory if it has one, else the package's parent."""
    cwd = Path.cwd()
    return cwd if (cwd / "notebooks").is_dir() else Path(__file__).resolve().parent.parent


ROOT = _find_root()
NOTEBOOKS = ROOT / "notebooks"
BUILD = ROOT / "build"
COMMITTED_QUICK = ROOT / "results" / "quick"  # the committed notebooks' results and their claims report


def available_notebooks(folder: Path | None = None) -> list[Path]:
    return sorted(p for p in (folder or NOTEBOOKS).glob("[0-9][0-9]_*.ipynb"))


def select_notebooks(names: list[str], folder: Path | None = None) -> list[Path]:
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


def strip_run_metadata(nb) -> None:
    """Drop papermill's per-cell timing and the execution timestamps, which change on every run,
    and any stored widget state (the notebooks draw no widgets; a viewer would fetch a widget
    manager from a CDN to show nothing)."""
    nb.metadata.pop("papermill", None)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if "tags" in cell.metadata and not cell.metadata["tags"]:
            cell.metadata.pop("tags")


def finished_line(text: str) -> str:
    """What a terminal shows of ``text``: each line keeps what follows its last carriage return.

    >>> finished_line("\\rseeds:   0%|  | 0/3\\rseeds: 100%|##| 3/3\\nmean 0.93\\n")
    'seeds: 100%|##| 3/3\\nmean 0.93\\n'
    """
    return "\n".join(line.rsplit("\r", 1)[-1] if "\r" in line.rstrip("\r") else line.rstrip("\r")
                     for line in text.split("\n"))


def finish_progress_lines(nb) -> None:
    """Stored stream outputs keep the finished line of each progress bar, not every redraw.

    Consecutive chunks of one stream are joined first (the kernel sends each redraw on its own),
    then each line keeps what follows its last carriage return.
    """
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        merged = []
        for out in cell.get("outputs", []):
            prev = merged[-1] if merged else None
            if (out.get("output_type") == "stream" and prev is not None and prev.get("output_type") == "stream"
                    and prev.get("name") == out.get("name")):
                prev["text"] += out["text"]
            else:
                merged.append(out)
        for out in merged:
            if out.get("output_type") == "stream" and "\r" in out.get("text", ""):
                out["text"] = finished_line(out["text"])
        cell["outputs"] = merged


def execute(nb_path: Path, out_path: Path, parameters: dict | None, timeout: int | None = None) -> float:
    """Execute one notebook with papermill; returns wall seconds. Raises on a failing cell."""
    import papermill as pm

    t0 = time.perf_counter()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(
        str(nb_path),
        str(out_path),
        parameters=parameters or None,
        kernel_name="python3",
        cwd=str(nb_path.parent),
        progress_bar=True,
        log_output=False,
        execution_timeout=timeout,
    )
    return time.perf_counter() - t0


def write_report(results_dir: Path, runs: list[dict], path: Path, profile: str, seed: int) -> Path:
    """build/REPORT.md: one row per claim (paper vs ours, verdict) and the runtime of each notebook."""
    results = {r["notebook"]: r for r in load_results(results_dir)}
    lines = [
        "# sparsekit notebooks: report",
        "",
        f"Profile `{profile}`, seed {seed}, written {_dt.datetime.now().strftime('%Y-%m-%d %H:%M')}.",
        "",
        "| notebook | status | runtime (s) | claims: reproduced / not / not tested |",
        "|---|---|---|---|",
    ]
    for run in runs:
        res = results.get(run["notebook"])
        counts = "-"
        if res is not None and run["status"] == "ok":
            vs = [c["verdict"] for c in res["claims"]]
            counts = f"{vs.count('reproduced')} / {vs.count('not reproduced')} / {vs.count('not tested')}"
        lines.append(f"| {run['notebook']} | {run['status']} | {run['seconds']:.0f} | {counts} |")
    lines += ["", "| notebook | claim | statement | paper | ours | verdict |", "|---|---|---|---|---|---|"]
    for run in runs:
        res = results.get(run["notebook"])
        if res is None or run["status"] != "ok":
            lines.append(f"| {run['notebook']} | - | notebook failed: {md_cell(run.get('error', ''))} | | | |")
            continue
        for c in res["claims"]:
            lines.append(
                f"| {run['notebook']} | {c['id']} | {md_cell(c['statement'])} | {md_cell(c['paper'])} | "
                f"{md_cell(c['ours'])} | **{c['verdict']}** |"
            )
    return atomic_write_bytes(("\n".join(lines) + "\n").encode(), path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sparsekit.run", description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help="notebooks to run (number, name, or part of a name); default all")
    ap.add_argument("--profile", default="quick", help=f"one of {PROFILES} (default quick)")
    ap.add_argument("--seed", type=int, default=0, help="base seed passed to every notebook (default 0)")
    ap.add_argument("--device", default="auto", help=f"one of {DEVICES} (default auto)")
    ap.add_argument("--results-dir", default=str(BUILD / "results"))
    ap.add_argument("--figures-dir", default=str(BUILD / "figures"))
    ap.add_argument("--executed-dir", default=str(BUILD / "executed"))
    ap.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds (default none)")
    ap.add_argument("--seeds", type=int, nargs="+", default=None,
                    help="run every notebook with each of these seeds as tasks on Dask (resumable; aggregated report)")
    ap.add_argument("--scheduler", default=None,
                    help="address of a running Dask scheduler (default: a LocalCluster sized to this machine)")
    ap.add_argument("--tasks-dir", default=str(BUILD),
                    help="where the Dask tasks keep their executed notebooks and done markers (default build/)")
    ap.add_argument(
        "--update-notebooks", action="store_true",
        help="execute the committed notebooks as they stand (quick profile, seed 0) and write them back in place",
    )
    args = ap.parse_args(argv)
    if args.profile not in PROFILES:
        ap.error(f"unknown profile {args.profile!r}; choose one of {PROFILES}")
    if args.device not in DEVICES:
        ap.error(f"unknown device {args.device!r}; choose one of {DEVICES}")
    if args.update_notebooks and (args.profile != "quick" or args.seed != 0):
        ap.error("--update-notebooks stores the quick profile with seed 0; drop --profile/--seed")
    nbs = select_notebooks(args.names)
    if not nbs:
        print("no notebooks found in", NOTEBOOKS, file=sys.stderr)
        return 1
    if args.seeds is not None or args.scheduler is not None:
        if args.update_notebooks:
            ap.error("--update-notebooks runs locally and stores seed 0; drop --seeds/--scheduler")
        return _main_dask(args, nbs)

    results_dir, executed_dir = Path(args.results_dir).resolve(), Path(args.executed_dir).resolve()
    results_dir.mkdir(parents=True, exist_ok=True)
    # the kernels keep Jupyter's inline backend, so every figure is stored as an image output;
    # a non-interactive MPLBACKEND (Agg) in this environment would leave the figure cells empty
    os.environ.pop("MPLBACKEND", None)
    runs = []
    for i, nb in enumerate(nbs, 1):
        print(f"[{i}/{len(nbs)}] {nb.stem} ({args.profile}, seed {args.seed})", flush=True)
        stale = results_dir / f"{nb.stem}.json"
        if stale.exists():
            stale.unlink()  # a failed run must not report the claims of an earlier one
        run = {"notebook": nb.stem, "status": "ok", "seconds": 0.0}
        t0 = time.perf_counter()
        try:
            if args.update_notebooks:
                import nbformat

                tmp = executed_dir / f"{nb.stem}.ipynb"
                execute(nb, tmp, None, args.timeout)
                out = nbformat.read(tmp, as_version=4)
                strip_run_metadata(out)
                finish_progress_lines(out)
                nbformat.write(out, nb)
                # the committed defaults write to ../build/results; gather from there
                default_results = BUILD / "results"
                if default_results.resolve() != results_dir:
                    src = default_results / f"{nb.stem}.json"
                    if src.exists():
                        atomic_write_bytes(src.read_bytes(), results_dir / src.name)
                src = results_dir / f"{nb.stem}.json"
                if src.exists():  # the committed notebook's own results, beside it in the repository
                    atomic_write_bytes(src.read_bytes(), COMMITTED_QUICK / src.name)
            else:
                params = {
                    "PROFILE": args.profile,
                    "SEED": args.seed,
                    "DEVICE": args.device,
                    "RESULTS_DIR": str(results_dir),
                    "FIGURES_DIR": str(Path(args.figures_dir).resolve()),
                }
                execute(nb, executed_dir / f"{nb.stem}.ipynb", params, args.timeout)
        except Exception as e:  # carry on past a failing notebook
            run["status"] = "failed"
            run["error"] = f"{type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}"
            print(f"  FAILED: {run['error']}", file=sys.stderr, flush=True)
        run["seconds"] = time.perf_counter() - t0
        print(f"  {run['status']} in {run['seconds']:.0f} s", flush=True)
        runs.append(run)

    report = write_report(results_dir, runs, BUILD / "REPORT.md", args.profile, args.seed)
    if args.update_notebooks and COMMITTED_QUICK.is_dir():
        write_claims_report(COMMITTED_QUICK, COMMITTED_QUICK / "REPORT.md",
                            "Claims report: the committed notebooks (quick profile, seed 0)")
        update_readme_table(ROOT)
    atomic_write_bytes(json.dumps(runs, indent=2).encode(), BUILD / "runs.json")
    print(f"wrote {report}")
    failed = [r["notebook"] for r in runs if r["status"] != "ok"]
    if failed:
        print(f"{len(failed)} notebook(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _main_dask(args, nbs: list[Path]) -> int:
    import shutil

    from .fanout import fan_out, provenance, write_aggregate_report

    seeds = args.seeds if args.seeds is not None else [args.seed]
    prov = provenance(ROOT)
    client = None
    if args.scheduler is not None:
        from distributed import Client

        client = Client(args.scheduler, timeout="30s")
    t0 = time.perf_counter()
    try:
        records = fan_out(nbs, args.profile, seeds, args.device, Path(args.tasks_dir).resolve(), client,
                          timeout=args.timeout)
    finally:
        if client is not None:
            client.close()
    results_dir = Path(args.results_dir).resolve()
    report = write_aggregate_report(records, results_dir, args.profile, ROOT, time.perf_counter() - t0, prov)
    if results_dir == (ROOT / "results" / "full").resolve():
        update_readme_table(ROOT)
    figures = Path(args.figures_dir).resolve()
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
