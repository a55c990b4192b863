# -*- test-case-name: sst.test.test_ua -*-
"""
The user-agent core (RFC 3261 sections 12 to 15, RFC 3311) on the transaction layer.

What the B2BUA needs of a UA, and no more:

  - L{IncomingInvite}: the UAS side of a dialog-creating INVITE: 100 Trying at once,
    provisional responses, then L{IncomingInvite.accept} (a 2xx retransmitted until the ACK,
    T1 doubling to T2, given up at 64*T1 with a BYE) or L{IncomingInvite.reject}. A CANCEL is
    answered 200 and the INVITE 487 here, then the owner is told.
  - L{OutgoingInvite}: the UAC side: provisional responses passed up, the 2xx turned into a
    L{UADialog} and acknowledged (a new branch, routed by the route set; retransmitted 2xx
    acknowledged again), CANCEL sent once a provisional response allows it (RFC 3261
    section 9.1). A 2xx from a second fork is acknowledged and ended with BYE.
  - L{UADialog}: one dialog (RFC 3261 section 12): Call-ID, tags, local and remote CSeq, route
    set (Record-Route in order for the UAS, reversed for the UAC), remote target (Contact,
    updated by target refresh requests and their 2xx). It sends in-dialog requests (re-INVITE,
    UPDATE, BYE, ...), answers the peer's, detects re-INVITE glare (491, or 500 with
    Retry-After while an INVITE of the peer is still unanswered, RFC 3261 section 14.2;
    RFC 3311 section 5.2 for UPDATE with an offer), answers BYE, and ends the dialog on a
    481, 408 or time-out of an in-dialog request (RFC 3261 section 12.2.1.2; a BYE is sent
    first on 408 and time-out).

The owner of each piece is told through a small interface (L{IUAUser}, L{IInviteUser},
L{IDialogUser}); nothing here knows about session timers or the other leg of a call.

@see: U{https://www.rfc-editor.org/rfc/rfc3261#section-12}
@see: U{https://www.rfc-editor.org/rfc/rfc3311}
"""
from __future__ import annotations

import random
import secrets
from typing import Callable, Optional, Sequence

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import Interface, implementer

from sst.address import Address, addressForURI
from sst.dialogs import DialogId
from sst.headers import URI, SIPParseError, parseNameAddr
from sst.message import Request, Response, canonicalName
from sst.protocol import TransportLayer
from sst.responses import makeResponse
from sst.timers import TimerConfig
from sst.transaction import (
    ClientTransaction,
    IClientTransactionUser,
    ITransactionUser,
    ServerTransaction,
    TransactionLayer,
)

__all__ = [
    "ALLOW",
    "SUPPORTED",
    "UserAgent",
    "UADialog",
    "IncomingInvite",
    "OutgoingInvite",
    "IUAUser",
    "IInviteUser",
    "IDialogUser",
    "glareBackoff",
    "numericResolver",
]

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

#: Turns the URI a request is sent to into addresses.
Resolver = Callable[[URI], "Deferred[list[Address]]"]

#: Draws a random number between its two arguments (C{random.uniform}).
Uniform = Callable[[float, float], float]


def numericResolver(uri: URI) -> Deferred[list[Address]]:
    """
    Resolve without DNS: the URI's host (or C{maddr}), port and transport.

    @param uri: where a request goes.
    @return: a fired L{Deferred} with one address.
    """
    return succeed([addressForURI(uri)])


def glareBackoff(ownsCallId: bool, uniform: Uniform = random.uniform) -> float:
    """
    How long to wait before retrying a re-INVITE that got 491 (RFC 3261 section 14.1).

    @param ownsCallId: whether this UA chose the dialog's Call-ID (it was the dialog's UAC).
    @param uniform: draws the random delay.
    @return: seconds: from 2.1 to 4 when the Call-ID is ours, else from 0 to 2.
    """
    if ownsCallId:
        return uniform(2.1, 4.0)
    return uniform(0.0, 2.0)


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


class IUAUser(Interface):
    """
    Told of what arrives outside any dialog.
    """

    def inviteReceived(invite: "IncomingInvite") -> None:
        """
        A dialog-creating INVITE arrived; 100 Trying was sent. Answer it through C{invite}.
        """

    def requestReceived(server: ServerTransaction) -> None:
        """
        A request outside any dialog that is not INVITE, OPTIONS, ACK or CANCEL (REGISTER,
        say); the user must answer it through C{server}.
        """


class IInviteUser(Interface):
    """
    Told what becomes of an L{OutgoingInvite}.
    """

    def inviteProvisional(invite: "OutgoingInvite", response: Response) -> None:
        """
        A provisional response other than 100 arrived.
        """

    def inviteAnswered(invite: "OutgoingInvite", dialog: "UADialog", response: Response) -> None:
        """
        The first 2xx arrived: C{dialog} exists and the ACK was sent. Set C{dialog.user}.
        """

    def inviteFailed(invite: "OutgoingInvite", response: Optional[Response]) -> None:
        """
        A final non-2xx response arrived (acknowledged by the transaction), or L{None} when
        the INVITE timed out or could not be sent.
        """


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


class IncomingInvite:
    """
    The UAS side of a dialog-creating INVITE.

    @ivar request: the INVITE.
    @ivar server: its server transaction.
    @ivar toTag: our tag, in every response but 100.
    @ivar done: whether a final response was sent.
    @ivar cancelled: whether a CANCEL ended it (487 was sent).
    @ivar onCancel: called once when a CANCEL ends it.
    """

    def __init__(self, ua: "UserAgent", server: ServerTransaction) -> None:
        self.ua = ua
        self.server = server
        self.request = server.request
        self.toTag = ua.transactions.newTag()
        self.done = False
        self.cancelled = False
        self.onCancel: Optional[Callable[[], None]] = None
        server.context = self
        server.toTag = self.toTag
        server.respondWith(100)

    def _response(self, code: int, phrase: str, headers: Headers, body: bytes) -> Response:
        request = self.request
        response = makeResponse(request, code, phrase, toTag=self.toTag)
        append = response.appendHeader
        if code < 300:
            for route in request.headerValues("record-route"):
                append("record-route", route)
            append("contact", self.ua.contactFor(request))
        for name, value in headers:
            append(canonicalName(name), value)
        response.body = body
        return response

    def provisional(self, code: int, phrase: str = "", headers: Headers = (),
                    body: bytes = b"") -> None:
        """
        Send a provisional response (101 to 199) with our tag.
        """
        if self.done:
            return
        self.server.respond(self._response(code, phrase, headers, body))

    def accept(self, user: IDialogUser, headers: Headers = (), body: bytes = b"",
               code: int = 200) -> UADialog:
        """
        Send a 2xx (with Record-Route copied, our Contact, Allow and Supported) and make the
        dialog; the 2xx is retransmitted until the ACK arrives.

        @param user: told of what happens in the dialog.
        @return: the dialog.
        @raise RuntimeError: when a final response was already sent.
        @raise SIPParseError: when the INVITE's Contact or Record-Route does not parse.
        """
        if self.done:
            raise RuntimeError("INVITE already answered")
        request = self.request
        remoteTarget = _contactURI(request) or str(request.fromAddr().uri)
        ua = self.ua
        dialog = UADialog(
            ua, request.callId, self.toTag, request.fromTag or "",
            "%s;tag=%s" % (request.header("to") or "", self.toTag), request.header("from") or "",
            request.headerValues("record-route"), remoteTarget, 0, request.cseq().number,
            isUAC=False, contact=ua.contactFor(request),
        )
        dialog.user = user
        dialog.learnPeer(request)
        self.done = True
        ua._addDialog(dialog)
        full = [("Allow", ALLOW), ("Supported", SUPPORTED)]
        full.extend(headers)
        server = self.server
        sent = server.respond(self._response(code, "", full, body))
        if sent is not None:
            dialog._retransmit(request.cseq().number, sent, server.address)
        return dialog

    def reject(self, code: int, phrase: str = "", headers: Headers = ()) -> None:
        """
        Send a final non-2xx response; nothing happens when one was already sent.
        """
        if self.done:
            return
        self.done = True
        self.server.respond(self._response(code, phrase, headers, b""))

    def _cancel(self) -> None:
        if self.done:
            return
        self.cancelled = True
        self.reject(487)
        if self.onCancel is not None:
            self.onCancel()


@implementer(IClientTransactionUser)
class OutgoingInvite:
    """
    The UAC side of a dialog-creating INVITE.

    @ivar request: the INVITE (its Via is added when it is sent).
    @ivar target: where it is sent.
    @ivar dialog: the dialog its first 2xx made, if any.
    @ivar done: whether a final response (or a time-out) was handed to the user.
    """

    def __init__(self, ua: "UserAgent", request: Request, target: Address, user: IInviteUser) -> None:
        self.ua = ua
        self.request = request
        self.target = target
        self.user = user
        self.transaction: Optional[ClientTransaction] = None
        self.provisional = False
        self.cancelPending = False
        self.cancelSent = False
        self.done = False
        self.dialog: Optional[UADialog] = None

    def start(self) -> None:
        """
        Send the INVITE.
        """
        self.ua._addVia(self.request, self.target)
        self.transaction = self.ua.transactions.request(self.request, self.target, self)

    def cancel(self) -> None:
        """
        Cancel the INVITE: now if a provisional response came, else when one comes (RFC 3261
        section 9.1). A 2xx may still arrive; the user decides what to do with it.
        """
        if self.done or self.cancelSent:
            return
        if not self.provisional:
            self.cancelPending = True
            return
        self._sendCancel()

    def _sendCancel(self) -> None:
        if self.transaction is None or self.cancelSent:
            return
        self.cancelSent = True
        cancel = self.transaction.cancelRequest()
        self.ua.transactions.request(cancel, self.target, _IgnoreResponses())

    def responseReceived(self, transaction: ClientTransaction, response: Response) -> None:
        code = response.code
        if code < 200:
            self.provisional = True
            if self.cancelPending:
                self.cancelPending = False
                self._sendCancel()
            if code > 100 and not self.done:
                self.user.inviteProvisional(self, response)
            return
        if code >= 300:
            if not self.done:
                self.done = True
                self.user.inviteFailed(self, response)
            return
        tag = response.toTag or ""
        if self.dialog is not None:
            if tag == self.dialog.remoteTag:
                self.dialog.resendAck(self.request.cseq().number)
            else:
                # A second fork answered: acknowledge and end it (RFC 3261 section 13.2.2.4).
                fork = self._dialogFor(response)
                fork._sendAck(self.request.cseq().number)
                fork.bye()
            return
        if self.done:
            return
        self.done = True
        dialog = self.dialog = self._dialogFor(response)
        dialog.learnPeer(response)
        dialog._sendAck(self.request.cseq().number)
        self.user.inviteAnswered(self, dialog, response)

    def _dialogFor(self, response: Response) -> UADialog:
        request = self.request
        try:
            remoteTarget = _contactURI(response) or request.uri
            routes = list(reversed(response.headerValues("record-route")))
        except SIPParseError:
            remoteTarget, routes = request.uri, []
        ua = self.ua
        dialog = UADialog(
            ua, request.callId, request.fromTag or "", response.toTag or "",
            request.header("from") or "", response.header("to") or "", routes, remoteTarget,
            request.cseq().number, None, isUAC=True,
            contact=request.header("contact") or ua.contactFor(None, self.target.transport),
        )
        ua._addDialog(dialog)
        return dialog

    def transactionTimedOut(self, transaction: Optional[ClientTransaction]) -> None:
        if self.done:
            return
        self.done = True
        self.user.inviteFailed(self, None)


@implementer(IClientTransactionUser)
class _IgnoreResponses:
    """
    The user of CANCEL transactions: their responses need no action.
    """

    def responseReceived(self, transaction: ClientTransaction, response: Response) -> None:
        pass

    def transactionTimedOut(self, transaction: ClientTransaction) -> None:
        pass


@implementer(ITransactionUser)
class UserAgent:
    """
    The UA core: the transaction user that holds the dialogs and dispatches what arrives.

    @ivar dialogs: the live dialogs, by (Call-ID, local tag, remote tag).
    @ivar user: told of INVITEs and other requests outside any dialog.
    @ivar resolve: turns a next-hop URI into addresses.
    @ivar uniform: draws random delays (Retry-After, glare back-off).
    """

    _log = Logger()

    def __init__(self, transport: TransportLayer, clock: IReactorTime, user: IUAUser,
                 timers: TimerConfig = TimerConfig(), resolve: Resolver = numericResolver,
                 uniform: Uniform = random.uniform, maxTransactions: int = 100000) -> None:
        """
        @param transport: what sends and receives messages; the UA's own transaction layer
            (L{transactions}, with the UA as its user) is built on it.
        @param clock: the time source of every timer.
        @param user: see L{user}.
        @param timers: the RFC 3261 timers of the transactions.
        @param resolve: see L{resolve}.
        @param uniform: see L{uniform}.
        @param maxTransactions: live transactions above which new INVITEs get 503.
        """
        self.transactions = TransactionLayer(transport, clock, timers, self,
                                             maxTransactions=maxTransactions)
        self.clock = self.transactions.clock
        self.user = user
        self.resolve = resolve
        self.uniform = uniform
        self.dialogs: dict[tuple[str, str, str], UADialog] = {}
        self.localAddresses: set[tuple[str, int]] = set()

    # -- who we are ----------------------------------------------------------------------

    def addLocalAddress(self, host: str, port: int) -> None:
        """
        Declare an address we listen on: Routes naming it are removed from what arrives.
        """
        self.localAddresses.add((host.lower(), port))

    def isLocal(self, uri: URI) -> bool:
        """
        @return: whether C{uri} names us.
        """
        if not uri.isSIP:
            return False
        port = uri.port if uri.port is not None else (5061 if uri.scheme == "sips" else 5060)
        return (uri.host.lower(), port) in self.localAddresses

    def contactFor(self, request: Optional[Request], transport: str = "udp") -> str:
        """
        @return: our Contact for a dialog with the sender of C{request} (over the transport
            it came on), or over C{transport} when C{request} is L{None}.
        """
        if request is not None and isinstance(request.source, Address):
            transport = request.source.transport
        local = self.transactions.transport.localAddress(transport)
        suffix = ";transport=tcp" if transport == "tcp" else ""
        return "<sip:%s%s>" % (local.hostport(), suffix)

    def newCallId(self) -> str:
        """
        @return: a new, globally unique Call-ID.
        """
        local = self.transactions.transport.localAddress("udp")
        return "%s@%s" % (secrets.token_hex(10), local.host)

    # -- sending -------------------------------------------------------------------------

    def _nextHop(self, request: Request) -> URI:
        routes = request.headerValues("route")
        if routes:
            return parseNameAddr(routes[0]).uri
        return request.requestURI()

    def _addVia(self, request: Request, address: Address) -> None:
        family = address.family
        local = self.transactions.transport.localAddress(address.transport, family)
        request.addHeader("Via", "SIP/2.0/%s %s;branch=%s;rport" % (
            address.transport.upper(), local.hostport(), self.transactions.newBranch()),
            first=True)

    def _send(self, request: Request, user: IClientTransactionUser,
              failed: Callable[[Optional[ClientTransaction]], None]) -> None:
        """
        Resolve the next hop of C{request}, add our Via and start a client transaction; when
        there is no address, C{failed} is called as on a time-out.
        """
        try:
            hop = self._nextHop(request)
        except SIPParseError:
            failed(None)
            return

        def send(addresses: list[Address]) -> None:
            if not addresses:
                failed(None)
                return
            self._addVia(request, addresses[0])
            self.transactions.request(request, addresses[0], user)

        def error(failure: Failure) -> None:
            self._log.failure("Could not send {request}", failure, request=request)
            failed(None)

        self.resolve(hop).addCallbacks(send, error)

    def invite(self, request: Request, target: Address, user: IInviteUser) -> OutgoingInvite:
        """
        Send a dialog-creating INVITE to C{target}.

        @param request: the INVITE, complete but for its Via.
        @return: the outgoing INVITE, to cancel it.
        """
        outgoing = OutgoingInvite(self, request, target, user)
        outgoing.start()
        return outgoing

    # -- the dialog map --------------------------------------------------------------------

    def _addDialog(self, dialog: UADialog) -> None:
        self.dialogs[dialog.key] = dialog

    def _removeDialog(self, dialog: UADialog) -> None:
        if self.dialogs.get(dialog.key) is dialog:
            del self.dialogs[dialog.key]

    # -- ITransactionUser ------------------------------------------------------------------

    def requestReceived(self, transaction: ServerTransaction) -> None:
        request = transaction.request
        try:
            self._requestReceived(transaction, request)
        except SIPParseError as e:
            self.transactions.transport.stats.increment("parse_errors")
            transaction.respondWith(e.status, e.phrase)
        except Exception:
            self.transactions.transport.stats.increment("internal_errors")
            self._log.failure("Error handling {request}", request=request)
            if transaction.finalCode == 0:
                transaction.respondWith(500)

    def _requestReceived(self, server: ServerTransaction, request: Request) -> None:
        while True:
            routes = request.headerValues("route")
            if not routes or not self.isLocal(parseNameAddr(routes[0]).uri):
                break
            request.popFirstValue("route")
        toTag = request.toTag
        method = request.method
        if toTag is not None:
            dialog = self.dialogs.get((request.callId, toTag, request.fromTag or ""))
            if dialog is None:
                server.respondWith(481)
                return
            dialog._requestReceived(server)
            return
        if method == "OPTIONS":
            response = makeResponse(request, 200, toTag=self.transactions.newTag())
            response.addHeader("Allow", ALLOW)
            response.addHeader("Supported", SUPPORTED)
            response.addHeader("Accept", "application/sdp")
            server.respond(response)
            return
        if self.user is None:
            server.respondWith(503)
            return
        if method == "INVITE":
            self.user.inviteReceived(IncomingInvite(self, server))
            return
        self.user.requestReceived(server)

    def ackReceived(self, request: Request) -> None:
        try:
            dialog = self.dialogs.get((request.callId, request.toTag or "", request.fromTag or ""))
            if dialog is not None:
                dialog._ackReceived(request)
        except SIPParseError:
            self.transactions.transport.stats.increment("dropped")

    def cancelReceived(self, cancel: ServerTransaction, invite: Optional[ServerTransaction]) -> None:
        if invite is None:
            cancel.respondWith(481)
            return
        cancel.respondWith(200, toTag=invite.toTag)
        context = invite.context
        if isinstance(context, IncomingInvite):
            context._cancel()
        elif isinstance(context, UADialog):
            context._cancelReceived(invite)

    def strayResponse(self, response: Response) -> None:
        # A 2xx to an INVITE of ours, retransmitted after its transaction ended: ACK again.
        try:
            if 200 <= response.code < 300 and response.cseq().method == "INVITE":
                dialog = self.dialogs.get((response.callId, response.fromTag or "",
                                           response.toTag or ""))
                if dialog is not None:
                    dialog.resendAck(response.cseq().number)
        except SIPParseError:
            self.transactions.transport.stats.increment("dropped")
