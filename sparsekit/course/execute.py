"""Executing one notebook with papermill, and tidying what it stores (the runner and the fan-out share it)."""

from __future__ import annotations

import time
from pathlib import Path

__all__ = ["execute", "strip_run_metadata", "finished_line", "finish_progress_lines"]


def strip_run_metadata(nb) -> None:
    """Drop papermill's per-cell timing and the execution timestamps, which change on every run,
    and any stored widget state (the notebooks draw no widgets; a viewer would fetch a widget
    manager from a CDN to show nothing)."""
    nb.metadata.pop("papermill", None)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if "tags" in cell.metadata and not cell.metadata["tags"]:
            cell.metadata.pop("tags")


def finished_line(text: str) -> str:
    """What a terminal shows of ``text``: each line keeps what follows its last carriage return.

    >>> finished_line("\\rseeds:   0%|  | 0/3\\rseeds: 100%|##| 3/3\\nmean 0.93\\n")
    'seeds: 100%|##| 3/3\\nmean 0.93\\n'
    """
    return "\n".join(line.rsplit("\r", 1)[-1] if "\r" in line.rstrip("\r") else line.rstrip("\r")
                     for line in text.split("\n"))


def finish_progress_lines(nb) -> None:
    """Stored stream outputs keep the finished line of each progress bar, not every redraw.

    Consecutive chunks of one stream are joined first (the kernel sends each redraw on its own),
    then each line keeps what follows its last carriage return.
    """
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        merged = []
        for out in cell.get("outputs", []):
            prev = merged[-1] if merged else None
            if (out.get("output_type") == "stream" and prev is not None and prev.get("output_type") == "stream"
                    and prev.get("name") == out.get("name")):
                prev["text"] += out["text"]
            else:
                merged.append(out)
        for out in merged:
            if out.get("output_type") == "stream" and "\r" in out.get("text", ""):
                out["text"] = finished_line(out["text"])
        cell["outputs"] = merged


def execute(nb_path: Path, out_path: Path, parameters: dict | None, timeout: int | None = None) -> float:
    """Execute one notebook with papermill; returns wall seconds. Raises on a failing cell."""
    import papermill as pm

    t0 = time.perf_counter()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(
        str(nb_path),
        str(out_path),
        parameters=parameters or None,
        kernel_name="python3",
        cwd=str(nb_path.parent),
        progress_bar=True,
        log_output=False,
        execution_timeout=timeout,
    )
    return time.perf_counter() - t0
