"""The thesis's pruning study redone on its own trained models, its own test set and its own rule.

Darji (arXiv 2407.20601) trained an RNN-Tanh, RNN-ReLU, GRU and LSTM classifier of Reber strings
(embedding 128 -> 50, three recurrent layers of 50, linear 50 -> 2), then pruned each at 10 ... 100%
in three modes - the input-to-hidden matrices (``i2h``), the hidden-to-hidden ones (``h2h``) or
``both`` - tested it at once ("epoch 0" of its log) and retrained it for 10 epochs. Its models,
data and logs ship with sparsekit (``sparsekit.studies.rnn_pruning.data``), so the first step can be repeated
exactly: the same weights, the same strings, the same rule (:func:`sparsekit.masks.percentile_masks`).

What cannot be repeated exactly is the batching: the thesis tested in shuffled batches of 32, each
padded to its own longest string, and read the network's output at the batch's last padded step
(:class:`~sparsekit.rnn.RNNClassifier` with ``read="padded_end"``), so a string's prediction depends
on the strings it was batched with. :func:`padded_batch_accuracy` redoes that with seeded shuffles
(the spread over seeds is the size of that effect); ``read="last"`` gives the batch-free answer.

The retraining is repeated too (:func:`retrain_like_thesis`: a fresh Adam, lr 1e-3, batches of 32,
gradient norm clipped at 5, the mask fixed), with one more unrecorded draw - the batch order.
Rules: :func:`thesis_row_agrees` (R0, epoch 0) and :func:`recovery_agrees` (R5, the retraining).
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import torch

from sparsekit.checks import has_columns
from sparsekit.data.reber import encode
from sparsekit.masks import global_magnitude_masks, percentile_masks
from sparsekit.prune import Pruner
from sparsekit.rnn import CELLS, MODES, RNNClassifier, recurrent_weights, train_sequences
from sparsekit.utils import parallel_map

from .data import load_thesis_prune_log, load_thesis_reber, load_thesis_state_dict

__all__ = ["LEVELS", "COUNTS", "thesis_masks", "prune_like_thesis", "retrain_like_thesis", "recovery_agrees",
           "padded_accuracy", "padded_batch_accuracies", "padded_batch_accuracy", "epoch0_table",
           "thesis_row_agrees"]

LEVELS = (10, 20, 30, 40, 50, 60, 70, 80, 90, 100)
COUNTS = ("percentile", "exact")
_COST = {"gru": 3, "lstm": 2}  # relative CPU time of a cell's forward pass (torch's CPU kernels)


def thesis_masks(model: RNNClassifier, percent: float, kind: str, count: str = "percentile") -> dict[str, torch.Tensor]:
    """The thesis's masks for ``model``'s ``kind`` of recurrent matrices (``"i2h"``, ``"h2h"`` or
    ``"both"``): one percentile threshold pooled over all its layers, ``|w| >= tau_percent`` kept.
    ``count="exact"`` prunes exactly ``round(percent% x total)`` of them instead (one pooled
    magnitude ranking), so 100% leaves none where the thesis's rule keeps the largest weight(s)."""
    if kind not in MODES:
        raise ValueError(f"kind must be one of {MODES}, got {kind!r}")
    if count not in COUNTS:
        raise ValueError(f"count must be one of {COUNTS}, got {count!r}")
    params = dict(model.named_parameters())
    weights = {n: params[n].detach() for n in recurrent_weights(model, kind)}
    if count == "exact":
        if percent >= 100:  # the library refuses sparsity 1: every weight goes
            return {n: torch.zeros_like(w, dtype=torch.bool) for n, w in weights.items()}
        return global_magnitude_masks(weights, percent / 100, allow_empty_layers=True)
    return percentile_masks(weights, percent)


def prune_like_thesis(model: RNNClassifier, percent: float, kind: str) -> tuple[RNNClassifier, float]:
    """A copy of ``model`` with the thesis's rule applied to its ``kind`` of recurrent matrices (one
    percentile threshold pooled over all three layers), and the share of those weights it removed."""
    pruned = copy.deepcopy(model)
    masks = thesis_masks(pruned, percent, kind)
    params = dict(pruned.named_parameters())
    with torch.no_grad():
        for n, m in masks.items():
            params[n].mul_(m)
    removed = sum(int((~m).sum()) for m in masks.values()) / sum(m.numel() for m in masks.values())
    return pruned, removed


def retrain_like_thesis(cell: str, kind: str, percent: int, epochs: int = 1, seed: int = 0,
                        shuffles=(0, 1, 2)) -> list[dict]:
    """The thesis's retraining of its own pruned model: its base model of ``cell`` pruned at
    ``percent`` % of ``kind`` by its rule, then ``epochs`` passes over its 18,750 training strings
    with the mask fixed - a fresh Adam (lr 1e-3), shuffled batches of 32 read at their last padded
    step, gradient norm clipped at 5, as its ``pruning.py`` does (``seed``: our batch order; the
    thesis's is not recorded). After each epoch (and before, epoch 0) the test accuracy as in
    :func:`epoch0_table` next to the log's row."""
    if epochs < 1:
        raise ValueError(f"epochs must be positive, got {epochs}")
    data = load_thesis_reber()
    xtr, ltr = encode(data.train)
    xte, lte = encode(data.test)
    log = load_thesis_prune_log(cell)
    log = log[(log.kind == kind) & (log.prune == percent)].set_index("epoch").test_acc
    if len(log) == 0:
        raise ValueError(f"the thesis's log has no rows for {cell} {kind} {percent}%; percent is one of {LEVELS}")
    model = RNNClassifier.from_thesis(load_thesis_state_dict(cell), cell)
    masks = thesis_masks(model, percent, kind)
    pruner = Pruner(model, list(masks), masks)
    opt = pruner.attach(torch.optim.Adam(model.parameters(), lr=1e-3))
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for epoch in range(epochs + 1):
        if epoch:
            train_sequences(model, opt, xtr, ltr, data.y_train, 1, 32, gen, clip_grad=5.0)
        got = _accuracies(model, xte, lte, data.y_test, 32, shuffles)
        accs = [got[s] for s in shuffles]
        rows.append(dict(cell=cell, kind=kind, prune=percent, epoch=epoch, thesis=float(log.get(epoch, np.nan)),
                         ours=float(np.mean(accs)), ours_min=min(accs), ours_max=max(accs),
                         ours_last_symbol=got["last"]))
    pruner.detach()
    return rows


def recovery_agrees(table: pd.DataFrame, margin: float = 0.03) -> pd.Series:
    """Rule R5 of notebook 02, row by row (apply it to the rows after a retraining epoch, ``epoch`` >= 1):
    :func:`thesis_row_agrees` with a wider ``margin`` than R0's, as the retraining's batch order is a
    second draw the log does not record."""
    return thesis_row_agrees(table, margin)


def _padded_batch_reads(lengths: torch.Tensor, batch_size: int, seed: int | None) -> torch.Tensor:
    """For every string, the step the thesis's test loop read: its batch's longest length - 1."""
    order = torch.arange(len(lengths)) if seed is None else torch.as_tensor(
        np.random.default_rng(seed).permutation(len(lengths)))
    read = torch.empty_like(lengths)
    for i in range(0, len(order), batch_size):
        idx = order[i : i + batch_size]
        read[idx] = lengths[idx].max() - 1
    return read


@torch.no_grad()
def padded_batch_accuracies(model: RNNClassifier, strings: list[str], labels: torch.Tensor, batch_size: int = 32,
                            seeds=(0,)) -> dict:
    """Accuracy under the thesis's test loop for each shuffle seed (``None``: the given order), and
    read at each string's last symbol (key ``"last"``).

    The thesis batched shuffled strings by ``batch_size``, padded each batch to its longest string and
    read the last padded step. A recurrent network is causal, so that output equals the output at
    step (batch's longest length - 1) of the same string padded further: one forward pass over all
    strings padded to the overall longest gives every batching at once.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if len(strings) != len(labels):
        raise ValueError(f"strings and labels differ in length: {len(strings)} and {len(labels)}")
    return _accuracies(model, *encode(strings), labels, batch_size, seeds)


@torch.no_grad()
def _accuracies(model: RNNClassifier, x: torch.Tensor, lengths: torch.Tensor, labels: torch.Tensor,
                batch_size: int, seeds) -> dict:
    model.eval()
    out = torch.cat([model.steps(x[i : i + 1024]) for i in range(0, len(x), 1024)])
    rows = torch.arange(len(x))

    def acc(read):
        return float((model.fc(out[rows, read]).argmax(-1) == labels).float().mean())

    result = {seed: acc(_padded_batch_reads(lengths, batch_size, seed)) for seed in seeds}
    result["last"] = acc(lengths - 1)
    return result


def padded_accuracy(model: RNNClassifier, x: torch.Tensor, lengths: torch.Tensor, labels: torch.Tensor,
                    batch_size: int = 32, seed: int | None = 0) -> float:
    """:func:`padded_batch_accuracy` on encoded strings (``sparsekit.data.reber.encode``): the thesis's
    test loop for a ``read="padded_end"`` model, each string read at its batch's last padded step."""
    if len(x) != len(labels) or len(lengths) != len(labels):
        raise ValueError(f"x, lengths and labels differ in length: {len(x)}, {len(lengths)}, {len(labels)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    return _accuracies(model, x, lengths, labels, batch_size, (seed,))[seed]


def padded_batch_accuracy(model: RNNClassifier, strings: list[str], labels: torch.Tensor, batch_size: int = 32,
                          seed: int | None = 0) -> float:
    """Accuracy in batches of ``batch_size``, each right-padded to its own longest string and read at
    its last padded step, in an order shuffled by ``seed`` (``None``: the given order) - the thesis's
    test loop (for a model whose ``read`` is ``"padded_end"``; with ``"last"`` the batching is moot)."""
    if model.read == "last":
        return padded_batch_accuracies(model, strings, labels, batch_size, ())["last"]
    return padded_batch_accuracies(model, strings, labels, batch_size, (seed,))[seed]


def _epoch0_rows(cell: str, kinds, levels, seeds, batch_size: int, with_base: bool = True) -> list[dict]:
    data = load_thesis_reber()
    x, lengths = encode(data.test)
    log = load_thesis_prune_log(cell)
    base = RNNClassifier.from_thesis(load_thesis_state_dict(cell), cell)
    rows = []
    for kind, percent in [(k, p) for k in kinds for p in (0, *levels) if p > 0 or (with_base and k == kinds[0])]:
        if percent == 0:
            model, removed = base, 0.0
            logged = log[(log.kind == "base")].sort_values("epoch").test_acc.iloc[-1]
        else:
            model, removed = prune_like_thesis(base, percent, kind)
            logged = log[(log.kind == kind) & (log.prune == percent) & (log.epoch == 0)].test_acc.iloc[0]
        got = _accuracies(model, x, lengths, data.y_test, batch_size, seeds)
        accs = [got[s] for s in seeds]
        rows.append(dict(cell=cell, kind="none" if percent == 0 else kind, prune=percent, removed=removed,
                         thesis=float(logged), ours=float(np.mean(accs)), ours_min=min(accs), ours_max=max(accs),
                         ours_last_symbol=got["last"]))
    return rows


def epoch0_table(cells=CELLS, kinds=MODES, levels=LEVELS, seeds=(0, 1, 2), batch_size: int = 32,
                 show_progress: bool = True, workers: int = 1) -> pd.DataFrame:
    """One row per (cell, kind, level), plus level 0 (the unpruned model): the thesis's logged test
    accuracy right after pruning, ours with the thesis's padded batches (mean, min and max over
    ``seeds`` shuffles) and ours read at each string's last symbol, and the share of weights removed.
    ``workers`` processes take one (cell, kind) each (:func:`sparsekit.utils.parallel_map`)."""
    jobs = [(c, (k,), tuple(levels), tuple(seeds), batch_size, i == 0) for c in cells for i, k in enumerate(kinds)]
    parts = parallel_map(_epoch0_rows, jobs, workers, desc="thesis models", show_progress=show_progress,
                         cost=lambda job: _COST.get(job[0], 1))  # the GRU is slowest on CPU
    out = pd.DataFrame([row for part in parts for row in part])
    out["difference"] = out["ours"] - out["thesis"]
    return out


def thesis_row_agrees(table: pd.DataFrame, margin: float = 0.01) -> pd.Series:
    """Rule R0 of notebook 02, row by row: the thesis's logged accuracy lies within our range over
    the shuffled batchings (``ours_min`` .. ``ours_max``), widened by ``margin`` on each side."""
    has_columns("table", table, {"thesis", "ours_min", "ours_max"}, " (use epoch0_table)")
    if margin < 0:
        raise ValueError(f"margin must be non-negative, got {margin}")
    return (table["thesis"] >= table["ours_min"] - margin) & (table["thesis"] <= table["ours_max"] + margin)
