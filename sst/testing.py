# -*- test-case-name: sst.test.test_testing -*-
"""
Helpers for testing sst and plugins written for it: the whole proxy stack on a
L{twisted.internet.task.Clock}, with no sockets, and message builders.

    harness = ProxyHarness(["--min-se", "90"])
    harness.fromCaller(harness.invite(sessionExpires="90"))
    forwarded = harness.lastTo(CALLEE)
    harness.fromCallee(harness.answer(forwarded, 200))
    harness.clock.advance(90)
"""
from __future__ import annotations

from operator import methodcaller
from typing import Any, Callable, Optional, Union

from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import Clock

from sst.address import Address
from sst.floodlimit import FloodLimiter, floodLimiterFor
from sst.message import DEFAULT_MAX_SIZE, Request, Response, parse
from sst.protocol import ConnectFailed, TransportLayer
from sst.stats import Stats
from sst.tap import Options, SIPService

__all__ = ["ProxyHarness", "RecordingTransport", "SortedClock", "CALLER", "CALLEE", "PROXY"]

CALLER = Address("udp", "127.0.0.1", 5061)
CALLEE = Address("udp", "127.0.0.1", 5070)
PROXY = Address("udp", "127.0.0.1", 5060)


class SortedClock(Clock):
    """
    A L{Clock} that sorts its calls with a bound-method key rather than a lambda, so tests and
    benchmarks with thousands of timers stay fast (timsort on an almost sorted list is
    linear). The key is C{getTime()}, which counts a postponing C{reset()}.
    """

    def _sortCalls(self) -> None:
        self.calls.sort(key=_callTime)


_callTime = methodcaller("getTime")


class RecordingTransport(TransportLayer):
    """
    A transport layer that sends nothing: each message is handed to C{record} instead, with
    what to call if its TCP connection fails (or L{None}).
    """

    def __init__(self, clock: IReactorTime, stats: Stats,
                 record: Callable[[bytes, Address, Optional[ConnectFailed]], None],
                 maxSize: int = DEFAULT_MAX_SIZE, limiter: Optional[FloodLimiter] = None) -> None:
        super().__init__(clock, stats, maxSize, limiter=limiter)
        self._record = record

    def send(self, data: bytes, address: Address,
             connectFailed: Optional[ConnectFailed] = None) -> None:
        """
        Record C{data} as sent to C{address}.
        """
        self._record(data, address, connectFailed)


class ProxyHarness:
    """
    The full sst service (transport, transactions, dialogs, session timers, proxy) on a
    recording transport and a clock.

    @ivar sent: every (message, address) the proxy sent, parsed, oldest first.
    @ivar connectFailed: for each message sent over TCP, where it went and what to call if
        its connection fails.
    """

    def __init__(self, args: Optional[list[str]] = None, nextHop: bool = True,
                 clock: Optional[Clock] = None) -> None:
        """
        @param args: more command-line options.
        @param nextHop: send every initial request to L{CALLEE} (C{--next-hop}), unless
            C{args} names another.
        @param clock: the clock; a L{SortedClock} by default.
        """
        self.clock = clock if clock is not None else SortedClock()
        options = Options()
        argv = list(args or [])
        if nextHop and "--next-hop" not in argv:
            argv = ["--next-hop", "sip:%s" % (CALLEE.hostport(),)] + argv
        argv = ["--listen", "udp:%s" % (PROXY.hostport(),)] + argv
        options.parseOptions(argv)
        self.sent: list[tuple[Union[Request, Response], Address]] = []
        self.connectFailed: list[tuple[Address, ConnectFailed]] = []
        stats = Stats(enabled=not options["no-stats"])
        transport = RecordingTransport(
            self.clock, stats, self._record, options["max-size"],
            floodLimiterFor(options["flood-limits"], self.clock, stats))
        self.service = SIPService(options, self.clock, transport=transport)
        transport.listensAt(PROXY)
        self.service.addLocalAddress(PROXY.host, PROXY.port)
        self._n = 0

    @property
    def dialogs(self) -> Any:
        """
        The service's L{sst.dialogs.DialogTable}.
        """
        return self.service.dialogs

    @property
    def stats(self) -> Any:
        """
        The service's L{sst.stats.Stats}.
        """
        return self.service.stats

    def _record(self, data: bytes, address: Address,
                connectFailed: Optional[ConnectFailed] = None) -> None:
        self.sent.append((parse(data), address))
        if connectFailed is not None:
            self.connectFailed.append((address, connectFailed))

    def receive(self, data: Union[bytes, str], source: Address) -> None:
        """
        Deliver bytes to the proxy as if they came from C{source}.
        """
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.service.transport.dataReceived(data, source)

    def fromCaller(self, data: Union[bytes, str]) -> None:
        """
        Deliver a message from the caller.
        """
        self.receive(data, CALLER)

    def fromCallee(self, data: Union[bytes, str]) -> None:
        """
        Deliver a message from the callee.
        """
        self.receive(data, CALLEE)

    def to(self, address: Address) -> list[Union[Request, Response]]:
        """
        @return: every message sent to C{address}, oldest first.
        """
        return [m for m, a in self.sent if a == address]

    def lastTo(self, address: Address) -> Union[Request, Response]:
        """
        @return: the last message sent to C{address}.
        """
        messages = self.to(address)
        if not messages:
            raise AssertionError("nothing was sent to %s" % (address,))
        return messages[-1]

    def lastRequestTo(self, address: Address) -> Request:
        """
        @return: the last request sent to C{address}.
        """
        for message in reversed(self.to(address)):
            if isinstance(message, Request):
                return message
        raise AssertionError("no request was sent to %s" % (address,))

    def lastResponseTo(self, address: Address) -> Response:
        """
        @return: the last response sent to C{address}.
        """
        for message in reversed(self.to(address)):
            if isinstance(message, Response):
                return message
        raise AssertionError("no response was sent to %s" % (address,))

    def invite(self, *headers: str, callId: str = "call-1", fromTag: str = "caller1",
               supported: Optional[str] = "timer", branch: str = "z9hG4bK-inv-1",
               cseq: int = 1, body: str = "v=0\r\n") -> str:
        """
        An initial INVITE from the caller, with extra header lines C{headers}.
        """
        lines = [
            "INVITE sip:bob@%s SIP/2.0" % (CALLEE.hostport(),),
            "Via: SIP/2.0/UDP %s;branch=%s;rport" % (CALLER.hostport(), branch),
            "Max-Forwards: 70",
            'From: "alice" <sip:alice@%s>;tag=%s' % (CALLER.hostport(), fromTag),
            "To: <sip:bob@%s>" % (CALLEE.hostport(),),
            "Call-ID: %s" % (callId,),
            "CSeq: %d INVITE" % (cseq,),
            "Contact: <sip:alice@%s>" % (CALLER.hostport(),),
        ]
        if supported is not None:
            lines.append("Supported: %s" % (supported,))
        lines.extend(headers)
        lines.append("Content-Type: application/sdp")
        lines.append("Content-Length: %d" % (len(body),))
        return "\r\n".join(lines) + "\r\n\r\n" + body

    def inDialog(self, method: str, *headers: str, callId: str = "call-1",
                 fromTag: str = "caller1", toTag: str = "callee1", cseq: int = 2,
                 branch: Optional[str] = None, fromCallee: bool = False) -> str:
        """
        An in-dialog request routed through the proxy's Record-Route, from the caller (or
        from the callee with C{fromCallee}).
        """
        self._n += 1
        branch = branch or "z9hG4bK-%s-%d" % (method.lower(), self._n)
        caller = "<sip:alice@%s>;tag=%s" % (CALLER.hostport(), fromTag)
        callee = "<sip:bob@%s>;tag=%s" % (CALLEE.hostport(), toTag)
        source, target = (CALLEE, CALLER) if fromCallee else (CALLER, CALLEE)
        lines = [
            "%s sip:%s@%s SIP/2.0" % (method, "alice" if fromCallee else "bob", target.hostport()),
            "Via: SIP/2.0/UDP %s;branch=%s;rport" % (source.hostport(), branch),
            "Route: <sip:%s;lr>" % (PROXY.hostport(),),
            "Max-Forwards: 70",
            "From: %s" % (callee if fromCallee else caller,),
            "To: %s" % (caller if fromCallee else callee,),
            "Call-ID: %s" % (callId,),
            "CSeq: %d %s" % (cseq, method),
        ]
        lines.extend(headers)
        lines.append("Content-Length: 0")
        return "\r\n".join(lines) + "\r\n\r\n"

    def answer(self, request: Union[Request, Response], code: int, *headers: str,
               toTag: str = "callee1", contact: Optional[Address] = None) -> str:
        """
        A response to a request the proxy forwarded: Vias and Record-Route copied, a To tag
        added when missing, a Contact.
        """
        assert isinstance(request, Request)
        lines = ["SIP/2.0 %d %s" % (code, {180: "Ringing", 200: "OK"}.get(code, "Whatever"))]
        lines += ["Via: " + v for v in request.headerValues("via")]
        lines += ["Record-Route: " + r for r in request.headerValues("record-route")]
        lines.append("From: " + (request.header("from") or ""))
        to = request.header("to") or ""
        lines.append("To: " + (to if request.toTag is not None or code == 100 else "%s;tag=%s" % (to, toTag)))
        lines.append("Call-ID: " + request.callId)
        lines.append("CSeq: " + (request.header("cseq") or ""))
        contactAddress = contact or CALLEE
        lines.append("Contact: <sip:bob@%s>" % (contactAddress.hostport(),))
        lines.extend(headers)
        lines.append("Content-Length: 0")
        return "\r\n".join(lines) + "\r\n\r\n"

    def call(self, *inviteHeaders: str, okHeaders: tuple[str, ...] = (), **kw: Any) -> Response:
        """
        Run INVITE / 200 / ACK through the proxy.

        @return: the 200 as the caller received it.
        """
        self.fromCaller(self.invite(*inviteHeaders, **kw))
        forwarded = self.lastRequestTo(CALLEE)
        self.fromCallee(self.answer(forwarded, 200, *okHeaders))
        ok = self.lastResponseTo(CALLER)
        self.fromCaller(self.inDialog("ACK", cseq=kw.get("cseq", 1), callId=kw.get("callId", "call-1"),
                                      fromTag=kw.get("fromTag", "caller1")))
        return ok
