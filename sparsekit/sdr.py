"""Sparse distributed representations (SDRs): operations, closed forms and Monte Carlo (the memory is in ``sparsey``).

An SDR of size ``n`` with ``a`` active cells is held either as a sorted array of active indices or
bit-packed in ``ceil(n / 64)`` uint64 words; overlap (popcount of the AND) and union (OR) run as
Numba kernels on the packed form.

Closed forms follow Ahmad & Hawkins, "How do neurons operate on sparse distributed
representations?" (arXiv 1601.00720). With ``C`` the binomial coefficient, the chance that a random
``a``-of-``n`` pattern reaches ``theta`` of the ``s`` synapses of a dendritic segment is the upper
tail of a hypergeometric law::

    P_fp(n, a, s, theta) = sum_{b = theta}^{min(s, a)} C(s, b) C(n - s, a - b) / C(n, a)

computed here exactly with integers (no floating-point cancellation, values far below 1e-300 are
returned as log10). The union of ``M`` stored patterns uses Numenta's expected-size approximation
and, as a check, an exact average over the union-size distribution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numba as nb
import numpy as np

__all__ = [
    "random_sdr",
    "pack",
    "unpack",
    "overlap",
    "overlaps",
    "union",
    "add_noise",
    "p_false_match",
    "log10_p_false_match",
    "p_false_match_union",
    "p_false_match_union_exact",
    "p_false_negative",
    "mc_false_match",
    "mc_false_match_union",
    "sample_hypergeometric",
]


# ----------------------------------------------------------------------------- representation


def _check_na(n: int, a: int) -> None:
    if not (isinstance(n, (int, np.integer)) and isinstance(a, (int, np.integer))):
        raise TypeError(f"n and a must be integers, got {n!r} and {a!r}")
    if n < 1 or not (0 <= a <= n):
        raise ValueError(f"need n >= 1 and 0 <= a <= n, got n={n}, a={a}")


def random_sdr(n: int, a: int, rng: np.random.Generator) -> np.ndarray:
    """``a`` distinct active cells out of ``n``, sorted (uniform over all C(n, a) patterns)."""
    _check_na(n, a)
    return np.sort(rng.choice(n, size=a, replace=False)).astype(np.int64)


def pack(indices: np.ndarray, n: int) -> np.ndarray:
    """Bit-pack active indices into ``ceil(n / 64)`` uint64 words (bit i of word i // 64 ... )."""
    idx = np.asarray(indices, dtype=np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise ValueError(f"indices must lie in [0, {n}), got range [{idx.min()}, {idx.max()}]")
    words = np.zeros((n + 63) // 64, dtype=np.uint64)
    np.bitwise_or.at(words, idx // 64, np.left_shift(np.uint64(1), (idx % 64).astype(np.uint64)))
    return words


def unpack(words: np.ndarray, n: int) -> np.ndarray:
    """Sorted active indices of a packed SDR."""
    bits = np.unpackbits(np.asarray(words, dtype="<u8").view(np.uint8), bitorder="little")[:n]
    return np.flatnonzero(bits).astype(np.int64)


_M1, _M2, _M4, _H01 = (np.uint64(0x5555555555555555), np.uint64(0x3333333333333333),
                       np.uint64(0x0F0F0F0F0F0F0F0F), np.uint64(0x0101010101010101))


@nb.njit(cache=True, inline="always")
def _popcount(x):
    x = x - ((x >> np.uint64(1)) & _M1)
    x = (x & _M2) + ((x >> np.uint64(2)) & _M2)
    x = (x + (x >> np.uint64(4))) & _M4
    return (x * _H01) >> np.uint64(56)


@nb.njit(cache=True)
def _overlap(a, b):
    total = 0
    for i in range(a.shape[0]):
        total += _popcount(a[i] & b[i])
    return total


@nb.njit(parallel=True, cache=True)
def _overlaps(query, stored, out):
    for r in nb.prange(stored.shape[0]):
        out[r] = _overlap(query, stored[r])
    return out


def overlap(a_words: np.ndarray, b_words: np.ndarray) -> int:
    """Number of cells active in both packed SDRs."""
    if a_words.shape != b_words.shape:
        raise ValueError(f"packed SDRs differ in length: {a_words.shape} vs {b_words.shape}")
    return int(_overlap(a_words, b_words))


def overlaps(query: np.ndarray, stored: np.ndarray) -> np.ndarray:
    """Overlap of one packed SDR with every row of a (patterns, words) matrix, in parallel."""
    if stored.ndim != 2 or stored.shape[1] != query.shape[0]:
        raise ValueError(f"stored must be (patterns, {query.shape[0]}) words, got {stored.shape}")
    return _overlaps(query, stored, np.empty(stored.shape[0], dtype=np.int64))


def union(*packed: np.ndarray) -> np.ndarray:
    """OR of packed SDRs (a union of patterns, as on one dendritic segment)."""
    if not packed:
        raise ValueError("union of nothing: give at least one packed SDR")
    out = packed[0].copy()
    for p in packed[1:]:
        if p.shape != out.shape:
            raise ValueError(f"packed SDRs differ in length: {p.shape} vs {out.shape}")
        out |= p
    return out


def add_noise(indices: np.ndarray, n: int, v: int, rng: np.random.Generator) -> np.ndarray:
    """Move ``v`` active cells to random inactive positions (the activity ``a`` stays the same)."""
    idx = np.asarray(indices, dtype=np.int64)
    if not (0 <= v <= len(idx)) or v > n - len(idx):
        raise ValueError(f"v must be in [0, min(a, n - a)] = [0, {min(len(idx), n - len(idx))}], got {v}")
    keep = rng.choice(idx, size=len(idx) - v, replace=False)
    inactive = np.setdiff1d(np.arange(n), idx, assume_unique=True)
    moved = rng.choice(inactive, size=v, replace=False)
    return np.sort(np.concatenate([keep, moved]))


# ----------------------------------------------------------------------------- closed forms


def _check_segment(n, a, s, theta):
    _check_na(n, a)
    if not (0 <= s <= n):
        raise ValueError(f"s (synapses) must be in [0, n], got {s}")
    if theta < 0:
        raise ValueError(f"theta must be >= 0, got {theta}")


@lru_cache(maxsize=4096)
def _fp_fraction(n: int, a: int, s: int, theta: int) -> Fraction:
    num = sum(math.comb(s, b) * math.comb(n - s, a - b) for b in range(theta, min(s, a) + 1))
    return Fraction(num, math.comb(n, a))


def p_false_match(n: int, a: int, s: int, theta: int) -> float:
    """Exact ``P_fp``: a random a-of-n pattern overlaps a fixed s-cell segment in >= theta cells.

    >>> f"{p_false_match(300, 64, 24, 12):.4e}"
    '1.0946e-03'
    """
    _check_segment(n, a, s, theta)
    return float(_fp_fraction(int(n), int(a), int(s), int(theta)))


def log10_p_false_match(n: int, a: int, s: int, theta: int) -> float:
    """``log10 P_fp``, exact also where the probability is below the smallest float."""
    _check_segment(n, a, s, theta)
    f = _fp_fraction(int(n), int(a), int(s), int(theta))
    if f == 0:
        return -math.inf
    return math.log10(f.numerator) - math.log10(f.denominator)  # math.log10 takes integers of any size


def expected_union_size(n: int, s: int, m: int) -> int:
    """Numenta's expected size of the union of ``m`` random s-subsets: round(n (1 - (1 - s/n)^m))."""
    return int(round(n * (1 - (1 - s / n) ** m)))


def p_false_match_union(n: int, a: int, s: int, theta: int, m: int) -> float:
    """False match of a segment holding the union of ``m`` patterns (expected-size approximation)."""
    if m < 1:
        raise ValueError(f"m (patterns in the union) must be >= 1, got {m}")
    return p_false_match(n, a, min(n, expected_union_size(n, s, m)), theta)


def union_size_distribution(n: int, s: int, m: int) -> np.ndarray:
    """Exact law of the size of the union of ``m`` independent uniform s-subsets of n cells."""
    if m < 1 or not (0 <= s <= n):
        raise ValueError(f"need m >= 1 and 0 <= s <= n, got m={m}, s={s}")
    dist = {s: Fraction(1)}
    total = math.comb(n, s)
    for _ in range(m - 1):
        nxt: dict[int, Fraction] = {}
        for u, pu in dist.items():
            for j in range(0, s + 1):  # j new cells outside the current union
                if j > n - u or s - j > u:
                    continue
                pj = Fraction(math.comb(n - u, j) * math.comb(u, s - j), total)
                nxt[u + j] = nxt.get(u + j, Fraction(0)) + pu * pj
        dist = nxt
    out = np.zeros(n + 1)
    for u, pu in dist.items():
        out[u] = float(pu)
    return out


def p_false_match_union_exact(n: int, a: int, s: int, theta: int, m: int) -> float:
    """False match of the union of ``m`` patterns, averaged over the exact union-size law."""
    dist = union_size_distribution(n, s, m)
    return float(sum(p * p_false_match(n, a, u, theta) for u, p in enumerate(dist) if p > 0))


def p_false_negative(a: int, s: int, theta: int, v: int) -> float:
    """A segment of ``s`` synapses sampled from pattern x (|x| = a) misses x when ``v`` of x's cells
    moved elsewhere: P(overlap < theta), overlap ~ Hypergeometric(a, s, a - v)."""
    if not (0 <= s <= a) or not (0 <= v <= a):
        raise ValueError(f"need 0 <= s <= a and 0 <= v <= a, got s={s}, v={v}, a={a}")
    kept = a - v
    num = sum(math.comb(s, b) * math.comb(a - s, kept - b) for b in range(0, min(theta, s + 1)))
    return float(Fraction(num, math.comb(a, kept)))


# ----------------------------------------------------------------------------- Monte Carlo


@nb.njit(cache=True)
def sample_hypergeometric(n, marked, draws):
    """One exact draw of the overlap: ``draws`` items taken without replacement from ``n``, of which
    ``marked`` are marked; returns how many marked were taken (O(draws) sequential sampling)."""
    left, good, hit = n, marked, 0
    for _ in range(draws):
        if np.random.random() * left < good:
            hit += 1
            good -= 1
        left -= 1
    return hit


@nb.njit(cache=True)
def _draw(n, k, scratch):
    """Partial Fisher-Yates: afterwards ``scratch[:k]`` is a uniform random k-subset of range(n)."""
    for i in range(n):
        scratch[i] = i
    for i in range(k):
        j = i + int(np.random.random() * (n - i))
        scratch[i], scratch[j] = scratch[j], scratch[i]


@nb.njit(cache=True)
def _hits(n, a, scratch, segment):
    """Overlap of a random a-subset with the cells marked in ``segment``."""
    _draw(n, a, scratch)
    b = 0
    for i in range(a):
        if segment[scratch[i]]:
            b += 1
    return b


# The two Monte Carlo loops below share their shape on purpose: one draws against a fixed segment,
# the other against a fresh union of m segments per trial. Merging them would change the order of
# the random draws, and with it notebook 04's published estimates.
# Randomness: ``np.random`` inside an njit function is Numba's own generator, not NumPy's global
# state; each public call seeds it from its ``seed`` argument, so the estimates are reproducible
# and the caller's NumPy state is untouched.
@nb.njit(cache=True)
def _mc_fp(n, a, s, theta, trials, seed, exact_law):
    np.random.seed(seed)
    hits = 0
    scratch = np.empty(n, dtype=np.int64)
    segment = np.zeros(n, dtype=np.bool_)
    for i in range(s):
        segment[i] = True  # the segment's position is irrelevant by symmetry
    for _ in range(trials):
        b = sample_hypergeometric(n, s, a) if exact_law else _hits(n, a, scratch, segment)
        if b >= theta:
            hits += 1
    return hits


@nb.njit(cache=True)
def _mc_fp_union(n, a, s, theta, m, trials, seed):
    np.random.seed(seed)
    hits = 0
    scratch = np.empty(n, dtype=np.int64)
    seg = np.zeros(n, dtype=np.bool_)
    for _ in range(trials):
        seg[:] = False
        for _k in range(m):  # the segment holds the union of m random s-subsets
            _draw(n, s, scratch)
            for i in range(s):
                seg[scratch[i]] = True
        if _hits(n, a, scratch, seg) >= theta:
            hits += 1
    return hits


@dataclass
class MCEstimate:
    p: float
    stderr: float
    trials: int
    hits: int

    def agrees(self, value: float, sigmas: float = 3.0) -> bool:
        """True if ``value`` lies within ``sigmas`` standard errors (binomial, at least one hit's worth)."""
        se = max(self.stderr, math.sqrt(max(value * (1 - value), 1.0 / self.trials) / self.trials))
        return abs(self.p - value) <= sigmas * se


def _estimate(hits: int, trials: int) -> MCEstimate:
    p = hits / trials
    return MCEstimate(p, math.sqrt(p * (1 - p) / trials), trials, hits)


def mc_false_match(n: int, a: int, s: int, theta: int, trials: int = 100_000, seed: int = 0,
                   exact_law: bool = False) -> MCEstimate:
    """Monte-Carlo ``P_fp``: random a-subsets against an s-cell segment (``exact_law=True`` draws the
    overlap directly from its hypergeometric law instead of building the subsets)."""
    _check_segment(n, a, s, theta)
    if trials < 1:
        raise ValueError(f"trials must be positive, got {trials}")
    return _estimate(int(_mc_fp(n, a, s, theta, trials, seed, exact_law)), trials)


def mc_false_match_union(n: int, a: int, s: int, theta: int, m: int, trials: int = 100_000,
                         seed: int = 0) -> MCEstimate:
    """Monte-Carlo false match of a segment holding the OR of ``m`` random s-subsets (exact unions)."""
    _check_segment(n, a, s, theta)
    if m < 1 or trials < 1:
        raise ValueError(f"m and trials must be positive, got {m} and {trials}")
    return _estimate(int(_mc_fp_union(n, a, s, theta, m, trials, seed)), trials)
