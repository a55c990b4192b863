"""
Tests for L{sst.build}: which modules of the running build are compiled.
"""
from __future__ import annotations

from importlib.machinery import EXTENSION_SUFFIXES
from types import ModuleType

from twisted.trial.unittest import SynchronousTestCase

from sst.build import compiledModules, describeBuild


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
