"""The course: what turns the library and the studies into lessons.

- ``report``: claims (decided by the library's interval rule, ``sparsekit.verdicts``), the results JSON every
  notebook writes, the claims reports
- ``compare``: the verdicts of freshly executed notebooks against the committed ones (CI)
- ``exercises``: graders, one module per notebook (a hint, never the answer)
- ``plotting``: one figure style, saving to FIGURES_DIR
- ``run``: the notebook runner (papermill); ``fanout``: (notebook, seed) tasks on Dask; ``book``: the site
- ``paths``: the repository checkout, found when asked

Imports flow one way: the library (``sparsekit.*``) knows nothing of the course; the course uses
the library; the studies (``sparsekit.studies``) use both.
"""
