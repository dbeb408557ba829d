"""The results schema imports on the oldest Python the package supports (requires-python >= 3.10).

This machine runs a newer Python, so the test hands the module a ``typing`` without the
names 3.10's lacks (``typing.Self`` and the rest new in 3.11) and imports it afresh.
"""

from __future__ import annotations

import importlib.util
import sys
import types
import typing

import eqlatent.studies.results as results

#: names of ``typing`` that Python 3.10 does not have (new in 3.11)
NEW_IN_311 = {"Self", "LiteralString", "Never", "assert_never", "assert_type", "reveal_type", "dataclass_transform",
              "Required", "NotRequired", "TypeVarTuple", "Unpack", "clear_overloads", "get_overloads"}


def test_results_module_imports_with_python310_typing(monkeypatch):
    typing310 = types.ModuleType("typing")
    typing310.__dict__.update({k: v for k, v in vars(typing).items() if k not in NEW_IN_311})
    monkeypatch.setitem(sys.modules, "typing", typing310)
    spec = importlib.util.spec_from_file_location("results_on_py310", results.__file__)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)              # dataclasses look their module up
    spec.loader.exec_module(module)                                   # ImportError before the mend
    monkeypatch.undo()
    loaded = module.MoleculesResults.from_json({"run_name": "cpu-seed0", "claim1": {"held": True}})
    assert type(loaded) is module.MoleculesResults and loaded.claim1.held is True
