"""Worked answer to exercise 1 of 03_nm_sparsity (try it first)."""

from math import comb

# A 2:4 mask chooses which 2 of the 4 positions are kept.
answer_1 = comb(4, 2)
