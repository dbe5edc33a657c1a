"""One-shot pruning rules against their oracles: Wanda against a brute-force per-row sort of the official
score, SparseGPT's update against the closed-form OBS solution for one column, DSnoT's invariants, the
statistics against direct sums, and TEAL / WINA gates against a numpy re-derivation."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from sparsekit.gates import gated, teal_thresholds, wina_gate
from sparsekit.oneshot import InputStats, dsnot, prune_count, sparsegpt, wanda_mask, wanda_scores


def stats_of(x: torch.Tensor, hessian: bool = False, batches: int = 2) -> InputStats:
    st_ = InputStats(x.shape[-1], hessian=hessian)
    for chunk in x.chunk(batches):
        st_.add(chunk)
    return st_


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 9), cols=st.integers(2, 40), s=st.floats(0.0, 0.95), seed=st.integers(0, 10_000))
def test_wanda_per_row_against_a_brute_force_sort(rows, cols, s, seed):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(rows, cols, generator=g)
    x = torch.randn(4, 6, cols, generator=g) * torch.rand(cols, generator=g) * 3  # features of different scale
    stats = stats_of(x)
    got = wanda_mask(w, stats, sparsity=s)
    norms = np.sqrt((x.reshape(-1, cols).numpy() ** 2).sum(0) / 4)  # ||X_j|| as the official code scales it
    score = np.abs(w.numpy()) * norms
    k = int(cols * s)
    for i in range(rows):  # the official rule: a stable sort of each row, the first k pruned
        pruned = np.argsort(score[i], kind="stable")[:k]
        want = np.ones(cols, bool)
        want[pruned] = False
        np.testing.assert_array_equal(got[i].numpy(), want)
    assert (~got).sum(1).tolist() == [k] * rows


def test_wanda_layer_group_and_nm():
    g = torch.Generator().manual_seed(1)
    w, x = torch.randn(6, 16, generator=g), torch.randn(2, 8, 16, generator=g)
    stats = stats_of(x)
    layer = wanda_mask(w, stats, sparsity=0.5, group="layer")
    assert int((~layer).sum()) == 48 and not torch.equal((~layer).sum(1), torch.full((6,), 8))  # rows differ
    nm = wanda_mask(w, stats, nm=(2, 4))
    assert (nm.view(6, 4, 4).sum(-1) == 2).all()
    sc = wanda_scores(w, stats).view(6, 4, 4)
    kept_min = torch.where(nm.view(6, 4, 4), sc, torch.full_like(sc, np.inf)).min(-1).values
    dropped_max = torch.where(~nm.view(6, 4, 4), sc, torch.full_like(sc, -np.inf)).max(-1).values
    assert (kept_min >= dropped_max).all()
    for bad in (dict(sparsity=0.5, nm=(2, 4)), dict(), dict(nm=(4, 4))):
        with pytest.raises(ValueError):
            wanda_mask(w, stats, **bad)
    with pytest.raises(ValueError, match="group must be one of"):
        wanda_mask(w, stats, sparsity=0.5, group="column")
    with pytest.raises(ValueError, match="inputs but the statistics"):
        wanda_mask(torch.randn(3, 5), stats, sparsity=0.5)


def test_input_stats_are_the_official_sums():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(6, 10, 5, generator=g)  # 6 sequences of 10 tokens
    st_ = stats_of(x, hessian=True, batches=3)
    flat = x.reshape(-1, 5)
    torch.testing.assert_close(st_.scaler_row, (flat**2).sum(0) / 6)
    torch.testing.assert_close(st_.sum_row, flat.sum(0) / 6)
    torch.testing.assert_close(st_.mean, flat.mean(0))
    # DSnoT's running rule: the token-weighted mean of each batch's variance (lib/layerwrapper.py)
    chunks = [c.reshape(-1, 5) for c in x.chunk(3)]
    want_var = sum(c.var(0, unbiased=False) * len(c) for c in chunks) / 60
    torch.testing.assert_close(st_.var, want_var)
    torch.testing.assert_close(st_.H, 2 / 6 * flat.t() @ flat, rtol=1e-5, atol=1e-5)
    assert st_.nsamples == 6 and st_.ntokens == 60
    with pytest.raises(ValueError, match="got shape"):
        st_.add(torch.randn(3, 4))


def test_sparsegpt_one_pruned_column_is_the_closed_form_obs_update():
    """Pruning only weights of the first column: the update must be OBS's
    delta = -(w_p / [H^-1]_pp) H^-1_{p,:} for each row (the damped H, as SparseGPT damps it)."""
    g = torch.Generator().manual_seed(3)
    w = torch.randn(4, 12, generator=g, dtype=torch.float64)
    x = torch.randn(200, 12, generator=g, dtype=torch.float64)
    H = 2 / 200 * x.t() @ x
    mask = torch.ones_like(w, dtype=torch.bool)
    mask[[0, 2], 0] = False
    new, kept = sparsegpt(w, H, mask=mask)
    Hd = H.clone()
    Hd[range(12), range(12)] += 0.01 * torch.diag(H).mean()
    Hinv = torch.linalg.inv(Hd)
    want = w.clone()
    for r in (0, 2):
        want[r] -= w[r, 0] / Hinv[0, 0] * Hinv[0]
    torch.testing.assert_close(new, want, rtol=1e-5, atol=1e-6)  # SparseGPT works in float32, as the official code
    assert torch.equal(kept, mask)


@pytest.mark.parametrize("target", [dict(sparsity=0.5), dict(sparsity=0.7), dict(nm=(2, 4))])
def test_sparsegpt_beats_plain_masking_on_the_reconstruction_error(target):
    g = torch.Generator().manual_seed(4)
    w = torch.randn(16, 64, generator=g)
    x = torch.randn(500, 64, generator=g) @ torch.randn(64, 64, generator=g) * 0.3  # correlated inputs
    H = 2 / 500 * x.t() @ x
    new, kept = sparsegpt(w, H, blocksize=16, **target)
    assert torch.equal(new == 0, ~kept) or bool(((new == 0) | kept).all())
    if "nm" in target:
        assert (kept.view(16, 16, 4).sum(-1) == 2).all()
    else:  # exactly int(numel * s) per block
        for b in range(4):
            assert int((~kept[:, 16 * b:16 * (b + 1)]).sum()) == int(256 * target["sparsity"])
    err_update = ((x @ (new - w).t()) ** 2).mean()
    err_mask = ((x @ (w * kept - w).t()) ** 2).mean()
    assert err_update < 0.8 * err_mask


def dsnot_oracle(w, stats, init, s, max_cycles=50, thr=0.1, var_power=1.0, same_sign=False):
    """DSnoT's rule row by row with scalar loops (zyxxmu/DSnoT lib/prune.py, unstructured branch):
    regrow from the ends of the pruned weights sorted by c / Var^p, prune from the ends of the kept
    ones (negative c first in Wanda order, positive c after in reverse), the ends chosen by the sign
    of the error, a row stopping for good at its first cycle with |e| <= thr (or a sign flip)."""
    rows, cols = w.shape
    c = w * stats.sum_row
    wanda = w.abs() * stats.scaler_row.sqrt()
    out = init.clone()
    for i in range(rows):
        kept_row = init[i]
        score = torch.where(kept_row, torch.zeros(cols), c[i] / stats.var.clamp_min(1e-12) ** var_power)
        regrow = torch.sort(score, stable=True).indices.tolist()
        kept = [j for j in torch.sort(torch.where(kept_row, wanda[i], torch.tensor(float("inf"))),
                                      stable=True).indices.tolist() if kept_row[j]]
        order = [j for j in kept if c[i, j] < 0] + [j for j in kept if c[i, j] > 0][::-1]
        e = torch.where(~kept_row, c[i], torch.zeros(cols)).sum()
        sign0, active = torch.sign(e), True
        lo_g, hi_g, lo_p, hi_p = 0, cols - 1, 0, len(order) - 1
        for _ in range(max_cycles):
            if e > 0:
                g, hi_g = regrow[min(max(hi_g, 0), cols - 1)], hi_g - 1
            else:
                g, lo_g = regrow[min(max(lo_g, 0), cols - 1)], lo_g + 1
            if e < 0:
                q, hi_p = order[min(max(hi_p, 0), len(order) - 1)], hi_p - 1
            else:
                q, lo_p = order[min(max(lo_p, 0), len(order) - 1)], lo_p + 1
            after = e + c[i, q] - c[i, g]
            active = active and bool(abs(e) > thr) and (not same_sign or bool(torch.sign(after) == sign0))
            if active and not out[i, g] and out[i, q]:
                out[i, q], out[i, g], e = False, True, after
            if not active:
                break
    return out


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(1, 6), cols=st.integers(4, 40), s=st.sampled_from([0.3, 0.5, 0.6, 0.8]),
       seed=st.integers(0, 10_000), same_sign=st.booleans(), cycles=st.sampled_from([3, 50]))
def test_dsnot_against_a_row_by_row_rederivation(rows, cols, s, seed, same_sign, cycles):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(rows, cols, generator=g)
    x = torch.randn(4, 8, cols, generator=g) + torch.randn(cols, generator=g)  # features with non-zero means
    stats = stats_of(x)
    init = wanda_mask(w, stats, sparsity=s)
    got = dsnot(w, stats, init, s, max_cycles=cycles, same_sign=same_sign)
    assert torch.equal(got, dsnot_oracle(w, stats, init, s, max_cycles=cycles, same_sign=same_sign))
    assert torch.equal((~got).sum(1), (~init).sum(1)), "the count per row never changes"


def test_dsnot_with_the_sign_check_never_grows_the_error():
    g = torch.Generator().manual_seed(5)
    w = torch.randn(32, 64, generator=g)
    x = torch.randn(8, 32, 64, generator=g) + torch.linspace(-1, 1, 64)
    stats = stats_of(x)
    init = wanda_mask(w, stats, sparsity=0.6)
    out = dsnot(w, stats, init, 0.6, same_sign=True)
    contrib = w * stats.sum_row
    e0 = torch.where(~init, contrib, 0).sum(1).abs()
    e1 = torch.where(~out, contrib, 0).sum(1).abs()
    assert bool((e1 <= e0 + 1e-4).all()) and float(e1.mean()) < float(e0.mean()) and not torch.equal(out, init)
    same = dsnot(w, stats, init, 0.6, update_threshold=1e9)  # nothing above the threshold: no swap
    assert torch.equal(same, init)
    with pytest.raises(ValueError, match="every row"):
        dsnot(w, stats, torch.ones_like(init), 0.6)
    assert prune_count(64, 0.6) == 38


def test_teal_thresholds_and_gates_against_numpy():
    g = torch.Generator().manual_seed(6)
    x = torch.randn(3, 50, 20, generator=g)
    tau = teal_thresholds({"a": x}, 0.4)["a"]
    assert tau == pytest.approx(np.quantile(np.abs(x.numpy()), 0.4), rel=1e-5)
    lin = nn.Linear(20, 5)
    with gated({"a": lin}, "teal", 0.4, thresholds={"a": tau}) as log, torch.no_grad():
        y = lin(x)
    ref = torch.where(x.abs() <= tau, 0.0, x)
    torch.testing.assert_close(y, nn.functional.linear(ref, lin.weight, lin.bias))
    assert log.zeroed_share() == pytest.approx(float((x.abs() <= tau).float().mean()), abs=1e-6)
    norms = lin.weight.detach().norm(dim=0)
    got = wina_gate(x, norms, 0.25)
    score = np.abs(x.numpy()) * norms.numpy()
    for t in range(3):
        for i in range(50):
            drop = np.argsort(score[t, i], kind="stable")[:5]
            want = x[t, i].numpy().copy()
            want[drop] = 0
            np.testing.assert_array_equal(got[t, i].numpy(), want)
    assert lin._forward_pre_hooks == {} or len(lin._forward_pre_hooks) == 0  # the hook is gone
    with pytest.raises(ValueError, match="needs a threshold"):
        with gated({"a": lin}, "teal", 0.4):
            pass
    with pytest.raises(ValueError, match="rule must be one of"):
        with gated({"a": lin}, "relu", 0.4):
            pass
