"""Worked answer to exercise 1 of 02_rnn_pruning (try it first)."""

# torch stacks the four LSTM gates (input, forget, cell, output): weight_hh_l0 is (4 * 50, 50).
answer_1 = 4 * 50 * 50
