"""Graders of notebook 05, Lazy neurons (a hint, never the answer)."""

from __future__ import annotations

import torch

from ._core import _gen, _number, register


@register("05.1", "fraction of relu(z) that is non-zero for z ~ N(0, 1)")
def _relu_nonzero(answer) -> str | None:
    bad = _number(answer, "a fraction (a float)")
    if bad:
        return bad
    if abs(answer - 0.5) < 1e-3:
        return None
    if abs(answer - 50) < 1e-6:
        return "as a fraction, not a percentage"
    return "sketch the density of N(0, 1) and shade the z for which relu(z) is non-zero"


@register("05.2", "your own non-zero percentage of a batch of activations", forbid=('nonzero_percent',))
def _own_nonzero_percent(fn) -> str | None:
    if not callable(fn):
        return "give a function my_nonzero_percent(acts) returning a float (percent)"
    g = _gen(5)
    a = torch.relu(torch.randn(3, 7, 64, generator=g))
    ragged = torch.zeros(2, 8)
    ragged[0, :6] = 1.0  # token 0: 75% non-zero, token 1: none -> mean of per-token shares 37.5
    neg = -torch.rand(4, 16, generator=g) - 0.1  # negative values are not active after a ReLU
    cases = [(a, "ReLU activations of shape (batch, tokens, d_ff)"), (ragged, "two tokens, 6 of 8 and 0 of 8 non-zero"),
             (neg, "all-negative entries (a pre-activation)"), (torch.zeros(5, 3), "all zeros")]
    for x, what in cases:
        got = fn(x.clone())
        bad = _number(got, "a float (percent)")
        if bad:
            return f"on {what}: {bad}"
        want = 100.0 * float((x > 0).flatten(0, -2).float().mean(-1).mean())
        if abs(got - want) < 1e-6:
            continue
        if abs(got - want / 100) < 1e-6:
            return f"on {what}: a percentage, not a fraction"
        if abs(got - 100.0 * float((x != 0).float().mean())) < 1e-6 and want != 100.0 * float((x != 0).float().mean()):
            return f"on {what}: count the entries that are > 0 (active), not those != 0"
        return f"on {what}: your value is {got:.3f}; check what section 1 takes the percentage over"
    return None


@register("05.3", "your own multiply-add count of an activation-sparse MLP block")
def _own_block_macs(fn) -> str | None:
    from sparsekit.roofline import mlp_block_macs

    if not callable(fn):
        return "give a function my_block_macs(tokens, d, d_ff, nonzero) returning a number of multiply-adds"
    cases = [(17, 64, 256, 0.0625, "the top-16-of-256 block, one image (17 tokens)"),
             (1000, 768, 3072, 0.03, "a T5-Base-sized block at 3% non-zero"), (5, 8, 32, 1.0, "a dense block (100%)")]
    for t, d, f, nz, what in cases:
        got = fn(t, d, f, nz)
        bad = _number(got, "a number")
        if bad:
            return f"on {what}: {bad}"
        want = mlp_block_macs(t, d, f, nz)
        if abs(got - want) <= 1e-6 * want + 0.5:
            continue
        if abs(got - nz * 2 * t * d * f) <= 1e-6 * want + 0.5:
            return f"on {what}: the first matmul (d -> d_ff) runs before the activation: it stays dense"
        if abs(got - 2 * t * d * f) <= 1e-6 * want + 0.5 and nz < 1:
            return f"on {what}: the second matmul needs only the non-zero activations' rows of W2^T"
        return f"on {what}: your count is {got:.0f}; count each of the two matmuls on its own (section 7)"
    return None


@register("05.4", "your own expected calibration error",
          forbid=('expected_calibration_error',))
def _own_ece(fn) -> str | None:
    from sparsekit.metrics import expected_calibration_error

    if not callable(fn):
        return "give a function my_ece(probs, labels, bins) returning a float"
    g = _gen(7)
    probs = torch.softmax(3 * torch.randn(500, 10, generator=g), -1)
    labels = torch.randint(0, 10, (500,), generator=g)
    sure = torch.zeros(4, 3)
    sure[:, 0] = 1.0
    for p, y, bins, what in [(probs, labels, 15, "500 random predictions, 15 bins"),
                             (probs, probs.argmax(1), 10, "the same predictions, always right, 10 bins"),
                             (sure, torch.tensor([0, 0, 1, 2]), 15, "confidence exactly 1.0 (the last bin)")]:
        got = fn(p.clone(), y.clone(), bins)
        bad = _number(got, "a float")
        if bad:
            return f"on {what}: {bad}"
        want = expected_calibration_error(p, y, bins)
        if abs(got - want) < 1e-6:
            continue
        return (f"on {what}: your ECE is {got:.4f}; bin by the top-class probability, then sum over bins "
                "(bin size / n) |mean confidence - accuracy|")
    return None
