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
from importlib.util import module_from_spec, spec_from_file_location
from typing import Any

from setuptools import setup
from setuptools.command.build_ext import build_ext


def _loadBuild() -> Any:
    """
    @return: C{sst/build.py} (what to compile, and whether), loaded by its path: the build
        imports nothing else of sst.
    """
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sst", "build.py")
    spec = spec_from_file_location("_sst_build", path)
    assert spec is not None and spec.loader is not None
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_build = _loadBuild()


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
    why = _build.whyPure(os.environ, sys.argv, sys.implementation.name,
                         sysconfig.get_path("include"))
    if not why:
        try:
            from mypyc.build import mypycify
        except ImportError:
            why = "mypyc is not installed"
        else:
            try:
                return list(mypycify(list(_build.COMPILED), opt_level="3", group_name="sst",
                                     strict_dunder_typing=False))
            except (Exception, SystemExit) as e:  # mypyc exits on a type error
                why = "mypyc could not translate the modules: %s" % (e,)
    sys.stderr.write("sst: pure-Python build (%s)\n" % (why,))
    return []


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
