"""Notebook 02's sparse RNNs grown from random graphs: the thesis's 800 trained graph networks and ours.

- :func:`graph_study`: one graph-grown sparse GRU (:class:`~sparsekit.rnn.GraphRNN`) trained and
  tested, with the graph's properties; :func:`thesis_graph_table`: the thesis's own graph results
  with our properties recomputed from its graphs;
- :func:`graph_trends` (R4, R6): WS against BA and two correlations, by bootstrap;
  :func:`within_generator`: the same correlations inside each generator (WS graphs have more
  source nodes, so a pooled correlation mixes the two); :func:`forest_r2` and
  :func:`forest_agrees` (R7): the thesis's random-forest prediction of accuracy from graph
  properties, over many random 90/10 splits.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from sparsekit.checks import has_columns
from sparsekit.prune import Pruner
from sparsekit.rnn import GraphRNN, accuracy, graph_properties, random_graph, train_sequences
from sparsekit.seeds import derive_seed, seeded
from sparsekit.verdicts import ALPHA, Decision, decide_bounds, decide_every, exact

from .data import load_thesis_graphs, load_thesis_structure
from .own import THESIS_CLIP, THESIS_LR, study_data

__all__ = ["graph_study", "thesis_graph_table", "TREND_NAMES", "graph_trends", "within_generator",
           "PROPERTIES", "THESIS_FOREST_R2", "forest_r2", "forest_agrees"]


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
    has_columns("graphs", graphs, {"kind", "acc", "source_nodes", "closeness_var"})
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


def within_generator(graphs: pd.DataFrame) -> pd.DataFrame:
    """Pearson correlation of accuracy with the number of source nodes and with the variance of
    closeness centrality inside each generator (rows "ba", "ws") and pooled ("both")."""
    has_columns("graphs", graphs, {"kind", "acc", "source_nodes", "closeness_var"})
    parts = {k: graphs[graphs.kind == k] for k in ("ba", "ws")} | {"both": graphs}
    return pd.DataFrame({k: {"corr(accuracy, source nodes)": g.acc.corr(g.source_nodes),
                             "corr(accuracy, closeness variance)": g.acc.corr(g.closeness_var),
                             "mean source nodes": g.source_nodes.mean(), "graphs": len(g)}
                         for k, g in parts.items()}).T.astype({"graphs": int})


PROPERTIES = ("layers", "nodes", "edges", "source_nodes", "sink_nodes", "diameter", "density",
              "average_shortest_path_length", "eccentricity_mean", "eccentricity_var", "eccentricity_std",
              "degree_mean", "degree_var", "degree_std", "closeness_mean", "closeness_var", "closeness_std",
              "nodes_betweenness_mean", "nodes_betweenness_var", "nodes_betweenness_std",
              "edge_betweenness_mean", "edge_betweenness_var", "edge_betweenness_std")
# the thesis's random-forest R^2 on a 90/10 split of its 200 graphs per cell (its results chapter)
THESIS_FOREST_R2 = {"rnn_tanh": 0.432, "rnn_relu": 0.615, "lstm": 0.579, "gru": 0.876}


def forest_r2(graphs: pd.DataFrame, splits: int = 50, test_share: float = 0.1, seed: int = 0,
              properties=PROPERTIES, split_state: int | None = None) -> np.ndarray:
    """Held-out R^2 of a random forest (scikit-learn's defaults, 100 trees) predicting ``acc``
    from the graph ``properties``, for each of ``splits`` random ``1 - test_share`` / ``test_share``
    splits (the thesis's protocol, which it ran once). ``split_state``: every split is instead the
    one ``train_test_split(random_state=split_state)`` draws - the thesis's used 7 - and only the
    forest's seed changes."""
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.metrics import r2_score
    from sklearn.model_selection import ShuffleSplit, train_test_split

    has_columns("graphs", graphs, {"acc", *properties})
    x, y = graphs[list(properties)].to_numpy(float), graphs.acc.to_numpy(float)
    if split_state is None:
        parts = list(ShuffleSplit(splits, test_size=test_share, random_state=seed).split(x))
    else:
        tr, te = train_test_split(np.arange(len(y)), test_size=test_share, random_state=split_state)
        parts = [(tr, te)] * splits
    out = []
    for i, (tr, te) in enumerate(parts):
        forest = RandomForestRegressor(random_state=seed + i, n_jobs=1).fit(x[tr], y[tr])
        out.append(r2_score(y[te], forest.predict(x[te])))
    return np.asarray(out)


def forest_agrees(r2: dict[str, np.ndarray], thesis=None, alpha: float = ALPHA) -> Decision:
    """R7: for each cell, the thesis's one-split R^2 lies within the central ``1 - 2 alpha`` range
    of ours over random splits (the split is its unrecorded draw); every cell of ``r2``."""
    thesis = THESIS_FOREST_R2 if thesis is None else thesis
    parts = {}
    for cell, values in r2.items():
        lo, hi = np.percentile(values, [100 * alpha, 100 * (1 - alpha)])
        parts[cell] = exact(bool(lo <= thesis[cell] <= hi), float(np.median(values)), thesis[cell],
                            reason=f"{len(values)} splits: {lo:.3f} .. {hi:.3f}")
    return decide_every(parts)
