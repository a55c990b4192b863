# -*- test-case-name: sst.test.test_build -*-
"""
The compiled build: which modules C{setup.py} compiles with mypyc, whether a build compiles
them (L{whyPure}), and which of them the running build imported compiled.

A compiled module is imported from an extension module (C{.so}) beside its source; the same
source runs as Python in an editable install, with C{SST_PURE_PYTHON=1}, or where the build
could not compile it. C{setup.py} loads this file by its path (it imports nothing of sst).
"""
from __future__ import annotations

import os
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from types import ModuleType
from typing import Mapping, Optional, Sequence

__all__ = ["COMPILED", "whyPure", "compiledModules", "describeBuild"]

#: The modules every message goes through (parsing, transactions, the proxy core, timers,
#: dialogs), which C{setup.py} compiles. A class of theirs that plugins or tests subclass is
#: marked C{@mypyc_attr(allow_interpreted_subclasses=True)}; the interfaces they implement
#: live in modules that stay Python (mypyc cannot define a C{zope.interface} interface).
COMPILED: tuple[str, ...] = (
    "sst/address.py",
    "sst/headers.py",
    "sst/message.py",
    "sst/responses.py",
    "sst/rfc4028.py",
    "sst/protocol.py",
    "sst/timerservice.py",
    "sst/transaction.py",
    "sst/dialogs.py",
    "sst/proxy/branches.py",
    "sst/proxy/core.py",
    "sst/proxy/forwarding.py",
    "sst/proxy/responses.py",
)


def whyPure(environ: Mapping[str, str], argv: Sequence[str], implementation: str,
            include: str) -> str:
    """
    Whether a build compiles L{COMPILED}.

    @param environ: the build's environment (C{SST_PURE_PYTHON} set to anything but C{0}
        asks for pure Python).
    @param argv: the setup commands (an editable install, C{editable_wheel} or C{develop},
        runs the sources as they are, so that a stale compiled copy never hides an edit).
    @param implementation: C{sys.implementation.name} (mypyc needs CPython).
    @param include: the directory of Python's headers (C{Python.h} must be there).
    @return: why the build is pure Python, or C{""} when it compiles.
    """
    if environ.get("SST_PURE_PYTHON", "") not in ("", "0"):
        return "SST_PURE_PYTHON is set"
    if "editable_wheel" in argv or "develop" in argv:
        return "an editable install runs the sources as they are"
    if implementation != "cpython":
        return "mypyc needs CPython"
    if not os.path.exists(os.path.join(include, "Python.h")):
        return "Python's headers are missing (%s/Python.h; Debian: python3-dev)" % (include,)
    return ""


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
