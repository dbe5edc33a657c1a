"""The graders accept the worked solutions, refuse typical mistakes, and never print the answer."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from sparsekit import masks as M
from sparsekit.course import exercises as E
from sparsekit.train import FitResult
from sparsekit.verdicts import decide

ROOT = Path(__file__).resolve().parent.parent


def solutions(stem: str):
    path = ROOT / "notebooks" / "solutions" / f"{stem}.py"
    spec = importlib.util.spec_from_file_location(f"solutions_{stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_worked_solutions_pass():
    s = solutions("00_sparsity_tour")
    for id, answer in [("00.1", s.answer_1), ("00.2", s.my_magnitude_mask), ("00.3", s.my_global_masks),
                       ("00.4", s.my_cubic), ("00.5", s.my_verdict)]:
        assert E.grade(id, answer) == (True, "correct"), (id, E.grade(id, answer))
    s = solutions("10_llm_pruning")
    for id, answer in [("10.1", s.answer_1), ("10.2", s.my_wanda_mask), ("10.3", s.my_obs_column)]:
        assert E.grade(id, answer) == (True, "correct"), (id, E.grade(id, answer))
    s = solutions("08_sparse_training")
    for id, answer in [("08.1", s.my_erk), ("08.2", s.my_rigl_grow), ("08.3", s.answer_3)]:
        assert E.grade(id, answer) == (True, "correct"), (id, E.grade(id, answer))
    s = solutions("01_lottery_tickets")
    for id, answer in [("01.1", s.answer_1), ("01.2", s.my_imp_round), ("01.3", s.my_early_stop),
                       ("01.4", s.answer_4), ("01.5", s.answer_5), ("01.6", s.answer_6)]:
        assert E.grade(id, answer) == (True, "correct"), (id, E.grade(id, answer))


def test_unanswered_and_unknown():
    assert E.grade("00.1", None) == (None, "not answered yet")
    with pytest.raises(KeyError, match="unknown exercise '99.9'; known: 00.1"):
        E.grade("99.9", 1)


def test_wrong_values_get_a_hint_without_the_answer(capsys):
    truth = int(M.magnitude_mask(torch.randn(7, 7), 0.3).sum())
    for wrong in (truth + 1, truth - 1, round(0.3 * 49), 0, 49):
        ok = E.check("00.1", wrong)
        out = capsys.readouterr().out
        assert ok is False and "not yet" in out
        assert str(truth) not in out.replace("7 x 7", "").replace("0.3", "")
    # the right value in any reasonable type is accepted; a wrong type is named in plain words
    import numpy as np
    for same in (float(truth), np.int64(truth), torch.tensor(truth)):
        assert E.grade("00.1", same) == (True, "correct")
    assert "not whole" in E.grade("00.1", truth + 0.5)[1]
    for wrong, words in (("34", "text"), (lambda: 34, "a function"), ([34], "a list")):
        ok, text = E.grade("00.1", wrong)
        assert ok is False and words in text and "_" not in text.split("got", 1)[1], text


def test_the_library_function_is_refused_however_it_is_reached():
    alias = M.magnitude_mask

    def by_alias(w, s):
        return alias(w, s)

    def helper(w, s):
        return M.magnitude_mask(w, s)

    def by_helper(w, s):
        return helper(w, s)

    def by_attribute(w, s):
        return M.magnitude_mask(w, s)

    for fn in (by_alias, by_helper, by_attribute, M.magnitude_mask):
        ok, text = E.grade("00.2", fn)
        assert ok is False and "write it yourself" in text and "magnitude_mask" in text, fn


def wrong_magnitude_masks():
    def signed(w, s):  # keeps the largest signed values
        n = round(s * w.numel())
        keep = torch.ones(w.numel(), dtype=torch.bool)
        keep[torch.argsort(w.flatten(), stable=True)[:n]] = False
        return keep.view(w.shape)

    def floor_count(w, s):  # int() instead of round()
        n = int(s * w.numel())
        keep = torch.ones(w.numel(), dtype=torch.bool)
        keep[torch.argsort(w.abs().flatten(), stable=True)[:n]] = False
        return keep.view(w.shape)

    def ties_reversed(w, s):
        n = round(s * w.numel())
        keep = torch.ones(w.numel(), dtype=torch.bool)
        order = torch.argsort(w.abs().flatten().flip(0), stable=True)
        keep[w.numel() - 1 - order[:n]] = False
        return keep.view(w.shape)

    return {"signed": signed, "floor": floor_count, "ties": ties_reversed,
            "float mask": lambda w, s: M.magnitude_mask(w, s).float(), "crash": lambda w, s: w.nope,
            "not callable": 3}


@pytest.mark.parametrize("name", list(wrong_magnitude_masks()))
def test_wrong_magnitude_masks_fail(name):
    ok, hint = E.grade("00.2", wrong_magnitude_masks()[name])
    assert ok is False and hint.startswith("not yet - ")


def test_layerwise_is_not_global():
    own = solutions("00_sparsity_tour").my_magnitude_mask
    layerwise = lambda ws, s: {k: own(w, s) for k, w in ws.items()}
    ok, hint = E.grade("00.3", layerwise)
    assert ok is False and "layer-wise" in hint


@pytest.mark.parametrize("id, copy", [
    ("00.2", lambda w, s: M.magnitude_mask(w, s)),
    ("00.3", lambda ws, s: M.global_magnitude_masks(ws, s)),
    ("00.5", lambda d, bar: (decide(d, bar).lower, decide(d, bar).upper, decide(d, bar).verdict)),
])
def test_calling_the_library_function_is_not_an_answer(id, copy):
    ok, hint = E.grade(id, copy)
    assert ok is False and "write it yourself" in hint


def test_wrong_verdict_rules_fail():
    import math
    import statistics

    def one_sd(d, bar):  # the second edition's rule: mean -/+ one standard deviation
        m, s = statistics.mean(d), statistics.stdev(d)
        return m - s, m + s, "reproduced" if m - s >= bar else "not reproduced" if m + s < bar else "inconclusive"

    def binary(d, bar):  # right bounds, but no "inconclusive"
        from scipy import stats
        m, s = statistics.mean(d), statistics.stdev(d)
        h = stats.t.ppf(0.95, len(d) - 1) * s / math.sqrt(len(d))
        return m - h, m + h, "reproduced" if m - h >= bar else "not reproduced"

    for fn, hint in ((one_sd, "another width"), (binary, "verdict is not")):
        ok, text = E.grade("00.5", fn)
        assert ok is False and hint in text


def test_wrong_cubic_schedules_fail():
    linear = lambda t, s_f, t0, n, dt: s_f * min(max((t - t0) / (n * dt), 0), 1)
    unsnapped = lambda t, s_f, t0, n, dt: s_f * (1 - (1 - min(max((t - t0) / (n * dt), 0), 1)) ** 3)
    for fn in (linear, unsnapped):
        assert E.grade("00.4", fn)[0] is False


def test_value_exercises_of_01_to_07():
    for stem, id in [("01_lottery_tickets", "01.1"), ("02_rnn_pruning", "02.1"), ("03_nm_sparsity", "03.1"),
                     ("04_sdr_memory", "04.1"), ("05_lazy_neurons", "05.1")]:
        assert E.grade(id, solutions(stem).answer_1) == (True, "correct"), id
    assert E.grade("06.1", solutions("06_sparse_dynamics_mpc").answer_1(5), horizon=5) == (True, "correct")
    s7 = solutions("07_sparse_kernels")
    assert E.grade("07.1", s7.answer_1) == (True, "correct")
    for intensity, ridge in ((2.0, 10.0), (50.0, 10.0)):
        assert E.grade("07.2", s7.answer_2(intensity, ridge), intensity=intensity, ridge=ridge) == (True, "correct")
    assert E.grade("07.3", s7.my_byte_bound) == (True, "correct")
    assert E.grade("07.4", s7.my_crossover) == (True, "correct")
    s6 = solutions("06_sparse_dynamics_mpc")
    assert E.grade("06.2", s6.my_bounds) == (True, "correct")
    assert E.grade("06.3", s6.my_factor) == (True, "correct")
    s2 = solutions("02_rnn_pruning")
    assert E.grade("02.2", s2.my_thesis_masks) == (True, "correct")
    assert E.grade("02.3", s2.my_gru_step) == (True, "correct")
    s5 = solutions("05_lazy_neurons")
    for id, fn in (("05.2", s5.my_nonzero_percent), ("05.3", s5.my_block_macs), ("05.4", s5.my_ece)):
        assert E.grade(id, fn) == (True, "correct"), id


def _bound_without_activations(o, k, b, s, ib=2):
    return 4 * o * k / ((1 - s) * o * k * (4 + ib) + 4 * (o + 1))


def _bound_with_sparsity_as_density(o, k, b, s, ib=2):
    act = 4 * (k * b + o * b)
    return (4 * o * k + act) / (s * o * k * (4 + ib) + 4 * (o + 1) + act)


def _per_matrix_masks(weights, percent):  # the thesis's text: a threshold per layer (its code pools)
    return {k: w.abs() >= float(np.percentile(w.abs().numpy(), percent)) for k, w in weights.items()}


def _strict_masks(weights, percent):  # |w| > threshold drops the kept weight at 100%
    tau = float(np.percentile(np.concatenate([w.abs().flatten().numpy() for w in weights.values()]), percent))
    return {k: w.abs() > tau for k, w in weights.items()}


def _gru_reset_on_state(x, h, w_ih, w_hh, b_ih, b_hh):  # the reset gate applied to h, not to W_hn h + b_hn
    (i_r, i_z, i_n), (h_r, h_z, _) = (x @ w_ih.T + b_ih).chunk(3, 1), (h @ w_hh.T + b_hh).chunk(3, 1)
    r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + (r * h) @ w_hh.chunk(3, 0)[2].T + b_hh.chunk(3)[2])
    return (1 - z) * n + z * h


def _first_above_one(sparsities, speedups):  # ignores dips and order
    return next((s for s, v in zip(sparsities, speedups) if v > 1), None)


def _ece_without_weights(probs, labels, bins):  # the mean gap over bins, not weighted by their size
    from sparsekit.metrics import reliability_bins
    bs = reliability_bins(probs, labels, bins)
    return sum(abs(b.confidence - b.accuracy) for b in bs) / len(bs)


@pytest.mark.parametrize("id,wrong,hint", [
    ("05.2", lambda a: float((a > 0).float().mean()), "percentage"),
    ("05.2", lambda a: 100.0 * float((a != 0).float().mean()), "> 0"),
    ("05.3", lambda t, d, f, nz: nz * 2 * t * d * f, "stays dense"),
    ("05.3", lambda t, d, f, nz: 2 * t * d * f, "non-zero activations"),
    ("05.4", _ece_without_weights, "bin size"), ("05.4", 0.1, "function"),
    ("06.2", lambda w, b, lo, hi: (float(w @ lo + b), float(w @ hi + b)), "negative weight"),
    ("06.2", lambda w, b, lo, hi: float(w @ lo + b), "two numbers"),
    ("06.3", lambda k, t: float(np.polyfit(k, np.log10(t), 1)[0]), "10 to that power"),
    ("02.2", _per_matrix_masks, "pools"), ("02.2", _strict_masks, ">= threshold"), ("02.2", 3, "function"),
    ("02.3", _gru_reset_on_state, "reset gate acts"), ("02.3", lambda x, h, *w: h, "differs"),
])
def test_code_exercises_of_02_05_and_06_catch_typical_mistakes(id, wrong, hint):
    ok, text = E.grade(id, wrong)
    assert ok is False and hint in text, text


@pytest.mark.parametrize("id,wrong,hint", [
    ("07.3", _bound_without_activations, "input"), ("07.3", _bound_with_sparsity_as_density, "density of 1 - sparsity"),
    ("07.3", lambda o, k, b, s, ib=2: 1 / (1 - s), "count dense bytes"), ("07.3", 6.7, "function"),
    ("07.4", _first_above_one, "every"), ("07.4", lambda sp, su: min(sp), "lowest sparsity"),
    ("07.4", lambda sp, su: next((s for s, v in sorted(zip(sp, su)) if v >= 1), None), "every"),
])
def test_code_exercises_of_07_catch_typical_mistakes(id, wrong, hint):
    ok, text = E.grade(id, wrong)
    assert ok is False and hint in text, text


@pytest.mark.parametrize("id,wrong,context,hint", [
    ("01.1", 0.0, {}, "compound"), ("01.1", 0.3, {}, "density after r rounds"),
    ("01.4", 13, {}, "one round short"), ("01.4", 5, {}, "compound"), ("01.4", 14.5, {}, "whole number"),
    ("01.5", (-846.8, 130.2, "inconclusive"), {}, "re-initialised minus ticket"),
    ("01.5", (-130.2, 846.8, "reproduced"), {}, "compare L and U with the bar"),
    ("01.5", (83.1, 633.5, "reproduced"), {}, "Student's t, not the normal"),
    ("01.5", (358.3, 358.3, "reproduced"), {}, "wrong width"), ("01.5", 358.3, {}, "tuple"),
    ("01.6", "b", {}, "whether the mask matters"), ("01.6", "a", {}, "differ in the mask"), ("01.6", "C", {}, "letter"),
    ("02.1", 2500, {}, "every gate"), ("02.1", 7500, {}, "GRU"),
    ("03.1", 12, {}, "ordered pairs"), ("03.1", 16, {}, "exactly 2"),
    ("04.1", 0.02, {}, "more than one cell"), ("05.1", 50, {}, "fraction, not a percentage"),
    ("06.1", 8, {"horizon": 5}, "unrolled"), ("06.1", 80, {"horizon": 5}, "not two"),
    ("07.1", 6.7, {}, "values alone"), ("07.1", 13.4, {}, "2 bytes"), ("07.1", 9.6, {}, "MiB"),
    ("07.2", "compute", {"intensity": 2.0, "ridge": 10.0}, "ridge point"),
    ("07.2", "fast", {"intensity": 2.0, "ridge": 10.0}, "answer"),
])
def test_value_exercises_give_hints_not_answers(id, wrong, context, hint):
    ok, text = E.grade(id, wrong, **context)
    assert ok is False and hint in text


def _prune_all_weights(weights, masks, rates):  # ranks every weight, not only the survivors
    out = {}
    for n, w in weights.items():
        keep = round((1 - rates[n]) * int(masks[n].sum()))
        order = torch.argsort(w.abs().flatten(), descending=True, stable=True)
        flat = torch.zeros(w.numel(), dtype=torch.bool)
        flat[order[:keep]] = True
        out[n] = flat.view(w.shape)
    return out


@pytest.mark.parametrize("wrong,hint", [
    (lambda w, m, r: {n: m[n].clone() for n in w}, "surviving weights"),
    (lambda w, m, r: {n: M.magnitude_mask(w[n], r[n]) for n in w}, "write it yourself"),
    (lambda w, m, r: {n: M.prune_surviving(w[n], r[n], m[n]) for n in w}, "write it yourself"),
    (_prune_all_weights, "came back"),
    (lambda w, m, r: [m[n] for n in w], "one mask per layer"),
])
def test_wrong_imp_rounds_fail(wrong, hint):
    ok, text = E.grade("01.2", wrong)
    assert ok is False and hint in text, text


def _last_min(v):
    return len(v) - 1 - v[::-1].index(min(v))


@pytest.mark.parametrize("wrong,hint", [
    (lambda s, v, t: (s[-1], t[-1]), "last evaluation"),
    (lambda s, v, t: (s[t.index(max(t))], max(t)), "best *test* accuracy"),
    (lambda s, v, t: (s[_last_min(v)], t[_last_min(v)]), "first evaluation among equal"),
    (lambda s, v, t: s[v.index(min(v))], "tuple"),
    (lambda s, v, t: (FitResult(steps=s, val_loss=v, test_acc=t, val_acc=t).early_stop_step, 0.0), "write it yourself"),
])
def test_wrong_early_stops_fail(wrong, hint):
    ok, text = E.grade("01.3", wrong)
    assert ok is False and hint in text, text


def test_04_code_exercises():
    s = solutions("04_sdr_memory")
    assert E.grade("04.2", s.my_p_false_match) == (True, "correct")
    assert E.grade("04.3", s.my_win_probabilities) == (True, "correct")
    import math

    as_floats = lambda n, a, s_, t: sum(math.comb(s_, b) * float(math.comb(n - s_, a - b))  # noqa: E731
                                        for b in range(t, min(s_, a) + 1)) / float(math.comb(n, a))
    ok, text = E.grade("04.2", as_floats)  # float(C(10000, 300)) overflows
    assert ok is False and "raised OverflowError" in text
    ok, text = E.grade("04.2", lambda n, a, s_, t: s.my_p_false_match(n, a, s_, t + 1))
    assert ok is False and "b >= theta" in text
    ok, text = E.grade("04.3", lambda v, eta: s.my_win_probabilities(v, eta) / v.shape[0])
    assert ok is False and "sum to 1" in text
    ok, text = E.grade("04.3", lambda v, eta: s.my_win_probabilities(v, eta + 1))
    assert ok is False and "eta = 1" in text


def test_03_code_exercises():
    s = solutions("03_nm_sparsity")
    assert E.grade("03.2", s.my_nm_mask) == (True, "correct")
    assert E.grade("03.3", s.my_srste_grad) == (True, "correct")
    ok, text = E.grade("03.2", lambda w, n, m: M.magnitude_mask(w, 1 - n / m))  # right density, wrong groups
    assert ok is False and "every group must keep exactly" in text
    ok, text = E.grade("03.3", lambda g, w, mask, lam: g * mask)
    assert ok is False and "every* weight" in text
    ok, text = E.grade("03.3", lambda g, w, mask, lam: g + lam * mask * w)
    assert ok is False and "pruned weights (1 - E)" in text


def test_10_exercises_catch_typical_mistakes():
    import torch as t

    assert "int" in E.grade("10.1", round(1536 * 0.6))[1] and E.grade("10.1", 1536 - 921)[0] is False
    magnitude = lambda w, sq, s: t.ones_like(w, dtype=t.bool).scatter_(  # noqa: E731
        1, t.sort(w.abs(), dim=1, stable=True).indices[:, : int(w.shape[1] * s)], False)
    assert "magnitude" in E.grade("10.2", magnitude)[1]
    squared = lambda w, sq, s: t.ones_like(w, dtype=t.bool).scatter_(  # noqa: E731
        1, t.sort(w.abs() * sq, dim=1, stable=True).indices[:, : int(w.shape[1] * s)], False)
    assert "square" in E.grade("10.2", squared)[1]

    def no_spread(W, U, j, prune):
        W = W.clone()
        W[prune, j] = 0
        return W

    ok, hint = E.grade("10.3", no_spread)
    assert ok is False and "error you spread" in hint


def test_wrong_answers_of_08_get_hints():
    import math

    from sparsekit.masks import erk_densities

    def uniform(shapes, density):
        return {k: density for k in shapes}

    def er(shapes, density):  # only the first two dimensions counted
        numel = {k: math.prod(s) for k, s in shapes.items()}
        raw = {k: (s[0] + s[1]) / (s[0] * s[1]) for k, s in shapes.items()}
        dense = set()
        while True:
            sparse = [k for k in shapes if k not in dense]
            budget = density * sum(numel.values()) - sum(numel[k] for k in dense)
            eps = budget / sum(raw[k] * numel[k] for k in sparse)
            over = {k for k in sparse if eps * raw[k] > 1}
            if not over:
                return {k: 1.0 if k in dense else eps * raw[k] for k in shapes}
            dense |= over

    def no_fixpoint(shapes, density):  # eps solved once, densities over 1 kept
        numel = {k: math.prod(s) for k, s in shapes.items()}
        raw = {k: sum(s) / numel[k] for k, s in shapes.items()}
        eps = density * sum(numel.values()) / sum(raw[k] * numel[k] for k in shapes)
        return {k: eps * raw[k] for k in shapes}

    def calls_library(shapes, density):
        return erk_densities(shapes, density)

    hints = [E.grade("08.1", fn) for fn in (uniform, er, no_fixpoint, calls_library)]
    assert all(ok is False for ok, _ in hints), hints
    assert "Erdos-Renyi" in hints[1][1] and "exceeds 1" in hints[2][1] and "write it yourself" in hints[3][1]

    def smallest(mask, grad, k):
        score = grad.abs().flatten().clone()
        score[mask.flatten()] = math.inf
        out = mask.clone().flatten()
        out[torch.topk(score, k, largest=False).indices] = True
        return out.view(mask.shape)

    def signed(mask, grad, k):
        score = grad.flatten().clone()
        score[mask.flatten()] = -math.inf
        out = mask.clone().flatten()
        out[torch.topk(score, k).indices] = True
        return out.view(mask.shape)

    def everywhere(mask, grad, k):  # forgets that active positions cannot grow
        out = mask.clone().flatten()
        out[torch.topk(grad.abs().flatten(), k).indices] = True
        return out.view(mask.shape)

    hints = [E.grade("08.2", fn) for fn in (smallest, signed, everywhere)]
    assert all(ok is False for ok, _ in hints), hints
    assert "smallest" in hints[0][1] and "magnitude" in hints[1][1] and "inactive" in hints[2][1]
    for wrong in (26, 88, 66, 68):
        ok, hint = E.grade("08.3", wrong)
        assert ok is False and "67" not in hint
