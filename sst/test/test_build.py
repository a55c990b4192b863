"""
Tests for L{sst.build}: which modules of the running build are compiled.
"""
from __future__ import annotations

import importlib
import os
from importlib.machinery import EXTENSION_SUFFIXES
from types import ModuleType

from twisted.trial.unittest import SynchronousTestCase

from sst.build import COMPILED, compiledModules, describeBuild, whyPure


def module(name: str, path: str | None) -> ModuleType:
    """
    A module called C{name} loaded from C{path} (a built-in when L{None}).
    """
    made = ModuleType(name)
    if path is not None:
        made.__file__ = path
    return made


EXTENSION = EXTENSION_SUFFIXES[0]

LOADED = {
    "sst": module("sst", "/site/sst/__init__.py"),
    "sst.message": module("sst.message", "/site/sst/message" + EXTENSION),
    "sst.proxy.core": module("sst.proxy.core", "/site/sst/proxy/core" + EXTENSION),
    "sst.tap": module("sst.tap", "/site/sst/tap.py"),
    "sstother": module("sstother", "/site/sstother" + EXTENSION),
    "_socket": module("_socket", "/lib/_socket" + EXTENSION),
    "sys": module("sys", None),
}


class CompiledModulesTests(SynchronousTestCase):
    """
    L{compiledModules} lists the C{sst} modules loaded from extension modules.
    """

    def test_compiledOnly(self) -> None:
        """
        Only the modules of C{sst} (not C{sstother}, not the standard library) that were
        loaded from an extension module are listed, sorted.
        """
        self.assertEqual(compiledModules(LOADED), ["sst.message", "sst.proxy.core"])

    def test_pure(self) -> None:
        """
        With every module loaded from its source, none is listed.
        """
        pure = {name: m for name, m in LOADED.items() if name in ("sst", "sst.tap", "sys")}
        self.assertEqual(compiledModules(pure), [])

    def test_running(self) -> None:
        """
        By default the modules of this process are looked at: the ones listed are really
        extension modules, and the test module itself (always Python) is not among them.
        """
        import sst.message

        listed = compiledModules()
        self.assertNotIn(__name__, listed)
        self.assertEqual("sst.message" in listed,
                         (sst.message.__file__ or "").endswith(tuple(EXTENSION_SUFFIXES)))


class DescribeBuildTests(SynchronousTestCase):
    """
    L{describeBuild} is the line the log gets at start-up.
    """

    def test_compiled(self) -> None:
        """
        A compiled build counts and names its compiled modules.
        """
        self.assertEqual(describeBuild(LOADED),
                         "2 modules compiled with mypyc (message, proxy.core)")

    def test_pure(self) -> None:
        """
        A pure-Python build says so.
        """
        self.assertEqual(describeBuild({"sst.tap": LOADED["sst.tap"]}),
                         "pure Python (no module compiled)")


class WhyPureTests(SynchronousTestCase):
    """
    L{whyPure} decides whether a build compiles: only CPython with its headers, and neither
    an editable install nor C{SST_PURE_PYTHON}.
    """

    def setUp(self) -> None:
        self.headers = os.path.abspath(self.mktemp())
        os.makedirs(self.headers)
        with open(os.path.join(self.headers, "Python.h"), "w"):
            pass

    def test_compiles(self) -> None:
        """
        A wheel built on CPython with its headers compiles.
        """
        self.assertEqual(whyPure({}, ["setup.py", "bdist_wheel"], "cpython", self.headers), "")
        self.assertEqual(whyPure({"SST_PURE_PYTHON": "0"}, ["bdist_wheel"], "cpython",
                                 self.headers), "")

    def test_asked(self) -> None:
        """
        C{SST_PURE_PYTHON} set to anything but C{0} asks for pure Python.
        """
        self.assertIn("SST_PURE_PYTHON",
                      whyPure({"SST_PURE_PYTHON": "1"}, ["bdist_wheel"], "cpython", self.headers))

    def test_editable(self) -> None:
        """
        An editable install is pure Python, whichever command makes it.
        """
        for command in ("editable_wheel", "develop"):
            self.assertIn("editable", whyPure({}, ["setup.py", command], "cpython", self.headers))

    def test_notCPython(self) -> None:
        """
        mypyc needs CPython.
        """
        self.assertIn("CPython", whyPure({}, ["bdist_wheel"], "pypy", self.headers))

    def test_noHeaders(self) -> None:
        """
        Without C{Python.h} the build says where it looked and which Debian package has it.
        """
        missing = os.path.abspath(self.mktemp())
        why = whyPure({}, ["bdist_wheel"], "cpython", missing)
        self.assertIn(os.path.join(missing, "Python.h"), why)
        self.assertIn("python3-dev", why)


class CompiledListTests(SynchronousTestCase):
    """
    L{COMPILED} names modules that exist, and a build compiles all of them or none.
    """

    def test_allOrNone(self) -> None:
        """
        Once every module of L{COMPILED} is imported, either all of them are compiled or
        none is: a build never mixes (a compiled module calls the others natively).
        """
        names = [path[: -len(".py")].replace("/", ".") for path in COMPILED]
        for name in names:
            importlib.import_module(name)
        compiled = [name for name in compiledModules() if name in names]
        self.assertIn(sorted(compiled), ([], sorted(names)))
