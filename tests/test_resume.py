"""Long runs survive a real kill: an IMP run and a fan-out run killed with SIGKILL resume from their
last checkpoint (the finished rounds, the finished tasks) and end with what an uninterrupted run gives."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")]

IMP_SCRIPT = textwrap.dedent("""
    import sys, time, torch
    from torch import nn
    from sparsekit.prune import IMPConfig, iterative_magnitude_pruning

    checkpoint, out, slow = sys.argv[1], sys.argv[2], float(sys.argv[3])
    x, y = torch.randn(64, 10, generator=torch.Generator().manual_seed(1)), torch.arange(64) % 3

    def make_model():
        return nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 3))

    def train(model, pruner, rnd, on_step):
        opt = pruner.attach(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9))
        for step in range(20):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x + 0.01 * torch.randn_like(x)), y).backward()  # global RNG: seeded
            opt.step()
            on_step(step + 1)
        time.sleep(slow)
        return {"loss": float(nn.functional.cross_entropy(model(x), y))}

    res = iterative_magnitude_pruning(make_model, train, IMPConfig(rounds=5, rate=0.3, seed=3), checkpoint=checkpoint,
                                      progress=False)
    torch.save({"history": res.history, "masks": res.masks, "trained": res.trained,
                "resumed_from": res.resumed_from}, out)
""")


def test_imp_killed_for_real_resumes_to_the_uninterrupted_result(tmp_path):
    script = tmp_path / "imp.py"
    script.write_text(IMP_SCRIPT)
    run = lambda ck, out, slow: [sys.executable, str(script), str(tmp_path / ck), str(tmp_path / out), str(slow)]
    subprocess.run(run("a.pt", "full.pt", 0), check=True, timeout=300)
    proc = subprocess.Popen(run("b.pt", "never.pt", 1.0))
    try:
        deadline = time.time() + 120
        while time.time() < deadline:  # kill once two rounds are checkpointed
            if (tmp_path / "b.pt").exists():
                try:
                    if len(torch.load(tmp_path / "b.pt", weights_only=True)["history"]) >= 2:
                        break
                except Exception:  # noqa: BLE001 - being replaced right now; the rename is atomic
                    pass
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not (tmp_path / "never.pt").exists(), "the run finished before it was killed"
    subprocess.run(run("b.pt", "resumed.pt", 0), check=True, timeout=300)
    full = torch.load(tmp_path / "full.pt", weights_only=True)
    resumed = torch.load(tmp_path / "resumed.pt", weights_only=True)
    assert resumed["resumed_from"] is not None and 2 <= resumed["resumed_from"] < 6
    assert resumed["history"] == full["history"]
    for a, b in zip(full["masks"], resumed["masks"]):
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert all(torch.equal(full["trained"][k], resumed["trained"][k]) for k in full["trained"])


def test_a_fan_out_killed_for_real_skips_its_finished_tasks(tmp_path):
    """``make reproduce`` killed mid-way (its scheduler, workers and kernels): the re-run keeps the
    finished tasks, runs only the rest, and reports the same verdicts as an uninterrupted run."""
    import nbformat

    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    (tmp_path / "pyproject.toml").write_text("")
    for stem, wait in (("60_quick", 0), ("61_slow", 120)):
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        params = nbformat.v4.new_code_cell('PROFILE = "quick"\nSEED = 0\nDEVICE = "auto"\n'
                                           'RESULTS_DIR = "."\nFIGURES_DIR = "."')
        params.metadata["tags"] = ["parameters"]
        body = ("import os, time\nfrom sparsekit.course.report import Report\n"
                f"r = Report({stem!r}, PROFILE, [SEED])\n"
                f"time.sleep({wait} if os.environ.get('SLOW_TASKS') else 0)\n"
                "r.add('T1', 'seed is even', 'even', str(SEED), SEED % 2 == 0)\nr.save(RESULTS_DIR)")
        nb.cells = [params, nbformat.v4.new_code_cell(body)]
        nbformat.write(nb, nbdir / f"{stem}.ipynb")
    cmd = [sys.executable, "-m", "sparsekit.course.run", "60", "61", "--root", str(tmp_path), "--seeds", "0",
           "--results-dir", str(tmp_path / "results"), "--tasks-dir", str(tmp_path / "build")]
    env = {**os.environ, "SLOW_TASKS": "1"}
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tasks = tmp_path / "build" / "tasks"
    try:
        deadline = time.time() + 180
        while time.time() < deadline and not list(tasks.glob("60_quick/*/done.json")):
            time.sleep(0.2)
        assert list(tasks.glob("60_quick/*/done.json")), "the quick task never finished"
        os.killpg(proc.pid, signal.SIGKILL)  # the runner, its Dask cluster and the kernels, all at once
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert not list(tasks.glob("61_slow/*/done.json"))
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)  # no SLOW_TASKS: finishes now
    assert done.returncode == 0, done.stderr[-2000:]
    assert "2 tasks (1 already done)" in done.stdout
    agg = json.loads((tmp_path / "results" / "aggregate.json").read_text())
    assert {n: nb["claims"]["T1"]["verdict"] for n, nb in agg["notebooks"].items()} == {
        "60_quick": "reproduced", "61_slow": "reproduced"}
