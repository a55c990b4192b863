# -*- test-case-name: sst.test.test_proxy_sipp -*-
"""
SIPp integration tests of the proxy.

The proxy runs in-process, in trial's reactor, listening on UDP and TCP on
127.0.0.1 (ports picked by the system); SIPp callers and callees run as
child processes (see L{sst.test.sipp}) and talk to it over loopback.  Each
test runs once over UDP and once over TCP.

Every SIPp run is bounded by its own C{-timeout} (and killed a little after
it), and every test by trial's C{timeout}.  Assertion messages carry SIPp's
summary and message log, so that a failure can be read without rerunning.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Mapping, Optional

from twisted.internet import reactor as _globalReactor
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorProcess, IReactorTime
from twisted.internet.task import deferLater
from twisted.trial.unittest import SkipTest, TestCase

from sst.tap import Options, SIPService
from sst.test.sipp import (
    SippResult,
    freePort,
    runSipp,
    sippAvailable,
    sippExitOK,
    startSipp,
    waitForListening,
)

if TYPE_CHECKING:
    _MixinBase = TestCase
else:
    _MixinBase = object

#: SIPp's own global timeout for each run, in seconds.
SIPP_TIMEOUT = 10.0

#: RFC 3261 T1 for the time-out test: Timer B (64*T1) is 1.92 s, well within
#: the 3 s that C{uas_silent.xml} stays silent.
SHORT_T1 = "0.03"

#: How long C{uas_silent.xml} stays silent after the INVITE, in seconds.
SILENCE = 3.0

_SEPARATOR = re.compile(
    r"^-{10,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\n"
    r"(?:UDP|TCP) message (sent|received)[^\n]*\n",
    re.MULTILINE,
)


def _reactor() -> IReactorProcess:
    """
    Get the global reactor, typed for spawning processes.

    @return: The reactor trial runs.
    """
    return IReactorProcess(_globalReactor)


def _describe(*results: SippResult) -> str:
    """
    Describe SIPp runs for an assertion message.

    @param results: The runs, each described with its summary and message
        log.

    @return: The description.
    """
    parts = []
    for result in results:
        parts.append(result.summary())
        parts.append("--- messages ---\n" + result.messages[-8000:])
    return "\n".join(parts)


@dataclass(frozen=True)
class _Logged:
    """
    One SIP message in a SIPp message log.

    @ivar at: When SIPp sent or received it, in seconds since the epoch.
    @ivar sent: C{True} if SIPp sent it, C{False} if it received it.
    @ivar text: The message, start line first.
    """

    at: float
    sent: bool
    text: str

    @property
    def startLine(self) -> str:
        """
        @return: The request or status line.
        """
        return self.text.split("\n", 1)[0].strip()

    @property
    def method(self) -> Optional[str]:
        """
        @return: The method of a request, L{None} for a response.
        """
        first = self.startLine.split(" ", 1)[0]
        return None if first == "SIP/2.0" else first

    @property
    def code(self) -> Optional[int]:
        """
        @return: The status code of a response, L{None} for a request.
        """
        parts = self.startLine.split(" ", 2)
        return int(parts[1]) if parts[0] == "SIP/2.0" else None

    def headers(self, name: str) -> list[str]:
        """
        Find the values of a header, one per header line.

        @param name: The header name (long form), in any case.

        @return: The values, in order.
        """
        head = self.text.split("\r\n\r\n", 1)[0]
        values = []
        for line in head.splitlines()[1:]:
            field, colon, value = line.partition(":")
            if colon and field.strip().lower() == name.lower():
                values.append(value.strip())
        return values

    @property
    def topBranch(self) -> str:
        """
        @return: The branch parameter of the top Via.
        """
        match = re.search(r";branch=([^;,\s]+)", self.headers("via")[0])
        assert match is not None, self.text
        return match.group(1)


def _logged(result: SippResult) -> list[_Logged]:
    """
    Split a SIPp message log into messages.

    @param result: A SIPp run.

    @return: The messages it sent and received, in order.
    """
    pieces = _SEPARATOR.split(result.messages)
    messages = []
    for i in range(1, len(pieces) - 2, 3):
        stamp, direction, text = pieces[i : i + 3]
        at = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp()
        messages.append(_Logged(at, direction == "sent", text.strip("\r\n")))
    return messages


def _received(result: SippResult, what: str | int) -> list[_Logged]:
    """
    Find the requests of a method, or the responses with a status code,
    that a SIPp run received.

    @param result: A SIPp run.
    @param what: A method name or a status code.

    @return: The matching messages, in order.
    """
    return [
        m
        for m in _logged(result)
        if not m.sent and (m.method == what if isinstance(what, str) else m.code == what)
    ]


class _ProxySippMixin(_MixinBase):
    """
    SIPp calls through an in-process proxy; subclasses say over which
    transport.

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

    def _startProxy(self, *arguments: str) -> SIPService:
        """
        Start the whole SIP stack on 127.0.0.1, UDP and TCP, on ports the
        system picks; it is stopped when the test ends.

        @param arguments: More command-line options (C{--next-hop}, timers).

        @return: The started service.
        """
        options = Options()
        options.parseOptions(
            ["--listen", "udp:127.0.0.1:0", "--listen", "tcp:127.0.0.1:0", "--state", "none",
             *arguments]
        )
        service = SIPService(options, _globalReactor)
        service.startService()
        self.addCleanup(service.stopService)
        return service

    def _proxyTarget(self, service: SIPService) -> str:
        """
        Say where SIPp reaches the proxy over this test's transport.

        @param service: The started proxy.

        @return: C{"127.0.0.1:PORT"}.
        """
        return f"127.0.0.1:{service.boundAddress(self.transport).port}"

    def _nextHop(self, port: int) -> str:
        """
        Build a C{--next-hop} URI for a callee on this test's transport.

        @param port: The callee's port on 127.0.0.1.

        @return: The URI.
        """
        suffix = ";transport=tcp" if self.transport == "tcp" else ""
        return f"sip:127.0.0.1:{port}{suffix}"

    def _startCallee(
        self, scenario: str, port: int, calls: int = 1, keys: Mapping[str, str] = {}
    ) -> Deferred[SippResult]:
        """
        Start a callee scenario in the background.

        @param scenario: The callee scenario.
        @param port: The port it listens on.
        @param calls: The number of calls after which it exits.
        @param keys: Its generic keywords.

        @return: A L{Deferred} firing with its result; the test must await
            it.
        """
        _, done = startSipp(
            _reactor(),
            scenario,
            None,
            localPort=port,
            transport=self.transport,
            calls=calls,
            timeout=SIPP_TIMEOUT,
            workdir=self.workdir,
            keys=keys,
        )
        return done

    async def _waitForCallee(self, port: int, callee: Deferred[SippResult]) -> None:
        """
        Wait until a callee listens, killing it if it never does.

        @param port: The callee's port.
        @param callee: Its result, cancelled on failure.
        """
        try:
            await waitForListening(IReactorTime(_globalReactor), port, self.transport)
        except BaseException:
            callee.cancel()
            raise

    def _runCaller(
        self,
        scenario: str,
        target: str,
        *,
        calls: int = 1,
        rate: float = 10,
        keys: Mapping[str, str] = {},
        service: Optional[str] = None,
    ) -> Deferred[SippResult]:
        """
        Run a caller (or registering) scenario to completion.

        @param scenario: The scenario.
        @param target: C{"host:port"} it sends to: the proxy.
        @param calls: The number of calls it makes.
        @param rate: Calls per second.
        @param keys: Its generic keywords.
        @param service: Its C{-s} username.

        @return: A L{Deferred} firing with its result.
        """
        return runSipp(
            _reactor(),
            scenario,
            target,
            localPort=freePort(self.transport),
            transport=self.transport,
            calls=calls,
            rate=rate,
            keys=keys,
            timeout=SIPP_TIMEOUT,
            workdir=self.workdir,
            service=service,
        )

    async def _callThrough(
        self,
        caller: str,
        callee: str,
        *proxyArguments: str,
        calls: int = 1,
        rate: float = 10,
    ) -> tuple[SIPService, SippResult, SippResult]:
        """
        Start a callee and a proxy whose next hop it is, then run a caller
        through the proxy.

        @param caller: The caller scenario; its C{[callee]} key names the
            callee.
        @param callee: The callee scenario.
        @param proxyArguments: More proxy options.
        @param calls: The number of calls.
        @param rate: Calls per second.

        @return: The proxy, and the caller's and the callee's results.
        """
        calleePort = freePort(self.transport)
        service = self._startProxy("--next-hop", self._nextHop(calleePort), *proxyArguments)
        calleeDone = self._startCallee(callee, calleePort, calls)
        await self._waitForCallee(calleePort, calleeDone)
        try:
            callerResult = await self._runCaller(
                caller,
                self._proxyTarget(service),
                calls=calls,
                rate=rate,
                keys={"callee": f"127.0.0.1:{calleePort}"},
            )
        finally:
            calleeResult = await calleeDone
        return service, callerResult, calleeResult

    def _assertAllSuccessful(self, calls: int, *results: SippResult) -> None:
        """
        Assert that SIPp runs exited 0 with every call successful.

        @param calls: The number of calls each run made.
        @param results: The runs.
        """
        for result in results:
            self.assertTrue(sippExitOK(result), _describe(*results))
            self.assertEqual(
                (result.successful, result.failed), (calls, 0), _describe(*results)
            )

    def _proxySentBy(self, service: SIPService) -> str:
        """
        Say what the proxy puts in the sent-by of its Via over this test's
        transport.

        @param service: The started proxy.

        @return: C{"SIP/2.0/UDP 127.0.0.1:PORT"} or the TCP equivalent.
        """
        return f"SIP/2.0/{self.transport.upper()} {self._proxyTarget(service)};"

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

    def _assertDialogCounts(self, service: SIPService, count: int, why: str) -> None:
        """
        Assert that the proxy counted C{count} dialogs created and as many
        terminated, none expired, and holds none any more.

        @param service: The proxy.
        @param count: The number of dialogs the calls made.
        @param why: The assertion message (SIPp's logs).
        """
        counters = service.stats.snapshot()
        self.assertEqual(
            (
                counters.get("dialogs_created"),
                counters.get("dialogs_terminated"),
                counters.get("dialogs_expired"),
                len(service.dialogs),
            ),
            (count, count, 0, 0),
            f"proxy counters: {counters}\n{why}",
        )

    def test_basicCall(self) -> Deferred[None]:
        """
        A call from C{uac.xml} goes through the proxy to C{uas.xml}: the
        INVITE arrives with Max-Forwards decremented and the proxy's
        Record-Route, the ACK and BYE follow the route through the proxy,
        both sides count one successful call, and afterwards the proxy keeps
        no dialog.
        """

        async def check() -> None:
            service, caller, callee = await self._callThrough("uac", "uas")
            self._assertAllSuccessful(1, caller, callee)
            why = _describe(caller, callee)
            [invite] = _received(callee, "INVITE")
            self.assertEqual(invite.headers("max-forwards"), ["69"], why)
            suffix = ";transport=tcp" if self.transport == "tcp" else ""
            self.assertEqual(
                invite.headers("record-route"),
                [f"<sip:{self._proxyTarget(service)}{suffix};lr>"],
                why,
            )
            for method in ("ACK", "BYE"):
                [request] = _received(callee, method)
                self.assertTrue(
                    request.headers("via")[0].startswith(self._proxySentBy(service)), why
                )
            self._assertDialogCounts(service, 1, why)
            self._assertNoProxyErrors(service, why)
            self.assertGreater(service.stats.get("requests_in"), 0)

        return Deferred.fromCoroutine(check())

    def test_cancel(self) -> Deferred[None]:
        """
        A caller (C{uac_cancel.xml}) that cancels while the callee
        (C{uas_ring_no_answer.xml}) rings gets 200 for its CANCEL and 487
        for its INVITE.  The proxy cancels the callee's branch itself, with
        the branch of the INVITE it forwarded, and acknowledges the
        callee's 487 hop by hop.
        """

        async def check() -> None:
            service, caller, callee = await self._callThrough("uac_cancel", "uas_ring_no_answer")
            self._assertAllSuccessful(1, caller, callee)
            why = _describe(caller, callee)
            self.assertEqual(len(_received(caller, 487)), 1, why)
            [invite] = _received(callee, "INVITE")
            [cancel] = _received(callee, "CANCEL")
            acks = _received(callee, "ACK")
            self.assertTrue(acks, why)
            for request in [cancel, *acks]:
                self.assertEqual(request.topBranch, invite.topBranch, why)
            self._assertDialogCounts(service, 1, why)
            self._assertNoProxyErrors(service, why)

        return Deferred.fromCoroutine(check())

    def test_cancelWithoutTransaction(self) -> Deferred[None]:
        """
        A CANCEL for an INVITE the proxy never saw (C{uac_cancel_only.xml})
        is forwarded statelessly to the next hop (C{uas_cancel_only.xml}),
        under the proxy's Via above the caller's, and the callee's 200
        comes back to the caller; the proxy keeps no transaction for it.
        """

        async def check() -> None:
            service, caller, callee = await self._callThrough("uac_cancel_only", "uas_cancel_only")
            self._assertAllSuccessful(1, caller, callee)
            why = _describe(caller, callee)
            [cancel] = _received(callee, "CANCEL")
            vias = cancel.headers("via")
            self.assertEqual(len(vias), 2, why)
            self.assertTrue(vias[0].startswith(self._proxySentBy(service)), why)
            self.assertEqual(cancel.headers("max-forwards"), ["69"], why)
            [ok] = _received(caller, 200)
            self.assertEqual(len(ok.headers("via")), 1, why)
            self.assertEqual(service.transactions.clients, {}, why)
            self._assertNoProxyErrors(service, why)

        return Deferred.fromCoroutine(check())

    def test_busy(self) -> Deferred[None]:
        """
        A 486 from the callee (C{uas_busy.xml}) reaches the caller
        (C{uac_busy.xml}); the proxy acknowledges it to the callee itself,
        with the branch of the INVITE it forwarded, and absorbs the
        caller's ACK.
        """

        async def check() -> None:
            service, caller, callee = await self._callThrough("uac_busy", "uas_busy")
            self._assertAllSuccessful(1, caller, callee)
            why = _describe(caller, callee)
            self.assertEqual(len(_received(caller, 486)), 1, why)
            [invite] = _received(callee, "INVITE")
            acks = _received(callee, "ACK")
            self.assertTrue(acks, why)
            for ack in acks:
                self.assertEqual(ack.topBranch, invite.topBranch, why)
                self.assertEqual(len(ack.headers("via")), 1, why)
            self._assertDialogCounts(service, 0, why)
            self._assertNoProxyErrors(service, why)

        return Deferred.fromCoroutine(check())

    def test_calleeNeverAnswers(self) -> Deferred[None]:
        """
        When the callee (C{uas_silent.xml}) never answers, the proxy gives
        up on it when Timer B (64*T1, here 1.92 s) fires and answers the
        caller (C{uac_timeout.xml}) with 408 itself, before the callee's
        silence ends; the callee gets nothing but the INVITE (and, over
        UDP, its retransmissions).
        """

        async def check() -> None:
            service, caller, callee = await self._callThrough(
                "uac_timeout", "uas_silent", "--t1", SHORT_T1
            )
            self._assertAllSuccessful(1, caller, callee)
            why = _describe(caller, callee)
            logged = _logged(caller)
            [timeout] = _received(caller, 408)
            waited = timeout.at - logged[0].at
            timerB = 64 * float(SHORT_T1)
            self.assertTrue(timerB - 0.1 <= waited < SILENCE, f"408 after {waited} s\n{why}")
            methods = {m.method for m in _logged(callee) if not m.sent}
            self.assertEqual(methods, {"INVITE"}, why)
            if self.transport == "tcp":
                self.assertEqual(len(_received(callee, "INVITE")), 1, why)
            self._assertDialogCounts(service, 0, why)
            self._assertNoProxyErrors(service, why)

        return Deferred.fromCoroutine(check())

    def test_maxForwardsZero(self) -> Deferred[None]:
        """
        An INVITE with C{Max-Forwards: 0} (C{uac_maxfwd0.xml}) is answered
        483 Too Many Hops by the proxy itself, and not forwarded.
        """

        async def check() -> None:
            calleePort = freePort(self.transport)
            service = self._startProxy("--next-hop", self._nextHop(calleePort))
            caller = await self._runCaller(
                "uac_maxfwd0",
                self._proxyTarget(service),
                keys={"callee": f"127.0.0.1:{calleePort}"},
            )
            self._assertAllSuccessful(1, caller)
            self.assertEqual(len(_received(caller, 483)), 1, _describe(caller))
            self.assertEqual(service.stats.get("requests_out"), 0, _describe(caller))
            self._assertNoProxyErrors(service, _describe(caller))

        return Deferred.fromCoroutine(check())

    def test_optionsHealthCheck(self) -> Deferred[None]:
        """
        An OPTIONS whose Request-URI is the proxy itself (C{uac_options_self.xml}) gets
        200 with Allow and C{Supported: timer} from the proxy, even with a next hop
        configured, and nothing is forwarded: a load balancer's health check sees a live
        server.
        """

        async def check() -> None:
            calleePort = freePort(self.transport)
            service = self._startProxy("--next-hop", self._nextHop(calleePort))
            caller = await self._runCaller("uac_options_self", self._proxyTarget(service))
            self._assertAllSuccessful(1, caller)
            self.assertEqual(len(_received(caller, 200)), 1, _describe(caller))
            self.assertEqual(service.stats.get("requests_out"), 0, _describe(caller))
            self.assertEqual(service.stats.get("options_answered"), 1, _describe(caller))
            self._assertNoProxyErrors(service, _describe(caller))

        return Deferred.fromCoroutine(check())

    def test_floodLimited(self) -> Deferred[None]:
        """
        A flood of requests from one address (C{uac_options_flood.xml}, 20 OPTIONS at
        200/s) through a proxy with C{--flood-limit 5 --flood-action 503}: the first 5
        get 200, the other 15 get 503 with Retry-After, and the source is counted once.
        """

        async def check() -> None:
            service = self._startProxy("--flood-limit", "5", "--flood-window", "30",
                                       "--flood-action", "503")
            caller = await self._runCaller("uac_options_flood", self._proxyTarget(service),
                                           calls=20, rate=200)
            self._assertAllSuccessful(20, caller)
            self.assertEqual((len(_received(caller, 200)), len(_received(caller, 503))),
                             (5, 15), _describe(caller))
            self.assertEqual(service.stats.get("flood_offenders"), 1, _describe(caller))
            self.assertEqual(service.stats.get("flood_blocked"), 15, _describe(caller))
            self._assertNoProxyErrors(service, _describe(caller))

        return Deferred.fromCoroutine(check())

    def test_nextHopIsProxy(self) -> Deferred[None]:
        """
        With C{--next-hop} naming the proxy itself, an INVITE
        (C{uac_loop.xml}) is forwarded to the proxy, comes back with the
        proxy's Via and loop hash, and is answered C{482 Loop Detected},
        which reaches the caller; it is not forwarded a third time.
        """

        async def check() -> None:
            ports = {"udp": freePort("udp"), "tcp": freePort("tcp")}
            own = ports[self.transport]
            service = self._startProxy("--next-hop", self._nextHop(own),
                                       "--listen", f"udp:127.0.0.1:{ports['udp']}",
                                       "--listen", f"tcp:127.0.0.1:{ports['tcp']}")
            caller = await self._runCaller(
                "uac_loop", f"127.0.0.1:{own}", keys={"callee": f"127.0.0.1:{own}"}
            )
            self._assertAllSuccessful(1, caller)
            why = _describe(caller)
            [loop] = _received(caller, 482)
            self.assertEqual(loop.startLine, "SIP/2.0 482 Loop Detected", why)
            self.assertEqual(len(loop.headers("via")), 1, why)
            self.assertEqual(service.stats.get("requests_out"), 1, why)
            self._assertNoProxyErrors(service, why)
            # Over TCP the proxy connected to itself: close both ends.
            for connection in list(service.transport._connections.values()):
                if connection.transport is not None:
                    connection.transport.loseConnection()
            while service.transport._connections:
                await deferLater(IReactorTime(_globalReactor), 0.01, lambda: None)

        return Deferred.fromCoroutine(check())

    def test_callRegisteredUser(self) -> Deferred[None]:
        """
        After C{register.xml} binds C{bob} to a callee's address, a call to
        C{sip:bob@} the proxy (C{uac_to_user.xml}) is routed by the
        location service to that callee (C{uas.xml}), with the registered
        Contact as Request-URI.
        """

        async def check() -> None:
            service = self._startProxy()
            target = self._proxyTarget(service)
            calleePort = freePort(self.transport)
            register = await self._runCaller(
                "register", target, keys={"contact_port": str(calleePort)}, service="bob"
            )
            self._assertAllSuccessful(1, register)
            self.assertEqual(len(service.locations), 1, _describe(register))
            calleeDone = self._startCallee("uas", calleePort)
            await self._waitForCallee(calleePort, calleeDone)
            try:
                caller = await self._runCaller("uac_to_user", target, service="bob")
            finally:
                callee = await calleeDone
            self._assertAllSuccessful(1, caller, callee)
            why = _describe(caller, callee)
            [invite] = _received(callee, "INVITE")
            self.assertEqual(
                invite.startLine,
                f"INVITE sip:bob@127.0.0.1:{calleePort};transport={self.transport.upper()}"
                " SIP/2.0",
                why,
            )
            self._assertDialogCounts(service, 1, why)
            self._assertNoProxyErrors(service, why)

        return Deferred.fromCoroutine(check())

    def test_parallelForksKeepOwnTimers(self) -> Deferred[None]:
        """
        C{bob} is registered at two callees; both answer the call with 200, one with
        Session-Expires 300, the other 600 (C{uas_answer_se.xml}), and the caller ACKs
        both (C{uac_fork.xml}).  Each of the two dialogs keeps its own interval and expires
        at it: neither is cut to the 32 s of a losing early dialog.
        """

        if self.transport != "udp":
            raise SkipTest("SIPp acknowledges two 2xx arriving in one TCP read as one")

        async def check() -> None:
            service = self._startProxy("--min-se", "90")
            target = self._proxyTarget(service)
            ports = [freePort(self.transport), freePort(self.transport)]
            for port in ports:
                register = await self._runCaller(
                    "register", target, keys={"contact_port": str(port)}, service="bob"
                )
                self._assertAllSuccessful(1, register)
            self.assertEqual(len(service.locations.lookup("sip:bob@127.0.0.1")), 2)
            callees = [self._startCallee("uas_answer_se", port, keys={"se": se})
                       for port, se in zip(ports, ["300", "600"])]
            for port, callee in zip(ports, callees):
                await self._waitForCallee(port, callee)
            try:
                caller = await self._runCaller("uac_fork", target, service="bob")
            finally:
                results = [await callee for callee in callees]
            self._assertAllSuccessful(1, caller, *results)
            why = _describe(caller, *results)
            now = IReactorTime(_globalReactor).seconds()
            dialogs = sorted((d.interval or 0, d.state.value, round(d.expiresAt - now))
                             for d in service.dialogs)
            self.assertEqual(len(dialogs), 2, why)
            self.assertEqual([(i, s) for i, s, _ in dialogs],
                             [(300, "confirmed"), (600, "confirmed")], why)
            for interval, _, remaining in dialogs:
                self.assertGreater(remaining, interval - 10, why)
            self._assertNoProxyErrors(service, why)

        return Deferred.fromCoroutine(check())

    def test_severalCalls(self) -> Deferred[None]:
        """
        Twenty calls started at twenty a second all go through, and leave
        no dialog behind.
        """

        async def check() -> None:
            service, caller, callee = await self._callThrough("uac", "uas", calls=20, rate=20)
            self._assertAllSuccessful(20, caller, callee)
            why = _describe(caller, callee)
            self.assertEqual(len({m.headers("call-id")[0] for m in _received(callee, "BYE")}),
                             20, why)
            self._assertDialogCounts(service, 20, why)
            self._assertNoProxyErrors(service, why)

        return Deferred.fromCoroutine(check())


class ProxySippUDPTests(_ProxySippMixin, TestCase):
    """
    SIPp calls through the proxy over UDP.
    """

    if not sippAvailable():
        skip = "sipp not installed"

    transport = "udp"


class ProxySippTCPTests(_ProxySippMixin, TestCase):
    """
    SIPp calls through the proxy over TCP.
    """

    if not sippAvailable():
        skip = "sipp not installed"

    transport = "tcp"
