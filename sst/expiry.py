# -*- test-case-name: sst.test.test_expiry -*-
"""
C{--bye-on-expiry}: when a timed dialog expires, send BYE to both parties.

RFC 4028 section 8.3 says a proxy MUST NOT send that BYE; it only frees its state. Operators
who want the call torn down anyway (acting as an SBC, as Kamailio's C{send_bye} and
OpenSIPS's C{bye-on-timeout} do) turn this on. Each BYE carries
C{Reason: SIP;cause=408;text="Session timer expired"}.
"""
from __future__ import annotations

from typing import Callable, Optional

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from zope.interface import implementer

from sst.address import Address
from sst.dialogs import Dialog, DialogObserverBase
from sst.headers import URI, SIPParseError, parseNameAddr
from sst.dialogs import IDialogObserver
from sst.message import Request, Response
from sst.protocol import TransportLayer
from sst.stats import Stats
from sst.transaction import ClientTransaction, IClientTransactionUser, TransactionLayer

__all__ = ["DialogEnds", "ByeOnExpiry", "EXPIRY_REASON"]

#: The Reason header of a BYE sent because a session timer expired.
EXPIRY_REASON = 'SIP;cause=408;text="Session timer expired"'


class DialogEnds:
    """
    What it takes to send an in-dialog request to each party of a proxied dialog.
    """

    __slots__ = ("callerURI", "callerRoutes", "calleeURI", "calleeRoutes", "callerFrom",
                 "calleeTo", "callerCSeq", "calleeCSeq")

    def __init__(self, callerURI: str, callerRoutes: tuple[str, ...], calleeURI: str,
                 calleeRoutes: tuple[str, ...], callerFrom: str, calleeTo: str,
                 callerCSeq: int) -> None:
        self.callerURI = callerURI
        self.callerRoutes = callerRoutes
        self.calleeURI = calleeURI
        self.calleeRoutes = calleeRoutes
        self.callerFrom = callerFrom
        self.calleeTo = calleeTo
        self.callerCSeq = callerCSeq
        self.calleeCSeq = 0

    def toJSON(self) -> dict[str, object]:
        """
        @return: every field, in a form C{json.dumps} accepts (see L{fromJSON}).
        """
        return {name: list(value) if isinstance(value, tuple) else value
                for name in self.__slots__ for value in (getattr(self, name),)}

    @classmethod
    def fromJSON(cls, document: object) -> "DialogEnds":
        """
        Rebuild what L{toJSON} returned, after a restart (see L{sst.store}).

        @raise ValueError: if C{document} is not such a description.
        """
        if not isinstance(document, dict):
            raise ValueError("Not a DialogEnds description: %r" % (document,))

        def text(name: str) -> str:
            value = document.get(name)
            if not isinstance(value, str):
                raise ValueError("DialogEnds %s must be a string, not %r" % (name, value))
            return value

        def routes(name: str) -> tuple[str, ...]:
            value = document.get(name)
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError("DialogEnds %s must be a list of strings, not %r" % (name, value))
            return tuple(value)

        def number(name: str) -> int:
            value = document.get(name)
            if type(value) is not int:
                raise ValueError("DialogEnds %s must be an integer, not %r" % (name, value))
            return value

        ends = cls(text("callerURI"), routes("callerRoutes"), text("calleeURI"),
                   routes("calleeRoutes"), text("callerFrom"), text("calleeTo"),
                   number("callerCSeq"))
        ends.calleeCSeq = number("calleeCSeq")
        return ends

    @classmethod
    def fromExchange(cls, request: Request, response: Response,
                     isLocal: Callable[[URI], bool]) -> Optional["DialogEnds"]:
        """
        Read both ends from an initial INVITE (as forwarded) and its 2xx.

        @return: L{None} when either side has no usable Contact.
        """
        try:
            callerContacts = request.nameAddrs("contact")
            calleeContacts = response.nameAddrs("contact")
            if not callerContacts or not calleeContacts:
                return None
            recordRoutes = response.headerValues("record-route")
            ours = [i for i, rr in enumerate(recordRoutes) if isLocal(parseNameAddr(rr).uri)]
            if ours:
                # Entries before ours lead to the callee (nearest last), after ours to the caller.
                calleeRoutes = tuple(reversed(recordRoutes[: ours[0]]))
                callerRoutes = tuple(recordRoutes[ours[-1] + 1 :])
            else:
                calleeRoutes = callerRoutes = ()
            return cls(str(callerContacts[0].uri), callerRoutes, str(calleeContacts[0].uri),
                       calleeRoutes, request.header("from") or "", response.header("to") or "",
                       request.cseq().number)
        except SIPParseError:
            return None


@implementer(IClientTransactionUser)
class _Ignore:
    def responseReceived(self, transaction: ClientTransaction, response: Response) -> None:
        pass

    def transactionTimedOut(self, transaction: ClientTransaction) -> None:
        pass


@implementer(IDialogObserver)
class ByeOnExpiry(DialogObserverBase):
    """
    Keeps L{DialogEnds} for each dialog and sends the two BYEs when a timed dialog expires.

    @ivar resolve: turns a URI into addresses (the proxy's resolver).
    """

    _log = Logger()

    def __init__(self, transactions: TransactionLayer, transport: TransportLayer, stats: Stats,
                 resolve: Callable[[URI], "Deferred[list[Address]]"]) -> None:
        self.transactions = transactions
        self.transport = transport
        self.stats = stats
        self.resolve = resolve

    def established(self, dialog: Dialog, request: Request, response: Response,
                    isLocal: Callable[[URI], bool]) -> None:
        """
        A 2xx created C{dialog}: remember how to reach both ends.
        """
        ends = DialogEnds.fromExchange(request, response, isLocal)
        if ends is not None:
            if dialog.extra is None:
                dialog.extra = {}
            dialog.extra["ends"] = ends

    def requestSeen(self, dialog: Dialog, request: Request) -> None:
        """
        An in-dialog request passed: keep the highest CSeq of each side.
        """
        ends = dialog.extra.get("ends") if dialog.extra else None
        if not isinstance(ends, DialogEnds) or request.method == "ACK":
            return
        number = request.cseq().number
        if request.fromTag == dialog.id.fromTag:
            ends.callerCSeq = max(ends.callerCSeq, number)
        else:
            ends.calleeCSeq = max(ends.calleeCSeq, number)

    def dialogExpired(self, dialog: Dialog) -> None:
        ends = dialog.extra.get("ends") if dialog.extra else None
        if not dialog.timed or not isinstance(ends, DialogEnds):
            return
        callId = dialog.id.callId
        self._bye(ends.calleeURI, ends.calleeRoutes, ends.callerFrom, ends.calleeTo, callId,
                  ends.callerCSeq + 1)
        self._bye(ends.callerURI, ends.callerRoutes, ends.calleeTo, ends.callerFrom, callId,
                  ends.calleeCSeq + 1)

    def _bye(self, uri: str, routes: tuple[str, ...], fromValue: str, toValue: str, callId: str,
             cseq: int) -> None:
        if cseq >= 2**31:
            # RFC 3261 section 8.1.1.5: CSeq stays below 2**31; the party used them all.
            self._log.warn("No expiry BYE to {uri}: its CSeq space is exhausted", uri=uri)
            return
        bye = Request("BYE", uri)
        for route in routes:
            bye.addHeader("Route", route)
        bye.addHeader("Max-Forwards", "70")
        bye.addHeader("From", fromValue)
        bye.addHeader("To", toValue)
        bye.addHeader("Call-ID", callId)
        bye.addHeader("CSeq", "%d BYE" % (cseq,))
        bye.addHeader("Reason", EXPIRY_REASON)
        try:
            first = parseNameAddr(routes[0]).uri if routes else parseNameAddr("<%s>" % (uri,)).uri
        except SIPParseError as e:
            self._log.warn("Cannot send expiry BYE to {uri}: {reason}", uri=uri, reason=e.reason)
            return
        d = self.resolve(first)

        def send(addresses: list[Address]) -> None:
            if not addresses:
                self._log.warn("No address for expiry BYE to {uri}", uri=uri)
                return
            address = addresses[0]
            family = address.family
            local = self.transport.localAddress(address.transport, family)
            bye.addHeader("Via", "SIP/2.0/%s %s;branch=%s;rport" % (
                address.transport.upper(), local.hostport(), self.transactions.newBranch()),
                first=True)
            self.stats.increment("expiry_byes")
            self.transactions.request(bye, address, _Ignore())

        d.addCallback(send)
        d.addErrback(lambda f: self._log.failure("Expiry BYE to {uri} failed", f, uri=uri))
