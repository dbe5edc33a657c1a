"""The Reber grammar: valid strings, near-miss invalid strings, and an acceptor.

The standard (non-embedded) Reber automaton (Reber 1967), with B and E marking begin and end::

    B -> s0
    s0: T -> s1 | P -> s2
    s1: S -> s1 | X -> s3
    s2: T -> s2 | V -> s4
    s3: X -> s2 | S -> s5
    s4: P -> s3 | V -> s5
    s5: E (end)

Valid strings are random walks (each branch with probability 1/2), kept when their length is in
``[min_len, max_len]`` (the thesis's data set, arXiv 2407.20601, has lengths 11-53). Invalid strings
are near-miss corruptions of valid ones - a substitution, insertion, deletion or swap of symbols,
sometimes with a letter outside the alphabet - kept only when the acceptor rejects them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "ALPHABET",
    "TRANSITIONS",
    "FINAL",
    "accepts",
    "random_valid",
    "corrupt",
    "ReberData",
    "encode",
    "make_reber",
]

ALPHABET = "BEPSTVX"
TRANSITIONS: dict[int, dict[str, int]] = {
    0: {"T": 1, "P": 2},
    1: {"S": 1, "X": 3},
    2: {"T": 2, "V": 4},
    3: {"X": 2, "S": 5},
    4: {"P": 3, "V": 5},
}
FINAL = 5


def accepts(s: str) -> bool:
    """True if ``s`` is a string of the Reber grammar (``B ... E``)."""
    if len(s) < 2 or s[0] != "B" or s[-1] != "E":
        return False
    state = 0
    for ch in s[1:-1]:
        nxt = TRANSITIONS.get(state, {}).get(ch)
        if nxt is None:
            return False
        state = nxt
    return state == FINAL


def random_valid(rng: np.random.Generator) -> str:
    """One random walk through the automaton."""
    out, state = ["B"], 0
    while state != FINAL:
        options = list(TRANSITIONS[state].items())
        ch, state = options[rng.integers(len(options))]
        out.append(ch)
    out.append("E")
    return "".join(out)


def corrupt(s: str, rng: np.random.Generator, foreign_prob: float = 0.2) -> str:
    """A near miss of ``s``: one substitution, insertion, deletion or swap of adjacent symbols."""
    letters = ALPHABET if rng.random() > foreign_prob else "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    kind = rng.integers(4)
    i = int(rng.integers(len(s)))
    if kind == 0:  # substitution
        return s[:i] + letters[rng.integers(len(letters))] + s[i + 1 :]
    if kind == 1:  # insertion
        return s[:i] + letters[rng.integers(len(letters))] + s[i:]
    if kind == 2 and len(s) > 2:  # deletion
        return s[:i] + s[i + 1 :]
    j = min(i + 1, len(s) - 1)  # swap with the next symbol
    return s[:i] + s[j] + s[i] + s[j + 1 :] if j > i else s


@dataclass
class ReberData:
    """Strings and labels (1 = valid) of a train / test split, and their padded encodings."""

    train: list[str]
    y_train: torch.Tensor
    test: list[str]
    y_test: torch.Tensor

    def tensors(self):
        """(x_train, len_train, y_train, x_test, len_test, y_test): ASCII codes right-padded with 0."""
        xtr, ltr = encode(self.train)
        xte, lte = encode(self.test)
        return xtr, ltr, self.y_train, xte, lte, self.y_test


def encode(strings: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """ASCII codes of each string, right-padded with 0 (as in the thesis), and the lengths."""
    if not strings:
        raise ValueError("strings is empty")
    lengths = torch.tensor([len(s) for s in strings], dtype=torch.int64)
    x = torch.zeros(len(strings), int(lengths.max()), dtype=torch.int64)
    for i, s in enumerate(strings):
        x[i, : len(s)] = torch.tensor([ord(c) for c in s], dtype=torch.int64)
    if int(x.max()) >= 128:
        raise ValueError("only ASCII strings can be encoded")
    return x, lengths


def make_reber(n_train: int, n_test: int, seed: int = 0, min_len: int = 11, max_len: int = 53) -> ReberData:
    """Balanced valid / invalid strings, split into train and test without overlap.

    The thesis's full set: 25,000 strings, 18,750 train / 6,250 test.
    """
    if n_train < 2 or n_test < 2:
        raise ValueError(f"n_train and n_test must be at least 2, got {n_train} and {n_test}")
    if not (2 <= min_len <= max_len):
        raise ValueError(f"need 2 <= min_len <= max_len, got {min_len} and {max_len}")
    rng = np.random.default_rng(seed)
    total = n_train + n_test
    n_valid = total // 2
    valid: set[str] = set()
    tries = 0
    while len(valid) < n_valid:
        s = random_valid(rng)
        if min_len <= len(s) <= max_len:
            valid.add(s)
        tries += 1
        if tries > 200 * total:
            raise RuntimeError("could not draw enough distinct valid strings; widen the length range")
    valid_list = sorted(valid)
    rng.shuffle(valid_list)
    invalid: set[str] = set()
    while len(invalid) < total - n_valid:
        base = valid_list[rng.integers(len(valid_list))]
        bad = corrupt(base, rng)
        if min_len <= len(bad) <= max_len and not accepts(bad) and bad not in valid:
            invalid.add(bad)
    invalid_list = sorted(invalid)
    rng.shuffle(invalid_list)
    strings = valid_list + invalid_list
    labels = np.array([1] * len(valid_list) + [0] * len(invalid_list))
    order = rng.permutation(total)
    strings = [strings[i] for i in order]
    labels = labels[order]
    y = torch.as_tensor(labels, dtype=torch.int64)
    return ReberData(strings[:n_train], y[:n_train], strings[n_train:], y[n_train:])
