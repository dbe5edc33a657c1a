"""Graders of notebook 08, Training sparse networks (a hint, never the answer)."""

from __future__ import annotations

import math

import torch

from sparsekit.masks import erk_densities

from ._core import _gen, _number, register

_ERK_CASES = [
    ({"conv1": (32, 1, 5), "conv2": (32, 32, 5), "fc": (10, 320)}, 0.1, "a small 1-D CNN at density 0.1"),
    ({"fc1": (256, 40), "fc2": (256, 256), "fc3": (10, 256)}, 0.1, "an MLP 40-256-256-10 at density 0.1"),
    ({"a": (4, 3), "b": (300, 300)}, 0.5, "a tiny and a large layer at density 0.5"),
    ({"a": (8, 8), "b": (8, 8)}, 0.3, "two equal layers at density 0.3"),
]


@register("08.1", "your own ERK densities: eps solved, layers over density 1 made dense, eps solved again",
          forbid=("erk_densities", "layer_densities"))
def _own_erk(fn) -> str | None:
    if not callable(fn):
        return "give a function my_erk(shapes, density) returning a dict layer name -> density"
    for shapes, density, what in _ERK_CASES:
        got = fn({k: tuple(v) for k, v in shapes.items()}, density)
        if not isinstance(got, dict) or set(got) != set(shapes):
            return f"on {what}: return a dict with one density per layer name"
        want = erk_densities(shapes, density)
        if all(math.isclose(float(got[k]), want[k], rel_tol=1e-6, abs_tol=1e-9) for k in shapes):
            continue
        numel = {k: math.prod(v) for k, v in shapes.items()}
        kept = sum(float(got[k]) * numel[k] for k in shapes)
        if any(float(got[k]) > 1 + 1e-9 for k in shapes):
            return f"on {what}: a layer's density exceeds 1: make it dense and solve eps again for the others"
        if not math.isclose(kept, density * sum(numel.values()), rel_tol=1e-6):
            return (f"on {what}: your densities keep {kept:.1f} weights, not density x all weights: "
                    "eps must solve the budget over the layers still sparse")
        er = erk_densities(shapes, density, kernel=False)
        if all(math.isclose(float(got[k]), er[k], rel_tol=1e-6) for k in shapes):
            return f"on {what}: that is Erdos-Renyi (two dimensions); ERK counts every dimension, kernel ones too"
        return f"on {what}: the budget is right but the split is not (sum of dims / product of dims per layer)"
    return None


def _grow_cases():
    g = _gen(8)
    cases = []
    for shape, active, k in (((6, 5), 8, 3), ((4, 9), 20, 5), ((3, 3), 4, 1), ((5, 4), 10, 0)):
        mask = torch.zeros(shape, dtype=torch.bool).flatten()
        mask[torch.randperm(mask.numel(), generator=g)[:active]] = True
        grad = torch.randn(shape, generator=g)
        cases.append((mask.view(shape), grad, k, f"a {shape[0]} x {shape[1]} mask with {active} active, k = {k}"))
    mask = torch.zeros(4, 4, dtype=torch.bool)
    mask[0] = True
    grad = torch.ones(4, 4)
    grad[0] = 100.0  # the largest gradients sit on active weights: they must not count
    cases.append((mask, grad, 3, "a mask whose largest gradients are on active weights"))
    return cases


@register("08.2", "your own RigL grow step: activate the k inactive positions of largest |gradient|",
          forbid=("RigL", "MaskUpdater"))
def _own_grow(fn) -> str | None:
    if not callable(fn):
        return "give a function my_rigl_grow(mask, grad, k) returning the new bool mask"
    for mask, grad, k, what in _grow_cases():
        got = fn(mask.clone(), grad.clone(), k)
        if not isinstance(got, torch.Tensor) or got.dtype != torch.bool or got.shape != mask.shape:
            return f"on {what}: return a torch.bool mask of the input's shape"
        if not bool((got | ~mask).all()):
            return f"on {what}: a weight active before the grow step must stay active (growing drops nothing)"
        grown = got & ~mask
        if int(grown.sum()) != k:
            extra = " (pick among the inactive positions only)" if int(grown.sum()) < k else ""
            return f"on {what}: you activated {int(grown.sum())} new positions, not k{extra}"
        # the brute-force oracle: every grown |g| at least as large as every |g| left inactive
        score, left = grad.abs(), ~got
        if k and bool(left.any()) and float(score[grown].min()) < float(score[left].max()):
            if torch.equal(grown, _top_of(-grad.abs(), ~mask, k, signed=True)):
                return f"on {what}: you grew the smallest |gradient|; RigL grows the largest"
            if torch.equal(grown, _top_of(grad, ~mask, k, signed=True)):
                return f"on {what}: rank by the gradient's magnitude |g|, not its signed value"
            return f"on {what}: a position you left inactive has a larger |gradient| than one you grew"
    return None


def _top_of(grad: torch.Tensor, allowed: torch.Tensor, k: int, signed: bool = False) -> torch.Tensor:
    score = (grad if signed else grad.abs()).flatten().clone()
    score[~allowed.flatten()] = -math.inf
    out = torch.zeros(grad.numel(), dtype=torch.bool)
    out[torch.topk(score, k).indices] = True
    return out.view(grad.shape)


@register("08.3", "width of a dense MLP 40-h-h-10 with as many weights as a 90%-sparse 40-256-256-10")
def _matched_width(answer) -> str | None:
    bad = _number(answer, "a whole number of units")
    if bad:
        return bad
    if float(answer) != int(answer):
        return "a width is a whole number of units"
    nnz = 0.1 * (40 * 256 + 256 * 256 + 256 * 10)
    truth = round((-50 + math.sqrt(2500 + 4 * nnz)) / 2)
    h = int(answer)
    if h == truth:
        return None
    if h in (25, 26):
        return "10% of the width is not 10% of the weights: the hidden-to-hidden layer grows with the width squared"
    if h == round(math.sqrt(nnz)):
        return "close, but count the weights of every layer, the input and output layers too"
    weights = h * h + 50 * h
    return f"a 40-{h}-{h}-10 MLP has {weights} weights: count the sparse network's non-zeros and compare"
