"""Graders of notebook 02, Pruning recurrent networks (a hint, never the answer)."""

from __future__ import annotations

import torch

from sparsekit import masks as M

from ._core import _gen, _whole, register


@register("02.1", "weights in weight_hh_l0 of a 50-unit LSTM")
def _lstm_hh(answer) -> str | None:
    answer, bad = _whole(answer, "a whole number of weights")
    if bad:
        return bad
    h = 50
    if answer == 4 * h * h:
        return None
    if answer == h * h:
        return "that is one gate's hidden-to-hidden matrix; torch stacks every gate of the cell in weight_hh"
    if answer == 3 * h * h:
        return "3 gates is a GRU; count an LSTM's gates"
    if answer in (4 * h * (h + 1), 4 * h * 2 * h):
        return "weight_hh holds only the hidden-to-hidden weights (no bias, no input weights)"
    return "build a torch LSTM of 50 units and look at weight_hh_l0's shape"


@register("02.2", "your own pooled percentile masks (the thesis's pruning rule)")
def _own_thesis_masks(fn) -> str | None:
    if not callable(fn):
        return "give a function my_thesis_masks(weights, percent) returning {name: bool mask}"
    g = _gen(2)
    big, small = torch.randn(12, 5, generator=g), 0.1 * torch.randn(6, 4, generator=g)
    cases = [({"a": big, "b": small}, 50, "two matrices of different scales at 50%"),
             ({"a": big}, 90, "one matrix at 90%"), ({"a": big, "b": small}, 100, "two matrices at 100%"),
             ({"a": torch.tensor([[1.0, -1.0], [2.0, 0.5]])}, 30, "a 2 x 2 matrix with a tie at 30%")]
    for weights, percent, what in cases:
        got = fn({k: v.clone() for k, v in weights.items()}, percent)
        if not isinstance(got, dict) or set(got) != set(weights):
            return f"on {what}: return a dict with one mask per name of weights"
        want = M.percentile_masks(weights, percent)
        for name, mask in got.items():
            if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.shape != weights[name].shape:
                return f"on {what}: mask {name!r} must be a bool tensor shaped like its weight"
        if all(torch.equal(got[k], want[k]) for k in want):
            continue
        per = {k: M.percentile_masks({k: w}, percent)[k] for k, w in weights.items()}
        if len(weights) > 1 and all(torch.equal(got[k], per[k]) for k in per):
            return f"on {what}: one threshold per matrix - the thesis pools all selected matrices into one"
        kept = sum(int(m.sum()) for m in got.values())
        return (f"on {what}: you keep {kept} weights; the threshold is the percent-th percentile of all "
                f"|w| (numpy's linear interpolation) and a weight stays if |w| >= threshold")
    return None


@register("02.3", "your own GRU step (torch's gate order)")
def _own_gru_step(fn) -> str | None:
    if not callable(fn):
        return "give a function my_gru_step(x, h, w_ih, w_hh, b_ih, b_hh) returning the next hidden state"
    g = _gen(3)
    for n_in, n_h, zero_hh, what in [(4, 3, False, "a 4-input, 3-unit GRU"), (5, 6, False, "a 5-input, 6-unit GRU"),
                                     (4, 3, True, "a GRU whose w_hh is all zero (100% h2h pruned)")]:
        cell = torch.nn.GRUCell(n_in, n_h)
        with torch.no_grad():
            for p in cell.parameters():
                p.copy_(torch.randn(p.shape, generator=g))
            if zero_hh:
                cell.weight_hh.zero_()
        x, h = torch.randn(2, n_in, generator=g), torch.randn(2, n_h, generator=g)
        with torch.no_grad():
            want = cell(x, h)
            got = fn(x, h, cell.weight_ih.clone(), cell.weight_hh.clone(), cell.bias_ih.clone(), cell.bias_hh.clone())
        if not isinstance(got, torch.Tensor) or got.shape != want.shape:
            return f"on {what}: return a tensor of shape (batch, hidden) = {tuple(want.shape)}"
        if torch.allclose(got, want, atol=1e-5):
            continue
        return (f"on {what}: your state differs (largest gap {float((got - want).abs().max()):.3g}); torch stacks "
                f"the gates in its own order (see torch.nn.GRU's documentation) and check where the reset gate acts")
    return None
