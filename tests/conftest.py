import os

# CUDA kernels are tested on the CPU through Numba's simulator unless a real GPU run is asked for.
if os.environ.get("SPARSEKIT_REAL_CUDA") != "1":
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import torch  # noqa: E402

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

import pytest  # noqa: E402


@pytest.fixture()
def nbdir(tmp_path, monkeypatch):
    """A notebooks folder with one good and one failing notebook, and the runner pointed at it."""
    from test_run import make_nb

    from sparsekit import run

    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    make_nb(nbdir / "50_ok.ipynb")
    make_nb(nbdir / "51_broken.ipynb", fail=True)
    monkeypatch.setattr(run, "NOTEBOOKS", nbdir)
    monkeypatch.setattr(run, "BUILD", tmp_path / "build")
    return nbdir
