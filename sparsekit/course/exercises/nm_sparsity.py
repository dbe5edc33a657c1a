"""Graders of notebook 03, N:M sparsity with SR-STE (a hint, never the answer)."""

from __future__ import annotations

import math

import torch

from sparsekit import masks as M

from ._core import _gen, _is_bool_like, _whole, register


@register("03.1", "number of 2:4 patterns in one group of 4")
def _nm_patterns(answer) -> str | None:
    answer, bad = _whole(answer, "a whole number")
    if bad:
        return bad
    if answer == math.comb(4, 2):
        return None
    if answer == 4 * 3:
        return "that counts ordered pairs; a mask only says *which* two are kept"
    if answer == 2**4:
        return "that counts every mask of 4 entries; exactly 2 must be kept"
    return "a 2:4 mask is fixed by which entries it keeps: count the distinct masks"


@register("03.2", "your own N:M mask along the input dimension",
          forbid=('nm_mask', 'layer_nm_mask', 'nm_mask_conv'))
def _own_nm_mask(fn) -> str | None:
    if not callable(fn):
        return "give a function my_nm_mask(w, n, m) that returns a bool mask of w's shape"
    g = _gen(99)
    ties = torch.tensor([[1.0, -1.0, 1.0, 0.5, 2.0, 2.0, -2.0, 0.1]])
    cases = [(torch.randn(3, 8, generator=g), 2, 4, "a 3 x 8 weight at 2:4"),
             (torch.randn(2, 16, generator=g), 1, 4, "a 2 x 16 weight at 1:4"),
             (torch.randn(4, 16, generator=g), 2, 8, "a 4 x 16 weight at 2:8"),
             (ties, 2, 4, "a weight with equal magnitudes (ties) at 2:4")]
    for w, n, m, what in cases:
        got = fn(w.clone(), n, m)
        bad = _is_bool_like(got, w.shape)
        if bad:
            return f"on {what}: {bad}"
        per_group = got.reshape(w.shape[0], -1, m).sum(-1)
        if not bool((per_group == n).all()):
            return (f"on {what} some groups of {m} consecutive inputs keep {sorted(set(per_group.flatten().tolist()))} "
                    f"weights; every group must keep exactly {n} (group along the last dimension)")
        want = M.nm_mask(w, n, m)
        if not torch.equal(got, want):
            if "ties" in what:
                return f"on {what} ties go the wrong way: among equal |w| keep the lower index"
            return f"on {what} the counts are right but not the largest |w| of each group are kept"
    return None


@register("03.3", "your own SR-STE gradient for the dense weights")
def _own_srste_grad(fn) -> str | None:
    if not callable(fn):
        return "give a function my_srste_grad(grad, weight, mask, lambda_w) returning the dense weights' gradient"
    g = _gen(5)
    w = torch.randn(4, 8, generator=g)
    mask = M.nm_mask(w, 2, 4)
    grad = torch.randn(4, 8, generator=g)
    for lam in (0.0, 2e-4, 0.5):
        got = fn(grad.clone(), w.clone(), mask.clone(), lam)
        if not isinstance(got, torch.Tensor) or got.shape != w.shape:
            return f"return a tensor of the weight's shape {tuple(w.shape)}"
        want = grad + lam * (~mask) * w
        if torch.allclose(got, want, atol=1e-7):
            continue
        if torch.allclose(got, grad * mask, atol=1e-7) or torch.allclose(got, grad * mask + lam * (~mask) * w):
            return "the straight-through estimator passes the gradient to *every* weight, pruned ones too"
        if torch.allclose(got, grad + lam * mask * w, atol=1e-7):
            return "the decay acts on the pruned weights (1 - E), not on the kept ones"
        return f"with lambda_w = {lam} your gradient differs from SR-STE's: compare your decay term with section 2"
    return None
