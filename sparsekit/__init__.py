"""sparsekit: the small package behind the sparse-neural-network notebooks.

Modules are imported on demand (``import sparsekit.masks``) so that importing the
package itself stays cheap; each one holds one job:

- ``masks``: pure mask functions (magnitude, random, ERK, N:M, the cubic schedule)
- ``prune``: masks attached to a model, kept exact through the optimizer; IMP driver
- ``nm``: N:M layers, STE / SR-STE, sparse architecture divergence
- ``kernels``, ``formats``, ``nn``: sparse formats, Numba CPU / CUDA kernels, SparseLinear
- ``data``: offline data sets;  ``report``, ``plotting``, ``run``: the notebook contract
"""

import os as _os

# Numba writes its on-disk cache next to the source by default, which fails in a
# read-only install; give it a writable place unless the user chose one.
_os.environ.setdefault(
    "NUMBA_CACHE_DIR", _os.path.join(_os.path.expanduser("~"), ".cache", "sparsekit", "numba")
)

__version__ = "0.1.0"
