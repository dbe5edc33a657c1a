"""Worked answer to exercise 1 of 04_sdr_memory (try it first)."""

# Each of the a active cells of one SDR is active in the other with probability a / n.
answer_1 = round(40 * 40 / 2048, 3)
