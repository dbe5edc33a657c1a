"""sparsekit: the small package behind the sparse-neural-network notebooks.

Modules are imported on demand (``from sparsekit import masks``), so importing the package stays
cheap. One job each:

- ``masks``: pure mask functions - magnitude (layer-wise, global, exact counts), random, ERK, N:M, the cubic schedule
- ``prune``: masks attached to a model and kept exact through the optimizer; the pure pruning step; IMP with checkpoints
- ``lottery``: lottery-ticket studies - IMP with its controls per seed as rows, the paired gaps the claims test
- ``nm``: N:M layers trained from scratch, STE / SR-STE, sparse architecture divergence (SAD)
- ``formats``: sparse weight formats for inference (CSR with compact indices, compressed N:M)
- ``kernels``: Numba CPU and numba.cuda sparse products, dispatched by device
- ``nn``: ``SparseLinear`` (CSR / N:M weights), ``SparseInputLinear`` (activation-sparse inputs), ``SparseConv1x1``
- ``train``: the one training loop (``fit``), its result object, ``evaluate``
- ``models``: the shared MLPs and the small CNN
- ``rnn``: recurrent classifiers, graph-grown sparse RNNs, their graph properties
- ``thesis_pruning``: the RNN thesis's pruning study redone on its own models, rule and test loop; its retraining
- ``reber_study``: notebook 02's study of models we train (thesis data or one-edit negatives), graph networks, its rules
- ``sdr``: sparse distributed representations - packed overlaps and unions, closed forms, Monte Carlo
- ``sparsey``: a Sparsey-style memory (competitive modules, single-trial learning)
- ``activations``: activation-sparsity hooks (non-zero, dead and live shares) and the top-k activation
- ``lazy``: the lazy-neuron study - sparsity profiles, label noise, MLP-block timing, TEAL / WINA gates, its rules
- ``transformers``: a small ViT and a T5-style encoder for the lazy-neuron experiments
- ``metrics``: calibration - reliability bins and the expected calibration error
- ``control``: sparse ReLU dynamics, MILP planning with HiGHS, sampling planners, two systems
- ``data``: offline data sets, torchvision's real ones from a local folder, splits and batches
- ``report``: claims, verdict rules with paired seeds, the results JSON, the claims report
- ``exercises``: graders for the notebooks' exercises (a hint, never the answer)
- ``plotting``: one figure style, saving to FIGURES_DIR, mean-with-band lines
- ``utils``: seeding, devices, text progress bars, a two-process parallel map, atomic files, configuration hashes,
  versions
- ``run``: the notebook runner (papermill) and its report
- ``bench``: the kernel benchmark against each baseline at its best, warm and cold (``python -m sparsekit.bench``)
- ``roofline``: FLOPs and bytes of dense / CSR / N:M products, the byte-ratio bound, this machine's peak and bandwidth
- ``mobilenet``: MobileNet v1 dense and with sparse 1x1 layers, timed end to end and layer by layer
- ``book``: the course site (``python -m sparsekit.book``)

Vocabulary, the same in every module: *sparsity* is the fraction of weights removed, *density*
``1 - sparsity`` the fraction kept, a *rate* the fraction of the surviving weights removed in one
step; ``batch_size``, ``num_classes``, ``num_inputs``; randomness comes in as a ``seed`` or a
``torch.Generator`` / ``numpy.random.Generator`` argument.
"""

import os as _os

# Numba writes its on-disk cache next to the source by default, which fails in a
# read-only install; give it a writable place unless the user chose one.
_os.environ.setdefault(
    "NUMBA_CACHE_DIR", _os.path.join(_os.path.expanduser("~"), ".cache", "sparsekit", "numba")
)

__version__ = "0.1.0"

__all__ = [
    "activations", "bench", "book", "control", "data", "exercises", "formats", "kernels", "lazy", "lottery", "masks",
    "metrics", "mobilenet", "models", "nm", "nn", "plotting", "prune", "reber_study", "report", "rnn", "roofline",
    "run", "sdr", "sparsey", "thesis_pruning", "train", "transformers",
    "utils",
]
