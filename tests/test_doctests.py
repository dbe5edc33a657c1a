"""Run the docstring examples of every sparsekit module (STYLE: examples must keep working)."""

import doctest
import importlib
import pkgutil

import pytest

import sparsekit

MODULES = sorted(m.name for m in pkgutil.walk_packages(sparsekit.__path__, "sparsekit."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    mod = importlib.import_module(name)
    res = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS, verbose=False)
    assert res.failed == 0, f"{res.failed} docstring example(s) failed in {name}"
