"""Graders of notebook 06, Sparse dynamics for MPC (a hint, never the answer)."""

from __future__ import annotations

import numpy as np

from ._core import _number, _rng, _whole, register


@register("06.1", "the most binary variables of the MILP (8 ReLUs, the notebook's horizon)")
def _milp_binaries(answer, horizon: int) -> str | None:
    answer, bad = _whole(answer, "a whole number")
    if bad:
        return bad
    if answer == 8 * horizon:
        return None
    if answer == 8:
        return "the network is unrolled over the horizon: one copy of every neuron per step"
    if answer == 2 * 8 * horizon:
        return "a ReLU needs one binary (on or off), not two"
    return f"count one binary per ReLU that may be unstable, at each of the {horizon} steps"


@register("06.2", "your own interval bounds of a ReLU neuron's pre-activation")
def _own_preactivation_bounds(fn) -> str | None:

    if not callable(fn):
        return "give a function my_bounds(w, b, z_lo, z_hi) returning (L, U)"
    rng = _rng(3)
    cases = [(np.array([1.0, -2.0]), 0.5, np.array([-1.0, 0.0]), np.array([1.0, 2.0]), "a mixed-sign weight row"),
             (rng.normal(size=4), rng.normal(), -rng.uniform(size=4), rng.uniform(size=4), "a random row over a box"),
             (np.array([3.0, -1.0]), 0.0, np.array([0.2, 0.1]), np.array([0.2, 0.1]), "a point (z_lo = z_hi)")]
    for w, b, lo, hi, what in cases:
        got = fn(w.copy(), float(b), lo.copy(), hi.copy())
        try:
            gl, gu = (float(v) for v in got)
        except (TypeError, ValueError):
            return f"on {what}: return two numbers (L, U), got {got!r}"
        want_l = float(np.maximum(w, 0) @ lo + np.minimum(w, 0) @ hi + b)
        want_u = float(np.maximum(w, 0) @ hi + np.minimum(w, 0) @ lo + b)
        if abs(gl - want_l) < 1e-9 and abs(gu - want_u) < 1e-9:
            continue
        if abs(gl - (w @ lo + b)) < 1e-9 and abs(gu - (w @ hi + b)) < 1e-9 and (w < 0).any():
            return f"on {what}: a negative weight takes its smallest value at the input's upper end"
        if gl > gu:
            return f"on {what}: your L is above your U"
        return f"on {what}: your (L, U) is not the tightest interval: every input may sit anywhere in its range"
    return None


@register("06.3", "your own growth factor per ReLU from solve times")
def _own_growth_factor(fn) -> str | None:

    if not callable(fn):
        return "give a function my_factor(relus, seconds) returning the factor per added ReLU"
    cases = [([2, 4, 6, 8], [0.01 * 1.5**k for k in (2, 4, 6, 8)], "times that grow by exactly 1.5x per ReLU"),
             ([2, 4, 8, 12], [0.04, 0.09, 0.5, 2.4], "measured-looking medians")]
    for relus, secs, what in cases:
        got = fn(list(relus), list(secs))
        bad = _number(got, "a float")
        if bad:
            return f"on {what}: {bad}"
        b = np.polyfit(np.asarray(relus, float), np.log10(secs), 1)[0]
        if abs(got - 10**b) < 1e-6 * 10**b:
            continue
        if abs(got - b) < 1e-6:
            return f"on {what}: that is the slope of log10(time); the factor per ReLU is 10 to that power"
        if abs(got - np.exp(np.polyfit(np.asarray(relus, float), secs, 1)[0])) < 1e-6:
            return f"on {what}: fit a line to the *logarithm* of the times"
        return f"on {what}: your factor does not match a least-squares fit of the growth that section 3 describes"
    return None
