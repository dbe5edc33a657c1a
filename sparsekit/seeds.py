"""The one way seeds are made: paired seeds from a base seed, and independent streams derived from a seed.

- :func:`paired_seeds` - base seed ``b`` of a study with ``K`` paired seeds runs seeds
  ``b*K, ..., b*K + K - 1``, so that base seeds 0, 1, 2 never share a seed and their results pool.
- :func:`derive_seed` - one seed per purpose and round (``derive_seed(seed, "batches", rnd)``),
  hashed by NumPy's ``SeedSequence``: streams of different purposes, seeds or rounds are
  independent and never collide the way ``1000 * seed + round`` formulas do.
- :func:`seeded` - run code that draws from torch's *global* generator (an ``nn.Module``'s
  initialisation) under a seed, and give the caller's generator state back afterwards.
- :func:`seed_everything` - for scripts and notebooks only: seeds Python, NumPy and torch globally.
  Library functions never call it; they take a ``seed`` or a generator.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator

import numpy as np
import torch

from .checks import non_negative_int, positive_int

__all__ = ["paired_seeds", "derive_seed", "seeded", "seed_everything"]


def paired_seeds(base: int, k: int) -> list[int]:
    """The ``k`` paired seeds of base seed ``base``: ``base*k .. base*k + k - 1``.

    >>> paired_seeds(0, 3), paired_seeds(1, 3), paired_seeds(2, 3)
    ([0, 1, 2], [3, 4, 5], [6, 7, 8])
    """
    base, k = non_negative_int("base", base), positive_int("k", k)
    return [base * k + i for i in range(k)]


def derive_seed(seed: int, *stream: str | int) -> int:
    """A seed in [0, 2**31) for the purpose named by ``stream`` (strings and integers), from ``seed``.

    The same arguments always give the same seed; any change to one of them gives an unrelated one.

    >>> derive_seed(0, "batches", 3) == derive_seed(0, "batches", 3)
    True
    >>> len({derive_seed(s, "reinit", r) for s in range(200) for r in range(20)})
    4000
    """
    words = [non_negative_int("seed", seed)]
    for part in stream:
        if isinstance(part, str):
            words += list(part.encode())  # a byte each: no two names hash alike
            words.append(256)  # the end of a name
        elif isinstance(part, (int, np.integer)) and not isinstance(part, bool) and part >= 0:
            words += [int(part) & 0xFFFFFFFF, int(part) >> 32, 257]
        else:
            raise TypeError(f"stream parts must be strings or non-negative integers, got {part!r}")
    return int(np.random.SeedSequence(words).generate_state(1, dtype=np.uint32)[0] >> 1)


@contextlib.contextmanager
def seeded(seed: int, devices: list | None = None) -> Iterator[None]:
    """Inside the block torch's global generator is seeded with ``seed``; after it, the caller's
    state is back (``torch.random.fork_rng``), so a library call leaves no trace on it."""
    seed = non_negative_int("seed", seed)
    with torch.random.fork_rng(devices=devices if devices is not None else [], enabled=True):
        torch.manual_seed(seed)
        yield


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch globally (scripts and notebooks); return a torch.Generator seeded alike."""
    seed = non_negative_int("seed", seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
