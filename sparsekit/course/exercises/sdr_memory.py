"""Graders of notebook 04, Sparse distributed representations (a hint, never the answer)."""

from __future__ import annotations

import numpy as np

from ._core import _number, _rng, register


@register("04.1", "expected overlap of two random SDRs, n = 2048, a = 40")
def _sdr_overlap(answer) -> str | None:
    bad = _number(answer)
    if bad:
        return bad
    if abs(answer - round(40 * 40 / 2048, 3)) < 5e-4:
        return None
    if abs(answer - 40 / 2048) < 5e-4:
        return "that is one cell's chance; the overlap counts over more than one cell"
    return "write the overlap as a sum of indicators, one per active cell of the first SDR, and take expectations"


@register("04.2", "your own exact false-match probability P_fp(n, a, s, theta)", forbid=('p_false_match',))
def _own_p_false_match(fn) -> str | None:
    from sparsekit.sdr import p_false_match

    if not callable(fn):
        return "give a function my_p_false_match(n, a, s, theta) that returns a probability"
    for n, a, s, theta in ((300, 64, 24, 12), (2048, 40, 20, 10), (50, 10, 10, 1), (10_000, 300, 24, 12)):
        got = float(fn(n, a, s, theta))
        want = p_false_match(n, a, s, theta)
        if not 0.0 <= got <= 1.0:
            return f"for n={n}, a={a}, s={s}, theta={theta} your value {got:.3g} is not a probability"
        if want > 0 and got == 0.0:
            return (f"for n={n}, a={a}, s={s}, theta={theta} you get exactly 0: floating point underflow? "
                    "sum exact integers (math.comb) and divide once, with fractions.Fraction")
        if abs(got - want) > 1e-9 * max(want, 1e-300) + 1e-300:
            if theta < s and abs(got - p_false_match(n, a, s, theta + 1)) <= 1e-9 * got + 1e-300:
                return f"for theta={theta} you count overlaps b > theta; the segment fires at b >= theta"
            return (f"for n={n}, a={a}, s={s}, theta={theta} your value {got:.6g} is off: sum "
                    "C(s, b) C(n - s, a - b) / C(n, a) over b from theta up to min(s, a)")
    return None


@register("04.3", "your own CSA win probabilities p from V and eta")
def _own_win_probabilities(fn) -> str | None:

    from sparsekit.sparsey import SparseyMemory

    if not callable(fn):
        return "give a function my_win_probabilities(v, eta) returning an array of v's shape"
    rng = _rng(7)
    mem = SparseyMemory(num_inputs=4, q=3, k=5)
    for eta in (1.0, 5.0, 1001.0):
        v = rng.random((3, 5))
        v[0, 2] = 1.0
        got = np.asarray(fn(v.copy(), eta), dtype=float)
        mu = (eta - 1.0) / (1.0 + mem.sigma1 * np.exp(-mem.sigma2 * (v - mem.sigma3))) + 1.0
        want = mu / mu.sum(axis=1, keepdims=True)
        if got.shape != v.shape:
            return f"return one probability per cell, shape {v.shape}; got {got.shape}"
        if not np.allclose(got.sum(axis=1), 1.0):
            return "each CM's probabilities must sum to 1: renormalise mu within each row (CM), not over all cells"
        if not np.allclose(got, want, rtol=1e-6, atol=1e-12):
            if eta == 1.0:
                return "at eta = 1 every cell should be equally likely; check what your mu gives there"
            return "the shape of mu is off: compare your mu with section 6's at a few V between 0 and 1"
    return None
