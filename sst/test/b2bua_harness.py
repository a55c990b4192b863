"""
The B2BUA stack (C{twistd sst --mode b2bua}) on a clock with an in-memory wire, and builders
for what the caller and the callee send: the B2BUA equivalent of L{sst.testing.ProxyHarness}.

    h = B2BUAHarness(["--min-se", "90"])
    aOk, bInvite = h.establish("Session-Expires: 90")
    h.clock.advance(45)
    h.lastRequestTo(CALLEE)          # sst's refresh on the B-leg
"""
from __future__ import annotations

from typing import Optional, Union

from sst.address import Address
from sst.b2bua.core import B2BUA
from sst.message import Request, Response
from sst.store import DialogStore
from sst.tap import Options, SIPService
from sst.testing import CALLEE, CALLER, PROXY, ProxyHarness, SortedClock
from sst.ua.core import UserAgent

__all__ = ["B2BUAHarness", "CALLER", "CALLEE", "PROXY", "OFFER", "ANSWER"]

#: The caller's SDP offer.
OFFER = "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\n"

#: The callee's SDP answer.
ANSWER = "v=0\r\no=callee 7 7 IN IP4 127.0.0.1\r\ns=-\r\n"


class _Clock(SortedClock):
    """
    A clock that sorts its calls by L{IDelayedCall.getTime}, which a call postponed with
    C{reset()} changes (its C{time} attribute does not).
    """

    def _sortCalls(self) -> None:
        self.calls.sort(key=lambda call: call.getTime())


class B2BUAHarness(ProxyHarness):
    """
    The sst service in B2BUA mode wired to an in-memory wire and a clock; the B-leg goes to
    L{CALLEE}.
    """

    def __init__(self, args: Optional[list[str]] = None, nextHop: bool = True) -> None:
        # The B2BUA postpones timers with IDelayedCall.reset(), which only a clock sorting
        # by getTime() handles.
        super().__init__(["--mode", "b2bua"] + list(args or []), nextHop, clock=_Clock())
        self._branches = 0

    @property
    def b2bua(self) -> B2BUA:
        """
        The service's L{B2BUA}.
        """
        assert self.service.b2bua is not None
        return self.service.b2bua

    @property
    def ua(self) -> UserAgent:
        """
        The service's L{UserAgent}.
        """
        assert self.service.ua is not None
        return self.service.ua

    def requestsTo(self, address: Address, method: Optional[str] = None) -> list[Request]:
        """
        @return: the requests sent to C{address} (of C{method}, when given), oldest first.
        """
        return [m for m in self.to(address)
                if isinstance(m, Request) and (method is None or m.method == method)]

    def responsesTo(self, address: Address, code: Optional[int] = None) -> list[Response]:
        """
        @return: the responses sent to C{address} (with C{code}, when given), oldest first.
        """
        return [m for m in self.to(address)
                if isinstance(m, Response) and (code is None or m.code == code)]

    def _branch(self) -> str:
        self._branches += 1
        return "z9hG4bK-h%d" % (self._branches,)

    def reply(self, request: Union[Request, Response], code: int, *headers: str,
              toTag: str = "callee1", body: str = "", contact: Optional[Address] = None,
              phrase: str = "Whatever") -> str:
        """
        A response to a request sst sent: Vias, From, To (with C{toTag} added when it has
        none), Call-ID and CSeq copied, a Contact, C{headers}, C{body} as SDP.
        """
        assert isinstance(request, Request)
        lines = ["SIP/2.0 %d %s" % (code, {180: "Ringing", 200: "OK"}.get(code, phrase))]
        lines += ["Via: " + v for v in request.headerValues("via")]
        lines.append("From: " + (request.header("from") or ""))
        to = request.header("to") or ""
        lines.append("To: " + (to if request.toTag is not None or code == 100
                               else "%s;tag=%s" % (to, toTag)))
        lines.append("Call-ID: " + request.callId)
        lines.append("CSeq: " + (request.header("cseq") or ""))
        if contact is not None:
            lines.append("Contact: <sip:peer@%s>" % (contact.hostport(),))
        lines.extend(headers)
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append("Content-Length: %d" % (len(body),))
        return "\r\n".join(lines) + "\r\n\r\n" + body

    def answerB(self, invite: Request, code: int = 200, *headers: str, body: str = ANSWER,
                toTag: str = "callee1", phrase: str = "Whatever") -> None:
        """
        The callee answers the B-leg INVITE C{invite}.
        """
        self.fromCallee(self.reply(invite, code, *headers, toTag=toTag,
                                   body=body if 200 <= code < 300 else "",
                                   contact=CALLEE if code < 300 else None, phrase=phrase))

    def callerRequest(self, method: str, ok: Response, *headers: str, cseq: int,
                      body: str = "") -> str:
        """
        An in-dialog request from the caller on the A-leg that C{ok} (sst's 2xx) made.
        """
        lines = [
            "%s sip:b2bua@%s SIP/2.0" % (method, PROXY.hostport()),
            "Via: SIP/2.0/UDP %s;branch=%s;rport" % (CALLER.hostport(), self._branch()),
            "Max-Forwards: 70",
            "From: " + (ok.header("from") or ""),
            "To: " + (ok.header("to") or ""),
            "Call-ID: " + ok.callId,
            "CSeq: %d %s" % (cseq, method),
            "Contact: <sip:alice@%s>" % (CALLER.hostport(),),
        ]
        lines.extend(headers)
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append("Content-Length: %d" % (len(body),))
        return "\r\n".join(lines) + "\r\n\r\n" + body

    def calleeRequest(self, method: str, invite: Request, *headers: str, cseq: int,
                      body: str = "", toTag: str = "callee1") -> str:
        """
        An in-dialog request from the callee on the B-leg that C{invite} (sst's INVITE) made.
        """
        lines = [
            "%s sip:b2bua@%s SIP/2.0" % (method, PROXY.hostport()),
            "Via: SIP/2.0/UDP %s;branch=%s;rport" % (CALLEE.hostport(), self._branch()),
            "Max-Forwards: 70",
            "From: %s;tag=%s" % (invite.header("to") or "", toTag),
            "To: " + (invite.header("from") or ""),
            "Call-ID: " + invite.callId,
            "CSeq: %d %s" % (cseq, method),
            "Contact: <sip:bob@%s>" % (CALLEE.hostport(),),
        ]
        lines.extend(headers)
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append("Content-Length: %d" % (len(body),))
        return "\r\n".join(lines) + "\r\n\r\n" + body

    def establish(self, *inviteHeaders: str, okHeaders: tuple[str, ...] = (),
                  supported: Optional[str] = "timer") -> tuple[Response, Request]:
        """
        Run a call up: the caller's INVITE, sst's B-leg INVITE, the callee's 200 (with
        C{okHeaders}; sst sends the ACK), sst's 200 to the caller, the caller's ACK.

        @return: sst's 200 to the caller and sst's INVITE to the callee.
        """
        self.fromCaller(self.invite(*inviteHeaders, supported=supported, body=OFFER))
        bInvite = self.requestsTo(CALLEE, "INVITE")[-1]
        self.answerB(bInvite, 200, *okHeaders)
        ok = self.responsesTo(CALLER, 200)[-1]
        self.fromCaller(self.callerRequest("ACK", ok, cseq=1))
        return ok, bInvite

    def answerLast(self, address: Address, code: int = 200, *headers: str,
                   body: str = "") -> Request:
        """
        Answer the last request sst sent to C{address} (a refresh, a BYE).

        @return: the request answered.
        """
        request = self.lastRequestTo(address)
        self.receive(self.reply(request, code, *headers, body=body, contact=address), address)
        return request

    def openStore(self, path: str) -> DialogStore:
        """
        Keep the dialog table in the store at C{path} and restore what it holds, as
        C{--state} does when the service starts (the harness's service is never started).
        The store is not flushed periodically: close it to write it.

        @return: the store.
        """
        store = DialogStore(path, self.clock)
        self.dialogs.addObserver(store)
        store.load(self.dialogs)
        return store

    def settle(self) -> None:
        """
        Let every transaction and retransmission end (64*T1 and more).
        """
        self.clock.advance(40)
