"""Oracle tests for sparsekit.attention: every pattern against a loop that re-derives its rule, the one
attention function against a dense numpy softmax, and the block-sparse kernel against the masked
attention it claims to equal (random shapes, lengths that are not a multiple of the block)."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsekit import attention as A


def _np_attention(q, k, v, mask):
    s = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    s = np.where(mask, s, -np.inf)
    s = s - s.max(-1, keepdims=True)
    p = np.exp(s)
    return (p / p.sum(-1, keepdims=True)) @ v


def _random_layout(nb, heads, gen, p=0.4, diagonal=True):
    layout = torch.rand(heads, nb, nb, generator=gen) < p
    if diagonal:
        layout |= torch.eye(nb, dtype=torch.bool)
    return layout


@pytest.mark.parametrize("lq,lk", [(1, 1), (3, 3), (1, 7), (4, 9)])
def test_causal_and_window_match_their_rules(lq, lk):
    c, w = A.causal(lq, lk), A.sliding_window(lq, 3, lk)
    for i in range(lq):
        pos = lk - lq + i
        for j in range(lk):
            assert bool(c[i, j]) == (j <= pos)
            assert bool(w[i, j]) == (j <= pos and pos - j < 3)


def test_budget_of_causal_is_the_triangle():
    for n in (1, 2, 7, 64):
        assert A.budget(A.causal(n)) == pytest.approx((n + 1) / (2 * n))


@given(length=st.integers(1, 40), block=st.integers(1, 9), local=st.integers(0, 3), n_global=st.integers(0, 2),
       n_random=st.integers(0, 2), seed=st.integers(0, 100))
@settings(max_examples=40, deadline=None)
def test_block_pattern_and_its_token_mask(length, block, local, n_global, n_random, seed):
    gen = torch.Generator().manual_seed(seed)
    layout = A.block_pattern(length, block, local, n_global, n_random, generator=gen)
    nb = math.ceil(length / block)
    assert layout.shape == (nb, nb)
    for i in range(nb):
        for j in range(nb):
            rule = (0 <= i - j <= local) or (j < n_global and j <= i)
            if rule:
                assert layout[i, j]
            if j > i:
                assert not layout[i, j]  # causal: never a later block
        extra = int(layout[i].sum()) - sum((0 <= i - j <= local) or (j < n_global and j <= i) for j in range(nb))
        free = sum(not ((0 <= i - j <= local) or (j < n_global)) for j in range(i))
        assert extra == min(n_random, free)
    mask = A.block_layout_to_mask(layout, block, length)
    for a in range(length):
        for b in range(length):
            assert bool(mask[a, b]) == (bool(layout[a // block, b // block]) and b <= a)


@given(lq=st.integers(1, 6), extra=st.integers(0, 6), k=st.integers(1, 8), seed=st.integers(0, 50))
@settings(max_examples=40, deadline=None)
def test_topk_keeps_the_highest_allowed_scores(lq, extra, k, seed):
    lk = lq + extra
    k = min(k, lk)
    gen = torch.Generator().manual_seed(seed)
    scores = torch.randint(0, 4, (2, lq, lk), generator=gen).float()  # ties on purpose
    out = A.topk(scores, k)
    allowed = A.causal(lq, lk).numpy()
    s = scores.numpy()
    for h in range(2):
        for i in range(lq):
            cand = [j for j in range(lk) if allowed[i, j]]
            best = sorted(cand, key=lambda j: (-s[h, i, j], j))[:k]  # ties to the earlier key
            assert sorted(np.flatnonzero(out[h, i].numpy()).tolist()) == sorted(best)


def test_attention_matches_a_numpy_softmax():
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 11, 8, generator=gen, dtype=torch.float64) for _ in range(3))
    mask = A.sliding_window(11, 4) | (torch.rand(11, 11, generator=gen) < 0.3) & A.causal(11)
    got = A.attention(q, k, v, mask).numpy()
    np.testing.assert_allclose(got, _np_attention(q.numpy(), k.numpy(), v.numpy(), mask.numpy()), atol=1e-10)
    np.testing.assert_allclose(A.attention(q, k, v).numpy(),
                               _np_attention(q.numpy(), k.numpy(), v.numpy(), A.causal(11).numpy()), atol=1e-10)


def test_decoding_one_query_sees_every_earlier_key():
    gen = torch.Generator().manual_seed(1)
    q = torch.randn(1, 1, 4, generator=gen)
    k, v = torch.randn(1, 6, 4, generator=gen), torch.randn(1, 6, 4, generator=gen)
    assert A.causal(1, 6).all()
    np.testing.assert_allclose(A.attention(q, k, v).numpy(),
                               _np_attention(q.numpy(), k.numpy(), v.numpy(), np.ones((1, 6), bool)), atol=1e-5)


@given(heads=st.integers(1, 3), length=st.integers(1, 37), block=st.integers(1, 8), d=st.integers(1, 9),
       shared=st.booleans(), causal_tokens=st.booleans(), seed=st.integers(0, 100))
@settings(max_examples=30, deadline=None)
def test_block_sparse_kernel_equals_masked_attention(heads, length, block, d, shared, causal_tokens, seed):
    gen = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(heads, length, d, generator=gen) for _ in range(3))
    nb = math.ceil(length / block)
    layout = _random_layout(nb, 1 if shared else heads, gen)
    if causal_tokens:
        layout &= torch.ones(nb, nb, dtype=torch.bool).tril()
    got = A.block_sparse_attention(q, k, v, layout, block, causal_tokens=causal_tokens)
    mask = A.block_layout_to_mask(layout, block, length, causal_tokens=causal_tokens)
    want = _np_attention(q.double().numpy(), k.double().numpy(), v.double().numpy(), mask.numpy())
    np.testing.assert_allclose(got.numpy(), want, atol=2e-5, rtol=1e-4)


def test_block_sparse_kernel_with_a_bigbird_pattern():
    gen = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(4, 100, 16, generator=gen) for _ in range(3))
    layout = A.block_pattern(100, 16, local=1, n_global=1, n_random=1, generator=gen)[None]
    got = A.block_sparse_attention(q, k, v, layout, 16)
    want = A.attention(q, k, v, A.block_layout_to_mask(layout, 16, 100))
    torch.testing.assert_close(got, want, atol=2e-5, rtol=1e-4)


def _nsa_oracle(q, k, block, top_n, window):
    lq, lk = q.shape[0], k.shape[0]
    nb = math.ceil(lk / block)
    comp = np.stack([k[b * block:(b + 1) * block].mean(0) for b in range(nb)])
    out = np.zeros((lq, lk), bool)
    for i in range(lq):
        pos = lk - lq + i
        cand = [b for b in range(nb) if b * block <= pos]
        s = q[i] @ comp.T
        best = sorted(cand, key=lambda b: (-s[b], b))[:top_n]
        for j in range(lk):
            out[i, j] = (j <= pos and j // block in best) or (j <= pos and pos - j < window)
    return out


@given(lq=st.integers(1, 12), extra=st.integers(0, 12), block=st.integers(1, 6), top_n=st.integers(1, 3),
       window=st.integers(1, 5), seed=st.integers(0, 100))
@settings(max_examples=40, deadline=None)
def test_nsa_select_matches_its_rule(lq, extra, block, top_n, window, seed):
    gen = torch.Generator().manual_seed(seed)
    lk = lq + extra
    q, k = torch.randn(lq, 5, generator=gen, dtype=torch.float64), torch.randn(lk, 5, generator=gen,
                                                                               dtype=torch.float64)
    got = A.nsa_select(q, k, block, top_n, window).numpy()
    np.testing.assert_array_equal(got, _nsa_oracle(q.numpy(), k.numpy(), block, top_n, window))


@given(length=st.integers(2, 20), n_clusters=st.integers(1, 4), size=st.integers(1, 20), seed=st.integers(0, 100))
@settings(max_examples=40, deadline=None)
def test_routing_matches_balanced_clusters(length, n_clusters, size, seed):
    size = min(size, length)
    gen = torch.Generator().manual_seed(seed)
    x, c = torch.randn(length, 6, generator=gen, dtype=torch.float64), torch.randn(n_clusters, 6, generator=gen,
                                                                                   dtype=torch.float64)
    got = A.routing(x, c, size).numpy()
    xn = x.numpy() / np.linalg.norm(x.numpy(), axis=-1, keepdims=True)
    cn = c.numpy() / np.linalg.norm(c.numpy(), axis=-1, keepdims=True)
    sim = xn @ cn.T
    members = [set(np.argsort(-sim[:, j], kind="stable")[:size].tolist()) for j in range(n_clusters)]
    for i in range(length):
        for j in range(length):
            together = i == j or any(i in m and j in m for m in members)
            assert bool(got[i, j]) == (together and j <= i)
    last = A.routing(x, c, size, lq=min(3, length)).numpy()
    np.testing.assert_array_equal(last, got[-min(3, length):])


def test_update_centroids_is_an_ema_of_the_nearest_vectors():
    gen = torch.Generator().manual_seed(5)
    x, c = torch.randn(50, 4, generator=gen, dtype=torch.float64), torch.randn(3, 4, generator=gen,
                                                                               dtype=torch.float64)
    new = A.update_centroids(c, x, decay=0.9)
    xn = torch.nn.functional.normalize(x, dim=-1)
    near = (xn @ torch.nn.functional.normalize(c, dim=-1).t()).argmax(-1)
    for j in range(3):
        pick = xn[near == j]
        want = c[j] if len(pick) == 0 else 0.9 * c[j] + 0.1 * pick.mean(0)
        torch.testing.assert_close(new[j], want)


def test_bad_input_names_the_argument():
    q = torch.randn(1, 4, 2)
    with pytest.raises(ValueError, match="lq"):
        A.causal(5, 3)
    with pytest.raises(ValueError, match="window"):
        A.sliding_window(4, 0)
    with pytest.raises(ValueError, match="k"):
        A.topk(torch.randn(2, 3), 4)
    with pytest.raises(TypeError, match="allowed"):
        A.topk(torch.randn(2, 3), 1, allowed=torch.ones(2, 3))
    with pytest.raises(TypeError, match="mask"):
        A.attention(q, q, q, torch.ones(4, 4))
    with pytest.raises(ValueError, match="mask"):
        A.attention(q, q, q, torch.ones(3, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="at least one key"):
        A.attention(q, q, q, torch.zeros(4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="layout"):
        A.block_layout_to_mask(torch.ones(3, 3, dtype=torch.bool), 2, 4)
    with pytest.raises(ValueError, match="diagonal"):
        A.block_sparse_attention(q, q, q, torch.zeros(1, 2, 2, dtype=torch.bool), 2)
    with pytest.raises(ValueError, match="layout"):
        A.block_sparse_attention(q, q, q, torch.ones(1, 3, 3, dtype=torch.bool), 2)
    with pytest.raises(ValueError, match="cluster_size"):
        A.routing(torch.randn(4, 2), torch.randn(2, 2), 5)
    with pytest.raises(ValueError, match="decay"):
        A.update_centroids(torch.randn(2, 2), torch.randn(4, 2), decay=1.5)
