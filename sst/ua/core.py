# -*- test-case-name: sst.test.test_ua,sst.test.test_stack -*-
"""
The UA core (RFC 3261 sections 8 and 12): the transaction user that holds the dialogs,
dispatches what arrives to them (or to its L{IUAUser} outside any dialog), resolves next hops
and sends requests on the transaction layer.

@see: U{https://www.rfc-editor.org/rfc/rfc3261#section-8}
"""
from __future__ import annotations

import random
from typing import Any, Callable, Optional

from twisted.internet.abstract import isIPAddress, isIPv6Address
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import Interface, implementer

from sst.address import Address, addressForURI
from sst.headers import URI, SIPParseError, parseNameAddr
from sst.message import Request, Response
from sst.protocol import TransportLayer
from sst.responses import makeResponse
from sst.routing import DNSRouter
from sst.timers import TimerConfig
from sst.ownership import SINGLE, Ownership
from sst.transaction import (
    ClientTransaction,
    IClientTransactionUser,
    ITransactionUser,
    ServerTransaction,
    TransactionLayer,
)
from sst.ua.dialog import ALLOW, SUPPORTED, UADialog
from sst.ua.invite import IInviteUser, IncomingInvite, OutgoingInvite, Uniform

__all__ = ["Resolver", "numericResolver", "resolverFor", "IUAUser", "UserAgent"]

#: Turns the URI a request is sent to into addresses.
Resolver = Callable[[URI], "Deferred[list[Address]]"]


def numericResolver(uri: URI) -> Deferred[list[Address]]:
    """
    Resolve without DNS: the URI's host (or C{maddr}), port and transport.

    @param uri: where a request goes.
    @return: a fired L{Deferred} with one address.
    """
    return succeed([addressForURI(uri)])


def resolverFor(dns: DNSRouter) -> Resolver:
    """
    A UA-core resolver: numeric hosts directly, names with the DNS router.
    """

    def resolve(uri: URI) -> Deferred[list[Address]]:
        if not uri.isSIP or isIPAddress(uri.host) or isIPv6Address(uri.host):
            return numericResolver(uri)
        return dns.resolve(uri).addCallback(lambda targets: [t.address for t in targets])

    return resolve


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
                 uniform: Uniform = random.uniform, maxTransactions: int = 100000,
                 ownership: Ownership = SINGLE) -> None:
        """
        @param transport: what sends and receives messages; the UA's own transaction layer
            (L{transactions}, with the UA as its user) is built on it.
        @param clock: the time source of every timer.
        @param user: see L{user}.
        @param timers: the RFC 3261 timers of the transactions.
        @param resolve: see L{resolve}.
        @param uniform: see L{uniform}.
        @param maxTransactions: live transactions above which new INVITEs get 503.
        @param ownership: with C{--workers}, this worker's place: the Call-IDs it makes hash
            to it.
        """
        self.ownership = ownership
        self.transactions = TransactionLayer(transport, clock, timers, self,
                                             maxTransactions=maxTransactions)
        self.clock = self.transactions.clock
        self.user = user
        self.resolve = resolve
        self.uniform = uniform
        self.dialogs: dict[tuple[str, str, str], UADialog] = {}
        self.localAddresses: set[tuple[str, int]] = set()
        #: The C{host:port} of our Contact instead of the address we listen on
        #: (C{--advertise}), or L{None}.
        self.advertised: Optional[str] = None
        #: Looks for the dialog of an in-dialog request this UA core does not hold (in a
        #: cluster, another node's call, taken over when that node is dead), given its
        #: Call-ID, From tag and To tag: L{None} when there is nowhere to look, else a
        #: L{Deferred} that fires once the dialog is held here, if it could be.
        self.findElsewhere: Optional[Callable[[str, str, str], Optional[Deferred[Any]]]] = None

    # -- who we are ----------------------------------------------------------------------

    def addLocalAddress(self, host: str, port: int) -> None:
        """
        Declare an address we listen on: Routes naming it are removed from what arrives.
        """
        self.localAddresses.add((host.lower(), port))

    def advertise(self, host: str, port: int) -> None:
        """
        Put C{host:port} in our Contact instead of the address we listen on, and take
        Routes naming it for ours (C{--advertise}: a cluster's shared address).
        """
        self.addLocalAddress(host, port)
        self.advertised = Address("udp", host, port).hostport()

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
        hostport = self.advertised or self.transactions.transport.localAddress(transport).hostport()
        suffix = ";transport=%s" % (transport,) if transport != "udp" else ""
        return "<sip:%s%s>" % (hostport, suffix)

    def newCallId(self) -> str:
        """
        @return: a new, globally unique Call-ID, which this worker owns.
        """
        local = self.transactions.transport.localAddress("udp")
        return self.ownership.newCallId(local.host)

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

    def adoptDialog(self, dialog: UADialog) -> None:
        """
        Hold a dialog made outside an INVITE of this UA core (one restored from a store after
        a restart): what arrives in it is dispatched to it from now on.

        @param dialog: a dialog of this UA core, with its user set.
        @raise ValueError: when the UA core holds a dialog with the same key already.
        """
        if dialog.key in self.dialogs:
            raise ValueError("dialog %r exists already" % (dialog.key,))
        self._addDialog(dialog)

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
                finding = None if self.findElsewhere is None else self.findElsewhere(
                    request.callId, request.fromTag or "", toTag)
                if finding is None:
                    server.respondWith(481)
                    return
                finding.addCallback(lambda _: self._foundElsewhere(server, request, toTag))
                finding.addErrback(self._findFailed, server)
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

    def _foundElsewhere(self, server: ServerTransaction, request: Request, toTag: str) -> None:
        """
        Dispatch an in-dialog request once L{findElsewhere} had its say: to the dialog it
        brought, or 481.
        """
        if server.finalCode != 0 or server.state == "terminated":
            return
        dialog = self.dialogs.get((request.callId, toTag, request.fromTag or ""))
        if dialog is None:
            server.respondWith(481)
            return
        dialog._requestReceived(server)

    def _findFailed(self, failure: Failure, server: ServerTransaction) -> None:
        self.transactions.transport.stats.increment("internal_errors")
        self._log.failure("Handling {request} after looking for its dialog failed", failure,
                          request=server.request)
        if server.finalCode == 0 and server.state != "terminated":
            server.respondWith(500)

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
