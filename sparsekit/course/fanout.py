"""(notebook, profile, seed) tasks fanned out on Dask, resumable, with a report that aggregates seeds.

``python -m sparsekit.course.run --profile full --seeds 0 1 2`` (``make reproduce``) lands here. Each task
executes one notebook with papermill on a Dask worker and returns its results JSON and executed
notebook. The work runs on a ``LocalCluster`` sized to the machine by default, or on any running
Dask cluster given by ``--scheduler ADDRESS`` (dask-jobqueue on Slurm, Kubernetes, a hand-started
``dask scheduler`` + ``dask worker``): the cluster only needs this package and the notebooks.

A task is keyed by (notebook, profile, seed, the notebook's content, the package's version and
source): its folder ``<out>/tasks/<notebook>/<profile>-seed<S>-<key>/`` gets ``done.json`` written
atomically when it finishes, and a re-run skips every task that has one, so an interrupted run
resumes and a changed notebook or package runs again. A failing task reports its notebook, seed
and failing cell and does not stop the others.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
import time
from pathlib import Path

from sparsekit import __version__
from sparsekit.utils import atomic_write_bytes, progress
from sparsekit.verdicts import Decision, pool

from .report import COUNTS_HEADER, counts, markdown_table, md_cell

__all__ = ["task_key", "run_task", "fan_out", "local_cluster_size", "default_threads_per_task", "aggregate",
           "provenance", "write_aggregate_report"]

PACKAGE = Path(__file__).resolve().parent


def _package_digest() -> str:
    h = hashlib.sha256(__version__.encode())
    for p in sorted(PACKAGE.rglob("*.py")):
        h.update(p.relative_to(PACKAGE).as_posix().encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def task_key(notebook: Path, profile: str, seed: int, package: str | None = None) -> str:
    """A short hash of the task's identity: notebook name and content, profile, seed, package."""
    h = hashlib.sha256()
    for part in (notebook.stem, profile, str(int(seed)), package or _package_digest()):
        h.update(part.encode() + b"\0")
    h.update(notebook.read_bytes())
    return h.hexdigest()[:12]


def task_dir(out: Path, notebook: Path, profile: str, seed: int, key: str) -> Path:
    return out / "tasks" / notebook.stem / f"{profile}-seed{seed}-{key}"


def run_task(notebook: str, profile: str, seed: int, device: str, folder: str, threads: int = 1,
             timeout: int | None = None) -> dict:
    """Execute one notebook (on a Dask worker); returns a record with its status, results and timing."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)  # the kernel inherits these: torch and Numba stay in their share
    # Dask's nanny gives its workers MALLOC_TRIM_THRESHOLD_=65536 (distributed's pre-spawn-environ), and
    # the kernel would inherit it: glibc then hands freed memory back to the system at once, and torch,
    # which allocates and frees tensors all the time, trains 1.6-2x slower (measured on a ViT). A
    # notebook must run as fast on a worker as in a terminal, so the kernel gets glibc's default.
    os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    os.environ.pop("MPLBACKEND", None)
    from .execute import execute

    nb, out = Path(notebook), Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    record = {"notebook": nb.stem, "profile": profile, "seed": int(seed), "status": "ok", "seconds": 0.0,
              "folder": str(out), "worker": platform.node()}
    params = {"PROFILE": profile, "SEED": int(seed), "DEVICE": device, "RESULTS_DIR": str(out),
              "FIGURES_DIR": str(out / "figures")}
    t0 = time.perf_counter()
    try:
        execute(nb, out / f"{nb.stem}.ipynb", params, timeout)
        record["results"] = json.loads((out / f"{nb.stem}.json").read_text())
    except Exception as e:  # report the failing cell; the other tasks go on
        cell = getattr(e, "cell_index", None)
        name, value = getattr(e, "ename", type(e).__name__), getattr(e, "evalue", str(e))
        lines = str(value).strip().splitlines()
        where = f"cell {cell} of the executed notebook: " if cell is not None else ""
        record.update(status="failed", error=f"{where}{name}: "
                                             f"{lines[-1] if lines else ''}")
    record["seconds"] = round(time.perf_counter() - t0, 1)
    if record["status"] == "ok":  # only a finished task is recorded as done
        atomic_write_bytes(json.dumps(record, indent=2).encode(), out / "done.json")
    return record


def local_cluster_size(cores: int | None = None, threads_per_task: int = 1) -> tuple[int, int]:
    """(workers, threads per worker): one single-threaded task per core, so torch and Numba inside the
    notebooks (told to use ``threads_per_task`` threads) do not oversubscribe the machine."""
    cores = cores or os.cpu_count() or 1
    return max(1, cores // max(1, threads_per_task)), 1


def default_threads_per_task(n_tasks: int, cores: int | None = None) -> int:
    """Threads each task may use on a machine of ``cores`` cores: the cores shared among the tasks
    that can run at once (one task alone gets the whole machine; more tasks than cores get one each).

    >>> default_threads_per_task(1, cores=2), default_threads_per_task(3, cores=2), default_threads_per_task(2, cores=8)
    (2, 1, 4)
    """
    cores = cores or os.cpu_count() or 1
    if n_tasks < 1:
        raise ValueError(f"n_tasks must be >= 1, got {n_tasks}")
    return max(1, cores // min(cores, n_tasks))


def fan_out(notebooks: list[Path], profile: str, seeds: list[int], device: str, out: Path, client=None,
            timeout: int | None = None, threads_per_task: int | None = None, show_progress: bool = True) -> list[dict]:
    """Run every (notebook, seed) task not finished yet; returns one record per task (skipped ones
    read back from their ``done.json``). ``threads_per_task`` defaults to the local machine's cores
    shared among the tasks to run (``default_threads_per_task``) on the own LocalCluster, and to 1
    on a given ``client``'s cluster."""
    from distributed import Client, LocalCluster, as_completed

    package = _package_digest()
    records, todo = [], []
    for nb in notebooks:
        for seed in seeds:
            folder = task_dir(out, nb, profile, seed, task_key(nb, profile, seed, package))
            done = folder / "done.json"
            if done.exists():
                records.append({**json.loads(done.read_text()), "skipped": True})
            else:
                todo.append((nb, seed, folder))
    if not todo:
        return records
    own = client is None
    if threads_per_task is None:
        threads_per_task = default_threads_per_task(len(todo)) if own else 1
    if own:
        workers, threads = local_cluster_size(threads_per_task=threads_per_task)
        cluster = LocalCluster(n_workers=min(workers, len(todo)), threads_per_worker=threads, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    try:
        futures = [client.submit(run_task, str(nb), profile, seed, device, str(folder), threads_per_task, timeout,
                                 key=f"{nb.stem}-{profile}-seed{seed}-{folder.name[-12:]}", pure=False)
                   for nb, seed, folder in todo]
        bar = progress(total=len(futures), desc=f"{profile} tasks", disable=not show_progress)
        for fut in as_completed(futures):
            rec = fut.result()
            records.append(rec)
            bar.update(1)
            if rec["status"] != "ok":
                bar.write(f"FAILED {rec['notebook']} seed {rec['seed']}: {rec['error']}")
        bar.close()
    finally:
        if own:
            client.close()
            cluster.close()
    return records


def _pooled(cl: dict, seeds_of: dict[int, list[int]]) -> None:
    """Decide one claim once on the distinct seeds of every base seed that ran it (``cl`` in place)."""
    decisions = {b: Decision.from_dict(d) for b, d in cl["decisions"].items() if d}
    if not decisions:  # results written before claims kept their numbers: each base seed's verdict stands
        vs = set(cl["verdicts"].values())
        cl["verdict"] = vs.pop() if len(vs) == 1 else "not pooled"
        cl["note"] = "no stored numbers: decided per base seed"
        return
    overlap = _overlapping({b: seeds_of[b] for b in decisions})
    if overlap:
        cl["verdict"] = "not pooled"
        cl["note"] = f"base seeds {overlap} share seeds: their runs are not independent, each is shown alone"
        return
    try:
        pooled = pool(list(decisions.values())) if decisions else None
    except ValueError as e:  # a run without per-seed values, or rules that differ: shown, not pooled
        cl["verdict"], cl["note"] = "not pooled", str(e)
        return
    if pooled is None:
        cl["verdict"] = "not tested"
        return
    cl["verdict"], cl["numbers"], cl["decision"] = pooled.verdict, pooled.numbers(), pooled.to_dict()


def _overlapping(seeds_of: dict[int, list[int]]) -> list[int]:
    seen: dict[int, int] = {}
    bad = set()
    for base, seeds in seeds_of.items():
        for s in seeds:
            if s in seen and seen[s] != base:
                bad |= {base, seen[s]}
            seen[s] = base
    return sorted(bad)


def aggregate(records: list[dict]) -> dict[str, dict]:
    """Per notebook and claim: each base seed's verdict and numbers, and one verdict decided on the
    pooled distinct seeds of all base seeds (:func:`sparsekit.verdicts.pool`)."""
    out: dict[str, dict] = {}
    for rec in sorted(records, key=lambda r: (r["notebook"], r["seed"])):
        nb = out.setdefault(rec["notebook"], {"base_seeds": [], "seeds": [], "failed": [], "claims": {},
                                              "seconds": {}, "seeds_of": {}})
        nb["seconds"][rec["seed"]] = rec["seconds"]
        if rec["status"] != "ok":
            nb["failed"].append({"seed": rec["seed"], "error": rec.get("error", "")})
            continue
        nb["base_seeds"].append(rec["seed"])
        nb["seeds_of"][rec["seed"]] = list(rec["results"].get("seeds", []))
        for c in rec["results"]["claims"]:
            cl = nb["claims"].setdefault(c["id"], {"statement": c["statement"], "paper": c["paper"], "verdicts": {},
                                                   "ours": {}, "per_seed_numbers": {}, "decisions": {},
                                                   "timed": bool(c.get("timed"))})
            cl["verdicts"][rec["seed"]] = c["verdict"]
            cl["ours"][rec["seed"]] = c["ours"]
            cl["decisions"][rec["seed"]] = c.get("decision")
            cl["per_seed_numbers"][rec["seed"]] = Decision.from_dict(c["decision"]).numbers() if c.get("decision") \
                else ""
    for nb in out.values():
        nb["seeds"] = sorted({s for b in nb["base_seeds"] for s in nb["seeds_of"][b]})
        for cl in nb["claims"].values():
            _pooled(cl, nb["seeds_of"])
    return out


def provenance(root: Path) -> dict:
    """Commit (and whether the tree had uncommitted changes), versions and machine - taken when a run
    starts, so that edits made while it runs do not relabel its results."""
    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    from sparsekit.utils import versions

    return {"commit": git("rev-parse", "--short", "HEAD") or "unknown", "dirty": bool(git("status", "--porcelain")),
            "versions": versions(), "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
            "written": _dt.datetime.now().strftime("%Y-%m-%d %H:%M")}


def write_aggregate_report(records: list[dict], results_dir: Path, profile: str, root: Path,
                           wall_s: float | None = None, prov: dict | None = None) -> Path:
    """``results_dir``: each task's results JSON (``<notebook>/seed<S>.json``), ``aggregate.json`` and
    ``REPORT.md`` with provenance, each base seed's verdict and numbers, and the verdict of the
    pooled distinct seeds.

    Notebooks run at different times share one report: an ``aggregate.json`` already in
    ``results_dir`` (same profile) keeps the notebooks this run did not touch, each with the
    provenance (commit, versions, machine, start, wall time) of the run that produced it; a notebook
    this run touched is re-aggregated over every base seed stored for it."""
    results_dir.mkdir(parents=True, exist_ok=True)
    prov = prov or provenance(root)
    for rec in records:
        if rec["status"] == "ok":
            rec["results"]["provenance"] = {k: prov.get(k) for k in ("commit", "dirty")}
            atomic_write_bytes(json.dumps(rec["results"], indent=2).encode(),
                               results_dir / rec["notebook"] / f"seed{rec['seed']}.json")
    fresh = {(r["notebook"], r["seed"]) for r in records}
    stored = []
    for name in {r["notebook"] for r in records}:  # base seeds run earlier by the same commit pool in
        for path in sorted((results_dir / name).glob("seed*.json")):
            old = _stored_record(path, name)
            if (name, old["seed"]) in fresh:
                continue
            if old["results"].get("provenance", {}).get("commit") == prov.get("commit"):
                stored.append(old)
            else:  # another version of the notebook or package: its numbers are not this run's
                path.unlink()
    agg = aggregate(records + stored)
    for nb in agg.values():
        nb["provenance"] = {**prov, "wall_s": None if wall_s is None else round(wall_s, 1)}
    old_path = results_dir / "aggregate.json"
    if old_path.exists():
        old = json.loads(old_path.read_text())
        if old.get("profile") == profile:
            for name, nb in old.get("notebooks", {}).items():
                if name not in agg:
                    nb.setdefault("provenance", {**old.get("provenance", {}), "wall_s": None})
                    agg[name] = nb
    agg = dict(sorted(agg.items()))
    atomic_write_bytes(json.dumps({"profile": profile, "notebooks": agg}, indent=2, default=str).encode(), old_path)
    return atomic_write_bytes(aggregate_markdown(agg, profile).encode(), results_dir / "REPORT.md")


def _stored_record(path: Path, name: str) -> dict:
    """A finished base seed's results, read back from ``<notebook>/seed<S>.json``, as a task record."""
    res = json.loads(path.read_text())
    return {"notebook": name, "seed": int(path.stem.removeprefix("seed")), "status": "ok",
            "seconds": res.get("runtime_s", 0.0), "results": res}


def aggregate_markdown(agg: dict[str, dict], profile: str) -> str:
    """REPORT.md of an aggregate: provenance per notebook, then per claim each base seed's verdict and
    numbers and the pooled verdict with its numbers."""
    lines = [f"# Claims report: {profile} profile, seeds pooled over base seeds", "",
             "Each claim is decided once on the distinct seeds of every base seed that ran (base seed b runs "
             "seeds b*K .. b*K + K - 1), by the interval rule: *reproduced* if the one-sided 95% bound clears "
             "the bar, *not reproduced* if the other bound misses it, *inconclusive* otherwise. Each base seed's "
             "own verdict is shown beside it. A row's run names its commit (* = with uncommitted changes), start "
             "and wall time.", ""]
    rows = []
    for name, nb in agg.items():
        vs = [cl["verdict"] for cl in nb["claims"].values()]
        runtimes = ", ".join(f"{nb['seconds'][s]:.0f}" for s in sorted(nb["seconds"], key=int))
        p = nb.get("provenance", {})
        run = (f"`{p.get('commit')}`{'*' if p.get('dirty') else ''}, {p.get('written')}"
               + (f", {p['wall_s']:.0f} s" if p.get("wall_s") is not None else ""))
        rows.append([name, ", ".join(map(str, nb.get("base_seeds", nb.get("seeds", [])))),
                     ", ".join(map(str, nb.get("seeds", []))), len(nb["failed"]), runtimes, counts(vs), run])
    lines += markdown_table(("notebook", "base seeds", "seeds pooled", "failed", "runtime per base seed (s)",
                             f"pooled: {COUNTS_HEADER}", "run"), rows)
    machines = {(p["provenance"].get("machine"), json.dumps(p["provenance"].get("versions"), sort_keys=True))
                for p in agg.values() if p.get("provenance")}
    for machine, versions in sorted(machines, key=str):
        v = json.loads(versions)
        lines += ["", f"Machine: {machine}; python {v.get('python')}, torch {v.get('torch')}, numba {v.get('numba')}."]
    for name, nb in agg.items():
        lines += ["", f"## {name}", ""]
        lines += [f"- **failed**, seed {f['seed']}: {md_cell(f['error'])}" for f in nb["failed"]]
        lines += [""] if nb["failed"] else []
        rows = []
        for cid, cl in nb["claims"].items():
            per_seed = "; ".join(f"{s}: {v}" + (f" ({cl.get('per_seed_numbers', {}).get(s)})"
                                                 if cl.get("per_seed_numbers", {}).get(s) else "")
                                 for s, v in cl["verdicts"].items())
            pooled = f"**{cl['verdict']}**" + (" (timed)" if cl.get("timed") else "")
            rows.append([cid, cl["statement"], cl["paper"], per_seed, pooled, cl.get("numbers") or cl.get("note", "")])
        lines += markdown_table(("claim", "statement", "paper", "each base seed", "pooled verdict",
                                 "pooled estimate [L, U] vs bar (K)"), rows)
    return "\n".join(lines) + "\n"
