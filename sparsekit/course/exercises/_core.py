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

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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


def _calls_the_library(fn, forbid: tuple[str, ...]) -> str | None:
    hit = sorted(names_used(fn) & set(forbid))
    if hit:
        return (f"write it yourself: your function calls {hit[0]}, the library function this exercise asks you "
                "to re-implement")
    return None


def grade(id: str, answer: Any, **context: Any) -> tuple[bool | None, str]:
    """``(True, "correct")``, ``(False, hint)``, or ``(None, "not answered yet")`` for ``None``.

    ``context`` carries facts of the notebook's run an answer depends on (a horizon, the machine's
    measured roofline); it is given to the grader, never the expected answer."""
    if id not in EXERCISES:
        raise KeyError(f"unknown exercise {id!r}; known: {', '.join(sorted(EXERCISES))}")
    if answer is None or answer is Ellipsis:
        return None, "not answered yet"
    if callable(answer) and EXERCISES[id].forbid:
        hint = _calls_the_library(answer, EXERCISES[id].forbid)
        if hint:
            return False, f"not yet - {hint}"
    try:
        hint = EXERCISES[id].grader(_StubGuard(answer) if callable(answer) else answer, **context)
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
        return f"return a torch tensor, got {type(m).__name__}"
    if tuple(m.shape) != tuple(shape):
        return f"the mask has shape {tuple(m.shape)}, the weight {tuple(shape)}"
    if m.dtype != torch.bool:
        return f"return a torch.bool mask (True = kept), got dtype {m.dtype}"
    return None


def _weight_cases() -> list[tuple[torch.Tensor, float, str]]:
    g = torch.Generator().manual_seed(1234)
    ties = torch.tensor([[1.0, -1.0, 2.0, 0.5], [0.5, -2.0, 1.0, 0.5]])  # equal magnitudes
    return [
        (torch.randn(4, 6, generator=g), 0.5, "a 4 x 6 weight at sparsity 0.5"),
        (torch.randn(7, 7, generator=g), 0.3, "a 7 x 7 weight at sparsity 0.3"),
        (torch.randn(3, 5, generator=g), 0.9, "a 3 x 5 weight at sparsity 0.9"),
        (torch.randn(1, 9, generator=g), 0.0, "a 1 x 9 weight at sparsity 0"),
        (ties, 0.5, "a weight with equal magnitudes (ties) at sparsity 0.5"),
    ]


def _number(answer, what: str = "a number") -> str | None:
    if isinstance(answer, bool) or not isinstance(answer, (int, float)):
        return f"give {what}, got {type(answer).__name__}"
    return None
