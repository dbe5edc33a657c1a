import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsekit import masks as M


def dense_topk_keep(w: np.ndarray, n_zero: int, alive: np.ndarray) -> np.ndarray:
    """Oracle: prune dead entries first, then live ones by (|w|, index) ascending."""
    flat = np.abs(w).ravel().astype(np.float64)
    alive = alive.ravel()
    order = sorted(range(flat.size), key=lambda i: (alive[i], flat[i], i))
    keep = np.ones(flat.size, bool)
    keep[order[:n_zero]] = False
    return keep.reshape(w.shape)


shapes = st.lists(st.integers(1, 7), min_size=1, max_size=3)


@settings(max_examples=60, deadline=None)
@given(shape=shapes, s=st.floats(0, 0.999), seed=st.integers(0, 10_000), ties=st.booleans())
def test_magnitude_mask_exact_count_and_oracle(shape, s, seed, ties):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=shape)
    if ties:
        w = np.round(w)  # many equal magnitudes
    wt = torch.tensor(w, dtype=torch.float32)
    n_zero = round(s * w.size)
    if n_zero == w.size:  # a target that rounds to every weight is refused, not obeyed
        with pytest.raises(ValueError, match="all of them"):
            M.magnitude_mask(wt, s)
        return
    m = M.magnitude_mask(wt, s)
    assert int((~m).sum()) == n_zero
    np.testing.assert_array_equal(m.numpy(), dense_topk_keep(wt.numpy(), n_zero, np.ones(w.shape, bool)))


def test_magnitude_mask_ties_are_deterministic_lower_index_first():
    w = torch.ones(6)
    assert M.magnitude_mask(w, 0.5).tolist() == [False, False, False, True, True, True]


def test_magnitude_mask_respects_existing_mask():
    w = torch.tensor([5.0, 4.0, 3.0, 2.0, 1.0])
    prev = torch.tensor([False, True, True, True, True])  # the largest was already pruned
    m = M.magnitude_mask(w, 0.4, prev)
    assert m.tolist() == [False, True, True, True, False]
    with pytest.raises(ValueError, match="already prunes"):
        M.magnitude_mask(w, 0.0, prev)


@settings(max_examples=40, deadline=None)
@given(shape=shapes, f=st.floats(0, 0.99), seed=st.integers(0, 1000))
def test_prune_surviving_of_survivors(shape, f, seed):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(shape, generator=g)
    prev = M.random_mask(shape, 0.3, generator=g)
    alive = int(prev.sum())
    if w.numel() - alive + round(f * alive) >= w.numel():  # nothing would be left: refused
        with pytest.raises(ValueError, match="all of them"):
            M.prune_surviving(w, f, prev)
        return
    m = M.prune_surviving(w, f, prev)
    assert int(m.sum()) == alive - round(f * alive)
    assert not (m & ~prev).any(), "a pruned weight came back"
    np.testing.assert_array_equal(
        m.numpy(), dense_topk_keep(w.numpy(), w.numel() - int(m.sum()), prev.numpy())
    )


def test_global_vs_layerwise():
    a = torch.tensor([10.0, 9.0, 8.0, 7.0])
    b = torch.tensor([1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ValueError, match=r"prunes every weight of \['b'\].*allow_empty_layers"):
        M.global_magnitude_masks({"a": a, "b": b}, 0.5)  # layer collapse is refused, as per tensor
    g = M.global_magnitude_masks({"a": a, "b": b}, 0.5, allow_empty_layers=True)
    assert g["a"].all() and not g["b"].any()  # one pooled threshold
    assert int(g["a"].sum() + g["b"].sum()) == 4
    lw = {k: M.magnitude_mask(v, 0.5) for k, v in {"a": a, "b": b}.items()}
    assert int(lw["a"].sum()) == 2 and int(lw["b"].sum()) == 2


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(1, 30), min_size=1, max_size=4), s=st.floats(0, 0.99), seed=st.integers(0, 99))
def test_global_exact_count_oracle(sizes, s, seed):
    rng = np.random.default_rng(seed)
    ws = {f"l{i}": torch.tensor(np.round(rng.normal(size=n), 1)) for i, n in enumerate(sizes)}
    total = sum(sizes)
    if round(s * total) >= total:  # nothing would be left: refused
        with pytest.raises(ValueError, match="all of them"):
            M.global_magnitude_masks(ws, s)
        return
    out = M.global_magnitude_masks(ws, s, allow_empty_layers=True)
    assert sum(int((~m).sum()) for m in out.values()) == round(s * total)
    if any(not m.any() for m in out.values()):  # a collapsed layer: refused unless asked for
        with pytest.raises(ValueError, match="layer collapse"):
            M.global_magnitude_masks(ws, s)
    cat = torch.cat([w for w in ws.values()]).numpy()
    oracle = dense_topk_keep(cat, round(s * total), np.ones(total, bool))
    np.testing.assert_array_equal(torch.cat([out[k] for k in ws]).numpy(), oracle)


def test_global_prune_surviving_counts():
    ws = {"a": torch.randn(10, 10), "b": torch.randn(50)}
    m1 = M.global_prune_surviving(ws, 0.2)
    assert sum(int(m.sum()) for m in m1.values()) == 120
    m2 = M.global_prune_surviving(ws, 0.2, m1)
    assert sum(int(m.sum()) for m in m2.values()) == 96


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan")])
def test_bad_sparsity_is_named(bad):
    with pytest.raises(ValueError, match=r"sparsity must be in \[0, 1\)"):
        M.magnitude_mask(torch.randn(4), bad)
    with pytest.raises(ValueError, match="sparsity"):
        M.random_mask((4,), bad)


def test_mask_shape_mismatch_is_named():
    with pytest.raises(ValueError, match=r"mask has shape \(3,\) but the weight has shape \(4,\)"):
        M.magnitude_mask(torch.randn(4), 0.5, torch.ones(3, dtype=torch.bool))


def test_weight_type_errors():
    with pytest.raises(TypeError, match="torch.Tensor"):
        M.magnitude_mask(np.ones(3), 0.5)
    with pytest.raises(TypeError, match="floating-point"):
        M.magnitude_mask(torch.ones(3, dtype=torch.int64), 0.5)
    with pytest.raises(ValueError, match="NaN"):
        M.magnitude_mask(torch.tensor([1.0, float("nan")]), 0.5)


@settings(max_examples=30, deadline=None)
@given(shape=shapes, s=st.floats(0, 0.999), seed=st.integers(0, 99))
def test_random_mask_exact(shape, s, seed):
    n = math.prod(shape)
    if n > 0 and round(s * n) >= n:  # every entry pruned: refused, as magnitude_mask refuses it
        with pytest.raises(ValueError, match="all of them"):
            M.random_mask(shape, s, torch.Generator().manual_seed(seed))
        return
    m = M.random_mask(shape, s, torch.Generator().manual_seed(seed))
    assert tuple(m.shape) == tuple(shape)
    assert int((~m).sum()) == round(s * math.prod(shape))


def test_random_and_magnitude_masks_refuse_the_same_targets():
    for shape, s in (((10,), 0.96), ((3, 3), 0.95)):
        with pytest.raises(ValueError, match="all of them"):
            M.random_mask(shape, s)
        with pytest.raises(ValueError, match="all of them"):
            M.magnitude_mask(torch.randn(shape), s)


def test_random_mask_is_uniform():
    g = torch.Generator().manual_seed(0)
    counts = sum(M.random_mask((10,), 0.5, g).int() for _ in range(2000))
    assert counts.min() > 900 and counts.max() < 1100


def test_erk_invariant_and_cap():
    shapes = {"conv1": (16, 3, 3, 3), "conv2": (32, 16, 3, 3), "fc": (10, 512), "tiny": (2, 2)}
    for d in (0.05, 0.2, 0.5, 0.9):
        dens = M.erk_densities(shapes, d)
        n = {k: math.prod(s) for k, s in shapes.items()}
        assert sum(dens[k] * n[k] for k in shapes) == pytest.approx(d * sum(n.values()))
        assert all(0 < v <= 1 for v in dens.values())
    dens = M.erk_densities(shapes, 0.2)
    assert dens["tiny"] == 1.0  # would exceed 1 -> dense, eps re-solved
    # smaller layers get at least the density of larger ones (raw_l falls with size here)
    assert dens["conv1"] >= dens["conv2"]


def test_erk_formula_matches_hand_computation():
    shapes = {"a": (100, 100), "b": (10, 100)}
    dens = M.erk_densities(shapes, 0.1)
    raw = {"a": 200 / 10000, "b": 110 / 1000}
    eps = 0.1 * 11000 / (raw["a"] * 10000 + raw["b"] * 1000)
    assert dens["a"] == pytest.approx(eps * raw["a"]) and dens["b"] == pytest.approx(eps * raw["b"])


def test_erk_errors():
    with pytest.raises(ValueError, match="density"):
        M.erk_densities({"a": (2, 2)}, 0.0)
    with pytest.raises(KeyError, match="dense"):
        M.erk_densities({"a": (2, 2)}, 0.5, dense=["b"])


def test_cubic_schedule():
    f = lambda t: M.cubic_sparsity(t, 0.9, begin_step=100, end_step=1100, interval=100)
    assert f(0) == 0.0 and f(100) == 0.0
    assert f(1100) == pytest.approx(0.9) and f(5000) == pytest.approx(0.9)
    vals = [f(t) for t in range(100, 1101, 100)]
    assert all(b >= a for a, b in zip(vals, vals[1:]))
    # front-loaded: more than half of the final sparsity in the first third
    assert f(433) > 0.45
    assert f(150) == f(100)  # snapped to the last update
    assert f(200) == pytest.approx(0.9 + (0 - 0.9) * (1 - 1 / 10) ** 3)
    with pytest.raises(ValueError, match="initial_sparsity"):
        M.cubic_sparsity(0, 0.5, 0, 10, initial_sparsity=0.6)
    with pytest.raises(ValueError, match="end_step"):
        M.cubic_sparsity(0, 0.5, 10, 10)


@settings(max_examples=50, deadline=None)
@given(n=st.integers(1, 8), mult=st.integers(1, 2), groups=st.integers(1, 5), rows=st.integers(1, 5),
       seed=st.integers(0, 999), ties=st.booleans())
def test_nm_mask_oracle(n, mult, groups, rows, seed, ties):
    m = n * mult if n * mult <= 16 else n
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(rows, groups * m))
    if ties:
        w = np.round(w)
    mask = M.nm_mask(torch.tensor(w), n, m).numpy()
    for r in range(rows):
        for g in range(groups):
            blk = np.abs(w[r, g * m : (g + 1) * m])
            order = sorted(range(m), key=lambda i: (-blk[i], i))
            expect = np.zeros(m, bool)
            expect[order[:n]] = True
            np.testing.assert_array_equal(mask[r, g * m : (g + 1) * m], expect)


def test_nm_mask_other_dim_and_errors():
    w = torch.randn(8, 3)
    m = M.nm_mask(w, 2, 4, dim=0)
    assert (m.view(2, 4, 3).sum(1) == 2).all()
    with pytest.raises(ValueError, match="N <= M"):
        M.nm_mask(w, 5, 4, dim=0)
    with pytest.raises(ValueError, match="does not divide"):
        M.nm_mask(w, 2, 4, dim=1)
    with pytest.raises(ValueError, match="N >= 1"):
        M.nm_mask(w, 0, 4, dim=0)


def test_sparsity_of():
    assert M.sparsity_of(torch.tensor([True, False])) == 0.5
    assert M.sparsity_of({"a": torch.ones(3, dtype=torch.bool), "b": torch.zeros(1, dtype=torch.bool)}) == 0.25


def test_bad_inputs_name_the_argument():
    w = torch.randn(4, 8)
    with pytest.raises(ValueError, match=r"dim must be an integer in \[-2, 1\]"):
        M.nm_mask(w, 2, 4, dim=5)
    with pytest.raises(TypeError, match="sparsity must be a number"):
        M.magnitude_mask(w, "0.5")
    with pytest.raises(TypeError, match="sparsity must be a number"):
        M.magnitude_mask(w, True)
    with pytest.raises(ValueError, match="prunes .* 48 of 48 weights, i.e. all of them"):
        M.magnitude_mask(torch.randn(6, 8), 0.999)
    with pytest.raises(ValueError, match="all of them"):
        M.global_magnitude_masks({"a": torch.randn(3, 3)}, 0.99)
    with pytest.raises(ValueError, match="rate=0.99 of the 10 surviving weights"):
        M.prune_surviving(torch.randn(2, 5), 0.99)
    with pytest.raises(ValueError, match="layers with no weights .*'a'"):
        M.erk_densities({"a": (0, 3), "b": (4, 4)}, 0.5)
    with pytest.raises(TypeError, match="N and M must be integers"):
        M.nm_mask(w, 2.0, 4)
    # numpy integers are integers
    assert torch.equal(M.nm_mask(w, np.int64(2), np.int32(4)), M.nm_mask(w, 2, 4))
    assert torch.equal(M.magnitude_mask(w, np.float32(0.5)), M.magnitude_mask(w, 0.5))


def test_erk_power_and_dense_layers():
    shapes = {"a": (100, 50), "b": (50, 10), "c": (10, 10)}
    n = {k: a * b for k, (a, b) in shapes.items()}
    for power in (0.0, 0.5, 1.0):
        d = M.erk_densities(shapes, 0.3, power=power)
        assert sum(d[k] * n[k] for k in shapes) == pytest.approx(0.3 * sum(n.values()))
        if power == 0.0:  # raw = 1 for every layer: uniform density
            assert d["a"] == pytest.approx(0.3) and d["c"] == pytest.approx(0.3)
        else:  # hand computation: d_l = eps * ((rows + cols) / (rows * cols)) ** power
            raw = {k: ((a + b) / (a * b)) ** power for k, (a, b) in shapes.items()}
            assert d["a"] / d["b"] == pytest.approx(raw["a"] / raw["b"])
    d = M.erk_densities(shapes, 0.3, dense=["c"])
    assert d["c"] == 1.0
    assert sum(d[k] * n[k] for k in shapes) == pytest.approx(0.3 * sum(n.values()))
    with pytest.raises(ValueError, match="too low to keep"):
        M.erk_densities({"a": (10, 10), "b": (100, 100)}, 0.001, dense=["a"])


# ---------------------------------------------------------------------- layer collapse


def _collapse_oracle(ws):
    """Brute force with numpy: prune the pooled weights one at a time in the stable ascending order
    of |w| and stop at the first tensor left with none."""
    names = list(ws)
    flat = np.concatenate([ws[n].abs().flatten().double().numpy() for n in names])
    owner = np.concatenate([np.full(ws[n].numel(), i) for i, n in enumerate(names)])
    left = np.array([ws[n].numel() for n in names])
    for k, j in enumerate(np.argsort(flat, kind="stable"), start=1):
        left[owner[j]] -= 1
        if left[owner[j]] == 0:
            return names[owner[j]], k
    raise AssertionError("unreachable")


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(1, 12), min_size=1, max_size=4), seed=st.integers(0, 10_000),
       ties=st.booleans())
def test_collapse_point_matches_brute_force_and_global_masks(sizes, seed, ties):
    g = torch.Generator().manual_seed(seed)
    ws = {f"w{i}": (torch.randint(-3, 4, (n,), generator=g).float() if ties else torch.randn(n, generator=g))
          for i, n in enumerate(sizes)}
    name, k = M.collapse_point(ws)
    assert (name, k) == _collapse_oracle(ws)
    total = sum(sizes)
    # one fewer pruned leaves every tensor a weight; k pruned empties `name` (exact counts: s = k / total)
    if k - 1 > 0:
        before = M.global_magnitude_masks(ws, (k - 1) / total, allow_empty_layers=True)
        assert all(m.any() for m in before.values())
    if k < total:
        at = M.global_magnitude_masks(ws, k / total, allow_empty_layers=True)
        assert not at[name].any()


def test_collapse_point_refuses_bad_input():
    with pytest.raises(ValueError, match="weights is empty"):
        M.collapse_point({})
    with pytest.raises(ValueError, match="no entries"):
        M.collapse_point({"a": torch.randn(3), "b": torch.randn(0)})
