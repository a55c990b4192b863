# -*- test-case-name: sst.test.test_sessiontimer_sipp -*-
"""
SIPp integration tests of the session timers (RFC 4028 section 8, and the
seed's Example 1-1).

As in L{sst.test.test_proxy_sipp}, the proxy runs in-process, in trial's
reactor, on 127.0.0.1 (ports picked by the system), and SIPp callers and
callees run as child processes (see L{sst.test.sipp}).  The scenarios
check the session-timer headers they must receive themselves (with
C{ereg check_it}), and the tests check them again, with the rest, from the
SIPp message logs and from the proxy's dialog table and counters.

The negotiation tests run over UDP and TCP; the insertion, refresh and
expiry tests over UDP only.  Every test takes a few seconds except
L{SessionTimerSippUDPTests.test_expiryWithoutBye}, which must outwait a
90 s session (the smallest RFC 4028 allows) and takes about 95 s.

Every SIPp run is bounded by its own C{-timeout} (and killed a little after
it), and every test by trial's C{timeout}.  Assertion messages carry SIPp's
summary and message log, so that a failure can be read without rerunning.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Sequence, TypeVar

from twisted.internet import reactor as _globalReactor
from twisted.internet.defer import Deferred
from twisted.internet.error import ProcessExitedAlready
from twisted.internet.interfaces import IProcessTransport, IReactorTime
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from sst.dialogs import Dialog, DialogState
from sst.tap import Options, SIPService, makeService
from sst.test.sipp import (
    SippResult,
    freePort,
    runSipp,
    sippAvailable,
    sippExitOK,
    startSipp,
    waitForListening,
)
from sst.test.test_proxy_sipp import _describe, _Logged, _logged, _reactor, _received

if TYPE_CHECKING:
    _MixinBase = TestCase
else:
    _MixinBase = object

_T = TypeVar("_T")

#: SIPp's own global timeout for each run of a short test, in seconds.
SIPP_TIMEOUT = 10.0

#: How often the tests look at the proxy's dialog table, in seconds.
POLL = 0.02

#: The pause before each refresh, and before the BYE, in
#: C{uac_timer_refresh.xml}, in ms.
REFRESH_PAUSE_MS = 1000

#: The session interval of the refresh and expiry tests: the smallest RFC
#: 4028 allows (section 5), and the proxy's C{--min-se} there.
SHORT_INTERVAL = 90

#: How long both sides of the expiry test stay silent after the ACK, in
#: ms: past the session's expiry (90 s) and the last look at the proxy
#: (91 s), so that a BYE sent on expiry would reach them.
HOLD_MS = 93000

#: SIPp's global timeout for the expiry test's runs, in seconds.
HOLD_SIPP_TIMEOUT = 120.0


def _optionTags(message: _Logged, name: str) -> list[str]:
    """
    List the option tags of a C{Supported} or C{Require} header.

    @param message: A logged message.
    @param name: The header name.

    @return: Its option tags, in lower case, from every header line.
    """
    return [
        tag.strip().lower()
        for value in message.headers(name)
        for tag in value.split(",")
        if tag.strip()
    ]


def _fromTag(message: _Logged) -> str:
    """
    Find the tag of a message's From header.

    @param message: A logged message.

    @return: The value of the C{tag} parameter.
    """
    [value] = message.headers("from")
    for param in value.split(";")[1:]:
        name, _, tag = param.partition("=")
        if name.strip().lower() == "tag":
            return tag.strip()
    raise AssertionError(f"no From tag in\n{message.text}")


def _sentRequests(result: SippResult, method: str) -> list[_Logged]:
    """
    Find the requests of a method that a SIPp run sent.

    @param result: A SIPp run.
    @param method: The method.

    @return: The matching requests, in order.
    """
    return [m for m in _logged(result) if m.sent and m.method == method]


def _answersTo(result: SippResult, code: int, cseq: str) -> list[_Logged]:
    """
    Find the responses with a status code to one request that a SIPp run
    received.

    @param result: A SIPp run.
    @param code: The status code.
    @param cseq: The request's CSeq, such as C{"2 INVITE"}.

    @return: The matching responses (retransmissions included), in order.
    """
    return [m for m in _received(result, code) if m.headers("cseq") == [cseq]]


async def _killAndWait(process: IProcessTransport, done: Deferred[SippResult]) -> SippResult:
    """
    Kill a SIPp process that is no longer wanted and wait for it to exit.

    @param process: The process.
    @param done: Its result.

    @return: Its result.
    """
    try:
        process.signalProcess("KILL")
    except ProcessExitedAlready:
        pass
    return await done


class _SessionTimerSippMixin(_MixinBase):
    """
    Session-timer calls through an in-process proxy; subclasses say over
    which transport.

    @ivar transport: C{"udp"} or C{"tcp"}: the transport SIPp uses, on both
        sides of the proxy.
    @ivar workdir: Where SIPp writes its files.
    """

    transport: str
    workdir: str

    timeout = 30

    def setUp(self) -> None:
        """
        Make a directory for SIPp's files.
        """
        self.workdir = self.mktemp()
        os.makedirs(self.workdir)

    # -- the proxy ------------------------------------------------------------------------

    def _proxyOptions(self, calleePort: int, *arguments: str) -> Options:
        """
        Parse the proxy's options: listen on UDP and TCP on 127.0.0.1 on
        ports the system picks, and send every initial request to the
        callee.

        @param calleePort: The callee's port on 127.0.0.1.
        @param arguments: More command-line options (session timers).

        @return: The parsed options.
        """
        suffix = ";transport=tcp" if self.transport == "tcp" else ""
        options = Options()
        options.parseOptions(
            [
                "--listen", "udp:127.0.0.1:0",
                "--listen", "tcp:127.0.0.1:0",
                "--next-hop", f"sip:127.0.0.1:{calleePort}{suffix}",
                "--state", "none",
                *arguments,
            ]
        )  # fmt: skip
        return options

    def _startProxy(self, calleePort: int, *arguments: str) -> SIPService:
        """
        Start the SIP stack (without the HTTP API); it is stopped when the
        test ends.

        @param calleePort: The callee's port on 127.0.0.1: the next hop.
        @param arguments: More command-line options (session timers).

        @return: The started service.
        """
        service = SIPService(self._proxyOptions(calleePort, *arguments), _globalReactor)
        service.startService()
        self.addCleanup(service.stopService)
        self.addCleanup(self._dropDialogs, service)
        return service

    def _dropDialogs(self, service: SIPService) -> None:
        """
        End the dialogs a failed test left in the proxy, so that their
        expiry timers do not outlive it (and hide the failure behind a
        dirty reactor).

        @param service: The proxy.
        """
        for dialog in service.dialogs:
            service.dialogs.terminate(dialog.id, "test over")

    def _proxyTarget(self, service: SIPService) -> str:
        """
        Say where SIPp reaches the proxy over this test's transport.

        @param service: The started proxy.

        @return: C{"127.0.0.1:PORT"}.
        """
        return f"127.0.0.1:{service.boundAddress(self.transport).port}"

    # -- SIPp -----------------------------------------------------------------------------

    def _startCallee(
        self,
        scenario: str,
        port: int,
        extraArgs: Sequence[str] = (),
        timeout: float = SIPP_TIMEOUT,
    ) -> tuple[IProcessTransport, Deferred[SippResult]]:
        """
        Start a callee scenario, for one call, in the background.

        @param scenario: The callee scenario.
        @param port: The port it listens on.
        @param extraArgs: More SIPp options (C{-d}).
        @param timeout: Its global timeout, in seconds.

        @return: Its process, and a L{Deferred} firing with its result,
            which the test must await.
        """
        return startSipp(
            _reactor(),
            scenario,
            None,
            localPort=port,
            transport=self.transport,
            extraArgs=extraArgs,
            timeout=timeout,
            workdir=self.workdir,
        )

    def _startCaller(
        self,
        scenario: str,
        service: SIPService,
        calleePort: int,
        extraArgs: Sequence[str] = (),
        timeout: float = SIPP_TIMEOUT,
    ) -> tuple[IProcessTransport, Deferred[SippResult]]:
        """
        Start a caller scenario, for one call through the proxy, in the
        background.

        @param scenario: The caller scenario; its C{[callee]} key names the
            callee.
        @param service: The proxy it sends to.
        @param calleePort: The callee's port on 127.0.0.1.
        @param extraArgs: More SIPp options (C{-d}).
        @param timeout: Its global timeout, in seconds.

        @return: Its process, and a L{Deferred} firing with its result,
            which the test must await.
        """
        return startSipp(
            _reactor(),
            scenario,
            self._proxyTarget(service),
            localPort=freePort(self.transport),
            transport=self.transport,
            extraArgs=extraArgs,
            keys={"callee": f"127.0.0.1:{calleePort}"},
            timeout=timeout,
            workdir=self.workdir,
        )

    async def _waitForCallee(
        self, port: int, process: IProcessTransport, done: Deferred[SippResult]
    ) -> None:
        """
        Wait until a callee listens, killing it if it never does.

        @param port: The callee's port.
        @param process: The callee's process.
        @param done: Its result.
        """
        try:
            await waitForListening(IReactorTime(_globalReactor), port, self.transport)
        except BaseException as e:
            result = await _killAndWait(process, done)
            self.fail(f"callee never listened: {e}\n{_describe(result)}")

    async def _call(
        self,
        service: SIPService,
        calleePort: int,
        caller: str,
        callee: str,
        keys: Mapping[str, str] = {},
    ) -> tuple[SippResult, SippResult]:
        """
        Start a callee, then run a caller through the proxy, and wait for
        both.

        @param service: The started proxy, whose next hop is the callee.
        @param calleePort: The callee's port.
        @param caller: The caller scenario.
        @param callee: The callee scenario.
        @param keys: More keys for the caller.

        @return: The caller's and the callee's results.
        """
        calleeProcess, calleeDone = self._startCallee(callee, calleePort)
        await self._waitForCallee(calleePort, calleeProcess, calleeDone)
        try:
            callerResult = await runSipp(
                _reactor(),
                caller,
                self._proxyTarget(service),
                localPort=freePort(self.transport),
                transport=self.transport,
                keys={"callee": f"127.0.0.1:{calleePort}", **keys},
                timeout=SIPP_TIMEOUT,
                workdir=self.workdir,
            )
        finally:
            calleeResult = await calleeDone
        return callerResult, calleeResult

    async def _waitFor(
        self,
        find: Callable[[], Optional[_T]],
        timeout: float,
        what: str,
        running: Sequence[tuple[IProcessTransport, Deferred[SippResult]]],
    ) -> _T:
        """
        Poll for something to appear, every L{POLL} seconds.

        @param find: Returns the thing, or L{None} while it is not there.
        @param timeout: Seconds after which to give up.
        @param what: What is awaited, for the failure message.
        @param running: SIPp runs to kill (and report on) when giving up.

        @return: The thing.
        """
        clock = IReactorTime(_globalReactor)
        deadline = clock.seconds() + timeout
        while True:
            found = find()
            if found is not None:
                return found
            if clock.seconds() > deadline:
                results = [await _killAndWait(p, d) for p, d in running]
                self.fail(f"no {what} after {timeout} s\n{_describe(*results)}")
            await deferLater(clock, POLL, lambda: None)

    # -- assertions -----------------------------------------------------------------------

    def _assertSuccessful(self, *results: SippResult) -> None:
        """
        Assert that SIPp runs exited 0, each with its one call successful.

        @param results: The runs.
        """
        for result in results:
            self.assertTrue(sippExitOK(result), _describe(*results))
            self.assertEqual((result.successful, result.failed), (1, 0), _describe(*results))

    def _first(self, messages: list[_Logged], what: str, why: str) -> _Logged:
        """
        Assert that SIPp logged a message, and take the first (the others
        being retransmissions).

        @param messages: The matching messages.
        @param what: What was looked for, for the assertion message.
        @param why: The assertion message (SIPp's logs).

        @return: The first message.
        """
        self.assertTrue(messages, f"no {what}\n{why}")
        return messages[0]

    def _assertNoProxyErrors(self, service: SIPService, why: str) -> None:
        """
        Assert that the proxy met no error: nothing unparsable, dropped,
        unsendable or unexpected.

        @param service: The proxy.
        @param why: The assertion message (SIPp's logs); the proxy's
            counters are added to it.
        """
        counters = service.stats.snapshot()
        errors = {
            name: counters.get(name, 0)
            for name in ("parse_errors", "dropped", "send_errors", "internal_errors")
        }
        self.assertEqual(
            errors, dict.fromkeys(errors, 0), f"proxy counters: {counters}\n{why}"
        )

    def _assertDialogsEnded(
        self, service: SIPService, why: str, terminated: int = 1, expired: int = 0
    ) -> None:
        """
        Assert how the proxy's dialogs ended, and that it holds none.

        @param service: The proxy.
        @param why: The assertion message (SIPp's logs).
        @param terminated: How many dialogs ended by BYE.
        @param expired: How many expired, each a timed one (C{expired_sst}).
        """
        counters = service.stats.snapshot()
        self.assertEqual(
            (
                counters.get("dialogs_created"),
                counters.get("dialogs_terminated"),
                counters.get("dialogs_expired"),
                counters.get("expired_sst"),
                len(service.dialogs),
            ),
            (terminated + expired, terminated, expired, expired, 0),
            f"proxy counters: {counters}\n{why}",
        )

    # -- tests over both transports -------------------------------------------------------

    def test_tooSmallThenRetry(self) -> Deferred[None]:
        """
        The seed's Example 1-1: an INVITE with C{Supported: timer} and
        C{Session-Expires: 50} gets C{422 Session Interval Too Small} with
        C{Min-SE: 1800} from the proxy (default min_se 1800), and is not
        forwarded.  The caller acknowledges it and retries with the same
        Call-ID, the next CSeq, a new From tag, C{Session-Expires: 1800}
        and C{Min-SE: 1800}; that INVITE reaches the callee with both
        values unchanged, and the callee's 200 (C{Session-Expires:
        1800;refresher=uac}, C{Require: timer}) reaches the caller as it
        was.
        """

        async def check() -> None:
            calleePort = freePort(self.transport)
            service = self._startProxy(calleePort)
            caller, callee = await self._call(
                service, calleePort, "uac_timer_422_retry", "uas_timer_1800"
            )
            self._assertSuccessful(caller, callee)
            why = _describe(caller, callee)

            rejection = self._first(_answersTo(caller, 422, "1 INVITE"), "422", why)
            self.assertEqual(
                rejection.startLine, "SIP/2.0 422 Session Interval Too Small", why
            )
            self.assertEqual(rejection.headers("min-se"), ["1800"], why)
            self.assertEqual(service.stats.get("rejected_422"), 1, why)

            sent = _sentRequests(caller, "INVITE")
            first, retry = [
                self._first([m for m in sent if m.headers("cseq") == [cseq]], cseq, why)
                for cseq in ("1 INVITE", "2 INVITE")
            ]
            self.assertEqual(first.headers("call-id"), retry.headers("call-id"), why)
            self.assertNotEqual(_fromTag(first), _fromTag(retry), why)

            invites = _received(callee, "INVITE")
            self.assertTrue(invites, why)
            for invite in invites:
                # Only the retry (and, over UDP, its retransmissions).
                self.assertEqual(invite.headers("cseq"), ["2 INVITE"], why)
                self.assertEqual(_fromTag(invite), _fromTag(retry), why)
                self.assertEqual(invite.headers("call-id"), retry.headers("call-id"), why)
                self.assertEqual(invite.headers("session-expires"), ["1800"], why)
                self.assertEqual(invite.headers("min-se"), ["1800"], why)
                self.assertIn("timer", _optionTags(invite, "supported"), why)

            ok = self._first(_answersTo(caller, 200, "2 INVITE"), "200 to the retry", why)
            self.assertEqual(ok.headers("session-expires"), ["1800;refresher=uac"], why)
            self.assertIn("timer", _optionTags(ok, "require"), why)

            self._assertDialogsEnded(service, why)
            self._assertNoProxyErrors(service, why)

        return Deferred.fromCoroutine(check())

    def test_nonTimerCallerRaised(self) -> Deferred[None]:
        """
        An INVITE from a caller without timer support (no C{Supported:
        timer}) with C{Session-Expires: 100} and no Min-SE is not rejected
        but forwarded with C{Session-Expires} raised to the proxy's min_se
        (1800) and C{Min-SE: 1800} inserted (RFC 4028 section 8.1).  The
        callee then makes itself the refresher, and its 200 reaches the
        caller unchanged (section 8.2).
        """

        async def check() -> None:
            calleePort = freePort(self.transport)
            service = self._startProxy(calleePort)
            caller, callee = await self._call(
                service, calleePort, "uac_no_timer", "uas_timer_1800"
            )
            self._assertSuccessful(caller, callee)
            why = _describe(caller, callee)

            sent = self._first(_sentRequests(caller, "INVITE"), "INVITE", why)
            self.assertEqual(
                (sent.headers("session-expires"), sent.headers("min-se")), (["100"], []), why
            )
            invites = _received(callee, "INVITE")
            self.assertTrue(invites, why)
            for invite in invites:
                self.assertEqual(invite.headers("session-expires"), ["1800"], why)
                self.assertEqual(invite.headers("min-se"), ["1800"], why)
                self.assertNotIn("timer", _optionTags(invite, "supported"), why)
            self.assertEqual(_received(caller, 422), [], why)
            self.assertEqual(service.stats.get("rejected_422"), 0, why)

            ok = self._first(_answersTo(caller, 200, "1 INVITE"), "200", why)
            self.assertEqual(ok.headers("session-expires"), ["1800;refresher=uas"], why)
            self.assertNotIn("timer", _optionTags(ok, "require"), why)

            self._assertDialogsEnded(service, why)
            self._assertNoProxyErrors(service, why)

        return Deferred.fromCoroutine(check())


class SessionTimerSippUDPTests(_SessionTimerSippMixin, TestCase):
    """
    Session-timer calls through the proxy over UDP, with the tests that
    need only one transport.
    """

    if not sippAvailable():
        skip = "sipp not installed"

    transport = "udp"

    def test_insertion(self) -> Deferred[None]:
        """
        An INVITE with C{Supported: timer} but no Session-Expires gets the
        proxy's configured interval (C{--session-expires 3600}, not its
        minimum) inserted without a refresher, and no Min-SE (RFC 4028
        section 8.1).  When the callee (C{uas.xml}) answers without
        Session-Expires, the proxy adds C{Session-Expires: 3600;refresher=uac}
        and C{Require: timer} to the 200 (section 8.2).
        """

        async def check() -> None:
            calleePort = freePort(self.transport)
            service = self._startProxy(calleePort, "--session-expires", "3600")
            caller, callee = await self._call(service, calleePort, "uac_timer_no_se", "uas")
            self._assertSuccessful(caller, callee)
            why = _describe(caller, callee)

            sent = self._first(_sentRequests(caller, "INVITE"), "INVITE", why)
            self.assertEqual(
                (sent.headers("session-expires"), sent.headers("min-se")), ([], []), why
            )
            invites = _received(callee, "INVITE")
            self.assertTrue(invites, why)
            for invite in invites:
                self.assertEqual(invite.headers("session-expires"), ["3600"], why)
                self.assertEqual(invite.headers("min-se"), [], why)
            answers = [m for m in _logged(callee) if m.sent and m.code == 200]
            answer = self._first(answers, "200 from the callee", why)
            self.assertEqual(answer.headers("session-expires"), [], why)

            ok = self._first(_answersTo(caller, 200, "1 INVITE"), "200", why)
            self.assertEqual(ok.headers("session-expires"), ["3600;refresher=uac"], why)
            self.assertIn("timer", _optionTags(ok, "require"), why)

            self._assertDialogsEnded(service, why)
            self._assertNoProxyErrors(service, why)

        return Deferred.fromCoroutine(check())

    def test_refreshByReinviteAndUpdate(self) -> Deferred[None]:
        """
        In a 90 s session (C{--min-se 90}), the 2xx to a re-INVITE and then
        the 2xx to an UPDATE, each saying C{Session-Expires:
        90;refresher=uac}, push the proxy's expiry forward: each time the
        dialog's C{expiresAt} changes it is 90 s ahead of the moment the 2xx
        passed, later than the one before by about the pause between the
        requests; the three changes are as far apart as the three 200s the
        caller received.  The BYE then ends the dialog.
        """

        async def check() -> None:
            calleePort = freePort(self.transport)
            service = self._startProxy(calleePort, "--min-se", str(SHORT_INTERVAL))
            clock = IReactorTime(_globalReactor)
            calleeProcess, calleeDone = self._startCallee("uas_timer_refresh", calleePort)
            await self._waitForCallee(calleePort, calleeProcess, calleeDone)
            _, callerDone = self._startCaller(
                "uac_timer_refresh",
                service,
                calleePort,
                extraArgs=["-d", str(REFRESH_PAUSE_MS)],
            )
            # Whenever the timed dialog's expiry changes: when that was
            # seen, the new expiry, the interval and the refresher.
            changes: list[tuple[float, float, Optional[int], Optional[str]]] = []
            while not callerDone.called:
                for dialog in service.dialogs:
                    if dialog.timed and (not changes or changes[-1][1] != dialog.expiresAt):
                        changes.append(
                            (clock.seconds(), dialog.expiresAt, dialog.interval, dialog.refresher)
                        )
                await deferLater(clock, POLL, lambda: None)
            caller = await callerDone
            callee = await calleeDone
            self._assertSuccessful(caller, callee)
            why = _describe(caller, callee) + f"\nexpiry changes: {changes}"

            for cseq, method in [("2 INVITE", "INVITE"), ("3 UPDATE", "UPDATE")]:
                request = self._first(
                    [m for m in _received(callee, method) if m.headers("cseq") == [cseq]],
                    cseq,
                    why,
                )
                self.assertEqual(
                    request.headers("session-expires"), [f"{SHORT_INTERVAL};refresher=uac"], why
                )
            oks = [
                self._first(_answersTo(caller, 200, cseq), f"200 to {cseq}", why)
                for cseq in ("1 INVITE", "2 INVITE", "3 UPDATE")
            ]
            for ok in oks:
                self.assertEqual(
                    ok.headers("session-expires"), [f"{SHORT_INTERVAL};refresher=uac"], why
                )

            self.assertEqual(len(changes), 3, why)
            for seenAt, expiresAt, interval, refresher in changes:
                self.assertEqual((interval, refresher), (SHORT_INTERVAL, "uac"), why)
                ahead = expiresAt - seenAt
                self.assertTrue(
                    SHORT_INTERVAL - 0.5 < ahead <= SHORT_INTERVAL + 1e-6,
                    f"expiry {ahead} s ahead when seen\n{why}",
                )
            pause = REFRESH_PAUSE_MS / 1000
            for (_, before, _, _), (_, after, _, _), okBefore, okAfter in zip(
                changes, changes[1:], oks, oks[1:]
            ):
                moved = after - before
                self.assertTrue(moved >= pause - 0.05, f"expiry moved {moved} s\n{why}")
                gap = okAfter.at - okBefore.at
                self.assertApproximates(
                    moved, gap, 0.3, f"expiry moved {moved} s, 200s {gap} s apart\n{why}"
                )

            self._assertDialogsEnded(service, why)
            self._assertNoProxyErrors(service, why)

        return Deferred.fromCoroutine(check())

    def test_expiryWithoutBye(self) -> Deferred[None]:
        """
        A 90 s session (C{--min-se 90}) that nobody refreshes or ends
        expires at the proxy 90 s after its 2xx: the HTTP API
        (C{GET /stats}, over a real socket) shows the timed dialog at 88 s
        and, at 91 s, C{expired_sst} 1 and no dialog.  The proxy sends
        nothing more once the ACK has passed, in particular no BYE to
        either party (RFC 4028 section 8.3): both SIPp sides stay in the
        call, silent, until 93 s, and would fail on any request.
        """

        async def check() -> None:
            import treq

            # treq's annotations and Twisted's cannot say "a reactor with
            # TCP and time" in one type.
            reactor: Any = _globalReactor
            calleePort = freePort(self.transport)
            httpPort = freePort("tcp")
            options = self._proxyOptions(
                calleePort,
                "--min-se", str(SHORT_INTERVAL),
                "--http", f"tcp:{httpPort}:interface=127.0.0.1",
            )  # fmt: skip
            top = makeService(options, reactor)
            top.startService()
            self.addCleanup(top.stopService)
            service = top.getServiceNamed("sip")
            assert isinstance(service, SIPService)
            self.addCleanup(self._dropDialogs, service)
            url = f"http://127.0.0.1:{httpPort}/stats"

            async def stats() -> dict[str, Any]:
                response = await treq.get(url, reactor=reactor, persistent=False)
                self.assertEqual(response.code, 200)
                document: dict[str, Any] = await response.json()
                return document

            hold = ["-d", str(HOLD_MS)]
            callee = self._startCallee(
                "uas_timer_hold", calleePort, extraArgs=hold, timeout=HOLD_SIPP_TIMEOUT
            )
            await self._waitForCallee(calleePort, *callee)
            caller = self._startCaller(
                "uac_timer_hold", service, calleePort, extraArgs=hold, timeout=HOLD_SIPP_TIMEOUT
            )

            def timed() -> Optional[Dialog]:
                return next((d for d in service.dialogs if d.timed), None)

            dialog = await self._waitFor(timed, SIPP_TIMEOUT, "timed dialog", [caller, callee])
            seenAt = reactor.seconds()
            self.assertEqual((dialog.interval, dialog.refresher), (SHORT_INTERVAL, "uac"))
            ahead = dialog.expiresAt - seenAt
            self.assertTrue(SHORT_INTERVAL - 0.5 < ahead <= SHORT_INTERVAL, f"{ahead} s ahead")

            def confirmed() -> Optional[Dialog]:
                return dialog if dialog.state is DialogState.CONFIRMED else None

            await self._waitFor(confirmed, SIPP_TIMEOUT, "ACK", [caller, callee])
            requestsOut = service.stats.get("requests_out")

            await deferLater(reactor, seenAt + 88 - reactor.seconds(), lambda: None)
            before = await stats()
            await deferLater(reactor, seenAt + 91 - reactor.seconds(), lambda: None)
            after = await stats()

            callerResult = await caller[1]
            calleeResult = await callee[1]
            why = (
                _describe(callerResult, calleeResult)
                + f"\n/stats at 88 s: {before}\n/stats at 91 s: {after}"
            )
            self.assertEqual(
                (before["active_dialogs"], before["timed_dialogs"], before["expired_sst"]),
                (1, 1, 0),
                why,
            )
            self.assertEqual(
                (
                    after["active_dialogs"],
                    after["timed_dialogs"],
                    after["expired_sst"],
                    after["dialogs_expired"],
                ),
                (0, 0, 1, 1),
                why,
            )
            self._assertSuccessful(callerResult, calleeResult)
            for result in (callerResult, calleeResult):
                self.assertEqual(_received(result, "BYE"), [], why)
            self.assertEqual(service.stats.get("requests_out"), requestsOut, why)
            self._assertDialogsEnded(service, why, terminated=0, expired=1)
            self._assertNoProxyErrors(service, why)

        return Deferred.fromCoroutine(check())

    test_expiryWithoutBye.timeout = 150  # type: ignore[attr-defined]


class SessionTimerSippTCPTests(_SessionTimerSippMixin, TestCase):
    """
    Session-timer negotiation through the proxy over TCP.
    """

    if not sippAvailable():
        skip = "sipp not installed"

    transport = "tcp"
