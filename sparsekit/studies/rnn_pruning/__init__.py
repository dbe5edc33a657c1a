"""Notebook 02's study: the thesis's own models, rule, data and logs (``thesis``, ``data``), and the
models we train on its data or on one-edit negatives, the graph networks and its rules (``own``)."""
