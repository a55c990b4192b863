# -*- test-case-name: sst.test.test_b2bua -*-
"""
What the peers send in a call's dialogs: L{InDialogAnswers}.

A re-INVITE with new SDP, or an UPDATE with new SDP, is relayed to the other leg and its
answer returned; a pure refresh (a re-INVITE with the same SDP as before, or none; an UPDATE
without body) is answered here with Session-Expires echoed (RFC 4028 section 9), or 422 when
its interval is too small. INFO, MESSAGE and NOTIFY are relayed.

@see: U{https://www.rfc-editor.org/rfc/rfc4028#section-9}
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Union

from sst.b2bua.call import Leg, Terms
from sst.message import Request, Response
from sst.rfc4028 import readOffer, rejects, tooSmallMinSE, uasInterval
from sst.sessiontimer import TOO_SMALL_PHRASE
from sst.transaction import ServerTransaction
from sst.ua.dialog import UADialog

if TYPE_CHECKING:
    from sst.b2bua.core import B2BUA

__all__ = ["InDialogAnswers"]


class InDialogAnswers:
    """
    Answers, or relays to the other leg, the session refreshes, offers and other requests a
    L{B2BUA}'s peers send in a call.
    """

    def __init__(self, b2bua: B2BUA) -> None:
        """
        @param b2bua: the B2BUA whose calls these are.
        """
        self.b2bua = b2bua

    def _incomingTerms(self, leg: Leg, request: Request) -> Union[int, Terms]:
        """
        Section 9 for a refresh the peer sent on C{leg}: the Min-SE of a 422 to send, or the
        leg's new (interval, whether sst refreshes), or L{None} for an untimed leg.
        """
        offer = readOffer(request)
        timer = offer.timer
        se = offer.sessionExpires
        if offer.minSE is not None:
            leg.minSE = max(leg.minSE, offer.minSE)
        if se is None:
            if leg.interval is None:
                return None
            # Section 9: a Session-Expires in our 2xx is not below the dialog's Min-SE.
            return (max(leg.interval, leg.minSE), leg.weRefresh if timer else True)
        if rejects(offer, leg.localMin, self.b2bua.policy.rejectTooSmall(request)):
            return tooSmallMinSE(offer, leg.localMin)
        interval = uasInterval(offer, leg.localMin, leg.localMin)
        if se.refresher == "uac":
            weRefresh = False
        elif se.refresher == "uas" or not timer:
            weRefresh = True
        elif leg.interval is not None:
            weRefresh = leg.weRefresh
        else:
            weRefresh = self.b2bua.settings.refresher == "local" or (
                leg.name == "a" and self.b2bua.settings.refresher == "uas")
        return (interval, weRefresh)

    def _termsHeaders(self, terms: Terms, request: Request) -> list[tuple[str, str]]:
        if terms is None:
            return []
        interval, weRefresh = terms
        headers = [("Session-Expires", "%d;refresher=%s" % (interval, "uas" if weRefresh else "uac"))]
        if request.hasOptionTag("supported", "timer"):
            headers.append(("Require", "timer"))
        return headers

    def _applyTerms(self, leg: Leg, terms: Terms) -> None:
        if terms is not None:
            self.b2bua.refreshes.setTerms(leg, *terms)

    def sessionRequest(self, leg: Leg, dialog: UADialog, server: ServerTransaction) -> None:
        """
        A re-INVITE or UPDATE on C{leg}: a 422 when its interval is too small, a pure
        refresh answered here, or an offer relayed to the other leg.
        """
        request = server.request
        terms = self._incomingTerms(leg, request)
        if isinstance(terms, int):
            self.b2bua.stats.increment("rejected_422")
            dialog.respond(server, 422, [("Min-SE", str(terms))], phrase=TOO_SMALL_PHRASE)
            return
        body = request.body
        if not body or body.strip() == leg.remoteBody.strip():
            # A pure session refresh: answered here.
            headers = self._termsHeaders(terms, request)
            answer = b""
            if request.method == "INVITE" or body:
                answer = leg.localBody
                if answer and leg.localType is not None:
                    headers.append(("Content-Type", leg.localType))
            dialog.respond(server, 200, headers, answer)
            self.b2bua.stats.increment("refreshes_received")
            self._applyTerms(leg, terms)
            # The new terms, and the remote target the request may have refreshed.
            self.b2bua.persistence.save(leg.call)
            return
        other = leg.call.other(leg)
        target = other.dialog
        if target is None or not target.alive:
            dialog.respond(server, 481)
            return
        if target.invitePending or target.inviteServer is not None:
            dialog.respond(server, 491)
            return
        method = request.method
        if method == "UPDATE" and not target.peerAllows("UPDATE"):
            method = "INVITE"
        headers = []
        if other.interval is not None:
            headers = self.b2bua.refreshes.refreshHeaders(other,
                                                          "uac" if other.weRefresh else "uas")
        contentType = request.header("content-type")
        if contentType is not None:
            headers.append(("Content-Type", contentType))

        def answered(response: Response) -> None:
            self._relayedAnswer(leg, other, server, terms, response)

        def timedOut() -> None:
            if leg.dialog is not None and server.finalCode == 0:
                leg.dialog.respond(server, 408)

        target.request(method, headers, body, onResponse=answered, onTimeout=timedOut)

    def _relayedAnswer(self, leg: Leg, other: Leg, server: ServerTransaction, terms: Terms,
                       response: Response) -> None:
        code = response.code
        if code < 200:
            return
        request = server.request
        if 200 <= code < 300:
            other.localBody = request.body
            other.localType = request.header("content-type")
            other.remoteBody = response.body
            # Saves the call with the new SDP of the other leg.
            self.b2bua.refreshes.applyRefreshAnswer(other, response)
        dialog = leg.dialog
        if dialog is None or server.finalCode != 0:
            return
        if code >= 300:
            dialog.respond(server, 500 if code == 481 else code,
                           phrase="" if code == 481 else response.phrase)
            return
        leg.remoteBody = request.body
        leg.localBody = response.body
        contentType = response.header("content-type")
        leg.localType = contentType
        headers = self._termsHeaders(terms, request)
        if response.body and contentType is not None:
            headers.append(("Content-Type", contentType))
        dialog.respond(server, 200, headers, response.body)
        self._applyTerms(leg, terms)
        self.b2bua.persistence.save(leg.call)

    def relay(self, leg: Leg, dialog: UADialog, server: ServerTransaction) -> None:
        """
        Relay an INFO, MESSAGE or NOTIFY on C{leg} to the other leg, and its answer back.
        """
        request = server.request
        target = leg.call.other(leg).dialog
        if target is None or not target.alive:
            dialog.respond(server, 481)
            return
        headers = []
        contentType = request.header("content-type")
        if contentType is not None:
            headers.append(("Content-Type", contentType))

        def answered(response: Response) -> None:
            if response.code < 200 or leg.dialog is None or server.finalCode != 0:
                return
            answerHeaders = []
            answerType = response.header("content-type")
            if response.body and answerType is not None:
                answerHeaders.append(("Content-Type", answerType))
            leg.dialog.respond(server, 500 if response.code == 481 else response.code,
                               answerHeaders, response.body, response.phrase)

        def timedOut() -> None:
            if leg.dialog is not None and server.finalCode == 0:
                leg.dialog.respond(server, 408)

        target.request(request.method, headers, request.body, answered, timedOut)
