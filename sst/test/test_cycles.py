# -*- test-case-name: sst.test.test_cycles -*-
"""
What a finished call leaves behind is freed by reference counting: no reference cycle is
left for CPython's cyclic collector.

This is what makes freezing the survivors of full collections safe (L{sst.gctuning}): a
frozen object that becomes cyclic garbage is never freed.  Each test runs a call flow with
the collector disabled, lets every transaction end, and counts what a collection finds.
"""
from __future__ import annotations

import gc
from collections import Counter
from typing import Callable

from twisted.trial.unittest import SynchronousTestCase

from sst.message import Request
from sst.test.b2bua_harness import B2BUAHarness
from sst.testing import CALLEE, CALLER, ProxyHarness


class CycleFreeTestCase(SynchronousTestCase):
    """
    Runs call flows with the collector off and counts the cyclic garbage they leave.
    """

    def assertNoCycles(self, flow: Callable[[int], object], settle: Callable[[], object]) -> None:
        """
        Run C{flow} once to warm up, then three more times with the collector disabled,
        calling C{settle} after each so that their transactions end; then a collection must
        find nothing unreachable.

        @param flow: runs one call, given a number to make its identifiers unique.
        @param settle: lets time pass until the call's transactions have ended.
        """
        flow(0)
        settle()
        gc.collect()
        gc.disable()
        self.addCleanup(gc.enable)
        for n in range(1, 4):
            flow(n)
            settle()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            found = gc.collect()
            garbage = Counter(type(o).__name__ for o in gc.garbage)
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
        self.assertEqual(found, 0, garbage.most_common(12))


class ProxyCycleTests(CycleFreeTestCase):
    """
    Proxy calls leave no reference cycles.
    """

    def setUp(self) -> None:
        self.h = ProxyHarness(["--min-se", "90"])

    def settle(self) -> None:
        self.h.clock.advance(40)

    def test_call(self) -> None:
        """
        INVITE / 180 / 200 / ACK / BYE / 200.
        """
        h = self.h

        def flow(n: int) -> None:
            callId = "call-%d" % (n,)
            h.fromCaller(h.invite("Session-Expires: 1800", callId=callId))
            forwarded = h.lastRequestTo(CALLEE)
            h.fromCallee(h.answer(forwarded, 180))
            h.fromCallee(h.answer(forwarded, 200, "Session-Expires: 1800;refresher=uac"))
            h.fromCaller(h.inDialog("ACK", cseq=1, callId=callId))
            h.fromCaller(h.inDialog("BYE", callId=callId))
            h.fromCallee(h.answer(h.lastRequestTo(CALLEE), 200))

        self.assertNoCycles(flow, self.settle)

    def test_refreshAndExpiry(self) -> None:
        """
        A call refreshed by re-INVITE and UPDATE that then expires.
        """
        h = self.h

        def flow(n: int) -> None:
            callId = "call-%d" % (n,)
            h.call("Session-Expires: 90", okHeaders=("Session-Expires: 90;refresher=uac",),
                   callId=callId)
            for cseq, method in ((2, "INVITE"), (3, "UPDATE")):
                h.fromCaller(h.inDialog(method, "Session-Expires: 90", callId=callId, cseq=cseq))
                h.fromCallee(h.answer(h.lastRequestTo(CALLEE), 200,
                                      "Session-Expires: 90;refresher=uac"))
                if method == "INVITE":
                    h.fromCaller(h.inDialog("ACK", callId=callId, cseq=cseq))

        def settle() -> None:
            h.clock.advance(200)

        self.assertNoCycles(flow, settle)
        self.assertGreater(h.stats.get("expired_sst"), 0)

    def test_rejectedAndCancelled(self) -> None:
        """
        A call answered 486, one cancelled after 180, and one that nobody answers (Timer C
        then Timer B).
        """
        h = self.h

        def flow(n: int) -> None:
            h.fromCaller(h.invite(callId="busy-%d" % (n,), branch="z9hG4bK-b%d" % (n,)))
            h.fromCallee(h.answer(h.lastRequestTo(CALLEE), 486))
            h.fromCaller(h.invite(callId="cancel-%d" % (n,), branch="z9hG4bK-c%d" % (n,)))
            h.fromCallee(h.answer(h.lastRequestTo(CALLEE), 180))
            invite = h.invite(callId="cancel-%d" % (n,), branch="z9hG4bK-c%d" % (n,))
            h.fromCaller(invite.replace("INVITE", "CANCEL").split("Content-Type")[0]
                         + "Content-Length: 0\r\n\r\n")
            cancel = h.lastRequestTo(CALLEE)
            assert isinstance(cancel, Request) and cancel.method == "CANCEL"
            h.fromCallee(h.answer(cancel, 200))
            h.fromCallee(h.answer(h.to(CALLEE)[-2], 487))
            h.fromCaller(h.invite(callId="silent-%d" % (n,), branch="z9hG4bK-s%d" % (n,)))

        def settle() -> None:
            h.clock.advance(400)

        self.assertNoCycles(flow, settle)
        self.assertIn(487, [m.code for m in h.to(CALLER) if not isinstance(m, Request)])


class B2BUACycleTests(CycleFreeTestCase):
    """
    B2BUA calls leave no reference cycles.
    """

    def test_call(self) -> None:
        """
        A call through the B2BUA, ended by the caller's BYE.
        """
        h = B2BUAHarness()

        def flow(n: int) -> None:
            ok, _ = h.establish()
            h.fromCaller(h.callerRequest("BYE", ok, cseq=2))
            h.answerLast(CALLEE, 200)

        self.assertNoCycles(flow, h.settle)

    def test_refreshAndExpiry(self) -> None:
        """
        A call whose B-leg sst refreshes, then ends with BYE on both legs when the caller's
        session expires.
        """
        h = B2BUAHarness(["--min-se", "90", "--session-expires", "90"])

        def flow(n: int) -> None:
            h.establish("Session-Expires: 90", okHeaders=("Session-Expires: 90;refresher=uac",))
            h.clock.advance(46)
            h.answerLast(CALLEE, 200, "Session-Expires: 90;refresher=uac")

        def settle() -> None:
            h.clock.advance(60)
            for address in (CALLER, CALLEE):
                request = h.lastRequestTo(address)
                if request.method == "BYE":
                    h.answerLast(address, 200)
            h.settle()

        self.assertNoCycles(flow, settle)
        self.assertGreater(h.stats.get("expiry_byes"), 0)
