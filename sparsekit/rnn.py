"""Recurrent classifiers for the RNN-pruning notebook, and sparse RNNs grown from random graphs.

Following "Investigating Sparsity in Recurrent Neural Networks" (H. Darji, arXiv 2407.20601):

- :class:`RNNClassifier`: Embedding(128, 50) -> stacked RNN-Tanh / RNN-ReLU / GRU / LSTM -> Linear,
  on torch's fused recurrent kernels; it reads the output at each string's true last symbol
  (the thesis read the last padded step; with right padding the fused RNN's outputs up to a
  string's length do not depend on the padding).
- :func:`recurrent_weights`: the names of the input-to-hidden (``i2h``), hidden-to-hidden
  (``h2h``) or ``both`` kinds of recurrent matrices, for masks.
- :class:`GraphRNN`: a layered sparse recurrent network built from an undirected graph: edges
  oriented from lower to higher node index give a DAG, a node's layer is the longest path from
  a source, every DAG layer is a recurrent layer whose input weights are masked by the edges from
  the previous layer, and edges that skip layers become masked recurrent skip layers added to
  their target layer. Each layer (and skip layer) runs as one fused recurrent call over the whole
  sequence, so there is no Python loop over time steps.
- :func:`graph_properties`: the structural properties the thesis correlates with accuracy.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import torch
from torch import nn

from . import train
from .checks import one_of

__all__ = [
    "CELLS",
    "MODES",
    "check_cell",
    "make_rnn",
    "last_outputs",
    "READS",
    "RNNClassifier",
    "recurrent_weights",
    "dag_from_graph",
    "layer_index",
    "GraphRNN",
    "graph_properties",
    "barabasi_albert",
    "random_graph",
    "train_sequences",
    "accuracy",
]

CELLS = ("rnn_tanh", "rnn_relu", "gru", "lstm")
MODES = ("i2h", "h2h", "both")
_GATES = {"rnn_tanh": 1, "rnn_relu": 1, "gru": 3, "lstm": 4}


def check_cell(cell: str) -> str:
    return one_of("cell", cell, CELLS)


def make_rnn(cell: str, input_size: int, hidden_size: int, num_layers: int = 1) -> nn.RNNBase:
    """A fused torch recurrent module of the given cell type (batch_first)."""
    check_cell(cell)
    if cell == "gru":
        return nn.GRU(input_size, hidden_size, num_layers, batch_first=True)
    if cell == "lstm":
        return nn.LSTM(input_size, hidden_size, num_layers, batch_first=True)
    return nn.RNN(input_size, hidden_size, num_layers, batch_first=True, nonlinearity=cell.split("_")[1])


def last_outputs(out: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``out[b, lengths[b] - 1]`` for a batch-first output of shape (B, T, H)."""
    idx = (lengths - 1).clamp(min=0).to(out.device)
    return out[torch.arange(out.shape[0], device=out.device), idx]


READS = ("last", "padded_end")


class RNNClassifier(nn.Module):
    """Embedding -> ``num_layers`` stacked recurrent layers -> Linear (the thesis's base model).

    ``read`` says which output the classifier sees: ``"last"``, each string's last symbol, or
    ``"padded_end"``, the last step of the right-padded batch, after the string's padding zeros
    have gone through the network too - what the thesis's code does (``output = input[-1]``), so
    its predictions depend on how long the longest string of the batch is.
    """

    def __init__(self, cell: str = "gru", hidden: int = 50, num_layers: int = 3, embed: int = 50,
                 vocab: int = 128, num_classes: int = 2, read: str = "last"):
        super().__init__()
        one_of("read", read, READS)
        self.cell = check_cell(cell)
        self.read = read
        self.embedding = nn.Embedding(vocab, embed)
        self.rnn = make_rnn(cell, embed, hidden, num_layers)
        self.fc = nn.Linear(hidden, num_classes)

    def steps(self, x: torch.Tensor) -> torch.Tensor:
        """The top recurrent layer's output at every step, (batch, time, hidden)."""
        return self.rnn(self.embedding(x))[0]

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        out = self.steps(x)
        return self.fc(out[:, -1] if self.read == "padded_end" else last_outputs(out, lengths))

    @classmethod
    def from_thesis(cls, state_dict: dict[str, torch.Tensor], cell: str, read: str = "padded_end") -> RNNClassifier:
        """The thesis's trained model (``sparsekit.studies.rnn_pruning.data.load_thesis_state_dict``) in this class.

        Its ``MaskedRecurrentLayer`` computes the same gates as torch's cells, in the same order
        (GRU: reset, update, new with the reset applied to ``W_hn h + b_hn``; LSTM: input, forget,
        cell, output), so its weights copy over one to one; its masks multiply the weights.
        """
        check_cell(cell)
        layers = sorted({int(k.split(".")[2]) for k in state_dict if k.startswith("recurrent.recurrent_layers.")})
        if not layers or "embedding.weight" not in state_dict or "out.weight" not in state_dict:
            raise ValueError("state_dict is not the thesis's model: it needs embedding.weight, "
                             "recurrent.recurrent_layers.<l>.* and out.weight")
        w_hh = state_dict["recurrent.recurrent_layers.0.weight_hh"]
        hidden, gates = w_hh.shape[1], w_hh.shape[0] // w_hh.shape[1]
        if gates != _GATES[cell]:
            raise ValueError(f"state_dict holds {gates} gate block(s) per layer but cell {cell!r} has {_GATES[cell]}")
        vocab, embed = state_dict["embedding.weight"].shape
        model = cls(cell, hidden, len(layers), embed, vocab, state_dict["out.weight"].shape[0], read=read)
        ours = {"embedding.weight": state_dict["embedding.weight"], "fc.weight": state_dict["out.weight"],
                "fc.bias": state_dict["out.bias"]}
        for layer in layers:
            src = f"recurrent.recurrent_layers.{layer}."
            masks = {"ih": state_dict.get(src + "mask_i2h"), "hh": state_dict.get(src + "mask_h2h")}
            for kind in ("ih", "hh"):
                w = state_dict[src + f"weight_{kind}"]
                ours[f"rnn.weight_{kind}_l{layer}"] = w if masks[kind] is None else w * masks[kind]
                ours[f"rnn.bias_{kind}_l{layer}"] = state_dict[src + f"bias_{kind}"]
        model.load_state_dict(ours)
        return model.eval()


def recurrent_weights(model: nn.Module, mode: str = "both") -> list[str]:
    """Names of the recurrent weight matrices of ``model`` selected by ``mode`` (i2h, h2h or both)."""
    one_of("mode", mode, MODES)
    names = []
    for name, p in model.named_parameters():
        leaf = name.rsplit(".", 1)[-1]
        if p.dim() != 2:
            continue
        if leaf.startswith("weight_ih") and mode in ("i2h", "both"):
            names.append(name)
        elif leaf.startswith("weight_hh") and mode in ("h2h", "both"):
            names.append(name)
    return names


# ----------------------------------------------------------------------------- graph RNNs


def dag_from_graph(graph: nx.Graph) -> nx.DiGraph:
    """Orient every edge from the lower to the higher node index (nodes relabelled 0..n-1 first)."""
    g = nx.convert_node_labels_to_integers(graph, ordering="sorted")
    dag = nx.DiGraph()
    dag.add_nodes_from(g.nodes)
    dag.add_edges_from((min(u, v), max(u, v)) for u, v in g.edges)
    return dag


def layer_index(dag: nx.DiGraph) -> dict[int, int]:
    """Layer of every node: the length of the longest path from a source (sources are layer 0),
    which is its index in networkx's topological generations."""
    return {v: i for i, generation in enumerate(nx.topological_generations(dag)) for v in generation}


class GraphRNN(nn.Module):
    """A sparse recurrent network whose structure comes from a graph (see the module docstring)."""

    def __init__(self, graph: nx.Graph, cell: str = "gru", vocab: int = 128, num_classes: int = 2):
        super().__init__()
        self.cell = check_cell(cell)
        dag = dag_from_graph(graph)
        if dag.number_of_nodes() == 0:
            raise ValueError("the graph has no nodes")
        lay = layer_index(dag)
        n_layers = max(lay.values()) + 1
        members = [sorted(v for v in dag if lay[v] == layer) for layer in range(n_layers)]
        pos = {v: i for layer in members for i, v in enumerate(layer)}
        self.layer_sizes = [len(m) for m in members]
        self.embedding = nn.Embedding(vocab, self.layer_sizes[0])
        # the sources get the embedding itself through a dense recurrent layer of their own size
        self.layers = nn.ModuleList([make_rnn(cell, self.layer_sizes[0], self.layer_sizes[0])])
        masks: list[torch.Tensor | None] = [None]
        skip_pairs: list[tuple[int, int]] = []
        skip_masks = []
        gates = _GATES[cell]
        for layer in range(1, n_layers):
            prev, cur = members[layer - 1], members[layer]
            m = torch.zeros(len(cur), len(prev), dtype=torch.bool)
            skips: dict[int, torch.Tensor] = {}
            for v in cur:
                for u in dag.predecessors(v):
                    if lay[u] == layer - 1:
                        m[pos[v], pos[u]] = True
                    else:
                        sm = skips.setdefault(lay[u], torch.zeros(len(cur), len(members[lay[u]]), dtype=torch.bool))
                        sm[pos[v], pos[u]] = True
            self.layers.append(make_rnn(cell, len(prev), len(cur)))
            masks.append(m.repeat(gates, 1))
            for src, sm in sorted(skips.items()):
                skip_pairs.append((src, layer))
                skip_masks.append(sm.repeat(gates, 1))
        self.skip_pairs = skip_pairs
        self._skips_into: dict[int, list[int]] = {}  # target layer -> indices of the skip layers into it
        for k, (_, t) in enumerate(skip_pairs):
            self._skips_into.setdefault(t, []).append(k)
        self.skips = nn.ModuleList([make_rnn(cell, self.layer_sizes[s], self.layer_sizes[t]) for s, t in skip_pairs])
        for i, mi in enumerate(masks):
            if mi is not None:
                self.register_buffer(f"mask_{i}", mi)
        for i, m in enumerate(skip_masks):
            self.register_buffer(f"skip_mask_{i}", m)
        self.fc = nn.Linear(self.layer_sizes[-1], num_classes)
        self.apply_masks()

    def masks(self) -> dict[str, torch.Tensor]:
        """Parameter name -> mask of every masked input weight (for a :class:`sparsekit.prune.Pruner`)."""
        out = {}
        for i in range(1, len(self.layers)):
            out[f"layers.{i}.weight_ih_l0"] = getattr(self, f"mask_{i}")
        for i in range(len(self.skips)):
            out[f"skips.{i}.weight_ih_l0"] = getattr(self, f"skip_mask_{i}")
        return out

    @torch.no_grad()
    def apply_masks(self) -> None:
        params = dict(self.named_parameters())
        for name, m in self.masks().items():
            params[name].mul_(m)

    def n_weights(self) -> int:
        """Non-zero recurrent input weights (the graph's edges, times the gates)."""
        return int(sum(int(m.sum()) for m in self.masks().values()))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        outs = [self.layers[0](self.embedding(x))[0]]
        for layer in range(1, len(self.layers)):
            h = self.layers[layer](outs[layer - 1])[0]
            for k in self._skips_into.get(layer, []):
                h = h + self.skips[k](outs[self.skip_pairs[k][0]])[0]
            outs.append(h)
        return self.fc(last_outputs(outs[-1], lengths))


def graph_properties(graph: nx.Graph) -> dict[str, float]:
    """Structural properties recorded by the thesis, defined as its table defines them (checked on its
    800 graphs): centralities on the undirected graph, their variance with ``ddof=1``; density of the
    DAG (edges / (n (n - 1))); sink nodes = the width of the last layer (the classifier's input)."""
    g = nx.convert_node_labels_to_integers(graph, ordering="sorted")
    dag = dag_from_graph(g)
    lay = layer_index(dag)

    def stats(name, values):
        v = np.asarray(list(values), dtype=float)
        return {f"{name}_mean": v.mean(), f"{name}_var": v.var(ddof=1), f"{name}_std": v.std(ddof=1)}

    props = {
        "nodes": g.number_of_nodes(),
        "edges": g.number_of_edges(),
        "layers": max(lay.values()) + 1,
        "source_nodes": sum(1 for v in dag if dag.in_degree(v) == 0),
        "sink_nodes": sum(1 for v in dag if lay[v] == max(lay.values())),
        "density": nx.density(dag),
    }
    connected = nx.is_connected(g)
    props["diameter"] = nx.diameter(g) if connected else np.nan
    props["avg_shortest_path"] = nx.average_shortest_path_length(g) if connected else np.nan
    props.update(stats("eccentricity", nx.eccentricity(g).values()) if connected else {})
    props.update(stats("degree", nx.degree_centrality(g).values()))
    props.update(stats("closeness", nx.closeness_centrality(g).values()))
    props.update(stats("betweenness", nx.betweenness_centrality(g).values()))
    props.update(stats("edge_betweenness", nx.edge_betweenness_centrality(g).values()))
    return props


def barabasi_albert(n: int, m: int, seed: int) -> nx.Graph:
    """Barabasi-Albert preferential attachment grown from ``m`` isolated nodes (Barabasi & Albert 1999;
    networkx before 3.0 and the thesis's graphs, arXiv 2407.20601).

    Node ``m`` links to all ``m`` initial nodes; every later node links to ``m`` distinct earlier nodes,
    each drawn with probability proportional to its degree. networkx 3 starts from a star on ``m + 1``
    nodes instead, so its graphs oriented low -> high index have a single source; these have ``m``
    (the initial nodes), as the thesis's 800 graphs do.
    """
    if not (isinstance(m, int) and 1 <= m < n):
        raise ValueError(f"need integers 1 <= m < n, got m={m!r}, n={n!r}")
    rng = np.random.default_rng(seed)
    g = nx.empty_graph(m)
    targets = list(range(m))
    ends: list[int] = []  # every edge end once: a node appears as often as its degree
    for new in range(m, n):
        g.add_edges_from((new, t) for t in targets)
        ends += targets + [new] * m
        chosen: set[int] = set()
        while len(chosen) < m and new + 1 < n:
            chosen.add(ends[int(rng.integers(len(ends)))])
        targets = sorted(chosen)
    return g


def random_graph(kind: str, n: int, seed: int) -> nx.Graph:
    """The thesis's generators: Barabasi-Albert with m = n // 10 grown from m isolated nodes
    (:func:`barabasi_albert`), Watts-Strogatz with k = n // 5, p = 1."""
    if n < 10:
        raise ValueError(f"n must be at least 10 (m = n // 10 >= 1), got {n}")
    if kind == "ba":
        return barabasi_albert(n, max(1, n // 10), seed)
    if kind == "ws":
        return nx.connected_watts_strogatz_graph(n, max(2, n // 5), 1.0, tries=100, seed=seed)
    raise ValueError(f"kind must be 'ba' (Barabasi-Albert) or 'ws' (Watts-Strogatz), got {kind!r}")


# ----------------------------------------------------------------------------- training


def _batch_order(lengths: torch.Tensor, batch_size: int, generator: torch.Generator | None) -> list[torch.Tensor]:
    """Random batches; each batch is later cut to its longest string, so little time goes to padding."""
    perm = torch.randperm(len(lengths), generator=generator)
    return [perm[i : i + batch_size] for i in range(0, len(perm), batch_size)]


def train_sequences(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, lengths: torch.Tensor,
                    y: torch.Tensor, epochs: int, batch_size: int = 32, generator: torch.Generator | None = None,
                    clip_grad: float | None = 5.0, max_steps: int | None = None) -> list[float]:
    """Train a sequence classifier ``model(x, lengths)`` through ``train.fit`` for ``epochs`` passes,
    or for exactly ``max_steps`` optimizer steps when given (passes repeat as needed). Each batch is
    cut to its longest sequence. Returns the mean training loss of each pass."""
    if max_steps is not None and max_steps < 1:
        raise ValueError(f"max_steps must be positive, got {max_steps}")

    def one_pass():
        for idx in _batch_order(lengths, batch_size, generator):
            t = int(lengths[idx].max())
            yield (x[idx, :t], lengths[idx]), y[idx]

    if max_steps is None:
        return train.fit(model, optimizer, one_pass, clip_grad=clip_grad, epochs=epochs).epoch_loss
    return train.fit(model, optimizer, one_pass, clip_grad=clip_grad, steps=max_steps).epoch_loss


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, lengths: torch.Tensor, y: torch.Tensor,
             batch_size: int = 1024) -> float:
    """Classification accuracy (a fraction) of ``model(x, lengths)``, in batches sorted by length, in
    eval mode (the model's own mode is restored afterwards)."""
    order = torch.argsort(lengths)
    correct = 0
    with train.eval_mode(model):
        for i in range(0, len(y), batch_size):
            idx = order[i : i + batch_size]
            t = int(lengths[idx].max())
            correct += (model(x[idx, :t], lengths[idx]).argmax(-1) == y[idx]).sum().item()
    return correct / max(len(y), 1)
