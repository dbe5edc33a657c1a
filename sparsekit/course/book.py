"""Build the course site (``make book``): static HTML from the committed, executed notebooks.

    python -m sparsekit.course.book                  # writes build/book/html/index.html
    python -m sparsekit.course.book --out site/      # somewhere else

Sphinx with myst-nb renders ``book/`` (intro, syllabus, configuration), the eight notebooks as
they are committed (outputs included; nothing is re-executed) and the claims report
``results/quick/REPORT.md``. Maths is typeset by MathJax 3; a copy is taken from the npm
registry (``npm pack mathjax``) into ``build/vendor`` once, so the site works offline and a
page never waits on a CDN. Without npm the site falls back to the CDN and says so.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from .paths import repo_root

__all__ = ["MATHJAX_VERSION", "mathjax", "stage", "build", "main"]

MATHJAX_VERSION = "3.2.2"


def mathjax(vendor: Path | None = None) -> Path | None:
    """Path of a local ``tex-svg.js`` (fetched with npm on first use into ``vendor``, default the
    checkout's ``build/vendor``), or None when npm cannot get it."""
    vendor = vendor if vendor is not None else repo_root() / "build" / "vendor"
    target = vendor / f"mathjax-{MATHJAX_VERSION}" / "tex-svg.js"
    if target.exists():
        return target
    npm = shutil.which("npm")
    if npm is None:
        return None
    vendor.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([npm, "pack", f"mathjax@{MATHJAX_VERSION}", "--silent"], cwd=vendor,
                          capture_output=True, text=True)
    tgz = vendor / f"mathjax-{MATHJAX_VERSION}.tgz"
    if done.returncode != 0 or not tgz.exists():
        print(f"npm pack mathjax failed ({done.stderr.strip()[:200]}); the site will load MathJax from its CDN",
              file=sys.stderr)
        return None
    with tarfile.open(tgz) as tar:
        member = tar.getmember("package/es5/tex-svg.js")
        data = tar.extractfile(member).read()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    tgz.unlink()
    return target


def stage(src: Path, root: Path | None = None) -> list[str]:
    """Copy the book's pages, the notebooks and the claims report into one Sphinx source folder."""
    root = root if root is not None else repo_root()
    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(root / "book", src, ignore=shutil.ignore_patterns("__pycache__", "_build"))
    notebooks = sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no notebooks in {root / 'notebooks'}")
    (src / "notebooks").mkdir()
    for nb in notebooks:
        # a notebook links the course pages as ../book/x.md (right in a checkout); in the site they sit one up
        (src / "notebooks" / nb.name).write_text(nb.read_text().replace("](../book/", "](../"))
    report = root / "results" / "quick" / "REPORT.md"
    if not report.exists():
        raise FileNotFoundError(f"{report} is missing: run `make update-notebooks` to write it")
    text = report.read_text()
    # the report links notebooks as ../../notebooks/NN.ipynb (right on GitHub); in the site they are pages
    (src / "claims.md").write_text(text.replace("../../notebooks/", "notebooks/"))
    return [nb.stem for nb in notebooks]


def build(out: Path | None = None, root: Path | None = None, quiet: bool = True) -> Path:
    """Stage and build the site; returns the folder holding index.html."""
    root = root if root is not None else repo_root()
    out = Path(out) if out is not None else root / "build" / "book" / "html"
    src = root / "build" / "book" / "src"
    stems = stage(src, root)
    mj = mathjax(root / "build" / "vendor")
    static = src / "_static"
    static.mkdir(exist_ok=True)
    if mj is not None:
        (static / "mathjax").mkdir(exist_ok=True)
        shutil.copy2(mj, static / "mathjax" / "tex-svg.js")
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-j", "1",
           "-d", str(root / "build" / "book" / "doctrees"), str(src), str(out)]
    if quiet:
        cmd.insert(3, "-q")
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    print(f"built {len(stems)} notebooks + intro, syllabus and claims into {out} in {time.perf_counter() - t0:.0f} s"
          + ("" if mj else " (MathJax from its CDN: npm was not available)"))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sparsekit.course.book", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=None, help="output folder (default build/book/html)")
    args = ap.parse_args(argv)
    build(Path(args.out) if args.out else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
