"""Benchmark: sparsekit's kernels against torch dense, torch.sparse CSR and scipy.sparse.

    python -m sparsekit.bench                 # all shapes and sparsities, writes build/bench/
    python -m sparsekit.bench --quick         # fewer repetitions
    make bench

Every time is a median over repetitions taken *round-robin* - one call of each method in turn -
after a warm-up, so that the load of a shared machine falls on all methods alike. What is reported
are ratios within one run, never absolute times compared across runs.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from . import kernels
from .formats import CSR, NMSparse
from .masks import random_mask
from .utils import progress as progress_bar

__all__ = [
    "SPARSITIES",
    "Shape",
    "SHAPES",
    "measure",
    "make_problem",
    "bench_shape",
    "bench_nm",
    "run",
    "table",
    "plot",
    "main",
    "machine_roofline",
    "traffic_and_flops",
]

SPARSITIES = (0.5, 0.7, 0.8, 0.9, 0.95, 0.98)


@dataclass(frozen=True)
class Shape:
    name: str
    out_features: int
    in_features: int
    batch_size: int  # rows of x, or pixels for a channels-first 1x1 convolution
    channels_first: bool = False  # x is (in, batch) - NCHW data of one image - instead of (batch, in)
    nm: bool = False  # also time 2:4 N:M

    def describe(self) -> str:
        if self.channels_first:
            return f"1x1 conv {self.out_features}<-{self.in_features}, {self.batch_size} px"
        return f"{self.out_features}x{self.in_features}, batch {self.batch_size}"


SHAPES = (
    Shape("mobilenet_1x1", 384, 64, 28 * 28, channels_first=True),
    Shape("mlp_layer", 1024, 1024, 64, nm=True),
    Shape("decode_step", 4096, 4096, 8, nm=True),
)


def measure(fns: dict[str, Callable[[], object]], reps: int = 30, warmup: int = 3, inner: int = 5,
            sync: Callable[[], None] | None = None) -> dict[str, float]:
    """Median seconds per call of each function.

    Each of the ``reps`` samples is the mean of ``inner`` back-to-back calls (the steady state of a
    layer applied batch after batch); samples are taken round-robin over the functions, after
    ``warmup`` calls each, so that a change in the machine's load touches every method alike.
    """
    if reps < 1 or inner < 1:
        raise ValueError(f"reps and inner must be positive, got {reps} and {inner}")
    sync = sync or (lambda: None)
    for f in fns.values():
        for _ in range(warmup):
            f()
    sync()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(reps):
        for k, f in fns.items():
            t0 = time.perf_counter()
            for _ in range(inner):
                f()
            sync()
            times[k].append((time.perf_counter() - t0) / inner)
    return {k: float(np.median(v)) for k, v in times.items()}


def make_problem(shape: Shape, sparsity: float, seed: int = 0, device: str = "cpu", dtype=torch.float32):
    """A random weight with exactly ``sparsity`` of its entries zeroed (unstructured) and an input."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(shape.out_features, shape.in_features, generator=g, dtype=dtype)
    w = w * random_mask(w.shape, sparsity, generator=g)
    xshape = (shape.in_features, shape.batch_size) if shape.channels_first else (shape.batch_size, shape.in_features)
    x = torch.randn(*xshape, generator=g, dtype=dtype)
    return w.to(device), x.to(device)


def bench_shape(shape: Shape, sparsity: float, reps: int = 30, device: str = "cpu", seed: int = 0) -> dict:
    """Times of every method for one shape and sparsity, with ratios ours / baseline."""
    import scipy.sparse as sps

    w, x = make_problem(shape, sparsity, seed, device)
    cf = shape.channels_first
    csr = CSR.from_dense(w.cpu())
    with warnings.catch_warnings():
        # torch warns once per process that sparse CSR is "in beta"; the baseline is measured as it
        # stands, and the warning (with this file's path) would otherwise land in notebook 07's output
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta", category=UserWarning)
        w_torch_csr = w.to_sparse_csr()
    fns: dict[str, Callable[[], object]] = {}
    if cf:
        fns["torch dense"] = lambda: w @ x
        fns["torch csr"] = lambda: w_torch_csr @ x
    else:
        fns["torch dense"] = lambda: torch.nn.functional.linear(x, w)
        fns["torch csr"] = lambda: (w_torch_csr @ x.t()).t()
    if device == "cpu":
        w_sp = sps.csr_matrix(w.numpy())
        xn = x.numpy()
        fns["scipy csr"] = (lambda: w_sp @ xn) if cf else (lambda: (w_sp @ xn.T).T)
    fns["sparsekit csr"] = lambda: kernels.csr_matmul(csr, x, channels_first=cf)
    sync = torch.cuda.synchronize if device != "cpu" else None
    t = measure(fns, reps=reps, sync=sync)
    out = {"shape": shape.name, "describe": shape.describe(), "sparsity": sparsity, "device": device,
           "times_s": t, "nnz": csr.nnz}
    for base in ("torch dense", "torch csr", "scipy csr"):
        if base in t:
            out[f"speedup vs {base}"] = t[base] / t["sparsekit csr"]
    return out


def bench_nm(shape: Shape, n: int = 2, m: int = 4, reps: int = 30, device: str = "cpu", seed: int = 0) -> dict:
    """N:M (2:4 by default) weight through sparsekit's N:M kernel against the dense product;
    on CUDA also torch's semi-structured 2:4 (fp16) where the GPU supports it."""
    from .masks import nm_mask

    w, x = make_problem(shape, 0.0, seed, device)
    w = w * nm_mask(w, n, m).to(w.device)
    fmt = NMSparse.from_dense(w.cpu(), n, m)
    fns: dict[str, Callable[[], object]] = {
        "torch dense": lambda: torch.nn.functional.linear(x, w),
        f"sparsekit {n}:{m}": lambda: kernels.nm_matmul(fmt, x),
    }
    extra = {}
    if device != "cpu" and (n, m) == (2, 4):
        try:
            from torch.sparse import to_sparse_semi_structured

            wh, xh = w.half(), x.half()
            ws = to_sparse_semi_structured(wh)
            fns["torch dense fp16"] = lambda: torch.nn.functional.linear(xh, wh)
            fns["torch 2:4 fp16"] = lambda: torch.nn.functional.linear(xh, ws)
        except Exception as e:  # noqa: BLE001 - report why the GPU path is missing
            extra["semi_structured_error"] = f"{type(e).__name__}: {e}"
    sync = torch.cuda.synchronize if device != "cpu" else None
    t = measure(fns, reps=reps, sync=sync)
    out = {"shape": shape.name, "describe": shape.describe(), "pattern": f"{n}:{m}", "device": device,
           "times_s": t, "speedup vs torch dense": t["torch dense"] / t[f"sparsekit {n}:{m}"], **extra}
    if "torch 2:4 fp16" in t:
        out["torch 2:4 fp16 speedup vs dense fp16"] = t["torch dense fp16"] / t["torch 2:4 fp16"]
    return out


def run(shapes=SHAPES, sparsities=SPARSITIES, reps: int = 30, device: str = "cpu", progress: bool = True) -> dict:
    jobs = [(s, sp) for s in shapes for sp in sparsities]
    rows = [bench_shape(s, sp, reps, device) for s, sp in progress_bar(jobs, desc="csr", disable=not progress)]
    nm_rows = [bench_nm(s, reps=reps, device=device) for s in progress_bar([s for s in shapes if s.nm], desc="2:4",
                                                                      disable=not progress)]
    return {
        "device": device,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "shapes": [asdict(s) for s in shapes],
        "csr": rows,
        "nm": nm_rows,
    }


def table(result: dict) -> str:
    """Plain-text table of the speedups (baseline time / sparsekit time; above 1 = faster)."""
    lines = [f"{'shape':14s} {'sparsity':>8s} {'vs dense':>9s} {'vs torch csr':>13s} {'vs scipy':>9s}"]
    for r in result["csr"]:
        sc = r.get("speedup vs scipy csr")
        lines.append(f"{r['shape']:14s} {r['sparsity']:8.2f} {r['speedup vs torch dense']:9.2f} "
                     f"{r['speedup vs torch csr']:13.2f} {sc if sc is None else f'{sc:9.2f}'}")
    for r in result["nm"]:
        lines.append(f"{r['shape']:14s} {r['pattern']:>8s} {r['speedup vs torch dense']:9.2f}   (N:M kernel)")
        if "torch 2:4 fp16 speedup vs dense fp16" in r:
            sp = r["torch 2:4 fp16 speedup vs dense fp16"]
            lines.append(f"{'':14s} {'2:4 fp16':>8s} {sp:9.2f}   (torch, cuSPARSELt)")
    return "\n".join(lines)


def plot(result: dict, path: str | Path | None = None):
    import matplotlib.pyplot as plt

    from .plotting import use_style

    use_style()
    names = list(dict.fromkeys(r["shape"] for r in result["csr"]))
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.4), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, name in zip(axes, names):
        rows = [r for r in result["csr"] if r["shape"] == name]
        sp = [100 * r["sparsity"] for r in rows]
        for base, marker in (("torch dense", "o"), ("torch csr", "s"), ("scipy csr", "^")):
            key = f"speedup vs {base}"
            if key in rows[0]:
                ax.plot(sp, [r[key] for r in rows], marker=marker, label=f"vs {base}")
        ax.axhline(1.0, color="k", lw=1, ls="--")
        ax.set_yscale("log")
        ax.set_title(rows[0]["describe"])
        ax.set_xlabel("sparsity (%)")
    axes[0].set_ylabel("speed-up of sparsekit CSR (x)")
    axes[-1].legend(fontsize="small")
    fig.suptitle(f"sparsekit CSR kernel on {result['device']}, {result['threads']} threads (above 1 = faster)", y=1.04)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    return fig


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sparsekit.bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (10 instead of 30)")
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--out", default="build/bench", help="folder for bench.json and bench.png")
    args = ap.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: torch sees no GPU")
    reps = args.reps or (10 if args.quick else 30)
    result = run(reps=reps, device=args.device)
    print(table(result))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"bench_{args.device}.json").write_text(json.dumps(result, indent=2))
    plot(result, out / f"bench_{args.device}.png")
    print(f"wrote {out / f'bench_{args.device}.json'} and {out / f'bench_{args.device}.png'}")
    return 0


def machine_roofline(reps: int = 5) -> dict:
    """This machine's ceilings for a roofline: dense float32 GEMM throughput (torch, all threads)
    and memory bandwidth (a parallel Numba copy of 64 MiB, far beyond the caches)."""
    import numba as nb

    @nb.njit(parallel=True, cache=False)
    def _copy(src, dst):
        for i in nb.prange(src.shape[0]):
            dst[i] = src[i]

    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    src = np.ones(16 * 2**20, dtype=np.float32)
    dst = np.empty_like(src)
    t = measure({"gemm": lambda: a @ b, "copy": lambda: _copy(src, dst)}, reps=reps, warmup=1, inner=1)
    return {"peak_gflops": 2 * n**3 / t["gemm"] / 1e9, "bandwidth_gbs": 2 * src.nbytes / t["copy"] / 1e9}


def traffic_and_flops(shape: Shape, density: float, fmt: str = "csr", index_bytes: int = 2) -> dict:
    """Useful FLOPs and the minimum bytes a kernel must move (weights, indices, input, output)."""
    o, k, b = shape.out_features, shape.in_features, shape.batch_size
    nnz = density * o * k
    act = 4 * (k * b + o * b)
    if fmt == "dense":
        return {"flops": 2 * o * k * b, "bytes": 4 * o * k + act}
    if fmt == "csr":
        return {"flops": 2 * nnz * b, "bytes": nnz * (4 + index_bytes) + 4 * (o + 1) + act}
    if fmt == "nm":
        return {"flops": 2 * nnz * b, "bytes": nnz * (4 + 1) + act}
    raise ValueError(f"fmt must be 'dense', 'csr' or 'nm', got {fmt!r}")


if __name__ == "__main__":
    raise SystemExit(main())
