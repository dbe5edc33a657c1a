"""The interval rule that decides every claim: its bounds against scipy's t interval re-derived, a Monte
Carlo check of its calibration, each direction coming out, "every part", exact rules, pooling over base
seeds, and the compatibility check CI runs after nbval fed a contradiction."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from sparsekit.course import compare
from sparsekit.verdicts import (
    ALPHA,
    Decision,
    bounds,
    contradicts,
    decide,
    decide_every,
    decide_within,
    exact,
    not_tested,
    pool,
)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.floats(-100, 100, allow_nan=False), min_size=2, max_size=12))
def test_bounds_are_the_one_sided_t_bounds(values):
    v = np.array(values)
    m, lo, hi = bounds(v)
    half = stats.t.ppf(0.95, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
    assert m == pytest.approx(v.mean(), abs=1e-9)
    assert lo == pytest.approx(v.mean() - half, abs=1e-9) and hi == pytest.approx(v.mean() + half, abs=1e-9)
    # the same as scipy's two-sided 90% interval, whose ends are the two one-sided 95% bounds
    if v.std(ddof=1) > 0:
        lo2, hi2 = stats.t.interval(0.90, len(v) - 1, loc=v.mean(), scale=stats.sem(v))
        assert lo == pytest.approx(lo2, rel=1e-6, abs=1e-9) and hi == pytest.approx(hi2, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("k", [3, 5])
@pytest.mark.parametrize("direction", ["at least", "at most"])
def test_a_true_effect_on_the_bar_is_decided_at_most_alpha_of_the_time(k, direction):
    """Monte Carlo calibration: normal data with its true mean exactly on the bar."""
    rng = np.random.default_rng(1234 + k)
    trials = 20_000
    verdicts = [decide(rng.normal(1.0, 2.0, size=k), 1.0, direction).verdict for _ in range(trials)]
    se = math.sqrt(ALPHA * (1 - ALPHA) / trials)
    for v in ("reproduced", "not reproduced"):
        share = verdicts.count(v) / trials
        assert share <= ALPHA + 3 * se, f"{v} on the bar {share:.4f} of the time (K={k}, {direction})"
        assert share >= ALPHA - 3 * se  # exactly alpha: the rule is not needlessly timid either


@pytest.mark.parametrize("k", [3, 5])
def test_an_effect_one_full_interval_away_comes_out_its_way(k):
    """With the true mean two half-widths of the 95% bound away from the bar (about one full interval),
    the verdict goes its direction most of the time, and the opposite one almost never."""
    rng = np.random.default_rng(99 + k)
    sigma = 1.0
    width = 2 * stats.t.ppf(0.95, k - 1) * sigma / math.sqrt(k)
    for sign, want, never in ((+1, "reproduced", "not reproduced"), (-1, "not reproduced", "reproduced")):
        vs = [decide(rng.normal(sign * width, sigma, size=k), 0.0).verdict for _ in range(4000)]
        assert vs.count(want) / 4000 > 0.5
        assert vs.count(never) / 4000 < 0.001
        at_most = [decide(rng.normal(-sign * width, sigma, size=k), 0.0, "at most").verdict for _ in range(2000)]
        assert at_most.count(want) / 2000 > 0.5


def test_each_verdict_can_come_out_and_the_line_shows_the_numbers():
    assert decide([3.0, 3.2, 2.9], 0.0).verdict == "reproduced"
    assert decide([3.0, -3.2, 2.9], 0.0).verdict == "inconclusive"
    assert decide([-1.0, -1.1, -0.9], 0.0).verdict == "not reproduced"
    assert decide([0.9, 1.0, 1.1], 2.0, "at most").verdict == "reproduced"
    assert decide([2.9, 3.0, 3.1], 2.0, "at most").verdict == "not reproduced"
    d = decide([-0.87, -0.75, -0.99], -1.0, unit="pts")
    assert d.numbers() == f"-0.87 [{d.lower:.3g}, {d.upper:.3g}] pts vs bar -1 (K=3)"
    assert decide([2.0, 2.0, 2.0], 2.0).verdict == "reproduced"  # no spread: L = U = the mean, on the bar


def test_bad_input_is_refused_with_the_argument_named():
    with pytest.raises(ValueError, match="at least 2 paired"):
        decide([1.0], 0.0)
    with pytest.raises(ValueError, match="direction must be one of"):
        decide([1.0, 2.0], 0.0, "above")
    with pytest.raises(ValueError, match="finite"):
        decide([1.0, float("nan")], 0.0)
    with pytest.raises(ValueError, match="alpha must be in"):
        decide([1.0, 2.0], 0.0, alpha=0.7)
    with pytest.raises(TypeError, match="True or False"):
        exact(1)
    with pytest.raises(ValueError, match="say why"):
        not_tested("")


def test_every_part_must_clear():
    yes, maybe, no = decide([1.0, 1.1, 0.9], 0.0), decide([1.0, -1.0, 0.5], 0.0), decide([-1.0, -1.1, -0.9], 0.0)
    assert decide_every({"a": yes, "b": yes}).verdict == "reproduced"
    assert decide_every({"a": yes, "b": maybe}).verdict == "inconclusive"
    assert decide_every({"a": maybe, "b": no}).verdict == "not reproduced"
    assert decide_every({"a": yes, "b": not_tested("no GPU")}).verdict == "not tested"
    assert decide_every({"a": yes, "b": no}).numbers().startswith("a 1 [")


def test_decisions_round_trip_through_json():
    d = decide_every({"2:4": decide([1.0, 2.0, 3.0], 0.5), "1:4": exact(True, 3, 3)})
    assert Decision.from_dict(json.loads(json.dumps(d.to_dict()))) == d


def test_pooling_decides_once_on_the_distinct_seeds():
    a, b = decide([0.3, 0.5, 0.1], 0.0), decide([0.4, 0.2, 0.35], 0.0)
    pooled = pool([a, b])
    assert pooled.k == 6 and pooled.values == a.values + b.values
    assert pooled == decide(list(a.values + b.values), 0.0)
    every = pool([decide_every({"x": a}), decide_every({"x": b})])
    assert dict(every.parts)["x"].k == 6
    assert pool([exact(True), exact(False)]).verdict == "not reproduced"
    assert pool([exact(True), exact(True), not_tested("quick")]).verdict == "reproduced"
    with pytest.raises(ValueError, match="different bars"):
        pool([a, decide([1.0, 2.0], 1.0)])


def test_the_compatibility_rule():
    assert contradicts("reproduced", "not reproduced") and contradicts("not reproduced", "reproduced")
    for a in ("reproduced", "inconclusive", "not reproduced", "not tested"):
        assert not contradicts(a, a)
        assert not contradicts(a, "inconclusive") and not contradicts("not tested", a)


def results(nb, **verdicts):
    return {"notebook": nb, "claims": [{"id": k, "verdict": v.replace("_", " "), "timed": k.startswith("T")}
                                       for k, v in verdicts.items()]}


def test_ci_check_fails_only_on_a_contradiction(tmp_path, capsys):
    committed, fresh = tmp_path / "committed", tmp_path / "fresh"
    committed.mkdir()
    fresh.mkdir()
    (committed / "01_a.json").write_text(json.dumps(results("01_a", A1="reproduced", A2="inconclusive",
                                                            T1="reproduced")))
    (fresh / "01_a.json").write_text(json.dumps(results("01_a", A1="inconclusive", A2="not_reproduced",
                                                        T1="not_reproduced")))
    assert compare.main([str(fresh), str(committed)]) == 0  # moved, but nothing contradicts (T1 is timed)
    out = capsys.readouterr().out
    assert "01_a A1: reproduced -> inconclusive" in out and "01_a T1: reproduced -> not reproduced (timed" in out
    (fresh / "01_a.json").write_text(json.dumps(results("01_a", A1="not_reproduced", A2="inconclusive",
                                                        T1="reproduced")))
    assert compare.main([str(fresh), str(committed)]) == 1  # fed a contradiction
    assert "CONTRADICTION: 01_a A1: reproduced -> not reproduced" in capsys.readouterr().err
    (fresh / "01_a.json").unlink()
    assert compare.main([str(fresh), str(committed)]) == 1  # nothing fresh to compare: the check fails


def test_equivalence_claims_by_two_one_sided_tests():
    inside = decide_within([0.1, -0.2, 0.05, 0.0], -1.0, 1.0)
    assert inside.verdict == "reproduced" and inside.numbers() == "-0.0125 [-0.167, 0.142] within [-1, 1] (K=4)"
    assert decide_within([3.0, 2.5, 2.8], -1.0, 1.0).verdict == "not reproduced"  # wholly above the band
    assert decide_within([-3.0, -2.5, -2.8], -1.0, 1.0).verdict == "not reproduced"  # wholly below
    assert decide_within([0.9, -0.8, 2.0], -1.0, 1.0).verdict == "inconclusive"
    with pytest.raises(ValueError, match="low < high"):
        decide_within([0.0, 1.0], 1.0, 1.0)
    # TOST calibration: a true difference exactly on an end of the band is called equivalent at most alpha
    rng = np.random.default_rng(7)
    calls = [decide_within(rng.normal(1.0, 0.5, size=5), -1.0, 1.0).verdict for _ in range(20_000)]
    assert calls.count("reproduced") / 20_000 <= ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / 20_000)
    # pooled over base seeds, decided once on all the values, and printed as one band
    a, b = decide_within([0.1, 0.3, -0.2], -1, 1), decide_within([0.0, 0.2, 0.1], -1, 1)
    pooled = pool([a, b])
    assert pooled == decide_within([0.1, 0.3, -0.2, 0.0, 0.2, 0.1], -1, 1)
    assert pooled.numbers().endswith("within [-1, 1] (K=6)")
    assert Decision.from_dict(json.loads(json.dumps(pooled.to_dict()))) == pooled
