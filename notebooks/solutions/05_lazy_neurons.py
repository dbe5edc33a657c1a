"""Worked answers to the exercises of 05_lazy_neurons (try them first)."""

import torch

# 1. relu(z) > 0 exactly when z > 0, and P(z > 0) = 1/2 for a symmetric law.
answer_1 = 0.5


# 2. Each token's share of active entries (> 0), averaged over tokens, as a percentage.
def my_nonzero_percent(acts):
    per_token = (acts > 0).flatten(0, -2).float().mean(-1)  # every dimension but the last is a token
    return 100.0 * per_token.mean().item()


# 3. The first matmul is dense (the activation is not known before it); the second needs only the
#    rows of W2^T that the non-zero activations select: nonzero * tokens * d_ff of them, d each.
def my_block_macs(tokens, d, d_ff, nonzero):
    return tokens * d * d_ff + round(nonzero * tokens * d_ff) * d


# 4. Bin by confidence (lo, hi], then weigh each bin's |accuracy - confidence| by its share of predictions.
def my_ece(probs, labels, bins):
    conf, pred = probs.max(dim=1)
    correct = (pred == labels).float()
    edges = torch.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (conf > lo) & (conf <= hi)
        if sel.any():
            ece += sel.float().mean().item() * abs(correct[sel].mean().item() - conf[sel].mean().item())
    return ece
