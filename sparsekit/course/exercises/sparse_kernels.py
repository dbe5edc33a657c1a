"""Graders of notebook 07, When sparsity becomes speed (a hint, never the answer)."""

from __future__ import annotations

from ._core import _number, register


@register("07.1", "megabytes of the 90%-sparse decode layer (float32 values + uint16 indices)")
def _csr_megabytes(answer) -> str | None:
    bad = _number(answer, "megabytes (a float)")
    if bad:
        return bad
    nnz = round(0.1 * 4096 * 4096)
    if abs(answer - round(nnz * 6 / 1e6, 1)) < 0.051:
        return None
    if abs(answer - nnz * 4 / 1e6) < 0.06:
        return "the values alone; each kept weight also stores its column index"
    if abs(answer - nnz * 8 / 1e6) < 0.06:
        return "uint16 indices take 2 bytes, not 4"
    if abs(answer - nnz * 6 / 2**20) < 0.06:
        return "a megabyte here is 10^6 bytes (MB), not 2^20 (MiB)"
    return "count the bytes each kept weight needs (section 1), then convert to megabytes"


@register("07.2", "is the dense decode product compute- or memory-bound on this machine")
def _roofline(answer, intensity: float, ridge: float) -> str | None:
    if answer not in ("compute", "memory"):
        return 'answer "compute" or "memory"'
    want = "memory" if intensity < ridge else "compute"
    if answer == want:
        return None
    return ("compare the product's arithmetic intensity (FLOPs per byte moved) with the machine's ridge "
            "point (peak FLOP/s divided by bandwidth)")


@register("07.3", "your own byte bound: dense bytes / CSR bytes of a layer")
def _own_byte_bound(fn) -> str | None:
    from types import SimpleNamespace

    from sparsekit.roofline import byte_bound

    if not callable(fn):
        return ("give a function my_byte_bound(out_features, in_features, batch, sparsity, index_bytes) "
                "returning a float")
    cases = [(4096, 4096, 8, 0.9, 2, "the decode layer at 90% sparsity, 2-byte indices"),
             (1024, 1024, 64, 0.5, 2, "the MLP layer at 50% sparsity"),
             (256, 256, 784, 0.9, 4, "the 1x1 convolution at 90% with 4-byte indices"),
             (100, 30, 1, 0.0, 2, "a small dense-as-CSR layer (sparsity 0)")]
    for o, k, b, s, ib, what in cases:
        got = fn(o, k, b, s, ib)
        bad = _number(got, "a float")
        if bad:
            return f"on {what}: {bad}"
        layer = SimpleNamespace(out_features=o, in_features=k, batch_size=b)
        want = byte_bound(layer, 1 - s, "csr", ib)
        if abs(got - want) <= 1e-6 * want:
            continue
        no_act = (4 * o * k) / ((1 - s) * o * k * (4 + ib) + 4 * (o + 1))
        if abs(got - no_act) <= 1e-6 * no_act:
            return f"on {what}: both products also read the input and write the output (4 (k b + o b) bytes each)"
        swapped = byte_bound(layer, s, "csr", ib) if s > 0 else None
        if swapped is not None and abs(got - swapped) <= 1e-6 * swapped:
            return f"on {what}: the CSR keeps a density of 1 - sparsity of the weights, not the sparsity"
        return (f"on {what}: your ratio is {got:.3f}; count dense bytes 4 o k + activations and CSR bytes "
                "nnz (4 + index bytes) + 4 (o + 1) + activations")
    return None


@register("07.4", "your own crossover: the sparsity from which sparse stays faster")
def _own_crossover(fn) -> str | None:
    if not callable(fn):
        return "give a function my_crossover(sparsities, speedups) returning a sparsity or None"
    cases = [([0.3, 0.5, 0.7, 0.9], [0.8, 1.2, 1.5, 3.0], 0.5, "a curve that crosses 1 once"),
             ([0.9, 0.3, 0.7, 0.5], [3.0, 0.8, 1.5, 1.2], 0.5, "the same curve given out of order"),
             ([0.3, 0.5, 0.7, 0.9], [1.1, 0.9, 1.4, 2.0], 0.7, "a curve that dips below 1 after starting above"),
             ([0.3, 0.5, 0.7], [0.5, 0.7, 0.9], None, "a curve that never reaches 1"),
             ([0.5, 0.9], [1.0, 1.3], 0.9, "a speed-up of exactly 1 (not faster)")]
    raw = getattr(fn, "fn", fn)  # None is a real answer here (no crossover); earlier cases catch a stub
    for sp, su, want, what in cases:
        got = (fn if want is not None else raw)(list(sp), list(su))
        if got == want or (got is not None and want is not None and abs(got - want) < 1e-12):
            continue
        if want is None:
            return f"on {what}: there is no crossover; return None"
        return (f"on {what} you returned {got}: the answer is the lowest sparsity from which *every* higher "
                "sparsity is faster (speed-up > 1); sort by sparsity first")
    return None
