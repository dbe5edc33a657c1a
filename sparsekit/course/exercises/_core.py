"""The graders' core: the registry, ``check`` and ``grade``, and the helpers the graders share.

Graded exercises: ``check("00.2", my_function)`` says "correct" or gives a hint, never the answer.

Each exercise has a grader that feeds the student's value or function a few cases (random shapes,
ties, edge cases) and compares the result with an oracle from this package. The hint names what
went wrong on the student's own output ("keeps 12 of 20 weights", "not a bool tensor"), never the
expected value, so the check cell can sit right under the cell the student edits.

Why not otter-grader or nbgrader: otter's ``Notebook.check`` reads test files that must ship
beside the notebook and hold the expected values as plain text, and otter-grader 7 installs
python-on-whales (Docker), nbconvert[webpdf] and ipywidgets into a student's Binder image; nbgrader
needs a course directory and an exchange. An oracle here is a function of the package that the
notebook already teaches, so a grader is a dozen lines and runs offline in CI like any test.

Worked solutions live in ``notebooks/solutions/<notebook>.py``; ``tests/test_exercises.py``
checks that each one passes its grader and that typical wrong answers do not.
"""

from __future__ import annotations

import contextvars
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["Exercise", "EXERCISES", "check", "grade", "register"]

Grader = Callable[[Any], "str | None"]  # None when correct, otherwise a hint


@dataclass(frozen=True)
class Exercise:
    id: str
    title: str
    grader: Grader
    forbid: tuple[str, ...] = ()  # the library functions a "write it yourself" exercise re-implements


EXERCISES: dict[str, Exercise] = {}


def register(id: str, title: str, forbid: tuple[str, ...] = ()):
    """Register a grader; ``forbid`` names the library functions the student's own function must not
    call (the ones the exercise asks them to write)."""
    def add(fn: Grader) -> Grader:
        if id in EXERCISES:
            raise ValueError(f"exercise {id!r} is registered twice")
        EXERCISES[id] = Exercise(id, title, fn, tuple(forbid))
        return fn

    return add


def names_used(fn) -> set[str]:
    """Every global and attribute name the code of ``fn`` (and of functions defined inside it) refers to."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return set()
    out, todo = set(), [code]
    while todo:
        c = todo.pop()
        out |= set(c.co_names) | set(c.co_freevars)  # globals and attributes, and names from an enclosing scope
        todo += [k for k in c.co_consts if hasattr(k, "co_names")]
    return out


def _is_forbidden(obj, forbid: tuple[str, ...]) -> bool:
    """A sparsekit function (or class) named in ``forbid``, however the student's code reached it."""
    return (getattr(obj, "__name__", None) in forbid
            and str(getattr(obj, "__module__", "")).startswith("sparsekit"))


def _calls_the_library(fn, forbid: tuple[str, ...], _seen: set[int] | None = None) -> str | None:
    """A hint when ``fn`` reaches a function it is asked to re-implement: by its name (``M.magnitude_mask``),
    under another name (``f = M.magnitude_mask``), or through a helper of the student's own."""
    seen = _seen if _seen is not None else set()
    if id(fn) in seen:
        return None
    seen.add(id(fn))
    if _is_forbidden(fn, forbid):  # the library function itself, under the student's name
        return (f"write it yourself: your answer is {fn.__name__}, the library function this exercise asks you "
                "to re-implement")
    names = names_used(fn)
    hit = sorted(names & set(forbid))
    scope = dict(getattr(fn, "__globals__", {}))
    for cell_name, cell in zip(getattr(getattr(fn, "__code__", None), "co_freevars", ()), fn.__closure__ or ()):
        try:
            scope[cell_name] = cell.cell_contents
        except ValueError:  # an empty cell
            pass
    for name in sorted(names):
        obj = scope.get(name)
        if obj is None:
            continue
        if _is_forbidden(obj, forbid):
            hit.append(obj.__name__)
        elif callable(obj) and hasattr(obj, "__code__") and not str(getattr(obj, "__module__", "")).startswith(
                ("sparsekit", "torch", "numpy")):
            inner = _calls_the_library(obj, forbid, seen)  # a helper the student wrote
            if inner:
                return inner
    if hit:
        return (f"write it yourself: your function calls {sorted(hit)[0]}, the library function this exercise asks "
                "you to re-implement")
    return None


_CASE_SEED: contextvars.ContextVar[int] = contextvars.ContextVar("case_seed", default=0)
HIDDEN_SEED = 7919  # the teacher's hidden tests draw their random cases with this offset


def _gen(seed: int) -> torch.Generator:
    """The torch generator a grader draws its random cases from (offset in hidden tests)."""
    return torch.Generator().manual_seed(seed + _CASE_SEED.get())


def _rng(seed: int) -> np.random.Generator:
    """The NumPy generator a grader draws its random cases from (offset in hidden tests)."""
    return np.random.default_rng(seed + _CASE_SEED.get())


def grade(id: str, answer: Any, hidden: bool = False, **context: Any) -> tuple[bool | None, str]:
    """``(True, "correct")``, ``(False, hint)``, or ``(None, "not answered yet")`` for ``None``.

    ``context`` carries facts of the notebook's run an answer depends on (a horizon, the machine's
    measured roofline); it is given to the grader, never the expected answer. ``hidden=True`` is the
    teacher's hidden test (``sparsekit.course.kit``): the same grader on random cases drawn with another
    seed, so that an answer fitted to the cases the student's hints describe does not pass."""
    token = _CASE_SEED.set(HIDDEN_SEED if hidden else 0)
    try:
        return _grade(id, answer, **context)
    finally:
        _CASE_SEED.reset(token)


def _grade(id: str, answer: Any, **context: Any) -> tuple[bool | None, str]:
    if id not in EXERCISES:
        raise KeyError(f"unknown exercise {id!r}; known: {', '.join(sorted(EXERCISES))}")
    if answer is None or answer is Ellipsis:
        return None, "not answered yet"
    if callable(answer) and EXERCISES[id].forbid:
        hint = _calls_the_library(answer, EXERCISES[id].forbid)
        if hint:
            return False, f"not yet - {hint}"
    try:
        hint = EXERCISES[id].grader(_StubGuard(answer) if callable(answer) else _plain(answer), **context)
    except _Unanswered:
        return None, "not answered yet (your function returns None: write its body)"
    except Exception as e:  # the student's code failed: say how, as Python would
        hint = f"your answer raised {type(e).__name__}: {e}"
    return (True, "correct") if hint is None else (False, f"not yet - {hint}")


class _Unanswered(Exception):
    pass


class _StubGuard:
    """Calls the student's function; a ``None`` result means the body is still the placeholder."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, *args, **kwargs):
        out = self.fn(*args, **kwargs)
        if out is None:
            raise _Unanswered
        return out


def check(id: str, answer: Any, **context: Any) -> bool | None:
    """Print one line, ``exercise 00.2 (title): correct`` or a hint; return the verdict."""
    ok, text = grade(id, answer, **context)
    print(f"exercise {id} ({EXERCISES[id].title}): {text}")
    return ok


# --------------------------------------------------------------------------- helpers


def _is_bool_like(m, shape) -> str | None:
    if not isinstance(m, torch.Tensor):
        return f"return a torch tensor, got {_kind(m)}"
    if tuple(m.shape) != tuple(shape):
        return f"the mask has shape {tuple(m.shape)}, the weight {tuple(shape)}"
    if m.dtype != torch.bool:
        return f"return a torch.bool mask (True = kept), got dtype {m.dtype}"
    return None


def _weight_cases() -> list[tuple[torch.Tensor, float, str]]:
    g = _gen(1234)
    ties = torch.tensor([[1.0, -1.0, 2.0, 0.5], [0.5, -2.0, 1.0, 0.5]])  # equal magnitudes
    return [
        (torch.randn(4, 6, generator=g), 0.5, "a 4 x 6 weight at sparsity 0.5"),
        (torch.randn(7, 7, generator=g), 0.3, "a 7 x 7 weight at sparsity 0.3"),
        (torch.randn(3, 5, generator=g), 0.9, "a 3 x 5 weight at sparsity 0.9"),
        (torch.randn(1, 9, generator=g), 0.0, "a 1 x 9 weight at sparsity 0"),
        (ties, 0.5, "a weight with equal magnitudes (ties) at sparsity 0.5"),
    ]


def _plain(x):
    """A NumPy scalar or a one-element tensor or array as the Python number it holds; anything else as is."""
    if isinstance(x, torch.Tensor) and x.numel() == 1:
        return x.item()
    if isinstance(x, np.generic) or (isinstance(x, np.ndarray) and x.size == 1):
        return x.item()
    return x


def _kind(x) -> str:
    """What a student gave, in words and without the package's internal class names."""
    if callable(x):  # a student's function, bare or in its _StubGuard
        return "a function"
    if isinstance(x, bool):
        return "True or False"
    if isinstance(x, str):
        return "text (a str)"
    if isinstance(x, (tuple, list, dict, set)):
        return f"a {type(x).__name__}"
    if isinstance(x, torch.Tensor):
        return f"a tensor of shape {tuple(x.shape)}"
    if isinstance(x, np.ndarray):
        return f"an array of shape {x.shape}"
    name = type(x).__name__
    return "an object" if name.startswith("_") else f"a {name}"


def _number(answer, what: str = "a number") -> str | None:
    answer = _plain(answer)
    if isinstance(answer, bool) or not isinstance(answer, numbers.Real):
        return f"give {what}, got {_kind(answer)}"
    return None


def _whole(answer, what: str = "a whole number") -> tuple[int | None, str | None]:
    """``(n, None)`` for a whole number of any reasonable type (6, 6.0, a NumPy integer, a one-element
    tensor), ``(None, hint)`` otherwise."""
    answer = _plain(answer)
    if isinstance(answer, bool) or not isinstance(answer, numbers.Real):
        return None, f"give {what}, got {_kind(answer)}"
    if isinstance(answer, numbers.Integral):
        return int(answer), None
    if not math.isfinite(answer) or not float(answer).is_integer():
        return None, f"give {what}: {answer} is not whole"
    return int(answer), None
