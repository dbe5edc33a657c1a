"""Worked answers to the exercises of 03_nm_sparsity (try them first)."""

from math import comb

import torch

# 1. A 2:4 mask chooses which 2 of the 4 positions are kept.
answer_1 = comb(4, 2)


# 2. Split the last dimension into groups of m, rank |w| inside each group (a stable sort keeps the
#    lower index first among ties) and keep the first n of each group.
def my_nm_mask(w, n, m):
    groups = w.abs().reshape(*w.shape[:-1], w.shape[-1] // m, m)
    top = torch.argsort(groups, dim=-1, descending=True, stable=True)[..., :n]
    keep = torch.zeros_like(groups, dtype=torch.bool).scatter_(-1, top, True)
    return keep.reshape(w.shape)


# 3. STE: the gradient of the sparse weight goes to every dense weight; SR-STE adds a decay on
#    the weights the mask prunes right now.
def my_srste_grad(grad, weight, mask, lambda_w):
    return grad + lambda_w * (~mask) * weight
