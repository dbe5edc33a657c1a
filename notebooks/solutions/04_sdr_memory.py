"""Worked answers to the exercises of 04_sdr_memory (try them first)."""

# Each of the a active cells of one SDR is active in the other with probability a / n.
answer_1 = round(40 * 40 / 2048, 3)


# 2. Exact arithmetic: sum the integer counts C(s, b) C(n - s, a - b) over b >= theta and divide once;
#    Fraction keeps it exact, float() at the very end (C(10000, 300) has 603 digits).
def my_p_false_match(n, a, s, theta):
    import math
    from fractions import Fraction

    hits = sum(math.comb(s, b) * math.comb(n - s, a - b) for b in range(theta, min(s, a) + 1))
    return float(Fraction(hits, math.comb(n, a)))


# 3. The CSA's sigmoid with the constants of section 6, then one renormalisation per CM (row).
def my_win_probabilities(v, eta):
    import numpy as np

    sigma1, sigma2, sigma3 = 1e-8, 32.0, 1.0
    mu = (eta - 1.0) / (1.0 + sigma1 * np.exp(-sigma2 * (np.asarray(v) - sigma3))) + 1.0
    return mu / mu.sum(axis=1, keepdims=True)
