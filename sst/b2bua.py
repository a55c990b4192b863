# -*- test-case-name: sst.test.test_b2bua -*-
"""
The back-to-back user agent: each call is two dialogs, RFC 4028 on each on its own.

The A-leg is the dialog with the caller, where sst is the UAS (RFC 4028 section 9); the B-leg
is the dialog with the callee, where sst is the UAC (section 7). Each leg has its own session
interval, Min-SE history and refresher, kept in the L{DialogTable} (one L{Dialog} per leg, its
expiry timer at C{SE - min(32, SE/3)} after the last refresh, RFC 4028 section 10).

A-leg (section 9): a C{Supported: timer} INVITE whose Session-Expires is below the policy's
minimum gets 422 with Min-SE (when the policy rejects); without C{Supported: timer} the
interval is raised instead. The refresher follows Table 2: C{uas} (sst) when the caller lacks
timer support, the request's C{refresher} when it names one, else C{--refresher} (C{uac}, the
default; C{uas}, or C{local} which also makes sst the refresher). The 2xx carries
C{Session-Expires} and, when the caller supports timers, C{Require: timer}.

B-leg (section 7): the INVITE carries the caller's body, C{Supported: timer}, and the policy's
Session-Expires and Min-SE (C{--b-session-expires}, C{--b-min-se}). A 422 is retried once by
sst itself (same Call-ID, CSeq+1, a new From tag, the larger Min-SE); a second 422, or one
whose Min-SE is not larger than what was sent, fails the call with C{500 Session Interval
Negotiation Failed} on the A-leg (the failure is sst's negotiation with the callee, not the
caller's: the caller never sees the 422). A 2xx without Session-Expires is refreshed by sst as
UAC all the same (section 7.2).

Refreshing: on each leg where sst is the refresher, at SE/2: an UPDATE without body when the
peer's Allow lists UPDATE (C{--refresh-method auto}), else a re-INVITE with the current body.
Each refresh (and each offer relayed into the leg) carries the largest Min-SE seen on the leg:
the peer's INVITE and refreshes, our INVITE, 422s (section 7.4); its Session-Expires is never
below it.
481, 408 or a time-out end the call (the UA core ends that leg, with BYE on 408 and time-out;
sst sends BYE on the other); 491 is retried after the RFC 3261 section 14.1 back-off; a 422
is retried at once with the larger Min-SE; other failures every C{retryDelay} seconds until
the BYE margin.

Expiry: when a leg's table entry expires (the peer did not refresh, or our refreshes kept
failing), both legs get BYE with C{Reason: SIP;cause=408;text="Session timer expired"};
C{expired_sst} is counted by L{ExpiryCounter<sst.sessiontimer.ExpiryCounter>}.

In-dialog requests: a re-INVITE with new SDP, or an UPDATE with new SDP, is relayed to the other
leg and its answer returned; a pure refresh (a re-INVITE with the same SDP as before, or none;
an UPDATE without body) is answered here with Session-Expires echoed. BYE ends the other leg;
INFO, MESSAGE and NOTIFY are relayed; OPTIONS is answered here.

@see: U{https://www.rfc-editor.org/rfc/rfc4028}
"""
from __future__ import annotations

import random
import weakref
from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Union

from twisted.internet.defer import maybeDeferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from sst.dialogs import Dialog, DialogId, DialogObserverBase, DialogTable, DialogTableFull
from sst.expiry import EXPIRY_REASON
from sst.headers import NameAddr, SIPParseError
from sst.interfaces import IRouter, ISessionTimerPolicy
from sst.dialogs import IDialogObserver
from sst.message import Request, Response
from sst.protocol import TransportLayer
from sst.registrar import Registrar
from sst.relay import IPNetwork, RelayRule
from sst.responses import makeResponse
from sst.rfc4028 import readOffer, rejects, tooSmallMinSE, uasInterval, uasRefresher
from sst.routing import StaticRouter, Target
from sst.sessiontimer import TOO_SMALL_PHRASE, intervalTooSmall
from sst.stats import Stats
from sst.timers import MIN_SE_FLOOR, TimerConfig, asTimerService, nonRefresherByeAt, refreshAt
from sst.transaction import ServerTransaction
from sst.ua.core import IUAUser, Resolver, UserAgent, numericResolver
from sst.ua.dialog import ALLOW, SUPPORTED, IDialogUser, UADialog
from sst.ua.invite import IInviteUser, IncomingInvite, OutgoingInvite, glareBackoff

__all__ = ["B2BUA", "B2BUASettings", "Call", "Leg", "REFRESHERS",
           "REFRESH_METHODS", "GIVE_UP_PHRASE"]

#: The values of C{--refresher}.
REFRESHERS = ("uac", "uas", "local")

#: The values of C{--refresh-method}.
REFRESH_METHODS = ("update", "invite", "auto")

#: The reason phrase of the 500 the caller gets when the B-leg's 422s cannot be satisfied.
GIVE_UP_PHRASE = "Session Interval Negotiation Failed"

#: In-dialog methods relayed to the other leg as they are.
RELAYED = frozenset(["INFO", "MESSAGE", "NOTIFY"])

#: Extensions we accept in a caller's Require.
_UNDERSTOOD = frozenset(["timer"])

#: Why a leg ended, and the Reason its end puts on the other leg's BYE.
_FAILURE_REASONS = {
    "481": 'SIP;cause=481;text="Dialog gone on the other leg"',
    "408": 'SIP;cause=408;text="Request timeout on the other leg"',
    "timeout": 'SIP;cause=408;text="Request timeout on the other leg"',
    "no-ack": 'SIP;cause=408;text="No ACK on the other leg"',
}


@dataclass(frozen=True)
class B2BUASettings:
    """
    The B2BUA's own options.

    @ivar refresher: C{--refresher}: who refreshes the A-leg when the caller supports timers
        and names no refresher: C{"uac"} (the caller), C{"uas"} or C{"local"} (sst; C{local}
        also asks for C{refresher=uac} on the B-leg, so sst refreshes both legs).
    @ivar refreshMethod: C{--refresh-method}: C{"update"}, C{"invite"} or C{"auto"} (UPDATE
        when the peer's Allow lists it).
    @ivar bSessionExpires: C{--b-session-expires}, or L{None} for the policy's
        C{sessionExpires} (the A-leg value).
    @ivar bMinSE: C{--b-min-se}, or L{None} for the policy's C{minSE}.
    @ivar passHeaders: lower-case names of the caller's headers copied into the B-leg INVITE
        (none by default: only the body and its Content-Type pass).
    @ivar retryDelay: seconds between attempts after a refresh failed with an error other than
        481, 408, 491 and 422.
    """

    refresher: str = "uac"
    refreshMethod: str = "auto"
    bSessionExpires: Optional[int] = None
    bMinSE: Optional[int] = None
    passHeaders: frozenset[str] = frozenset()
    retryDelay: float = 10.0

    def __post_init__(self) -> None:
        """
        @raise ValueError: on an unknown refresher or method, a Min-SE below 90, or a
            Session-Expires below the Min-SE.
        """
        if self.refresher not in REFRESHERS:
            raise ValueError("refresher must be one of %s, not %r" % (", ".join(REFRESHERS),
                                                                      self.refresher))
        if self.refreshMethod not in REFRESH_METHODS:
            raise ValueError("refresh method must be one of %s, not %r"
                             % (", ".join(REFRESH_METHODS), self.refreshMethod))
        if self.bMinSE is not None and self.bMinSE < MIN_SE_FLOOR:
            raise ValueError("B-leg Min-SE must be at least %d (RFC 4028 section 5), not %d"
                             % (MIN_SE_FLOOR, self.bMinSE))
        if (self.bSessionExpires is not None and self.bMinSE is not None
                and self.bSessionExpires < self.bMinSE):
            raise ValueError("B-leg Session-Expires (%d) must not be below its Min-SE (%d)"
                             % (self.bSessionExpires, self.bMinSE))


def _withoutTag(nameAddr: NameAddr) -> str:
    params = {k: v for k, v in nameAddr.params.items() if k != "tag"}
    return str(NameAddr(nameAddr.uri, nameAddr.display, params))


@implementer(IDialogUser)
class Leg:
    """
    One side of a call: its UA dialog and its session timer.

    @ivar name: C{"a"} (sst is the UAS) or C{"b"} (sst is the UAC).
    @ivar dialog: the UA dialog, while it lives.
    @ivar tableId: the leg's identifier in the dialog table, while it is there.
    @ivar interval: the session interval, or L{None} when the leg is untimed.
    @ivar weRefresh: whether sst is the leg's refresher.
    @ivar minSE: the largest Min-SE seen on the leg (sent in our refreshes).
    @ivar localMin: our own minimum for the peer's refreshes.
    @ivar localBody: the SDP sst last sent on this leg, and its type.
    @ivar remoteBody: the SDP the peer last sent on this leg.
    @ivar nextRefresh: when sst refreshes next (clock seconds), or L{None}.
    """

    def __init__(self, call: "Call", name: str) -> None:
        # The call holds its legs; a leg refers back weakly, so that a forgotten call is
        # freed by reference counting (see sst.gctuning).
        self._call = weakref.ref(call)
        self.name = name
        self.dialog: Optional[UADialog] = None
        self.tableId: Optional[DialogId] = None
        self.interval: Optional[int] = None
        self.weRefresh = False
        self.minSE = MIN_SE_FLOOR
        self.localMin = MIN_SE_FLOOR
        self.localBody = b""
        self.localType: Optional[str] = None
        self.remoteBody = b""
        self.refreshTimer: Optional[IDelayedCall] = None
        self.nextRefresh: Optional[float] = None
        self.refreshing = False
        self.noUpdate = False

    @property
    def call(self) -> "Call":
        """
        The call this leg belongs to.

        @raise RuntimeError: if the call was forgotten and freed (nothing refers to a leg by
            then).
        """
        call = self._call()
        if call is None:
            raise RuntimeError("leg %s of a call that has ended" % (self.name,))
        return call

    def __repr__(self) -> str:
        return "<Leg %s of %s interval=%r weRefresh=%r>" % (self.name, self.call.callId,
                                                            self.interval, self.weRefresh)

    @property
    def role(self) -> str:
        """
        sst's role in the leg's dialog: C{"uas"} on the A-leg, C{"uac"} on the B-leg.
        """
        return "uas" if self.name == "a" else "uac"

    def tableRefresher(self) -> Optional[str]:
        """
        @return: the refresher in the dialog's own terms (its UAC or UAS), or L{None}.
        """
        if self.interval is None:
            return None
        if self.weRefresh:
            return self.role
        return "uac" if self.role == "uas" else "uas"

    def requestReceived(self, dialog: UADialog, server: ServerTransaction) -> None:
        self.call.b2bua._inDialogRequest(self, server)

    def ackReceived(self, dialog: UADialog, ack: Request) -> None:
        self.call.b2bua._ackReceived(self)

    def dialogTerminated(self, dialog: UADialog, reason: str) -> None:
        self.call.b2bua._legEnded(self, reason)


@implementer(IInviteUser)
class Call:
    """
    One call: the caller's INVITE, the callee's, and the two legs.

    @ivar key: the call's key in L{B2BUA.calls}.
    @ivar callId: the A-leg Call-ID.
    @ivar aTerms: the A-leg session timer the 2xx will carry, (interval, sst refreshes), or
        L{None}.
    """

    def __init__(self, b2bua: "B2BUA", key: str, incoming: IncomingInvite) -> None:
        self.b2bua = b2bua
        self.key = key
        self.incoming = incoming
        self.callId = incoming.request.callId
        self.outgoing: Optional[OutgoingInvite] = None
        self.a = Leg(self, "a")
        self.b = Leg(self, "b")
        self.aTerms: Optional[tuple[int, bool]] = None
        self.callerTimer = False
        self.target: Optional[Target] = None
        self.bCallId = ""
        self.bCSeq = 0
        self.bTimed = False
        self.bSE = 0
        self.bMin = MIN_SE_FLOOR
        self.retried422 = 0
        self.ending = False
        self.byeReason: Optional[str] = None

    def other(self, leg: Leg) -> Leg:
        """
        @return: the leg that is not C{leg}.
        """
        return self.b if leg is self.a else self.a

    def inviteProvisional(self, invite: OutgoingInvite, response: Response) -> None:
        self.b2bua._bProvisional(self, response)

    def inviteAnswered(self, invite: OutgoingInvite, dialog: UADialog, response: Response) -> None:
        self.b2bua._bAnswered(self, dialog, response)

    def inviteFailed(self, invite: OutgoingInvite, response: Optional[Response]) -> None:
        self.b2bua._bFailed(self, invite, response)


Terms = Optional[tuple[int, bool]]


@implementer(IUAUser, IDialogObserver)
class B2BUA(DialogObserverBase):
    """
    Bridges an A-leg and a B-leg for each call, with RFC 4028 session timers on each.

    @ivar calls: the live calls, by key.
    @ivar legs: the legs in the dialog table, by their table identifier.
    """

    _log = Logger()

    def __init__(self, clock: IReactorTime, transport: TransportLayer, dialogs: DialogTable,
                 router: IRouter, policy: ISessionTimerPolicy, stats: Stats,
                 settings: B2BUASettings = B2BUASettings(),
                 registrar: Optional[Registrar] = None,
                 uniform: Callable[[float, float], float] = random.uniform,
                 relayNetworks: Sequence[IPNetwork] = (),
                 timers: TimerConfig = TimerConfig(),
                 resolve: Resolver = numericResolver,
                 maxTransactions: int = 100000) -> None:
        """
        @param clock: the time source of every timer.
        @param transport: what sends and receives messages; the B2BUA's own UA core (L{ua},
            with the B2BUA as its user) is built on it.
        @param dialogs: the dialog table, where each leg is a dialog.
        @param router: where B-legs go.
        @param policy: the session-timer decisions.
        @param stats: the counters.
        @param settings: the B2BUA's own options.
        @param registrar: the registrar that answers REGISTER for our domains, if any.
        @param uniform: draws random delays.
        @param relayNetworks: the C{--relay-network}s (see L{RelayRule}).
        @param timers: the RFC 3261 timers of the transactions.
        @param resolve: turns a next-hop URI into addresses.
        @param maxTransactions: live transactions above which new INVITEs get 503.
        """
        self.clock = asTimerService(clock)
        self.ua = UserAgent(transport, self.clock, self, timers, resolve=resolve,
                            uniform=uniform, maxTransactions=maxTransactions)
        self.dialogs = dialogs
        self.router = router
        self.policy = policy
        self.stats = stats
        self.settings = settings
        self.registrar = registrar
        self.relay = RelayRule(relayNetworks, self._isOurs, isinstance(router, StaticRouter))
        self.uniform = uniform
        self.calls: dict[str, Call] = {}
        self.legs: dict[DialogId, Leg] = {}
        self._counter = 0
        dialogs.addObserver(self)

    # -- IUAUser -----------------------------------------------------------------------------

    def requestReceived(self, server: ServerTransaction) -> None:
        """
        A request outside any dialog other than INVITE and OPTIONS: REGISTER goes to the
        registrar for the domains it serves; BYE gets 481; anything else 405.
        """
        request = server.request
        uri = request.requestURI()
        if (request.method == "REGISTER" and self.registrar is not None and uri.isSIP
                and (self.registrar.servesDomain(uri.host) or self.ua.isLocal(uri))):
            server.respond(self.registrar.handleRegister(request))
        elif request.method in ("BYE", "UPDATE", "INFO", "NOTIFY"):
            server.respondWith(481)
        else:
            response = makeResponse(request, 405, toTag=self.ua.transactions.newTag())
            response.addHeader("Allow", ALLOW)
            server.respond(response)

    def inviteReceived(self, invite: IncomingInvite) -> None:
        """
        A new call: check it, settle the A-leg's session timer, route the B-leg.
        """
        try:
            self._invite(invite, invite.request)
        except SIPParseError as e:
            self.stats.increment("parse_errors")
            invite.reject(e.status, e.phrase)
        except Exception:
            self.stats.increment("internal_errors")
            self._log.failure("Error handling {request}", request=invite.request)
            invite.reject(500)

    def _relayDenied(self, request: Request) -> bool:
        """
        Whether placing this call would make sst an open relay (the proxy's rule: see
        L{RelayRule}).
        """
        return self.relay.denied(request)

    def _isOurs(self, host: str) -> bool:
        """
        @return: whether C{host} (lower case, bare) is one of our addresses or served
            domains.
        """
        return any(host == local for local, _ in self.ua.localAddresses) or (
            self.registrar is not None and self.registrar.servesDomain(host))

    def _invite(self, incoming: IncomingInvite, request: Request) -> None:
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
            self.stats.increment("relay_denied")
            incoming.reject(403, "Relaying denied")
            return
        limit = self.dialogs.maxDialogs
        if (limit is not None and len(self.dialogs) + 2 > limit) or self.ua.transactions.full:
            self.stats.increment("overload_rejected")
            incoming.reject(503, headers=[("Retry-After", "5")])
            return
        terms = self._aLegTerms(request, incoming)
        if isinstance(terms, Response):
            self.stats.increment("rejected_422")
            incoming.done = True
            incoming.server.respond(terms)
            return
        self._counter += 1
        call = Call(self, "%s;%d" % (request.callId, self._counter), incoming)
        call.aTerms = terms
        call.callerTimer = request.hasOptionTag("supported", "timer")
        call.a.localMin = max(self.policy.minSE(request), MIN_SE_FLOOR)
        # Section 7.4: our refreshes on the A-leg carry the largest Min-SE of the dialog,
        # starting with the caller's.
        call.a.minSE = max(request.minSE() or MIN_SE_FLOOR, MIN_SE_FLOOR)
        call.a.remoteBody = request.body
        self.calls[call.key] = call
        incoming.onCancel = lambda: self._aCancelled(call)
        d = maybeDeferred(self.router.route, request)
        d.addCallback(self._routed, call)
        d.addErrback(self._routingFailed, call)

    def _aLegTerms(self, request: Request, incoming: IncomingInvite) -> Union[Response, Terms]:
        """
        RFC 4028 section 9 for the caller's INVITE: a 422, or the A-leg's (interval, whether
        sst refreshes), or L{None} for no timer.
        """
        offer = readOffer(request)
        if not self.policy.isTimed(request) and not (
                offer.sessionExpires is not None and request.hasOptionTag("require", "timer")):
            return None
        ours = max(self.policy.minSE(request), MIN_SE_FLOOR)
        if rejects(offer, ours, self.policy.rejectTooSmall(request)):
            return intervalTooSmall(request, ours, toTag=incoming.toTag)
        interval = uasInterval(offer, ours, self.policy.sessionExpires(request))
        preferred = "uas" if self.settings.refresher in ("uas", "local") else "uac"
        return (interval, uasRefresher(offer, preferred) == "uas")

    # -- the B-leg INVITE --------------------------------------------------------------------

    def _routingFailed(self, failure: Failure, call: Call) -> None:
        self._log.failure("Routing failed for {callId}", failure, callId=call.callId)
        call.incoming.reject(500)
        self._maybeForget(call)

    def _routed(self, targets: list[Target], call: Call) -> None:
        incoming = call.incoming
        if incoming.done:
            self._maybeForget(call)
            return
        # Never route a B-leg back to sst itself (an unregistered user of a served domain
        # resolves to our own address): that would loop until Max-Forwards runs out.
        targets = [t for t in targets
                   if (t.address.host.lower(), t.address.port) not in self.ua.localAddresses]
        if not targets:
            uri = incoming.request.requestURI()
            served = self.registrar is not None and uri.isSIP and self.registrar.servesDomain(uri.host)
            incoming.reject(480 if served else 404)
            self._maybeForget(call)
            return
        request = incoming.request
        call.target = targets[0]
        call.bCallId = self.ua.newCallId()
        call.bTimed = self.policy.isTimed(request)
        bMin = self.settings.bMinSE
        if bMin is None:
            bMin = self.policy.minSE(request)
        call.bMin = max(bMin, MIN_SE_FLOOR)
        bSE = self.settings.bSessionExpires
        if bSE is None:
            bSE = self.policy.sessionExpires(request)
        call.bSE = max(bSE, call.bMin)
        self._sendB(call)

    def _sendB(self, call: Call) -> None:
        assert call.target is not None
        call.bCSeq += 1
        request = self._bInvite(call, call.target)
        call.b.minSE = call.bMin
        call.b.localBody = request.body
        call.b.localType = request.header("content-type")
        call.outgoing = self.ua.invite(request, call.target.address, call)

    def _bInvite(self, call: Call, target: Target) -> Request:
        """
        The B-leg INVITE: a new Call-ID and From tag, the caller's From and To (without tags),
        body and Content-Type, the headers the settings pass, and our session timer.
        """
        a = call.incoming.request
        request = Request("INVITE", target.requestURI or a.uri)
        append = request.appendHeader
        maxForwards = a.maxForwards()
        append("max-forwards", str(69 if maxForwards is None else maxForwards - 1))
        append("from", "%s;tag=%s" % (_withoutTag(a.fromAddr()),
                                      self.ua.transactions.newTag()))
        append("to", _withoutTag(a.toAddr()))
        append("call-id", call.bCallId)
        append("cseq", "%d INVITE" % (call.bCSeq,))
        append("contact", self.ua.contactFor(None, target.address.transport))
        append("allow", ALLOW)
        append("supported", SUPPORTED)
        if call.bTimed:
            refresher = ";refresher=uac" if self.settings.refresher == "local" else ""
            append("session-expires", "%d%s" % (call.bSE, refresher))
            append("min-se", str(call.bMin))
        passed = self.settings.passHeaders
        if passed:
            for key, value in a.iterHeaders():
                if key in passed:
                    append(key, value)
        contentType = a.header("content-type")
        if a.body and contentType is not None:
            append("content-type", contentType)
        request.body = a.body
        return request

    def _bProvisional(self, call: Call, response: Response) -> None:
        headers = []
        contentType = response.header("content-type")
        if response.body and contentType is not None:
            headers.append(("Content-Type", contentType))
        call.incoming.provisional(response.code, response.phrase, headers, response.body)

    def _bFailed(self, call: Call, invite: OutgoingInvite, response: Optional[Response]) -> None:
        if call.outgoing is invite:
            call.outgoing = None
        if response is not None and response.code == 422 and self._retry422(call, response):
            return
        incoming = call.incoming
        if response is None:
            incoming.reject(408)
        elif response.code == 422:
            self.stats.increment("b2bua_422_given_up")
            incoming.reject(500, GIVE_UP_PHRASE)
        elif response.code == 503:
            incoming.reject(500)
        else:
            incoming.reject(response.code, response.phrase)
        self._maybeForget(call)

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
                or call.incoming.done or call.ending):
            return False
        call.retried422 += 1
        call.bMin = offered
        call.bSE = max(call.bSE, offered)
        self.stats.increment("b2bua_422_retried")
        self._sendB(call)
        return True

    def _aCancelled(self, call: Call) -> None:
        """
        The caller cancelled (it got 487): cancel the B-leg.
        """
        if call.outgoing is not None:
            call.outgoing.cancel()

    def _bAnswered(self, call: Call, dialog: UADialog, response: Response) -> None:
        if call.outgoing is not None and call.outgoing.dialog is dialog:
            call.outgoing = None
        b = call.b
        b.dialog = dialog
        dialog.user = b
        incoming = call.incoming
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
        self._register(a, confirmed=False)
        self._register(b, confirmed=True)

    # -- the dialog table ----------------------------------------------------------------------

    def _register(self, leg: Leg, confirmed: bool) -> None:
        dialog = leg.dialog
        assert dialog is not None
        tableId = dialog.id
        interval = leg.interval
        lifetime = None if interval is None else nonRefresherByeAt(interval)
        try:
            entry = self.dialogs.create(tableId, confirmed=confirmed, lifetime=lifetime,
                                        interval=interval, refresher=leg.tableRefresher())
        except DialogTableFull:
            self.stats.increment("overload_rejected")
            self._endCall(leg.call, None)
            return
        leg.tableId = tableId
        self.legs[tableId] = leg
        entry.extra = {"call": leg.call.callId, "leg": leg.name, "role": leg.role}
        self._schedule(leg)

    def _setTerms(self, leg: Leg, interval: int, weRefresh: bool) -> None:
        """
        A 2xx refreshed the leg: re-arm its expiry and our refresh.
        """
        leg.interval = interval
        leg.weRefresh = weRefresh
        if leg.tableId is not None:
            self.dialogs.refresh(leg.tableId, nonRefresherByeAt(interval), interval,
                                 leg.tableRefresher())
        self._schedule(leg)

    def _schedule(self, leg: Leg) -> None:
        """
        Arm (or re-arm) our refresh at SE/2 when sst is the leg's refresher.
        """
        if leg.interval is not None and leg.weRefresh and leg.dialog is not None:
            self._refreshIn(leg, refreshAt(leg.interval))
        else:
            self._cancelRefresh(leg)

    def _refreshIn(self, leg: Leg, delay: float) -> None:
        timer = leg.refreshTimer
        if timer is not None and timer.active():
            timer.reset(delay)
        else:
            leg.refreshTimer = self.clock.callLater(delay, self._refresh, leg)
        leg.nextRefresh = self.clock.seconds() + delay
        self._describe(leg)

    def _cancelRefresh(self, leg: Leg) -> None:
        timer = leg.refreshTimer
        if timer is not None and timer.active():
            timer.cancel()
        leg.refreshTimer = None
        leg.nextRefresh = None
        self._describe(leg)

    def _describe(self, leg: Leg) -> None:
        if leg.tableId is None:
            return
        entry = self.dialogs.get(leg.tableId)
        if entry is not None and entry.extra is not None:
            entry.extra["sst_refreshes"] = leg.weRefresh if leg.interval is not None else None
            entry.extra["next_refresh"] = leg.nextRefresh

    def _unregister(self, leg: Leg, reason: str) -> None:
        self._cancelRefresh(leg)
        tableId = leg.tableId
        if tableId is not None:
            leg.tableId = None
            self.legs.pop(tableId, None)
            self.dialogs.terminate(tableId, reason)

    # -- IDialogObserver ----------------------------------------------------------------------

    def dialogExpired(self, dialog: Dialog) -> None:
        """
        A leg was not refreshed in time: BYE both legs.
        """
        leg = self.legs.pop(dialog.id, None)
        if leg is None:
            return
        leg.tableId = None
        self._log.info("Session timer of leg {leg} of {callId} expired: ending the call",
                       leg=leg.name, callId=leg.call.callId)
        self._endCall(leg.call, EXPIRY_REASON if dialog.timed else None)

    def dialogTerminated(self, dialog: Dialog, reason: str) -> None:
        """
        Someone else ended a leg's table entry: end the call.
        """
        leg = self.legs.pop(dialog.id, None)
        if leg is not None:
            leg.tableId = None
            self._endCall(leg.call, None)

    def onDelete(self, dialog: Dialog) -> None:
        """
        C{DELETE /dialogs/<id>}: end the call with BYE on both legs.
        """
        leg = self.legs.get(dialog.id)
        if leg is None:
            self.dialogs.terminate(dialog.id, "admin")
            return
        self._endCall(leg.call, None)

    # -- ending ---------------------------------------------------------------------------------

    def _endCall(self, call: Call, reason: Optional[str]) -> None:
        """
        End the call: BYE on each leg still up (with C{Reason: reason}), and free its timers.
        """
        if call.ending:
            return
        call.ending = True
        call.byeReason = reason
        headers = [("Reason", reason)] if reason is not None else []
        for leg in (call.a, call.b):
            self._unregister(leg, "ended")
            if leg.dialog is not None:
                leg.dialog.bye(headers)
                if reason == EXPIRY_REASON:
                    self.stats.increment("expiry_byes")
        if call.outgoing is not None:
            call.outgoing.cancel()
        self._maybeForget(call)

    def _legEnded(self, leg: Leg, reason: str) -> None:
        call = leg.call
        self._unregister(leg, reason)
        leg.dialog = None
        leg.refreshing = False
        other = call.other(leg)
        if other.dialog is not None:
            self._unregister(other, "ended")
            bye = call.byeReason or _FAILURE_REASONS.get(reason)
            other.dialog.bye([("Reason", bye)] if bye is not None else [])
        call.ending = True
        self._maybeForget(call)

    def _maybeForget(self, call: Call) -> None:
        if call.a.dialog is None and call.b.dialog is None and call.outgoing is None:
            self._cancelRefresh(call.a)
            self._cancelRefresh(call.b)
            self.calls.pop(call.key, None)
            # Its closure refers to the call and to us.
            call.incoming.onCancel = None

    def _ackReceived(self, leg: Leg) -> None:
        if leg.tableId is not None:
            self.dialogs.confirm(leg.tableId)

    # -- in-dialog requests ---------------------------------------------------------------------

    def _inDialogRequest(self, leg: Leg, server: ServerTransaction) -> None:
        dialog = leg.dialog
        assert dialog is not None
        method = server.request.method
        try:
            if method in ("INVITE", "UPDATE"):
                self._sessionRequest(leg, dialog, server)
            elif method == "OPTIONS":
                dialog.respond(server, 200, [("Allow", ALLOW), ("Supported", SUPPORTED)])
            elif method in RELAYED:
                self._relay(leg, dialog, server)
            else:
                dialog.respond(server, 501)
        except SIPParseError as e:
            self.stats.increment("parse_errors")
            dialog.respond(server, e.status, phrase=e.phrase)

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
        if rejects(offer, leg.localMin, self.policy.rejectTooSmall(request)):
            return tooSmallMinSE(offer, leg.localMin)
        interval = uasInterval(offer, leg.localMin, leg.localMin)
        if se.refresher == "uac":
            weRefresh = False
        elif se.refresher == "uas" or not timer:
            weRefresh = True
        elif leg.interval is not None:
            weRefresh = leg.weRefresh
        else:
            weRefresh = self.settings.refresher == "local" or (
                leg.name == "a" and self.settings.refresher == "uas")
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
            self._setTerms(leg, *terms)

    def _sessionRequest(self, leg: Leg, dialog: UADialog, server: ServerTransaction) -> None:
        request = server.request
        terms = self._incomingTerms(leg, request)
        if isinstance(terms, int):
            self.stats.increment("rejected_422")
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
            self.stats.increment("refreshes_received")
            self._applyTerms(leg, terms)
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
            headers = self._refreshHeaders(other, "uac" if other.weRefresh else "uas")
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
            self._applyRefreshAnswer(other, response)
            other.localBody = request.body
            other.localType = request.header("content-type")
            other.remoteBody = response.body
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

    def _relay(self, leg: Leg, dialog: UADialog, server: ServerTransaction) -> None:
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

    # -- our refreshes --------------------------------------------------------------------------

    def _refresh(self, leg: Leg) -> None:
        leg.refreshTimer = None
        leg.nextRefresh = None
        dialog = leg.dialog
        if dialog is None or not dialog.alive or leg.interval is None or leg.call.ending:
            return
        if dialog.invitePending or dialog.inviteServer is not None or leg.refreshing:
            # An offer/answer exchange is under way: try again in a second.
            self._refreshIn(leg, 1.0)
            return
        method = self.settings.refreshMethod
        if method == "auto":
            useUpdate = dialog.peerAllows("UPDATE") and not leg.noUpdate
        else:
            useUpdate = method == "update"
        headers = self._refreshHeaders(leg, "uac")
        body = b""
        if not useUpdate and leg.localBody:
            body = leg.localBody
            if leg.localType is not None:
                headers.append(("Content-Type", leg.localType))
        sentMethod = "UPDATE" if useUpdate else "INVITE"
        leg.refreshing = True
        self.stats.increment("refreshes_sent")
        self._describe(leg)
        dialog.request(sentMethod, headers, body,
                       onResponse=lambda response: self._refreshAnswered(leg, sentMethod, response),
                       onTimeout=lambda: self._refreshTimedOut(leg))

    def _refreshHeaders(self, leg: Leg, refresher: str) -> list[tuple[str, str]]:
        """
        The session timer of a session refresh request sst sends on C{leg} (RFC 4028
        section 7.4): C{Min-SE} is the largest seen in the dialog (the peer's INVITE and
        refreshes, 422s), and C{Session-Expires} the leg's interval, never below it.

        @param refresher: the C{refresher} parameter, in the request's terms.
        """
        assert leg.interval is not None
        interval = max(leg.interval, leg.minSE)
        return [("Session-Expires", "%d;refresher=%s" % (interval, refresher)),
                ("Min-SE", str(leg.minSE))]

    def _refreshTimedOut(self, leg: Leg) -> None:
        # The UA core sends BYE on the leg and ends it; _legEnded ends the other.
        leg.refreshing = False

    def _refreshAnswered(self, leg: Leg, method: str, response: Response) -> None:
        code = response.code
        if code < 200:
            return
        leg.refreshing = False
        dialog = leg.dialog
        if dialog is None or leg.call.ending:
            return
        if code < 300:
            self._applyRefreshAnswer(leg, response)
            return
        self.stats.increment("refreshes_failed")
        if code in (481, 408):
            return  # the UA core ends the leg, and _legEnded the call
        if code == 491:
            self._refreshIn(leg, glareBackoff(dialog.isUAC, self.uniform))
            return
        if code == 422:
            try:
                offered = response.minSE()
            except SIPParseError:
                offered = None
            if offered is not None and offered > leg.minSE:
                leg.minSE = offered
                leg.interval = max(leg.interval or offered, offered)
                self._refreshIn(leg, 0)
                return
        if method == "UPDATE" and code in (405, 501) and self.settings.refreshMethod == "auto":
            # Only "auto" may fall back to re-INVITE; with "update" forced this is an
            # ordinary failure, retried after the delay below.
            leg.noUpdate = True
            self._refreshIn(leg, 0)
            return
        entry = self.dialogs.get(leg.tableId) if leg.tableId is not None else None
        delay = self.settings.retryDelay
        if entry is not None and self.clock.seconds() + delay < entry.expiresAt:
            self._refreshIn(leg, delay)
        else:
            self._describe(leg)

    def _applyRefreshAnswer(self, leg: Leg, response: Response) -> None:
        """
        Section 7.2 for a 2xx to a refresh (or relayed offer) we sent on C{leg}.
        """
        try:
            se = response.sessionExpires()
        except SIPParseError:
            se = None
        if se is not None:
            self._setTerms(leg, se.delta, se.refresher != "uas")
        elif leg.interval is not None:
            self._setTerms(leg, leg.interval, True)
