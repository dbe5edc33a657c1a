"""One-shot pruning of a trained layer from calibration activations, without retraining.

The rules of the LLM-pruning papers, for one ``nn.Linear`` weight ``W`` (out x in) and the inputs
``X`` (tokens x in) it saw on calibration text; the layer-by-layer driver that feeds each layer the
outputs of the already-pruned ones lives with the model (``sparsekit.studies.llm_pruning``).

- :class:`InputStats` accumulates what the rules read from the inputs, in the official codes'
  conventions: Wanda's ``scaler_row`` (``||X_j||^2`` averaged over calibration sequences), SparseGPT's
  ``H = (2 / n) sum x x^T`` (a running average over sequences), DSnoT's per-feature sums, means and
  variances over tokens.
- :func:`wanda_mask` - Wanda (Sun et al. 2023, arXiv 2306.11695; locuslab/wanda): score
  ``S_ij = |W_ij| ||X_j||``; per output row the ``int(d_in s)`` lowest go (``group="layer"``: the
  lowest of the whole matrix, the paper's ablation); N:M keeps the ``n`` highest of every ``m``.
- :func:`sparsegpt` - SparseGPT (Frantar & Alistarh 2023, arXiv 2301.00774; IST-DASLab/sparsegpt):
  the OBS update ``delta = -(w_p / [H^-1]_pp) H^-1_{:,p}`` applied column by column through the upper
  Cholesky factor of the damped inverse Hessian, in blocks of 128 columns whose masks are chosen by
  ``w^2 / [U]_jj^2`` as the block starts.
- :func:`dsnot` - DSnoT (Zhang et al. 2024, arXiv 2310.08915; zyxxmu/DSnoT): training-free
  prune-and-grow swaps on a mask, per row, that shrink the expected reconstruction error
  ``e_i = sum_{j pruned} W_ij E[x_j]`` (no weight changes).

Counts follow the official codes where they define the rule (``int(d_in * s)`` per row for Wanda
and DSnoT); SparseGPT's block selection prunes exactly ``int(numel * s)`` of each block, where the
official ``tmp <= thresh`` prunes one more and every tie.
"""

from __future__ import annotations

import math

import torch

from .checks import fraction, one_of, positive_int
from .masks import nm_mask

__all__ = ["InputStats", "wanda_scores", "wanda_mask", "sparsegpt", "dsnot", "prune_count", "GROUPS"]

GROUPS = ("row", "layer")


class InputStats:
    """Running statistics of a linear layer's inputs over calibration sequences.

    ``add(x)`` takes a batch of sequences (batch, tokens, in) or one (tokens, in). ``hessian=True``
    also keeps SparseGPT's ``H`` (in x in). Every statistic is float32, as the official codes keep them.
    """

    def __init__(self, in_features: int, hessian: bool = False):
        self.in_features = positive_int("in_features", in_features)
        self.nsamples = 0  # calibration sequences seen
        self.ntokens = 0
        self.scaler_row = torch.zeros(in_features)  # Wanda: ||x_j||^2 over tokens, averaged over sequences
        self.sum_row = torch.zeros(in_features)  # DSnoT: sum of x_j over tokens, averaged over sequences
        self.mean = torch.zeros(in_features)  # over tokens
        self.var = torch.zeros(in_features)  # over tokens (biased, as DSnoT's)
        self.H = torch.zeros(in_features, in_features) if hessian else None

    def add(self, x: torch.Tensor) -> None:
        x = x.detach()
        if x.dim() == 2:
            x = x.unsqueeze(0)
        if x.dim() != 3 or x.shape[-1] != self.in_features:
            raise ValueError(f"x must be (batch, tokens, {self.in_features}) or (tokens, {self.in_features}), "
                             f"got shape {tuple(x.shape)}")
        b = x.shape[0]
        flat = x.reshape(-1, self.in_features).float().cpu()  # (tokens, in)
        n = flat.shape[0]
        mean, var = flat.mean(0), flat.var(0, unbiased=False)
        if self.ntokens == 0:
            self.mean, self.var = mean, var
        else:
            tot = self.ntokens + n
            self.var = (self.var * self.ntokens + var * n) / tot
            self.mean = (self.mean * self.ntokens + mean * n) / tot
        self.ntokens += n
        scale = self.nsamples / (self.nsamples + b)
        self.scaler_row *= scale
        self.sum_row *= scale
        if self.H is not None:
            self.H *= scale
        self.nsamples += b
        self.scaler_row += (flat**2).sum(0) / self.nsamples
        self.sum_row += flat.sum(0) / self.nsamples
        if self.H is not None:
            xs = math.sqrt(2 / self.nsamples) * flat
            self.H += xs.t() @ xs

    def hook(self):
        """A forward pre-hook that feeds a module's input to ``add`` (``register_forward_pre_hook``)."""
        def pre(_module, args):
            self.add(args[0])
        return pre


def _check_weight(weight: torch.Tensor, stats: InputStats | None = None) -> torch.Tensor:
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2:
        raise ValueError(f"weight must be a 2-D (out, in) tensor, got {getattr(weight, 'shape', weight)!r}")
    if stats is not None and weight.shape[1] != stats.in_features:
        raise ValueError(f"weight has {weight.shape[1]} inputs but the statistics {stats.in_features}")
    return weight.detach()


def _check_target(sparsity: float | None, nm: tuple[int, int] | None) -> None:
    if (sparsity is None) == (nm is None):
        raise ValueError("give exactly one of sparsity (unstructured) and nm=(n, m) (keep n of every m)")
    if sparsity is not None:
        fraction("sparsity", sparsity)
    else:
        n, m = nm  # type: ignore[misc]
        if not (0 < n < m):
            raise ValueError(f"nm must be (n, m) with 0 < n < m (keep n of every m), got {nm!r}")


def prune_count(columns: int, sparsity: float) -> int:
    """Weights pruned per row at ``sparsity``, as the official Wanda and DSnoT codes count: ``int(d_in * s)``."""
    return int(columns * fraction("sparsity", sparsity))


def wanda_scores(weight: torch.Tensor, stats: InputStats) -> torch.Tensor:
    """``|W_ij| * ||X_j||`` (the root of Wanda's ``scaler_row``)."""
    w = _check_weight(weight, stats)
    return w.abs().float() * stats.scaler_row.sqrt().to(w.device)[None, :]


def wanda_mask(weight: torch.Tensor, stats: InputStats, sparsity: float | None = None,
               nm: tuple[int, int] | None = None, group: str = "row") -> torch.Tensor:
    """Wanda's mask (``True`` = kept): per output row the ``int(d_in * sparsity)`` lowest scores pruned
    (a stable sort), or - ``group="layer"`` - the ``int(numel * sparsity)`` lowest of the whole
    matrix; with ``nm=(n, m)``, the ``n`` highest scores of every ``m`` consecutive inputs kept."""
    _check_target(sparsity, nm)
    one_of("group", group, GROUPS)
    scores = wanda_scores(weight, stats)
    if nm is not None:
        return nm_mask(scores, nm[0], nm[1])
    keep = torch.ones_like(scores, dtype=torch.bool)
    if group == "row":
        k = prune_count(scores.shape[1], sparsity)  # type: ignore[arg-type]
        order = torch.sort(scores, dim=-1, stable=True).indices[:, :k]
        keep.scatter_(1, order, False)
        return keep
    k = int(scores.numel() * sparsity)  # type: ignore[operator]
    flat = keep.view(-1)
    flat[torch.sort(scores.flatten(), stable=True).indices[:k]] = False
    return keep


def _inverse_hessian_factor(H: torch.Tensor, W: torch.Tensor, percdamp: float) -> torch.Tensor:
    """The upper Cholesky factor of the damped inverse of ``H``; dead inputs (``H_jj = 0``) get
    ``H_jj = 1`` and a zero weight column (``W`` in place), as SparseGPT does."""
    H = H.clone().float()
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    idx = torch.arange(H.shape[0])
    H[idx, idx] += percdamp * torch.mean(torch.diag(H))
    L = torch.linalg.cholesky(H)
    return torch.linalg.cholesky(torch.cholesky_inverse(L), upper=True)


def sparsegpt(weight: torch.Tensor, H: torch.Tensor, sparsity: float | None = None, nm: tuple[int, int] | None = None,
              blocksize: int = 128, percdamp: float = 0.01, mask: torch.Tensor | None = None
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """SparseGPT on one layer: (the updated weight, its mask ``True`` = kept).

    Columns are processed left to right in blocks of ``blocksize``; a block's mask prunes the
    ``int(numel * sparsity)`` entries of least ``w^2 / U_jj^2`` (``U`` the upper Cholesky factor of the
    damped ``H^-1``) when the block starts, or - N:M - the ``m - n`` least of every ``m`` columns when
    their group starts. Each column's pruned entries are removed and the error
    ``err = (w - q) / U_jj`` is spread over the later columns: ``W[:, j:] -= err U[j, j:]``. ``mask``
    (``True`` = kept) imposes a mask instead of choosing one (what the tests compare with OBS).
    """
    W = _check_weight(weight).clone().float()
    if mask is None:
        _check_target(sparsity, nm)
    elif mask.shape != W.shape or mask.dtype != torch.bool:
        raise ValueError(f"mask must be a bool tensor of the weight's shape {tuple(W.shape)}")
    rows, cols = W.shape
    if H.shape != (cols, cols):
        raise ValueError(f"H must be ({cols}, {cols}) for a weight with {cols} inputs, got {tuple(H.shape)}")
    positive_int("blocksize", blocksize)
    U = _inverse_hessian_factor(H, W, percdamp)
    pruned = torch.zeros_like(W, dtype=torch.bool)
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        W1, U1 = W[:, i1:i2].clone(), U[i1:i2, i1:i2]
        d = torch.diag(U1)
        if mask is not None:
            p1 = ~mask[:, i1:i2]
        elif nm is None:
            p1 = torch.zeros_like(W1, dtype=torch.bool)
            score = W1**2 / d[None, :] ** 2
            k = int(score.numel() * sparsity)  # type: ignore[operator]
            p1.view(-1)[torch.sort(score.flatten(), stable=True).indices[:k]] = True
        else:
            p1 = torch.zeros_like(W1, dtype=torch.bool)
        Q1, Err1 = torch.zeros_like(W1), torch.zeros_like(W1)
        for i in range(i2 - i1):
            if mask is None and nm is not None and i % nm[1] == 0:
                score = W1[:, i:i + nm[1]] ** 2 / d[i:i + nm[1]][None, :] ** 2
                p1.scatter_(1, i + torch.topk(score, nm[1] - nm[0], dim=1, largest=False).indices, True)
            w = W1[:, i]
            q = torch.where(p1[:, i], torch.zeros_like(w), w)
            Q1[:, i] = q
            err = (w - q) / U1[i, i]
            W1[:, i:] -= err[:, None] * U1[i, i:][None, :]
            Err1[:, i] = err
        W[:, i1:i2] = Q1
        W[:, i2:] -= Err1 @ U[i1:i2, i2:]
        pruned[:, i1:i2] = p1
    return W.to(weight.dtype), ~pruned


def dsnot(weight: torch.Tensor, stats: InputStats, initial: torch.Tensor, sparsity: float,
          max_cycles: int = 50, update_threshold: float = 0.1, var_power: float = 1.0,
          same_sign: bool = False) -> torch.Tensor:
    """DSnoT's prune-and-grow refinement of an unstructured mask (``True`` = kept), per output row.

    With ``c_ij = W_ij s_j`` (``s_j`` the per-sequence sum of input ``j``, ``InputStats.sum_row``), the
    expected reconstruction error of row ``i`` is ``e_i = sum_{j pruned} c_ij``. Each cycle, a row whose
    ``|e_i|`` exceeds ``update_threshold`` regrows the pruned weight at the end of its list sorted by
    ``c_ij / Var(x_j)^var_power`` that shrinks ``e_i`` (the largest when ``e_i > 0``, the smallest
    otherwise) and prunes a kept weight in return (kept weights ordered by Wanda score: those with
    ``c_ij < 0`` first, those with ``c_ij > 0`` after in reverse; from the front when ``e_i >= 0``, from
    the back otherwise), then ``e_i += c_pruned - c_regrown``. A row stops at its first cycle under the
    threshold, after ``max_cycles`` at most. ``same_sign=True`` also stops a row whose swap would flip
    the sign of ``e_i``; the official code's default leaves that check off (its ``--without_same_sign``
    is a ``type=bool`` flag that is always true), and so does this one. The count per row never
    changes: a cycle whose regrowth candidate is already kept (its list ran past the pruned weights)
    swaps nothing, where the official code would prune without regrowing.
    """
    W = _check_weight(weight, stats).float()
    if initial.shape != W.shape or initial.dtype != torch.bool:
        raise ValueError(f"initial must be a bool mask of the weight's shape {tuple(W.shape)}")
    positive_int("max_cycles", max_cycles)
    rows, cols = W.shape
    k = prune_count(cols, sparsity)
    if k == 0 or k == cols:
        return initial.clone()
    contrib = W * stats.sum_row[None, :].to(W.device)  # c_ij
    pruned = ~initial
    if not bool((pruned.sum(1) == k).all()):
        raise ValueError(f"initial must prune int(d_in * sparsity) = {k} weights in every row")
    regrow_score = torch.where(pruned, contrib, torch.zeros_like(contrib))
    e = regrow_score.sum(1)
    sign0 = torch.sign(e)
    if var_power:
        regrow_score = regrow_score / stats.var[None, :].to(W.device).clamp_min(1e-12) ** var_power
    regrow_order = torch.sort(regrow_score, dim=1, stable=True).indices  # ascending; the ends are the candidates
    kept_by_wanda = torch.sort(torch.where(pruned, torch.full_like(W, math.inf), wanda_scores(W, stats)), dim=1,
                               stable=True).indices[:, : cols - k]
    c_kept = torch.gather(contrib, 1, kept_by_wanda)
    # negatives first (ascending Wanda score), positives after in reverse: the official reorder
    neg_first = torch.sort(torch.where(c_kept < 0, 0, 1) * (2 * (cols - k)) + torch.where(
        c_kept < 0, torch.arange(cols - k)[None, :], -torch.arange(cols - k)[None, :]), dim=1, stable=True).indices
    prune_order = torch.gather(kept_by_wanda, 1, neg_first)
    mask = initial.clone()
    lo_g, hi_g = torch.zeros(rows, dtype=torch.long), torch.full((rows,), cols - 1, dtype=torch.long)
    lo_p, hi_p = torch.zeros(rows, dtype=torch.long), torch.full((rows,), cols - k - 1, dtype=torch.long)
    active = torch.ones(rows, dtype=torch.bool)
    r = torch.arange(rows)
    for _ in range(max_cycles):
        if not bool(active.any()):
            break
        up = e > 0
        g_pos = torch.where(up, hi_g, lo_g).clamp(0, cols - 1)
        grow = regrow_order[r, g_pos]
        hi_g, lo_g = torch.where(up, hi_g - 1, hi_g), torch.where(up, lo_g, lo_g + 1)
        down = e < 0
        p_pos = torch.where(down, hi_p, lo_p).clamp(0, cols - k - 1)
        cut = prune_order[r, p_pos]
        hi_p, lo_p = torch.where(down, hi_p - 1, hi_p), torch.where(down, lo_p, lo_p + 1)
        c_grow, c_cut = contrib[r, grow], contrib[r, cut]
        after = e + c_cut - c_grow
        active &= e.abs() > update_threshold
        if same_sign:
            active &= torch.sign(after) == sign0
        swap = active & ~mask[r, grow] & mask[r, cut]  # a pruned weight regrows, a kept one goes
        mask[r, cut] &= ~swap
        mask[r, grow] |= swap
        e = torch.where(swap, after, e)
    return mask
