"""Benchmark: sparsekit's kernels against torch at its best - dense, torch.sparse CSR - and scipy.sparse.

    python -m sparsekit.bench                 # every shape and sparsity, MobileNet v1, the targets
    python -m sparsekit.bench --quick         # fewer repetitions
    make bench

Fair baselines. Every baseline is a *family* of ways to compute the same product, all timed in the
same round-robin, and the fastest member is the one we compare against:

- dense: ``F.linear``, ``x @ w.t()`` and oneDNN's linear (``torch.ops.mkldnn._linear_pointwise``); for a
  1x1 convolution ``W @ X``, ``F.conv2d`` on NCHW and on channels-last data, and oneDNN's convolution
  on its own (mkldnn) tensors;
- torch.sparse CSR: int64 and int32 indices, the input transposed lazily or made contiguous first;
- scipy.sparse CSR (one thread; shown, not a target).

Caches. ``cache="warm"`` calls every method on the same weight (it stays in cache when it fits);
``cache="cold"`` makes every method cycle through copies of its weight that together span twice the
last-level cache, so every call reads its weight from memory - a layer of a model larger than the cache.

Every time is a median over repetitions taken *round-robin* - one call of each method in turn -
after a warm-up, so that the load of a shared machine falls on all methods alike. What is reported
are ratios within one run, never absolute times compared across runs.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import kernels, mobilenet
from .checks import one_of
from .formats import CSR, NMSparse
from .masks import random_mask
from .roofline import last_level_cache_bytes
from .timing import measure_samples
from .utils import progress as progress_bar

__all__ = [
    "SPARSITIES", "CACHES", "Shape", "SHAPES", "TARGETS", "Target", "target_samples", "target_ratios",
    "target_decisions", "ratio_samples", "make_problem",
    "exact_zero_activations", "dense_methods", "torch_csr_methods", "copies_for_cold", "bench_shape",
    "bench_nm", "bench_activation", "run", "table", "targets_table", "plot", "main",
]

SPARSITIES = (0.5, 0.7, 0.8, 0.9, 0.95, 0.98)
CACHES = ("warm", "cold")


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
    # MobileNet v1's pointwise convolution of its 28 x 28 stage (256 <- 256 channels, Howard et al. Table 1)
    Shape("mobilenet_1x1", 256, 256, 28 * 28, channels_first=True),
    Shape("mlp_layer", 1024, 1024, 64, nm=True),
    Shape("decode_step", 4096, 4096, 8, nm=True),
)


def make_problem(shape: Shape, sparsity: float, seed: int = 0, device: str = "cpu", dtype=torch.float32):
    """A random weight with exactly ``sparsity`` of its entries zeroed (unstructured) and an input."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(shape.out_features, shape.in_features, generator=g, dtype=dtype)
    w = w * random_mask(w.shape, sparsity, generator=g)
    xshape = (shape.in_features, shape.batch_size) if shape.channels_first else (shape.batch_size, shape.in_features)
    x = torch.randn(*xshape, generator=g, dtype=dtype)
    return w.to(device), x.to(device)


def exact_zero_activations(batch_size: int, features: int, zero_fraction: float, seed: int = 0) -> torch.Tensor:
    """Activations (batch, features) with *exactly* ``round(zero_fraction * features)`` zeros in every
    row, at random places, and positive values elsewhere (as after a ReLU, but no extra zeros)."""
    if not 0.0 <= zero_fraction <= 1.0:
        raise ValueError(f"zero_fraction must lie in [0, 1], got {zero_fraction}")
    g = torch.Generator().manual_seed(seed)
    n_zero = round(zero_fraction * features)
    order = torch.rand(batch_size, features, generator=g).argsort(dim=1)
    keep = torch.ones(batch_size, features, dtype=torch.bool)
    keep.scatter_(1, order[:, :n_zero], False)
    return (torch.rand(batch_size, features, generator=g) + 0.1) * keep


# A method turns one copy of the (masked) dense weight into a zero-argument call of the product.
Method = Callable[[torch.Tensor], Callable[[], object]]


def _square_side(pixels: int) -> tuple[int, int]:
    side = math.isqrt(pixels)
    return (side, side) if side * side == pixels else (pixels, 1)


def dense_methods(x: torch.Tensor, channels_first: bool = False) -> dict[str, Method]:
    """torch's ways to compute the dense product, to be timed together; the fastest is the baseline."""
    if channels_first:
        h, w_ = _square_side(x.shape[1])
        x4 = x.reshape(1, x.shape[0], h, w_)
        x_cl = x4.contiguous(memory_format=torch.channels_last)
        def nchw(w):
            w4 = w[:, :, None, None]
            return lambda: F.conv2d(x4, w4)

        def channels_last(w):
            w4 = w[:, :, None, None].contiguous(memory_format=torch.channels_last)
            return lambda: F.conv2d(x_cl, w4)

        out = {"W @ X": lambda w: (lambda: w @ x), "conv2d NCHW": nchw, "conv2d channels-last": channels_last}
        if x.device.type == "cpu" and torch.backends.mkldnn.is_available():
            xm = x4.to_mkldnn()

            def onednn(w):
                wm = w[:, :, None, None].to_mkldnn()
                return lambda: F.conv2d(xm, wm)

            out["oneDNN conv2d"] = onednn
        return out
    out = {"F.linear": lambda w: (lambda: F.linear(x, w)), "x @ w.t()": lambda w: (lambda: x @ w.t())}
    if (x.device.type == "cpu" and torch.backends.mkldnn.is_available()
            and hasattr(torch.ops.mkldnn, "_linear_pointwise")):
        out["oneDNN linear"] = lambda w: (lambda: torch.ops.mkldnn._linear_pointwise(x, w, None, "none", [], ""))
    return out


def _torch_csr(w: torch.Tensor, index_dtype: torch.dtype) -> torch.Tensor:
    with warnings.catch_warnings():
        # torch warns once per process that sparse CSR is "in beta"; it is measured as it stands
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta", category=UserWarning)
        c = w.to_sparse_csr()
        return torch.sparse_csr_tensor(c.crow_indices().to(index_dtype), c.col_indices().to(index_dtype),
                                       c.values(), c.shape, check_invariants=True)  # checked once, here


def torch_csr_methods(x: torch.Tensor, channels_first: bool = False) -> dict[str, Method]:
    """torch.sparse CSR with int64 and int32 indices and the input's layouts it takes."""
    def method(dt, layout):
        def build(w):
            c = _torch_csr(w, dt)
            if layout == "W @ X":
                return lambda: c @ x
            if layout == "(W @ x.T).T":
                return lambda: (c @ x.t()).t()
            return lambda: (c @ x.t().contiguous()).t()
        return build

    layouts = ("W @ X",) if channels_first else ("(W @ x.T).T", "(W @ contiguous x.T).T")
    return {f"{bits}, {layout}": method(dt, layout)
            for bits, dt in (("int64", torch.int64), ("int32", torch.int32)) for layout in layouts}


MAX_COPIES = 2048  # a weight so small it needs more copies than this is not a cold-cache case worth timing


def copies_for_cold(nbytes: int, cache_bytes: int | None = None) -> int:
    """How many copies of an ``nbytes`` weight span twice the last-level cache (at most ``MAX_COPIES``)."""
    if nbytes < 1:
        raise ValueError(f"nbytes must be positive, got {nbytes}")
    cache_bytes = last_level_cache_bytes() if cache_bytes is None else cache_bytes
    return min(MAX_COPIES, max(1, math.ceil(2 * cache_bytes / nbytes)))


def _cycling(calls: list[Callable[[], object]]) -> Callable[[], object]:
    """One call after another of ``calls``, round and round."""
    if len(calls) == 1:
        return calls[0]
    state = [0]

    def call():
        i = state[0]
        state[0] = (i + 1) % len(calls)
        return calls[i]()

    return call


def _instantiate(methods: dict[str, Method], weights: list[torch.Tensor]) -> dict[str, Callable[[], object]]:
    return {name: _cycling([m(w) for w in weights]) for name, m in methods.items()}


def _weights(w: torch.Tensor, cache: str, smallest_bytes: int) -> list[torch.Tensor]:
    one_of("cache", cache, CACHES)
    if cache == "warm" or w.device.type != "cpu":
        return [w]
    return [w] + [w.clone() for _ in range(copies_for_cold(smallest_bytes) - 1)]


def _timed(fns: dict[str, Callable[[], object]], **kw) -> tuple[dict[str, float], dict[str, list[float]]]:
    """(median seconds, every sample) of each function, sampled round-robin (``timing.measure_samples``)."""
    samples = measure_samples(fns, **kw)
    return {k: float(np.median(v)) for k, v in samples.items()}, samples


def ratio_samples(samples: dict[str, list[float]], baseline: str, ours: str) -> list[float]:
    """``baseline / ours`` for each interleaved repetition: the paired values a timed claim decides on."""
    return [b / o for b, o in zip(samples[baseline], samples[ours])]


def _best(times: dict[str, float], names) -> tuple[str, float]:
    name = min(names, key=times.__getitem__)
    return name, times[name]


def _sync(device: str):
    return torch.cuda.synchronize if device != "cpu" else None


def bench_shape(shape: Shape, sparsity: float, reps: int = 30, device: str = "cpu", seed: int = 0,
                cache: str = "warm") -> dict:
    """Times of every method for one shape and sparsity; speed-ups of sparsekit's CSR over the best
    dense method, the best torch.sparse method, F.linear (or ``W @ X``) and scipy."""
    import scipy.sparse as sps

    w, x = make_problem(shape, sparsity, seed, device)
    cf = shape.channels_first
    csr_bytes = CSR.from_dense(w.cpu()).nbytes()
    weights = _weights(w, cache, csr_bytes)
    dense, tcsr = dense_methods(x, cf), torch_csr_methods(x, cf)
    def ours(wi):
        c = CSR.from_dense(wi.cpu())
        return lambda: kernels.csr_matmul(c, x, channels_first=cf)

    methods = {**dense, **tcsr, "sparsekit csr": ours}
    if device == "cpu":
        xn = x.numpy()

        def scipy_csr(wi):
            s = sps.csr_matrix(wi.numpy())
            return (lambda: s @ xn) if cf else (lambda: (s @ xn.T).T)

        methods["scipy csr"] = scipy_csr
    t, samples = _timed(_instantiate(methods, weights), reps=reps, sync=_sync(device))
    best_dense, t_dense = _best(t, dense)
    best_csr, t_csr = _best(t, tcsr)
    mine = t["sparsekit csr"]
    plain = "W @ X" if cf else "F.linear"
    out = {"shape": shape.name, "describe": shape.describe(), "sparsity": sparsity, "device": device,
           "cache": cache, "copies": len(weights), "times_s": t, "nnz": int((w != 0).sum()),
           "best dense": best_dense, "best torch csr": best_csr,
           "speedup vs best dense": t_dense / mine, "speedup vs best torch csr": t_csr / mine,
           f"speedup vs {plain}": t[plain] / mine,
           "samples vs best dense": ratio_samples(samples, best_dense, "sparsekit csr"),
           "samples vs best torch csr": ratio_samples(samples, best_csr, "sparsekit csr")}
    if "scipy csr" in t:
        out["speedup vs scipy csr"] = t["scipy csr"] / mine
    return out


def bench_nm(shape: Shape, n: int = 2, m: int = 4, reps: int = 30, device: str = "cpu", seed: int = 0,
             cache: str = "warm") -> dict:
    """An N:M (2:4 by default) weight through sparsekit's N:M kernel against the best dense method;
    on CUDA also torch's semi-structured 2:4 (fp16, cuSPARSELt) where the GPU supports it."""
    from .masks import nm_mask

    w, x = make_problem(shape, 0.0, seed, device)
    w = w * nm_mask(w, n, m).to(w.device)
    weights = _weights(w, cache, NMSparse.from_dense(w.cpu(), n, m).nbytes())
    dense = dense_methods(x, shape.channels_first)
    key = f"sparsekit {n}:{m}"
    def ours(wi):
        f = NMSparse.from_dense(wi.cpu(), n, m)
        return lambda: kernels.nm_matmul(f, x, channels_first=shape.channels_first)

    methods = {**dense, key: ours}
    fns, extra = _instantiate(methods, weights), {}
    if device != "cpu" and (n, m) == (2, 4) and not shape.channels_first:
        try:
            from torch.sparse import to_sparse_semi_structured

            wh, xh = w.half(), x.half()
            ws = to_sparse_semi_structured(wh)
            fns["torch dense fp16"] = lambda: F.linear(xh, wh)
            fns["torch 2:4 fp16"] = lambda: F.linear(xh, ws)
        except Exception as e:  # noqa: BLE001 - report why the GPU path is missing
            extra["semi_structured_error"] = f"{type(e).__name__}: {e}"
    t, samples = _timed(fns, reps=reps, sync=_sync(device))
    best_dense, t_dense = _best(t, dense)
    out = {"shape": shape.name, "describe": shape.describe(), "pattern": f"{n}:{m}", "device": device,
           "cache": cache, "copies": len(weights), "times_s": t, "best dense": best_dense,
           "speedup vs best dense": t_dense / t[key], "samples vs best dense": ratio_samples(samples, best_dense, key),
           **extra}
    if "torch 2:4 fp16" in t:
        out["torch 2:4 fp16 speedup vs dense fp16"] = t["torch dense fp16"] / t["torch 2:4 fp16"]
        out["samples torch 2:4 fp16 vs dense fp16"] = ratio_samples(samples, "torch dense fp16", "torch 2:4 fp16")
    return out


def bench_activation(zero_fraction: float, batch_size: int = 64, features: int = 1024, reps: int = 30,
                     seed: int = 0) -> dict:
    """Activations with exactly ``zero_fraction`` zeros times a dense (features x features) weight:
    sparsekit's activation-sparse kernel against the best dense method (CPU, warm)."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(features, features, generator=g)
    x = exact_zero_activations(batch_size, features, zero_fraction, seed)
    wt = w.t().contiguous()
    dense = dense_methods(x)
    fns = {**{k: m(w) for k, m in dense.items()}, "sparse input": lambda: kernels.sparse_input_matmul(x, wt)}
    t, samples = _timed(fns, reps=reps)
    best_dense, t_dense = _best(t, dense)
    return {"zero_fraction_asked": zero_fraction, "zero_fraction": float((x == 0).float().mean()),
            "batch": batch_size, "features": features,
            "times_s": t, "best dense": best_dense, "speedup vs best dense": t_dense / t["sparse input"],
            "samples vs best dense": ratio_samples(samples, best_dense, "sparse input")}


# ---------------------------------------------------------------- MobileNet v1, end to end and per layer


def bench_layers(dense: mobilenet.MobileNetV1, sparse: mobilenet.MobileNetV1, reps: int = 10, size: int = 224,
                 progress: bool = True) -> list[dict]:
    """Each 1x1 layer alone, at its input resolution: sparsekit against the best dense method."""
    rows = []
    shapes = [(layer, sparse.features[i][0], hw) for i, layer, hw in mobilenet._blocks_at_resolution(dense, size)
              if mobilenet._is_pointwise(layer)]
    g = torch.Generator().manual_seed(0)
    for k, (conv, sp, hw) in enumerate(progress_bar(shapes, desc="1x1 layers", disable=not progress)):
        x = torch.rand(conv.in_channels, hw * hw, generator=g)
        w = conv.weight.detach().reshape(conv.out_channels, conv.in_channels)
        methods = dense_methods(x, channels_first=True)
        fns: dict[str, Callable[[], object]] = {name: m(w) for name, m in methods.items()}
        csr = sp.weight
        assert isinstance(csr, CSR)
        fns["sparsekit csr"] = functools.partial(kernels.csr_matmul, csr, x, channels_first=True)
        t, _ = _timed(fns, reps=reps)
        best = min(methods, key=t.__getitem__)
        rows.append({"layer": k + 1, "out": conv.out_channels, "in": conv.in_channels, "pixels": hw * hw,
                     "best dense": best, "dense_s": t[best], "sparse_s": t["sparsekit csr"],
                     "speedup": t[best] / t["sparsekit csr"]})
    return rows


def bench_mobilenet(sparsity: float = 0.9, reps: int = 10, size: int = 224, seed: int = 0,
                    progress: bool = True) -> dict:
    """The whole network, batch 1: the best dense variant against the sparse network (its 1x1
    layers on sparsekit, the rest dense NCHW), and every 1x1 layer alone."""
    if reps < 1:
        raise ValueError(f"reps must be positive, got {reps}")
    dense = mobilenet.mobilenet_v1(seed=seed)
    sparse = mobilenet.sparsify_pointwise(dense, sparsity, seed)
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        variants = mobilenet.dense_variants(dense, x)
        err = (sparse(x) - _masked_dense(sparse)(x)).abs().max().item()
        fns = {**variants, "sparse (sparsekit 1x1)": lambda: sparse(x)}
        t, samples = _timed(fns, reps=reps, warmup=2, inner=2)
        layers = bench_layers(dense, sparse, reps=reps, size=size, progress=progress)
    best = min(variants, key=t.__getitem__)
    fl_d, fl_s = mobilenet.flops(dense, size), mobilenet.flops(sparse, size)
    return {"sparsity": sparsity, "size": size, "times_s": t, "best dense": best,
            "speedup": t[best] / t["sparse (sparsekit 1x1)"],
            "samples vs best dense": ratio_samples(samples, best, "sparse (sparsekit 1x1)"),
            "speedup vs NCHW": t["NCHW"] / t["sparse (sparsekit 1x1)"],
            "flops_dense": fl_d["total"], "flops_sparse": fl_s["total"],
            "pointwise_share": fl_d["pointwise"] / fl_d["total"], "max_abs_error": err, "layers": layers}


def _masked_dense(sparse: mobilenet.MobileNetV1) -> nn.Module:
    """The sparse network with its 1x1 layers back as dense convolutions holding the same
    (zero-filled) weights: the oracle the sparse network must agree with."""
    from .convert import to_dense

    return to_dense(sparse)


@dataclass(frozen=True)
class Target:
    """A pre-registered target: in every part it covers (each shape), the ratio is at least ``bar``,
    decided by the interval rule over the timing's interleaved repetitions (each repetition's ratio of
    the baseline's time to ours; ``sparsekit.verdicts`` holds the rule)."""

    id: str
    what: str
    bar: float

    def decide(self, samples: dict[str, list[float]]):
        """The decision (every part) on per-part ratio samples, ``{part: [ratio of each repetition]}``."""
        from .verdicts import decide, decide_every

        if not samples or any(len(v) < 2 or any(math.isnan(r) for r in v) for v in samples.values()):
            raise ValueError(f"target {self.id} needs at least 2 repetitions per part, no NaN, got {samples}")
        return decide_every({part: decide(v, self.bar, unit="x") for part, v in samples.items()})


TARGETS = (
    Target("csr_vs_torch_csr", "sparsekit CSR / best torch.sparse CSR at 90%, every shape (warm)", 1.5),
    Target("csr_vs_dense_mlp", "sparsekit CSR / best dense at 90%, MLP layer (warm)", 3.0),
    Target("csr_vs_dense_cold_decode", "sparsekit CSR / best dense at 90%, decode step (cold)", 4.5),
    Target("nm_vs_dense_cold_decode", "sparsekit 2:4 / best dense, decode step (cold)", 1.5),
    Target("mobilenet_end_to_end", "sparse MobileNet v1 (90% 1x1) / best dense MobileNet v1", 2.0),
    Target("activation_sparse_90", "activation-sparse / best dense at exactly 90% zeros", 4.0),
)


def target_samples(result: dict) -> dict[str, dict[str, list[float]]]:
    """Each target's ratio samples in a :func:`run` result, by part (a shape; missing pieces left out)."""
    def csr(shape=None, cache="warm", key="samples vs best dense"):
        return {r["shape"]: r[key] for r in result["csr"] if r["sparsity"] == 0.9 and r["cache"] == cache
                and (shape is None or r["shape"] == shape)}

    out = {"csr_vs_torch_csr": csr(key="samples vs best torch csr"),
           "csr_vs_dense_mlp": csr("mlp_layer"),
           "csr_vs_dense_cold_decode": csr("decode_step", "cold"),
           "nm_vs_dense_cold_decode": {r["shape"]: r["samples vs best dense"] for r in result["nm"]
                                       if r["shape"] == "decode_step" and r["cache"] == "cold"}}
    if result.get("mobilenet"):
        out["mobilenet_end_to_end"] = {"MobileNet v1": result["mobilenet"]["samples vs best dense"]}
    if result.get("activation"):
        out["activation_sparse_90"] = {f"batch {r['batch']} x {r['features']}": r["samples vs best dense"]
                                       for r in result["activation"] if r["zero_fraction_asked"] == 0.9}
    return {k: v for k, v in out.items() if v}


def target_ratios(result: dict) -> dict[str, list[float]]:
    """The median ratio of each part of each target (what a table shows beside the decision)."""
    return {k: [float(np.median(v)) for v in parts.values()] for k, parts in target_samples(result).items()}


def target_decisions(result: dict) -> dict:
    """Each measured target's decision (``Target.decide`` on ``target_samples``)."""
    got = target_samples(result)
    return {t.id: t.decide(got[t.id]) for t in TARGETS if t.id in got}


def run(shapes=SHAPES, sparsities=SPARSITIES, reps: int = 30, device: str = "cpu", cold_sparsities=None,
        mobilenet: bool = True, activation_zero_fractions=(0.5, 0.7, 0.9, 0.95), progress: bool = True) -> dict:
    """Every shape x sparsity through :func:`bench_shape` with warm caches, and with cold caches at
    ``cold_sparsities`` (all of ``sparsities`` when None; none on a GPU); 2:4 on the shapes that ask
    for it (warm and cold), activation sparsity and the whole MobileNet v1 (CPU)."""
    cold = () if device != "cpu" else tuple(sparsities if cold_sparsities is None else cold_sparsities)
    caches = ("warm", "cold") if cold else ("warm",)
    jobs = [(s, sp, c) for s in shapes for sp in sparsities for c in caches if c == "warm" or sp in cold]
    rows = [bench_shape(s, sp, reps, device, cache=c)
            for s, sp, c in progress_bar(jobs, desc="csr", disable=not progress)]
    nm_jobs = [(s, c) for s in shapes if s.nm for c in caches]
    nm_rows = [bench_nm(s, reps=reps, device=device, cache=c)
               for s, c in progress_bar(nm_jobs, desc="2:4", disable=not progress)]
    result = {"device": device, "threads": torch.get_num_threads(), "torch": torch.__version__,
              "llc_mib": last_level_cache_bytes() / 2**20, "shapes": [asdict(s) for s in shapes],
              "csr": rows, "nm": nm_rows, "activation": [], "mobilenet": None}
    if device == "cpu":
        result["activation"] = [bench_activation(z, reps=reps) for z in activation_zero_fractions]
        if mobilenet:
            result["mobilenet"] = bench_mobilenet(sparsity=0.9, reps=max(15, reps), progress=progress)
    return result


def table(result: dict) -> str:
    """Plain-text table of the speed-ups (baseline time / sparsekit time; above 1 = faster)."""
    lines = [f"{'shape':14s} {'cache':5s} {'sparsity':>8s} {'vs best dense':>13s} {'vs torch csr':>13s} "
             f"{'vs scipy':>9s}  best dense / best torch csr"]
    for r in result["csr"]:
        sc = r.get("speedup vs scipy csr")
        lines.append(f"{r['shape']:14s} {r['cache']:5s} {r['sparsity']:8.2f} {r['speedup vs best dense']:13.2f} "
                     f"{r['speedup vs best torch csr']:13.2f} {'' if sc is None else f'{sc:9.2f}':>9s}  "
                     f"{r['best dense']} / {r['best torch csr']}")
    for r in result["nm"]:
        lines.append(f"{r['shape']:14s} {r['cache']:5s} {r['pattern']:>8s} {r['speedup vs best dense']:13.2f}   "
                     f"(N:M kernel; best dense {r['best dense']})")
        if "torch 2:4 fp16 speedup vs dense fp16" in r:
            lines.append(f"{'':20s} {'2:4 fp16':>8s} {r['torch 2:4 fp16 speedup vs dense fp16']:13.2f}   "
                         "(torch, cuSPARSELt)")
    return "\n".join(lines)


def targets_table(result: dict) -> str:
    """Each target: its bar, the mean ratio per part with its one-sided 95% bounds over the
    repetitions (the interval rule's numbers), and the verdict (met = reproduced, not met = not
    reproduced, undecided = inconclusive)."""
    decisions = target_decisions(result)
    width = max(len(t.what) for t in TARGETS)
    lines = [f"{'target':{width}s} {'bar':>5s}  verdict      measured: mean [L, U] of the repetitions' ratios"]
    word = {"reproduced": "met", "not reproduced": "not met", "inconclusive": "undecided"}
    for tg in TARGETS:
        d = decisions.get(tg.id)
        if d is None:
            lines.append(f"{tg.what:{width}s} {tg.bar:5.1f}  -            not measured")
            continue
        parts = "; ".join(f"{name} {p.estimate:.2f} [{p.lower:.2f}, {p.upper:.2f}]"
                          for name, p in d.parts)
        lines.append(f"{tg.what:{width}s} {tg.bar:5.1f}  {word[d.verdict]:11s}  {parts}")
    return "\n".join(lines)


def plot(result: dict, path: str | Path | None = None):
    """Speed-up of sparsekit CSR against sparsity, one panel per shape, warm (solid) and cold (dashed)."""
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r["shape"] for r in result["csr"]))
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.4), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, name in zip(axes, names):
        for cache, ls in (("warm", "-"), ("cold", "--")):
            rows = [r for r in result["csr"] if r["shape"] == name and r["cache"] == cache]
            if not rows:
                continue
            sp = [100 * r["sparsity"] for r in rows]
            for (key, label), color in zip((("speedup vs best dense", "best dense"),
                                            ("speedup vs best torch csr", "best torch CSR"),
                                            ("speedup vs scipy csr", "scipy CSR")), ("C0", "C1", "C2")):
                if key in rows[0]:
                    ax.plot(sp, [r[key] for r in rows], ls=ls, marker="o", ms=3, color=color,
                            label=f"vs {label}, {cache}")
        ax.axhline(1.0, color="k", lw=1, ls=":")
        ax.set_yscale("log")
        ax.set_title(next(r["describe"] for r in result["csr"] if r["shape"] == name))
        ax.set_xlabel("sparsity (%)")
    axes[0].set_ylabel("speed-up of sparsekit CSR (x)")
    axes[-1].legend(fontsize="x-small")
    fig.suptitle(f"sparsekit CSR kernel on {result['device']}, {result['threads']} threads (above 1 = faster)",
                 y=1.04)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=160, bbox_inches="tight")
    return fig


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sparsekit.bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (10 instead of 30)")
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--out", default="build/bench", help="folder for bench_<device>.json and .png")
    args = ap.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: torch sees no GPU")
    if args.reps is not None and args.reps < 1:
        ap.error(f"--reps must be a positive integer, got {args.reps}")
    reps = args.reps or (10 if args.quick else 30)
    result = run(reps=reps, device=args.device)
    print(table(result))
    if args.device == "cpu":
        print()
        print(targets_table(result))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"bench_{args.device}.json").write_text(json.dumps(result, indent=2))
    plot(result, out / f"bench_{args.device}.png")
    print(f"wrote {out / f'bench_{args.device}.json'} and {out / f'bench_{args.device}.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
