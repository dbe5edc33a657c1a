"""Graded exercises, one module per notebook: ``check("00.2", my_function)`` says "correct" or gives a
hint about the student's own answer, never the answer itself.

The registry, ``check`` and ``grade`` live in ``_core``; each notebook's graders in the module named
for it (``tour``, ``lottery_tickets``, ``rnn_pruning``, ``nm_sparsity``, ``sdr_memory``,
``lazy_neurons``, ``sparse_dynamics_mpc``, ``sparse_kernels``, ``sparse_training``, ``llm_pruning``).
Importing this package registers them all.
"""

from . import (  # noqa: F401 - each module registers its graders
    lazy_neurons,
    llm_pruning,
    lottery_tickets,
    nm_sparsity,
    rnn_pruning,
    sdr_memory,
    sparse_dynamics_mpc,
    sparse_kernels,
    sparse_training,
    tour,
)
from ._core import EXERCISES, Exercise, check, grade, register

__all__ = ["Exercise", "EXERCISES", "check", "grade", "register"]
