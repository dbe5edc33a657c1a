"""sparsekit.studies.lazy_neurons: the measurements against hand counts and numpy, the rules against
counter-examples."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from sparsekit.activations import ActivationMeter
from sparsekit.studies import lazy_neurons as lazy
from sparsekit.transformers import MLPBlock


def _fixed_net():
    """3 inputs -> 4 ReLU units: unit 0 copies x0, unit 1 copies -x0, unit 2 is always 0 (dead), unit 3 copies x1."""
    lin = nn.Linear(3, 4, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 0, 0], [-1.0, 0, 0], [0, 0, 0], [0, 1.0, 0]]))
    return nn.Sequential(lin, nn.ReLU())


def test_profile_counts_nonzero_dead_and_live_by_hand():
    x = torch.tensor([[1.0, 1.0, 0], [-1.0, 1.0, 0], [2.0, -1.0, 0], [-3.0, -1.0, 0]])
    p = lazy.sparsity_profile(_fixed_net(), x)
    # active units per token: {0,3}, {1,3}, {0}, {1} -> 2, 2, 1, 1 of 4 -> mean 37.5%
    assert p.nonzero == {"1": pytest.approx(37.5)}
    assert p.dead == {"1": pytest.approx(25.0)}  # unit 2 never fires
    assert p.live_nonzero == {"1": pytest.approx(50.0)}  # 37.5 * 4 / 3
    assert p.mean == pytest.approx(37.5)


@settings(max_examples=25, deadline=None)
@given(tokens=st.integers(1, 40), width=st.integers(1, 20), seed=st.integers(0, 10_000), shift=st.floats(-2, 2))
def test_meter_matches_numpy(tokens, width, seed, shift):
    a = torch.relu(torch.randn(tokens, width, generator=torch.Generator().manual_seed(seed)) + shift)
    net = nn.Sequential(nn.Identity(), nn.ReLU())
    with ActivationMeter(net) as meter:
        net(a[: tokens // 2])
        net(a[tokens // 2 :])
    on = a.numpy() > 0
    assert meter.nonzero_percent()["1"] == pytest.approx(100 * on.mean(1).mean())
    fired = on.sum(0)
    assert meter.dead_percent()["1"] == pytest.approx(100 * (fired == 0).mean())
    live = meter.live_nonzero_percent()["1"]
    if fired.any():
        assert live == pytest.approx(100 * on[:, fired > 0].mean(1).mean())
    else:
        assert np.isnan(live)


def test_tracked_and_stream_training_record_profiles():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 3))
    x, y = torch.randn(64, 5), torch.randint(0, 3, (64,))
    assert len(lazy.train_tracked(net, x, y, 3, x[:20], batch=16)) == 4
    assert len(lazy.train_tracked(net, x, y, 3, x[:20], batch=16, track=False)) == 2
    batches = [(x[i : i + 8], y[i : i + 8]) for i in range(0, 64, 8)]
    steps = [s for s, _ in lazy.train_stream(net, batches, x[:20], eval_every=3)]
    assert steps == [0, 3, 6, 8]
    with pytest.raises(ValueError, match="epochs"):
        lazy.train_tracked(net, x, y, -1, x)
    with pytest.raises(ValueError, match="eval_every"):
        lazy.train_stream(net, batches, x, eval_every=0)


def test_fit_labels_stops_at_the_target():
    torch.manual_seed(0)
    x = torch.randn(200, 4)
    y = (x[:, 0] > 0).long()
    net = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 2))
    epochs, acc = lazy.fit_labels(net, x, y, target=0.95, max_epochs=200, check_every=2, lr=1e-2, batch=50)
    assert acc >= 0.95 and epochs < 200 and epochs % 2 == 0
    epochs, _ = lazy.fit_labels(net, x, torch.randint(0, 2, (200,)), target=1.0, max_epochs=3, check_every=2)
    assert epochs == 3  # the budget is a hard cap, even mid-check
    for kw, word in ((dict(target=0.0), "target"), (dict(max_epochs=0), "max_epochs")):
        with pytest.raises(ValueError, match=word):
            lazy.fit_labels(net, x, y, **kw)


def test_noisy_labels_flips_about_the_fraction_and_is_reproducible():
    y = torch.arange(10).repeat(1000)
    noisy = lazy.noisy_labels(y, 0.3, 10, seed=3)
    changed = (noisy != y).float().mean().item()
    assert 0.3 * 0.9 - 0.02 < changed < 0.3 * 0.9 + 0.02  # a random class is the true one 1 time in 10
    assert torch.equal(noisy, lazy.noisy_labels(y, 0.3, 10, seed=3))
    assert torch.equal(lazy.noisy_labels(y, 0.0, 10), y)
    with pytest.raises(ValueError, match="fraction"):
        lazy.noisy_labels(y, 1.5, 10)


def test_label_noise_pair_reports_both_runs():
    torch.manual_seed(0)
    x = torch.randn(120, 6)
    y = (x[:, :2].sum(1) > 0).long()
    out = lazy.label_noise_pair(lambda: nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 2)),
                                x, y, x[:40], y[:40], noise=0.3, seed=1, max_epochs=4, check_every=2)
    assert out["drop"] == pytest.approx(out["clean_acc"] - out["noisy_acc"])
    assert 0 <= out["ece"] <= 1 and out["probs"].shape == (40, 2)
    assert out["clean_epochs"] <= 4 and out["noisy_epochs"] <= 4


def test_mlp_block_macs_by_hand():
    assert lazy.mlp_block_macs(2, 3, 4) == 2 * 2 * 3 * 4
    assert lazy.mlp_block_macs(2, 3, 4, nonzero=0.25) == 2 * 3 * 4 + 2 * 3  # 2 of 8 activations non-zero
    assert lazy.mlp_block_macs(2, 3, 4, nonzero=1.0) == lazy.mlp_block_macs(2, 3, 4)
    with pytest.raises(ValueError, match="nonzero"):
        lazy.mlp_block_macs(2, 3, 4, nonzero=2.0)
    with pytest.raises(ValueError, match="positive"):
        lazy.mlp_block_macs(0, 3, 4)


def test_time_mlp_block_computes_the_same_product():
    torch.manual_seed(0)
    block = MLPBlock(16, 64, activation=4)
    out = lazy.time_mlp_block(block, torch.randn(50, 16), reps=2)
    assert out["max_abs_diff"] < 1e-4
    assert out["nonzero"] == pytest.approx(4 / 64)
    assert out["best dense"] in out["times_s"] and out["block speed-up"] > 0
    assert out["block MAC ratio"] == pytest.approx(2 / (1 + 4 / 64))


def test_input_gates_keep_the_largest_scores():
    torch.manual_seed(0)
    lin = nn.Linear(8, 3)
    x = torch.randn(5, 8)
    with lazy.input_gates([lin], "teal", 0.5) as masks:
        y = lin(x)
    keep = torch.zeros_like(x, dtype=torch.bool)
    keep.scatter_(1, x.abs().topk(4, dim=1).indices, True)
    assert torch.equal(masks[0], keep)
    assert torch.allclose(y, lin(x * keep))
    assert not lin._forward_pre_hooks  # the hooks are gone after the with
    with torch.no_grad():
        lin.weight.mul_(torch.tensor([1.0, 9, 1, 1, 1, 1, 1, 1]))  # column 1 ten times heavier
    with lazy.input_gates([lin], "wina", 0.875) as wina:
        lin(x)
    assert wina[0][:, 1].all()  # the heavy column is the one WINA keeps for every token
    with pytest.raises(ValueError, match="rule"):
        with lazy.input_gates([lin], "cats", 0.5):
            pass
    with pytest.raises(ValueError, match="sparsity"):
        with lazy.input_gates([lin], "teal", 1.0):
            pass


def test_wina_equals_teal_when_columns_have_equal_norms():
    lin = nn.Linear(6, 6, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.eye(6) * 2.0)
    x = torch.randn(10, 6)
    with lazy.input_gates([lin], "teal", 0.5) as teal:
        lin(x)
    with lazy.input_gates([lin], "wina", 0.5) as wina:
        lin(x)
    assert lazy.mask_overlap(teal, wina) == 1.0
    disjoint = [~teal[0]]
    assert lazy.mask_overlap(teal, disjoint) == 0.0
    with pytest.raises(ValueError, match="equally long"):
        lazy.mask_overlap(teal, [])


def test_rules_can_fail():
    v = lambda d: d.verdict  # noqa: E731
    assert v(lazy.falls_by([50, 51, 49], [40, 42, 41], 5)) == "reproduced"
    assert v(lazy.falls_by([50, 51, 49], [47, 48, 46], 5)) == "not reproduced"  # a 3-point fall
    assert v(lazy.falls_by([50, 50, 50], [30, 49, 30], 5)) == "inconclusive"  # one seed barely moves
    assert v(lazy.lower_than([41, 40, 42], [33, 32, 34])) == "reproduced"
    assert v(lazy.lower_than([41, 40, 42], [42, 39, 43])) == "inconclusive"  # inside the spread
    first = np.array([[50, 49, 51], [51, 50, 50], [49, 50, 52]])
    assert v(lazy.every_layer_falls(first, first - 10, 5)) == "reproduced"
    last = first - 10.0
    last[:, 2] = first[:, 2] - 2  # one layer barely moves
    assert v(lazy.every_layer_falls(first, last, 5)) == "not reproduced"
    with pytest.raises(ValueError, match="paired"):
        lazy.falls_by([50], [40], 5)
    with pytest.raises(ValueError, match="same shape"):
        lazy.every_layer_falls(first, first[:, :2], 5)
