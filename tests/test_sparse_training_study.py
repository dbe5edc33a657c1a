"""Notebook 08's study (sparsekit.studies.sparse_training): every method ends at its sparsity with
exact masks, node masks are sub-networks, the width match solves its quadratic, the tuning rule
picks the best validation accuracy (ties: the smaller rate), and bad arms are refused by name."""

import math

import numpy as np
import pytest
import torch

from sparsekit.data.split import Split
from sparsekit.studies import sparse_training as stt


def tiny_data(n=96, d=40, classes=10, seed=0) -> Split:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n + 64, d, generator=g)
    y = (x[:, :classes].argmax(1)).long()
    return Split(x[:n], y[:n], x[n:n + 32], y[n:n + 32], x[n + 32:], y[n + 32:], name="tiny")


BUDGET = stt.Budget(epochs=5, batch_size=32, prune_begin=0.2, prune_end=0.6, dst_end=0.8)


@pytest.mark.parametrize("arm", [
    stt.Arm("g", "mlp", 16, "gradual", 0.9), stt.Arm("o", "mlp", 16, "oneshot", 0.8),
    stt.Arm("s", "cnn", 4, "static", 0.7, "uniform"), stt.Arm("e", "cnn", 4, "static", 0.7, "er"),
    stt.Arm("set", "cnn", 4, "set", 0.8), stt.Arm("rigl", "mlp", 16, "rigl", 0.8),
    stt.Arm("n", "mlp", 16, "nodes", 0.5), stt.Arm("d", "mlp", 8)])
def test_every_method_ends_at_its_sparsity(arm):
    data = tiny_data()
    out = stt.train_arm(arm, data, seed=3, lr=1e-2, budget=BUDGET, return_model=True)
    net = out["model"]
    weights = {n: p for n, p in net.named_parameters() if p.dim() >= 2}
    zeros = sum(int((p == 0).sum()) for p in weights.values())
    total = sum(p.numel() for p in weights.values())
    # masks exact: every pruned weight is exactly zero (a weight SET or RigL grew may still be 0 too)
    assert total - zeros <= out["nonzeros"]
    if arm.method not in ("set", "rigl"):
        assert out["nonzeros"] == total - zeros
    if arm.method in ("gradual", "oneshot"):
        # per layer to the target (rounded per tensor)
        for p in weights.values():
            assert abs(int((p == 0).sum()) - round(arm.sparsity * p.numel())) <= 1
    elif arm.method in ("static", "set", "rigl"):
        dens = stt.layer_densities(stt.build(arm), arm.distribution, 1 - arm.sparsity)
        for n, p in weights.items():
            active = p.numel() - round((1 - dens[n]) * p.numel()) if dens[n] < 1.0 else p.numel()
            assert int((p != 0).sum()) == active or (arm.method != "static" and int((p != 0).sum()) <= active)
    elif arm.method == "dense":
        assert out["sparsity"] == 0
    assert 0 <= out["test_acc"] <= 1 and 0 <= out["val_acc"] <= 1
    if arm.method in ("set", "rigl"):
        assert len(out["changed"]) >= 1


def test_same_seed_same_result_and_paired_init():
    data = tiny_data()
    a = stt.train_arm(stt.Arm("x", "mlp", 8, "static", 0.5), data, 1, 1e-2, BUDGET)
    b = stt.train_arm(stt.Arm("x", "mlp", 8, "static", 0.5), data, 1, 1e-2, BUDGET)
    assert a == b
    n1 = stt.train_arm(stt.Arm("dense a", "mlp", 8), data, 1, 1e-2, BUDGET, epochs=1, return_model=True)["model"]
    n2 = stt.train_arm(stt.Arm("dense b", "mlp", 8), data, 1, 1e-2, BUDGET, epochs=1, return_model=True)["model"]
    assert all(torch.equal(p, q) for p, q in zip(n1.parameters(), n2.parameters())), \
        "arms of one network size start from the same initialisation"


def test_node_masks_are_subnetworks():
    net = stt.build(stt.Arm("m", "mlp", 20))
    masks = stt.node_masks(net, 0.25, torch.Generator().manual_seed(0))
    w0, w1, w2 = masks["0.weight"], masks["2.weight"], masks["4.weight"]
    rows0, cols1 = w0.any(1), w1.any(0)
    assert int(rows0.sum()) == 5 and torch.equal(rows0, cols1)  # the units layer 1 keeps feed layer 2
    assert torch.equal(w1.any(1), w2.any(0)) and bool(w2.any(1).all())
    assert bool(w0[rows0].all()) and not bool(w0[~rows0].any())  # all inputs of a kept unit, none of a dropped one


def test_matched_width():
    for h in (1, 7, 64, 300):
        assert stt.matched_width(h * h + 50 * h) == h
    assert stt.matched_width(0.1 * (40 * 256 + 256 * 256 + 2560)) == 67
    with pytest.raises(ValueError, match="nonzeros"):
        stt.matched_width(0)


def test_layer_densities_budget():
    net = stt.build(stt.Arm("c", "cnn", 8))
    n = stt.weight_count(net)
    for dist in stt.DISTRIBUTIONS:
        d = stt.layer_densities(net, dist, 0.2)
        assert math.isclose(sum(d[k] * n[k] for k in n), 0.2 * sum(n.values()), rel_tol=1e-9)
    with pytest.raises(ValueError, match="distribution must be one of"):
        stt.layer_densities(net, "erk+", 0.2)
    with pytest.raises(ValueError, match="density"):
        stt.layer_densities(net, "uniform", 0.0)


def test_tuning_rule_picks_the_best_validation_accuracy(monkeypatch):
    val = {1e-3: 0.5, 3e-3: 0.7, 1e-2: 0.7}
    monkeypatch.setattr(stt, "run", lambda arm, data, s, lr, budget: {"val_acc": val[lr] + 0.01 * s})
    lr, scores = stt.tune_lr(stt.Arm("a"), None, [0, 1], [1e-2, 1e-3, 3e-3], BUDGET, extend=0)
    assert lr == 3e-3 and scores == pytest.approx({1e-3: 0.505, 3e-3: 0.705, 1e-2: 0.705})  # tie: the smaller
    with pytest.raises(ValueError, match="grid"):
        stt.tune_lr(stt.Arm("a"), None, [0], [], BUDGET)


def test_tuning_rule_moves_off_the_grid_edge(monkeypatch):
    calls = []

    def fake(arm, data, s, lr, budget):  # validation accuracy peaks at lr = 0.027
        calls.append(lr)
        return {"val_acc": -abs(np.log(lr / 0.027))}

    monkeypatch.setattr(stt, "run", fake)
    lr, scores = stt.tune_lr(stt.Arm("a"), None, [0], [1e-3, 3e-3], BUDGET)
    assert lr == 0.027 and list(scores) == [1e-3, 3e-3, 9e-3, 0.027, 0.081]  # best inside once 0.081 is tried
    calls.clear()
    lr, scores = stt.tune_lr(stt.Arm("a"), None, [0], [1e-3, 3e-3], BUDGET, extend=1)
    assert lr == 9e-3 and len(calls) == 3  # one step at most
    monkeypatch.setattr(stt, "run", lambda arm, data, s, lr, budget: {"val_acc": -lr})  # best at the low end
    lr, scores = stt.tune_lr(stt.Arm("a"), None, [0], [1e-3, 3e-3], BUDGET, extend=1)
    assert lr == pytest.approx(1e-3 / 3, rel=1e-9)
    monkeypatch.setattr(stt, "run", lambda arm, data, s, lr, budget: {"val_acc": -abs(lr - 3e-3)})  # inside
    lr, scores = stt.tune_lr(stt.Arm("a"), None, [0], [1e-3, 3e-3, 1e-2], BUDGET)
    assert lr == 3e-3 and len(scores) == 3


def test_random_search_picks_the_best_candidate():
    data = tiny_data()
    arm = stt.Arm("rs", "mlp", 16, "nodes", 0.5, search=4)
    out = stt.random_search(arm, data, 2, 1e-2, BUDGET)
    assert len(out["short"]) == 4 and out["short"][out["chosen"]] == max(out["short"])
    assert stt.run(arm, data, 2, 1e-2, BUDGET) == out


def test_bad_arms_and_budgets_are_refused():
    with pytest.raises(ValueError, match="method must be one of"):
        stt.Arm("x", method="lottery")
    with pytest.raises(ValueError, match="sparsity must be in"):
        stt.Arm("x", method="static", sparsity=1.0)
    with pytest.raises(ValueError, match="dense arm"):
        stt.Arm("x", sparsity=0.5)
    with pytest.raises(ValueError, match="node masks"):
        stt.Arm("x", "cnn", method="nodes", sparsity=0.5)
    with pytest.raises(ValueError, match="search"):
        stt.Arm("x", method="static", sparsity=0.5, search=3)
    with pytest.raises(ValueError, match="width"):
        stt.Arm("x", width=0)
    with pytest.raises(ValueError, match="drop_fraction"):
        stt.Budget(epochs=4, drop_fraction=1.0)
    with pytest.raises(ValueError, match="no epoch"):
        stt.Budget(epochs=2, prune_begin=0.4, prune_end=0.6)
