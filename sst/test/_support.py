"""
Helpers shared by sst's test modules.
"""
from __future__ import annotations

from unittest import TestCase

from zope.interface.exceptions import Invalid
from zope.interface.interface import InterfaceClass
from zope.interface.verify import verifyObject

__all__ = ["assertProvides"]


def assertProvides(testCase: TestCase, iface: InterfaceClass, obj: object) -> None:
    """
    Assert that C{obj} declares C{iface} and implements it correctly: every method with a
    compatible signature and every attribute (L{zope.interface.verify.verifyObject}).

    @param testCase: the test that asserts it (its C{fail} reports the error).
    @param iface: the interface.
    @param obj: the object that should provide it.
    """
    try:
        verifyObject(iface, obj)
    except Invalid as e:
        testCase.fail("%r does not provide %s: %s" % (obj, iface.__identifier__, e))
