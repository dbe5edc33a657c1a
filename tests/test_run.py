import json
from pathlib import Path

import nbformat
import pytest

from sparsekit.course import run


def make_nb(path: Path, fail: bool = False):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell(
        'PROFILE = "quick"\nSEED = 0\nDEVICE = "auto"\n'
        'RESULTS_DIR = "../build/results"\nFIGURES_DIR = "../build/figures"'
    )
    params.metadata["tags"] = ["parameters"]
    body = (
        "from sparsekit.course.report import Report\n"
        f"r = Report({path.stem!r}, PROFILE, [SEED])\n"
        + ("raise RuntimeError('boom')\n" if fail else "")
        + "r.add('T1', 'seed is an int', 'int', str(type(SEED).__name__), isinstance(SEED, int))\n"
        "r.save(RESULTS_DIR)\nr.print_verdicts()"
    )
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, path)


def test_select_notebooks(tmp_path):
    for n in ("00_tour", "01_lottery_tickets", "02_rnn"):
        (tmp_path / f"{n}.ipynb").write_text("{}")
    pick = lambda names: [p.stem for p in run.select_notebooks(names, tmp_path)]
    assert pick([]) == ["00_tour", "01_lottery_tickets", "02_rnn"]
    assert pick(["01"]) == ["01_lottery_tickets"]
    assert pick(["lottery", "00_tour"]) == ["01_lottery_tickets", "00_tour"]
    with pytest.raises(SystemExit, match="unknown notebook 'zz'.*available: 00_tour"):
        pick(["zz"])


def test_unknown_profile_is_refused(capsys):
    with pytest.raises(SystemExit):
        run.main(["--profile", "medium"])
    assert "unknown profile 'medium'" in capsys.readouterr().err


@pytest.mark.slow
def test_runner_executes_carries_on_and_reports(tmp_path, nbdir):
    results = tmp_path / "build" / "results"
    code = run.main(["--root", str(tmp_path), "--results-dir", str(results),
                     "--executed-dir", str(tmp_path / "build" / "executed"),
                     "--seed", "3"])
    assert code == 1  # one notebook failed
    assert json.loads((results / "50_ok.json").read_text())["seeds"] == [3]
    assert not (results / "51_broken.json").exists()
    report = (tmp_path / "build" / "REPORT.md").read_text()
    assert "| 50_ok | T1 | seed is an int | int | int | exact rule | **reproduced** |" in report
    assert "| 51_broken | failed |" in report
    assert (tmp_path / "build" / "executed" / "50_ok.ipynb").exists()


def test_strip_run_metadata():
    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"x": 1}
    c = nbformat.v4.new_code_cell("1")
    c.metadata["papermill"] = {"duration": 1}
    c.metadata["execution"] = {"iopub.status.busy": "t"}
    c.metadata["tags"] = []
    nb.cells = [c]
    run.strip_run_metadata(nb)
    assert "papermill" not in nb.metadata and dict(c.metadata) == {}


