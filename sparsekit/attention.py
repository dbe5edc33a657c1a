"""Sparse attention: patterns as masks, content-based selectors, one attention function, and a
block-sparse CPU kernel.

Softmax attention scores every query against every key, ``softmax(q k^T / sqrt(d)) v``; a sparse
pattern scores only some pairs: a boolean mask ``(..., L_q, L_k)`` with ``True`` where a pair is
scored (a ``False`` pair gets a score of ``-inf``, i.e. weight 0). Every function here returns or
takes such a mask, so one :func:`attention` (torch's ``scaled_dot_product_attention`` with the mask:
autograd works, cost stays ``O(L^2)``) trains and evaluates every pattern, and :func:`budget` says
what share of the ``L^2`` pairs a pattern scores.

Fixed patterns (they depend on positions only):

- :func:`causal` - every key at or before the query;
- :func:`sliding_window` - the ``window`` most recent keys (Longformer-style local attention);
- :func:`block_pattern` - BigBird-style blocks: the query's own and ``local`` previous blocks,
  ``n_global`` first blocks, ``n_random`` random earlier blocks.

Content-based selectors (they read the scores):

- :func:`topk` - the ``k`` highest-scoring allowed keys of each query;
- :func:`nsa_select` - Native Sparse Attention's selection: keys pooled per block into one
  compressed key, blocks ranked by the query's score against it, the ``top_n`` best blocks plus a
  sliding window (NSA, arXiv 2502.11089, pools with a learned MLP; here the mean);
- :func:`routing` - the Routing Transformer's balanced k-means clusters (arXiv 2003.05997): each
  centroid takes the ``cluster_size`` tokens nearest to it, a query attends to the keys of its
  clusters; :func:`update_centroids` moves the centroids by an exponential moving average.

Queries are the *last* ``L_q`` of the ``L_k`` positions (``L_q = L_k`` in prefill, ``L_q = 1`` when
decoding one token). :func:`block_sparse_attention` is the fast path for a block pattern: a Numba
kernel that visits only the selected ``block x block`` tiles, with an online softmax.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F

from .checks import fraction, non_negative_int, positive_int

__all__ = ["causal", "sliding_window", "block_pattern", "block_layout_to_mask", "topk", "nsa_select", "routing",
           "update_centroids", "budget", "attention", "block_sparse_attention"]


def _lengths(lq: int, lk: int | None) -> tuple[int, int]:
    lq = positive_int("lq", lq)
    lk = lq if lk is None else positive_int("lk", lk)
    if lq > lk:
        raise ValueError(f"lq ({lq}) must not exceed lk ({lk}): the queries are the last lq of the lk positions")
    return lq, lk


def _positions(lq: int, lk: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.arange(lk - lq, lk)[:, None], torch.arange(lk)[None, :]


def causal(lq: int, lk: int | None = None) -> torch.Tensor:
    """``(lq, lk)``: query ``i`` (position ``lk - lq + i``) scores every key at or before it.

    >>> causal(3).int().tolist()
    [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    """
    lq, lk = _lengths(lq, lk)
    qi, kj = _positions(lq, lk)
    return kj <= qi


def sliding_window(lq: int, window: int, lk: int | None = None) -> torch.Tensor:
    """``(lq, lk)``: the ``window`` most recent keys of each query, itself included.

    >>> sliding_window(4, 2).int().tolist()
    [[1, 0, 0, 0], [1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]]
    """
    window = positive_int("window", window)
    lq, lk = _lengths(lq, lk)
    qi, kj = _positions(lq, lk)
    return (kj <= qi) & (qi - kj < window)


def block_pattern(length: int, block: int, local: int = 1, n_global: int = 1, n_random: int = 0,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """A causal BigBird-style block layout ``(n_blocks, n_blocks)``: query block ``b`` scores its own
    block, the ``local`` blocks before it, the first ``n_global`` blocks and ``n_random`` blocks drawn
    at random among the earlier ones left (``generator``). :func:`block_layout_to_mask` expands it."""
    length, block = positive_int("length", length), positive_int("block", block)
    local, n_global, n_random = (non_negative_int("local", local), non_negative_int("n_global", n_global),
                                 non_negative_int("n_random", n_random))
    nb = math.ceil(length / block)
    b = torch.arange(nb)
    layout = (b[None, :] <= b[:, None]) & (b[:, None] - b[None, :] <= local)
    layout[:, :n_global] |= b[:, None] >= b[None, :n_global]
    if n_random:
        for i in range(nb):
            free = (~layout[i, :i]).nonzero().flatten()
            if len(free):
                pick = free[torch.randperm(len(free), generator=generator)[:n_random]]
                layout[i, pick] = True
    return layout


def block_layout_to_mask(layout: torch.Tensor, block: int, length: int, causal_tokens: bool = True) -> torch.Tensor:
    """The token mask ``(..., length, length)`` of a block layout ``(..., n_blocks, n_blocks)``
    (the last block may be partial), with the causal rule inside blocks."""
    block, length = positive_int("block", block), positive_int("length", length)
    nb = math.ceil(length / block)
    if layout.shape[-2:] != (nb, nb):
        raise ValueError(f"layout must end in ({nb}, {nb}) blocks for length {length} and block {block}, "
                         f"got {tuple(layout.shape)}")
    idx = torch.arange(length) // block
    mask = layout[..., idx[:, None], idx[None, :]]
    return mask & causal(length) if causal_tokens else mask


def _allowed(scores: torch.Tensor, allowed: torch.Tensor | None) -> torch.Tensor:
    lq, lk = scores.shape[-2:]
    allowed = causal(lq, lk) if allowed is None else allowed
    try:
        torch.broadcast_shapes(allowed.shape, scores.shape)
    except RuntimeError:
        raise ValueError(f"allowed has shape {tuple(allowed.shape)}, which does not broadcast to the scores' "
                         f"{tuple(scores.shape)}") from None
    if allowed.dtype != torch.bool:
        raise TypeError(f"allowed must be a torch.bool mask, got {allowed.dtype}")
    return allowed


def topk(scores: torch.Tensor, k: int, allowed: torch.Tensor | None = None) -> torch.Tensor:
    """Per query, the ``k`` allowed keys of highest score (all of them where fewer are allowed);
    ``allowed`` defaults to causal. Ties go to the earlier key.

    >>> s = torch.tensor([[3.0, 1.0, 2.0, 0.0]])
    >>> topk(s, 2, allowed=torch.ones(1, 4, dtype=torch.bool)).int().tolist()
    [[1, 0, 1, 0]]
    """
    k = positive_int("k", k)
    lk = scores.shape[-1]
    if k > lk:
        raise ValueError(f"k ({k}) must not exceed the number of keys L_k = {lk}")
    allowed = _allowed(scores, allowed)
    masked = scores.masked_fill(~allowed, -math.inf)
    order = torch.sort(masked, dim=-1, descending=True, stable=True).indices[..., :k]
    out = torch.zeros(masked.shape, dtype=torch.bool, device=scores.device)
    out.scatter_(-1, order, True)
    return out & allowed


def nsa_select(q: torch.Tensor, k: torch.Tensor, block: int, top_n: int, window: int) -> torch.Tensor:
    """NSA's selection branch as a mask ``(..., L_q, L_k)``: the keys of each block are pooled (their
    mean) into a compressed key; each query scores the blocks that start at or before it and keeps
    the ``top_n`` best (its own block among the candidates), every token of them up to the query,
    plus the ``window`` most recent keys. ``q`` is ``(..., L_q, d)``, ``k`` ``(..., L_k, d)``."""
    block, top_n = positive_int("block", block), positive_int("top_n", top_n)
    window = positive_int("window", window)
    lq, lk = q.shape[-2], k.shape[-2]
    _lengths(lq, lk)
    nb = math.ceil(lk / block)
    pad = nb * block - lk
    kp = F.pad(k, (0, 0, 0, pad))
    counts = torch.full((nb,), float(block))
    counts[-1] = block - pad
    kc = kp.unflatten(-2, (nb, block)).sum(-2) / counts[:, None].to(k.dtype)  # (..., nb, d)
    s = q @ kc.transpose(-1, -2)  # (..., lq, nb)
    qpos = torch.arange(lk - lq, lk)
    visible = (torch.arange(nb)[None, :] * block) <= qpos[:, None]  # blocks starting at or before the query
    chosen = topk(s, min(top_n, nb), allowed=visible)  # (..., lq, nb)
    tok = chosen[..., torch.arange(lk) // block]  # (..., lq, lk)
    return (tok & causal(lq, lk)) | sliding_window(lq, window, lk)


def routing(x: torch.Tensor, centroids: torch.Tensor, cluster_size: int, lq: int | None = None) -> torch.Tensor:
    """The Routing Transformer's balanced clusters as a causal mask ``(..., L_q, L_k)``: ``x``
    ``(..., L, d)`` are the shared query/key vectors, normalised; centroid ``c`` (of ``centroids``,
    ``(C, d)``) takes the ``cluster_size`` tokens of highest similarity (every cluster the same size,
    as the paper balances them), and a query scores the keys that share a cluster with it, and itself."""
    cluster_size = positive_int("cluster_size", cluster_size)
    length = x.shape[-2]
    if cluster_size > length:
        raise ValueError(f"cluster_size ({cluster_size}) must not exceed the sequence length {length}")
    if centroids.dim() != 2 or centroids.shape[-1] != x.shape[-1]:
        raise ValueError(f"centroids must be (C, {x.shape[-1]}), got {tuple(centroids.shape)}")
    lq, _ = _lengths(length if lq is None else lq, length)
    sim = F.normalize(x, dim=-1) @ F.normalize(centroids, dim=-1).t()  # (..., L, C)
    member = torch.zeros(sim.shape, dtype=torch.bool, device=x.device)
    member.scatter_(-2, sim.topk(cluster_size, dim=-2).indices, True)  # each centroid's nearest tokens
    m = member.to(x.dtype)
    together = (m @ m.transpose(-1, -2)) > 0  # (..., L, L): share a cluster
    eye = torch.eye(length, dtype=torch.bool, device=x.device)
    return ((together | eye) & causal(length))[..., length - lq:, :]


@torch.no_grad()
def update_centroids(centroids: torch.Tensor, x: torch.Tensor, decay: float = 0.999) -> torch.Tensor:
    """One exponential-moving-average step of the k-means centroids towards the mean of the
    normalised vectors ``x`` (``(..., d)``) nearest to each: ``c <- decay c + (1 - decay) mean``."""
    fraction("decay", decay)
    flat = F.normalize(x.reshape(-1, x.shape[-1]), dim=-1)
    near = (flat @ F.normalize(centroids, dim=-1).t()).argmax(-1)
    new = centroids.clone()
    for c in range(len(centroids)):
        pick = flat[near == c]
        if len(pick):
            new[c] = decay * centroids[c] + (1 - decay) * pick.mean(0)
    return new


def budget(mask: torch.Tensor) -> float:
    """The share of the ``L_q x L_k`` query-key pairs a pattern scores (mean over leading dimensions)."""
    if mask.dtype != torch.bool or mask.dim() < 2:
        raise TypeError(f"mask must be a torch.bool tensor (..., L_q, L_k), got {mask.dtype} of {mask.dim()} dims")
    return float(mask.float().mean())


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax attention of ``q`` ``(..., L_q, d)`` over ``k``, ``v`` ``(..., L_k, d)``, scoring only the
    pairs where ``mask`` (broadcast to ``(..., L_q, L_k)``) is True; causal when ``mask`` is None.
    Every query must score at least one key (a query with none would return NaN)."""
    lq, lk = q.shape[-2], k.shape[-2]
    if mask is None:
        mask = causal(lq, lk).to(q.device)
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must be a torch.bool tensor (True = scored), got {mask.dtype}")
    if mask.shape[-2:] != (lq, lk):
        raise ValueError(f"mask must end in (L_q, L_k) = ({lq}, {lk}), got {tuple(mask.shape)}")
    if not bool(mask.any(-1).all()):
        raise ValueError("every query must score at least one key: a row of the mask is all False")
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


# --------------------------------------------------------------------------- the block-sparse kernel

_KERNEL = None


def _kernel():
    global _KERNEL
    if _KERNEL is None:
        import numba

        @numba.njit(parallel=True, cache=True)
        def run(q, k, v, layout, block, causal_tokens, scale, out):  # pragma: no cover - compiled
            heads, length, d = q.shape
            nb = (length + block - 1) // block
            shared = layout.shape[0] == 1
            for t in numba.prange(heads * nb):
                h, qb = t // nb, t % nb
                lh = 0 if shared else h
                q0 = qb * block
                q1 = min(length, q0 + block)
                nq = q1 - q0
                qs = q[h, q0:q1] * scale
                m = np.full(nq, -np.inf, dtype=np.float32)
                den = np.zeros(nq, dtype=np.float32)
                acc = np.zeros((nq, d), dtype=np.float32)
                for kb in range(nb):
                    if not layout[lh, qb, kb]:
                        continue
                    k0 = kb * block
                    k1 = min(length, k0 + block)
                    s = qs @ k[h, k0:k1].T  # (nq, nk)
                    if causal_tokens and k1 - 1 > q0:
                        for i in range(nq):
                            for j in range(k1 - k0):
                                if k0 + j > q0 + i:
                                    s[i, j] = -np.inf
                    for i in range(nq):
                        mx = s[i].max()
                        if mx == -np.inf:
                            continue
                        new_m = max(m[i], mx)
                        corr = np.float32(np.exp(m[i] - new_m)) if m[i] > -np.inf else np.float32(0.0)
                        p = np.exp(s[i] - new_m).astype(np.float32)
                        den[i] = den[i] * corr + p.sum()
                        acc[i] = acc[i] * corr + p @ v[h, k0:k1]
                        m[i] = new_m
                for i in range(nq):
                    out[h, q0 + i] = acc[i] / den[i]

        _KERNEL = run
    return _KERNEL


def block_sparse_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, layout: torch.Tensor, block: int,
                           causal_tokens: bool = True) -> torch.Tensor:
    """Attention that computes only the ``block x block`` tiles a layout selects (forward only, CPU,
    float32): ``q``, ``k``, ``v`` are ``(heads, L, d)``, ``layout`` ``(heads or 1, n_blocks, n_blocks)``
    bool (``block_pattern``). Equal to :func:`attention` with ``block_layout_to_mask(layout, ...)``;
    every query block must select its own block when ``causal_tokens`` (the first token of a block
    has no other key), and ``L`` need not be a multiple of ``block``."""
    block = positive_int("block", block)
    if q.dim() != 3 or k.shape != q.shape or v.shape != q.shape:
        raise ValueError(f"q, k, v must all be (heads, L, d); got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    heads, length, _ = q.shape
    nb = math.ceil(length / block)
    if layout.dtype != torch.bool or layout.dim() != 3 or layout.shape[1:] != (nb, nb) \
            or layout.shape[0] not in (1, heads):
        raise ValueError(f"layout must be a bool tensor (1 or {heads}, {nb}, {nb}) for L = {length} and block "
                         f"{block}, got {layout.dtype} {tuple(layout.shape)}")
    if causal_tokens and not bool(layout.diagonal(dim1=1, dim2=2).all()):
        raise ValueError("with causal_tokens every query block must select its own block (the diagonal)")
    if not bool(layout.any(-1).all()):
        raise ValueError("every query block must select at least one key block")
    arrays = [t.detach().to("cpu", torch.float32).contiguous().numpy() for t in (q, k, v)]
    out = np.empty_like(arrays[0])
    _kernel()(*arrays, layout.contiguous().numpy(), block, causal_tokens, np.float32(1 / math.sqrt(q.shape[-1])), out)
    return torch.from_numpy(out).to(q.device, q.dtype)
