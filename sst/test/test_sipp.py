"""
Tests for L{sst.test.sipp} and the bundled SIPp scenarios.

Each caller scenario is run against its callee scenario directly, SIPp to
SIPp on loopback, without the proxy: this checks the harness and that the
scenario pairs agree with each other.  The proxy's integration tests then
put the proxy between the same pairs.
"""

from __future__ import annotations

import os
import socket

from twisted.internet import reactor as _globalReactor
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorProcess, IReactorTime
from twisted.trial.unittest import TestCase

from sst.test import sipp
from sst.test.sipp import (
    SippResult,
    freePort,
    runSipp,
    scenarioPath,
    sippAvailable,
    sippExitOK,
    startSipp,
    waitForListening,
)

_SCENARIOS = [
    "register",
    "uac",
    "uac_busy",
    "uac_cancel",
    "uac_maxfwd0",
    "uac_timeout",
    "uac_to_user",
    "uas",
    "uas_busy",
    "uas_ring_no_answer",
    "uas_silent",
]


def _reactor() -> IReactorProcess:
    """
    Get the global reactor, typed for spawning processes.

    @return: The reactor trial runs.
    """
    return IReactorProcess(_globalReactor)


class HarnessTests(TestCase):
    """
    Tests for the parts of L{sst.test.sipp} that do not run SIPp.
    """

    def test_scenarioPath(self) -> None:
        """
        L{scenarioPath} finds every bundled scenario by name.
        """
        for name in _SCENARIOS:
            path = scenarioPath(name)
            self.assertTrue(os.path.isfile(path), path)
            self.assertTrue(path.endswith(os.path.join("scenarios", name + ".xml")))

    def test_scenarioPathMissing(self) -> None:
        """
        L{scenarioPath} raises L{FileNotFoundError} for an unknown name.
        """
        self.assertRaises(FileNotFoundError, scenarioPath, "no_such_scenario")

    def test_freePort(self) -> None:
        """
        L{freePort} returns a port that can be bound on 127.0.0.1, for UDP
        and for TCP.
        """
        for transport, kind in [("udp", socket.SOCK_DGRAM), ("tcp", socket.SOCK_STREAM)]:
            port = freePort(transport)
            self.assertGreater(port, 0)
            with socket.socket(socket.AF_INET, kind) as s:
                s.bind(("127.0.0.1", port))

    def test_freePortBadTransport(self) -> None:
        """
        L{freePort} rejects an unknown transport.
        """
        self.assertRaises(ValueError, freePort, "sctp")

    def test_sippExitOK(self) -> None:
        """
        L{sippExitOK} is true only for exit status 0.
        """

        def result(code: int) -> SippResult:
            return SippResult(code, "", "", 0, 0, "")

        self.assertTrue(sippExitOK(result(0)))
        self.assertFalse(sippExitOK(result(1)))
        self.assertFalse(sippExitOK(result(255)))
        self.assertFalse(sippExitOK(result(-9)))

    def test_waitForListeningTimeout(self) -> Deferred[None]:
        """
        L{waitForListening} fails with L{TimeoutError} when nothing binds
        the port in time.
        """
        port = freePort("tcp")
        d = waitForListening(IReactorTime(_globalReactor), port, "tcp", timeout=0.1)
        return self.assertFailure(d, TimeoutError).addCallback(lambda _: None)


class SippPairTests(TestCase):
    """
    Run each caller scenario against its callee scenario, SIPp to SIPp.
    """

    if not sippAvailable():
        skip = "sipp not installed"

    timeout = 30

    def setUp(self) -> None:
        """
        Make a directory for SIPp's files.
        """
        self.workdir = self.mktemp()
        os.makedirs(self.workdir)

    async def _pair(
        self,
        uas: str,
        uac: str,
        transport: str = "udp",
        calls: int = 1,
        uacService: str | None = None,
        timeout: float = 10,
    ) -> tuple[SippResult, SippResult]:
        """
        Start a callee scenario, run a caller scenario against it, and wait
        for both.

        @param uas: The callee scenario.
        @param uac: The caller scenario; its C{[callee]} key names the
            callee.
        @param transport: C{"udp"} or C{"tcp"}.
        @param calls: Number of calls each side handles.
        @param uacService: The caller's C{-s} username, if any.
        @param timeout: SIPp's global timeout for each side.

        @return: The callee's and the caller's results.
        """
        reactor = _reactor()
        uasPort = freePort(transport)
        uacPort = freePort(transport)
        target = f"127.0.0.1:{uasPort}"
        _, uasDone = startSipp(
            reactor,
            uas,
            None,
            localPort=uasPort,
            transport=transport,
            calls=calls,
            timeout=timeout,
            workdir=self.workdir,
        )
        try:
            await waitForListening(IReactorTime(reactor), uasPort, transport)
        except BaseException:
            uasDone.cancel()
            raise
        uacResult = await runSipp(
            reactor,
            uac,
            target,
            localPort=uacPort,
            transport=transport,
            calls=calls,
            rate=20,
            keys={"callee": target},
            timeout=timeout,
            workdir=self.workdir,
            service=uacService,
        )
        uasResult = await uasDone
        return uasResult, uacResult

    def _assertAllSuccessful(self, result: SippResult, calls: int = 1) -> None:
        """
        Assert that a SIPp run exited 0 with every call successful.

        @param result: The run.
        @param calls: The number of calls expected.
        """
        self.assertTrue(sippExitOK(result), result.summary())
        self.assertEqual((result.successful, result.failed), (calls, 0), result.summary())

    def test_basicCall(self) -> Deferred[None]:
        """
        C{uac.xml} calls C{uas.xml}: INVITE, 180, 200, ACK and BYE go
        through over UDP and both sides count one successful call.  The
        in-dialog requests go to the callee's Contact.
        """

        async def check() -> None:
            uas, uac = await self._pair("uas", "uac")
            self._assertAllSuccessful(uas)
            self._assertAllSuccessful(uac)
            self.assertIn("INVITE sip:service@127.0.0.1:", uac.messages)
            self.assertIn("SIP/2.0 180 Ringing", uac.messages)
            self.assertIn("ACK sip:127.0.0.1:", uac.messages)
            self.assertIn("BYE sip:127.0.0.1:", uas.messages)
            self.assertIn("Max-Forwards: 70", uas.messages)

        return Deferred.fromCoroutine(check())

    def test_basicCallTCP(self) -> Deferred[None]:
        """
        C{uac.xml} calls C{uas.xml} over TCP.
        """

        async def check() -> None:
            uas, uac = await self._pair("uas", "uac", transport="tcp")
            self._assertAllSuccessful(uas)
            self._assertAllSuccessful(uac)
            self.assertIn("TCP message sent", uac.messages)
            self.assertIn(";transport=TCP", uas.messages)

        return Deferred.fromCoroutine(check())

    def test_severalCalls(self) -> Deferred[None]:
        """
        One C{uas.xml} process serves several calls from C{uac.xml}.
        """

        async def check() -> None:
            uas, uac = await self._pair("uas", "uac", calls=3)
            self._assertAllSuccessful(uas, 3)
            self._assertAllSuccessful(uac, 3)

        return Deferred.fromCoroutine(check())

    def test_busy(self) -> Deferred[None]:
        """
        C{uac_busy.xml} calls C{uas_busy.xml}: 486, then the ACK with the
        INVITE's branch.
        """

        async def check() -> None:
            uas, uac = await self._pair("uas_busy", "uac_busy")
            self._assertAllSuccessful(uas)
            self._assertAllSuccessful(uac)
            self.assertIn("SIP/2.0 486 Busy Here", uac.messages)
            self.assertIn("CSeq: 1 ACK", uas.messages)

        return Deferred.fromCoroutine(check())

    def test_cancel(self) -> Deferred[None]:
        """
        C{uac_cancel.xml} cancels a call to C{uas_ring_no_answer.xml}: the
        CANCEL reuses the INVITE's branch and CSeq number, and the 487
        answers the INVITE.
        """

        async def check() -> None:
            uas, uac = await self._pair("uas_ring_no_answer", "uac_cancel")
            self._assertAllSuccessful(uas)
            self._assertAllSuccessful(uac)
            self.assertIn("CSeq: 1 CANCEL", uas.messages)
            self.assertIn("SIP/2.0 487 Request Terminated", uac.messages)
            branches = {
                line.split(";branch=")[1].split(";")[0]
                for line in uac.messages.splitlines()
                if line.startswith("Via:")
            }
            self.assertEqual(len(branches), 1, branches)

        return Deferred.fromCoroutine(check())

    def test_callToUser(self) -> Deferred[None]:
        """
        C{uac_to_user.xml} puts the C{-s} username in the Request-URI; sent
        straight to C{uas.xml} it completes a call.
        """

        async def check() -> None:
            uas, uac = await self._pair("uas", "uac_to_user", uacService="alice")
            self._assertAllSuccessful(uas)
            self._assertAllSuccessful(uac)
            self.assertIn("INVITE sip:alice@127.0.0.1:", uas.messages)

        return Deferred.fromCoroutine(check())

    def test_failureReported(self) -> Deferred[None]:
        """
        When a scenario fails (C{uac.xml} expects a 200 but is told 486),
        the result says so: non-zero exit status, one failed call, and the
        unexpected message in the error log.
        """

        async def check() -> None:
            uas, uac = await self._pair("uas_busy", "uac", timeout=3)
            self.assertFalse(sippExitOK(uac), uac.summary())
            self.assertEqual((uac.successful, uac.failed), (0, 1), uac.summary())
            self.assertIn("486 Busy Here", uac.errors)

        return Deferred.fromCoroutine(check())

    def test_killedAfterTimeout(self) -> Deferred[None]:
        """
        A SIPp process still running L{sipp.KILL_GRACE} seconds after its
        own timeout is killed with C{SIGKILL}, and the result says so.
        """
        self.patch(sipp, "KILL_GRACE", -0.7)

        async def check() -> None:
            result = await runSipp(
                _reactor(),
                "uas",
                None,
                localPort=freePort(),
                timeout=1,
                workdir=self.workdir,
            )
            self.assertEqual(result.exitCode, -9, result.summary())
            self.assertFalse(sippExitOK(result))

        return Deferred.fromCoroutine(check())
