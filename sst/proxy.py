# -*- test-case-name: sst.test.test_proxy -*-
"""
The stateful proxy core (RFC 3261 section 16).

Validates each request in the section 16.3 order, pre-processes Route (loose routing and the
strict-router fix), asks the router where initial requests go, forks to every target, and
keeps a response context per INVITE: Timer C, CANCEL, best-response selection, every 2xx
forwarded (RFC 6026). Dialogs are created from 2xx (and early dialogs from 1xx with a
To-tag), confirmed by ACK and ended by BYE, in the L{DialogTable}; session timers are asked
through one L{ISessionTimerHook}.
"""
from __future__ import annotations

import hashlib
import ipaddress
from typing import Iterable, Optional, Sequence, Union

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from sst.address import Address, addressForURI
from sst.dialogs import Dialog, DialogId, DialogObserverBase, DialogTable, DialogTableFull
from sst.expiry import ByeOnExpiry
from sst.headers import URI, SIPParseError, Via, parseNameAddr, parseURI, parseVia
from sst.interfaces import IRouter, ISessionTimerHook
from sst.dialogs import IDialogObserver
from sst.values import SessionTerms
from sst.message import Request, Response
from sst.protocol import TransportLayer, _responseAddress
from sst.registrar import Registrar
from sst.relay import IPNetwork, RelayRule
from sst.routing import DNSRouter, StaticRouter, Target
from sst.stats import Stats
from sst.timers import TimerConfig, asTimerService
from sst.transaction import (
    IClientTransactionUser,
    ITransactionUser,
    MAGIC_COOKIE,
    ClientTransaction,
    ServerTransaction,
    TransactionLayer,
)

__all__ = ["Proxy", "NoSessionTimers", "DialogCounter"]


#: Methods that create a dialog, and so are record-routed.
DIALOG_CREATING = frozenset(["INVITE", "SUBSCRIBE", "REFER", "NOTIFY"])

#: Requests larger than this go over TCP rather than UDP (RFC 3261 section 18.1.1: "larger
#: than 1300 bytes and the path MTU is unknown").
UDP_SIZE_LIMIT = 1300

#: Option tags we support in Proxy-Require.
SUPPORTED_PROXY_REQUIRE = frozenset(["timer"])


@implementer(ISessionTimerHook)
class NoSessionTimers:
    """
    A hook that times nothing: dialogs live for the default lifetime.
    """

    def requestReceived(self, request: Request, dialog: Optional[Dialog]) -> Optional[Response]:
        return None

    def responseReceived(
        self, request: Request, response: Response, dialog: Optional[Dialog]
    ) -> Optional[SessionTerms]:
        return None


def _rejectResponse(request: Request, code: int, phrase: str = "") -> Response:
    from sst.responses import makeResponse

    return makeResponse(request, code, phrase)


@implementer(IClientTransactionUser)
class Branch:
    """
    One forwarded copy of a request, with its client transaction.
    """

    __slots__ = ("context", "request", "target", "transaction", "provisional", "finalCode",
                 "cancelSent", "timerC", "timedOut", "answered")

    def __init__(self, context: "ResponseContext", request: Request, target: Address) -> None:
        self.context = context
        self.request = request
        self.target = target
        self.transaction: Optional[ClientTransaction] = None
        self.provisional = False
        self.finalCode = 0
        self.cancelSent = False
        self.timerC: Optional[IDelayedCall] = None
        #: Whether Timer C fired after a provisional response and the branch was cancelled
        #: for it: its 487 then stands for a 408 (RFC 3261 section 16.8).
        self.timedOut = False
        #: The To tags of the 2xx seen so far, so that a retransmitted 2xx is
        #: forwarded but does not re-arm its dialog's expiry.
        self.answered: tuple[str, ...] = ()

    def firstAnswer(self, toTag: str) -> bool:
        """
        Note a 2xx with C{toTag}.

        @return: whether it is the first 2xx of this branch with that tag
            (not a retransmission).
        """
        if toTag in self.answered:
            return False
        self.answered += (toTag,)
        return True

    @property
    def done(self) -> bool:
        """
        Whether a final response (real or synthesised) was seen.
        """
        return self.finalCode >= 200

    def responseReceived(self, transaction: ClientTransaction, response: Response) -> None:
        self.context.proxy._branchResponse(self, response)

    def transactionTimedOut(self, transaction: ClientTransaction) -> None:
        self.context.proxy._branchTimedOut(self)


class ResponseContext:
    """
    The state of one proxied request (RFC 3261 section 16.2): its server transaction and
    branches, the best final response so far, and whether it was cancelled.
    """

    __slots__ = ("proxy", "server", "request", "initial", "branches", "best", "_finalSent",
                 "cancelled", "routing", "counted")

    def __init__(self, proxy: "Proxy", server: ServerTransaction, initial: bool) -> None:
        self.proxy = proxy
        self.server = server
        self.request = server.request
        self.initial = initial
        self.branches: list[Branch] = []
        self.best: Optional[Response] = None
        self._finalSent = False
        self.cancelled = False
        self.routing = True
        # An initial INVITE counts against --max-dialogs until its final response is sent
        # (by then a 2xx has made its dialog), so that a surge cannot overfill the table.
        self.counted = initial and server.request.method == "INVITE"
        if self.counted:
            proxy.invitesInProgress += 1

    @property
    def finalSent(self) -> bool:
        """
        Whether the final response went upstream.
        """
        return self._finalSent

    @finalSent.setter
    def finalSent(self, value: bool) -> None:
        if value and not self._finalSent and self.counted:
            self.counted = False
            self.proxy.invitesInProgress -= 1
        if value:
            # No other final goes upstream: the best one so far is no longer needed.
            self.best = None
        self._finalSent = value

    def serverTransactionEnded(self) -> None:
        """
        The server transaction ended: stop counting it even if no final was sent, and let
        go of the branches (each refers to this context), whose client transactions may
        live on a little (2xx retransmissions) but can no longer send anything upstream.
        """
        self.branches = []
        if self.counted:
            self.counted = False
            self.proxy.invitesInProgress -= 1

    def pending(self) -> list[Branch]:
        """
        @return: branches without a final response.
        """
        return [b for b in self.branches if not b.done]


@implementer(ITransactionUser)
class Proxy:
    """
    A stateful, record-routing proxy.

    @ivar localAddresses: (host, port) pairs that are this proxy (for Route and loop checks).
    @ivar relay: the relay rule (see L{relayDenied}).
    """

    _log = Logger()

    def __init__(
        self,
        clock: IReactorTime,
        transport: TransportLayer,
        dialogs: DialogTable,
        router: IRouter,
        stats: Stats,
        hook: Optional[ISessionTimerHook] = None,
        registrar: Optional[Registrar] = None,
        uriRouter: Optional[DNSRouter] = None,
        relayNetworks: Sequence[IPNetwork] = (),
        timers: TimerConfig = TimerConfig(),
        maxTransactions: int = 100000,
        byeOnExpiry: bool = False,
    ) -> None:
        """
        @param clock: the time source of every timer.
        @param transport: what sends and receives messages; the proxy's own transaction
            layer (L{transactions}, with the proxy as its user) is built on it.
        @param dialogs: the dialog table.
        @param router: where initial out-of-dialog requests go.
        @param stats: the counters.
        @param hook: the session-timer rules (RFC 4028 section 8); none by default.
        @param registrar: the registrar that answers REGISTER for our domains, if any.
        @param uriRouter: resolves a Route or Request-URI host by DNS (RFC 3263), if any.
        @param relayNetworks: the C{--relay-network}s (see L{RelayRule}).
        @param timers: the RFC 3261 timers of the transactions.
        @param maxTransactions: live transactions above which new INVITEs get 503.
        @param byeOnExpiry: send BYE to both parties of an expired timed dialog
            (C{--bye-on-expiry}; see L{ByeOnExpiry}).
        """
        self.clock = asTimerService(clock)
        self.transactions = TransactionLayer(transport, self.clock, timers, self,
                                             maxTransactions=maxTransactions)
        self.transport = transport
        self.dialogs = dialogs
        self.router = router
        self.uriRouter = uriRouter
        self.stats = stats
        self.hook: ISessionTimerHook = hook if hook is not None else NoSessionTimers()
        self.registrar = registrar
        self.relay = RelayRule(relayNetworks, self._isOurs, isinstance(router, StaticRouter))
        self.localAddresses: set[tuple[str, int]] = set()
        self.localHosts: set[str] = set()
        #: Initial INVITEs admitted and not yet answered with a final response.
        self.invitesInProgress = 0
        #: Our Record-Route URI for each local address, as written.
        self._recordRoutes: dict[Address, str] = {}
        #: Whether each Route entry seen names us (see L{_isLocalRoute}).
        self._localRoutes: dict[str, bool] = {}
        dialogs.addObserver(DialogCounter(stats))
        #: Sends BYE to both ends of expired timed dialogs (C{--bye-on-expiry}), or L{None}.
        self.byeOnExpiry: Optional[ByeOnExpiry] = None
        if byeOnExpiry:
            self.byeOnExpiry = ByeOnExpiry(self.transactions, transport, stats,
                                           self.resolveAddresses)
            dialogs.addObserver(self.byeOnExpiry)

    # -- who we are ----------------------------------------------------------------------

    def addLocalAddress(self, host: str, port: int) -> None:
        """
        Declare an address this proxy listens on.
        """
        self.localAddresses.add((host.lower(), port))
        self.localHosts.add(host.lower())
        self._localRoutes.clear()

    def isLocal(self, uri: URI) -> bool:
        """
        @return: whether C{uri} names this proxy (a Route or Record-Route we wrote).
        """
        if not uri.isSIP:
            return False
        port = uri.port if uri.port is not None else (5061 if uri.scheme == "sips" else 5060)
        return (uri.host.lower(), port) in self.localAddresses

    def relayDenied(self, request: Request, uri: URI) -> bool:
        """
        Whether forwarding C{request} would make this proxy an open relay: only an
        out-of-dialog request (no To tag) that names no next hop in a Route (our own Route
        entries already removed) may be, by the L{RelayRule}.

        @param request: the request, after Route pre-processing.
        @param uri: its Request-URI.
        """
        if request.toTag is not None or request.hasHeader("route"):
            return False
        return self.relay.denied(request, uri)

    def _isOurs(self, host: str) -> bool:
        """
        @return: whether C{host} (lower case, bare) is one of our addresses or registrar
            domains.
        """
        return host in self.localHosts or (self.registrar is not None
                                           and self.registrar.servesDomain(host))

    def recordRouteURI(self, transport: str, family: str) -> str:
        """
        @return: our Record-Route URI for C{transport}.
        """
        local = self.transport.localAddress(transport, family)
        uri = self._recordRoutes.get(local)
        if uri is None:
            suffix = ";transport=tcp" if transport == "tcp" else ""
            uri = self._recordRoutes[local] = "<sip:%s%s;lr>" % (local.hostport(), suffix)
        return uri

    # -- ITransactionUser ----------------------------------------------------------------

    def requestReceived(self, transaction: ServerTransaction) -> None:
        request = transaction.request
        try:
            self._requestReceived(transaction, request)
        except SIPParseError as e:
            self.stats.increment("parse_errors")
            transaction.respondWith(e.status, e.phrase)
        except Exception:
            self.stats.increment("internal_errors")
            self._log.failure("Error proxying {request}", request=request)
            transaction.respondWith(500)

    def ackReceived(self, request: Request) -> None:
        try:
            self._forwardAck(request)
        except SIPParseError as e:
            # A malformed ACK is never answered (RFC 3261 section 17.2.3): drop it.
            self.stats.increment("parse_errors")
            self.stats.increment("dropped")
            self._log.info("Dropped ACK {request}: {reason}", request=request, reason=e.reason)
        except Exception:
            self.stats.increment("dropped")
            self._log.failure("Dropped ACK {request}", request=request)

    def cancelReceived(self, cancel: ServerTransaction, invite: Optional[ServerTransaction]) -> None:
        if invite is None:
            # No response context (RFC 3261 section 16.10): the INVITE may have been forwarded
            # before a restart, or statelessly; the CANCEL goes on statelessly.
            try:
                self._forwardCancel(cancel)
            except SIPParseError as e:
                self.stats.increment("parse_errors")
                cancel.respondWith(e.status, e.reason[:100])
            except Exception:
                self.stats.increment("internal_errors")
                self._log.failure("Error forwarding {request}", request=cancel.request)
                cancel.respondWith(500)
            return
        cancel.respondWith(200, toTag=invite.toTag)
        context = invite.context
        if isinstance(context, ResponseContext):
            self._cancelContext(context)
        # Otherwise the INVITE was answered here (section 9.2: the CANCEL has no effect).

    def strayResponse(self, response: Response) -> None:
        # A 2xx retransmission after the INVITE client transaction has gone (RFC 6026), or
        # the response to a CANCEL forwarded statelessly (RFC 3261 section 16.10): forward
        # it statelessly along the Via path (section 16.11).
        try:
            vias = response.headerValues("via")
            if len(vias) < 2:
                return
            top = parseVia(vias[0])
            if (top.host.lower(), top.port or 5060) not in self.localAddresses:
                self.stats.increment("dropped")
                return
            method = response.cseq().method
            if not (method == "CANCEL" or 200 <= response.code < 300 and method == "INVITE"):
                return
            response.popFirstValue("via")
            nextVia = parseVia(vias[1])
            source = Address(nextVia.transport.lower() if nextVia.transport in ("UDP", "TCP") else "udp",
                             nextVia.host, nextVia.port or 5060)
            target = _responseAddress(nextVia.params, nextVia.host, nextVia.port, source)
            if _isBroadcast(target.host):
                # Never relay to a broadcast or multicast Via (RFC 4475 section 3.3.10).
                self.stats.increment("dropped")
                return
            self.transport.sendMessage(response, target)
        except SIPParseError:
            self.stats.increment("dropped")

    # -- requests ------------------------------------------------------------------------

    def _requestReceived(self, server: ServerTransaction, request: Request) -> None:
        method = request.method
        inDialog = request.toTag is not None
        if method == "INVITE":
            server.respondWith(100)
        if not inDialog and method == "INVITE" and (self.transactions.full or self._dialogsFull()):
            self._overloaded(server)
            return
        # RFC 3261 section 16.3: 1. syntax (done by the parser), 2. URI scheme.
        uri = request.requestURI()
        if uri.scheme not in ("sip", "sips", "tel"):
            server.respondWith(416)
            return
        # Reasonable syntax (section 16.3 step 1) of From and To, which are forwarded as
        # they came: a malformed one (an unquoted display name with a comma, RFC 4475
        # section 3.1.2.15) must not be propagated, so the request gets a 400.
        _checkAddresses(request)
        # 3. Max-Forwards.
        maxForwards = request.maxForwards()
        if maxForwards is not None and maxForwards == 0:
            server.respondWith(483)
            return
        # 4. Loop detection.
        loopHash = self._loopHash(request)
        if self._looped(request, loopHash):
            server.respondWith(482)
            return
        # 5. Proxy-Require.
        unsupported = [t for t in request.headerValues("proxy-require")
                       if t.lower() not in SUPPORTED_PROXY_REQUIRE]
        if unsupported:
            response = _rejectResponse(request, 420)
            response.addHeader("Unsupported", ", ".join(unsupported))
            server.respond(response)
            return
        # Section 16.4: Route information pre-processing.
        self._preprocessRoute(request)
        uri = request.requestURI()
        if not inDialog and self.relayDenied(request, uri):
            self.stats.increment("relay_denied")
            self._log.debug("Relaying denied: {method} {uri} from {source}", method=method,
                            uri=request.uri, source=request.source)
            server.respondWith(403, "Relaying denied")
            return
        if (method == "REGISTER" and self.registrar is not None and not request.hasHeader("route")
                and uri.isSIP and (self.registrar.servesDomain(uri.host) or self.isLocal(uri))):
            server.respond(self.registrar.handleRegister(request))
            return
        dialog: Optional[Dialog] = None
        if inDialog:
            dialog = self.dialogs.lookup(request.callId, request.fromTag or "", request.toTag or "")
            if dialog is not None and self.byeOnExpiry is not None:
                self.byeOnExpiry.requestSeen(dialog, request)
        if method in ("INVITE", "UPDATE"):
            rejection = self.hook.requestReceived(request, dialog)
            if rejection is not None:
                server.respond(rejection)
                return
        context = ResponseContext(self, server, initial=not inDialog)
        server.context = context
        hops = self._nextHops(request, inDialog)
        if isinstance(hops, list):
            self._routedNow(hops, context, loopHash)
            return
        hops.addCallback(self._routed, context, loopHash)
        hops.addErrback(self._routingFailed, context)

    def _nextHops(self, request: Request, inDialog: bool) -> Union[list[Target], Deferred[list[Target]]]:
        """
        Where a request goes: the top Route, else (in a dialog) the Request-URI, else the
        router. Numeric hosts and a static next hop are answered at once, without a Deferred.

        A next hop we were told to use (a Route, C{--next-hop}) is used even when it is this
        proxy: the request then comes back and is found to loop (482, RFC 3261 section 16.3
        item 4). A Request-URI or a router's target that turns out to be this proxy is not
        (see L{_notSelf}).

        @param request: the request, after Route pre-processing.
        @param inDialog: whether it has a To tag.
        """
        if request.hasHeader("route"):
            route = parseNameAddr(request.headerValues("route")[0]).uri
            if _isNumeric(route.host):
                return [Target(addressForURI(route))]
            return self._resolve(route, keepURI=True)
        if not inDialog and isinstance(self.router, StaticRouter):
            return [self.router.target]
        if inDialog:
            uri = request.requestURI()
            if _isNumeric(uri.host):
                return self._notSelf([Target(addressForURI(uri))])
            return self._resolve(uri, keepURI=True).addCallback(self._notSelf)
        return maybeDeferred(self.router.route, request).addCallback(self._notSelf)

    def _notSelf(self, targets: list[Target]) -> list[Target]:
        """
        Leave out the targets that are this proxy: a Request-URI, a registered contact or
        a DNS answer naming us means that no one else is there (480 or 404), not a loop.
        """
        return [t for t in targets if not self._isSelf(t.address)]

    def _routedNow(self, targets: list[Target], context: ResponseContext, loopHash: str) -> None:
        try:
            self._routed(targets, context, loopHash)
        except Exception:
            self._routingFailed(Failure(), context)  # type: ignore[no-untyped-call]

    def resolveAddresses(self, uri: URI) -> Deferred[list[Address]]:
        """
        @return: the addresses a request for C{uri} may go to (numeric, or by DNS).
        """
        return self._resolve(uri, keepURI=True).addCallback(lambda ts: [t.address for t in ts])

    def _resolve(self, uri: URI, keepURI: bool) -> Deferred[list[Target]]:
        """
        Addresses for a URI we were told to send to (a Route, an in-dialog target).
        """
        if self.uriRouter is not None and uri.isSIP and not _isNumeric(uri.host):
            return self.uriRouter.resolve(uri).addCallback(
                lambda targets: [Target(t.address, None) for t in targets]
            )
        d: Deferred[list[Target]] = Deferred()
        d.callback([Target(addressForURI(uri), None)])
        return d

    def _routingFailed(self, failure: Failure, context: ResponseContext) -> None:
        self._log.failure("Routing failed for {request}", failure, request=context.request)
        context.routing = False
        if not context.finalSent and not context.server.state == "terminated":
            context.finalSent = True
            context.server.respondWith(500)

    def _routed(self, targets: list[Target], context: ResponseContext, loopHash: str) -> None:
        context.routing = False
        server = context.server
        request = context.request
        if context.cancelled:
            if not context.finalSent:
                context.finalSent = True
                server.respondWith(487)
            return
        if not targets:
            # No server for the Request-URI: no binding for a domain we serve (480, RFC 3261
            # section 16.5), or DNS has none for another domain (RFC 3263: no such name, a
            # time-out, a host DNS cannot hold), a 404 (section 21.4.5). Not a 503, which
            # would say this proxy is unavailable (and upstream proxies turn a lone 503 into
            # a 500, section 16.7 step 6), nor a 604, which DNS cannot vouch for everywhere.
            uri = request.requestURI()
            served = self.registrar is not None and uri.isSIP and self.registrar.servesDomain(uri.host)
            context.finalSent = True
            server.respondWith(480 if served else 404)
            return
        for target in targets:
            # Every branch gets its own copy: the server transaction's request must keep the
            # Vias as received, since responses made from it (a 408 on Timer B or C, a 487)
            # go upstream.
            self._forward(context, _copy(request), target, loopHash)

    def _isSelf(self, address: Address) -> bool:
        return (address.host.lower(), address.port) in self.localAddresses

    def _forward(self, context: ResponseContext, request: Request, target: Target, loopHash: str) -> None:
        """
        RFC 3261 section 16.6: copy, retarget, Max-Forwards, Record-Route, Via, send.
        """
        if target.requestURI is not None:
            request.uri = target.requestURI
        address = target.address
        maxForwards = request.maxForwards()
        # Section 16.6 step 3: decrement, or add one "which SHOULD be 70" when absent.
        request.setHeader("Max-Forwards", str(70 if maxForwards is None else maxForwards - 1))
        branch = self._forwardBranch(request, address, loopHash)
        routes = self._addOurHeaders(context, request, address, branch)
        fallback: Optional[tuple[Request, Address]] = None
        if (address.transport == "udp" and request.byteSize() > UDP_SIZE_LIMIT
                and self.transport.listensOn("tcp")):
            # RFC 3261 section 18.1.1: too large for UDP with an unknown path MTU; over TCP,
            # with the top Via (and our Record-Route) saying so, and back to UDP if refused.
            fallback = (request, address)
            request = _copy(request)
            request.popFirstValue("via")
            for _ in range(routes):
                request.popFirstValue("record-route")
            address = Address("tcp", address.host, address.port)
            self._addOurHeaders(context, request, address, branch)
        branchState = Branch(context, request, address)
        context.branches.append(branchState)
        branchState.transaction = self.transactions.request(request, address, branchState, fallback)
        if request.method == "INVITE":
            branchState.timerC = self.clock.callLater(self.transactions.timers.C, self._timerC, branchState)

    def _addOurHeaders(self, context: ResponseContext, request: Request, address: Address,
                       branch: str) -> int:
        """
        Add our Record-Route (an initial dialog-creating request; two when the transport
        changes, RFC 5658) and our Via to C{request} about to go to C{address}.

        @return: the number of Record-Route entries added.
        """
        family = address.family
        added = 0
        if context.initial and request.method in DIALOG_CREATING:
            source = request.source
            inTransport = source.transport if isinstance(source, Address) else "udp"
            request.insertBefore("Record-Route", self.recordRouteURI(inTransport, family))
            added = 1
            if inTransport != address.transport:
                # RFC 5658 double Record-Route when the transport changes.
                request.insertBefore("Record-Route", self.recordRouteURI(address.transport, family))
                added = 2
        self._pushVia(request, address, family, branch)
        return added

    def _forwardBranch(self, request: Request, address: Address, loopHash: str) -> str:
        """
        The branch of our Via on C{request} forwarded to C{address}: the same for the same
        received request and target, in this process or the next one, so that a CANCEL
        forwarded statelessly (after a restart, say) carries the branch its INVITE was
        forwarded with (RFC 3261 sections 9.1 and 16.11).

        It is the magic cookie, the loop-detection hash (section 16.6 step 8), then a hash
        of what identifies the received transaction (its top Via's branch and sent-by, or
        with an RFC 2543 branch also the tags, Call-ID and CSeq number, as section 16.11
        recommends) and of where this copy goes (Request-URI, host, port; not the transport,
        which a large request may change). That upstream branch is unique across space and
        time (section 8.1.1.7), and so is ours. A branch already in use by a live client
        transaction (the same request forwarded twice to one target) gives way to a random
        one.

        @param request: the copy about to be forwarded, Request-URI set, our Via not yet on.
        @param address: where it goes.
        @param loopHash: the received request's loop-detection hash.
        """
        via = request.topVia()
        received = via.branch or ""
        parts = [received, via.sentBy(), request.uri, address.host.lower(), str(address.port)]
        if not received.startswith(MAGIC_COOKIE):
            parts += [request.toTag or "", request.fromTag or "", request.callId,
                      str(request.cseq().number)]
        digest = hashlib.blake2b("\0".join(parts).encode("latin-1", "replace"),
                                 digest_size=8).hexdigest()
        branch = "%s%s.%s" % (MAGIC_COOKIE, loopHash, digest)
        if (branch, request.method) in self.transactions.clients:
            return self.transactions.newBranch(loopHash)
        return branch

    def _forwardCancel(self, server: ServerTransaction) -> None:
        """
        Forward a CANCEL that matches no transaction statelessly (RFC 3261 sections 16.10
        and 16.11): checked and routed as its INVITE was, with the branch the INVITE was
        forwarded with (L{_forwardBranch}), and no client transaction; the responses come
        back through L{strayResponse}. The server transaction ends at once, so that a
        retransmission is forwarded again.
        """
        request = server.request
        maxForwards = request.maxForwards()
        if maxForwards == 0:
            server.respondWith(483)
            return
        loopHash = self._loopHash(request)
        if self._looped(request, loopHash):
            server.respondWith(482)
            return
        self._preprocessRoute(request)
        inDialog = request.toTag is not None
        if not inDialog and self.relayDenied(request, request.requestURI()):
            self.stats.increment("relay_denied")
            server.respondWith(403, "Relaying denied")
            return
        hops = self._nextHops(request, inDialog)
        if isinstance(hops, list):
            self._sendCancel(server, hops, loopHash)
            return
        hops.addCallback(lambda targets: self._sendCancel(server, targets, loopHash))
        hops.addErrback(self._cancelRoutingFailed, server)

    def _sendCancel(self, server: ServerTransaction, targets: list[Target], loopHash: str) -> None:
        """
        Send a copy of the CANCEL of C{server} to each of C{targets}, statelessly.
        """
        if server.state == "terminated":
            return
        if not targets:
            server.respondWith(481)
            return
        server.terminate()
        request = server.request
        maxForwards = request.maxForwards()
        for target in targets:
            copy = _copy(request)
            if target.requestURI is not None:
                copy.uri = target.requestURI
            address = target.address
            copy.setHeader("Max-Forwards", str(70 if maxForwards is None else maxForwards - 1))
            family = address.family
            self._pushVia(copy, address, family, self._forwardBranch(copy, address, loopHash))
            self.transport.sendMessage(copy, address)

    def _cancelRoutingFailed(self, failure: Failure, server: ServerTransaction) -> None:
        self._log.failure("Routing failed for {request}", failure, request=server.request)
        if server.state != "terminated":
            server.respondWith(500)

    def _preprocessRoute(self, request: Request) -> None:
        """
        RFC 3261 section 16.4: undo a strict router's rewrite, then remove the Route entries
        that name us from the top of the route set.
        """
        if not request.hasHeader("route"):
            return
        routes = request.headerValues("route")
        if not routes:
            # RFC 3261 section 25.1: a Route holds at least one route-param.
            raise SIPParseError("empty Route")
        uri = request.requestURI()
        if uri.user is None and self.isLocal(uri):
            # Strict router upstream (RFC 3261 section 16.4): restore the Request-URI.
            last = parseNameAddr(routes[-1])
            request.uri = str(last.uri)
            request.removeHeader("route")
            for value in routes[:-1]:
                request.addHeader("Route", value)
            routes = routes[:-1]
        for route in routes:
            if not self._isLocalRoute(route):
                return
            request.popFirstValue("route")

    def _isLocalRoute(self, route: str) -> bool:
        """
        @return: whether the Route entry C{route} names us; remembered per entry, as every
            in-dialog request of a call carries the same one.
        @raise SIPParseError: when C{route} does not parse.
        """
        local = self._localRoutes.get(route)
        if local is None:
            local = self.isLocal(parseNameAddr(route).uri)
            if len(self._localRoutes) >= 4096:
                self._localRoutes.clear()
            self._localRoutes[route] = local
        return local

    def _loopHash(self, request: Request) -> str:
        parts = "\0".join([
            request.uri, request.toTag or "", request.fromTag or "", request.callId,
            str(request.cseq().number), ",".join(request.lineValues("proxy-require")),
            ",".join(request.lineValues("route")),
        ])
        return hashlib.blake2b(parts.encode("latin-1"), digest_size=6).hexdigest()

    def _looped(self, request: Request, loopHash: str) -> bool:
        """
        RFC 3261 section 16.3 item 4: whether one of our Vias, the top one included (a
        request we sent to ourselves comes back with ours on top), carries the loop hash
        this request gives again.
        """
        marker = MAGIC_COOKIE + loopHash
        if self._ourLoopVia(request.topVia(), marker):
            return True
        values = request.headerValues("via")
        return any(self._ourLoopVia(parseVia(value), marker) for value in values[1:])

    def _ourLoopVia(self, via: Via, marker: str) -> bool:
        return ((via.host.lower(), via.port or 5060) in self.localAddresses
                and (via.branch or "").startswith(marker))

    def _dialogsFull(self) -> bool:
        limit = self.dialogs.maxDialogs
        return limit is not None and len(self.dialogs) + self.invitesInProgress >= limit

    def _overloaded(self, server: ServerTransaction) -> None:
        self.stats.increment("overload_rejected")
        response = _rejectResponse(server.request, 503)
        response.addHeader("Retry-After", "5")
        server.respond(response)

    # -- responses -----------------------------------------------------------------------

    def _branchResponse(self, branch: Branch, response: Response) -> None:
        context = branch.context
        code = response.code
        if code == 100:
            return
        try:
            response.popFirstValue("via")
            if not response.hasHeader("via"):
                return
            if code < 200:
                self._provisional(branch, response)
            elif code < 300:
                self._success(branch, response)
            else:
                self._failure(branch, response)
        except SIPParseError as e:
            self.stats.increment("parse_errors")
            self._log.info("Bad response {response}: {reason}", response=response, reason=e.reason)
            if code >= 200 and not branch.done:
                self._synthesise(branch, 502)
        except Exception:
            self.stats.increment("internal_errors")
            self._log.failure("Error handling {response}", response=response)

    def _provisional(self, branch: Branch, response: Response) -> None:
        context = branch.context
        branch.provisional = True
        if branch.timerC is not None and branch.timerC.active() and not branch.timedOut:
            branch.timerC.reset(self.transactions.timers.C)
        if context.cancelled and not branch.cancelSent:
            self._cancelBranch(branch)
        if context.finalSent:
            return
        request = context.request
        if context.initial and request.method == "INVITE" and response.toTag is not None:
            self._createDialog(request, response, confirmed=False, lifetime=None)
        context.server.respond(response)

    def _success(self, branch: Branch, response: Response) -> None:
        context = branch.context
        firstFinal = not branch.done
        branch.finalCode = max(branch.finalCode, response.code)
        self._stopTimerC(branch)
        request = branch.request
        method = request.method
        if method in ("INVITE", "UPDATE") and branch.firstAnswer(response.toTag or ""):
            # The expiry counts from the first 2xx: retransmissions pass through only.
            self._sessionFor(context, branch, response)
        elif method == "BYE":
            self._endDialog(request, "bye")
        context.finalSent = True
        context.server.respond(response)
        if firstFinal and method == "INVITE":
            for other in context.pending():
                if other is not branch:
                    self._cancelBranch(other)
            if context.initial:
                # Early dialogs of other forks that never answered 2xx expire once late 2xx
                # can no longer come (RFC 6026: 64*T1 after the first 2xx); a late 2xx
                # re-arms its dialog with the negotiated lifetime.
                self._shortenEarlyDialogs(request.callId, request.fromTag or "",
                                          response.toTag or "")

    def _sessionFor(self, context: ResponseContext, branch: Branch, response: Response) -> None:
        request = branch.request
        toTag = response.toTag
        if toTag is None:
            return
        if context.initial:
            if request.method != "INVITE":
                return
            # A 2xx confirms its dialog (RFC 3261 section 12); the ACK does not have to
            # come first, and a later 2xx of another fork must not take it for an early
            # dialog that lost.
            dialog = self._createDialog(request, response, confirmed=True, lifetime=None)
            terms = self.hook.responseReceived(request, response, dialog)
            if dialog is not None:
                self._applyTerms(dialog, terms)
                if self.byeOnExpiry is not None and not (dialog.extra and "ends" in dialog.extra):
                    self.byeOnExpiry.established(dialog, request, response, self.isLocal)
            return
        dialog = self.dialogs.lookup(request.callId, request.fromTag or "", toTag)
        terms = self.hook.responseReceived(request, response, dialog)
        if dialog is not None:
            fromCallee = request.fromTag != dialog.id.fromTag
            self._applyTerms(dialog, terms, fromCallee)

    def _applyTerms(self, dialog: Dialog, terms: Optional[SessionTerms],
                    fromCallee: bool = False) -> None:
        """
        Re-arm C{dialog} with the terms of a 2xx.

        The dialog's refresher names a party of the dialog (C{uac} for the caller,
        C{uas} for the callee), while C{refresher} in a refresh names a role in that
        transaction: a refresh sent by the callee swaps them.
        """
        if terms is None:
            self.dialogs.refresh(dialog.id, None, None, None)
            return
        refresher = terms.refresher
        if fromCallee and refresher is not None:
            refresher = "uas" if refresher == "uac" else "uac"
        self.dialogs.refresh(dialog.id, float(terms.interval), terms.interval, refresher)

    def _createDialog(self, request: Request, response: Response, confirmed: bool,
                      lifetime: Optional[float]) -> Optional[Dialog]:
        dialogId = DialogId(request.callId, request.fromTag or "", response.toTag or "")
        try:
            return self.dialogs.create(dialogId, confirmed=confirmed, lifetime=lifetime)
        except DialogTableFull:
            self.stats.increment("overload_rejected")
            return None

    def _shortenEarlyDialogs(self, callId: str, fromTag: str, winner: str) -> None:
        lifetime = self.transactions.timers.M
        for dialog in self.dialogs.early(callId):
            if dialog.id.fromTag == fromTag and dialog.id.toTag != winner:
                self.dialogs.refresh(dialog.id, lifetime, None, None)

    def _endDialog(self, request: Request, reason: str) -> None:
        dialog = self.dialogs.lookup(request.callId, request.fromTag or "", request.toTag or "")
        if dialog is not None:
            self.dialogs.terminate(dialog.id, reason)

    def _failure(self, branch: Branch, response: Response) -> None:
        context = branch.context
        if branch.done:
            return
        if branch.timedOut and response.code == 487:
            # The answer to the CANCEL Timer C sent: the branch timed out (section 16.8).
            self._synthesise(branch, 408)
            return
        branch.finalCode = response.code
        self._stopTimerC(branch)
        request = branch.request
        if request.method == "BYE" or response.code in (408, 481) and not context.initial:
            self._endDialog(request, "bye" if request.method == "BYE" else "failed")
        if response.code >= 600:
            for other in context.pending():
                self._cancelBranch(other)
        if context.best is None or _better(response, context.best):
            context.best = response
        self._maybeFinish(context)

    def _maybeFinish(self, context: ResponseContext) -> None:
        if context.finalSent or context.pending():
            return
        best = context.best
        if best is None:
            return
        context.finalSent = True
        if context.initial and context.request.method == "INVITE":
            for dialog in self.dialogs.early(context.request.callId):
                if dialog.id.fromTag == (context.request.fromTag or ""):
                    self.dialogs.terminate(dialog.id, "rejected")
        if best.code == 503:
            best.code = 500
            best.phrase = "Server Internal Error"
        if context.cancelled and best.code in (408,):
            context.server.respondWith(487)
            return
        context.server.respond(best)

    def _synthesise(self, branch: Branch, code: int) -> None:
        """
        Act as if the branch received a final response C{code} (408 on time-out).
        """
        if branch.done:
            return
        branch.finalCode = code
        self._stopTimerC(branch)
        context = branch.context
        response = _rejectResponse(context.request, code)
        if context.best is None or _better(response, context.best):
            context.best = response
        if code == 408 and not context.initial:
            self._endDialog(branch.request, "timeout")
        self._maybeFinish(context)

    def _branchTimedOut(self, branch: Branch) -> None:
        self._synthesise(branch, 408)

    def _timerC(self, branch: Branch) -> None:
        """
        Timer C fired (RFC 3261 section 16.8). A branch that had a provisional response is
        cancelled, and its final response awaited (a 487 then counts as a 408) for 64*T1
        more, when Timer C fires again; one that had none behaves as if it received a 408.
        """
        branch.timerC = None
        if branch.done:
            return
        if branch.provisional and not branch.timedOut:
            branch.timedOut = True
            self._cancelBranch(branch)
            branch.timerC = self.clock.callLater(self.transactions.timers.B, self._timerC, branch)
            return
        self._synthesise(branch, 408)

    def _stopTimerC(self, branch: Branch) -> None:
        if branch.timerC is not None and branch.timerC.active():
            branch.timerC.cancel()
        branch.timerC = None

    # -- CANCEL --------------------------------------------------------------------------

    def _cancelContext(self, context: ResponseContext) -> None:
        context.cancelled = True
        if context.routing:
            return
        for branch in context.pending():
            self._cancelBranch(branch)
        if not context.branches and not context.finalSent:
            context.finalSent = True
            context.server.respondWith(487)

    def _cancelBranch(self, branch: Branch) -> None:
        if branch.cancelSent or branch.done or branch.transaction is None:
            return
        if not branch.provisional:
            # RFC 3261 section 9.1: no CANCEL before a provisional response; it goes out
            # when one arrives (the context is marked cancelled).
            branch.context.cancelled = True
            return
        branch.cancelSent = True
        cancel = branch.transaction.cancelRequest()
        # Where the INVITE went: over TCP when it was large, unless it fell back to UDP.
        self.transactions.request(cancel, branch.transaction.target, _CancelUser(self, branch))

    # -- ACK for 2xx ---------------------------------------------------------------------

    def _forwardAck(self, request: Request) -> None:
        _checkAddresses(request)
        maxForwards = request.maxForwards()
        if maxForwards == 0:
            return
        self._preprocessRoute(request)
        if request.toTag is not None:
            dialog = self.dialogs.lookup(request.callId, request.fromTag or "", request.toTag)
            if dialog is not None:
                self.dialogs.confirm(dialog.id)
        if request.hasHeader("route"):
            uri = parseNameAddr(request.headerValues("route")[0]).uri
        else:
            uri = request.requestURI()
            if self.relayDenied(request, uri):
                # An ACK outside any dialog and transaction, for someone else's domain.
                self.stats.increment("relay_denied")
                self.stats.increment("dropped")
                return
        if not uri.isSIP or self.isLocal(uri):
            return
        if _isNumeric(uri.host):
            self._sendAck(request, [Target(addressForURI(uri))], maxForwards)
            return
        d = self._resolve(uri, keepURI=True)
        d.addCallback(lambda targets: self._sendAck(request, targets, maxForwards))
        d.addErrback(lambda f: self._log.failure("ACK routing failed", f))

    def _sendAck(self, request: Request, targets: list[Target], maxForwards: Optional[int]) -> None:
        """
        Forward an ACK for a 2xx statelessly to the first of C{targets} (RFC 3261 16.11).
        """
        targets = [t for t in targets if not self._isSelf(t.address)]
        if not targets:
            return
        address = targets[0].address
        request.setHeader("Max-Forwards", str(70 if maxForwards is None else maxForwards - 1))
        family = address.family
        # Stateless forwarding: a branch derived from the incoming one.
        incoming = request.topVia().branch or request.headerValues("via")[0]
        branch = MAGIC_COOKIE + hashlib.blake2b(incoming.encode("latin-1"), digest_size=8).hexdigest()
        self._pushVia(request, address, family, branch)
        self.transport.sendMessage(request, address)

    def _pushVia(self, request: Request, address: Address, family: str, branch: str) -> None:
        """
        Add our Via, with C{branch} and an empty C{rport}, on top of a request sent to
        C{address}.
        """
        local = self.transport.localAddress(address.transport, family)
        transport = address.transport.upper()
        request.pushVia(Via(transport, local.host, local.port, {"branch": branch, "rport": None}),
                        "SIP/2.0/%s %s;branch=%s;rport" % (transport, local.hostport(), branch))


@implementer(IDialogObserver)
class DialogCounter(DialogObserverBase):
    """
    Counts C{dialogs_created}, C{dialogs_terminated} and C{dialogs_expired} from the
    dialog table's events (early dialogs included).
    """

    def __init__(self, stats: Stats) -> None:
        """
        @param stats: where to count.
        """
        self.stats = stats

    def dialogCreated(self, dialog: Dialog) -> None:
        """
        Count a new dialog.

        @param dialog: the dialog.
        """
        self.stats.increment("dialogs_created")

    def dialogTerminated(self, dialog: Dialog, reason: str) -> None:
        """
        Count a dialog ended by BYE, rejection or failure.

        @param dialog: the dialog.
        @param reason: why it ended.
        """
        self.stats.increment("dialogs_terminated")

    def dialogExpired(self, dialog: Dialog) -> None:
        """
        Count a dialog whose timer ran out.

        @param dialog: the dialog.
        """
        self.stats.increment("dialogs_expired")


@implementer(IClientTransactionUser)
class _CancelUser:
    """
    The user of the CANCEL client transaction of a branch: its responses need no action;
    when it times out (no response at all), the branch is given up as if it received a 408.
    """

    __slots__ = ("proxy", "branch")

    def __init__(self, proxy: Proxy, branch: Branch) -> None:
        self.proxy = proxy
        self.branch = branch

    def responseReceived(self, transaction: ClientTransaction, response: Response) -> None:
        pass

    def transactionTimedOut(self, transaction: ClientTransaction) -> None:
        self.proxy._synthesise(self.branch, 408)


def _rank(code: int) -> tuple[int, int]:
    # RFC 3261 section 16.7 step 6: 6xx first, then the lowest class; 503 is a last resort.
    if code >= 600:
        return (0, code)
    if code == 503:
        return (9, code)
    if code == 408:
        return (8, code)
    return (code // 100, code)


def _better(candidate: Response, current: Response) -> bool:
    return _rank(candidate.code) < _rank(current.code)


def _isBroadcast(host: str) -> bool:
    """
    @return: whether C{host} is a limited broadcast, multicast or unspecified address (a
        host name is none of these).
    """
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_multicast or address.is_unspecified or address == _LIMITED_BROADCAST


_LIMITED_BROADCAST = ipaddress.IPv4Address("255.255.255.255")


def _checkAddresses(request: Request) -> None:
    """
    Decode From and To, which a proxy forwards unchanged.

    @raise SIPParseError: when either does not parse.
    """
    request.fromAddr()
    request.toAddr()


def _isNumeric(host: str) -> bool:
    if ":" in host:
        return True
    parts = host.split(".")
    return len(parts) == 4 and all(p.isdigit() for p in parts)


def _copy(request: Request) -> Request:
    # The header lines are copied as they are (two list copies): cheaper than a re-parse,
    # and edits of the copy (Via, Max-Forwards) leave the original alone.
    copy = Request(request.method, request.uri, None, request.body)
    copy.copyHeaders(request)
    copy.source = request.source
    copy.receivedAt = request.receivedAt
    return copy
