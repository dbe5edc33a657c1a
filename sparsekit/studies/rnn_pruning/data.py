"""The thesis's own data, trained models and logs (arXiv 2407.20601; MIT, in the repository's ``data/thesis_reber/``).

They ship with the repository, not in the library's wheel: :func:`thesis_dir` finds them in the
checkout (``sparsekit.course.paths.repo_root``) or where ``SPARSEKIT_THESIS_DATA`` points.


- :func:`load_thesis_reber`: its 18,750 / 6,250 Reber strings as a :class:`~sparsekit.data.reber.ReberData`;
- :func:`load_thesis_state_dict`: the trained base model of one cell (RNN-Tanh, RNN-ReLU, GRU, LSTM);
- :func:`load_thesis_prune_log`: its pruning log, one row per (pruned kind, level, epoch);
- :func:`load_thesis_structure`: its random-graph results, one row per graph;
- :func:`load_thesis_graphs`: the 200 random graphs behind those results, per cell (``graphs.json.gz``:
  the thesis's pickled networkx graphs as node and edge lists - plain data, no pickle to trust).
"""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import torch

from sparsekit.data.reber import ReberData

__all__ = ["thesis_dir", "THESIS_CELLS", "load_thesis_reber", "load_thesis_state_dict", "load_thesis_prune_log",
           "load_thesis_structure", "load_thesis_graphs"]



def thesis_dir() -> Path:
    """The folder holding the thesis's files (``SPARSEKIT_THESIS_DATA``, else the checkout's ``data/thesis_reber``)."""
    import os

    from sparsekit.course.paths import repo_root

    env = os.environ.get("SPARSEKIT_THESIS_DATA")
    path = Path(env).expanduser() if env else repo_root() / "data" / "thesis_reber"
    if not (path / "train_data.csv").is_file():
        raise FileNotFoundError(f"the thesis's data is not in {path} (train_data.csv missing): it ships with the "
                                "repository's data/thesis_reber/; set SPARSEKIT_THESIS_DATA to a copy of that folder")
    return path

THESIS_CELLS = {"rnn_tanh": "rnn_tanh", "rnn_relu": "rnn_relu", "gru": "gru", "lstm": "lstm"}


def _cell(cell: str) -> str:
    if cell not in THESIS_CELLS:
        raise ValueError(f"cell must be one of {', '.join(THESIS_CELLS)}, got {cell!r}")
    return THESIS_CELLS[cell]


def _rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        raise FileNotFoundError(f"{path.name} is missing from {path.parent}; restore it from the repository's "
                                "data/thesis_reber")
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def load_thesis_reber() -> ReberData:
    """The thesis's train / test strings and labels (1 = valid), in the files' order."""
    split = {}
    for name in ("train", "test"):
        rows = _rows(thesis_dir() / f"{name}_data.csv")
        split[name] = ([r["string"] for r in rows], torch.tensor([int(r["valid"]) for r in rows]))
    return ReberData(split["train"][0], split["train"][1], split["test"][0], split["test"][1])


def load_thesis_state_dict(cell: str) -> dict[str, torch.Tensor]:
    """The thesis's trained base model of ``cell`` as its own state dict (keys ``embedding.weight``,
    ``recurrent.recurrent_layers.{l}.weight_ih`` ..., ``out.weight``)."""
    return torch.load(thesis_dir() / "state_dicts" / f"{_cell(cell)}.pt", map_location="cpu", weights_only=True)


def load_thesis_prune_log(cell: str):
    """The pruning log of ``cell`` as a DataFrame: ``kind`` ("base", "both", "i2h", "h2h"), ``prune``
    (percent), ``epoch`` (0 = right after pruning), train/test loss and accuracy."""
    import pandas as pd

    df = pd.DataFrame(_rows(thesis_dir() / "results" / "prune" / f"{_cell(cell)}.csv"))
    kind = df.pop("mode").str.replace(cell, "", n=1, regex=False)
    df.insert(0, "kind", kind.map({"": "base", "_prune": "both", "_prune_i2h": "i2h", "_prune_h2h": "h2h"}))
    if df["kind"].isna().any():
        raise ValueError(f"unexpected mode names in the {cell} log")
    for col in ("prune", "epoch"):
        df[col] = df[col].astype(int)
    for col in ("train_loss", "train_acc", "test_loss", "test_acc", "time"):
        df[col] = df[col].astype(float)
    return df


def load_thesis_structure(cell: str):
    """The random-graph study of ``cell``: one row per graph, its properties and test accuracy."""
    import pandas as pd

    df = pd.DataFrame(_rows(thesis_dir() / "results" / "structure" / f"{_cell(cell)}.csv"))
    for col in df.columns:
        if col not in ("mode", "graph"):
            df[col] = pd.to_numeric(df[col])
    return df


def load_thesis_graphs(cell: str) -> dict:
    """The thesis's 200 random graphs of ``cell`` (``barabasi_albert_<i>``, ``watts_strogatz_<i>``;
    the rows of :func:`load_thesis_structure` by ``graph`` and ``graph_nr``) as networkx graphs."""
    import networkx as nx

    name = _cell(cell)
    path = thesis_dir() / "graphs.json.gz"
    if not path.exists():
        raise FileNotFoundError(f"{path.name} is missing from {path.parent}; restore it from the repository's "
                                "data/thesis_reber")
    with gzip.open(path, "rt") as f:
        stored = json.load(f)[name]
    graphs = {}
    for key, g in stored.items():
        graph = nx.Graph()
        graph.add_nodes_from(g["nodes"])
        graph.add_edges_from(map(tuple, g["edges"]))
        graphs[key] = graph
    return graphs
