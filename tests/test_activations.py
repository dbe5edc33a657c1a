import pytest
import torch
from torch import nn

from sparsekit.activations import ActivationMeter, TopK, activation_modules
from sparsekit.transformers import T5Encoder, ViT, majority_task


def test_topk_keeps_k_largest_after_relu():
    x = torch.randn(5, 7, 32)
    out = TopK(4)(x)
    assert ((out != 0).sum(-1) <= 4).all()
    ref = torch.relu(x)
    kth = ref.topk(4, dim=-1).values[..., -1:]
    torch.testing.assert_close(out, torch.where(ref >= kth, ref, torch.zeros_like(ref)))
    torch.testing.assert_close(TopK(100)(x), torch.relu(x))
    with pytest.raises(ValueError, match="k must be"):
        TopK(0)


def test_meter_matches_stored_activations():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 20), nn.ReLU(), nn.Linear(20, 20), nn.ReLU())
    xs = [torch.randn(7, 3, 6), torch.randn(11, 6)]
    with ActivationMeter(net) as meter:
        for x in xs:
            net(x)
    # oracle: keep the activations and average each token's non-zero fraction
    fracs = {"1": [], "3": []}
    h1 = lambda x: torch.relu(net[0](x))
    for x in xs:
        a1 = h1(x).reshape(-1, 20)
        a3 = torch.relu(net[2](h1(x))).reshape(-1, 20)
        fracs["1"].append((a1 > 0).float().mean(-1))
        fracs["3"].append((a3 > 0).float().mean(-1))
    for name in ("1", "3"):
        f = torch.cat(fracs[name])
        assert meter.nonzero_percent()[name] == pytest.approx(100 * f.mean().item(), rel=1e-6)
        assert meter.nonzero_std()[name] == pytest.approx(100 * f.std(unbiased=False).item(), rel=1e-5, abs=1e-6)
    assert meter.tokens["1"] == 7 * 3 + 11
    net(xs[0])  # detached: no more counting
    assert meter.tokens["1"] == 32


def test_meter_errors_and_module_lookup():
    net = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="no activation modules"):
        ActivationMeter(net)
    with pytest.raises(KeyError, match="no modules named"):
        ActivationMeter(net, ["nope"])
    vit = ViT(d=16, depth=2, heads=2, d_ff=32)
    assert list(activation_modules(vit)) == ["blocks.0.mlp.act", "blocks.1.mlp.act"]


def test_relu_nonzero_starts_near_half():
    torch.manual_seed(0)
    vit = ViT(d=32, depth=2, heads=4, d_ff=128)
    with ActivationMeter(vit) as meter, torch.no_grad():
        vit(torch.rand(64, 784))
    assert 35 < meter.mean_percent() < 65


def test_models_shapes_and_task():
    vit = ViT(d=16, depth=1, heads=2, d_ff=32, activation=4)
    assert vit(torch.rand(3, 1, 28, 28)).shape == (3, 10)
    assert isinstance(vit.blocks[0].mlp.act, TopK)
    x, y = majority_task(50, length=12, vocab=5, seed=1)
    counts = torch.stack([torch.bincount(row, minlength=5) for row in x])
    assert torch.equal(counts.argmax(1), y)
    enc = T5Encoder(vocab=5, max_len=12, d=16, depth=1, heads=2, d_ff=32, num_classes=5)
    assert enc(x).shape == (50, 5)
    with pytest.raises(ValueError, match="divide"):
        ViT(patch=5)
    with pytest.raises(ValueError, match="activation"):
        ViT(activation="gelu")
