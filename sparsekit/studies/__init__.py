"""The studies: one module per notebook, holding its experiments and its claim rules.

Each is imported by its notebook and its tests only; none imports another. They stand on the
library (``sparsekit.*``) and decide their claims with ``sparsekit.verdicts``.

- ``lottery_tickets`` (01): IMP with its controls per seed, the paired gaps
- ``rnn_pruning`` (02): the thesis's own models, data and logs (``thesis``, ``data``) and the models we train (``own``)
- ``lazy_neurons`` (05): sparsity profiles over training, label noise, MLP-block timing, TEAL / WINA gates
- ``sparse_dynamics_mpc`` (06): tasks, the from-scratch baseline, growth fits, the closed loops
"""
