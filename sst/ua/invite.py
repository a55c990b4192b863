# -*- test-case-name: sst.test.test_ua -*-
"""
Dialog-creating INVITEs of the UA core (RFC 3261 sections 13 and 14), and the glare back-off
of re-INVITEs.

  - L{IncomingInvite}: the UAS side: 100 Trying at once, provisional responses, then
    L{IncomingInvite.accept} (a 2xx retransmitted until the ACK, see L{UADialog}) or
    L{IncomingInvite.reject}. A CANCEL is answered 200 and the INVITE 487 here, then the owner
    is told.
  - L{OutgoingInvite}: the UAC side: provisional responses passed up to its L{IInviteUser}, the
    2xx turned into a L{UADialog} and acknowledged (a new branch, routed by the route set;
    retransmitted 2xx acknowledged again), CANCEL sent once a provisional response allows it
    (RFC 3261 section 9.1). A 2xx from a second fork is acknowledged and ended with BYE.

@see: U{https://www.rfc-editor.org/rfc/rfc3261#section-13}
"""
from __future__ import annotations

import random
from typing import TYPE_CHECKING, Callable, Optional

from zope.interface import Interface, implementer

from sst.address import Address
from sst.headers import SIPParseError
from sst.message import Request, Response, canonicalName
from sst.responses import makeResponse
from sst.transaction import ClientTransaction, IClientTransactionUser, ServerTransaction
from sst.ua.dialog import ALLOW, SUPPORTED, Headers, IDialogUser, UADialog, _contactURI

if TYPE_CHECKING:
    from sst.ua.core import UserAgent

__all__ = ["Uniform", "glareBackoff", "IInviteUser", "IncomingInvite", "OutgoingInvite"]

#: Draws a random number between its two arguments (C{random.uniform}).
Uniform = Callable[[float, float], float]


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

