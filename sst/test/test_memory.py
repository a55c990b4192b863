# -*- test-case-name: sst.test.test_memory -*-
"""
What a call costs in memory through the whole proxy stack, counted with C{tracemalloc}: a held
dialog, and the transactions that linger after a call (Timers L, M, J and K keep them 5 to 32
seconds, so at 300 calls/s about 10,000 calls' worth are alive at any time).
"""
from __future__ import annotations

import gc
import tracemalloc

from twisted.trial.unittest import SynchronousTestCase

from sst.testing import CALLEE, ProxyHarness


class CallMemoryTests(SynchronousTestCase):
    """
    Memory per held dialog and per lingering call, through L{ProxyHarness}.
    """

    def setUp(self) -> None:
        self.h = ProxyHarness(["--min-se", "90", "--no-gc-tuning"])
        self.n = 0
        # Warm up: the caches of header names, Route entries and addresses fill once.
        for _ in range(20):
            self.oneCall(bye=True)
        self.h.clock.advance(40)

    def oneCall(self, bye: bool) -> None:
        """
        Run a timed call (INVITE, 200, ACK and, with C{bye}, BYE and 200) through the proxy.
        """
        h = self.h
        self.n += 1
        callId = "mem-%d" % (self.n,)
        h.call("Session-Expires: 1800", okHeaders=("Session-Expires: 1800;refresher=uac",),
               callId=callId, branch="z9hG4bK-m%d" % (self.n,))
        if bye:
            h.fromCaller(h.inDialog("BYE", callId=callId))
            h.fromCallee(h.answer(h.lastRequestTo(CALLEE), 200))
        h.sent.clear()

    def bytesPerCall(self, bye: bool, settle: bool, count: int = 500) -> float:
        """
        @return: the bytes allocated and still held per call after C{count} calls, with
            their transactions ended (C{settle}) or still lingering.
        """
        gc.collect()
        tracemalloc.start()
        self.addCleanup(tracemalloc.stop)
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(count):
            self.oneCall(bye)
        if settle:
            self.h.clock.advance(40)
        gc.collect()
        return (tracemalloc.get_traced_memory()[0] - before) / count

    def test_heldDialog(self) -> None:
        """
        A held, timed dialog costs under 1,200 bytes once its transactions have ended: its
        identifier, its timer, the table's indexes.
        """
        perCall = self.bytesPerCall(bye=False, settle=True)
        self.assertEqual(len(self.h.dialogs), 500)
        self.assertLess(perCall, 1200, f"{perCall:.0f} bytes per held dialog")

    def test_lingeringCall(self) -> None:
        """
        A finished call whose four transactions linger (INVITE and BYE, server and client)
        costs under 9,000 bytes: the transactions keep their request's lines but forget
        what was decoded from them, the bytes they will not send again, and their contexts'
        responses.
        """
        perCall = self.bytesPerCall(bye=True, settle=False)
        self.assertEqual(len(self.h.dialogs), 0)
        self.assertEqual(len(self.h.service.transactions.servers), 1000)
        self.assertLess(perCall, 9000, f"{perCall:.0f} bytes per lingering call")
