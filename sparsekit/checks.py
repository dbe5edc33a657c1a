"""Argument checks with errors that name the argument and what it accepts - never a silent wrong answer.

>>> one_of("scope", "layer", ("layer", "global"))
'layer'
>>> one_of("scope", "glob", ("layer", "global"))
Traceback (most recent call last):
...
ValueError: scope must be one of 'layer', 'global'; got 'glob'
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any, TypeVar

__all__ = ["one_of", "positive_int", "non_negative_int", "fraction", "has_columns"]

T = TypeVar("T")


def one_of(name: str, value: T, accepted: Iterable[Any]) -> T:
    """``value`` if it is one of ``accepted``, else a ``ValueError`` naming ``name`` and the choices."""
    accepted = tuple(accepted)
    try:
        ok = value in accepted
    except TypeError:  # an unhashable or oddly comparing value is simply not one of them
        ok = False
    if not ok:
        raise ValueError(f"{name} must be one of {', '.join(repr(a) for a in accepted)}; got {value!r}")
    return value


def positive_int(name: str, value: Any) -> int:
    """``value`` as an int if it is a whole number >= 1 (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def non_negative_int(name: str, value: Any) -> int:
    """``value`` as an int if it is a whole number >= 0 (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def fraction(name: str, value: Any, low: float = 0.0, high: float = 1.0, *, low_open: bool = False,
             high_open: bool = True) -> float:
    """``value`` as a float if it lies in the interval from ``low`` to ``high`` (open or closed ends,
    ``[0, 1)`` by default); a TypeError for a non-number, a ValueError naming the interval otherwise.

    >>> fraction("density", 1.0, low_open=True, high_open=False)
    1.0
    """
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if isinstance(value, (bool, str)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number in {interval}, got {type(value).__name__} {value!r}")
    v = float(value)
    below = v <= low if low_open else v < low
    above = v >= high if high_open else v > high
    if math.isnan(v) or below or above:
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return v


def has_columns(name: str, table: Any, columns: Iterable[str], hint: str = "") -> None:
    """Refuse a table (a pandas DataFrame) that lacks any of ``columns``, naming the argument."""
    missing = set(columns) - set(getattr(table, "columns", ()))
    if missing:
        raise ValueError(f"{name} lacks the columns {sorted(missing)}{hint}")
