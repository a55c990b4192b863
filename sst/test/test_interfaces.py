# -*- test-case-name: sst.test.test_interfaces -*-
"""
A sweep over sst's modules: every class that declares an interface has its methods.

Each module's own tests check instances with L{sst.test._support.assertProvides} (which
checks attributes too); this sweep catches a class added later without such a test.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil

from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementedBy
from zope.interface.exceptions import Invalid
from zope.interface.verify import verifyClass

import sst


def declaringClasses() -> list[tuple[type, list[object]]]:
    """
    @return: each class defined in a module of L{sst} (its tests left out) that declares
        interfaces itself, with the interfaces it implements.
    """
    found = []
    for info in pkgutil.walk_packages(sst.__path__, "sst."):
        if info.name.startswith("sst.test"):
            continue
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__:
                continue
            # @implementer sets __implemented__ on the class itself (a subclass that
            # declares again what its base provides has no new entry in .declared).
            if "__implemented__" in vars(cls):
                found.append((cls, list(implementedBy(cls).interfaces())))
    return found


class DeclaredInterfacesTests(SynchronousTestCase):
    """
    L{zope.interface.verify.verifyClass} over every class that declares an interface.
    """

    def test_sweepFindsThem(self) -> None:
        """
        The sweep sees the classes of the modules (the proxy's, the B2BUA's, the policy
        plugins'), not nothing.
        """
        names = {"%s.%s" % (cls.__module__, cls.__name__) for cls, _ in declaringClasses()}
        for name in ["sst.proxy.core.Proxy", "sst.b2bua.call.Leg", "sst.policies.NetworkPolicyFactory",
                     "sst.timerservice.TimerService", "sst.ua.dialog._InDialogRequest"]:
            self.assertIn(name, names)
        self.assertGreaterEqual(len(names), 29)

    def test_classesImplementTheirInterfaces(self) -> None:
        """
        Every declaring class has every method of the interfaces it declares, with a
        compatible signature.
        """
        failures = []
        for cls, interfaces in declaringClasses():
            for iface in interfaces:
                try:
                    verifyClass(iface, cls)
                except Invalid as e:
                    failures.append("%s.%s: %s" % (cls.__module__, cls.__name__, e))
        self.assertEqual(failures, [])
