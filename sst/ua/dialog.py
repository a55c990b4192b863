# -*- test-case-name: sst.test.test_ua -*-
"""
One dialog of the UA core (RFC 3261 section 12, RFC 3311): L{UADialog}, and the
L{IDialogUser} it tells what happens in it.

A dialog holds its Call-ID, tags, local and remote CSeq, route set (Record-Route in order for
the UAS, reversed for the UAC) and remote target (Contact, updated by target refresh requests
and their 2xx). It sends in-dialog requests (re-INVITE, UPDATE, BYE, ...), acknowledges 2xx to
its re-INVITEs, retransmits its own 2xx to the peer's INVITE until the ACK arrives (T1 doubling
to T2, given up at 64*T1 with a BYE), answers the peer's requests, detects re-INVITE glare
(491, or 500 with Retry-After while an INVITE of the peer is still unanswered, RFC 3261
section 14.2; RFC 3311 section 5.2 for UPDATE with an offer), answers BYE, and ends on a 481,
408 or time-out of an in-dialog request (RFC 3261 section 12.2.1.2; a BYE is sent first on 408
and time-out).

@see: U{https://www.rfc-editor.org/rfc/rfc3261#section-12}
@see: U{https://www.rfc-editor.org/rfc/rfc3311}
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional, Sequence

from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import Interface, implementer

from sst.address import Address
from sst.dialogs import DialogId
from sst.headers import SIPParseError, parseNameAddr
from sst.message import Request, Response, canonicalName
from sst.responses import makeResponse
from sst.transaction import ClientTransaction, IClientTransactionUser, ServerTransaction

if TYPE_CHECKING:
    from sst.ua.core import UserAgent

__all__ = ["ALLOW", "SUPPORTED", "Headers", "ResponseCallback", "IDialogUser", "UADialog"]

#: The methods the UA core accepts, for Allow headers.
ALLOW = "INVITE, ACK, CANCEL, BYE, UPDATE, OPTIONS, INFO, MESSAGE, NOTIFY"

#: The option tags the UA core supports, for Supported headers.
SUPPORTED = "timer"

#: Dialog states.
CONFIRMED = "confirmed"
ENDING = "ending"
TERMINATED = "terminated"

#: Header lines to add to a message, as (name, value) pairs.
Headers = Sequence[tuple[str, str]]

#: Told of each response to an in-dialog request (provisional ones included).
ResponseCallback = Callable[[Response], None]


def _contactURI(message: Request | Response) -> Optional[str]:
    """
    @return: the URI of the first Contact of C{message}, or L{None}.
    @raise SIPParseError: when the Contact does not parse.
    """
    values = message.headerValues("contact")
    if not values or values[0].strip() == "*":
        return None
    return str(parseNameAddr(values[0]).uri)


def _isLoose(route: str) -> bool:
    try:
        return "lr" in parseNameAddr(route).uri.params
    except SIPParseError:
        return True


class IDialogUser(Interface):
    """
    Told what happens in a L{UADialog}.
    """

    def requestReceived(dialog: "UADialog", server: ServerTransaction) -> None:
        """
        An in-dialog request other than ACK, BYE and CANCEL arrived (re-INVITE, UPDATE, INFO,
        ...), past the CSeq and glare checks; answer it with L{UADialog.respond}.
        """

    def ackReceived(dialog: "UADialog", ack: Request) -> None:
        """
        The ACK for a 2xx we sent arrived (its retransmissions stopped).
        """

    def dialogTerminated(dialog: "UADialog", reason: str) -> None:
        """
        The dialog ended: C{"bye"} (our BYE was answered or timed out), C{"remote-bye"},
        C{"481"}, C{"408"}, C{"timeout"} (an in-dialog request got no answer) or
        C{"no-ack"} (no ACK for our 2xx within 64*T1). After a 408, a time-out or a missing
        ACK a BYE was sent.
        """

class _Retransmit2xx:
    """
    Sends a 2xx to an INVITE again until its ACK arrives (RFC 3261 section 13.3.1.4): after
    T1, then doubling up to T2; after 64*T1 the dialog is told.
    """

    __slots__ = ("dialog", "cseq", "data", "address", "interval", "deadline", "call")

    def __init__(self, dialog: "UADialog", cseq: int, data: bytes, address: Address) -> None:
        self.dialog = dialog
        self.cseq = cseq
        self.data = data
        self.address = address
        timers = dialog.ua.transactions.timers
        clock = dialog.ua.clock
        self.interval = timers.t1
        self.deadline = clock.seconds() + 64 * timers.t1
        if address.transport == "udp":
            self.call: Optional[IDelayedCall] = clock.callLater(self.interval, self._fire)
        else:
            self.call = clock.callLater(64 * timers.t1, self._fire)

    def _fire(self) -> None:
        self.call = None
        ua = self.dialog.ua
        now = ua.clock.seconds()
        if now >= self.deadline - 1e-9:
            self.dialog._noAck(self.cseq)
            return
        ua.transactions.transport.stats.increment("retransmissions")
        ua.transactions.transport.send(self.data, self.address)
        self.interval = min(self.interval * 2, ua.transactions.timers.t2)
        self.call = ua.clock.callLater(min(self.interval, self.deadline - now), self._fire)

    def stop(self) -> None:
        """
        Stop retransmitting.
        """
        if self.call is not None and self.call.active():
            self.call.cancel()
        self.call = None


@implementer(IClientTransactionUser)
class _InDialogRequest:
    """
    The user of one in-dialog client transaction: acknowledges 2xx to a re-INVITE and tells
    the dialog and the caller of L{UADialog.request}.
    """

    __slots__ = ("dialog", "request", "onResponse", "onTimeout", "finished")

    def __init__(self, dialog: "UADialog", request: Request, onResponse: Optional[ResponseCallback],
                 onTimeout: Optional[Callable[[], None]]) -> None:
        self.dialog = dialog
        self.request = request
        self.onResponse = onResponse
        self.onTimeout = onTimeout
        self.finished = False

    def responseReceived(self, transaction: Optional[ClientTransaction], response: Response) -> None:
        code = response.code
        dialog = self.dialog
        isInvite = self.request.method == "INVITE"
        if isInvite and 200 <= code < 300:
            cseq = self.request.cseq().number
            if self.finished:
                dialog.resendAck(cseq)
                return
            dialog._sendAck(cseq)
        if code < 200:
            if self.onResponse is not None and not self.finished:
                self.onResponse(response)
            return
        if self.finished:
            return
        self.finished = True
        if isInvite:
            dialog.invitePending = False
        dialog._finalResponse(self, response)

    def transactionTimedOut(self, transaction: Optional[ClientTransaction]) -> None:
        if self.finished:
            return
        self.finished = True
        if self.request.method == "INVITE":
            self.dialog.invitePending = False
        self.dialog._finalResponse(self, None)


class UADialog:
    """
    One dialog of the UA core (RFC 3261 section 12).

    @ivar callId: the Call-ID.
    @ivar localTag: our tag.
    @ivar remoteTag: the peer's tag.
    @ivar localParty: the From value of our requests (our tag included).
    @ivar remoteParty: the To value of our requests (the peer's tag included).
    @ivar routeSet: the route set, as Route header values.
    @ivar remoteTarget: the peer's Contact URI, as text.
    @ivar localCSeq: the CSeq number of our last request.
    @ivar remoteCSeq: the CSeq number of the peer's last request, or L{None}.
    @ivar isUAC: whether we sent the dialog-creating INVITE (and so chose the Call-ID).
    @ivar contact: our Contact header value.
    @ivar user: told of requests, ACKs and the end of the dialog.
    @ivar peerAllow: the methods of the peer's last Allow, or L{None} when never seen.
    @ivar peerSupported: the option tags of the peer's last Supported.
    @ivar state: C{"confirmed"}, C{"ending"} (our BYE is out) or C{"terminated"}.
    @ivar invitePending: whether a re-INVITE of ours awaits its final response.
    @ivar inviteServer: the peer's re-INVITE we have not answered finally yet, if any.
    """

    _log = Logger()

    def __init__(self, ua: "UserAgent", callId: str, localTag: str, remoteTag: str,
                 localParty: str, remoteParty: str, routeSet: Sequence[str], remoteTarget: str,
                 localCSeq: int, remoteCSeq: Optional[int], isUAC: bool, contact: str) -> None:
        self.ua = ua
        self.callId = callId
        self.localTag = localTag
        self.remoteTag = remoteTag
        self.localParty = localParty
        self.remoteParty = remoteParty
        self.routeSet = tuple(routeSet)
        self.remoteTarget = remoteTarget
        self.localCSeq = localCSeq
        self.remoteCSeq = remoteCSeq
        self.isUAC = isUAC
        self.contact = contact
        self.user: Optional[IDialogUser] = None
        self.peerAllow: Optional[frozenset[str]] = None
        self.peerSupported: frozenset[str] = frozenset()
        self.state = CONFIRMED
        self.invitePending = False
        self.inviteServer: Optional[ServerTransaction] = None
        self._pending2xx: dict[int, _Retransmit2xx] = {}
        self._acks: dict[int, tuple[bytes, Address]] = {}

    def __repr__(self) -> str:
        return "<UADialog %s %s/%s %s>" % (self.callId, self.localTag, self.remoteTag, self.state)

    @property
    def key(self) -> tuple[str, str, str]:
        """
        (Call-ID, local tag, remote tag): how the UA core finds the dialog.
        """
        return (self.callId, self.localTag, self.remoteTag)

    @property
    def id(self) -> DialogId:
        """
        The dialog's identifier in the caller/callee terms of L{sst.dialogs}.
        """
        if self.isUAC:
            return DialogId(self.callId, self.localTag, self.remoteTag)
        return DialogId(self.callId, self.remoteTag, self.localTag)

    @property
    def alive(self) -> bool:
        """
        Whether requests other than BYE may still be sent.
        """
        return self.state == CONFIRMED

    def peerAllows(self, method: str) -> bool:
        """
        @return: whether the peer's last Allow listed C{method}.
        """
        return self.peerAllow is not None and method in self.peerAllow

    def learnPeer(self, message: Request | Response) -> None:
        """
        Remember the peer's Allow and Supported from a message it sent.
        """
        if message.hasHeader("allow"):
            self.peerAllow = frozenset(v.upper() for v in message.headerValues("allow"))
        if message.hasHeader("supported"):
            self.peerSupported = frozenset(v.lower() for v in message.headerValues("supported"))

    def _targetRefresh(self, message: Request | Response) -> None:
        try:
            target = _contactURI(message)
        except SIPParseError:
            return
        if target is not None:
            self.remoteTarget = target

    # -- sending -----------------------------------------------------------------------

    def _newRequest(self, method: str, cseq: int) -> Request:
        """
        A request in this dialog (RFC 3261 section 12.2.1.1): Request-URI and Route from the
        route set and remote target, From, To, Call-ID and CSeq.
        """
        routes = self.routeSet
        if routes and not _isLoose(routes[0]):
            uri = str(parseNameAddr(routes[0]).uri)
            routes = routes[1:] + ("<%s>" % (self.remoteTarget,),)
        else:
            uri = self.remoteTarget
        request = Request(method, uri)
        append = request.appendHeader
        for route in routes:
            append("route", route)
        append("max-forwards", "70")
        append("from", self.localParty)
        append("to", self.remoteParty)
        append("call-id", self.callId)
        append("cseq", "%d %s" % (cseq, method))
        return request

    def request(self, method: str, headers: Headers = (), body: bytes = b"",
                onResponse: Optional[ResponseCallback] = None,
                onTimeout: Optional[Callable[[], None]] = None) -> Request:
        """
        Send a request in the dialog with the next local CSeq.

        A 2xx to a re-INVITE is acknowledged here. A final response goes to C{onResponse}
        (provisional ones too), a time-out to C{onTimeout}; then a 481 ends the dialog, and a
        408 or a time-out sends BYE and ends it (RFC 3261 section 12.2.1.2).

        @param method: the method (not ACK or CANCEL).
        @param headers: more header lines (Session-Expires, Content-Type, Reason, ...).
        @param body: the body.
        @return: the request (its Via is added when it is sent).
        @raise RuntimeError: when the dialog has ended, or is ending and C{method} is not BYE.
        """
        if self.state == TERMINATED or (self.state == ENDING and method != "BYE"):
            raise RuntimeError("dialog %r cannot send %s" % (self, method))
        self.localCSeq += 1
        request = self._newRequest(method, self.localCSeq)
        append = request.appendHeader
        if method in ("INVITE", "UPDATE"):
            append("contact", self.contact)
            append("allow", ALLOW)
        append("supported", SUPPORTED)
        for name, value in headers:
            append(canonicalName(name), value)
        request.body = body
        if method == "INVITE":
            self.invitePending = True
        sender = _InDialogRequest(self, request, onResponse, onTimeout)
        self.ua._send(request, sender, sender.transactionTimedOut)
        return request

    def bye(self, headers: Headers = ()) -> None:
        """
        End the dialog with BYE; the user is told (C{"bye"}) once it is answered or times out.
        Nothing happens when the dialog is already ending.
        """
        if self.state != CONFIRMED:
            return
        self.state = ENDING
        self._stopRetransmits()
        self.request("BYE", headers)

    def _sendAck(self, cseq: int) -> None:
        """
        Acknowledge a 2xx to our INVITE with CSeq C{cseq}: a new transaction-less request
        with a new branch, routed like any in-dialog request (RFC 3261 section 13.2.2.4).
        """
        ack = self._newRequest("ACK", cseq)
        ua = self.ua

        def send(addresses: list[Address]) -> None:
            if not addresses:
                return
            address = addresses[0]
            ua._addVia(ack, address)
            data = ack.toBytes()
            self._acks[cseq] = (data, address)
            ua.transactions.transport.stats.increment("requests_out")
            ua.transactions.transport.send(data, address)

        ua.resolve(ua._nextHop(ack)).addCallback(send).addErrback(self._logFailure, "ACK")

    def resendAck(self, cseq: int) -> None:
        """
        A 2xx to our INVITE C{cseq} came again: send the same ACK again.
        """
        sent = self._acks.get(cseq)
        if sent is not None:
            self.ua.transactions.transport.send(*sent)

    def _logFailure(self, failure: Failure, what: str) -> None:
        self._log.failure("Sending {what} in {dialog} failed", failure, what=what, dialog=self)

    # -- answering ---------------------------------------------------------------------

    def respond(self, server: ServerTransaction, code: int, headers: Headers = (),
                body: bytes = b"", phrase: str = "") -> Response:
        """
        Answer a request the user was given. A 2xx to INVITE or UPDATE carries our Contact,
        Allow and Supported; a 2xx to INVITE is retransmitted until its ACK arrives.

        @return: the response sent.
        """
        request = server.request
        method = request.method
        response = makeResponse(request, code, phrase)
        append = response.appendHeader
        if 200 <= code < 300 and method in ("INVITE", "UPDATE"):
            append("contact", self.contact)
            append("allow", ALLOW)
            append("supported", SUPPORTED)
        for name, value in headers:
            append(canonicalName(name), value)
        response.body = body
        sent = server.respond(response)
        if method == "INVITE" and code >= 200:
            if self.inviteServer is server:
                self.inviteServer = None
            if code < 300 and sent is not None and self.state == CONFIRMED:
                self._retransmit(request.cseq().number, sent, server.address)
        return response

    def _retransmit(self, cseq: int, data: bytes, address: Address) -> None:
        old = self._pending2xx.pop(cseq, None)
        if old is not None:
            old.stop()
        self._pending2xx[cseq] = _Retransmit2xx(self, cseq, data, address)

    def _stopRetransmits(self) -> None:
        for pending in self._pending2xx.values():
            pending.stop()
        self._pending2xx.clear()

    def _noAck(self, cseq: int) -> None:
        self._pending2xx.pop(cseq, None)
        self._log.info("No ACK for the 2xx in {dialog}: ending it", dialog=self)
        self._byeAndTerminate("no-ack")

    # -- what arrives --------------------------------------------------------------------

    def _requestReceived(self, server: ServerTransaction) -> None:
        request = server.request
        method = request.method
        cseq = request.cseq().number
        if self.remoteCSeq is not None and cseq < self.remoteCSeq:
            server.respondWith(500, "CSeq Out Of Order")
            return
        self.remoteCSeq = cseq
        if method == "BYE":
            server.respondWith(200)
            self._terminate("remote-bye")
            return
        if self.state != CONFIRMED or self.user is None:
            server.respondWith(481)
            return
        if method == "INVITE" or (method == "UPDATE" and request.body):
            if self.invitePending:
                server.respondWith(491)
                return
            if self.inviteServer is not None:
                response = makeResponse(request, 500, "Request Pending")
                response.addHeader("Retry-After", str(int(self.ua.uniform(0, 10))))
                server.respond(response)
                return
        if method == "INVITE":
            self.inviteServer = server
            server.context = self
            server.respondWith(100)
        if method in ("INVITE", "UPDATE"):
            self.learnPeer(request)
            self._targetRefresh(request)
        self.user.requestReceived(self, server)

    def _ackReceived(self, ack: Request) -> None:
        pending = self._pending2xx.pop(ack.cseq().number, None)
        if pending is None:
            return
        pending.stop()
        if self.user is not None and self.state == CONFIRMED:
            self.user.ackReceived(self, ack)

    def _cancelReceived(self, invite: ServerTransaction) -> None:
        if self.inviteServer is invite:
            self.respond(invite, 487)

    def _finalResponse(self, sender: _InDialogRequest, response: Optional[Response]) -> None:
        method = sender.request.method
        if response is not None and 200 <= response.code < 300 and method in ("INVITE", "UPDATE"):
            self.learnPeer(response)
            self._targetRefresh(response)
        try:
            if response is not None:
                if sender.onResponse is not None:
                    sender.onResponse(response)
            elif sender.onTimeout is not None:
                sender.onTimeout()
        finally:
            code = response.code if response is not None else 0
            if method == "BYE":
                self._terminate("bye")
            elif code == 481:
                self._terminate("481")
            elif code == 408 or response is None:
                self._byeAndTerminate("408" if code == 408 else "timeout")

    # -- the end ---------------------------------------------------------------------------

    def _byeAndTerminate(self, reason: str) -> None:
        if self.state == CONFIRMED:
            self.state = ENDING
            self._stopRetransmits()
            self.request("BYE")
        self._terminate(reason)

    def abandon(self) -> None:
        """
        Stop holding this dialog without a word to the peer or to the user: another node of
        a cluster holds it now.  Retransmissions stop, and what arrives in it is no longer
        dispatched here.
        """
        if self.state == TERMINATED:
            return
        self.state = TERMINATED
        self._stopRetransmits()
        self.ua._removeDialog(self)
        self.user = None

    def _terminate(self, reason: str) -> None:
        if self.state == TERMINATED:
            return
        self.state = TERMINATED
        self._stopRetransmits()
        server = self.inviteServer
        if server is not None:
            self.inviteServer = None
            response = makeResponse(server.request, 487)
            server.respond(response)
        self.ua._removeDialog(self)
        if self.user is not None:
            self.user.dialogTerminated(self, reason)

