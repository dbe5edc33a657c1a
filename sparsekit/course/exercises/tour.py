"""Graders of notebook 00, A tour of sparsity (a hint, never the answer)."""

from __future__ import annotations

import math

import torch

from sparsekit import masks as M

from ._core import _gen, _is_bool_like, _kind, _weight_cases, _whole, register


@register("00.1", "weights kept by magnitude_mask on a 7 x 7 layer at sparsity 0.3")
def _kept_7x7(answer) -> str | None:
    answer, bad = _whole(answer, "a whole number of weights")
    if bad:
        return bad
    truth = int(M.magnitude_mask(torch.randn(7, 7), 0.3).sum())
    if answer == truth:
        return None
    if answer == 49 - math.floor(0.3 * 49) or answer == 49 - math.ceil(0.3 * 49) or answer == math.floor(0.7 * 49):
        return "close: check how section 1 turns a sparsity into a count of pruned weights"
    if answer == round(0.3 * 49):
        return "that counts the pruned weights; the question asks how many are kept"
    return "section 1 says how many weights a mask prunes at a given sparsity; the question asks how many stay"


@register("00.2", "your own magnitude_mask(w, sparsity)", forbid=('magnitude_mask',))
def _own_magnitude(fn) -> str | None:
    if not callable(fn):
        return "give a function my_magnitude_mask(w, sparsity) that returns a bool mask"
    for w, s, what in _weight_cases():
        got = fn(w.clone(), s)
        bad = _is_bool_like(got, w.shape)
        if bad:
            return f"on {what}: {bad}"
        want = M.magnitude_mask(w, s)
        if int(got.sum()) != int(want.sum()):
            return (f"on {what} your mask keeps {int(got.sum())} of {w.numel()} weights; "
                    "exactly round(s * n) must be pruned")
        if not torch.equal(got, want):
            if "ties" in what:
                return f"on {what} the count is right but ties go the wrong way: prune the lower flat index first"
            return f"on {what} the count is right but not the largest |w| are kept (magnitude, not signed value?)"
    return None


@register("00.3", "your own global_masks(weights, sparsity)",
          forbid=('global_magnitude_masks', 'magnitude_mask'))
def _own_global(fn) -> str | None:
    if not callable(fn):
        return "give a function my_global_masks(weights, sparsity) returning a dict of bool masks"
    g = _gen(99)
    cases = [
        ({"a": torch.randn(8, 10, generator=g), "b": torch.randn(3, 8, generator=g) * 3}, 0.6),
        ({"a": torch.randn(20, 5, generator=g) * 0.1, "b": torch.randn(5, 4, generator=g)}, 0.8),
    ]
    for weights, s in cases:
        got = fn({k: v.clone() for k, v in weights.items()}, s)
        if not isinstance(got, dict) or set(got) != set(weights):
            return f"return a dict with the same names as weights ({sorted(weights)})"
        for k, w in weights.items():
            bad = _is_bool_like(got[k], w.shape)
            if bad:
                return f"layer {k!r}: {bad}"
        want = M.global_magnitude_masks(weights, s)
        kept, total = sum(int(m.sum()) for m in got.values()), sum(w.numel() for w in weights.values())
        if kept != sum(int(m.sum()) for m in want.values()):
            return f"your masks keep {kept} of {total} weights in all; exactly round(s * n) must be pruned overall"
        per_layer = {k: 1 - int(m.sum()) / m.numel() for k, m in got.items()}
        if all(abs(v - s) < 1 / min(w.numel() for w in weights.values()) for v in per_layer.values()):
            return "every layer was pruned to the same sparsity: that is layer-wise; pool all |w| under one threshold"
        if not all(torch.equal(got[k], want[k]) for k in weights):
            return "the overall count is right but not the largest |w| over all layers are kept"
    return None


@register("00.4", "your own cubic schedule s_t", forbid=('cubic_sparsity',))
def _own_cubic(fn) -> str | None:
    if not callable(fn):
        return "give a function my_cubic(t, s_f, t0, n, dt) returning a float"
    for s_f, t0, n, dt in [(0.9, 0, 10, 1), (0.8, 100, 5, 20), (0.5, 7, 3, 4)]:
        for t in [0, t0, t0 + dt, t0 + (n * dt) // 2, t0 + n * dt - 1, t0 + n * dt, t0 + 3 * n * dt]:
            got = float(fn(t, s_f, t0, n, dt))
            want = M.cubic_sparsity(t, s_f, t0, t0 + n * dt, 0.0, dt)
            if abs(got - want) > 1e-9:
                if t <= t0:
                    return f"at t = {t} (not after t0 = {t0}) your schedule gives {got:.4f}: nothing is pruned yet"
                if t >= t0 + n * dt:
                    return f"at t = {t} (after the last update) your schedule gives {got:.4f}: it should hold s_f"
                return (f"at t = {t} (t0 = {t0}, n = {n}, dt = {dt}) your schedule gives {got:.4f}; "
                        "check the cube, and that t snaps down to the last update t0 + k dt")
    return None


@register("00.5", "your own interval rule: (L, U, verdict) from paired differences and a bar",
          forbid=("decide", "bounds", "verdict_of", "decide_every"))
def _own_verdict(fn) -> str | None:
    from sparsekit.verdicts import decide

    if not callable(fn):
        return "give a function my_verdict(d, bar) returning (L, U, verdict)"
    cases = [([1.2, 0.4, 0.9], 0.0, "three paired differences, bar 0"),
             ([0.3, -0.2, 0.5, 0.1], 0.0, "four paired differences, bar 0"),
             ([-2.0, -1.5, -1.8], -1.0, "three differences, bar -1"),
             ([9.5, 4.0, 6.0, 8.5, 5.5], 5.0, "five differences, bar 5")]
    for d, bar, what in cases:
        got = fn(list(d), bar)
        if not isinstance(got, tuple) or len(got) != 3:
            return "return a tuple (L, U, verdict)"
        lo, hi, verdict = got
        if isinstance(lo, bool) or not isinstance(lo, (int, float)) or not isinstance(hi, (int, float)):
            return f"on {what}: L and U must be numbers, got {_kind(lo)} and {_kind(hi)}"
        want = decide(d, bar)
        if not (math.isclose(lo, want.lower, rel_tol=1e-6, abs_tol=1e-9)
                and math.isclose(hi, want.upper, rel_tol=1e-6, abs_tol=1e-9)):
            mean = sum(d) / len(d)
            if not math.isclose((lo + hi) / 2, mean, rel_tol=1e-6, abs_tol=1e-9):
                return f"on {what}: [L, U] is not centred on the mean of the differences"
            return (f"on {what}: your bounds are centred right but have another width: check the quantile of "
                    "Student's t you use (one-sided, alpha = 0.05), its degrees of freedom, and the sqrt(K)")
        if verdict != want.verdict:
            return (f"on {what}: the bounds are right but the verdict is not; compare L and U with the bar "
                    "as section 0 says (the verdicts are 'reproduced', 'inconclusive', 'not reproduced')")
    return None
