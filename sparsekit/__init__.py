"""sparsekit: sparse neural networks - masks, pruning, N:M, sparse formats, kernels and layers.

The library. Submodules load on first use (``import sparsekit; sparsekit.masks`` works, and
``import sparsekit`` alone stays cheap); importing it sets no environment variable, changes no
option of another package and touches no file. One job each:

- ``masks``: pure mask functions - magnitude (layer-wise, global, exact counts), random, ERK, N:M, the cubic schedule
- ``prune``: masks attached to a model and kept exact through the optimizer; the pure pruning step; IMP with checkpoints
- ``dst``: dynamic sparse training - one drop-and-grow mechanism, SET and RigL as its two scores
- ``oneshot``: one-shot pruning from calibration inputs - Wanda, SparseGPT, DSnoT
- ``gates``: training-free activation sparsity of linear layers' inputs - TEAL and WINA gates
- ``attention``: sparse attention patterns as boolean masks, content-based selectors, a block-sparse kernel
- ``nm``: N:M layers trained from scratch, STE / SR-STE, sparse architecture divergence (SAD)
- ``formats``: sparse weight formats for inference (CSR with compact indices, compressed N:M), to and from
  torch.sparse and scipy.sparse
- ``kernels``: Numba CPU and numba.cuda sparse products, dispatched by device
- ``nn``: sparse inference layers - ``SparseLinear`` (CSR / N:M), ``SparseConv2d`` (any stride, kxk, groups),
  ``SparseInputLinear`` (activation-sparse inputs)
- ``convert``: one entry point that turns a model's Linear and Conv2d layers into sparse inference layers
- ``train``: the one training loop (``fit``), its result object, ``evaluate``
- ``models``, ``transformers``, ``rnn``, ``mobilenet``: the models the lessons train and time
- ``activations``: activation-sparsity hooks and the top-k activation; ``metrics``: calibration (ECE)
- ``sdr``: sparse distributed representations; ``sparsey``: a Sparsey-style memory
- ``control``: sparse ReLU dynamics, MILP planning with HiGHS, sampling planners, two systems
- ``data``: offline data sets, torchvision's real ones from a local folder, splits and batches
- ``seeds``: the one way to derive per-seed and per-round seeds; ``checks``: argument checks with clear errors
- ``timing``: round-robin timing; ``roofline``: FLOPs and bytes; ``bench``: the kernel benchmark
  (``python -m sparsekit.bench``)
- ``verdicts``: the interval rule that decides a claim from paired seeds (reproduced / inconclusive / not reproduced)
- ``utils``: devices, text progress bars, a process-parallel map, atomic files, configuration hashes, versions

Two more layers sit on top, visible as folders: ``sparsekit.studies`` (one module per notebook:
its experiments and claim rules) and ``sparsekit.course`` (verdicts, results, exercises, plots,
the runner and the site). The library never imports them.

Vocabulary, the same in every module: *sparsity* is the fraction of weights removed (torch's
``amount`` is accepted where torch uses it), *density* ``1 - sparsity`` the fraction kept, a
*rate* the fraction of the surviving weights removed in one step; parameters are named by their
dotted names (torch's ``tensor_fqn``, e.g. ``"layer1.0.conv1.weight"``); ``batch_size``,
``num_classes``; accuracy is a fraction in [0, 1]; randomness comes in as a ``seed`` or a
``torch.Generator`` / ``numpy.random.Generator`` argument.
"""

from __future__ import annotations

import importlib

__version__ = "0.2.0"

_SUBMODULES = (
    "activations", "attention", "bench", "checks", "control", "convert", "data", "dst", "formats", "gates", "kernels",
    "masks", "metrics", "mobilenet", "models", "nm", "nn", "oneshot", "prune", "rnn", "roofline", "sdr",
    "seeds", "sparsey", "timing", "train", "transformers", "utils", "verdicts",
)

__all__ = list(_SUBMODULES)


def __getattr__(name: str):
    if name in _SUBMODULES:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'sparsekit' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES))
