"""A Sparsey-style memory: a coding field of competitive modules with single-trial learning.

Rinkus, "Sparsey: event recognition via deep hierarchical sparse distributed codes" (Frontiers in
Computational Neuroscience 2014, doi 10.3389/fncom.2014.00160). The SDR operations and closed
forms it rests on are in ``sdr``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["SparseyMemory"]


@dataclass
class SparseyMemory:
    """A Sparsey-style coding field: ``q`` competitive modules (CMs) of ``k`` binary cells.

    Variant implemented: the simplified Code Selection Algorithm (CSA) of a public PyTorch
    re-implementation of Sparsey (SashwatAnagolum/SparseyTestingSystem, ``sparsey_layer.py``), which
    keeps the CSA's one essential mechanism of Rinkus (2014, doi 10.3389/fncom.2014.00160) -
    familiarity controls how random the code is - with a single rule, and ``match_rule="overlap"``
    adds one option of ours:

    1. input summation: ``V_i = (x . w_i) / |x|`` for every cell i (binary weights ``w_i`` from the
       input bits), in [0, 1]; with ``match_rule="jaccard"``, ``V_i = (x . w_i) / |x OR w_i|``, which
       stops a cell that has learned many items from matching every input (binary Hebbian weights
       saturate: Sparsey avoids it with small receptive fields and hierarchy, which we do not model);
    2. familiarity ``G`` = mean over CMs of the largest ``V`` in the CM;
    3. in every CM one winner is drawn from ``softmax(V / T)`` with temperature ``T = 1 / G - 1``
       (clamped to ``[t_min, t_max]``): a familiar input (``G`` near 1) re-activates its best-matching
       cells, a novel one (``G`` near 0) gets a near-uniform, new code;
    4. single-trial Hebbian learning: the weights from the active input bits to the winners are set
       to 1 (binary, no decay); the class readout counts, for every cell, the classes of the items
       whose codes it joined, and a code votes with those shares.

    Storing and retrieving cost ``O(num_inputs * q * k)`` whatever the number of stored items.
    """

    num_inputs: int
    q: int = 20
    k: int = 10
    match_rule: str = "overlap"
    t_min: float = 1e-3
    t_max: float = 1e3
    num_classes: int = 0
    seed: int = 0
    weights: np.ndarray = field(init=False, repr=False)
    class_weights: np.ndarray = field(init=False, repr=False)
    stored: int = field(init=False, default=0)

    def __post_init__(self):
        if self.num_inputs < 1 or self.q < 1 or self.k < 2:
            raise ValueError(f"need num_inputs >= 1, q >= 1 and k >= 2, got {self.num_inputs}, {self.q}, {self.k}")
        if self.match_rule not in ("overlap", "jaccard"):
            raise ValueError(f"match_rule must be 'overlap' or 'jaccard', got {self.match_rule!r}")
        self.rng = np.random.default_rng(self.seed)
        self.weights = np.zeros((self.num_inputs, self.q * self.k), dtype=np.uint8)
        self.fan_in = np.zeros(self.q * self.k, dtype=np.int64)  # learned weights per cell
        self.class_weights = np.zeros((self.q * self.k, max(self.num_classes, 1)), dtype=np.int64)

    def _check_input(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.shape != (self.num_inputs,):
            raise ValueError(f"x must be a binary vector of length {self.num_inputs}, got shape {x.shape}")
        return x.astype(bool)

    def match(self, x: np.ndarray) -> np.ndarray:
        """``V``: the normalised input summation of every cell, shape (q, k)."""
        x = self._check_input(x)
        active = int(x.sum())
        if active == 0:
            return np.zeros((self.q, self.k))
        hits = self.weights[x].sum(axis=0, dtype=np.int64)
        if self.match_rule == "jaccard":
            v = hits / (active + self.fan_in - hits)
        else:
            v = hits / active
        return v.reshape(self.q, self.k)

    def familiarity(self, v: np.ndarray) -> float:
        return float(v.max(axis=1).mean())

    def choose(self, v: np.ndarray, deterministic: bool = False) -> np.ndarray:
        """Winner index in each CM (the code), given the matches ``v`` of shape (q, k)."""
        if deterministic:
            return v.argmax(axis=1)
        g = self.familiarity(v)
        t = float(np.clip(1.0 / max(g, 1e-12) - 1.0, self.t_min, self.t_max))
        logits = (v - v.max(axis=1, keepdims=True)) / t
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        u = self.rng.random((self.q, 1))
        return np.minimum((np.cumsum(p, axis=1) < u).sum(axis=1), self.k - 1)

    def code(self, x: np.ndarray, deterministic: bool = False) -> np.ndarray:
        """The active cells (flat indices, one per CM) that the CSA picks for ``x``."""
        winners = self.choose(self.match(x), deterministic)
        return np.arange(self.q) * self.k + winners

    def store(self, x: np.ndarray, label: int | None = None) -> np.ndarray:
        """Single-trial learning of ``x`` (and its class); returns the code assigned to it."""
        x = self._check_input(x)
        if label is not None and (self.num_classes == 0 or not (0 <= label < self.num_classes)):
            raise ValueError(f"label must be in [0, {self.num_classes}) (set num_classes), got {label}")
        c = self.code(x)
        synapses = np.ix_(np.flatnonzero(x), c)  # from the active input bits to the winners
        self.fan_in[c] += int(x.sum()) - self.weights[synapses].sum(axis=0, dtype=np.int64)
        self.weights[synapses] = 1
        if label is not None:
            self.class_weights[c, label] += 1
        self.stored += 1
        return c

    def classify(self, x: np.ndarray) -> int:
        """Class whose node receives the most input from the code retrieved (deterministically) for ``x``:
        each code cell votes with the share of its stored items that had each class."""
        if self.num_classes == 0:
            raise ValueError("this memory has no class readout: create it with num_classes > 0")
        c = self.code(x, deterministic=True)
        counts = self.class_weights[c]
        return int((counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)).sum(axis=0).argmax())
