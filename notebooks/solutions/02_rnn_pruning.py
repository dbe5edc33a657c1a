"""Worked answers to the exercises of 02_rnn_pruning (try them first)."""

import numpy as np
import torch

# 02.1: torch stacks the four LSTM gates (input, forget, cell, output): weight_hh_l0 is (4 * 50, 50).
answer_1 = 4 * 50 * 50


# 02.2: one threshold, the percent-th percentile of the magnitudes of all matrices pooled.
def my_thesis_masks(weights, percent):
    pooled = np.concatenate([w.detach().abs().flatten().numpy() for w in weights.values()])
    tau = np.percentile(pooled, percent)
    return {name: w.detach().abs() >= float(tau) for name, w in weights.items()}


# 02.3: torch's GRU: r, z, n stacked in that order; the reset gate scales the recurrent part of n.
def my_gru_step(x, h, w_ih, w_hh, b_ih, b_hh):
    gi, gh = x @ w_ih.T + b_ih, h @ w_hh.T + b_hh
    i_r, i_z, i_n = gi.chunk(3, dim=1)
    h_r, h_z, h_n = gh.chunk(3, dim=1)
    r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return (1 - z) * n + z * h
