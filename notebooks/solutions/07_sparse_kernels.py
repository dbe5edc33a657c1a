"""Worked answers to exercises 1 and 2 of 07_sparse_kernels (try them first)."""

# 10% of 4096 x 4096 weights kept, each a 4-byte value and a 2-byte column index, in 10^6 bytes.
answer_1 = round(round(0.1 * 4096 * 4096) * (4 + 2) / 1e6, 1)


# Memory-bound when the product's FLOPs per byte fall below the machine's ridge point.
def answer_2(intensity: float, ridge: float) -> str:
    return "memory" if intensity < ridge else "compute"
