"""Worked answer to exercise 1 of 05_lazy_neurons (try it first)."""

# relu(z) > 0 exactly when z > 0, and P(z > 0) = 1/2 for a symmetric law.
answer_1 = 0.5
