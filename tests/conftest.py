import os

# CUDA kernels are tested on the CPU through Numba's simulator unless a real GPU run is asked for.
if os.environ.get("SPARSEKIT_REAL_CUDA") != "1":
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import torch  # noqa: E402

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

import pytest  # noqa: E402


@pytest.fixture()
def nbdir(tmp_path):
    """A checkout in ``tmp_path`` (``--root`` for the runner) whose notebooks folder holds one good
    and one failing notebook."""
    from test_run import make_nb

    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    (tmp_path / "pyproject.toml").write_text("")
    make_nb(nbdir / "50_ok.ipynb")
    make_nb(nbdir / "51_broken.ipynb", fail=True)
    return nbdir
