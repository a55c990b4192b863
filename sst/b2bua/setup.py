# -*- test-case-name: sst.test.test_b2bua,sst.test.test_b2bua_sipp -*-
"""
Setting up a call of the B2BUA: L{CallSetup}, from the caller's INVITE to the two legs.

A-leg (RFC 4028 section 9): a C{Supported: timer} INVITE whose Session-Expires is below the
policy's minimum gets 422 with Min-SE (when the policy rejects); without C{Supported: timer}
the interval is raised instead. The refresher follows Table 2: C{uas} (sst) when the caller
lacks timer support, the request's C{refresher} when it names one, else C{--refresher}
(C{uac}, the default; C{uas}, or C{local} which also makes sst the refresher). The 2xx carries
C{Session-Expires} and, when the caller supports timers, C{Require: timer}.

B-leg (section 7): the INVITE carries the caller's body, C{Supported: timer}, and the policy's
Session-Expires and Min-SE (C{--b-session-expires}, C{--b-min-se}). A 422 is retried once by
sst itself (same Call-ID, CSeq+1, a new From tag, the larger Min-SE); a second 422, or one
whose Min-SE is not larger than what was sent, fails the call with C{500 Session Interval
Negotiation Failed} on the A-leg (the failure is sst's negotiation with the callee, not the
caller's: the caller never sees the 422). A 2xx without Session-Expires is refreshed by sst as
UAC all the same (section 7.2).

@see: U{https://www.rfc-editor.org/rfc/rfc4028#section-7}
@see: U{https://www.rfc-editor.org/rfc/rfc4028#section-9}
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Union

from twisted.internet.defer import maybeDeferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from sst.b2bua.call import Call, Terms
from sst.headers import NameAddr, SIPParseError
from sst.message import Request, Response
from sst.rfc4028 import readOffer, rejects, uasInterval, uasRefresher
from sst.sessiontimer import intervalTooSmall
from sst.timers import MIN_SE_FLOOR
from sst.ua.dialog import ALLOW, SUPPORTED, UADialog
from sst.ua.invite import IncomingInvite, OutgoingInvite
from sst.values import Target

if TYPE_CHECKING:
    from sst.b2bua.core import B2BUA

__all__ = ["CallSetup", "GIVE_UP_PHRASE"]

#: The reason phrase of the 500 the caller gets when the B-leg's 422s cannot be satisfied.
GIVE_UP_PHRASE = "Session Interval Negotiation Failed"

#: Extensions we accept in a caller's Require.
_UNDERSTOOD = frozenset(["timer"])


def _withoutTag(nameAddr: NameAddr) -> str:
    params = {k: v for k, v in nameAddr.params.items() if k != "tag"}
    return str(NameAddr(nameAddr.uri, nameAddr.display, params))


def _incoming(call: Call) -> IncomingInvite:
    """
    @return: the caller's INVITE of a call being set up (only a call restored from a store,
        long set up, has none).
    """
    incoming = call.incoming
    assert incoming is not None, "call %s was restored, not set up here" % (call.callId,)
    return incoming


class CallSetup:
    """
    Sets calls up for a L{B2BUA}: checks the caller's INVITE, settles the A-leg's session
    timer, sends the B-leg INVITE (and its 422 retry), and answers the caller when the callee
    does.
    """

    _log = Logger()

    def __init__(self, b2bua: B2BUA) -> None:
        """
        @param b2bua: the B2BUA whose calls these are.
        """
        self.b2bua = b2bua
        self._counter = 0

    def _relayDenied(self, request: Request) -> bool:
        """
        Whether placing this call would make sst an open relay (the proxy's rule: see
        L{RelayRule<sst.relay.RelayRule>}).
        """
        return self.b2bua.relay.denied(request)

    def invite(self, incoming: IncomingInvite, request: Request) -> None:
        """
        A new call: check the caller's INVITE, settle the A-leg's session timer and
        route the B-leg.

        @raise SIPParseError: when a header the checks read does not parse.
        """
        maxForwards = request.maxForwards()
        if maxForwards == 0:
            incoming.reject(483)
            return
        unsupported = [t for t in request.headerValues("require") if t.lower() not in _UNDERSTOOD]
        if unsupported:
            incoming.reject(420, headers=[("Unsupported", ", ".join(unsupported))])
            return
        if not request.hasHeader("contact"):
            incoming.reject(400, "Missing Contact")
            return
        request.nameAddrs("contact")
        if self._relayDenied(request):
            self.b2bua.stats.increment("relay_denied")
            incoming.reject(403, "Relaying denied")
            return
        limit = self.b2bua.dialogs.maxDialogs
        if ((limit is not None and len(self.b2bua.dialogs) + 2 > limit)
                or self.b2bua.ua.transactions.full):
            self.b2bua.stats.increment("overload_rejected")
            incoming.reject(503, headers=[("Retry-After", "5")])
            return
        terms = self._aLegTerms(request, incoming)
        if isinstance(terms, Response):
            self.b2bua.stats.increment("rejected_422")
            incoming.done = True
            incoming.server.respond(terms)
            return
        self._counter += 1
        call = Call(self.b2bua, "%s;%d" % (request.callId, self._counter), request.callId,
                    incoming)
        call.aTerms = terms
        call.callerTimer = request.hasOptionTag("supported", "timer")
        call.a.localMin = max(self.b2bua.policy.minSE(request), MIN_SE_FLOOR)
        # Section 7.4: our refreshes on the A-leg carry the largest Min-SE of the dialog,
        # starting with the caller's.
        call.a.minSE = max(request.minSE() or MIN_SE_FLOOR, MIN_SE_FLOOR)
        call.a.remoteBody = request.body
        self.b2bua.calls[call.key] = call
        incoming.onCancel = lambda: self._aCancelled(call)
        d = maybeDeferred(self.b2bua.router.route, request)
        d.addCallback(self._routed, call)
        d.addErrback(self._routingFailed, call)

    def _aLegTerms(self, request: Request, incoming: IncomingInvite) -> Union[Response, Terms]:
        """
        RFC 4028 section 9 for the caller's INVITE: a 422, or the A-leg's (interval, whether
        sst refreshes), or L{None} for no timer.
        """
        offer = readOffer(request)
        if not self.b2bua.policy.isTimed(request) and not (
                offer.sessionExpires is not None and request.hasOptionTag("require", "timer")):
            return None
        ours = max(self.b2bua.policy.minSE(request), MIN_SE_FLOOR)
        if rejects(offer, ours, self.b2bua.policy.rejectTooSmall(request)):
            return intervalTooSmall(request, ours, toTag=incoming.toTag)
        interval = uasInterval(offer, ours, self.b2bua.policy.sessionExpires(request))
        maxSE = self.b2bua.settings.maxSE
        if maxSE is not None and interval > maxSE:
            # Section 9: a UAS may lower the interval, never below the request's Min-SE.
            interval = max(maxSE, offer.floor)
        preferred = "uas" if self.b2bua.settings.refresher in ("uas", "local") else "uac"
        return (interval, uasRefresher(offer, preferred) == "uas")

    def _routingFailed(self, failure: Failure, call: Call) -> None:
        self._log.failure("Routing failed for {callId}", failure, callId=call.callId)
        _incoming(call).reject(500)
        self.b2bua.maybeForget(call)

    def _routed(self, targets: list[Target], call: Call) -> None:
        incoming = _incoming(call)
        if incoming.done:
            self.b2bua.maybeForget(call)
            return
        # Never route a B-leg back to sst itself (an unregistered user of a served domain
        # resolves to our own address): that would loop until Max-Forwards runs out.
        targets = [t for t in targets
                   if (t.address.host.lower(), t.address.port) not in self.b2bua.ua.localAddresses]
        if not targets:
            uri = incoming.request.requestURI()
            served = (self.b2bua.registrar is not None and uri.isSIP
                      and self.b2bua.registrar.servesDomain(uri.host))
            incoming.reject(480 if served else 404)
            self.b2bua.maybeForget(call)
            return
        request = incoming.request
        call.target = targets[0]
        call.bCallId = self.b2bua.ua.newCallId()
        call.bTimed = self.b2bua.policy.isTimed(request)
        bMin = self.b2bua.settings.bMinSE
        if bMin is None:
            bMin = self.b2bua.policy.minSE(request)
        call.bMin = max(bMin, MIN_SE_FLOOR)
        bSE = self.b2bua.settings.bSessionExpires
        if bSE is None:
            bSE = self.b2bua.policy.sessionExpires(request)
        call.bSE = max(bSE, call.bMin)
        self._sendB(call)

    def _sendB(self, call: Call) -> None:
        assert call.target is not None
        call.bCSeq += 1
        request = self._bInvite(call, call.target)
        call.b.minSE = call.bMin
        call.b.localBody = request.body
        call.b.localType = request.header("content-type")
        call.outgoing = self.b2bua.ua.invite(request, call.target.address, call)

    def _bInvite(self, call: Call, target: Target) -> Request:
        """
        The B-leg INVITE: a new Call-ID and From tag, the caller's From and To (without tags),
        body and Content-Type, the headers the settings pass, and our session timer.
        """
        a = _incoming(call).request
        request = Request("INVITE", target.requestURI or a.uri)
        append = request.appendHeader
        maxForwards = a.maxForwards()
        append("max-forwards", str(69 if maxForwards is None else maxForwards - 1))
        append("from", "%s;tag=%s" % (_withoutTag(a.fromAddr()),
                                      self.b2bua.ua.transactions.newTag()))
        append("to", _withoutTag(a.toAddr()))
        append("call-id", call.bCallId)
        append("cseq", "%d INVITE" % (call.bCSeq,))
        append("contact", self.b2bua.ua.contactFor(None, target.address.transport))
        append("allow", ALLOW)
        append("supported", SUPPORTED)
        if call.bTimed:
            refresher = ";refresher=uac" if self.b2bua.settings.refresher == "local" else ""
            append("session-expires", "%d%s" % (call.bSE, refresher))
            append("min-se", str(call.bMin))
        passed = self.b2bua.settings.passHeaders
        if passed:
            for key, value in a.iterHeaders():
                if key in passed:
                    append(key, value)
        contentType = a.header("content-type")
        if a.body and contentType is not None:
            append("content-type", contentType)
        request.body = a.body
        return request

    def bProvisional(self, call: Call, response: Response) -> None:
        """
        Relay a provisional response of the callee to the caller.
        """
        headers = []
        contentType = response.header("content-type")
        if response.body and contentType is not None:
            headers.append(("Content-Type", contentType))
        _incoming(call).provisional(response.code, response.phrase, headers, response.body)

    def bFailed(self, call: Call, invite: OutgoingInvite, response: Optional[Response]) -> None:
        """
        The B-leg INVITE failed (C{response} L{None} on a time-out): retry a 422 once,
        else reject the caller's INVITE.
        """
        if call.outgoing is invite:
            call.outgoing = None
        if response is not None and response.code == 422 and self._retry422(call, response):
            return
        incoming = _incoming(call)
        if response is None:
            incoming.reject(408)
        elif response.code == 422:
            self.b2bua.stats.increment("b2bua_422_given_up")
            incoming.reject(500, GIVE_UP_PHRASE)
        elif response.code == 503:
            incoming.reject(500)
        else:
            incoming.reject(response.code, response.phrase)
        self.b2bua.maybeForget(call)

    def _retry422(self, call: Call, response: Response) -> bool:
        """
        RFC 4028 section 7.3 on the B-leg: retry once with the larger Min-SE, same Call-ID,
        CSeq+1 and a new From tag (erratum 1681).

        @return: whether a retry was sent.
        """
        try:
            offered = response.minSE()
        except SIPParseError:
            offered = None
        if (offered is None or offered <= call.bMin or call.retried422 >= 1
                or _incoming(call).done or call.ending):
            return False
        call.retried422 += 1
        call.bMin = offered
        call.bSE = max(call.bSE, offered)
        self.b2bua.stats.increment("b2bua_422_retried")
        self._sendB(call)
        return True

    def _aCancelled(self, call: Call) -> None:
        """
        The caller cancelled (it got 487): cancel the B-leg.
        """
        if call.outgoing is not None:
            call.outgoing.cancel()

    def bAnswered(self, call: Call, dialog: UADialog, response: Response) -> None:
        """
        The callee answered 2xx: accept the caller's INVITE with the A-leg's session
        timer and put both legs in the dialog table.
        """
        if call.outgoing is not None and call.outgoing.dialog is dialog:
            call.outgoing = None
        b = call.b
        b.dialog = dialog
        dialog.user = b
        incoming = _incoming(call)
        if incoming.done or call.ending:
            # Cancelled meanwhile: end the callee's side.
            dialog.bye()
            return
        try:
            se = response.sessionExpires()
        except SIPParseError:
            se = None
        if se is not None:
            b.interval, b.weRefresh = se.delta, se.refresher != "uas"
        elif call.bTimed:
            # Section 7.2: refresh as UAC as if the 2xx carried our Session-Expires.
            b.interval, b.weRefresh = call.bSE, True
        b.localMin = call.bMin
        b.remoteBody = response.body
        a = call.a
        headers: list[tuple[str, str]] = []
        if call.aTerms is not None:
            a.interval, a.weRefresh = call.aTerms
            headers.append(("Session-Expires", "%d;refresher=%s"
                            % (a.interval, "uas" if a.weRefresh else "uac")))
            if call.callerTimer:
                headers.append(("Require", "timer"))
        contentType = response.header("content-type")
        if response.body and contentType is not None:
            headers.append(("Content-Type", contentType))
        a.dialog = incoming.accept(a, headers, response.body)
        a.localBody = response.body
        a.localType = contentType
        self.b2bua.refreshes.register(a, confirmed=False)
        self.b2bua.refreshes.register(b, confirmed=True)
        self.b2bua.persistence.save(call)
