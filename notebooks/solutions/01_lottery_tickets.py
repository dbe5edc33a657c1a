"""Worked answers to the exercises of 01_lottery_tickets (try them first)."""

import math

import torch

# 1. Each round keeps 80% of the weights still alive, so after r rounds a fraction 0.8 ** r is left.
answer_1 = round(0.8**5, 4)


# 2. One IMP round: rank only the survivors of each layer by |w| and switch off the round(p * n)
#    smallest; the stable sort puts the lower flat index first among equal magnitudes.
def my_imp_round(weights, masks, rates):
    new = {}
    for name, w in weights.items():
        alive = masks[name].flatten()
        n_prune = round(rates[name] * int(alive.sum()))
        score = w.abs().flatten().masked_fill(~alive, float("inf"))  # the dead are never chosen again
        order = torch.argsort(score, stable=True)
        keep = alive.clone()
        keep[order[:n_prune]] = False
        new[name] = keep.view(w.shape)
    return new


# 3. Early stopping: the evaluation of lowest validation loss, the first one on ties (min returns
#    the first minimum), and the test accuracy measured at that evaluation.
def my_early_stop(steps, val_loss, test_acc):
    i = min(range(len(val_loss)), key=lambda k: (val_loss[k], k))
    return steps[i], test_acc[i]


# 4. The smallest whole r with 0.8 ** r <= 0.05: r >= log(0.05) / log(0.8) = 13.4, so 14 rounds.
answer_4 = math.ceil(math.log(0.05) / math.log(0.8))


# 5. Decide L5 by hand. The paired differences are re-initialised minus ticket, seed by seed:
#    d = (400, 50, 625); mean 358.3, s = 289.8 (ddof 1), t(0.95, 2) = 2.920, so the half-width is
#    2.920 * 289.8 / sqrt(3) = 488.5 and [L, U] = [-130.2, 846.8]. The bar 0 lies inside: inconclusive,
#    although every seed's re-initialised run stopped later - three seeds this spread cannot decide.
#    In code: d = [r - t for t, r in zip(ticket, reinit)]; half = stats.t.ppf(0.95, 2) * stdev(d) / sqrt(3).
answer_5 = (-130.2, 846.8, "inconclusive")

# 6. (c): the ticket and the same mask with fresh weights share the mask and differ only in the
#    initial values. (b) shares the initial values and changes the mask; (a) and (d) change the mask.
answer_6 = "c"
