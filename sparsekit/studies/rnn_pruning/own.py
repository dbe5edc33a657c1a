"""Notebook 02's experiments on networks we train ourselves, the thesis's graph table, and rules.

- :func:`study_data`, :func:`negatives_profile`, :func:`first_failure`: the thesis's strings and our
  one-edit negatives, and how easy a set's negatives are;
- :func:`own_study`: one (cell, seed) of the pruning study on a base model we train - on the
  thesis's strings or on our one-edit negatives - with the thesis's optimiser (Adam, lr 1e-3,
  batch 32, gradient norm clipped at 5), pruned by its rule at every level and mode, and retrained
  with the mask fixed where the rules need it; :func:`kept_weight_study` looks at what a plain
  cell keeps at "100%" h2h;
- :func:`graph_study`: one graph-grown sparse GRU (:class:`~sparsekit.rnn.GraphRNN`) trained and
  tested, with the graph's properties; :func:`thesis_graph_table`: the thesis's own graph results
  with our properties recomputed from its graphs;
- the rules, each a small function a unit test feeds counter-examples: :func:`keeps_base` (R1),
  :func:`falls_and_recovers` (R2), :func:`gated_contrast` (R3), :func:`graph_trends` (R4, R6);
  R0 and R5 are in :mod:`sparsekit.studies.rnn_pruning.thesis`.

The job functions take plain arguments and load their own data, so
:func:`sparsekit.utils.parallel_map` can run them on two one-thread processes.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import torch

from sparsekit.data.reber import ALPHABET, FINAL, TRANSITIONS, encode, make_reber
from sparsekit.prune import Pruner
from sparsekit.rnn import CELLS, GraphRNN, RNNClassifier, accuracy, graph_properties, random_graph, train_sequences
from sparsekit.seeds import derive_seed, seeded
from sparsekit.verdicts import ALPHA, Decision, decide, decide_bounds, decide_every

from .data import load_thesis_graphs, load_thesis_reber, load_thesis_structure
from .thesis import LEVELS, padded_accuracy, thesis_masks

__all__ = ["DATASETS", "THESIS_BATCH", "THESIS_LR", "first_failure", "negatives_profile", "study_data",
           "own_study", "kept_weight_study", "graph_study", "thesis_graph_table", "keeps_base",
           "falls_and_recovers", "gated_contrast", "graph_trends"]

DATASETS = ("thesis", "one_edit")
THESIS_BATCH, THESIS_LR, THESIS_CLIP = 32, 1e-3, 5.0
GATED, PLAIN = ("gru", "lstm"), ("rnn_tanh", "rnn_relu")


@functools.lru_cache(maxsize=3)
def _one_edit(seed: int, n_train: int, n_test: int):
    """Our one-edit data, drawn once per process (drawing distinct valid strings is slow)."""
    return make_reber(n_train, n_test, seed=seed)


def study_data(name: str, seed: int = 0, n_train: int | None = None, n_test: int | None = None):
    """``(x_train, len_train, y_train, x_test, len_test, y_test)``: the thesis's 18,750 / 6,250
    strings (``"thesis"``) or ours (``"one_edit"``: each invalid string is a valid one with a single
    edit, generated with ``seed``: ``n_train`` / ``n_test`` of them, by default as many as the
    thesis's); ``n_train`` / ``n_test`` keep the first strings."""
    if name not in DATASETS:
        raise ValueError(f"name must be one of {DATASETS}, got {name!r}")
    data = load_thesis_reber() if name == "thesis" else _one_edit(seed, n_train or 18_750, n_test or 6_250)
    tr, te = slice(n_train), slice(n_test)
    return (*encode(data.train[tr]), data.y_train[tr], *encode(data.test[te]), data.y_test[te])


def first_failure(s: str) -> int:
    """The position of the first symbol of ``s`` that no string of the grammar has there, given
    what precedes it (``len(s)`` when every symbol fits but the string stops early, -1 for a valid
    string): an acceptor reading left to right rejects ``s`` at this symbol."""
    if not s or s[0] != "B":
        return 0
    state = 0
    for i, ch in enumerate(s[1:], start=1):
        if ch == "E" and state == FINAL:
            return -1 if i == len(s) - 1 else i + 1
        state = TRANSITIONS.get(state, {}).get(ch)
        if state is None:
            return i
    return len(s)


def _majority_guess(values_train, y_train, values_test, default: int | None = None) -> np.ndarray:
    """For each test value, the majority label of the training strings with that value (a one-feature
    classifier); a value never seen gets ``default`` (None: the overall majority)."""
    table = pd.DataFrame({"f": list(values_train), "y": [int(y) for y in y_train]})
    majority = table.groupby("f").y.mean().round().astype(int)
    default = int(round(table.y.mean())) if default is None else default
    return np.array([majority.get(v, default) for v in values_test])


def negatives_profile(train: list[str], y_train, test: list[str], y_test) -> dict[str, float]:
    """How easy a data set's invalid strings are: the share that an acceptor rejects within their
    first 3 symbols, the share holding a letter outside the grammar's alphabet, and the test
    accuracy of a classifier that sees only the length, and of one that sees only the last symbol
    (each value's majority label on the training strings; values it never saw get the overall
    majority)."""
    if len(train) != len(y_train) or len(test) != len(y_test):
        raise ValueError("strings and labels differ in length")
    neg = [t for t, y in zip(train, y_train) if not int(y)]
    if not neg:
        raise ValueError("the training strings hold no invalid string")
    truth = np.asarray([int(y) for y in y_test])

    def one_feature(feature) -> float:
        guess = _majority_guess([feature(t) for t in train], y_train, [feature(t) for t in test])
        return float(np.mean(guess == truth))

    return dict(fail_within_3=float(np.mean([0 <= first_failure(t) < 3 for t in neg])),
                foreign_letters=float(np.mean([any(c not in ALPHABET for c in t) for t in neg])),
                length_only_accuracy=one_feature(len), last_symbol_accuracy=one_feature(lambda t: t[-1:]))


def _test(model, data, seed: int) -> float:
    """Test accuracy: read at each string's last symbol, or (``read="padded_end"``) the thesis's test,
    shuffled batches of 32 (order ``seed``) each read at its last padded step."""
    if model.read == "padded_end":
        return padded_accuracy(model, *data[3:], seed=seed)
    return accuracy(model, *data[3:])


def _retrain(model, masks, data, epochs: int, seed: int):
    """Retrain ``model`` with ``masks`` fixed (a fresh Adam, as the thesis did); accuracy after each epoch."""
    xtr, ltr, ytr, xte, lte, yte = data
    pruner = Pruner(model, list(masks), masks)
    opt = pruner.attach(torch.optim.Adam(model.parameters(), lr=THESIS_LR))
    gen = torch.Generator().manual_seed(seed)
    accs = []
    for _ in range(epochs):
        train_sequences(model, opt, xtr, ltr, ytr, 1, THESIS_BATCH, gen, clip_grad=THESIS_CLIP)
        accs.append(_test(model, data, seed))
    pruner.detach()
    return accs


def _train_base(cell: str, seed: int, data, epochs: int, read: str = "last") -> RNNClassifier:
    xtr, ltr, ytr = data[:3]
    with seeded(seed):
        model = RNNClassifier(cell, read=read)
    opt = torch.optim.Adam(model.parameters(), lr=THESIS_LR)
    train_sequences(model, opt, xtr, ltr, ytr, epochs, THESIS_BATCH, torch.Generator().manual_seed(seed),
                    clip_grad=THESIS_CLIP)
    return model


def own_study(cell: str, seed: int, dataset: str = "thesis", base_epochs: int = 1, retrain=(("both", 90, 1),),
              n_train: int | None = None, n_test: int | None = None, levels=LEVELS, read: str = "last") -> list[dict]:
    """One base model of ``cell`` trained for ``base_epochs`` passes over the training strings,
    pruned by the thesis's rule at every level of every mode (accuracy right after: ``epoch`` 0),
    and for each ``(kind, percent, epochs)`` of ``retrain`` retrained that many passes with the mask
    fixed. The model reads each string's last symbol (``read="last"``) or, as the thesis's did, the
    last padded step of its batch (``"padded_end"``, tested in shuffled batches of 32, order
    ``seed``). One row per measurement."""
    data = study_data(dataset, seed, n_train, n_test)
    model = _train_base(cell, seed, data, base_epochs, read)
    base = _test(model, data, seed)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    key = dict(dataset=dataset, seed=seed, cell=cell, base=base)
    rows = [dict(key, kind="none", prune=0, epoch=0, acc=base)]
    for kind in ("i2h", "h2h", "both"):
        for percent in levels:
            model.load_state_dict(state)
            masks = thesis_masks(model, percent, kind)
            Pruner(model, list(masks), masks)  # applies the masks
            rows.append(dict(key, kind=kind, prune=percent, epoch=0, acc=_test(model, data, seed)))
    for kind, percent, epochs in retrain:
        model.load_state_dict(state)
        accs = _retrain(model, thesis_masks(model, percent, kind), data, epochs, seed * 1000 + percent)
        rows += [dict(key, kind=kind, prune=percent, epoch=e, acc=a) for e, a in enumerate(accs, start=1)]
    return rows


def kept_weight_study(cell: str, seed: int, base_epochs: int = 1, retrain_epochs: int = 1,
                      n_train: int | None = None, n_test: int | None = None) -> dict:
    """What a plain cell keeps at "100%" h2h: :func:`own_study`'s R3 model (the same seed, data and
    steps, so the same accuracy) - the h2h weights the thesis's rule keeps (``kept``: (parameter,
    row, column, value)), the test accuracy with them and with them zeroed too, and the share of
    test strings on which the model predicts what a classifier of the string's length alone does."""
    data = study_data("thesis", seed, n_train, n_test)
    xtr, ltr, ytr, xte, lte, yte = data
    model = _train_base(cell, seed, data, base_epochs)
    masks = thesis_masks(model, 100, "h2h")
    accs = _retrain(model, masks, data, retrain_epochs, seed * 1000 + 100)
    params = dict(model.named_parameters())
    kept = [(n, int(r), int(c), float(params[n].detach()[r, c]))
            for n, m in masks.items() for r, c in m.nonzero().tolist()]
    by_length = torch.as_tensor(_majority_guess(ltr.tolist(), ytr, lte.tolist(), default=0))
    with torch.no_grad():
        model.eval()
        pred = torch.cat([model(xte[i : i + 1024], lte[i : i + 1024]).argmax(-1) for i in range(0, len(xte), 1024)])
        for n in masks:
            params[n].mul_(0)
    return dict(cell=cell, seed=seed, acc=accs[-1], kept=kept, acc_without_kept=_test(model, data, seed),
                same_as_length_only=float((pred == by_length).float().mean()),
                length_only_acc=float((by_length == yte).float().mean()))


def graph_study(kind: str, index: int, seed: int, nodes=(10, 50), n_train: int = 2000, n_test: int = 2000,
                epochs: int = 3, batch_size: int = 32, cell: str = "gru") -> dict:
    """Graph ``index`` of generator ``kind`` (``"ba"`` or ``"ws"``, the thesis's parameters, a node
    count drawn from ``nodes``), grown into a sparse ``cell`` network, trained ``epochs`` passes over
    the thesis's first ``n_train`` strings (Adam 1e-3, edges' masks fixed) and tested on its first
    ``n_test``. Returns the graph's properties and the test accuracy."""
    sub = derive_seed(seed, "graph", kind, index)
    n = int(np.random.default_rng(sub).integers(nodes[0], nodes[1] + 1))
    graph = random_graph(kind, n, seed=sub)
    xtr, ltr, ytr, xte, lte, yte = study_data("thesis")
    with seeded(sub):
        net = GraphRNN(graph, cell)
    pruner = Pruner(net, list(net.masks()), net.masks())
    opt = pruner.attach(torch.optim.Adam(net.parameters(), lr=THESIS_LR))
    train_sequences(net, opt, xtr[:n_train], ltr[:n_train], ytr[:n_train], epochs, batch_size,
                    torch.Generator().manual_seed(sub), clip_grad=THESIS_CLIP)
    return dict(kind=kind, index=index, acc=accuracy(net, xte[:n_test], lte[:n_test], yte[:n_test]),
                **graph_properties(graph))


_THESIS_NAMES = {"avg_shortest_path": "average_shortest_path_length", "betweenness_mean": "nodes_betweenness_mean",
                 "betweenness_var": "nodes_betweenness_var", "betweenness_std": "nodes_betweenness_std"}


def thesis_graph_table(cell: str) -> pd.DataFrame:
    """The thesis's random-graph results for ``cell`` (one row per graph: ``kind`` "ba"/"ws", its
    properties and test accuracy ``acc``), with ``same``: whether every property our
    :func:`~sparsekit.rnn.graph_properties` computes from its graph equals its table's (rel. 1e-6)."""
    table, graphs = load_thesis_structure(cell), load_thesis_graphs(cell)
    same = []
    for _, row in table.iterrows():
        mine = graph_properties(graphs[f"{row.graph}_{int(row.graph_nr)}"])
        same.append(all(np.isclose(v, row[_THESIS_NAMES.get(k, k)], rtol=1e-6, equal_nan=True)
                        for k, v in mine.items()))
    kind = table.graph.map({"barabasi_albert": "ba", "watts_strogatz": "ws"})
    return table.assign(cell=cell, kind=kind, acc=table.test_acc, same=same)


# ---------------------------------------------------------------------------- rules


def _need(table: pd.DataFrame, columns: set[str], what: str) -> None:
    missing = columns - set(table.columns)
    if missing:
        raise ValueError(f"{what} lacks the columns {sorted(missing)}")


def largest_drops(rows: pd.DataFrame, max_prune: int = 60) -> pd.Series:
    """Each cell's largest accuracy drop right after pruning "both" at 0 < level <= ``max_prune`` %,
    over seeds and levels (what R1 and X1 report)."""
    _need(rows, {"seed", "cell", "kind", "prune", "epoch", "acc", "base"}, "rows")
    low = rows[(rows.kind == "both") & (rows.epoch == 0) & (rows.prune > 0) & (rows.prune <= max_prune)]
    if low.empty:
        raise ValueError(f"rows hold no 'both' measurement at 0 < prune <= {max_prune}")
    return (low.base - low.acc).groupby(low.cell).max()


def keeps_base(rows: pd.DataFrame, max_prune: int = 60, margin: float = 0.01) -> tuple[Decision, pd.Series]:
    """R1: right after pruning both kinds at every level up to ``max_prune`` %, each cell keeps its
    base accuracy within ``margin``: per cell, the interval rule on each seed's largest drop (over
    those levels) against ``margin``, "at most"; every cell. Returns the decision and each cell's
    largest drop over seeds and levels."""
    _need(rows, {"seed", "cell", "kind", "prune", "epoch", "acc", "base"}, "rows")
    low = rows[(rows.kind == "both") & (rows.epoch == 0) & (rows.prune > 0) & (rows.prune <= max_prune)]
    if low.empty:
        raise ValueError(f"rows hold no 'both' measurement at 0 < prune <= {max_prune}")
    per_seed = (low.base - low.acc).groupby([low.cell, low.seed]).max()
    parts = {cell: decide(per_seed.loc[cell].to_numpy(), margin, "at most") for cell in per_seed.index.unique(0)}
    return decide_every(parts), per_seed.groupby(level=0).max()


def falls_and_recovers(rows: pd.DataFrame, prune: int = 90, kind: str = "both", fall: float = 0.01,
                       back: float = 0.02) -> tuple[Decision, pd.DataFrame]:
    """R2: at ``prune`` % of ``kind`` accuracy falls - the interval rule on base - accuracy right after
    pruning over every (seed, cell), at least ``fall`` - and one retraining epoch brings every cell
    back - per cell, the interval rule on accuracy after it - base, at least ``-back``."""
    _need(rows, {"seed", "cell", "kind", "prune", "epoch", "acc", "base"}, "rows")
    sel = rows[(rows.kind == kind) & (rows.prune == prune)]
    table = sel.pivot_table(index=["cell", "seed"], columns="epoch", values="acc").join(
        sel.groupby(["cell", "seed"]).base.first())
    if 0 not in table or 1 not in table:
        raise ValueError(f"rows need epochs 0 and 1 at {kind} {prune}%")
    parts = {"falls": decide((table.base - table[0]).to_numpy(), fall)}
    for cell in table.index.unique(0):
        t = table.loc[cell]
        parts[f"{cell} back"] = decide((t[1] - t.base).to_numpy(), -back)
    return decide_every(parts), table


def gated_contrast(rows: pd.DataFrame, prune: int = 100, gated_min: float = 0.95,
                   plain_max: float = 0.60) -> tuple[Decision, pd.DataFrame]:
    """R3: after the last retraining epoch at ``prune`` % h2h, GRU and LSTM reach at least
    ``gated_min`` (per cell, the interval rule over seeds), and RNN-Tanh and RNN-ReLU stay at most
    ``plain_max`` (per cell, on each seed's best epoch). All four cells must be present."""
    _need(rows, {"seed", "cell", "kind", "prune", "epoch", "acc"}, "rows")
    sel = rows[(rows.kind == "h2h") & (rows.prune == prune) & (rows.epoch > 0)]
    absent = set(CELLS) - set(sel.cell)
    if absent:
        raise ValueError(f"rows lack retraining at h2h {prune}% for {sorted(absent)}")
    last_rows = sel[sel.epoch == sel.epoch.max()]
    last = last_rows.groupby("cell").acc.agg(["min", "max"])
    best = sel.groupby("cell").acc.max()
    parts = {c: decide(last_rows[last_rows.cell == c].acc.to_numpy(), gated_min) for c in GATED}
    best_per_seed = sel.groupby(["cell", "seed"]).acc.max()
    parts.update({c: decide(best_per_seed.loc[c].to_numpy(), plain_max, "at most") for c in PLAIN})
    return decide_every(parts), last.assign(best=best)


def _trend_stats(kind_ws: np.ndarray, acc: np.ndarray, src: np.ndarray, clo: np.ndarray) -> np.ndarray:
    """Rows of (WS mean - BA mean, corr(acc, src), corr(acc, clo)), one per resample (axis 0)."""
    def corr(a, b):
        a, b = a - a.mean(1, keepdims=True), b - b.mean(1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))

    gap = (acc * kind_ws).sum(1) / kind_ws.sum(1) - (acc * ~kind_ws).sum(1) / (~kind_ws).sum(1)
    return np.stack([gap, corr(acc, src), corr(acc, clo)], axis=1)


TREND_NAMES = {"ws_minus_ba": "WS - BA mean accuracy", "corr_source_nodes": "corr(accuracy, source nodes)",
               "corr_closeness_var": "corr(accuracy, closeness variance)"}


def graph_trends(graphs: pd.DataFrame, n_boot: int = 2000, seed: int = 0, alpha: float = ALPHA
                 ) -> tuple[Decision, dict]:
    """R4 / R6: mean accuracy of Watts-Strogatz graphs above Barabasi-Albert ones, Pearson
    correlation of accuracy with the number of source nodes above 0 and with the variance of
    closeness centrality below 0 - each decided by the interval rule on its one-sided ``1 - alpha``
    bootstrap bounds (the ``alpha`` and ``1 - alpha`` percentiles of ``n_boot`` resamples, graphs
    resampled within each generator), all three. ``graphs`` has columns kind ("ba"/"ws"), acc,
    source_nodes, closeness_var. Returns the decision and (estimate, low, high) per quantity."""
    _need(graphs, {"kind", "acc", "source_nodes", "closeness_var"}, "graphs")
    if set(graphs.kind) != {"ba", "ws"} or graphs.groupby("kind").size().min() < 3:
        raise ValueError("graphs needs at least 3 graphs of each kind 'ba' and 'ws'")
    ws = (graphs.kind == "ws").to_numpy()
    cols = [graphs[c].to_numpy(float) for c in ("acc", "source_nodes", "closeness_var")]
    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.choice(np.flatnonzero(ws == w), (n_boot, int((ws == w).sum()))) for w in (False, True)],
                         axis=1)  # graphs resampled within each generator
    point = _trend_stats(ws[None], *(c[None] for c in cols))[0]
    draws = _trend_stats(ws[idx], *(c[idx] for c in cols))
    lo, hi = np.nanpercentile(draws, [100 * alpha, 100 * (1 - alpha)], axis=0)
    out = {k: (float(point[i]), float(lo[i]), float(hi[i])) for i, k in enumerate(TREND_NAMES)}
    how = f"bootstrap over {len(graphs)} graphs"
    directions = {"ws_minus_ba": "at least", "corr_source_nodes": "at least", "corr_closeness_var": "at most"}
    parts = {TREND_NAMES[k]: decide_bounds(*out[k], 0.0, directions[k], k=len(graphs), how=how) for k in TREND_NAMES}
    return decide_every(parts), out
