"""Worked answer to exercise 1 of 06_sparse_dynamics_mpc (try it first)."""


# One binary per ReLU that may be unstable, at each step of the horizon.
def answer_1(horizon: int) -> int:
    return 8 * horizon
