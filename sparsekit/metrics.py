"""Calibration metrics: reliability bins and the expected calibration error (ECE).

Guo et al., "On Calibration of Modern Neural Networks" (ICML 2017, arXiv 1706.04599): group the
predictions by their confidence (top-class probability) into equal-width bins
:math:`B_b = (b-1)/B < \\hat p \\le b/B`; the ECE is
:math:`\\sum_b |B_b|/N \\cdot |\\mathrm{acc}(B_b) - \\mathrm{conf}(B_b)|`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

__all__ = ["CalibrationBin", "reliability_bins", "expected_calibration_error"]


class CalibrationBin(NamedTuple):
    lo: float
    hi: float
    count: int  # type: ignore[assignment]  # a field, not tuple.count
    confidence: float  # mean top-class probability in the bin
    accuracy: float  # fraction of those predictions that are right


def reliability_bins(probs: torch.Tensor, labels: torch.Tensor, bins: int = 15) -> list[CalibrationBin]:
    """Predictions grouped by confidence into ``bins`` equal-width bins ``(lo, hi]``; empty bins left out.
    What a reliability diagram draws and what the ECE sums."""
    if probs.dim() != 2 or probs.shape[0] != labels.shape[0]:
        raise ValueError(f"probs must be (N, classes) and labels (N,), got {tuple(probs.shape)}, {tuple(labels.shape)}")
    if bins < 1:
        raise ValueError(f"bins must be positive, got {bins}")
    conf, pred = probs.max(dim=1)
    correct = (pred == labels).float()
    edges = torch.linspace(0, 1, bins + 1, dtype=conf.dtype)
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (conf > lo) & (conf <= hi)
        if sel.any():
            out.append(CalibrationBin(float(lo), float(hi), int(sel.sum()), conf[sel].mean().item(),
                                      correct[sel].mean().item()))
    return out


def expected_calibration_error(probs: torch.Tensor, labels: torch.Tensor, bins: int = 15) -> float:
    """ECE: the bin-size-weighted gap between confidence and accuracy over ``bins`` equal-width bins."""
    n = probs.shape[0]
    return sum(b.count / n * abs(b.confidence - b.accuracy) for b in reliability_bins(probs, labels, bins))
