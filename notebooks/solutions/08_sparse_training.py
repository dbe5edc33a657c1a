"""Worked solutions to the exercises of 08_sparse_training (try them yourself first).

Each function passes ``sparsekit.course.exercises.check``; tests/test_exercises.py checks that it does.
"""

import math

import torch


# Exercise 1: raw_l = sum(dims) / prod(dims); eps spreads the budget left after the dense layers over
# the sparse ones; a layer with eps * raw_l > 1 joins the dense ones and eps is solved again.
def my_erk(shapes, density):
    numel = {k: math.prod(s) for k, s in shapes.items()}
    raw = {k: sum(s) / numel[k] for k, s in shapes.items()}
    dense = set()
    while True:
        sparse = [k for k in shapes if k not in dense]
        budget = density * sum(numel.values()) - sum(numel[k] for k in dense)
        eps = budget / sum(raw[k] * numel[k] for k in sparse)
        over = {k for k in sparse if eps * raw[k] > 1}
        if not over:
            return {k: 1.0 if k in dense else eps * raw[k] for k in shapes}
        dense |= over


# Exercise 2: the inactive positions only, ranked by |g|; the k largest switched on.
def my_rigl_grow(mask, grad, k):
    score = grad.abs().flatten().clone()
    score[mask.flatten()] = -math.inf
    out = mask.clone().flatten()
    out[torch.topk(score, k).indices] = True
    return out.view(mask.shape)


# Exercise 3: the sparse net keeps 0.1 * (40*256 + 256*256 + 256*10) = 7834 weights; a dense
# 40-h-h-10 MLP has h*h + 50*h, so h is the positive root of h^2 + 50 h - 7834 = 0, about 67.
answer_3 = round((-50 + math.sqrt(50**2 + 4 * 0.1 * (40 * 256 + 256 * 256 + 256 * 10))) / 2)
