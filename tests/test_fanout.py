"""The Dask fan-out: results come back, seeds aggregate, finished tasks are skipped, a lost task is
re-run, a failing notebook is reported without stopping the others, and an existing cluster works."""

import json
import os
import subprocess
import sys
import time

import pytest

from sparsekit.course import execute, fanout, run
from sparsekit.verdicts import decide

pytestmark = pytest.mark.slow


def args(tmp_path, names, *extra):
    return [*names, "--root", str(tmp_path), "--results-dir", str(tmp_path / "results"),
            "--tasks-dir", str(tmp_path / "build"),
            "--figures-dir", str(tmp_path / "figures"), *extra]


def test_local_cluster_runs_aggregates_skips_and_resumes(tmp_path, nbdir, capsys):
    code = run.main(args(tmp_path, ["50", "51"], "--seeds", "0", "1"))
    assert code == 1  # the broken notebook failed ...
    err = capsys.readouterr().err
    assert "51_broken seed 0" in err and "51_broken seed 1" in err
    res = tmp_path / "results"
    for seed in (0, 1):  # ... and the other one still ran, both seeds
        assert json.loads((res / "50_ok" / f"seed{seed}.json").read_text())["seeds"] == [seed]
    report = (res / "REPORT.md").read_text()
    assert ("| T1 | seed is an int | int | 0: reproduced (exact rule); 1: reproduced (exact rule) | **reproduced** | "
            "exact rule (2 of 2 runs reproduced it) |") in report
    assert "**failed**, seed 0: cell 2 of the executed notebook: RuntimeError: boom" in report
    agg = json.loads((res / "aggregate.json").read_text())
    assert agg["notebooks"]["50_ok"]["claims"]["T1"]["verdict"] == "reproduced"
    assert agg["notebooks"]["50_ok"]["seeds"] == [0, 1]
    assert agg["notebooks"]["50_ok"]["provenance"]["versions"]["python"]

    # a second run skips the finished tasks (the failed ones are tried again)
    run.main(args(tmp_path, ["50"], "--seeds", "0", "1"))
    assert "2 tasks (2 already done)" in capsys.readouterr().out
    # a task that was killed midway left no done marker: only it runs again
    done = sorted((tmp_path / "build" / "tasks" / "50_ok").glob("quick-seed1-*/done.json"))
    done[0].unlink()
    run.main(args(tmp_path, ["50"], "--seeds", "0", "1"))
    assert "2 tasks (1 already done)" in capsys.readouterr().out


def test_a_changed_notebook_is_a_new_task(tmp_path, nbdir):
    nb = nbdir / "50_ok.ipynb"
    k1 = fanout.task_key(nb, "quick", 0, "pkg")
    assert k1 == fanout.task_key(nb, "quick", 0, "pkg")
    assert k1 != fanout.task_key(nb, "quick", 1, "pkg") and k1 != fanout.task_key(nb, "full", 0, "pkg")
    assert k1 != fanout.task_key(nb, "quick", 0, "pkg2")
    nb.write_text(nb.read_text().replace("seed is an int", "seed is an integer"))
    assert fanout.task_key(nb, "quick", 0, "pkg") != k1


def _record(base, seeds, values, bar=0.0):
    d = decide(values, bar).to_dict()
    claim = {"id": "A", "statement": "s", "paper": "p", "ours": "o", "verdict": d["verdict"], "decision": d}
    return {"notebook": "x", "seed": base, "status": "ok", "seconds": 1.0,
            "results": {"seeds": seeds, "claims": [claim]}}


def test_aggregate_pools_the_distinct_seeds_of_every_base_seed():
    recs = [_record(0, [0, 1, 2], [0.3, -0.1, 0.5]), _record(1, [3, 4, 5], [0.4, 0.2, 0.6]),
            _record(2, [6, 7, 8], [0.25, 0.45, 0.1])]
    agg = fanout.aggregate(recs)["x"]
    a = agg["claims"]["A"]
    assert agg["seeds"] == list(range(9)) and agg["base_seeds"] == [0, 1, 2]
    assert a["verdicts"][0] == "inconclusive"  # one base seed alone cannot tell
    assert a["verdict"] == "reproduced" and a["decision"]["k"] == 9  # nine distinct seeds can
    assert a["numbers"].endswith("vs bar 0 (K=9)") and "[" in a["per_seed_numbers"][0]
    text = fanout.aggregate_markdown(fanout.aggregate(recs), "full")
    assert "| A | s | p | 0: inconclusive (" in text and "(K=9) |" in text  # a single base seed's row shows numbers


def test_aggregate_refuses_to_pool_overlapping_seeds():
    recs = [_record(0, [0, 1, 2], [0.3, 0.1, 0.5]), _record(1, [1, 2, 3], [0.4, 0.2, 0.6])]  # old windows
    a = fanout.aggregate(recs)["x"]["claims"]["A"]
    assert a["verdict"] == "not pooled" and "share seeds" in a["note"]


def test_local_cluster_size():
    assert fanout.local_cluster_size(2) == (2, 1)
    assert fanout.local_cluster_size(16, threads_per_task=4) == (4, 1)
    assert fanout.local_cluster_size(1, threads_per_task=4) == (1, 1)
    assert [fanout.default_threads_per_task(n, cores=2) for n in (1, 2, 5)] == [2, 1, 1]
    assert fanout.default_threads_per_task(3, cores=16) == 5
    with pytest.raises(ValueError, match="n_tasks"):
        fanout.default_threads_per_task(0, cores=2)


def test_an_existing_scheduler_and_worker(tmp_path, nbdir, capsys):
    sched_file = tmp_path / "scheduler.json"
    path = os.pathsep.join(filter(None, [str(run.repo_root()), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    bindir = os.path.dirname(sys.executable)
    sched = subprocess.Popen([os.path.join(bindir, "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                              "--no-dashboard", "--scheduler-file", str(sched_file)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = None
    try:
        for _ in range(100):
            if sched_file.exists() and sched_file.stat().st_size:
                break
            time.sleep(0.2)
        address = json.loads(sched_file.read_text())["address"]
        worker = subprocess.Popen([os.path.join(bindir, "dask"), "worker", address, "--nthreads", "1",
                                   "--nworkers", "1", "--no-dashboard"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert run.main(args(tmp_path, ["50"], "--scheduler", address, "--seeds", "3")) == 0
        out = json.loads((tmp_path / "results" / "50_ok" / "seed3.json").read_text())
        assert out["seeds"] == [3]
    finally:
        for p in (worker, sched):
            if p is not None:
                p.terminate()
                p.wait(timeout=30)


def test_reports_of_separate_runs_merge_each_with_its_provenance(tmp_path):
    def rec(nb, seed):
        return {"notebook": nb, "seed": seed, "status": "ok", "seconds": 2.0,
                "results": {"claims": [{"id": "A", "statement": "s", "paper": "p", "ours": "1.0",
                                        "verdict": "reproduced"}]}}

    prov = lambda commit: {"commit": commit, "dirty": False, "versions": {"python": "3.11"}, "machine": "m",
                           "written": "today"}
    fanout.write_aggregate_report([rec("00_a", 0)], tmp_path, "full", tmp_path, 10.0, prov("aaa"))
    fanout.write_aggregate_report([rec("01_b", 0), rec("01_b", 1)], tmp_path, "full", tmp_path, 20.0, prov("bbb"))
    agg = json.loads((tmp_path / "aggregate.json").read_text())["notebooks"]
    assert list(agg) == ["00_a", "01_b"]
    assert agg["00_a"]["provenance"]["commit"] == "aaa" and agg["01_b"]["provenance"]["commit"] == "bbb"
    report = (tmp_path / "REPORT.md").read_text()
    assert "| 00_a | 0 |  | 0 | 2 | 1 / 0 / 0 / 0 | `aaa`, today, 10 s |" in report
    assert "| 01_b | 0, 1 |  | 0 | 2, 2 | 1 / 0 / 0 / 0 | `bbb`, today, 20 s |" in report
    # another base seed of the same commit pools in; a rerun at another commit replaces the entry
    fanout.write_aggregate_report([rec("01_b", 2)], tmp_path, "full", tmp_path, 20.0, prov("bbb"))
    agg = json.loads((tmp_path / "aggregate.json").read_text())["notebooks"]
    assert agg["01_b"]["base_seeds"] == [0, 1, 2]
    fanout.write_aggregate_report([rec("00_a", 3)], tmp_path, "full", tmp_path, 5.0, prov("ccc"))
    agg = json.loads((tmp_path / "aggregate.json").read_text())["notebooks"]
    assert agg["00_a"]["base_seeds"] == [3] and agg["00_a"]["provenance"]["commit"] == "ccc"
    assert not (tmp_path / "00_a" / "seed0.json").exists()
    assert agg["01_b"]["provenance"]["commit"] == "bbb"
    # another profile's report is not mixed in
    fanout.write_aggregate_report([rec("02_c", 0)], tmp_path, "quick", tmp_path, 1.0, prov("ddd"))
    assert list(json.loads((tmp_path / "aggregate.json").read_text())["notebooks"]) == ["02_c"]


def test_a_task_runs_its_kernel_without_the_nannys_malloc_trim(tmp_path, monkeypatch):
    seen = {}

    def fake_execute(nb, out, params, timeout):  # records the environment the kernel would inherit
        seen.update(os.environ)
        out.parent.mkdir(parents=True, exist_ok=True)
        (out.parent / f"{nb.stem}.json").write_text(json.dumps({"claims": []}))

    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")  # what distributed's nanny sets on its workers
    monkeypatch.setattr(execute, "execute", fake_execute)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        monkeypatch.setenv(var, "9")  # restored after the test
    record = fanout.run_task(str(tmp_path / "00_demo.ipynb"), "quick", 0, "cpu", str(tmp_path / "task"), threads=2)
    assert record["status"] == "ok"
    assert "MALLOC_TRIM_THRESHOLD_" not in seen
    assert seen["OMP_NUM_THREADS"] == "2" and seen["NUMBA_NUM_THREADS"] == "2"
