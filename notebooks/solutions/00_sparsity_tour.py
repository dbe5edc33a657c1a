"""Worked solutions to the exercises of 00_sparsity_tour (try them yourself first).

Each function passes ``sparsekit.course.exercises.check``; tests/test_exercises.py checks that it does.
"""

import torch

# Exercise 1: n = 49 weights; round(0.3 * 49) = round(14.7) = 15 are pruned, so 49 - 15 are kept.
answer_1 = 49 - round(0.3 * 49)


# Exercise 2: sort |w| ascending with a stable sort (equal magnitudes keep their flat order, so the
# lower index comes first and is pruned first), and switch off the first round(s * n) entries.
def my_magnitude_mask(w, sparsity):
    n_prune = round(sparsity * w.numel())
    order = torch.argsort(w.abs().flatten(), stable=True)
    keep = torch.ones(w.numel(), dtype=torch.bool)
    keep[order[:n_prune]] = False
    return keep.view(w.shape)


# Exercise 3: the same, on all layers' magnitudes concatenated (one threshold), then split back.
def my_global_masks(weights, sparsity):
    flat = torch.cat([w.flatten() for w in weights.values()])
    keep = my_magnitude_mask(flat, sparsity)
    out, start = {}, 0
    for name, w in weights.items():
        out[name] = keep[start:start + w.numel()].view(w.shape)
        start += w.numel()
    return out


# Exercise 4: s_t = s_f + (0 - s_f) * (1 - k / n) ** 3 with k = (t - t0) // dt clipped to [0, n].
def my_cubic(t, s_f, t0, n, dt):
    k = min(max((t - t0) // dt, 0), n)
    return s_f * (1 - (1 - k / n) ** 3)


# Exercise 5: the one-sided 95% bounds are mean -/+ t(0.95, K - 1) * s / sqrt(K); "at least bar" is
# reproduced when L clears the bar, not reproduced when U misses it, inconclusive otherwise.
def my_verdict(d, bar):
    import math

    from scipy import stats

    k = len(d)
    mean = sum(d) / k
    s = math.sqrt(sum((x - mean) ** 2 for x in d) / (k - 1))
    half = stats.t.ppf(0.95, k - 1) * s / math.sqrt(k)
    lo, hi = mean - half, mean + half
    verdict = "reproduced" if lo >= bar else "not reproduced" if hi < bar else "inconclusive"
    return lo, hi, verdict
