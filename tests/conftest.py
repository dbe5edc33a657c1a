import os

# CUDA kernels are tested on the CPU through Numba's simulator unless a real GPU run is asked for.
if os.environ.get("SPARSEKIT_REAL_CUDA") != "1":
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import torch  # noqa: E402

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
