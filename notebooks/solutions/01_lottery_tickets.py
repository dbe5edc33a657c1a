"""Worked answer to exercise 1 of 01_lottery_tickets (try it first)."""

# Each round keeps 80% of the weights still alive, so after r rounds a fraction 0.8 ** r is left.
answer_1 = round(0.8**5, 4)
