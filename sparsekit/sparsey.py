"""A Sparsey-style memory: a coding field of competitive modules, Rinkus's Code Selection
Algorithm (CSA), single-trial learning, and counted operations.

Gerard Rinkus, "A cortical sparse distributed coding model linking mini- and macrocolumn-scale
functionality" (Frontiers in Neuroanatomy 2010) and "Sparsey: event recognition via deep
hierarchical sparse distributed codes" (Frontiers in Computational Neuroscience 2014, doi
10.3389/fncom.2014.00160). The SDR operations and closed forms the memory rests on are in ``sdr``.

One coding field (a *mac*): ``q`` competitive modules (CMs) of ``k`` binary cells; a code is one
winner per CM. For an input ``x`` (a binary vector) the CSA does, in a fixed number of steps:

1. input summation ``u_i = sum_j x_j w_ji`` over the binary afferent weights of every cell i;
2. normalisation and sharpening ``V_i = (u_i / |x|) ** v_exponent`` in [0, 1]
   (``match_rule="jaccard"``, an option of ours, uses ``u_i / |x OR w_i|``, which stops a cell that
   has learned many items from matching every input); the exponent keeps only near-complete
   matches high, so a cell that half-matches everything (a saturated one) does not look familiar;
3. familiarity ``G = (1/q) sum_q max_{i in q} V_i``;
4. expansivity ``eta(G) = 1 + chi * k * max(0, (G - g_min) / (1 - g_min)) ** gamma``, rising with G;
5. the G-dependent sigmoid ``mu_i = (eta - 1) / (1 + sigma1 * exp(-sigma2 * (V_i - sigma3))) + 1``,
   the relative win likelihood, renormalised in each CM to ``p_i = mu_i / sum_{j in CM} mu_j``;
6. learning: one winner drawn per CM from ``p``; retrieval (``deterministic=True``): the cell of
   largest ``V`` in each CM;
7. single-trial Hebbian learning: the weights from the active inputs to the winners are set to 1
   (binary, no decay); the class readout counts, per cell, the classes of the items it joined.

When G is at or below ``g_min``, eta = 1 and every mu is 1: a novel input gets a uniformly random,
new code. As G approaches 1, eta grows to ``1 + chi * k`` and the draw concentrates on the cells
of largest V: a familiar input gets its stored code back. Hence similar inputs get similar codes.

Where each constant comes from (``../shared/papers/sdr_memory.md`` lists what is verified): the
published equations and constants of Rinkus 2010/2014 could not be read for this package, so the
forms are those of the implementations we could read. The sigmoid form is the one of the issue's
outline and of "Sparsey_Alt", an independent Python implementation quoted in jacobeverist/dcc-sparsey:
``(eta - 1) / (1 + (0.1 * exp(-4 (V - 1))) ** 8) + 1``, i.e. ``sigma1 = 0.1 ** 8 = 1e-8``,
``sigma2 = 32``, ``sigma3 = 1``. Sparsey_Alt also raises the normalised sum to the
power ``v_exponent = 10``. The eta form and ``g_min = 0.1``, ``gamma = 2``, ``chi = 100`` are the
defaults of the SparseyCore port in that repository. They are implementation defaults,
not published values.

``selection="softmax"`` keeps an ablation: winners drawn from ``softmax(V / T)``, ``T = 1/G - 1``
(clamped to [1e-3, 1e3]; the first version of sparseypy). With k = 200 cells at G = 0.5 the best
cell gets under 2% of the draw, so training codes are nearly random unless G > 0.9.

Every call counts its work in ``ops`` (weight reads, cell updates, winner draws, weight writes), so
that "the cost of storing or retrieving an item does not depend on how many are stored" is a
number one can check, not a timing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .checks import one_of

__all__ = ["SparseyMemory", "NearestNeighbourMemory", "CSA_DEFAULTS", "ops_per_call"]

# the constants of the CSA and their sources (see the module docstring)
CSA_DEFAULTS = dict(v_exponent=10.0, g_min=0.1, gamma=2.0, chi=100.0, sigma1=1e-8, sigma2=32.0, sigma3=1.0)


@dataclass
class SparseyMemory:
    """A Sparsey-style coding field: ``q`` competitive modules (CMs) of ``k`` binary cells, with
    Rinkus's Code Selection Algorithm (module docstring) and single-trial learning.

    ``match_rule`` is ``"overlap"`` (V = u / |x|) or ``"jaccard"`` (V = u / |x OR w|);
    ``selection`` is ``"csa"`` (the G-dependent sigmoid) or ``"softmax"`` (an ablation).
    ``num_classes > 0`` adds the class readout used by ``classify``.
    """

    num_inputs: int
    q: int = 20
    k: int = 10
    match_rule: str = "overlap"
    selection: str = "csa"
    v_exponent: float = CSA_DEFAULTS["v_exponent"]
    g_min: float = CSA_DEFAULTS["g_min"]
    gamma: float = CSA_DEFAULTS["gamma"]
    chi: float = CSA_DEFAULTS["chi"]
    sigma1: float = CSA_DEFAULTS["sigma1"]
    sigma2: float = CSA_DEFAULTS["sigma2"]
    sigma3: float = CSA_DEFAULTS["sigma3"]
    num_classes: int = 0
    seed: int = 0
    weights: np.ndarray = field(init=False, repr=False)
    class_weights: np.ndarray = field(init=False, repr=False)
    stored: int = field(init=False, default=0)

    def __post_init__(self):
        if self.num_inputs < 1 or self.q < 1 or self.k < 2:
            raise ValueError(f"need num_inputs >= 1, q >= 1 and k >= 2, got {self.num_inputs}, {self.q}, {self.k}")
        one_of("match_rule", self.match_rule, ("overlap", "jaccard"))
        one_of("selection", self.selection, ("csa", "softmax"))
        if not 0.0 <= self.g_min < 1.0:
            raise ValueError(f"g_min must be in [0, 1), got {self.g_min!r}")
        if self.v_exponent <= 0:
            raise ValueError(f"v_exponent must be > 0, got {self.v_exponent!r}")
        if self.chi < 0 or self.gamma <= 0 or self.sigma1 <= 0 or self.sigma2 <= 0:
            raise ValueError(f"need chi >= 0, gamma > 0, sigma1 > 0 and sigma2 > 0, got chi={self.chi!r}, "
                             f"gamma={self.gamma!r}, sigma1={self.sigma1!r}, sigma2={self.sigma2!r}")
        if self.num_classes < 0:
            raise ValueError(f"num_classes must be >= 0, got {self.num_classes!r}")
        self.rng = np.random.default_rng(self.seed)
        self.weights = np.zeros((self.num_inputs, self.q * self.k), dtype=np.uint8)
        self.fan_in = np.zeros(self.q * self.k, dtype=np.int64)  # learned weights per cell
        self.class_weights = np.zeros((self.q * self.k, max(self.num_classes, 1)), dtype=np.int64)
        self.ops: Counter = Counter()

    def _check_input(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.shape != (self.num_inputs,):
            raise ValueError(f"x must be a binary vector of length {self.num_inputs}, got shape {x.shape}")
        return x.astype(bool)

    def match(self, x: np.ndarray) -> np.ndarray:
        """``V``: the normalised input summation of every cell, shape (q, k) (steps 1-2)."""
        x = self._check_input(x)
        active = int(x.sum())
        if active == 0:
            return np.zeros((self.q, self.k))
        rows = self.weights[x]
        self.ops["weight reads"] += rows.size
        hits = rows.sum(axis=0, dtype=np.int64)
        v = hits / (active + self.fan_in - hits) if self.match_rule == "jaccard" else hits / active
        v = v**self.v_exponent
        self.ops["cell updates"] += v.size
        return v.reshape(self.q, self.k)

    @staticmethod
    def familiarity(v: np.ndarray) -> float:
        """G: the mean over CMs of the largest V in the CM (step 3)."""
        return float(np.asarray(v).max(axis=1).mean())

    def eta(self, g: float) -> float:
        """Expansivity eta(G) (step 4): 1 up to ``g_min``, rising to ``1 + chi * k`` at G = 1."""
        return 1.0 + self.chi * self.k * max(0.0, (g - self.g_min) / (1.0 - self.g_min)) ** self.gamma

    def win_probabilities(self, v: np.ndarray) -> np.ndarray:
        """p: each cell's probability of winning its CM, shape (q, k) (step 5, or the softmax ablation)."""
        v = np.asarray(v, dtype=float)
        g = self.familiarity(v)
        if self.selection == "softmax":
            t = float(np.clip(1.0 / max(g, 1e-12) - 1.0, 1e-3, 1e3))
            mu = np.exp((v - v.max(axis=1, keepdims=True)) / t)
        else:
            mu = (self.eta(g) - 1.0) / (1.0 + self.sigma1 * np.exp(-self.sigma2 * (v - self.sigma3))) + 1.0
        return mu / mu.sum(axis=1, keepdims=True)

    def choose(self, v: np.ndarray, deterministic: bool = False) -> np.ndarray:
        """Winner index in each CM (the code), given the matches ``v`` of shape (q, k) (step 6)."""
        if deterministic:
            return np.asarray(v).argmax(axis=1)
        p = self.win_probabilities(v)
        self.ops["winner draws"] += self.q
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
        self.ops["weight writes"] += int(x.sum()) * self.q
        if label is not None:
            self.class_weights[c, label] += 1
        self.stored += 1
        return c

    def class_shares(self) -> np.ndarray:
        """Per cell, the share of each class among the items it joined, shape (q * k, num_classes)."""
        counts = self.class_weights
        return counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)

    def purity(self) -> float:
        """Mean over the cells used so far of the largest class share: 1 when every cell codes one
        class, 1 / num_classes when the cells mix the classes evenly."""
        used = self.class_weights.sum(axis=1) > 0
        return float(self.class_shares()[used].max(axis=1).mean()) if used.any() else float("nan")

    def classify(self, x: np.ndarray) -> int:
        """Class whose node receives the most input from the code retrieved (deterministically) for ``x``:
        each code cell votes with the share of its stored items that had each class."""
        if self.num_classes == 0:
            raise ValueError("this memory has no class readout: create it with num_classes > 0")
        c = self.code(x, deterministic=True)
        return int(self.class_shares()[c].sum(axis=0).argmax())


class NearestNeighbourMemory:
    """The contrast to the CSA: items stored as they are, retrieval compares the query with every
    stored item (overlap of binary vectors). Counts its work in ``ops`` like ``SparseyMemory``."""

    def __init__(self, num_inputs: int):
        if num_inputs < 1:
            raise ValueError(f"num_inputs must be >= 1, got {num_inputs}")
        self.num_inputs = num_inputs
        self.items: list[np.ndarray] = []
        self.ops: Counter = Counter()

    def store(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=bool)
        if x.shape != (self.num_inputs,):
            raise ValueError(f"x must be a binary vector of length {self.num_inputs}, got shape {x.shape}")
        self.items.append(x)
        self.ops["weight writes"] += self.num_inputs

    def retrieve(self, x: np.ndarray) -> int:
        """Index of the stored item of largest overlap with ``x`` (the first on ties)."""
        if not self.items:
            raise ValueError("nothing stored yet")
        x = np.asarray(x, dtype=bool)
        stored = np.stack(self.items)
        self.ops["weight reads"] += stored.size
        return int((stored & x).sum(axis=1).argmax())


def ops_per_call(memory, method: str, items) -> float:
    """Mean operations (all kinds in ``memory.ops``) that ``memory.<method>(x)`` spends per item of
    ``items``: the work the memory really did, counted where it is done."""
    items = list(items)
    if not items:
        raise ValueError("items is empty: give at least one input to count on")
    if not callable(getattr(memory, method, None)):
        raise ValueError(f"{type(memory).__name__} has no method {method!r}")
    before = sum(memory.ops.values())
    for x in items:
        getattr(memory, method)(x)
    return (sum(memory.ops.values()) - before) / len(items)
