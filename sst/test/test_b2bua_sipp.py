# -*- test-case-name: sst.test.test_b2bua_sipp -*-
"""
SIPp integration tests of the B2BUA (C{--mode b2bua}), over UDP.

The B2BUA runs in-process on trial's reactor; SIPp callers and callees run as child
processes (L{sst.test.sipp}). Most tests take a second or two; L{B2BUASippTests.test_refreshAndExpiry}
waits for real session timers (SE 90, the RFC minimum) and takes about 62 s, and
L{B2BUASippTests.test_refreshHonoursCallersMinSE} waits for sst's refresh of the A-leg (about 50 s).
"""
from __future__ import annotations

import os
from typing import Mapping

from twisted.internet import reactor as _globalReactor
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.trial.unittest import TestCase

from sst.expiry import EXPIRY_REASON
from sst.tap import Options, SIPService
from sst.test.sipp import SippResult, freePort, runSipp, sippAvailable, startSipp, waitForListening
from sst.test.test_proxy_sipp import _describe, _logged, _reactor, _received


class B2BUASippTests(TestCase):
    """
    SIPp calls through the B2BUA over UDP.
    """

    if not sippAvailable():
        skip = "sipp not installed"

    timeout = 120

    def setUp(self) -> None:
        """
        Make a directory for SIPp's files.
        """
        self.workdir = self.mktemp()
        os.makedirs(self.workdir)

    def _start(self, calleePort: int, *arguments: str) -> SIPService:
        """
        Start sst in b2bua mode on 127.0.0.1 (UDP, a system-chosen port) with the callee as
        next hop; it is stopped when the test ends.
        """
        options = Options()
        options.parseOptions(["--mode", "b2bua", "--listen", "udp:127.0.0.1:0", "--http", "none",
                              "--next-hop", f"sip:127.0.0.1:{calleePort}", *arguments])
        service = SIPService(options, _globalReactor)
        service.startService()
        self.addCleanup(service.stopService)
        return service

    async def _call(self, caller: str, callee: str, *arguments: str,
                    callerKeys: Mapping[str, str] = {}, calleeKeys: Mapping[str, str] = {},
                    timeout: float = 15) -> tuple[SIPService, SippResult, SippResult]:
        """
        Start a callee, sst in front of it, and run a caller through sst.

        @return: sst, and the caller's and the callee's results.
        """
        calleePort = freePort("udp")
        service = self._start(calleePort, *arguments)
        _, calleeDone = startSipp(_reactor(), callee, None, localPort=calleePort, timeout=timeout,
                                  keys=calleeKeys, workdir=self.workdir)
        try:
            await waitForListening(IReactorTime(_globalReactor), calleePort, "udp")
        except BaseException:
            calleeDone.cancel()
            raise
        target = f"127.0.0.1:{service.boundAddress('udp').port}"
        try:
            callerResult = await runSipp(
                _reactor(), caller, target, localPort=freePort("udp"), timeout=timeout,
                keys={"callee": f"127.0.0.1:{calleePort}", **callerKeys}, workdir=self.workdir)
        finally:
            calleeResult = await calleeDone
        return service, callerResult, calleeResult

    def _assertClean(self, service: SIPService, why: str) -> None:
        """
        Assert that sst holds no call, leg or dialog any more and met no error.
        """
        assert service.b2bua is not None and service.ua is not None
        counters = service.stats.snapshot()
        self.assertEqual(
            (len(service.b2bua.calls), len(service.dialogs), len(service.ua.dialogs)),
            (0, 0, 0), f"{counters}\n{why}")
        errors = {name: counters.get(name, 0)
                  for name in ("parse_errors", "dropped", "send_errors", "internal_errors")}
        self.assertEqual(errors, dict.fromkeys(errors, 0), f"{counters}\n{why}")

    def _assertOK(self, *results: SippResult) -> None:
        """
        Assert that each SIPp run exited 0 with its one call successful.
        """
        for result in results:
            self.assertEqual((result.exitCode, result.successful, result.failed), (0, 1, 0),
                             _describe(*results))

    def test_basicCall(self) -> Deferred[None]:
        """
        A call with timers on both legs: the callee sees a new Call-ID and sst's own session
        timer (Session-Expires 600, Min-SE 300); the caller's 200 carries its interval with
        C{refresher=uac} and C{Require: timer}, and the callee's SDP; the BYE crosses over.
        """

        async def check() -> None:
            service, caller, callee = await self._call(
                "b2bua_uac", "b2bua_uas", "--min-se", "90", "--b-session-expires", "600",
                "--b-min-se", "300", callerKeys={"se": "1800"}, calleeKeys={"se": "600"})
            self._assertOK(caller, callee)
            why = _describe(caller, callee)
            [invite] = _received(callee, "INVITE")
            [sent] = [m for m in _logged(caller) if m.sent and m.method == "INVITE"]
            self.assertNotEqual(invite.headers("call-id"), sent.headers("call-id"), why)
            self.assertEqual(invite.headers("session-expires"), ["600"], why)
            self.assertEqual(invite.headers("min-se"), ["300"], why)
            self.assertEqual(invite.headers("subject"), [], why)
            [ok] = _received(caller, 200)[:1]
            self.assertEqual(ok.headers("session-expires"), ["1800;refresher=uac"], why)
            self.assertEqual(ok.headers("require"), ["timer"], why)
            self.assertIn("o=sippuas", ok.text, why)
            self.assertEqual(len(_received(callee, "BYE")), 1, why)
            self._assertClean(service, why)

        return Deferred.fromCoroutine(check())

    def test_callee422(self) -> Deferred[None]:
        """
        A callee that answers 422 (Min-SE 1800) gets a retry from sst with the same Call-ID,
        a new From tag, CSeq+1 and Min-SE 1800; the caller never sees the 422.
        """

        async def check() -> None:
            service, caller, callee = await self._call(
                "b2bua_uac", "b2bua_uas_422", "--min-se", "90", "--b-session-expires", "90",
                "--b-min-se", "90", callerKeys={"se": "1800"}, calleeKeys={"se": "1800"})
            self._assertOK(caller, callee)
            why = _describe(caller, callee)
            first, second = _received(callee, "INVITE")
            self.assertEqual(first.headers("call-id"), second.headers("call-id"), why)
            self.assertNotEqual(first.headers("from"), second.headers("from"), why)
            self.assertEqual([int(first.headers("cseq")[0].split()[0]),
                              int(second.headers("cseq")[0].split()[0])], [1, 2], why)
            self.assertEqual(second.headers("min-se"), ["1800"], why)
            self.assertEqual(second.headers("session-expires"), ["1800"], why)
            self.assertEqual(_received(caller, 422), [], why)
            self._assertClean(service, why)

        return Deferred.fromCoroutine(check())

    def test_callerWithoutTimerSupport(self) -> Deferred[None]:
        """
        A caller without timer support gets a 200 with C{refresher=uas} and no Require: sst
        takes the refresher role on the A-leg.
        """

        async def check() -> None:
            service, caller, callee = await self._call(
                "b2bua_uac_notimer", "b2bua_uas", "--min-se", "90",
                calleeKeys={"se": "1800"})
            self._assertOK(caller, callee)
            why = _describe(caller, callee)
            [ok] = _received(caller, 200)[:1]
            self.assertEqual(ok.headers("session-expires"), ["1800;refresher=uas"], why)
            self.assertEqual(ok.headers("require"), [], why)
            self._assertClean(service, why)

        return Deferred.fromCoroutine(check())

    def test_refreshAndExpiry(self) -> Deferred[None]:
        """
        With SE 90 on both legs: the callee lets sst refresh and gets an UPDATE about 45 s
        after its 200; the caller takes the refresher role and never refreshes, so about
        60 s after the 200 (90 - min(32, 30)) sst sends BYE on both legs with the session
        timer Reason, and counts C{expired_sst}. Takes about 62 s.
        """

        async def check() -> None:
            service, caller, callee = await self._call(
                "b2bua_uac_norefresh", "b2bua_uas_refresh", "--min-se", "90",
                "--session-expires", "90", "--b-session-expires", "90", "--b-min-se", "90",
                calleeKeys={"se": "90"}, timeout=90)
            self._assertOK(caller, callee)
            why = _describe(caller, callee)
            calleeLog = _logged(callee)
            [ok] = [m for m in calleeLog if m.sent and m.code == 200][:1]
            [update] = _received(callee, "UPDATE")
            self.assertTrue(44 <= update.at - ok.at <= 47, f"UPDATE after {update.at - ok.at}\n{why}")
            self.assertEqual(update.headers("session-expires"), ["90;refresher=uac"], why)
            self.assertNotIn("v=0", update.text, why)
            [calleeBye] = _received(callee, "BYE")
            self.assertTrue(58 <= calleeBye.at - ok.at <= 62,
                            f"BYE after {calleeBye.at - ok.at}\n{why}")
            self.assertEqual(calleeBye.headers("reason"), [EXPIRY_REASON], why)
            callerLog = _logged(caller)
            [callerOk] = [m for m in callerLog if not m.sent and m.code == 200][:1]
            self.assertEqual(callerOk.headers("session-expires"), ["90;refresher=uac"], why)
            [callerBye] = _received(caller, "BYE")
            self.assertTrue(58 <= callerBye.at - callerOk.at <= 62, why)
            self.assertEqual(callerBye.headers("reason"), [EXPIRY_REASON], why)
            self.assertEqual(service.stats.get("expired_sst"), 1, why)
            self.assertEqual(service.stats.get("refreshes_sent"), 1, why)
            self._assertClean(service, why)

        return Deferred.fromCoroutine(check())

    def test_refreshHonoursCallersMinSE(self) -> Deferred[None]:
        """
        A caller that asks sst to refresh (C{refresher=uas}) with C{Min-SE: 100} gets sst's
        UPDATE about 50 s after the 200, carrying its Min-SE, not 90, and a Session-Expires
        not below it (RFC 4028 section 7.4). Takes about 51 s.
        """

        async def check() -> None:
            service, caller, callee = await self._call(
                "b2bua_uac_refreshed", "b2bua_uas", "--min-se", "90",
                callerKeys={"minse": "100"}, calleeKeys={"se": "1800"}, timeout=90)
            self._assertOK(caller, callee)
            why = _describe(caller, callee)
            callerLog = _logged(caller)
            [ok] = [m for m in callerLog if not m.sent and m.code == 200][:1]
            self.assertEqual(ok.headers("session-expires"), ["100;refresher=uas"], why)
            [update] = _received(caller, "UPDATE")
            self.assertTrue(49 <= update.at - ok.at <= 52, f"UPDATE after {update.at - ok.at}\n{why}")
            self.assertEqual(update.headers("min-se"), ["100"], why)
            self.assertEqual(update.headers("session-expires"), ["100;refresher=uac"], why)
            self.assertEqual(service.stats.get("refreshes_sent"), 1, why)
            self._assertClean(service, why)

        return Deferred.fromCoroutine(check())
