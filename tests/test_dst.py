"""Dynamic sparse training (sparsekit.dst) against brute-force oracles: RigL's drop and grow against a
per-tensor argsort of |w| and an argmax over the dense gradient, SET's counts, the cosine anneal
against its formula, masks exact through SGD with momentum and Adam, and the errors of bad input."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from sparsekit.dst import SET, RigL, drop_fraction_at
from sparsekit.masks import random_mask
from sparsekit.prune import Pruner


def sparse_net(seed: int, sparsity: float = 0.8, widths=(12, 20, 3)):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(widths[0], widths[1]), nn.ReLU(), nn.Linear(widths[1], widths[2]))
    pr = Pruner(net)
    g = torch.Generator().manual_seed(seed)
    pr.set_masks({n: random_mask(p.shape, sparsity, g) for n, p in pr.params.items()})
    return net, pr


def one_step(net, opt, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(16, net[0].in_features, generator=g)
    y = torch.randint(0, net[-1].out_features, (16,), generator=g)
    opt.zero_grad()
    nn.functional.cross_entropy(net(x), y).backward()
    grads = {n: p.grad.detach().clone() for n, p in net.named_parameters()}  # the dense gradient
    weights = {n: p.detach().clone() for n, p in net.named_parameters()}
    opt.step()
    return grads, weights


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), share=st.floats(0.05, 0.9), momentum=st.sampled_from([0.0, 0.9]))
def test_rigl_update_against_brute_force(seed, share, momentum):
    net, pr = sparse_net(seed)
    opt = pr.attach(torch.optim.SGD(net.parameters(), lr=0.05, momentum=momentum))
    seen = {}  # the weights the step produced, just before the update (hooks run in registration order)
    opt.register_step_post_hook(lambda o, a, k: seen.update({n: p.detach().clone() for n, p in pr.params.items()}))
    rigl = RigL(pr, opt, every=1, end_step=10, drop_fraction=share, anneal="constant")
    before = {n: m.clone() for n, m in pr.masks.items()}
    grads, _ = one_step(net, opt, seed)  # step 1: one update at drop share `share`
    for name, mask in before.items():
        active, w = int(mask.sum()), seen[name]
        k = round(share * active)
        # drop: the k smallest |w| of the active weights (a stable sort over the active ones only)
        mags = torch.where(mask, w.abs(), torch.full_like(w, math.inf)).flatten()
        kept = mask.clone().flatten()
        kept[torch.argsort(mags, stable=True)[:k]] = False
        # grow: k times the argmax of |dense gradient| over the positions not kept
        score = torch.where(kept, torch.full_like(mags, -math.inf), grads[name].abs().flatten())
        want = kept.clone()
        for _ in range(k):
            j = int(torch.argmax(score))
            want[j], score[j] = True, -math.inf
        assert torch.equal(pr.masks[name].flatten(), want), name
        assert int(pr.masks[name].sum()) == active, "the number of active weights never changes"
        assert bool((pr.params[name].detach()[~pr.masks[name]] == 0).all()), "inactive weights are exactly zero"
    assert rigl.updates == 1


@pytest.mark.parametrize("optimizer", ["sgd-momentum", "adam"])
@pytest.mark.parametrize("method", [SET, RigL])
def test_masks_exact_through_optimizers(optimizer, method):
    net, pr = sparse_net(5, sparsity=0.9)
    params = net.parameters()
    opt = torch.optim.SGD(params, lr=0.1, momentum=0.9) if optimizer == "sgd-momentum" else \
        torch.optim.Adam(params, lr=1e-2)
    opt = pr.attach(opt)
    upd = method(pr, opt, every=2, end_step=15, drop_fraction=0.3, generator=torch.Generator().manual_seed(0))
    counts = {n: int(m.sum()) for n, m in pr.masks.items()}
    for step in range(20):
        one_step(net, opt, step)
        for n, p in pr.params.items():
            m = pr.masks[n]
            assert int(m.sum()) == counts[n]
            assert bool((p.detach()[~m] == 0).all()), f"pruned weights of {n} revived at step {step}"
            for v in opt.state[p].values():
                if isinstance(v, torch.Tensor) and v.shape == p.shape:
                    assert bool((v[~m] == 0).all()), f"optimizer state of {n} non-zero at a pruned position"
    assert upd.updates == 7  # steps 2, 4, ..., 14
    assert all(0 <= c <= 0.3 + 1e-9 for c in upd.changed)
    assert sum(upd.changed) > 0


def test_grown_weights_start_at_zero_with_zero_state():
    net, pr = sparse_net(7, sparsity=0.7)
    opt = pr.attach(torch.optim.Adam(net.parameters(), lr=1e-2))
    RigL(pr, opt, every=3, end_step=10, anneal="constant")
    for step in range(2):
        one_step(net, opt, step)
    before = {n: m.clone() for n, m in pr.masks.items()}
    one_step(net, opt, 2)  # step 3: an update
    for n, p in pr.params.items():
        grown = pr.masks[n] & ~before[n]
        assert grown.any()
        assert bool((p.detach()[grown] == 0).all())
        assert all(bool((v[grown] == 0).all()) for v in opt.state[p].values()
                   if isinstance(v, torch.Tensor) and v.shape == p.shape)


def test_set_grows_at_random_among_empty_positions():
    net, pr = sparse_net(11, sparsity=0.8)
    opt = pr.attach(torch.optim.SGD(net.parameters(), lr=0.1))
    s = SET(pr, opt, every=1, end_step=3, drop_fraction=0.5, anneal="constant",
            generator=torch.Generator().manual_seed(1))
    before = {n: m.clone() for n, m in pr.masks.items()}
    one_step(net, opt, 0)
    assert s.updates == 1 and s.changed[0] > 0
    for n, m in pr.masks.items():
        assert int(m.sum()) == int(before[n].sum())


def test_anneal_schedule_and_timing():
    for t in range(0, 120, 7):
        want = 0.3 / 2 * (1 + math.cos(math.pi * t / 100)) if t < 100 else 0.0
        assert math.isclose(drop_fraction_at(t, 0.3, 100), want, abs_tol=1e-12)
    assert drop_fraction_at(99, 0.3, 100, "constant") == 0.3 and drop_fraction_at(100, 0.3, 100, "constant") == 0
    net, pr = sparse_net(2)
    opt = pr.attach(torch.optim.SGD(net.parameters(), lr=0.1))
    upd = RigL(pr, opt, every=4, end_step=13, begin_step=5)
    for step in range(20):
        one_step(net, opt, step)
    assert upd.updates == 2  # steps 8 and 12 (begin 5, end 13)


def test_bad_input_names_the_argument():
    net, pr = sparse_net(0)
    opt = pr.attach(torch.optim.SGD(net.parameters(), lr=0.1))
    with pytest.raises(ValueError, match="every"):
        RigL(pr, opt, every=0, end_step=10)
    with pytest.raises(ValueError, match=r"drop_fraction must be in \[0, 1\)"):
        RigL(pr, opt, every=1, end_step=10, drop_fraction=1.0)
    with pytest.raises(ValueError, match="drop_fraction"):
        SET(pr, opt, every=1, end_step=10, drop_fraction=-0.1)
    with pytest.raises(ValueError, match="anneal must be one of"):
        SET(pr, opt, every=1, end_step=10, anneal="linear")
    with pytest.raises(ValueError, match="end_step"):
        SET(pr, opt, every=1, end_step=0)
    other = torch.optim.SGD(net.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="attach the optimizer"):
        RigL(pr, other, every=1, end_step=10)
