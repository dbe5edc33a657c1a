"""Device selection, progress bars, a process-parallel map, atomic files, configuration hashes and
version stamps."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .checks import one_of

__all__ = [
    "DEVICES",
    "pick_device",
    "progress",
    "parallel_map",
    "atomic_write_bytes",
    "atomic_torch_save",
    "config_hash",
    "versions",
]

DEVICES = ("auto", "cpu", "cuda")


def pick_device(device: str = "auto") -> torch.device:
    """'auto' picks CUDA when a GPU is visible, else the CPU; 'cpu' and 'cuda' force one."""
    one_of("device", device, DEVICES)
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


def _end_with_parent(parent: int) -> None:
    """Make this (worker) process end when ``parent`` does, however it ends (a kill -9 included).

    On Linux the kernel sends SIGTERM when the parent thread exits (``PR_SET_PDEATHSIG``); everywhere
    a daemon thread also watches the parent and exits when it has gone (a worker re-parented to
    init sees another parent id)."""
    import signal
    import threading
    import time

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(0.5)

    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()


def _one_thread_worker(parent: int) -> None:
    _end_with_parent(parent)
    torch.set_num_threads(1)


def parallel_map(fn, jobs: Iterable, workers: int = 2, desc: str | None = None, show_progress: bool = True,
                 cost=None) -> list:
    """``[fn(*job) for job in jobs]`` on ``workers`` processes of one torch thread each, in order.

    Small recurrent networks do not speed up with a second torch thread (their steps are too small
    to split), so two one-thread processes train twice as much per second on 2 cores. ``fn`` must
    be importable (a function of a module, not of the notebook) and each job a tuple of picklable
    arguments. ``workers=1`` runs in this process, one thread, with the same results: a job's
    randomness must come from its own seeds, never from the order jobs run in. The processes are
    spawned, so a script that calls this must do so under ``if __name__ == "__main__":``
    (notebooks need nothing). ``cost(job)``, when given, estimates a job's run time: the costliest
    start first, so a long job does not start last and leave a process idle (results keep ``jobs``'s
    order either way). The workers end with the calling process however it ends (a killed notebook
    kernel leaves no orphans behind).
    """
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    jobs = [tuple(j) for j in jobs]
    bar = progress(total=len(jobs), desc=desc, disable=not show_progress)
    if workers == 1 or len(jobs) <= 1:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            done = []
            for job in jobs:
                done.append(fn(*job))
                bar.update()
            return done
        finally:
            torch.set_num_threads(threads)
            bar.close()
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    out: list = [None] * len(jobs)
    # the workers end with this process, however it ends: a notebook kernel killed by a timeout or an
    # interrupt leaves no orphan training on (the executor's own shutdown covers the normal exits)
    with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=mp.get_context("spawn"),
                             initializer=_one_thread_worker, initargs=(os.getpid(),)) as pool:
        order = range(len(jobs)) if cost is None else sorted(range(len(jobs)), key=lambda i: -cost(jobs[i]))
        futures = {pool.submit(fn, *jobs[i]): i for i in order}
        try:
            for f in as_completed(futures):
                out[futures[f]] = f.result()
                bar.update()
        finally:
            bar.close()
    return out


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
    """torch.save through a temporary file and an atomic rename (checkpoints survive a kill), with
    torch's default pickle protocol, the one ``torch.load(weights_only=True)`` reads back."""
    import io

    buf = io.BytesIO()
    torch.save(obj, buf)
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
