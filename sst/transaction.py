# -*- test-case-name: sst.test.test_transaction -*-
"""
SIP transactions (RFC 3261 section 17, with the RFC 6026 "Accepted" states).

Four state machines: INVITE and non-INVITE, client and server. Timer expiries are inputs to
the machines; every timer is an C{IDelayedCall} from the injected clock, cancelled when the
transaction ends, so a finished transaction leaves nothing scheduled.
"""
from __future__ import annotations

import secrets
from typing import Callable, Optional, Union

from twisted.internet.error import ConnectionRefusedError
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import classImplements

from sst.address import Address
from sst.headers import Via
from sst.message import Request, Response
from sst.protocol import TransportLayer, responseAddress
from sst.responses import makeResponse
from sst.timers import TimerConfig, nextRetransmit
from sst.timerservice import Timer, asTimerService
from sst.transactionuser import IClientTransactionUser, ITransactionUser

__all__ = [
    "TransactionLayer",
    "ServerTransaction",
    "ClientTransaction",
    "IClientTransactionUser",
    "ITransactionUser",
]

MAGIC_COOKIE = "z9hG4bK"

# States.
TRYING = "trying"
CALLING = "calling"
PROCEEDING = "proceeding"
COMPLETED = "completed"
CONFIRMED = "confirmed"
ACCEPTED = "accepted"
TERMINATED = "terminated"


def _key(branch: Optional[str], via: Via, request: Request, method: str) -> tuple[str, ...]:
    """
    @param branch: the branch of C{via}, the request's top Via.
    @return: what identifies the server transaction of C{request} for C{method}.
    """
    if branch and branch.startswith(MAGIC_COOKIE):
        return (branch, via.sentBy(), method)
    # RFC 2543 fallback (RFC 3261 section 17.2.3 last paragraph, RFC 4475 section 3.2.1).
    return (
        "2543",
        request.uri,
        request.callId,
        request.fromTag or "",
        str(request.cseq().number),
        via.sentBy(),
        method,
    )


class _Timed:
    """
    The timers of one transaction, from the layer's timer service: at most one that
    retransmits (A, E or G) and one that ends a state (B, D, F, H, I, J, K, L or M), each
    armed on entering a state and cancelled on leaving it; a zero delay to C{_terminate}
    ends the transaction at once (timers I, J, K and D over reliable transports).
    """

    __slots__ = ("layer", "_retransmitTimer", "_stateTimer")

    layer: "TransactionLayer"
    _retransmitTimer: Optional[Timer]
    _stateTimer: Optional[Timer]

    def _terminate(self) -> None:
        raise NotImplementedError()

    def _armRetransmit(self, delay: float, fn: Callable[[], None]) -> None:
        """
        Arm the retransmission timer (A, E or G), replacing the one armed.
        """
        old = self._retransmitTimer
        if old is not None:
            old.stop()
        self._retransmitTimer = self.layer.clock.callLater(delay, fn)

    def _armState(self, delay: float, fn: Callable[[], None]) -> None:
        """
        Arm the timer that ends the state (B, D, F, H, I, J, K, L or M), replacing the one
        armed; with no delay, a timer that would terminate the transaction does it now.
        """
        if delay <= 0 and fn == self._terminate:
            self._terminate()
            return
        old = self._stateTimer
        if old is not None:
            old.stop()
        self._stateTimer = self.layer.clock.callLater(delay, fn)

    def _cancelRetransmit(self) -> None:
        call, self._retransmitTimer = self._retransmitTimer, None
        if call is not None:
            call.stop()

    def _cancelState(self) -> None:
        call, self._stateTimer = self._stateTimer, None
        if call is not None:
            call.stop()

    def _stateArmed(self) -> bool:
        """
        @return: whether the timer that ends the state is armed (and not yet fired).
        """
        call = self._stateTimer
        return call is not None and call.active()

    def _stopAll(self) -> None:
        call = self._retransmitTimer
        if call is not None:
            self._retransmitTimer = None
            call.stop()
        call = self._stateTimer
        if call is not None:
            self._stateTimer = None
            call.stop()


class ServerTransaction(_Timed):
    """
    An INVITE or non-INVITE server transaction.

    @ivar request: the request that created it.
    @ivar state: the current state name.
    @ivar lastResponse: the last response sent, retransmitted on request retransmissions
        (not kept once a 2xx was sent: the TU retransmits those).
    """

    __slots__ = ("request", "key", "isInvite", "state", "lastResponse", "finalCode", "address",
                 "reliable", "_interval", "toTag", "context")

    def __init__(self, layer: "TransactionLayer", request: Request, key: tuple[str, ...]) -> None:
        self.layer = layer
        self.request = request
        self.key = key
        self.isInvite = request.method == "INVITE"
        self.state = PROCEEDING if self.isInvite else TRYING
        self.lastResponse: Optional[bytes] = None
        self.finalCode = 0
        self.address = responseAddress(request)
        self.reliable = self.address.transport != "udp"
        self._retransmitTimer: Optional[Timer] = None
        self._stateTimer: Optional[Timer] = None
        self._interval = 0.0
        self.toTag: Optional[str] = None
        #: Whatever the transaction user keeps for this transaction (the proxy's context).
        self.context: object = None

    def respond(self, response: Response) -> Optional[bytes]:
        """
        Send a response, moving the machine on. Responses after a final non-2xx are ignored;
        2xx retransmissions from the TU are sent in the Accepted state (RFC 6026).

        @return: the bytes sent (which a UA core retransmits itself for a 2xx to an INVITE),
            or L{None} when the response was ignored.
        """
        if self.state in (COMPLETED, CONFIRMED, TERMINATED):
            return None
        if self.state == ACCEPTED and not (200 <= response.code < 300):
            return None
        data = response.toBytes()
        code = response.code
        # A 2xx to an INVITE is never resent by the transaction (RFC 6026): it is not kept.
        self.lastResponse = None if self.isInvite and 200 <= code < 300 else data
        self.layer.transport.stats.counters["responses_out"] += 1
        self.layer.transport.send(data, self.address)
        if code < 200:
            if self.state == TRYING:
                self.state = PROCEEDING
            return data
        self.finalCode = code
        # From now on the request only waits for retransmissions to absorb.
        self.request.shrink()
        timers = self.layer.timers
        if self.isInvite:
            if code < 300:
                if self.state != ACCEPTED:
                    self.state = ACCEPTED
                    self._armState(timers.L, self._terminate)
            else:
                self.state = COMPLETED
                if not self.reliable:
                    self._interval = timers.G
                    self._armRetransmit(self._interval, self._timerG)
                self._armState(timers.H, self._timerH)
        else:
            self.state = COMPLETED
            self._armState(timers.J(self.reliable), self._terminate)
        return data

    def respondWith(self, code: int, phrase: str = "", toTag: Optional[str] = None) -> Response:
        """
        Build a response from the request (Via, From, To, Call-ID, CSeq copied) and send it.
        """
        if code <= 100:
            toTag = None
        elif toTag is None:
            toTag = self.toTag or self.layer.newTag()
        response = makeResponse(self.request, code, phrase, toTag=toTag)
        if toTag is not None and self.toTag is None:
            # The tag the responses really carry: the request's own in a dialog.
            self.toTag = response.toTag
        self.respond(response)
        return response

    def requestRetransmitted(self) -> None:
        """
        The request came again: resend the last response, if any (not in Accepted).
        """
        self.layer.transport.stats.increment("retransmissions")
        if self.lastResponse is not None and self.state in (PROCEEDING, COMPLETED):
            self.layer.transport.send(self.lastResponse, self.address)

    def ackReceived(self) -> None:
        """
        The ACK for a non-2xx final response arrived.
        """
        if self.state == COMPLETED:
            self.state = CONFIRMED
            self._cancelRetransmit()
            self._cancelState()
            self._armState(self.layer.timers.I(self.reliable), self._terminate)

    def _timerG(self) -> None:
        if self.state != COMPLETED or self.lastResponse is None:
            return
        self.layer.transport.send(self.lastResponse, self.address)
        self._interval = nextRetransmit(self._interval, self.layer.timers.t2)
        self._armRetransmit(self._interval, self._timerG)

    def _timerH(self) -> None:
        self.layer.transport.stats.increment("transactions_timed_out")
        self._terminate()


    def _terminate(self) -> None:
        if self.state == TERMINATED:
            return
        self.state = TERMINATED
        self._stopAll()
        self.layer._removeServer(self)
        ended = getattr(self.context, "serverTransactionEnded", None)
        # The context (the proxy's, the UA's) refers to this transaction: let go of it.
        self.context = None
        if ended is not None:
            ended()

    def terminate(self) -> None:
        """
        End the transaction now (used at shutdown and by tests).
        """
        self._terminate()


class ClientTransaction(_Timed):
    """
    An INVITE or non-INVITE client transaction.

    @ivar request: the request sent.
    @ivar target: where it is sent.
    @ivar user: told of responses and time-outs.
    """

    __slots__ = ("request", "target", "user", "isInvite", "branch", "key", "state", "reliable",
                 "data", "_interval", "ack", "fallback")

    def __init__(
        self,
        layer: "TransactionLayer",
        request: Request,
        target: Address,
        user: IClientTransactionUser,
        fallback: Optional[tuple[Request, Address]] = None,
    ) -> None:
        """
        @param fallback: for a request sent over TCP only because of its size (RFC 3261
            section 18.1.1), the request as it would have gone over UDP (same branch) and
            where: sent instead when the TCP connection is refused.
        """
        self.fallback = fallback
        self.layer = layer
        self.request = request
        self.target = target
        self.user = user
        self.isInvite = request.method == "INVITE"
        self.branch = request.topVia().branch or ""
        self.key = (self.branch, request.method)
        self.state = CALLING if self.isInvite else TRYING
        self.reliable = target.transport != "udp"
        self.data = request.toBytes()
        self._retransmitTimer: Optional[Timer] = None
        self._stateTimer: Optional[Timer] = None
        self._interval = layer.timers.t1
        self.ack: Optional[bytes] = None

    def start(self) -> None:
        """
        Send the request and arm the retransmission and time-out timers.
        """
        self.layer.transport.stats.counters["requests_out"] += 1
        if self.fallback is None and self.target.transport != "tls":
            self.layer.transport.send(self.data, self.target)
        else:
            self.layer.transport.send(self.data, self.target, self._connectFailed)
        timers = self.layer.timers
        if not self.reliable:
            self._armRetransmit(self._interval, self._retransmit)
        self._armState(timers.B if self.isInvite else timers.F, self._timeout)

    def _connectFailed(self, reason: Failure) -> None:
        """
        The TCP or TLS connection the request waited for was not made.

        For a request sent over TCP only because of its size: when the connection was
        refused (a reset or an ICMP error in answer to the connection attempt), send the
        request over UDP instead, as RFC 3261 section 18.1.1 says ("the element SHOULD
        retry the request, using UDP"); Timer B or F keeps running.

        For a request sent over TLS: a transport error (RFC 3261 section 17.1.4), the
        transaction ends at once as if it had timed out, rather than after Timer B or F (a
        server whose certificate does not verify will not do better on a second try).
        """
        fallback, self.fallback = self.fallback, None
        if self.state not in (CALLING, TRYING):
            return
        if fallback is None:
            if self.target.transport == "tls":
                self._timeout()
            return
        if not isinstance(reason.value, ConnectionRefusedError):
            return
        self.request, self.target = fallback
        self.reliable = self.target.transport != "udp"
        self.data = self.request.toBytes()
        self._interval = self.layer.timers.t1
        self.layer._log.info("TCP refused by {target}: {method} sent over UDP",
                             target=self.target, method=self.request.method)
        self.layer.transport.send(self.data, self.target)
        if not self.reliable:
            self._armRetransmit(self._interval, self._retransmit)

    def _retransmit(self) -> None:
        if self.state not in (CALLING, TRYING, PROCEEDING) or (self.isInvite and self.state != CALLING):
            return
        self.layer.transport.stats.increment("retransmissions")
        self.layer.transport.send(self.data, self.target)
        if self.isInvite:
            self._interval = self._interval * 2
        else:
            self._interval = nextRetransmit(self._interval, self.layer.timers.t2)
        self._armRetransmit(self._interval, self._retransmit)

    def _timeout(self) -> None:
        if self.state in (CALLING, TRYING, PROCEEDING):
            self.layer.transport.stats.increment("transactions_timed_out")
            user = self.user
            self._terminate()
            user.transactionTimedOut(self)

    def responseReceived(self, response: Response) -> None:
        """
        Feed a response matched to this transaction.
        """
        code = response.code
        state = self.state
        # Someone answered: no other transport will be tried.
        self.fallback = None
        # Taken now: over a reliable transport the transaction may end (and let go of its
        # user) as it enters Completed, before the user is told.
        user = self.user
        if code < 200:
            if state in (CALLING, TRYING, PROCEEDING):
                if state == CALLING:
                    # Not in Proceeding: a Timer B armed by cancelRequest() must survive.
                    self._cancelRetransmit()
                    self._cancelState()
                elif state == TRYING:
                    # Timer E goes on at T2 in Proceeding.
                    self._interval = self.layer.timers.t2
                self.state = PROCEEDING
                user.responseReceived(self, response)
            return
        if self.isInvite:
            if code < 300:
                if state in (CALLING, PROCEEDING):
                    self._stopAll()
                    self.state = ACCEPTED
                    # Nothing is retransmitted any more: the request's bytes can go.
                    self.data = b""
                    self.request.shrink()
                    self._armState(self.layer.timers.M, self._terminate)
                    user.responseReceived(self, response)
                elif state == ACCEPTED:
                    user.responseReceived(self, response)
                return
            if state in (CALLING, PROCEEDING):
                self._stopAll()
                self.state = COMPLETED
                self.data = b""
                self.ack = self._buildAck(response).toBytes()
                self.request.shrink()
                self.layer.transport.send(self.ack, self.target)
                self._armState(self.layer.timers.D(self.reliable), self._terminate)
                user.responseReceived(self, response)
            elif state == COMPLETED and self.ack is not None:
                self.layer.transport.send(self.ack, self.target)
            return
        if state in (TRYING, PROCEEDING):
            self._stopAll()
            self.state = COMPLETED
            self.data = b""
            self.request.shrink()
            self._armState(self.layer.timers.K(self.reliable), self._terminate)
            user.responseReceived(self, response)

    def _buildAck(self, response: Response) -> Request:
        """
        The ACK for a non-2xx final response (RFC 3261 section 17.1.1.3).
        """
        return self._sameHop("ACK", response.header("to") or "")

    def cancelRequest(self) -> Request:
        """
        The CANCEL for this INVITE (RFC 3261 section 9.1): same Request-URI, Call-ID, From, To,
        CSeq number, top Via and Route.

        The caller is expected to send it. An INVITE still without a final response is then
        given up after 64*T1 as if Timer B fired (RFC 3261 section 9.1: "If no final response
        has been received after 64*T1 seconds, the client SHOULD consider the transaction
        cancelled and destroy the client transaction handling the INVITE"), so that a
        downstream that never answers leaves nothing behind.
        """
        if self.isInvite and self.state in (CALLING, PROCEEDING) and not self._stateArmed():
            self._armState(self.layer.timers.B, self._timeout)
        return self._sameHop("CANCEL", self.request.header("to") or "")

    def _sameHop(self, method: str, toValue: str) -> Request:
        """
        A hop-by-hop request for this INVITE (ACK for a non-2xx, CANCEL): its Request-URI,
        top Via (same branch), Route, From, Call-ID and CSeq number, with C{toValue} as To.
        """
        req = self.request
        message = Request(method, req.uri)
        message.addHeader("Via", req.headerValues("via")[0])
        for route in req.headerValues("route"):
            message.addHeader("Route", route)
        message.addHeader("Max-Forwards", "70")
        message.addHeader("From", req.header("from") or "")
        message.addHeader("To", toValue)
        message.addHeader("Call-ID", req.callId)
        message.addHeader("CSeq", "%d %s" % (req.cseq().number, method))
        return message

    def _terminate(self) -> None:
        if self.state == TERMINATED:
            return
        self.state = TERMINATED
        self._stopAll()
        self.fallback = None
        self.layer._removeClient(self)
        # The user (a proxy branch, a UA request) refers to this transaction: let go of it,
        # so that what a call leaves is freed by reference counting, not by the collector.
        self.user = _ENDED

    def terminate(self) -> None:
        """
        End the transaction now, silently.
        """
        self._terminate()


class _EndedUser:
    """
    The user of a client transaction that has ended: nothing reaches it any more.
    """

    def responseReceived(self, transaction: ClientTransaction, response: Response) -> None:
        pass

    def transactionTimedOut(self, transaction: ClientTransaction) -> None:
        pass


_ENDED = _EndedUser()


class TransactionLayer:
    """
    Matches messages to transactions and creates server transactions for new requests.

    @ivar maxTransactions: above this many live transactions, new requests are refused by
        the TU (see L{full}).
    """

    _log = Logger()

    def __init__(
        self,
        transport: TransportLayer,
        clock: IReactorTime,
        timers: TimerConfig,
        user: Optional[ITransactionUser] = None,
        maxTransactions: int = 100000,
    ) -> None:
        self.transport = transport
        self.clock = asTimerService(clock)
        self.timers = timers
        self.user = user
        self.maxTransactions = maxTransactions
        self.servers: dict[tuple[str, ...], ServerTransaction] = {}
        self.clients: dict[tuple[str, str], ClientTransaction] = {}
        self._counter = 0
        # Random, so that a restarted process does not repeat the branches of the previous
        # one (RFC 3261 section 8.1.1.7: unique across space and time).
        self._prefix = secrets.token_hex(6)
        transport.receiver = self.messageReceived

    @property
    def full(self) -> bool:
        """
        Whether the live transaction count has reached the limit.
        """
        return len(self.servers) + len(self.clients) >= self.maxTransactions

    def newBranch(self, seed: str = "") -> str:
        """
        @return: a new unique branch with the RFC 3261 magic cookie; C{seed} (a loop-detection
            hash) is put first so loops can be recognised.
        """
        self._counter += 1
        return "%s%s.%s%x" % (MAGIC_COOKIE, seed, self._prefix, self._counter)

    def newTag(self) -> str:
        """
        @return: a new unique tag for a To or From header: 32 random bits, then a counter
            (RFC 3261 section 19.3).
        """
        self._counter += 1
        return "%s%x" % (secrets.token_hex(4), self._counter)

    def messageReceived(self, message: Union[Request, Response], source: Address) -> None:
        """
        Entry point from the transport layer.

        @param source: where C{message} came from; it is recorded on the message when the
            transport has not already done so, since responses are sent back there.
        """
        if message.source is None:
            message.source = source
        if isinstance(message, Response):
            self._responseReceived(message)
        else:
            self._requestReceived(message)

    def _requestReceived(self, request: Request) -> None:
        method = request.method
        via = request.topVia()
        branch = via.branch
        if method == "ACK":
            invite = self.servers.get(_key(branch, via, request, "INVITE"))
            if invite is not None and invite.state in (COMPLETED, CONFIRMED):
                invite.ackReceived()
                return
            if invite is not None and invite.state == PROCEEDING:
                return
            if self.user is not None:
                self.user.ackReceived(request)
            return
        key = _key(branch, via, request, method)
        existing = self.servers.get(key)
        if existing is not None:
            existing.requestRetransmitted()
            return
        if self.user is None:
            # Nobody could ever answer: a transaction made now would never end.
            self.transport.stats.increment("dropped")
            return
        transaction = ServerTransaction(self, request, key)
        self.servers[key] = transaction
        if method == "CANCEL":
            invite = self.servers.get(_key(branch, via, request, "INVITE"))
            self.user.cancelReceived(transaction, invite)
        else:
            self.user.requestReceived(transaction)

    def _responseReceived(self, response: Response) -> None:
        via = response.topVia()
        client = self.clients.get((via.branch or "", response.cseq().method))
        if client is not None:
            client.responseReceived(response)
        elif self.user is not None:
            self.user.strayResponse(response)

    def request(self, request: Request, target: Address, user: IClientTransactionUser,
                fallback: Optional[tuple[Request, Address]] = None) -> ClientTransaction:
        """
        Start a client transaction sending C{request} (whose top Via carries a fresh branch)
        to C{target}.

        @param fallback: see L{ClientTransaction.__init__}.
        """
        transaction = ClientTransaction(self, request, target, user, fallback)
        self.clients[transaction.key] = transaction
        transaction.start()
        return transaction

    def _removeServer(self, transaction: ServerTransaction) -> None:
        if self.servers.get(transaction.key) is transaction:
            del self.servers[transaction.key]

    def _removeClient(self, transaction: ClientTransaction) -> None:
        if self.clients.get(transaction.key) is transaction:
            del self.clients[transaction.key]

    def stop(self) -> None:
        """
        Terminate every transaction (service shutdown).
        """
        for server in list(self.servers.values()):
            server.terminate()
        for client in list(self.clients.values()):
            client.terminate()


# Declared here rather than with @implementer, which would make them Python classes when the
# module is compiled (mypyc); they stay native, with their attributes in C structs.
classImplements(_EndedUser, IClientTransactionUser)
