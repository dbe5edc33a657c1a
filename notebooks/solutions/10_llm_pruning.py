"""Worked solutions to the exercises of 10_llm_pruning (try them yourself first).

Each function passes ``sparsekit.course.exercises.check``; tests/test_exercises.py checks that it does.
"""

import torch

# Exercise 1: the official Wanda code prunes int(d_in * sparsity) weights per output row.
answer_1 = int(1536 * 0.6)


# Exercise 2: the score |W_ij| * ||X_j|| (the root of the squared norms), then per row a stable sort
# and the int(d_in * s) lowest switched off.
def my_wanda_mask(weight, input_sq_norms, sparsity):
    score = weight.abs() * input_sq_norms.sqrt()[None, :]
    k = int(weight.shape[1] * sparsity)
    keep = torch.ones_like(weight, dtype=torch.bool)
    keep.scatter_(1, torch.sort(score, dim=1, stable=True).indices[:, :k], False)
    return keep


# Exercise 3: q is w with the pruned rows zeroed; err = (w - q) / U[j, j]; the columns from j on
# receive -err * U[j, j:], which leaves q in column j (err * U[j, j] = w - q) and compensates later ones.
def my_obs_column(W, U, j, prune_rows):
    W = W.clone()
    w = W[:, j].clone()
    q = torch.where(prune_rows, torch.zeros_like(w), w)
    err = (w - q) / U[j, j]
    W[:, j:] -= err[:, None] * U[j, j:][None, :]
    W[:, j] = q
    return W
