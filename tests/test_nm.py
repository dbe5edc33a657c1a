import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsekit.masks import layer_nm_mask, nm_mask_conv
from sparsekit.nm import NMConv2d, NMLinear, SADTracker, sad, sparse_weight


@settings(max_examples=30, deadline=None)
@given(nm=st.sampled_from([(2, 4), (1, 4), (4, 8), (2, 8), (1, 16)]), o=st.integers(1, 6), g=st.integers(1, 3),
       k=st.sampled_from([1, 3]), seed=st.integers(0, 999))
def test_conv_channel_layout_groups_input_channels(nm, o, g, k, seed):
    n, m = nm
    w = torch.randn(o, g * m, k, k, generator=torch.Generator().manual_seed(seed))
    mask = nm_mask_conv(w, n, m, "channel")
    # exactly n kept in every group of m consecutive input channels at every kernel tap
    per_group = mask.permute(0, 2, 3, 1).reshape(o, k, k, g, m).sum(-1)
    assert (per_group == n).all()
    # and they are the n largest magnitudes of the group
    wt = w.abs().permute(0, 2, 3, 1).reshape(o, k, k, g, m)
    mt = mask.permute(0, 2, 3, 1).reshape(o, k, k, g, m)
    kept_min = torch.where(mt, wt, torch.inf).amin(-1)
    dropped_max = torch.where(~mt, wt, -torch.inf).amax(-1)
    assert (kept_min >= dropped_max).all()


def test_flat_layout_differs_from_channel_layout():
    w = torch.randn(8, 8, 3, 3, generator=torch.Generator().manual_seed(0))
    flat = nm_mask_conv(w, 2, 4, "flat")
    chan = nm_mask_conv(w, 2, 4, "channel")
    assert (flat.reshape(8, -1).view(8, -1, 4).sum(-1) == 2).all()
    per_channel_group = flat.permute(0, 2, 3, 1).reshape(8, 3, 3, 2, 4).sum(-1)
    assert not (per_channel_group == 2).all()  # the flat mask is not 2:4 along input channels
    assert not torch.equal(flat, chan)
    with pytest.raises(ValueError, match="layout"):
        nm_mask_conv(w, 2, 4, "rows")


def numerical_grad(f, v, eps=1e-6):
    g = torch.zeros_like(v)
    flat = v.view(-1)
    for i in range(flat.numel()):
        old = flat[i].item()
        flat[i] = old + eps
        hi = f(v)
        flat[i] = old - eps
        lo = f(v)
        flat[i] = old
        g.view(-1)[i] = (hi - lo) / (2 * eps)
    return g


@pytest.mark.parametrize("lam", [0.0, 2e-4, 0.5])
def test_srste_gradient_matches_numerical(lam):
    g = torch.Generator().manual_seed(1)
    w = torch.randn(3, 8, dtype=torch.float64, generator=g)
    x = torch.randn(5, 8, dtype=torch.float64, generator=g)
    t = torch.randn(5, 3, dtype=torch.float64, generator=g)
    mask = layer_nm_mask(w, 2, 4)
    loss_of_sparse = lambda v: ((x @ v.T - t) ** 2).sum().item()
    wp = w.clone().requires_grad_(True)
    ((x @ sparse_weight(wp, mask, lam).T - t) ** 2).sum().backward()
    # STE: the gradient w.r.t. the sparse weight, evaluated at W*E, is passed to every dense weight
    g_sparse = numerical_grad(loss_of_sparse, (w * mask).clone())
    expected = g_sparse + lam * (~mask) * w
    torch.testing.assert_close(wp.grad, expected, rtol=1e-6, atol=1e-6)


def test_nm_linear_forward_uses_current_mask_and_to_sparse():
    torch.manual_seed(0)
    layer = NMLinear(16, 5, n=2, m=4)
    x = torch.randn(4, 16)
    mask = layer.current_mask()
    torch.testing.assert_close(layer(x), torch.nn.functional.linear(x, layer.weight * mask, layer.bias))
    with torch.no_grad():
        torch.testing.assert_close(layer.to_sparse()(x), layer(x), rtol=1e-5, atol=1e-5)
    assert "nm=2:4" in repr(layer)


def test_nm_conv_forward():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(8, 4, 3, padding=1)
    layer = NMConv2d.from_conv(conv, 2, 4)
    x = torch.randn(2, 8, 6, 6)
    ref = torch.nn.functional.conv2d(x, conv.weight * nm_mask_conv(conv.weight, 2, 4), conv.bias, padding=1)
    torch.testing.assert_close(layer(x), ref)


def test_nm_layer_errors():
    with pytest.raises(ValueError, match="does not divide"):
        NMLinear(10, 3, n=2, m=4)
    with pytest.raises(ValueError, match="N <= M"):
        NMLinear(8, 3, n=5, m=4)
    with pytest.raises(ValueError, match="lambda_w"):
        NMLinear(8, 3, lambda_w=-1)
    with pytest.raises(ValueError, match="does not divide"):
        NMConv2d(1, 4, 3, n=2, m=4)  # one input channel cannot hold groups of 4 channels


def test_sad_and_tracker():
    a = torch.tensor([True, False, True, False])
    b = torch.tensor([True, True, False, False])
    assert sad(a, b) == 2
    torch.manual_seed(0)
    model = torch.nn.Sequential(NMLinear(8, 4), torch.nn.ReLU(), NMLinear(4, 2))
    tr = SADTracker(model)
    assert tr.step() == 0.0  # nothing changed
    with torch.no_grad():
        model[0].weight.mul_(-1).add_(torch.randn_like(model[0].weight))
    f = tr.step()
    assert 0 < f <= 1
    assert tr.cumulative() == [0.0, f]
    with pytest.raises(ValueError, match="no NMLinear"):
        SADTracker(torch.nn.Linear(2, 2))


def test_srste_reduces_flips_relative_to_ste():
    """A large lambda_w pulls pruned weights to zero, so fewer masks flip during training."""
    results = {}
    for lam in (0.0, 0.05):
        torch.manual_seed(0)
        model = torch.nn.Sequential(NMLinear(16, 32, lambda_w=lam), torch.nn.ReLU(), torch.nn.Linear(32, 3))
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        x, y = torch.randn(256, 16), torch.randint(0, 3, (256,))
        tr = SADTracker(model)
        for _ in range(60):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
            tr.step()
        results[lam] = tr.cumulative()[-1]
    assert results[0.05] < results[0.0]


def test_integrated_decay_and_its_inverse():
    from sparsekit.nm import integrated_decay, lambda_for_decay

    lrs = [0.05 * (1 + np.cos(np.pi * t / 216)) / 2 for t in range(216)]
    assert integrated_decay(2e-4, lrs, 0.9) == pytest.approx(2e-4 * sum(lrs) / 0.1)
    assert sum(lrs) == pytest.approx(0.05 * 217 / 2)  # the cosine sum in closed form
    lam = lambda_for_decay(3.0, lrs, 0.9)
    assert integrated_decay(lam, lrs, 0.9) == pytest.approx(3.0)
    with pytest.raises(ValueError, match="momentum"):
        integrated_decay(1e-3, lrs, 1.0)
    with pytest.raises(ValueError, match="lambda_w"):
        integrated_decay(-1.0, lrs)
    with pytest.raises(ValueError, match="positive sum"):
        lambda_for_decay(3.0, [], 0.9)


def test_train_from_scratch_records_every_step_and_srste_decays_pruned_weights():
    from sparsekit.data.split import Split
    from sparsekit.nm import NMLinear, integrated_decay, lambda_for_decay
    from sparsekit.studies.nm_sparsity import train_from_scratch

    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 16, generator=g)
    y = (x[:, :4].sum(1) > 0).long()
    data = Split(x[:128], y[:128], x[128:160], y[128:160], x[160:], y[160:], name="toy", num_classes=2)

    def make(lam):
        return lambda: torch.nn.Sequential(NMLinear(16, 8, 2, 4, lam), torch.nn.ReLU(), torch.nn.Linear(8, 2))

    ste_net, ste = train_from_scratch(make(0.0), data, seed=0, epochs=3, lr=0.1, batch_size=32)
    assert len(ste["lrs"]) == len(ste["sad"]) == 3 * (128 // 32)
    assert ste["lrs"][0] == pytest.approx(0.1) and all(a >= b for a, b in zip(ste["lrs"], ste["lrs"][1:]))
    assert all(0.0 <= s <= 1.0 for s in ste["sad"]) and 0.0 <= ste["acc"] <= 100.0
    lam = lambda_for_decay(10.0, ste["lrs"], 0.9)
    net, sr = train_from_scratch(make(lam), data, seed=0, epochs=3, lr=0.1, batch_size=32)
    assert integrated_decay(lam, sr["lrs"], 0.9) == pytest.approx(10.0)
    def pruned_size(model):
        layer = model[0]
        return float(layer.weight.detach()[~layer.current_mask()].abs().mean())

    assert pruned_size(net) < 0.75 * pruned_size(ste_net)  # the decay shrinks the pruned weights
    again = train_from_scratch(make(0.0), data, seed=0, epochs=3, lr=0.1, batch_size=32)[1]
    assert again["sad"] == ste["sad"]  # seeded


def test_sparse_tensor_cores_are_not_claimed_on_a_cpu():
    from sparsekit.nm import has_sparse_tensor_cores, semi_structured_speedup

    assert has_sparse_tensor_cores("cpu") is False
    with pytest.raises(RuntimeError, match="no 2:4 sparse tensor cores"):
        semi_structured_speedup("cpu")
