"""
Build sst, compiling its per-message modules to C with mypyc when it can.

Every module stays importable as Python: the compiled ones are the same source, type-checked
and translated by mypyc (``mypy`` in ``pyproject.toml``'s build requirements). A wheel or a
plain ``pip install .`` gets them compiled; without a C compiler or Python's headers, the
build says why and installs the pure-Python modules instead. ``SST_PURE_PYTHON=1`` asks for
the pure-Python build, and an editable install (``pip install -e .``) is always pure Python,
so that an edit to a module is never hidden by a stale compiled copy of it.
"""
from __future__ import annotations

import os
import sys
import sysconfig
from typing import Any

from setuptools import setup
from setuptools.command.build_ext import build_ext

#: The modules every message goes through (parsing, transactions, the proxy core, timers,
#: dialogs), compiled. A class of theirs that plugins or tests subclass is marked
#: C{@mypyc_attr(allow_interpreted_subclasses=True)}; the interfaces they implement live in
#: modules that stay Python (mypyc cannot define a C{zope.interface} interface).
COMPILED = [
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
]


def _why_pure() -> str:
    """
    @return: why this build is pure Python, or C{""} when it compiles.
    """
    if os.environ.get("SST_PURE_PYTHON", "") not in ("", "0"):
        return "SST_PURE_PYTHON is set"
    if "editable_wheel" in sys.argv or "develop" in sys.argv:
        return "an editable install runs the sources as they are"
    if sys.implementation.name != "cpython":
        return "mypyc needs CPython"
    include = sysconfig.get_path("include")
    if not os.path.exists(os.path.join(include, "Python.h")):
        return "Python's headers are missing (%s/Python.h; Debian: python3-dev)" % (include,)
    return ""


class OptionalBuildExt(build_ext):
    """
    Build the compiled modules, or none of them: a failed compilation leaves the
    pure-Python package, with a warning, instead of failing the install.
    """

    def run(self) -> None:
        try:
            super().run()
        except Exception as e:  # the compiler's errors (CompileError, LinkError, OSError)
            self._dropAll("compiling failed: %s" % (e,))

    def _dropAll(self, why: str) -> None:
        for ext in self.extensions:
            path = self.get_ext_fullpath(ext.name)
            if os.path.exists(path):
                os.remove(path)
        self.extensions = []
        self.distribution.ext_modules = []
        sys.stderr.write("sst: installing the pure-Python modules (%s)\n" % (why,))


def _extensions() -> list[Any]:
    why = _why_pure()
    if not why:
        try:
            from mypyc.build import mypycify
        except ImportError:
            why = "mypyc is not installed"
        else:
            try:
                return list(mypycify(COMPILED, opt_level="3", group_name="sst",
                                     strict_dunder_typing=False))
            except (Exception, SystemExit) as e:  # mypyc exits on a type error
                why = "mypyc could not translate the modules: %s" % (e,)
    sys.stderr.write("sst: pure-Python build (%s)\n" % (why,))
    return []


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
