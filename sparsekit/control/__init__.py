"""Sparse neural dynamics for mixed-integer model predictive control (Liu et al., NeurIPS 2023, arXiv 2312.12791).

- ``systems``: a 2-D pusher-object simulation and gymnasium's Pendulum equations, in numpy;
- ``dynamics``: a ReLU MLP predicting the state change, whose hidden neurons are each ReLU,
  identity or removed, chosen by a continuous relaxation under a shrinking ReLU budget;
- ``milp``: the network unrolled over a horizon as a mixed-integer linear program (big-M with
  bounds propagated from the current state), solved by HiGHS with a time limit and a warm start;
- ``planners``: the sampling and gradient baselines (CEM, MPPI, gradient shooting) and the
  receding-horizon loop;
- ``study``: notebook 06's experiments - tasks, models per seed with a from-scratch baseline,
  solve-time growth fits, the closed loops at equal time, and the pre-registered rules.
"""
