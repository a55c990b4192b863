# -*- test-case-name: sst.test.test_build -*-
"""
Which build of sst is running: the modules that C{setup.py} compiled with mypyc, if any.

A compiled module is imported from an extension module (C{.so}) beside its source; the same
source runs as Python in an editable install, with C{SST_PURE_PYTHON=1}, or where the build
could not compile it.
"""
from __future__ import annotations

import sys
from importlib.machinery import EXTENSION_SUFFIXES
from types import ModuleType
from typing import Mapping, Optional

__all__ = ["compiledModules", "describeBuild"]


def compiledModules(modules: Optional[Mapping[str, ModuleType]] = None) -> list[str]:
    """
    @param modules: the loaded modules (by default, C{sys.modules}).
    @return: the names of the loaded C{sst} modules that are compiled, sorted.
    """
    loaded = sys.modules if modules is None else modules
    suffixes = tuple(EXTENSION_SUFFIXES)
    return sorted(
        name for name, module in list(loaded.items())
        if (name == "sst" or name.startswith("sst."))
        and (getattr(module, "__file__", None) or "").endswith(suffixes)
    )


def describeBuild(modules: Optional[Mapping[str, ModuleType]] = None) -> str:
    """
    @return: one line for the log: how many of the loaded modules are compiled.
    """
    compiled = compiledModules(modules)
    if not compiled:
        return "pure Python (no module compiled)"
    return "%d modules compiled with mypyc (%s)" % (
        len(compiled), ", ".join(name[len("sst."):] for name in compiled))
