import pytest
import torch
from torch import nn
from torch.nn import functional as F

from sparsekit import masks as M
from sparsekit.prune import (
    IMPConfig,
    Pruner,
    iterative_magnitude_pruning,
    prunable_parameters,
    rewind,
    snapshot,
)
from sparsekit.utils import config_hash


def net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 3))


def batch():
    g = torch.Generator().manual_seed(1)
    return torch.randn(64, 12, generator=g), torch.randint(0, 3, (64,), generator=g)


OPTIMIZERS = {
    "sgd_momentum": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-3),
    "sgd_nesterov": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
    "adam": lambda p: torch.optim.Adam(p, lr=1e-2, weight_decay=1e-3),
    "adamw": lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.1),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_pruned_weights_stay_zero_with_warm_optimizer_state(name):
    model = net()
    opt = OPTIMIZERS[name](model.parameters())
    x, y = batch()
    for _ in range(5):  # build up momentum / Adam moments on every weight first
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    pr = Pruner(model)
    pr.attach(opt)
    pr.prune_to(0.7)
    for _ in range(20):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    for n, p in pr.params.items():
        assert (p[~pr.masks[n]] == 0).all(), f"{name} revived pruned weights of {n}"
        for v in opt.state[p].values():
            if isinstance(v, torch.Tensor) and v.shape == p.shape:
                assert (v[~pr.masks[n]] == 0).all(), f"{name} state is non-zero at pruned positions"
        assert (p[pr.masks[n]] != 0).any()  # the rest still trains


def test_naive_mask_is_revived_by_momentum():
    """The failure Pruner prevents: masking .data once leaves momentum to revive the weights."""
    model = net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = batch()
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    mask = M.magnitude_mask(model[0].weight.detach(), 0.7)
    with torch.no_grad():
        model[0].weight.mul_(mask)
    opt.zero_grad()
    F.cross_entropy(model(x), y).backward()
    opt.step()
    assert (model[0].weight[~mask] != 0).float().mean() > 0.9


def test_state_dict_loads_into_unpruned_model():
    model = net()
    pr = Pruner(model)
    pr.prune_to(0.5)
    fresh = net()
    fresh.load_state_dict(model.state_dict())  # strict: no weight_orig / weight_mask keys
    x, _ = batch()
    torch.testing.assert_close(fresh(x), model(x))


def test_default_parameter_choice_skips_biases_embeddings_norms():
    m = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 4), nn.LayerNorm(4), nn.Linear(4, 2))
    assert prunable_parameters(m) == ["1.weight", "3.weight"]
    rnn = nn.GRU(3, 5, num_layers=2)
    assert prunable_parameters(rnn) == ["weight_ih_l0", "weight_hh_l0", "weight_ih_l1", "weight_hh_l1"]


def test_pruner_errors():
    model = net()
    with pytest.raises(KeyError, match="does not have"):
        Pruner(model, ["nope"])
    pr = Pruner(model)
    with pytest.raises(ValueError, match=r"mask for '0.weight' has shape \(3, 3\)"):
        pr.set_masks({"0.weight": torch.ones(3, 3, dtype=torch.bool)})
    with pytest.raises(KeyError, match="does not manage"):
        pr.set_masks({"0.bias": torch.ones(16, dtype=torch.bool)})
    with pytest.raises(ValueError, match="scope"):
        pr.prune_surviving(0.2, scope="nope")
    with pytest.raises(KeyError, match="missing"):
        pr.prune_surviving({"0.weight": 0.2})


def test_per_layer_and_global_rates():
    model = net()
    pr = Pruner(model)
    pr.prune_surviving({"0.weight": 0.5, "2.weight": 0.25})
    assert pr.layer_sparsity() == {"0.weight": 0.5, "2.weight": 0.25}
    pr2 = Pruner(net())
    pr2.prune_surviving(0.5, scope="global")
    assert pr2.sparsity() == 0.5
    df = pr2.report()
    assert df.iloc[-1]["kept"] == (12 * 16 + 16 * 3) // 2


def test_snapshot_and_rewind():
    model = net()
    snap = snapshot(model)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    pr = Pruner(model)
    pr.prune_to(0.5)
    rewind(model, snap, pr)
    for n, p in model.named_parameters():
        if n in pr.masks:
            torch.testing.assert_close(p, snap[n] * pr.masks[n])
        else:
            torch.testing.assert_close(p, snap[n])


# ----------------------------------------------------------------------------- IMP


def make_model():
    return nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 3))


def train_fn(model, pruner, rnd, on_step):
    opt = pruner.attach(torch.optim.Adam(model.parameters(), lr=1e-2))
    x, y = batch()
    for step in range(1, 16):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        on_step(step)
    with torch.no_grad():
        return {"loss": F.cross_entropy(model(x), y).item()}


def test_imp_densities_and_nested_masks():
    cfg = IMPConfig(rounds=3, rate={"0.weight": 0.2, "2.weight": 0.1}, seed=3)
    res = iterative_magnitude_pruning(make_model, train_fn, cfg, progress=False)
    assert [h["round"] for h in res.history] == [0, 1, 2, 3]
    for r, m in enumerate(res.masks):
        assert int(m["0.weight"].sum()) == _survivors(192, 0.2, r)
        assert int(m["2.weight"].sum()) == _survivors(48, 0.1, r)
    for a, b in zip(res.masks, res.masks[1:]):
        assert not (b["0.weight"] & ~a["0.weight"]).any()


def _survivors(n, rate, rounds):
    for _ in range(rounds):
        n -= round(rate * n)
    return n


def test_imp_rewinds_survivors_to_init():
    seen = {}

    def train_record(model, pruner, rnd, on_step):
        seen[rnd] = snapshot(model)
        return train_fn(model, pruner, rnd, on_step)

    res = iterative_magnitude_pruning(make_model, train_record, IMPConfig(rounds=2), progress=False)
    for rnd in (1, 2):
        for n, m in res.masks[rnd].items():
            torch.testing.assert_close(seen[rnd][n], res.init[n] * m)


def test_imp_rewind_to_step_k():
    res = iterative_magnitude_pruning(make_model, train_fn, IMPConfig(rounds=1, rewind_step=5), progress=False)
    assert not torch.equal(res.rewind_to["0.weight"], res.init["0.weight"])
    with pytest.raises(RuntimeError, match="never reached"):
        iterative_magnitude_pruning(make_model, train_fn, IMPConfig(rounds=1, rewind_step=500), progress=False)


class Killed(Exception):
    pass


def test_imp_checkpoint_resume_matches_uninterrupted(tmp_path):
    cfg = IMPConfig(rounds=4, rate=0.3, seed=7)
    full = iterative_magnitude_pruning(make_model, train_fn, cfg, checkpoint=tmp_path / "a.pt", progress=False)

    def dies_in_round_3(model, pruner, rnd, on_step):
        if rnd == 3:
            raise Killed
        return train_fn(model, pruner, rnd, on_step)

    ck = tmp_path / "b.pt"
    with pytest.raises(Killed):
        iterative_magnitude_pruning(make_model, dies_in_round_3, cfg, checkpoint=ck, progress=False)
    assert ck.exists() and not list(tmp_path.glob(".b.pt.*"))  # no half-written temporary left
    resumed = iterative_magnitude_pruning(make_model, train_fn, cfg, checkpoint=ck, progress=False)
    assert resumed.resumed_from == 3
    assert resumed.history == full.history
    for a, b in zip(full.masks, resumed.masks):
        for k in a:
            assert torch.equal(a[k], b[k])


def test_imp_checkpoint_of_other_config_is_refused(tmp_path):
    ck = tmp_path / "c.pt"
    iterative_magnitude_pruning(make_model, train_fn, IMPConfig(rounds=1), checkpoint=ck, progress=False)
    with pytest.raises(ValueError, match="another configuration"):
        iterative_magnitude_pruning(make_model, train_fn, IMPConfig(rounds=2), checkpoint=ck, progress=False)


def test_imp_config_validation():
    with pytest.raises(ValueError, match="rate"):
        IMPConfig(rounds=2, rate=1.0)
    with pytest.raises(ValueError, match="scope"):
        IMPConfig(rounds=2, scope="x")
    with pytest.raises(TypeError, match="global"):
        IMPConfig(rounds=2, rate={"a": 0.2}, scope="global")


def test_config_hash_stable():
    assert config_hash(IMPConfig(rounds=2)) == config_hash(IMPConfig(rounds=2))
    assert config_hash(IMPConfig(rounds=2)) != config_hash(IMPConfig(rounds=3))


def test_prune_step_is_pure_and_matches_the_pruner():
    from sparsekit.prune import prune_step

    model = net()
    pr = Pruner(model)
    pr.prune_surviving(0.3)
    weights = {n: p.detach().clone() for n, p in pr.params.items()}
    masks = {n: m.clone() for n, m in pr.masks.items()}
    for scope in ("layer", "global"):
        new = prune_step(weights, masks, 0.5, scope)
        assert all(torch.equal(weights[n], p.detach()) for n, p in pr.params.items())  # inputs untouched
        assert all(torch.equal(masks[n], pr.masks[n]) for n in masks)
        ref = Pruner(net(), masks=masks)
        for n, p in ref.params.items():
            p.data.copy_(weights[n])
        ref.prune_surviving(0.5, scope)
        assert all(torch.equal(new[n], ref.masks[n]) for n in new)
        assert all(not (new[n] & ~masks[n]).any() for n in new)  # masks only shrink
    with pytest.raises(KeyError, match="same tensors"):
        prune_step(weights, {"0.weight": masks["0.weight"]}, 0.5)


def test_detach_removes_the_hooks():
    model = net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    pr = Pruner(model)
    pr.attach(opt)
    pr.prune_to(0.5)
    pr.detach()
    x, y = torch.randn(8, 12), torch.randint(0, 3, (8,))
    F.cross_entropy(model(x), y).backward()
    opt.step()
    revived = sum(int((p.detach()[~pr.masks[n]] != 0).sum()) for n, p in pr.params.items())
    assert revived > 0  # no longer enforced: gradients reach the pruned weights
    assert pr.sparsity() == pytest.approx(0.5, abs=0.01)  # the masks themselves stay


def test_set_masks_refuses_float_and_numpy_masks():
    import numpy as np

    pr = Pruner(net())
    with pytest.raises(TypeError, match="must be a torch.bool tensor.*float32"):
        pr.set_masks({"0.weight": torch.rand(16, 12)})
    with pytest.raises(TypeError, match="must be a torch.bool tensor.*ndarray"):
        pr.set_masks({"0.weight": np.ones((16, 12), dtype=bool)})
