"""Seeding, device selection, progress bars, atomic files, configuration hashes and version stamps."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import platform
import random
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "DEVICES",
    "seed_everything",
    "pick_device",
    "progress",
    "atomic_write_bytes",
    "atomic_torch_save",
    "config_hash",
    "versions",
]

DEVICES = ("auto", "cpu", "cuda")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a torch.Generator seeded the same way."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    torch.manual_seed(int(seed))
    return torch.Generator().manual_seed(int(seed))


def pick_device(device: str = "auto") -> torch.device:
    """'auto' picks CUDA when a GPU is visible, else the CPU; 'cpu' and 'cuda' force one."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' was asked for but torch sees no CUDA GPU; use 'auto' or 'cpu'")
    return torch.device(device)


def progress(iterable: Iterable | None = None, desc: str | None = None, **kwargs):
    """A text progress bar on stdout (``tqdm.std.tqdm``), never a Jupyter widget.

    A widget is stored in a notebook as a view of a model that only a live, trusted kernel can
    draw; a static viewer shows it frozen at "0%". Text on stdout is stored as the line the bar
    finished on (the runner keeps what follows the last carriage return), so a reader sees
    ``seeds: 100%|##########| 3/3 [00:12<00:00]`` in the committed notebook.
    """
    from tqdm.std import tqdm

    kwargs.setdefault("file", sys.stdout)
    kwargs.setdefault("ncols", 80)
    kwargs.setdefault("ascii", True)
    kwargs.setdefault("mininterval", 0.5)
    return tqdm(iterable, desc=desc, **kwargs)


def atomic_write_bytes(data: bytes, path: str | os.PathLike) -> Path:
    """Write ``data`` to ``path`` so that a reader sees the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """torch.save through a temporary file and an atomic rename (checkpoints survive a kill)."""
    import io

    buf = io.BytesIO()
    torch.save(obj, buf, pickle_protocol=pickle.HIGHEST_PROTOCOL)
    return atomic_write_bytes(buf.getvalue(), path)


def config_hash(obj: Any, length: int = 10) -> str:
    """A short stable hash of a JSON-able configuration (or a dataclass), to name its results or
    checkpoints so that a rerun finds its own finished work.

    >>> config_hash({"lr": 0.1, "seed": 0}) == config_hash({"seed": 0, "lr": 0.1})
    True
    """
    if hasattr(obj, "__dataclass_fields__"):
        obj = asdict(obj)
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def versions() -> dict[str, str]:
    """Versions recorded in every results JSON."""
    import numba

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numba": numba.__version__,
        "numpy": np.__version__,
    }
