"""pyproject.toml, environment.yml and binder/requirements.txt must name the same packages."""

import re
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parent.parent
CONDA_TO_PYPI = {"pytorch": "torch"}


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def pyproject_names() -> set[str]:
    d = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {_name(r) for r in d["dependencies"] + d["optional-dependencies"]["dev"]}


def conda_names() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            names |= {_name(r) for r in dep["pip"] if not r.startswith("-")}
        else:
            n = _name(dep.split("=")[0])
            if n not in ("python", "pip"):
                names.add(CONDA_TO_PYPI.get(n, n))
    return names


def binder_names() -> set[str]:
    lines = (ROOT / "binder" / "requirements.txt").read_text().splitlines()
    return {_name(ln) for ln in lines if ln.strip() and not ln.startswith(("#", "-"))}


def test_same_dependencies_everywhere():
    py = pyproject_names()
    assert conda_names() == py, f"environment.yml differs: {conda_names() ^ py}"
    assert binder_names() == py, f"binder/requirements.txt differs: {binder_names() ^ py}"


def test_environment_installs_the_package_and_binder_is_cpu_only():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip
    req = (ROOT / "binder" / "requirements.txt").read_text()
    assert "download.pytorch.org/whl/cpu" in req
    post = (ROOT / "binder" / "postBuild").read_text()
    assert "set -e" in post and "pip install" in post


def test_readme_shows_the_two_commands_first():
    text = (ROOT / "README.md").read_text()
    first_table = text.find("| notebook")
    assert 0 <= text.find("make notebooks") < first_table
    assert 0 <= text.find("make test") < first_table


def test_ci_runs_make_test():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
