# -*- test-case-name: sst.test.test_proxy,sst.test.test_proxy_network -*-
"""
How the proxy puts a request on its way (RFC 3261 sections 16.4 to 16.6, 16.10 and 16.11):
Route pre-processing, loop detection, the branch of its Via, Via and Record-Route, the
switch to TCP for a large request, and the stateless forwarding of ACKs for 2xx, of
CANCELs that match no transaction and of responses that match no client transaction.
"""
from __future__ import annotations

import hashlib
import ipaddress
from typing import Callable, Optional

from sst.address import Address
from sst.headers import URI, SIPParseError, Via, checkDisplayName, parseNameAddr, parseVia
from sst.message import Request, Response
from sst.protocol import TransportLayer, _responseAddress
from sst.proxy.branches import Branch, ResponseContext
from sst.routing import Target
from sst.stats import Stats
from sst.transaction import MAGIC_COOKIE, ServerTransaction, TransactionLayer

__all__ = ["Forwarder", "DIALOG_CREATING", "UDP_SIZE_LIMIT"]


#: Methods that create a dialog, and so are record-routed.
DIALOG_CREATING = frozenset(["INVITE", "SUBSCRIBE", "REFER", "NOTIFY"])

#: Requests larger than this go over TCP rather than UDP (RFC 3261 section 18.1.1: "larger
#: than 1300 bytes and the path MTU is unknown").
UDP_SIZE_LIMIT = 1300


class Forwarder:
    """
    Forwards requests for the L{Proxy<sst.proxy.core.Proxy>}, which decides whether and
    where they go: edits them (Route, Max-Forwards, Via, Record-Route) and sends them,
    through a client transaction or statelessly.
    """

    def __init__(
        self,
        transport: TransportLayer,
        transactions: TransactionLayer,
        stats: Stats,
        localAddresses: set[tuple[str, int]],
        isLocal: Callable[[URI], bool],
        startTimerC: Callable[[Branch], None],
    ) -> None:
        """
        @param transport: what sends messages, and knows our address on each transport.
        @param transactions: the proxy's transaction layer.
        @param stats: the counters.
        @param localAddresses: the (host, port) pairs that are this proxy; the proxy's own
            set, which it adds to.
        @param isLocal: whether a URI names this proxy.
        @param startTimerC: arms Timer C of a branch that carries an INVITE.
        """
        self.transport = transport
        self.transactions = transactions
        self.stats = stats
        self.localAddresses = localAddresses
        self.isLocal = isLocal
        self.startTimerC = startTimerC
        #: Our Record-Route URI for each local address (and C{sips} or not), as written.
        self._recordRoutes: dict[tuple[Address, bool], str] = {}
        #: The C{host:port} written in our Record-Route instead of the address a request
        #: came in on (C{--advertise}: the shared address of a cluster), or L{None}.
        self.advertised: Optional[str] = None
        #: Whether each Route entry seen names us (see L{_isLocalRoute}).
        self._localRoutes: dict[str, bool] = {}
        #: The transport and the start of our Via text, up to the branch, for each
        #: transport and local address (see L{_pushVia}).
        self._viaStarts: dict[tuple[str, Address], tuple[str, str]] = {}

    def localAddressAdded(self) -> None:
        """
        The proxy has a new local address: forget which Route entries name us.
        """
        self._localRoutes.clear()

    def isSelf(self, address: Address) -> bool:
        """
        @return: whether C{address} is one of this proxy's.
        """
        return (address.host.lower(), address.port) in self.localAddresses

    def recordRouteURI(self, transport: str, family: str, secure: bool = False) -> str:
        """
        @param secure: whether the request's Request-URI is a C{sips} URI: over TLS, our
            Record-Route is then a C{sips} URI too (RFC 3261 section 16.6 step 4; RFC 5630
            section 3.1.3: otherwise C{sip} with C{transport=tls}).
        @return: our Record-Route URI for C{transport}.
        """
        local = self.transport.localAddress(transport, family)
        secure = secure and transport == "tls"
        uri = self._recordRoutes.get((local, secure))
        if uri is None:
            hostport = self.advertised or local.hostport()
            if secure:
                text = "<sips:%s;lr>" % (hostport,)
            else:
                suffix = ";transport=%s" % (transport,) if transport != "udp" else ""
                text = "<sip:%s%s;lr>" % (hostport, suffix)
            uri = self._recordRoutes[(local, secure)] = text
        return uri

    # -- forwarding with a client transaction --------------------------------------------

    def forward(self, context: ResponseContext, request: Request, target: Target, loopHash: str) -> None:
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
            self.startTimerC(branchState)

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
            secure = request.uri[:5].lower() == "sips:"
            request.insertBefore("Record-Route", self.recordRouteURI(inTransport, family, secure))
            added = 1
            if inTransport != address.transport:
                # RFC 5658 double Record-Route when the transport changes.
                request.insertBefore("Record-Route",
                                     self.recordRouteURI(address.transport, family, secure))
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

    # -- stateless forwarding ------------------------------------------------------------

    def sendAck(self, request: Request, targets: list[Target], maxForwards: Optional[int]) -> None:
        """
        Forward an ACK for a 2xx statelessly to the first of C{targets} (RFC 3261 16.11).
        """
        targets = [t for t in targets if not self.isSelf(t.address)]
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

    def sendCancel(self, server: ServerTransaction, targets: list[Target], loopHash: str) -> None:
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

    def strayResponse(self, response: Response) -> None:
        """
        Forward a response that matches no client transaction, when it is ours to forward.
        """
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
            source = Address(nextVia.transport.lower()
                             if nextVia.transport in ("UDP", "TCP", "TLS") else "udp",
                             nextVia.host, nextVia.port or 5060)
            target = _responseAddress(nextVia.params, nextVia.host, nextVia.port, source)
            if _isBroadcast(target.host):
                # Never relay to a broadcast or multicast Via (RFC 4475 section 3.3.10).
                self.stats.increment("dropped")
                return
            self.transport.sendMessage(response, target)
        except SIPParseError:
            self.stats.increment("dropped")

    def _pushVia(self, request: Request, address: Address, family: str, branch: str) -> None:
        """
        Add our Via, with C{branch} and an empty C{rport}, on top of a request sent to
        C{address}.
        """
        local = self.transport.localAddress(address.transport, family)
        key = (address.transport, local)
        sent = self._viaStarts.get(key)
        if sent is None:
            transport = address.transport.upper()
            sent = self._viaStarts[key] = (transport, "SIP/2.0/%s %s;branch=" % (
                transport, local.hostport()))
        request.pushVia(Via(sent[0], local.host, local.port, {"branch": branch, "rport": None}),
                        sent[1] + branch + ";rport")

    # -- Route pre-processing and loop detection -----------------------------------------

    def preprocessRoute(self, request: Request) -> None:
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

    def loopHash(self, request: Request) -> str:
        """
        @return: the loop-detection hash of C{request} (RFC 3261 section 16.6 step 8).
        """
        parts = "\0".join([
            request.uri, request.toTag or "", request.fromTag or "", request.callId,
            str(request.cseq().number), ",".join(request.lineValues("proxy-require")),
            ",".join(request.lineValues("route")),
        ])
        return hashlib.blake2b(parts.encode("latin-1"), digest_size=6).hexdigest()

    def looped(self, request: Request, loopHash: str) -> bool:
        """
        RFC 3261 section 16.3 item 4: whether one of our Vias, the top one included (a
        request we sent to ourselves comes back with ours on top), carries the loop hash
        this request gives again.
        """
        marker = MAGIC_COOKIE + loopHash
        if self._ourLoopVia(request.topVia(), marker):
            return True
        values = request.headerValues("via")
        if len(values) < 2:
            return False
        return any(self._ourLoopVia(parseVia(value), marker) for value in values[1:])

    def _ourLoopVia(self, via: Via, marker: str) -> bool:
        return ((via.host.lower(), via.port or 5060) in self.localAddresses
                and (via.branch or "").startswith(marker))


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


def _checkAddresses(request: Request, decode: bool) -> None:
    """
    Check From and To, which a proxy forwards unchanged (RFC 3261 section 16.3 step 1): a
    request that creates a dialog has them decoded; any other has their display names
    checked (L{checkDisplayName}), so that the error of RFC 4475 section 3.1.2.15 is never
    propagated.

    @param decode: decode them in full.
    @raise SIPParseError: when either does not parse.
    """
    if decode:
        request.fromAddr()
        request.toAddr()
        return
    for key in ("from", "to"):
        value = request.header(key)
        if value is not None:
            checkDisplayName(value)


def _isNumeric(host: str) -> bool:
    if ":" in host:
        return True
    parts = host.split(".")
    return len(parts) == 4 and all(map(str.isdigit, parts))


def _copy(request: Request) -> Request:
    # The header lines are copied as they are (two list copies): cheaper than a re-parse,
    # and edits of the copy (Via, Max-Forwards) leave the original alone.
    copy = Request(request.method, request.uri, None, request.body)
    copy.copyHeaders(request)
    copy.source = request.source
    copy.receivedAt = request.receivedAt
    return copy
