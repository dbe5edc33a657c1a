"""Where the course's files are: the repository checkout, found when asked (never at import).

The library needs no checkout. The course does - the notebooks, ``results/``, ``book/``, the thesis
data of notebook 02 - and finds it as the first of: the ``SPARSEKIT_ROOT`` environment variable,
the working directory or one of its parents holding ``notebooks/`` and ``pyproject.toml``, and the
folder above this package (an editable install from a clone).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["repo_root", "is_checkout"]


def is_checkout(path: Path) -> bool:
    """Whether ``path`` looks like the root of a sparsekit notebooks checkout."""
    return (path / "notebooks").is_dir() and (path / "pyproject.toml").is_file()


def repo_root(start: str | os.PathLike | None = None) -> Path:
    """The checkout's root folder; raises ``FileNotFoundError`` naming what was tried."""
    tried = []
    env = os.environ.get("SPARSEKIT_ROOT")
    if env:
        p = Path(env).expanduser().resolve()
        if is_checkout(p):
            return p
        tried.append(f"SPARSEKIT_ROOT={env}")
    here = Path(start).resolve() if start is not None else Path.cwd().resolve()
    for p in (here, *here.parents):
        if is_checkout(p):
            return p
    tried.append(f"{here} and its parents")
    pkg = Path(__file__).resolve().parent.parent.parent
    if is_checkout(pkg):
        return pkg
    tried.append(str(pkg))
    raise FileNotFoundError(
        "the course needs a checkout of the sparsekit notebooks (a folder with notebooks/ and "
        f"pyproject.toml); tried {', '.join(tried)}. Clone the repository, run from inside it, or set "
        "SPARSEKIT_ROOT to its folder.")
