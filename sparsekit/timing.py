"""Timing that the benchmark and the studies share: median seconds per call, sampled round-robin.

Speed is measured as ratios between methods timed in the same run (the machines are shared and
noisy), never asserted in a test.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

__all__ = ["measure", "measure_samples"]


def measure_samples(fns: dict[str, Callable[[], object]], reps: int = 30, warmup: int = 3, inner: int = 5,
                    sync: Callable[[], None] | None = None) -> dict[str, list[float]]:
    """Seconds per call of each function, ``reps`` samples each.

    Each sample is the mean of ``inner`` back-to-back calls (the steady state of a layer applied
    batch after batch); samples are taken round-robin over the functions, after ``warmup`` calls
    each, so that a change in the machine's load touches every method alike: sample ``i`` of two
    methods was taken at about the same time, which is what makes their ratio a paired repetition.
    """
    if reps < 1 or inner < 1:
        raise ValueError(f"reps and inner must be positive integers, got reps={reps}, inner={inner}")
    sync = sync or (lambda: None)
    for f in fns.values():
        for _ in range(warmup):
            f()
    sync()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(reps):
        for k, f in fns.items():
            t0 = time.perf_counter()
            for _ in range(inner):
                f()
            sync()
            times[k].append((time.perf_counter() - t0) / inner)
    return times


def measure(fns: dict[str, Callable[[], object]], reps: int = 30, warmup: int = 3, inner: int = 5,
            sync: Callable[[], None] | None = None) -> dict[str, float]:
    """Median seconds per call of each function (:func:`measure_samples`, then the median)."""
    return {k: float(np.median(v)) for k, v in measure_samples(fns, reps, warmup, inner, sync).items()}
