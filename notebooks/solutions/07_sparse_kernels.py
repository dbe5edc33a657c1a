"""Worked answers to the exercises of 07_sparse_kernels (try them first)."""

# 10% of 4096 x 4096 weights kept, each a 4-byte value and a 2-byte column index, in 10^6 bytes.
answer_1 = round(round(0.1 * 4096 * 4096) * (4 + 2) / 1e6, 1)


# Memory-bound when the product's FLOPs per byte fall below the machine's ridge point.
def answer_2(intensity: float, ridge: float) -> str:
    return "memory" if intensity < ridge else "compute"


# Exercise 3: dense bytes over CSR bytes, activations included (roofline.byte_bound is the oracle).
def my_byte_bound(out_features, in_features, batch, sparsity, index_bytes=2):
    act = 4 * (in_features * batch + out_features * batch)
    nnz = (1 - sparsity) * out_features * in_features
    dense = 4 * out_features * in_features + act
    csr = nnz * (4 + index_bytes) + 4 * (out_features + 1) + act
    return dense / csr


# Exercise 4: scan from the densest end; the crossover is where the faster run starts.
def my_crossover(sparsities, speedups):
    pairs = sorted(zip(sparsities, speedups))
    start = None
    for s, v in pairs:
        if v > 1.0:
            start = s if start is None else start
        else:
            start = None
    return start
