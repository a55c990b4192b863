"""
Helpers shared by sst's test modules.
"""
from __future__ import annotations

from typing import Callable
from unittest import TestCase

from twisted.internet.defer import Deferred

from zope.interface.exceptions import Invalid
from zope.interface.interface import InterfaceClass
from zope.interface.verify import verifyObject

__all__ = ["assertProvides", "waitUntil"]


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


def waitUntil(condition: Callable[[], bool], timeout: float = 5.0) -> Deferred[None]:
    """
    Poll C{condition} every 10 ms on the real reactor until it holds: for what happens in
    other processes or over real sockets.  Await it, or yield it in C{inlineCallbacks}.

    @raise TimeoutError: if it does not hold within C{timeout} seconds.
    """
    from twisted.internet import reactor
    from twisted.internet.task import deferLater

    async def poll() -> None:
        deadline = reactor.seconds() + timeout
        while not condition():
            if reactor.seconds() > deadline:
                raise TimeoutError("condition not met within %s s" % (timeout,))
            await deferLater(reactor, 0.01, lambda: None)

    return Deferred.fromCoroutine(poll())
