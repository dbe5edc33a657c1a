"""Graders of notebook 01, Lottery tickets (a hint, never the answer)."""

from __future__ import annotations

import math

import torch

from ._core import _gen, _is_bool_like, _kind, _number, _whole, register


@register("01.1", "fraction of a layer left after 5 IMP rounds at 20%")
def _imp_left(answer) -> str | None:
    bad = _number(answer, "a fraction (a float)")
    if bad:
        return bad
    if abs(answer - 0.8**5) < 5e-5:
        return None
    if abs(answer - (1 - 0.2 * 5)) < 1e-9 or abs(answer - 0.2**5) < 1e-6:
        return "each round removes 20% of what is *left*, so the rounds compound"
    if answer > 1 or answer < 0:
        return "a fraction of the layer lies between 0 and 1"
    return "write the density after r rounds from the rule p = 0.2 per round, then round to 4 decimals"


@register("01.2", "your own IMP round: prune a rate of the surviving weights, layer by layer",
          forbid=("prune_step", "prune_surviving", "global_prune_surviving", "magnitude_mask"))
def _own_imp_round(fn) -> str | None:
    from sparsekit.prune import prune_step

    if not callable(fn):
        return "give a function my_imp_round(weights, masks, rates) that returns a dict of bool masks"
    g = _gen(4321)
    w = {"fc1": torch.randn(6, 8, generator=g), "fc2": torch.randn(3, 6, generator=g)}
    half = {"fc1": torch.rand(6, 8, generator=g) > 0.5, "fc2": torch.ones(3, 6, dtype=torch.bool)}
    ties = {"fc1": torch.tensor([[1.0, -1.0, 1.0, 0.5, -0.5, 2.0]]), "fc2": torch.tensor([[3.0, 3.0, -3.0, 1.0]])}
    cases = [
        (w, {n: torch.ones_like(t, dtype=torch.bool) for n, t in w.items()}, {"fc1": 0.2, "fc2": 0.1}, "a dense start"),
        (w, half, {"fc1": 0.2, "fc2": 0.5}, "masks that already pruned some weights"),
        (ties, {n: torch.ones_like(t, dtype=torch.bool) for n, t in ties.items()}, {"fc1": 0.5, "fc2": 0.25},
         "weights with equal magnitudes (ties)"),
    ]
    for weights, masks, rates, what in cases:
        got = fn({n: t.clone() for n, t in weights.items()}, {n: m.clone() for n, m in masks.items()}, dict(rates))
        if not isinstance(got, dict) or set(got) != set(weights):
            return f"on {what}: return a dict with one mask per layer ({', '.join(weights)})"
        want = prune_step(weights, masks, rates)
        for n in weights:
            bad = _is_bool_like(got[n], weights[n].shape)
            if bad:
                return f"on {what}, layer {n}: {bad}"
            if bool((got[n] & ~masks[n]).any()):
                return f"on {what}, layer {n}: a weight pruned in an earlier round came back; keep mask & new"
            if int(got[n].sum()) != int(want[n].sum()):
                return (f"on {what}, layer {n} keeps {int(got[n].sum())} of {int(masks[n].sum())} surviving weights; "
                        "prune round(p_l * surviving) of the survivors, not of all weights")
            if not torch.equal(got[n], want[n]):
                return (f"on {what}, layer {n}: the count is right but not the smallest surviving |w| go "
                        "(rank only the survivors; among ties the lower flat index goes first)")
    return None


@register("01.3", "your own early-stopping point: step and test accuracy at minimum validation loss",
          forbid=("FitResult",))
def _own_early_stop(fn) -> str | None:
    from sparsekit.train import FitResult

    if not callable(fn):
        return "give a function my_early_stop(steps, val_loss, test_acc) returning (step, test accuracy)"
    cases = [
        ([25, 50, 75, 100], [1.0, 0.5, 0.7, 0.6], [0.5, 0.8, 0.9, 0.85], "a run with one minimum"),
        ([100, 200, 300], [0.9, 0.4, 0.4], [0.6, 0.7, 0.75], "a run whose minimum is reached twice (a tie)"),
        ([50, 100], [2.0, 1.0], [0.3, 0.6], "a run whose minimum is its last evaluation"),
    ]
    for steps, vl, ta, what in cases:
        got = fn(list(steps), list(vl), list(ta))
        if not isinstance(got, tuple) or len(got) != 2:
            return f"on {what}: return a tuple (step, test accuracy), got {_kind(got)}"
        res = FitResult(steps=list(steps), val_loss=list(vl), test_acc=list(ta), val_acc=list(ta))
        later_min = max(i for i, v in enumerate(vl) if v == min(vl))
        if got == (steps[later_min], ta[later_min]) and res.early_stop_step != steps[later_min]:
            return f"on {what}: that is a later minimum; take the first evaluation among equal validation losses"
        if got == (res.steps[-1], ta[-1]) and res.early_stop_step != res.steps[-1]:
            return f"on {what}: that is the last evaluation; early stopping picks the minimum validation loss"
        if got[1] == max(ta) and got[0] != res.early_stop_step:
            return f"on {what}: that is the best *test* accuracy; early stopping looks only at validation loss"
        if got != (res.early_stop_step, res.early_stop_test_acc):
            return f"on {what}: your ({got[0]}, {got[1]}) is not the point of minimum validation loss (first on ties)"
    return None


@register("01.4", "IMP rounds at 20% needed to leave at most 5% of a layer")
def _rounds_to_5(answer) -> str | None:
    answer, bad = _whole(answer, "a whole number of rounds")
    if bad:
        return bad
    need = next(r for r in range(100) if 0.8**r <= 0.05)
    if answer == need:
        return None
    if answer == need - 1:
        return "one round short: after your number of rounds a little more than 5% is still left"
    if answer == 5:
        return "rounds do not remove 20% of the original layer each; they compound"
    return "find the first round after which at most 5% of the layer is left"


# the per-seed early-stopping iterations exercise 01.5 gives (ticket, re-initialised), K = 3
DECIDE_TICKET = (300, 350, 275)
DECIDE_REINIT = (700, 400, 900)


@register("01.5", "decide L5 by hand: (L, U, verdict) from three seeds' early-stopping iterations")
def _decide_by_hand(answer) -> str | None:
    from scipy import stats

    from sparsekit.verdicts import decide

    if not isinstance(answer, tuple) or len(answer) != 3:
        return f"give a tuple (L, U, verdict), got {_kind(answer)}"
    lo, hi, verdict = answer
    for name, v in (("L", lo), ("U", hi)):
        bad = _number(v, f"{name} as a number")
        if bad:
            return bad
    d = [r - t for t, r in zip(DECIDE_TICKET, DECIDE_REINIT)]
    want = decide(d, 0.0)
    close = lambda a, b: abs(float(a) - b) <= 0.5
    if close(lo, -want.upper) and close(hi, -want.lower):
        return "the claim is that the re-initialised run stops *later*: take re-initialised minus ticket"
    if not (close(lo, want.lower) and close(hi, want.upper)):
        mean = sum(d) / len(d)
        if not close((float(lo) + float(hi)) / 2, mean):
            return "your interval is not centred on the mean of the per-seed differences"
        half, k, sd = (float(hi) - float(lo)) / 2, len(d), stats.tstd(d)
        near = lambda q: math.isclose(half, q * sd / math.sqrt(k), rel_tol=0.02)
        if near(stats.norm.ppf(0.95)):
            return "right centre, too narrow: with three seeds the quantile comes from Student's t, not the normal"
        if near(stats.t.ppf(0.975, k - 1)):
            return "right centre, too wide: the rule's bounds are one-sided (alpha = 0.05 on each side)"
        if near(stats.t.ppf(0.95, k - 1) * math.sqrt(k)):
            return "right centre, too wide: the standard deviation of the mean divides by the square root of K"
        return "right centre, wrong width: check the spread of the differences (ddof 1) and the quantile"
    if verdict not in ("reproduced", "inconclusive", "not reproduced"):
        return 'the verdict is one of "reproduced", "inconclusive", "not reproduced"'
    if verdict != want.verdict:
        return "the bounds are right; now compare L and U with the bar of 0 as section 0 says"
    return None


@register("01.6", "which comparison isolates the initialisation (a, b, c or d)")
def _isolates_init(answer) -> str | None:
    if answer not in ("a", "b", "c", "d"):
        return 'answer one letter: "a", "b", "c" or "d"'
    if answer == "c":
        return None
    return {"a": "ticket and dense differ in the mask (and the dense net trains every weight), not only in "
                 "the initial values",
            "b": "that pair shares the initial values and differs in the mask: it asks whether the mask matters",
            "d": "neither of these has the ticket's mask: the pair changes the mask, not the initial values"}[answer]
