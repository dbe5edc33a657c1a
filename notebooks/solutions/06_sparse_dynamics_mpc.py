"""Worked answers to the exercises of 06_sparse_dynamics_mpc (try them first)."""


# One binary per ReLU that may be unstable, at each step of the horizon.
def answer_1(horizon: int) -> int:
    return 8 * horizon


# 2. Interval arithmetic: each term w_i z_i is smallest at z_lo_i when w_i >= 0 and at z_hi_i when w_i < 0.
def my_bounds(w, b, z_lo, z_hi):
    import numpy as np

    wp, wn = np.maximum(w, 0.0), np.minimum(w, 0.0)
    return float(wp @ z_lo + wn @ z_hi + b), float(wp @ z_hi + wn @ z_lo + b)


# 3. Exponential growth is a straight line in log10(time): its slope b is log10 of the factor per ReLU.
def my_factor(relus, seconds):
    import numpy as np

    b = np.polyfit(np.asarray(relus, float), np.log10(seconds), 1)[0]
    return float(10**b)
