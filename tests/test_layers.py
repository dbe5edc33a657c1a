"""The house: three layers a newcomer sees from the folder names, imports flowing one way, no cycle,
and a library that changes nothing when it is imported.

- the library, ``sparsekit/`` outside ``studies/`` and ``course/``: imports only itself;
- the course, ``sparsekit/course/``: the library and itself;
- the studies, ``sparsekit/studies/``: the library, the course and the study itself - never
  another notebook's study.
"""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "sparsekit"


def module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every sparsekit module ``path`` imports (at the top or inside functions), resolved to dotted names."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != "sparsekit":
                continue
            for alias in node.names:  # "from sparsekit import masks" imports the module sparsekit.masks
                sub = f"{mod}.{alias.name}"
                out.add(sub if (PKG.parent / Path(*sub.split("."))).with_suffix(".py").exists()
                        or (PKG.parent / Path(*sub.split("."))).is_dir() else mod)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "sparsekit"}
    return out - {name}


def layer(mod: str) -> str:
    parts = mod.split(".")
    if len(parts) > 1 and parts[1] == "course":
        return "course"
    if len(parts) > 1 and parts[1] == "studies":
        return "studies"
    return "library"


def study_of(mod: str) -> str | None:
    parts = mod.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "studies" else None


ALLOWED = {"library": {"library"}, "course": {"library", "course"}, "studies": {"library", "course", "studies"}}


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in PKG.rglob("*.py")}


def test_imports_flow_one_way():
    bad = []
    for mod, deps in graph().items():
        for dep in deps:
            if dep == "sparsekit" and mod != "sparsekit":  # `import sparsekit` alone: the lazy package
                continue
            if layer(dep) not in ALLOWED[layer(mod)]:
                bad.append(f"{mod} ({layer(mod)}) imports {dep} ({layer(dep)})")
            elif layer(mod) == layer(dep) == "studies" and study_of(dep) not in (None, study_of(mod)):
                bad.append(f"{mod} imports another notebook's study {dep}")
    assert not bad, "imports against the direction library <- course <- studies:\n" + "\n".join(sorted(bad))


def test_every_sparsekit_import_names_a_module_that_exists():
    g = graph()
    missing = sorted(f"{mod} imports {dep}" for mod, deps in g.items() for dep in deps
                     if dep not in g and dep != "sparsekit")
    assert not missing, "imports of sparsekit modules that do not exist:\n" + "\n".join(missing)


def test_no_import_cycle():
    g = graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node, path):
        state[node] = 1
        for dep in g.get(node, ()):
            if dep not in g:
                continue
            if state.get(dep) == 1:
                cycles.append(" -> ".join(path[path.index(dep):] + [dep]) if dep in path else f"{node} -> {dep}")
            elif state.get(dep) is None:
                visit(dep, path + [dep])
        state[node] = 2

    for n in sorted(g):
        if state.get(n) is None:
            visit(n, [n])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_checker_sees_a_wrong_import(tmp_path, monkeypatch):
    """The rules above fail on what they forbid (a library module importing the course, a cycle)."""
    assert layer("sparsekit.course.report") == "course" and layer("sparsekit.masks") == "library"
    assert "course" not in ALLOWED["library"] and "studies" not in ALLOWED["course"]
    assert study_of("sparsekit.studies.rnn_pruning.own") == "rnn_pruning"
    fake = tmp_path / "sparsekit"
    fake.mkdir()
    (fake / "a.py").write_text("from .course import report\nfrom . import b\n")
    (fake / "b.py").write_text("from . import a\n")
    monkeypatch.setattr(sys.modules[__name__], "PKG", fake)
    assert "sparsekit.course" in imports_of(fake / "a.py") or "sparsekit.course.report" in imports_of(fake / "a.py")
    with pytest.raises(AssertionError, match="cycle"):
        test_no_import_cycle()


PROBE = """
import json, os, sys
before_env = dict(os.environ)
import pandas as pd
before_pd = {k: pd.get_option(k) for k in ("display.max_columns", "display.max_rows", "display.width",
                                          "display.max_colwidth")}
fds = sorted(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else []
import sparsekit
for name in sparsekit.__all__:
    getattr(sparsekit, name)
import sparsekit.kernels.cuda, sparsekit.control.milp, sparsekit.control.planners
after_pd = {k: pd.get_option(k) for k in before_pd}
changed_env = {k for k in set(before_env) | set(os.environ) if before_env.get(k) != os.environ.get(k)}
print(json.dumps({"env": sorted(changed_env), "pd": before_pd != after_pd,
                  "fd1": os.readlink("/proc/self/fd/1") if fds else None,
                  "stdout_fd": sys.stdout.fileno(), "masks": hasattr(sparsekit, "masks")}))
"""


def test_import_sparsekit_changes_nothing(tmp_path):
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("NUMBA_CACHE_DIR",)}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, cwd=tmp_path,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["env"] == [], f"importing sparsekit changed environment variables: {got['env']}"
    assert not got["pd"], "importing sparsekit changed pandas display options"
    assert got["stdout_fd"] == 1 and got["masks"]


def test_attribute_access_loads_submodules_and_names_unknown_ones():
    import sparsekit

    assert sparsekit.masks.magnitude_mask is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        sparsekit.nope  # noqa: B018
