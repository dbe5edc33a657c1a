"""Graders of notebook 10, Pruning a pretrained language model (a hint, never the answer)."""

from __future__ import annotations

import torch

from ._core import _gen, _number, register


@register("10.1", "weights Wanda prunes in one row of a 1536-input layer at 60% sparsity")
def _wanda_count(answer) -> str | None:
    bad = _number(answer, "a whole number of weights")
    if bad:
        return bad
    if float(answer) != int(answer):
        return "a count of weights is a whole number"
    truth = int(1536 * 0.6)
    if int(answer) == truth:
        return None
    if int(answer) == round(1536 * 0.6):
        return "close: the official code does not round the product, it converts it to an int"
    if int(answer) == 1536 - truth:
        return "that is how many a row keeps; the question asks how many it prunes"
    return "the per-row count in section 2 depends only on the row's inputs and the sparsity"


def _wanda_cases():
    g = _gen(10)
    return [(torch.randn(5, 12, generator=g), torch.rand(12, generator=g) * 4 + 0.1, 0.5, "a 5 x 12 layer at 50%"),
            (torch.randn(3, 20, generator=g), torch.rand(20, generator=g) ** 4, 0.6, "a 3 x 20 layer at 60%"),
            (torch.randn(4, 9, generator=g) * torch.linspace(0.1, 3, 9), torch.ones(9), 0.3,
             "a 4 x 9 layer at 30% with equal input norms")]


@register("10.2", "your own Wanda mask: scores |W| * ||X_j||, compared per output row",
          forbid=("wanda_mask", "wanda_scores"))
def _own_wanda(fn) -> str | None:
    if not callable(fn):
        return "give a function my_wanda_mask(weight, input_sq_norms, sparsity) returning a bool mask"
    for w, sq, s, what in _wanda_cases():
        got = fn(w.clone(), sq.clone(), s)
        if not isinstance(got, torch.Tensor) or got.shape != w.shape or got.dtype != torch.bool:
            return f"on {what}: return a torch.bool mask of the weight's shape (True = kept)"
        k = int(w.shape[1] * s)
        if not torch.equal((~got).sum(1), torch.full((w.shape[0],), k)):
            return f"on {what}: every row must prune the same number of weights, as the official code counts them"
        score = w.abs() * sq.sqrt()
        want = torch.ones_like(got)
        want.scatter_(1, torch.sort(score, dim=1, stable=True).indices[:, :k], False)
        if not torch.equal(got, want):
            plain = torch.ones_like(got)
            plain.scatter_(1, torch.sort(w.abs(), dim=1, stable=True).indices[:, :k], False)
            if torch.equal(got, plain):
                return f"on {what}: that is magnitude pruning per row; Wanda weighs |W| by the input's norm"
            squared = torch.ones_like(got)
            squared.scatter_(1, torch.sort(w.abs() * sq, dim=1, stable=True).indices[:, :k], False)
            if torch.equal(got, squared):
                return f"on {what}: the norm, not its square, multiplies |W| (the function is given squared norms)"
            return f"on {what}: the count per row is right but other weights are kept than the scores say"
    return None


def _obs_reference(W, U, j, prune_rows):
    out = W.clone()
    w = out[:, j].clone()
    q = torch.where(prune_rows, torch.zeros_like(w), w)
    err = (w - q) / U[j, j]
    out[:, j:] -= err[:, None] * U[j, j:][None, :]
    out[:, j] = q
    return out


@register("10.3", "your own SparseGPT column step: prune some rows of column j, spread the error",
          forbid=("sparsegpt",))
def _own_obs_column(fn) -> str | None:
    if not callable(fn):
        return "give a function my_obs_column(W, U, j, prune_rows) returning the updated weight"
    g = _gen(11)
    for rows, cols, j in ((4, 6, 0), (3, 8, 5), (5, 5, 4)):
        W = torch.randn(rows, cols, generator=g, dtype=torch.float64)
        X = torch.randn(50, cols, generator=g, dtype=torch.float64)
        H = X.t() @ X / 50 + 0.01 * torch.eye(cols, dtype=torch.float64)
        U = torch.linalg.cholesky(torch.linalg.inv(H), upper=True)
        prune = torch.rand(rows, generator=g) < 0.5
        prune[0] = True
        got = fn(W.clone(), U.clone(), j, prune.clone())
        if not isinstance(got, torch.Tensor) or got.shape != W.shape:
            return f"return the updated weight, a tensor of shape {tuple(W.shape)}"
        want = _obs_reference(W, U, j, prune)
        if torch.allclose(got, want, atol=1e-9):
            continue
        if not torch.allclose(got[:, :j], W[:, :j]):
            return f"column j = {j}: the columns before j are already final and must not change"
        if not torch.equal(got[prune, j] == 0, torch.ones(int(prune.sum()), dtype=torch.bool)):
            return f"column j = {j}: the pruned rows of column j must end at exactly zero"
        if torch.allclose(got[~prune], W[~prune]) and not torch.allclose(got[prune], want[prune]):
            return f"column j = {j}: the kept rows are right; check the error you spread over the pruned rows"
        return f"column j = {j}: the later columns differ: compare how you spread the error with section 2's update"
    return None
