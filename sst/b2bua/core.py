# -*- test-case-name: sst.test.test_b2bua,sst.test.test_b2bua_sipp,sst.test.test_stack -*-
"""
The B2BUA itself: L{B2BUA}, the user of its UA core and an observer of the dialog table.

It takes what arrives outside any dialog (REGISTER for the registrar, new calls for
L{CallSetup<sst.b2bua.setup.CallSetup>}), dispatches what arrives in a call's dialogs (OPTIONS
is answered here, the rest goes to L{InDialogAnswers<sst.b2bua.answers.InDialogAnswers>}), and
ends calls: BYE ends the other leg; so do 481, 408 and time-outs of in-dialog requests.

Expiry: when a leg's table entry expires (the peer did not refresh, or our refreshes kept
failing), both legs get BYE with C{Reason: SIP;cause=408;text="Session timer expired"};
C{expired_sst} is counted by L{ExpiryCounter<sst.sessiontimer.ExpiryCounter>}.

@see: U{https://www.rfc-editor.org/rfc/rfc4028#section-10}
"""
from __future__ import annotations

import random
from typing import Any, Callable, Optional, Sequence

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from sst.auth.authenticator import Authenticator, Rejection
from sst.b2bua.answers import InDialogAnswers
from sst.b2bua.call import Call, Leg
from sst.b2bua.persistence import CallPersistence
from sst.b2bua.refresh import Refreshes
from sst.b2bua.settings import B2BUASettings
from sst.b2bua.setup import CallSetup
from sst.dialogs import Dialog, DialogId, DialogObserverBase, DialogTable, IDialogObserver
from sst.expiry import EXPIRY_REASON
from sst.headers import SIPParseError
from sst.interfaces import IRouter, ISessionTimerPolicy
from sst.protocol import TransportLayer
from sst.registrar import Registrar
from sst.ownership import SINGLE, Ownership
from sst.relay import IPNetwork, RelayRule
from sst.responses import makeResponse
from sst.routing import StaticRouter
from sst.stats import Stats
from sst.timers import TimerConfig
from sst.timerservice import asTimerService
from sst.transaction import ServerTransaction
from sst.ua.core import IUAUser, Resolver, UserAgent, numericResolver
from sst.ua.dialog import ALLOW, SUPPORTED
from sst.ua.invite import IncomingInvite

__all__ = ["B2BUA"]

#: In-dialog methods relayed to the other leg as they are.
RELAYED = frozenset(["INFO", "MESSAGE", "NOTIFY"])

#: Why a leg ended, and the Reason its end puts on the other leg's BYE.
_FAILURE_REASONS = {
    "481": 'SIP;cause=481;text="Dialog gone on the other leg"',
    "408": 'SIP;cause=408;text="Request timeout on the other leg"',
    "timeout": 'SIP;cause=408;text="Request timeout on the other leg"',
    "no-ack": 'SIP;cause=408;text="No ACK on the other leg"',
}


@implementer(IUAUser, IDialogObserver)
class B2BUA(DialogObserverBase):
    """
    Bridges an A-leg and a B-leg for each call, with RFC 4028 session timers on each.

    @ivar calls: the live calls, by key.
    @ivar legs: the legs in the dialog table, by their table identifier.
    @ivar setup: sets calls up.
    @ivar refreshes: the legs' table entries and sst's refreshes.
    @ivar answers: answers or relays what the peers send in a call.
    @ivar persistence: keeps each call in its legs' table entries, and rebuilds it when a
        store restores them.
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
                 maxTransactions: int = 100000, ownership: Ownership = SINGLE,
                 authenticator: Optional[Authenticator] = None) -> None:
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
        @param ownership: with C{--workers}, this worker's place (see L{UserAgent}).
        @param authenticator: challenges new calls and REGISTERs (digest authentication),
            if any.
        """
        self.clock = asTimerService(clock)
        self.ua = UserAgent(transport, self.clock, self, timers, resolve=resolve,
                            uniform=uniform, maxTransactions=maxTransactions,
                            ownership=ownership)
        self.ua.findElsewhere = self._findElsewhere
        self.dialogs = dialogs
        self.router = router
        self.policy = policy
        self.stats = stats
        self.settings = settings
        self.registrar = registrar
        #: Digest authentication, or L{None} (nothing is challenged).
        self.authenticator = authenticator
        self.relay = RelayRule(relayNetworks, self._isOurs, isinstance(router, StaticRouter))
        self.uniform = uniform
        self.calls: dict[str, Call] = {}
        self.legs: dict[DialogId, Leg] = {}
        self.refreshes = Refreshes(self)
        self.answers = InDialogAnswers(self)
        self.setup = CallSetup(self)
        self.persistence = CallPersistence(self)
        dialogs.addObserver(self)

    def requestReceived(self, server: ServerTransaction) -> None:
        """
        A request outside any dialog other than INVITE and OPTIONS: REGISTER goes to the
        registrar for the domains it serves; BYE gets 481; anything else 405.
        """
        request = server.request
        uri = request.requestURI()
        if (request.method == "REGISTER" and self.registrar is not None and uri.isSIP
                and (self.registrar.servesDomain(uri.host) or self.ua.isLocal(uri))):
            authenticator = self.authenticator
            if authenticator is not None and authenticator.applies(request):
                d = authenticator.authenticate(request, register=True)
                d.addCallback(self._registerAuthenticated, server)
                d.addErrback(self._authenticationFailed, server)
                return
            server.respond(self.registrar.handleRegister(request))
        elif request.method in ("BYE", "UPDATE", "INFO", "NOTIFY"):
            server.respondWith(481)
        else:
            response = makeResponse(request, 405, toTag=self.ua.transactions.newTag())
            response.addHeader("Allow", ALLOW)
            server.respond(response)

    def inviteReceived(self, invite: IncomingInvite) -> None:
        """
        A new call: authenticate it (when on), check it, settle the A-leg's session timer,
        route the B-leg.
        """
        authenticator = self.authenticator
        if authenticator is not None and authenticator.applies(invite.request):
            try:
                d = authenticator.authenticate(invite.request, register=False)
            except SIPParseError as e:
                self.stats.increment("parse_errors")
                invite.reject(e.status, e.phrase)
                return
            d.addCallback(self._inviteAuthenticated, invite)
            d.addErrback(self._authenticationFailed, invite.server)
            return
        self._setUp(invite)

    def _inviteAuthenticated(self, rejection: Optional[Rejection], invite: IncomingInvite) -> None:
        # A call cancelled meanwhile is done: rejecting it does nothing, and the set-up
        # drops it.
        if rejection is not None:
            invite.reject(rejection.code, headers=rejection.headers)
            return
        self._setUp(invite)

    def _registerAuthenticated(self, rejection: Optional[Rejection],
                               server: ServerTransaction) -> None:
        if rejection is not None:
            server.respond(rejection.responseTo(server.request, self.ua.transactions.newTag()))
            return
        assert self.registrar is not None
        server.respond(self.registrar.handleRegister(server.request))

    def _authenticationFailed(self, failure: Failure, server: ServerTransaction) -> None:
        self.stats.increment("internal_errors")
        self._log.failure("Authentication failed for {request}", failure, request=server.request)
        if server.finalCode == 0 and server.state != "terminated":
            server.respondWith(500)

    def _setUp(self, invite: IncomingInvite) -> None:
        try:
            self.setup.invite(invite, invite.request)
        except SIPParseError as e:
            self.stats.increment("parse_errors")
            invite.reject(e.status, e.phrase)
        except Exception:
            self.stats.increment("internal_errors")
            self._log.failure("Error handling {request}", request=invite.request)
            invite.reject(500)

    def _isOurs(self, host: str) -> bool:
        """
        @return: whether C{host} (lower case, bare) is one of our addresses or served
            domains.
        """
        return any(host == local for local, _ in self.ua.localAddresses) or (
            self.registrar is not None and self.registrar.servesDomain(host))

    def _findElsewhere(self, callId: str, fromTag: str, toTag: str) -> Optional[Deferred[Any]]:
        """
        In a cluster, take over the call of an in-dialog request no call here has, when the
        node that held it is dead (the dialog table's loader; see L{sst.cluster.store}).
        """
        loader = self.dialogs.loader
        if loader is None:
            return None
        return loader(callId, fromTag, toTag)

    def dialogRestored(self, dialog: Dialog) -> None:
        """
        A store put a leg's entry back (after a restart, or taken over in a cluster): rebuild
        its call from the snapshot the entry keeps, or attach the leg to the call the other
        leg's entry rebuilt. An overdue entry then expires at once, and L{dialogExpired}
        ends the call.
        """
        self.persistence.restored(dialog)

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
        self.endCall(leg.call, EXPIRY_REASON if dialog.timed else None)

    def dialogTerminated(self, dialog: Dialog, reason: str) -> None:
        """
        Someone else ended a leg's table entry: end the call.
        """
        leg = self.legs.pop(dialog.id, None)
        if leg is not None:
            leg.tableId = None
            self.endCall(leg.call, None)

    def dialogForgotten(self, dialog: Dialog) -> None:
        """
        Another node of the cluster owns the call of this leg now (or ended it): drop the
        whole call here without sending anything, and stop refreshing it.
        """
        leg = self.legs.pop(dialog.id, None)
        if leg is None:
            return
        leg.tableId = None
        call = leg.call
        call.ending = True
        self._log.info("Call {callId} is held by another node now: dropped here",
                       callId=call.callId)
        for each in (call.a, call.b):
            self.refreshes.cancelRefresh(each)
            tableId = each.tableId
            if tableId is not None:
                each.tableId = None
                self.legs.pop(tableId, None)
                entry = self.dialogs.get(tableId)
                if entry is not None:
                    self.dialogs.forget(entry)
            if each.dialog is not None:
                each.dialog.abandon()
                each.dialog = None
        if call.outgoing is not None:
            call.outgoing.cancel()
        self.maybeForget(call)

    def onDelete(self, dialog: Dialog) -> None:
        """
        C{DELETE /dialogs/<id>}: end the call with BYE on both legs.
        """
        leg = self.legs.get(dialog.id)
        if leg is None:
            self.dialogs.terminate(dialog.id, "admin")
            return
        self.endCall(leg.call, None)

    def endCall(self, call: Call, reason: Optional[str]) -> None:
        """
        End the call: BYE on each leg still up (with C{Reason: reason}), and free its timers.
        """
        if call.ending:
            return
        call.ending = True
        call.byeReason = reason
        headers = [("Reason", reason)] if reason is not None else []
        for leg in (call.a, call.b):
            self.refreshes.unregister(leg, "ended")
            if leg.dialog is not None:
                leg.dialog.bye(headers)
                if reason == EXPIRY_REASON:
                    self.stats.increment("expiry_byes")
        if call.outgoing is not None:
            call.outgoing.cancel()
        self.maybeForget(call)

    def legEnded(self, leg: Leg, reason: str) -> None:
        """
        The UA core ended C{leg}'s dialog (C{reason} as L{IDialogUser} has it): BYE the
        other leg and forget the call.
        """
        call = leg.call
        self.refreshes.unregister(leg, reason)
        leg.dialog = None
        leg.refreshing = False
        other = call.other(leg)
        if other.dialog is not None:
            self.refreshes.unregister(other, "ended")
            bye = call.byeReason or _FAILURE_REASONS.get(reason)
            other.dialog.bye([("Reason", bye)] if bye is not None else [])
        call.ending = True
        self.maybeForget(call)

    def maybeForget(self, call: Call) -> None:
        """
        Forget C{call} once neither leg has a dialog and no B-leg INVITE is pending.
        """
        if call.a.dialog is None and call.b.dialog is None and call.outgoing is None:
            self.refreshes.cancelRefresh(call.a)
            self.refreshes.cancelRefresh(call.b)
            self.calls.pop(call.key, None)
            # Its closure refers to the call and to us.
            if call.incoming is not None:
                call.incoming.onCancel = None

    def legAcknowledged(self, leg: Leg) -> None:
        """
        The ACK for our 2xx on C{leg} arrived: confirm its table entry.
        """
        if leg.tableId is not None:
            self.dialogs.confirm(leg.tableId)

    def inDialogRequest(self, leg: Leg, server: ServerTransaction) -> None:
        """
        A request arrived in C{leg}'s dialog: hand it to what answers it.
        """
        dialog = leg.dialog
        assert dialog is not None
        method = server.request.method
        try:
            if method in ("INVITE", "UPDATE"):
                self.answers.sessionRequest(leg, dialog, server)
            elif method == "OPTIONS":
                dialog.respond(server, 200, [("Allow", ALLOW), ("Supported", SUPPORTED)])
            elif method in RELAYED:
                self.answers.relay(leg, dialog, server)
            else:
                dialog.respond(server, 501)
        except SIPParseError as e:
            self.stats.increment("parse_errors")
            dialog.respond(server, e.status, phrase=e.phrase)
