import math

import numpy as np
import pytest
import scipy.stats as st
from hypothesis import given, settings
from hypothesis import strategies as hs

from sparsekit import sdr
from sparsekit.sparsey import CSA_DEFAULTS, NearestNeighbourMemory, SparseyMemory, ops_per_call


def test_worked_values_of_the_paper():
    # Ahmad & Hawkins (arXiv 1601.00720) worked values, recomputed exactly in our notes
    assert sdr.p_false_match(300, 64, 24, 12) == pytest.approx(1.0946e-3, rel=1e-4)
    assert sdr.p_false_match(10_000, 300, 24, 12) == pytest.approx(8.3758e-13, rel=1e-4)
    for m, value in ((2, 0.0474), (3, 0.502), (4, 0.899)):
        assert sdr.p_false_match_union(1000, 200, 25, 15, m) == pytest.approx(value, abs=5e-4)
    assert sdr.expected_union_size(1000, 25, 2) == 49


@settings(max_examples=60, deadline=None)
@given(n=hs.integers(1, 400), a=hs.integers(0, 400), s=hs.integers(0, 400), theta=hs.integers(0, 30))
def test_closed_form_matches_scipy_hypergeometric(n, a, s, theta):
    a, s = min(a, n), min(s, n)
    ours = sdr.p_false_match(n, a, s, theta)
    ref = st.hypergeom(M=n, n=s, N=a).sf(theta - 1)
    assert ours == pytest.approx(ref, rel=1e-9, abs=1e-15)


def test_log10_for_tiny_probabilities():
    lp = sdr.log10_p_false_match(10_000, 300, 24, 12)
    assert lp == pytest.approx(math.log10(8.3758e-13), abs=1e-4)
    tiny = sdr.log10_p_false_match(10**6, 300, 24, 24)
    assert tiny < -80  # exact, no underflow to -inf
    assert sdr.log10_p_false_match(100, 10, 5, 6) == -math.inf  # theta > s: impossible


def test_union_exact_matches_union_size_law():
    d = sdr.union_size_distribution(100, 10, 3)
    assert d.sum() == pytest.approx(1.0)
    assert (np.arange(101) * d).sum() == pytest.approx(100 * (1 - (1 - 0.1) ** 3))
    # m = 1: the union is the segment itself
    assert sdr.p_false_match_union_exact(200, 30, 12, 5, 1) == pytest.approx(sdr.p_false_match(200, 30, 12, 5))


def test_false_negative_closed_form():
    # v = 0: nothing moved, the overlap is s >= theta: never a miss
    assert sdr.p_false_negative(40, 20, 10, 0) == 0.0
    ref = st.hypergeom(M=40, n=20, N=40 - 15).cdf(9)
    assert sdr.p_false_negative(40, 20, 10, 15) == pytest.approx(ref, rel=1e-9)


def test_monte_carlo_agrees_with_closed_form():
    for exact in (False, True):
        est = sdr.mc_false_match(200, 40, 20, 8, trials=100_000, seed=1, exact_law=exact)
        assert est.agrees(sdr.p_false_match(200, 40, 20, 8), sigmas=4)
    est = sdr.mc_false_match_union(300, 60, 15, 7, 3, trials=50_000, seed=2)
    assert est.agrees(sdr.p_false_match_union_exact(300, 60, 15, 7, 3), sigmas=4)


def test_hypergeometric_sampler_law():
    import numba

    @numba.njit
    def draw(k):
        np.random.seed(5)
        out = np.empty(k, dtype=np.int64)
        for i in range(k):
            out[i] = sdr.sample_hypergeometric(50, 20, 15)
        return out

    x = draw(40_000)
    counts = np.bincount(x, minlength=16)
    expected = st.hypergeom(M=50, n=20, N=15).pmf(np.arange(16)) * len(x)
    keep = expected > 5
    chi2 = ((counts[keep] - expected[keep]) ** 2 / expected[keep]).sum()
    assert st.chi2(keep.sum() - 1).sf(chi2) > 1e-4


@settings(max_examples=40, deadline=None)
@given(n=hs.integers(1, 300), a=hs.integers(0, 300), seed=hs.integers(0, 10_000))
def test_pack_overlap_union_oracle(n, a, seed):
    a = min(a, n)
    rng = np.random.default_rng(seed)
    x, y = sdr.random_sdr(n, a, rng), sdr.random_sdr(n, a, rng)
    px, py = sdr.pack(x, n), sdr.pack(y, n)
    np.testing.assert_array_equal(sdr.unpack(px, n), x)
    assert sdr.overlap(px, py) == len(np.intersect1d(x, y))
    np.testing.assert_array_equal(sdr.unpack(sdr.union(px, py), n), np.union1d(x, y))
    stored = np.stack([px, py, sdr.union(px, py)])
    np.testing.assert_array_equal(sdr.overlaps(px, stored), [a, len(np.intersect1d(x, y)), a])


def test_add_noise_keeps_activity_and_moves_v():
    rng = np.random.default_rng(0)
    x = sdr.random_sdr(500, 40, rng)
    y = sdr.add_noise(x, 500, 10, rng)
    assert len(y) == 40 and len(np.intersect1d(x, y)) == 30
    with pytest.raises(ValueError, match="v must be"):
        sdr.add_noise(x, 500, 41, rng)


def test_input_errors():
    with pytest.raises(ValueError, match="0 <= a <= n"):
        sdr.random_sdr(10, 11, np.random.default_rng(0))
    with pytest.raises(ValueError, match="indices must lie"):
        sdr.pack(np.array([5, 12]), 10)
    with pytest.raises(ValueError, match="differ in length"):
        sdr.overlap(np.zeros(2, np.uint64), np.zeros(3, np.uint64))
    with pytest.raises(ValueError, match="m"):
        sdr.p_false_match_union(100, 10, 5, 3, 0)


def test_sparsey_familiar_inputs_reuse_codes_and_novel_ones_do_not():
    rng = np.random.default_rng(0)
    mem = SparseyMemory(num_inputs=200, q=20, k=10, seed=1)
    x = np.zeros(200, bool)
    x[rng.choice(200, 30, replace=False)] = True
    code = mem.store(x)
    again = mem.code(x)
    assert len(np.intersect1d(code, again)) >= 18  # familiar: the stored code comes back
    other = np.zeros(200, bool)
    other[np.setdiff1d(np.arange(200), np.flatnonzero(x))[:30]] = True
    novel = mem.code(other)
    assert len(np.intersect1d(code, novel)) <= 8  # novel: about chance, q / k = 2
    assert mem.familiarity(mem.match(x)) == pytest.approx(1.0)


def test_sparsey_classifier_and_errors():
    mem = SparseyMemory(num_inputs=20, q=8, k=4, num_classes=2, seed=0)
    a = np.zeros(20, bool)
    a[:6] = True
    b = np.zeros(20, bool)
    b[10:16] = True
    mem.store(a, 0)
    mem.store(b, 1)
    assert mem.classify(a) == 0 and mem.classify(b) == 1
    with pytest.raises(ValueError, match="length 20"):
        mem.code(np.zeros(5, bool))
    with pytest.raises(ValueError, match="label"):
        mem.store(a, 5)


def test_monte_carlo_is_seeded_by_its_argument_and_leaves_numpy_alone():
    np.random.seed(5)
    expected_next = np.random.random()
    np.random.seed(5)
    a = sdr.mc_false_match(100, 10, 10, 3, trials=2000, seed=1)
    assert np.random.random() == expected_next  # NumPy's global stream is untouched
    assert sdr.mc_false_match(100, 10, 10, 3, trials=2000, seed=1).p == a.p  # same seed, same estimate
    assert sdr.mc_false_match(100, 10, 10, 3, trials=2000, seed=2).p != a.p


def test_csa_eta_and_win_probabilities_follow_the_equations():
    mem = SparseyMemory(num_inputs=10, q=4, k=5)
    assert mem.eta(0.0) == mem.eta(CSA_DEFAULTS["g_min"]) == 1.0  # novel: eta = 1
    assert mem.eta(1.0) == pytest.approx(1 + CSA_DEFAULTS["chi"] * 5)
    gs = np.linspace(0, 1, 21)
    assert np.all(np.diff([mem.eta(g) for g in gs]) >= 0)  # eta rises with G
    rng = np.random.default_rng(0)
    v = rng.random((4, 5)) * 0.05  # nothing matches: G below g_min -> uniform draw
    np.testing.assert_allclose(mem.win_probabilities(v), np.full((4, 5), 0.2))
    v = rng.random((4, 5)) * 0.2
    v[:, 3] = 1.0  # every CM has one perfectly matching cell: G = 1
    p = mem.win_probabilities(v)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert (p[:, 3] > 0.99).all()
    # the oracle: the formula written out
    eta = mem.eta(1.0)
    mu = (eta - 1) / (1 + 1e-8 * np.exp(-32 * (v - 1))) + 1
    np.testing.assert_allclose(p, mu / mu.sum(axis=1, keepdims=True))


def test_softmax_ablation_is_nearly_random_at_moderate_familiarity_with_many_cells():
    mem = SparseyMemory(num_inputs=10, q=3, k=200, selection="softmax", v_exponent=1)
    v = np.full((3, 200), 0.3)
    v[:, 0] = 0.7  # G = 0.7: T = 0.43; the best cell gets e^(0.4/0.43) / (199 + ...) ~ 1%
    assert mem.win_probabilities(v)[:, 0].max() < 0.02
    csa = SparseyMemory(num_inputs=10, q=3, k=200, v_exponent=1)
    assert csa.win_probabilities(v)[:, 0].min() > mem.win_probabilities(v)[:, 0].max()


def test_v_exponent_sharpens_the_match():
    x = np.zeros(20, bool)
    x[:10] = True
    sharp, flat = SparseyMemory(num_inputs=20, q=2, k=3), SparseyMemory(num_inputs=20, q=2, k=3, v_exponent=1)
    for m in (sharp, flat):
        m.weights[:5, 0] = 1  # cell 0 has weights on half of x's bits
    assert flat.match(x)[0, 0] == pytest.approx(0.5)
    assert sharp.match(x)[0, 0] == pytest.approx(0.5**10)


def test_ops_are_counted_where_the_work_is_done():
    rng = np.random.default_rng(1)
    items = [np.isin(np.arange(50), rng.choice(50, 8, replace=False)) for _ in range(300)]
    mem, nn_mem = SparseyMemory(num_inputs=50, q=4, k=6), NearestNeighbourMemory(50)
    assert ops_per_call(mem, "code", items[:5]) == 8 * 24 + 24 + 4  # |x| Q K reads, Q K updates, Q draws
    assert ops_per_call(mem, "store", items[:5]) == 8 * 24 + 24 + 4 + 8 * 4  # + |x| Q writes
    for x in items[:10]:
        nn_mem.store(x)
    few = ops_per_call(nn_mem, "retrieve", items[:3])
    for x in items[10:]:
        nn_mem.store(x)
    many = ops_per_call(nn_mem, "retrieve", items[:3])
    assert many / few == pytest.approx(30)  # the S6 rule (ratio <= 1.05) says no to this memory
    assert not many / few <= 1.05
    with pytest.raises(ValueError, match="items is empty"):
        ops_per_call(mem, "store", [])
    with pytest.raises(ValueError, match="no method 'recall'"):
        ops_per_call(mem, "recall", items[:1])


def test_purity_and_argument_errors():
    mem = SparseyMemory(num_inputs=6, q=2, k=3, num_classes=2, seed=0)
    assert np.isnan(mem.purity())
    a = np.array([1, 1, 1, 0, 0, 0], bool)
    mem.store(a, 0)
    assert mem.purity() == 1.0
    mem.class_weights[:] = 1  # every cell joined one item of each class
    assert mem.purity() == 0.5
    for kw, msg in ((dict(selection="greedy"), "selection must be"), (dict(g_min=1.0), "g_min"),
                    (dict(v_exponent=0), "v_exponent"), (dict(chi=-1), "chi"), (dict(num_classes=-1), "num_classes")):
        with pytest.raises(ValueError, match=msg):
            SparseyMemory(num_inputs=6, **kw)
    with pytest.raises(ValueError, match="nothing stored"):
        NearestNeighbourMemory(6).retrieve(a)
