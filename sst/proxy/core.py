# -*- test-case-name: sst.test.test_proxy -*-
"""
The stateful proxy core (RFC 3261 section 16): L{Proxy}, the transaction user.

Validates each request in the section 16.3 order, asks the router where initial requests
go, and keeps a response context per request; forwarding is the L{Forwarder}'s job, what
comes back on the branches the L{ResponseHandler}'s. Dialogs are created from 2xx (and
early dialogs from 1xx with a To-tag), confirmed by ACK and ended by BYE, in the
L{DialogTable}; session timers are asked through one L{ISessionTimerHook}.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union, cast

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import classImplements

from sst.address import Address, addressForURI
from sst.auth.authenticator import Authenticator, Rejection
from sst.dialogcounter import DialogCounter
from sst.dialogs import Dialog, DialogTable
from sst.expiry import ByeOnExpiry
from sst.headers import URI, SIPParseError, parseNameAddr
from sst.interfaces import IRouter
from sst.message import Request, Response
from sst.protocol import TransportLayer
from sst.proxy.branches import ResponseContext
from sst.proxy.forwarding import DIALOG_CREATING, Forwarder, _checkAddresses, _copy, _isNumeric
from sst.proxy.hook import ISessionTimerHook, NoSessionTimers
from sst.proxy.responses import ResponseHandler, _rejectResponse
from sst.registrar import Registrar
from sst.relay import IPNetwork, RelayRule
from sst.responses import makeResponse
from sst.routing import DNSRouter, StaticRouter, Target
from sst.stats import Stats
from sst.timers import TimerConfig
from sst.timerservice import asTimerService
from sst.transaction import ITransactionUser, ServerTransaction, TransactionLayer

__all__ = ["Proxy"]


#: Option tags we support in Proxy-Require.
SUPPORTED_PROXY_REQUIRE = frozenset(["timer"])

#: The methods named in the C{Allow} header of the proxy's own answer to OPTIONS: what it
#: serves itself (OPTIONS, REGISTER) and what it forwards with a meaning it knows.
PROXY_ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, REGISTER, PRACK, INFO, MESSAGE, " \
    "SUBSCRIBE, NOTIFY, REFER"


#: The target of each URI with a numeric host seen by L{_numericTarget}, by the URI's text.
_TARGETS: dict[str, Target] = {}


def _numericTarget(text: str, uri: URI) -> Optional[Target]:
    """
    Where a request for a URI with a numeric host goes, without DNS: remembered per URI
    text (a L{Target} is immutable), as the in-dialog requests of a call share their
    Request-URI.

    @param text: the URI as written.
    @param uri: C{text}, parsed.
    @return: the target, or L{None} when the host is not numeric.
    """
    target = _TARGETS.get(text)
    if target is None:
        if not _isNumeric(uri.host):
            return None
        target = Target(addressForURI(uri))
        if len(_TARGETS) >= 4096:
            _TARGETS.clear()
        _TARGETS[text] = target
    return target


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
        authenticator: Optional[Authenticator] = None,
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
        @param authenticator: challenges and checks requests outside dialogs (digest
            authentication), if any.
        """
        self.clock = asTimerService(clock)
        # A Proxy provides ITransactionUser (classImplements, below: mypy-zope sees only
        # @implementer).
        user = cast(ITransactionUser, self)
        self.transactions = TransactionLayer(transport, self.clock, timers, user,
                                             maxTransactions=maxTransactions)
        self.transport = transport
        self.dialogs = dialogs
        self.router = router
        self.uriRouter = uriRouter
        self.stats = stats
        self.hook: ISessionTimerHook = hook if hook is not None else NoSessionTimers()
        self.registrar = registrar
        #: Digest authentication, or L{None} (nothing is challenged).
        self.authenticator = authenticator
        self.relay = RelayRule(relayNetworks, self._isOurs, isinstance(router, StaticRouter))
        self.localAddresses: set[tuple[str, int]] = set()
        self.localHosts: set[str] = set()
        #: Initial INVITEs admitted and not yet answered with a final response.
        self.invitesInProgress = 0
        dialogs.addObserver(DialogCounter(stats))
        #: Sends BYE to both ends of expired timed dialogs (C{--bye-on-expiry}), or L{None}.
        self.byeOnExpiry: Optional[ByeOnExpiry] = None
        if byeOnExpiry:
            self.byeOnExpiry = ByeOnExpiry(self.transactions, transport, stats,
                                           self.resolveAddresses)
            dialogs.addObserver(self.byeOnExpiry)
        #: What comes back on the branches: responses, Timer C, CANCEL of branches.
        self.responses = ResponseHandler(self.clock, self.transactions, dialogs, stats,
                                         self.hook, self.byeOnExpiry, self.isLocal)
        #: What puts requests on their way: Route, loops, Via, Record-Route, sending.
        self.forwarder = Forwarder(transport, self.transactions, stats, self.localAddresses,
                                   self.isLocal, self.responses.startTimerC)

    # -- who we are ----------------------------------------------------------------------

    def addLocalAddress(self, host: str, port: int) -> None:
        """
        Declare an address this proxy listens on.
        """
        self.localAddresses.add((host.lower(), port))
        self.localHosts.add(host.lower())
        self.forwarder.localAddressAdded()

    def advertise(self, host: str, port: int) -> None:
        """
        Write C{host:port} in Record-Route rather than the address a request came in on,
        and take Routes naming it for ours: the address a cluster of nodes shares (a
        virtual IP, the name of its SRV records, a dispatcher in front), so that in-dialog
        requests may reach any node.
        """
        self.addLocalAddress(host, port)
        self.forwarder.advertised = Address("udp", host, port).hostport()

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
            self.responses.cancelContext(context)
        elif isinstance(context, _Authenticating):
            # Its credentials are still being checked: answered now, it will not be routed.
            invite.respondWith(487)
        # Otherwise the INVITE was answered here (section 9.2: the CANCEL has no effect).

    def strayResponse(self, response: Response) -> None:
        self.forwarder.strayResponse(response)

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
        _checkAddresses(request, decode=not inDialog and method in DIALOG_CREATING)
        # 3. Max-Forwards.
        maxForwards = request.maxForwards()
        if maxForwards is not None and maxForwards == 0:
            if method == "OPTIONS" and not inDialog:
                # Section 16.3 item 3: an OPTIONS that can go no further is answered here.
                self._answerOptions(server, request)
            else:
                server.respondWith(483)
            return
        # 4. Loop detection.
        loopHash = self.forwarder.loopHash(request)
        if self.forwarder.looped(request, loopHash):
            server.respondWith(482)
            return
        # 5. Proxy-Require.
        proxyRequire = request.headerValues("proxy-require")
        unsupported = proxyRequire and [t for t in proxyRequire
                                        if t.lower() not in SUPPORTED_PROXY_REQUIRE]
        if unsupported:
            response = _rejectResponse(request, 420)
            response.addHeader("Unsupported", ", ".join(unsupported))
            server.respond(response)
            return
        # Section 16.4: Route information pre-processing.
        self.forwarder.preprocessRoute(request)
        uri = request.requestURI()
        if method == "OPTIONS" and not inDialog and self._namesThisProxy(request, uri):
            self._answerOptions(server, request)
            return
        if not inDialog and self.relayDenied(request, uri):
            self.stats.increment("relay_denied")
            self._log.debug("Relaying denied: {method} {uri} from {source}", method=method,
                            uri=request.uri, source=request.source)
            server.respondWith(403, "Relaying denied")
            return
        forRegistrar = (method == "REGISTER" and self.registrar is not None
                        and not request.hasHeader("route") and uri.isSIP
                        and (self.registrar.servesDomain(uri.host) or self.isLocal(uri)))
        authenticator = self.authenticator
        if authenticator is not None and authenticator.applies(request):
            server.context = _AUTHENTICATING
            d = authenticator.authenticate(request, forRegistrar)
            d.addCallback(self._authenticated, server, forRegistrar, loopHash)
            d.addErrback(self._authenticationFailed, server)
            return
        self._admitted(server, request, forRegistrar, loopHash)

    def _authenticated(self, rejection: Optional[Rejection], server: ServerTransaction,
                       forRegistrar: bool, loopHash: str) -> None:
        """
        The credentials were checked: answer the L{Rejection}, or go on (unless a CANCEL
        answered the request meanwhile).
        """
        if server.finalCode != 0 or server.state == "terminated":
            return
        server.context = None
        request = server.request
        if rejection is not None:
            server.respond(rejection.responseTo(request, self.transactions.newTag()))
            return
        try:
            self._admitted(server, request, forRegistrar, loopHash)
        except SIPParseError as e:
            self.stats.increment("parse_errors")
            server.respondWith(e.status, e.phrase)

    def _authenticationFailed(self, failure: Failure, server: ServerTransaction) -> None:
        self.stats.increment("internal_errors")
        self._log.failure("Authentication failed for {request}", failure, request=server.request)
        if server.finalCode == 0 and server.state != "terminated":
            server.respondWith(500)

    def _admitted(self, server: ServerTransaction, request: Request, forRegistrar: bool,
                  loopHash: str, loaded: bool = False) -> None:
        """
        A request that passed the checks (and authentication, when on): to the registrar,
        or on its way.  In a cluster, the dialog of an in-dialog request this node does not
        hold is read from the shared table first (C{loaded} once it was), so that a refresh
        or BYE through any node moves or ends the shared dialog.
        """
        if forRegistrar:
            assert self.registrar is not None
            server.respond(self.registrar.handleRegister(request))
            return
        method = request.method
        inDialog = request.toTag is not None
        dialog: Optional[Dialog] = None
        if inDialog:
            dialog = self.dialogs.lookup(request.callId, request.fromTag or "", request.toTag or "")
            loader = self.dialogs.loader
            if dialog is None and loader is not None and not loaded:
                loading = loader(request.callId, request.fromTag or "", request.toTag or "")
                loading.addCallback(self._dialogLoaded, server, request, forRegistrar, loopHash)
                loading.addErrback(self._loadFailed, server)
                return
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

    def _dialogLoaded(self, ignored: object, server: ServerTransaction, request: Request,
                      forRegistrar: bool, loopHash: str) -> None:
        self._admitted(server, request, forRegistrar, loopHash, True)

    def _loadFailed(self, failure: Failure, server: ServerTransaction) -> None:
        self.stats.increment("internal_errors")
        self._log.failure("Handling {request} after loading its dialog failed", failure,
                          request=server.request)
        if server.finalCode == 0 and server.state != "terminated":
            server.respondWith(500)

    def _namesThisProxy(self, request: Request, uri: URI) -> bool:
        """
        Whether a request, after Route pre-processing, is addressed to this proxy itself
        rather than to a user: no Route left, no user part, and a Request-URI that is one of
        our addresses, or one of our registrar's domains with no port.
        """
        if uri.user is not None or not uri.isSIP or request.hasHeader("route"):
            return False
        if self.isLocal(uri):
            return True
        return (uri.port is None and self.registrar is not None
                and self.registrar.servesDomain(uri.host.lower()))

    def _answerOptions(self, server: ServerTransaction, request: Request) -> None:
        """
        Answer an OPTIONS for this proxy as its final recipient (RFC 3261 section 11): 200
        with Allow, Accept and C{Supported: timer}, so that a health check (a load
        balancer, C{sipsak}) sees a live server.
        """
        self.stats.increment("options_answered")
        response = makeResponse(request, 200, toTag=self.transactions.newTag())
        response.addHeader("Allow", PROXY_ALLOW)
        response.addHeader("Accept", "application/sdp")
        response.addHeader("Supported", "timer")
        server.respond(response)

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
            target = _numericTarget(request.uri, uri)
            if target is not None:
                return self._notSelf([target])
            return self._resolve(uri, keepURI=True).addCallback(self._notSelf)
        return maybeDeferred(self.router.route, request).addCallback(self._notSelf)

    def _notSelf(self, targets: list[Target]) -> list[Target]:
        """
        Leave out the targets that are this proxy: a Request-URI, a registered contact or
        a DNS answer naming us means that no one else is there (480 or 404), not a loop.
        """
        return [t for t in targets if not self.forwarder.isSelf(t.address)]

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
            self.forwarder.forward(context, _copy(request), target, loopHash)

    def _dialogsFull(self) -> bool:
        limit = self.dialogs.maxDialogs
        return limit is not None and len(self.dialogs) + self.invitesInProgress >= limit

    def _overloaded(self, server: ServerTransaction) -> None:
        self.stats.increment("overload_rejected")
        response = _rejectResponse(server.request, 503)
        response.addHeader("Retry-After", "5")
        server.respond(response)

    # -- stateless CANCEL ----------------------------------------------------------------

    def _forwardCancel(self, server: ServerTransaction) -> None:
        """
        Forward a CANCEL that matches no transaction statelessly (RFC 3261 sections 16.10
        and 16.11): checked and routed as its INVITE was, with the branch the INVITE was
        forwarded with (L{Forwarder._forwardBranch}), and no client transaction; the
        responses come back through L{strayResponse}. The server transaction ends at once,
        so that a retransmission is forwarded again.
        """
        request = server.request
        maxForwards = request.maxForwards()
        if maxForwards == 0:
            server.respondWith(483)
            return
        loopHash = self.forwarder.loopHash(request)
        if self.forwarder.looped(request, loopHash):
            server.respondWith(482)
            return
        self.forwarder.preprocessRoute(request)
        inDialog = request.toTag is not None
        if not inDialog and self.relayDenied(request, request.requestURI()):
            self.stats.increment("relay_denied")
            server.respondWith(403, "Relaying denied")
            return
        hops = self._nextHops(request, inDialog)
        if isinstance(hops, list):
            self.forwarder.sendCancel(server, hops, loopHash)
            return
        hops.addCallback(self._cancelRouted, server, loopHash)
        hops.addErrback(self._cancelRoutingFailed, server)

    def _cancelRouted(self, targets: list[Target], server: ServerTransaction,
                      loopHash: str) -> None:
        self.forwarder.sendCancel(server, targets, loopHash)

    def _cancelRoutingFailed(self, failure: Failure, server: ServerTransaction) -> None:
        self._log.failure("Routing failed for {request}", failure, request=server.request)
        if server.state != "terminated":
            server.respondWith(500)

    # -- ACK for 2xx ---------------------------------------------------------------------

    def _forwardAck(self, request: Request) -> None:
        _checkAddresses(request, decode=False)
        maxForwards = request.maxForwards()
        if maxForwards == 0:
            return
        self.forwarder.preprocessRoute(request)
        if request.toTag is not None:
            dialog = self.dialogs.lookup(request.callId, request.fromTag or "", request.toTag)
            if dialog is not None:
                self.dialogs.confirm(dialog.id)
        target: Optional[Target] = None
        if request.hasHeader("route"):
            uri = parseNameAddr(request.headerValues("route")[0]).uri
            if _isNumeric(uri.host):
                target = Target(addressForURI(uri))
        else:
            uri = request.requestURI()
            if self.relayDenied(request, uri):
                # An ACK outside any dialog and transaction, for someone else's domain.
                self.stats.increment("relay_denied")
                self.stats.increment("dropped")
                return
            target = _numericTarget(request.uri, uri)
        if not uri.isSIP or self.isLocal(uri):
            return
        if target is not None:
            self.forwarder.sendAck(request, [target], maxForwards)
            return
        d = self._resolve(uri, keepURI=True)
        d.addCallback(self._ackRouted, request, maxForwards)
        d.addErrback(self._ackRoutingFailed)

    def _ackRouted(self, targets: list[Target], request: Request,
                   maxForwards: Optional[int]) -> None:
        self.forwarder.sendAck(request, targets, maxForwards)

    def _ackRoutingFailed(self, failure: Failure) -> None:
        self._log.failure("ACK routing failed", failure)


class _Authenticating:
    """
    The context of a server transaction whose request's credentials are being checked: a
    CANCEL meanwhile answers it with 487.
    """

    __slots__ = ()


_AUTHENTICATING = _Authenticating()


# Declared here rather than with @implementer, which would make them Python classes when the
# module is compiled (mypyc); they stay native, with their attributes in C structs.
classImplements(Proxy, ITransactionUser)
