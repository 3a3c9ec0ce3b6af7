"""The examples in odm's docstrings run (without a server) and say what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import odm

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(odm.__path__, prefix="odm.")
)


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name: str) -> None:
    module = importlib.import_module(module_name)
    results = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert results.failed == 0
