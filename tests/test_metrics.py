"""Calibration metrics against oracles that do not bin: closed forms on constructed predictions."""

import numpy as np
import pytest
import torch

from sparsekit.metrics import expected_calibration_error, reliability_bins


def probs_with_confidence(conf, classes=2):
    """Rows whose top class is 0 with probability ``conf`` (the rest spread evenly)."""
    conf = torch.as_tensor(conf, dtype=torch.float64)
    rest = ((1 - conf) / (classes - 1)).unsqueeze(1).expand(-1, classes - 1)
    return torch.cat([conf.unsqueeze(1), rest], dim=1)


def test_one_bin_is_the_gap_between_mean_confidence_and_accuracy():
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.55, 1.0, 500)
    labels = torch.tensor((rng.random(500) > 0.7).astype(int))  # class 0 (the prediction) right 70% of the time
    p = probs_with_confidence(conf)
    acc = (labels == 0).double().mean().item()
    assert expected_calibration_error(p, labels, bins=1) == pytest.approx(abs(conf.mean() - acc), abs=1e-6)


def test_well_separated_confidences_give_the_mean_absolute_gap():
    # one prediction per bin (confidences at bin centres): ECE = mean_i |conf_i - correct_i|
    bins = 20
    conf = (np.arange(10, 20) + 0.5) / bins  # 0.525 ... 0.975, one per upper bin
    correct = np.array([1, 0, 1, 1, 0, 1, 0, 0, 1, 1])
    labels = torch.tensor(1 - correct)  # class 0 is the prediction
    got = expected_calibration_error(probs_with_confidence(conf), labels, bins=bins)
    assert got == pytest.approx(np.abs(conf - correct).mean(), abs=1e-9)


def test_constructed_groups():
    # 4 predictions at 0.85 (3 right), 6 at 0.55 (3 right): ECE = 0.4 * |0.85 - 0.75| + 0.6 * |0.55 - 0.5| = 0.07
    conf = [0.85] * 4 + [0.55] * 6
    labels = torch.tensor([0, 0, 0, 1] + [0, 0, 0, 1, 1, 1])
    p = probs_with_confidence(conf)
    assert expected_calibration_error(p, labels, bins=10) == pytest.approx(0.07, abs=1e-6)
    bins = reliability_bins(p, labels, bins=10)
    assert [(b.count, round(b.confidence, 6), b.accuracy) for b in bins] == [(6, 0.55, 0.5), (4, 0.85, 0.75)]
    assert bins[0].lo == pytest.approx(0.5) and bins[1].hi == pytest.approx(0.9)
    perfect = torch.eye(2)[torch.tensor([0, 1, 1, 0])]
    assert expected_calibration_error(perfect, torch.tensor([0, 1, 1, 0])) == pytest.approx(0.0)


def test_bad_input():
    p, y = torch.rand(10, 3).softmax(1), torch.randint(0, 3, (10,))
    with pytest.raises(ValueError, match="bins"):
        reliability_bins(p, y, bins=0)
    with pytest.raises(ValueError, match="probs"):
        reliability_bins(p, y[:5])
