# -*- test-case-name: sst.test.test_transaction -*-
"""
Tests for L{sst.transaction}: the four RFC 3261 section 17 state machines (with the RFC 6026
Accepted states), request and response matching, and the layer's bookkeeping.

Every timer runs on a L{Clock}; each scenario ends by checking that the layer holds no
transaction and the clock no delayed call.
"""

from __future__ import annotations

import gc
from typing import Optional

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from sst.address import Address
from sst.message import Request, Response, parse
from sst.protocol import ConnectFailed, TransportLayer
from sst.responses import makeResponse
from sst.stats import Stats
from sst.timers import TimerConfig
from sst.transaction import (
    MAGIC_COOKIE,
    ClientTransaction,
    IClientTransactionUser,
    ITransactionUser,
    ServerTransaction,
    TransactionLayer,
)
from sst.test._support import assertProvides

#: Where the upstream client of the server-side tests sends from.
PEER = Address("udp", "192.0.2.1", 5060)
#: The same peer over TCP (an ephemeral source port, as a connection has).
PEER_TCP = Address("tcp", "192.0.2.1", 49152)
#: Where the client-side tests send their requests.
TARGET = Address("udp", "198.51.100.9", 5060)
TARGET_TCP = Address("tcp", "198.51.100.9", 5060)
#: The top Via (without branch) of requests from L{PEER_TCP}.
TCP_VIA = "SIP/2.0/TCP 192.0.2.1:5060"

#: RFC 3261 Table 4 with T1 = 500 ms: 64*T1.
SIXTY_FOUR_T1 = 32.0


class RecordingTransport(TransportLayer):
    """
    A transport layer that records what it is asked to send, with the clock time, and sends
    nothing.

    @ivar sent: C{(data, address, time)} for each send, in order.
    """

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock, Stats())
        self.sent: list[tuple[bytes, Address, float]] = []
        #: The callbacks given with what was sent over TCP (L{TransportLayer.send}).
        self.connectFailed: list[ConnectFailed] = []

    def send(self, data: bytes, address: Address,
             connectFailed: Optional[ConnectFailed] = None) -> None:
        self.sent.append((data, address, self.clock.seconds()))
        if connectFailed is not None:
            self.connectFailed.append(connectFailed)

    def messages(self) -> list[Request | Response]:
        """
        @return: every message sent, parsed.
        """
        return [parse(data) for data, _, _ in self.sent]

    def times(self) -> list[float]:
        """
        @return: the clock time of every send.
        """
        return [when for _, _, when in self.sent]


@implementer(ITransactionUser)
class RecordingUser:
    """
    A transaction user that records every call.
    """

    def __init__(self) -> None:
        self.requests: list[ServerTransaction] = []
        self.acks: list[Request] = []
        self.cancels: list[tuple[ServerTransaction, Optional[ServerTransaction]]] = []
        self.strays: list[Response] = []

    def requestReceived(self, transaction: ServerTransaction) -> None:
        self.requests.append(transaction)

    def ackReceived(self, request: Request) -> None:
        self.acks.append(request)

    def cancelReceived(
        self, cancel: ServerTransaction, invite: Optional[ServerTransaction]
    ) -> None:
        self.cancels.append((cancel, invite))

    def strayResponse(self, response: Response) -> None:
        self.strays.append(response)


@implementer(IClientTransactionUser)
class RecordingClientUser:
    """
    A client transaction user that records every call.
    """

    def __init__(self) -> None:
        self.responses: list[tuple[ClientTransaction, Response]] = []
        self.timeouts: list[ClientTransaction] = []

    def responseReceived(self, transaction: ClientTransaction, response: Response) -> None:
        self.responses.append((transaction, response))

    def transactionTimedOut(self, transaction: ClientTransaction) -> None:
        self.timeouts.append(transaction)

    def codes(self) -> list[int]:
        """
        @return: the status codes passed up, in order.
        """
        return [response.code for _, response in self.responses]


def requestBytes(
    method: str,
    branch: Optional[str] = "z9hG4bKclient1",
    cseq: int = 1,
    cseqMethod: Optional[str] = None,
    via: str = "SIP/2.0/UDP 192.0.2.1:5060",
    uri: str = "sip:bob@example.com",
    toTag: Optional[str] = None,
    callId: str = "call-1@192.0.2.1",
    routes: tuple[str, ...] = (),
) -> bytes:
    """
    @return: a request as it comes off the wire.
    """
    branchParam = ";branch=%s" % (branch,) if branch is not None else ""
    toParam = ";tag=%s" % (toTag,) if toTag is not None else ""
    lines = [
        "%s %s SIP/2.0" % (method, uri),
        "Via: %s%s" % (via, branchParam),
        "Via: SIP/2.0/UDP 203.0.113.5;branch=z9hG4bKorigin",
        "Max-Forwards: 70",
        "From: Alice <sip:alice@example.com>;tag=from1",
        "To: Bob <sip:bob@example.com>%s" % (toParam,),
        "Call-ID: %s" % (callId,),
        "CSeq: %d %s" % (cseq, cseqMethod or method),
    ]
    lines.extend("Route: %s" % (route,) for route in routes)
    lines.extend(["Contact: <sip:alice@192.0.2.1>", "Content-Length: 0", "", ""])
    return "\r\n".join(lines).encode("latin-1")


def parseRequest(data: bytes) -> Request:
    """
    @return: C{data} parsed, which must be a request.
    """
    message = parse(data)
    assert isinstance(message, Request)
    return message


def parseResponse(data: bytes) -> Response:
    """
    @return: C{data} parsed, which must be a response.
    """
    message = parse(data)
    assert isinstance(message, Response)
    return message


def runUntil(clock: Clock, end: float) -> None:
    """
    Advance C{clock} to time C{end}, stopping at every scheduled call on the way so that each
    runs (and reschedules) at its own time.
    """
    while True:
        due = [call.getTime() for call in clock.getDelayedCalls()]
        if not due or min(due) > end:
            break
        clock.advance(max(0.0, min(due) - clock.seconds()))
    if end > clock.seconds():
        clock.advance(end - clock.seconds())


class TransactionTestCase(SynchronousTestCase):
    """
    A layer over a recording transport, with a clock and a recording user.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.transport = RecordingTransport(self.clock)
        self.timers = TimerConfig()
        self.user = RecordingUser()
        self.layer = TransactionLayer(self.transport, self.clock, self.timers, self.user)

    def assertIdle(self) -> None:
        """
        Assert that no transaction is left and nothing is scheduled.
        """
        self.assertEqual(self.layer.servers, {})
        self.assertEqual(self.layer.clients, {})
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def receive(self, data: bytes, source: Address = PEER) -> None:
        """
        Deliver C{data} through the transport, as if it arrived from C{source}.
        """
        self.transport.dataReceived(data, source)

    def sentCodes(self) -> list[int]:
        """
        @return: the status codes of the responses sent, in order.
        """
        return [m.code for m in self.transport.messages() if isinstance(m, Response)]


class TestDoubleTests(TransactionTestCase):
    """
    The test doubles implement the interfaces they claim.
    """

    def test_recordingUser(self) -> None:
        """
        L{RecordingUser} provides L{ITransactionUser}.
        """
        assertProvides(self, ITransactionUser, RecordingUser())

    def test_recordingClientUser(self) -> None:
        """
        L{RecordingClientUser} provides L{IClientTransactionUser}.
        """
        assertProvides(self, IClientTransactionUser, RecordingClientUser())

    def test_endedUser(self) -> None:
        """
        A client transaction that has ended hands its user over to a placeholder that
        provides L{IClientTransactionUser} too.
        """
        request = parseRequest(requestBytes("OPTIONS", branch="z9hG4bKout"))
        client = self.layer.request(request, TARGET, RecordingClientUser())
        client.terminate()
        self.assertNotIsInstance(client.user, RecordingClientUser)
        assertProvides(self, IClientTransactionUser, client.user)


class ServerInviteTests(TransactionTestCase):
    """
    The INVITE server transaction (RFC 3261 section 17.2.1, RFC 6026 section 7.1).
    """

    def invite(
        self, data: bytes = requestBytes("INVITE"), source: Address = PEER
    ) -> ServerTransaction:
        """
        Receive an INVITE and return the server transaction passed up for it.
        """
        before = len(self.user.requests)
        self.receive(data, source)
        self.assertEqual(len(self.user.requests), before + 1)
        return self.user.requests[-1]

    def ack(self, toTag: str, source: Address = PEER, branch: str = "z9hG4bKclient1") -> None:
        """
        Receive an ACK for the INVITE (the same branch acknowledges a non-2xx).
        """
        self.receive(requestBytes("ACK", branch=branch, toTag=toTag), source)

    def test_newInvitePassedUp(self) -> None:
        """
        A new INVITE makes a server transaction in Proceeding, handed to
        C{requestReceived} and kept in C{layer.servers}.
        """
        server = self.invite()
        self.assertEqual(server.request.method, "INVITE")
        self.assertEqual(server.state, "proceeding")
        self.assertEqual(list(self.layer.servers.values()), [server])
        self.assertEqual(self.transport.sent, [])
        server.terminate()
        self.assertIdle()

    def test_retransmissionResendsProvisional(self) -> None:
        """
        A retransmitted INVITE is not passed up; the last provisional response is sent again.
        """
        server = self.invite()
        server.respondWith(100)
        server.respondWith(180)
        self.receive(requestBytes("INVITE"))
        self.assertEqual(len(self.user.requests), 1)
        self.assertEqual(self.sentCodes(), [100, 180, 180])
        self.assertEqual(self.transport.sent[1][0], self.transport.sent[2][0])
        self.assertEqual(self.transport.stats.get("retransmissions"), 1)
        server.terminate()
        self.assertIdle()

    def test_retransmissionBeforeAnyResponse(self) -> None:
        """
        A retransmitted INVITE that arrives before any response is absorbed silently.
        """
        server = self.invite()
        self.receive(requestBytes("INVITE"))
        self.assertEqual(len(self.user.requests), 1)
        self.assertEqual(self.transport.sent, [])
        server.terminate()
        self.assertIdle()

    def test_provisionalKeepsProceeding(self) -> None:
        """
        Provisional responses are sent and leave the transaction in Proceeding with nothing
        scheduled.
        """
        server = self.invite()
        server.respondWith(180)
        self.assertEqual(server.state, "proceeding")
        self.assertEqual(self.clock.getDelayedCalls(), [])
        server.terminate()
        self.assertIdle()

    def test_timerGRetransmitsFinal(self) -> None:
        """
        Over UDP a 3xx-6xx final is retransmitted by Timer G at T1, 2*T1, 4*T1 and then every
        T2 (0.5, 1, 2, 4, 4, ... seconds apart) until Timer H.
        """
        server = self.invite()
        server.respondWith(486)
        self.assertEqual(server.state, "completed")
        runUntil(self.clock, 31.9)
        self.assertEqual(
            self.transport.times(),
            [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5],
        )
        self.assertEqual(set(self.sentCodes()), {486})
        self.assertEqual(len({data for data, _, _ in self.transport.sent}), 1)
        server.terminate()
        self.assertIdle()

    def test_timerGWithOtherT1(self) -> None:
        """
        Timer G follows the configured T1 and T2.
        """
        self.layer.timers = TimerConfig(t1=0.1, t2=0.3)
        server = self.invite()
        server.respondWith(500)
        runUntil(self.clock, 1.0)
        self.assertEqual(
            [round(t, 6) for t in self.transport.times()], [0.0, 0.1, 0.3, 0.6, 0.9]
        )
        server.terminate()
        self.assertIdle()

    def test_timerHEndsWithoutAck(self) -> None:
        """
        Without an ACK, Timer H (64*T1) ends the transaction: it leaves the layer, stops
        retransmitting and is counted as timed out.
        """
        server = self.invite()
        server.respondWith(404)
        runUntil(self.clock, SIXTY_FOUR_T1 - 0.1)
        self.assertIn(server, self.layer.servers.values())
        sends = len(self.transport.sent)
        runUntil(self.clock, SIXTY_FOUR_T1 + 0.1)
        self.assertEqual(server.state, "terminated")
        self.assertEqual(self.transport.stats.get("transactions_timed_out"), 1)
        self.assertIdle()
        runUntil(self.clock, 100)
        self.assertEqual(len(self.transport.sent), sends)

    def test_retransmissionInCompletedResendsFinal(self) -> None:
        """
        A retransmitted INVITE in Completed gets the final response again.
        """
        server = self.invite()
        server.respondWith(180)
        final = server.respondWith(603)
        self.receive(requestBytes("INVITE"))
        self.assertEqual(self.transport.sent[-1][0], final.toBytes())
        self.assertEqual(len(self.user.requests), 1)
        server.terminate()
        self.assertIdle()

    def test_ackConfirms(self) -> None:
        """
        The ACK for a non-2xx final moves the transaction to Confirmed: no more
        retransmissions, the ACK is not passed up, and Timer I (T4) then ends it.
        """
        server = self.invite()
        final = server.respondWith(486)
        runUntil(self.clock, 1.0)
        self.ack(final.toTag or "")
        self.assertEqual(server.state, "confirmed")
        self.assertEqual(self.user.acks, [])
        sends = len(self.transport.sent)
        self.clock.advance(4.9)
        self.assertIn(server, self.layer.servers.values())
        self.assertEqual(len(self.transport.sent), sends)
        self.clock.advance(0.2)
        self.assertEqual(server.state, "terminated")
        self.assertIdle()
        self.assertEqual(self.transport.stats.get("transactions_timed_out"), 0)

    def test_ackRetransmissionAbsorbedInConfirmed(self) -> None:
        """
        ACK retransmissions in Confirmed are absorbed: not passed up, nothing sent, and
        Timer I not restarted.
        """
        server = self.invite()
        final = server.respondWith(486)
        self.ack(final.toTag or "")
        self.clock.advance(3)
        self.ack(final.toTag or "")
        self.receive(requestBytes("INVITE"))
        self.assertEqual(self.user.acks, [])
        self.assertEqual(len(self.transport.sent), 1)
        self.clock.advance(2.1)
        self.assertIdle()

    def test_tcpNoTimerG(self) -> None:
        """
        Over TCP a 3xx-6xx is sent once; Timer H still runs.
        """
        server = self.invite(requestBytes("INVITE", via=TCP_VIA), PEER_TCP)
        self.assertTrue(server.reliable)
        server.respondWith(486)
        self.clock.advance(SIXTY_FOUR_T1 - 0.1)
        self.assertEqual(len(self.transport.sent), 1)
        self.assertIn(server, self.layer.servers.values())
        self.clock.advance(0.2)
        self.assertEqual(server.state, "terminated")
        self.assertIdle()

    def test_tcpAckEndsAtOnce(self) -> None:
        """
        Over TCP Timer I is zero: the ACK ends the transaction at once.
        """
        server = self.invite(requestBytes("INVITE", via=TCP_VIA), PEER_TCP)
        final = server.respondWith(486)
        self.ack(final.toTag or "", source=PEER_TCP)
        self.assertEqual(server.state, "terminated")
        self.assertIdle()

    def test_2xxAccepted(self) -> None:
        """
        A 2xx moves the transaction to Accepted (RFC 6026), where Timer L (64*T1) ends it;
        the 2xx is not retransmitted by the transaction.
        """
        server = self.invite()
        server.respondWith(180)
        server.respondWith(200)
        self.assertEqual(server.state, "accepted")
        self.clock.advance(SIXTY_FOUR_T1 - 0.1)
        self.assertIn(server, self.layer.servers.values())
        self.assertEqual(self.sentCodes(), [180, 200])
        self.clock.advance(0.2)
        self.assertEqual(server.state, "terminated")
        self.assertIdle()

    def test_2xxAcceptedOverTcp(self) -> None:
        """
        Timer L runs over TCP too (RFC 6026 section 8.7).
        """
        server = self.invite(requestBytes("INVITE", via=TCP_VIA), PEER_TCP)
        server.respondWith(200)
        self.assertEqual(server.state, "accepted")
        self.clock.advance(SIXTY_FOUR_T1 + 0.1)
        self.assertIdle()

    def test_retransmissionAbsorbedInAccepted(self) -> None:
        """
        INVITE retransmissions in Accepted are absorbed: not passed up and not answered.
        """
        server = self.invite()
        server.respondWith(200)
        self.receive(requestBytes("INVITE"))
        self.assertEqual(len(self.user.requests), 1)
        self.assertEqual(self.sentCodes(), [200])
        self.clock.advance(SIXTY_FOUR_T1)
        self.assertIdle()

    def test_further2xxSentInAccepted(self) -> None:
        """
        Further 2xx responses from the TU are sent in Accepted (RFC 6026 section 8.5), without
        restarting Timer L; other responses are dropped.
        """
        server = self.invite()
        ok = server.respondWith(200)
        self.clock.advance(10)
        server.respond(ok)
        server.respondWith(180)
        server.respondWith(486)
        self.assertEqual(self.sentCodes(), [200, 200])
        self.clock.advance(SIXTY_FOUR_T1 - 10)
        self.assertIdle()

    def test_ackFor2xxGoesToUser(self) -> None:
        """
        The ACK for a 2xx carries a new branch; it matches no transaction and goes to
        C{ackReceived}, leaving the Accepted transaction alone.
        """
        server = self.invite()
        ok = server.respondWith(200)
        self.ack(ok.toTag or "", branch="z9hG4bKack2xx")
        self.assertEqual([a.method for a in self.user.acks], ["ACK"])
        self.assertEqual(self.user.acks[0].topVia().branch, "z9hG4bKack2xx")
        self.assertEqual(server.state, "accepted")
        self.assertEqual(self.layer.servers, {server.key: server})
        self.clock.advance(SIXTY_FOUR_T1)
        self.assertIdle()

    def test_ackSameBranchInAcceptedGoesToUser(self) -> None:
        """
        An ACK matching an Accepted INVITE transaction is passed to the TU (RFC 6026
        section 8.7), not absorbed.
        """
        server = self.invite()
        ok = server.respondWith(200)
        self.ack(ok.toTag or "")
        self.assertEqual(len(self.user.acks), 1)
        self.assertEqual(server.state, "accepted")
        self.clock.advance(SIXTY_FOUR_T1)
        self.assertIdle()

    def test_ackInProceedingDropped(self) -> None:
        """
        An ACK matching an INVITE that has no final response yet is dropped: not passed up,
        and the transaction is unchanged.
        """
        server = self.invite()
        server.respondWith(180)
        self.ack("x")
        self.assertEqual(self.user.acks, [])
        self.assertEqual(server.state, "proceeding")
        server.terminate()
        self.assertIdle()

    def test_strayAckGoesToUser(self) -> None:
        """
        An ACK matching nothing at all goes to C{ackReceived} and creates no transaction.
        """
        self.ack("x", branch="z9hG4bKnothing")
        self.assertEqual(len(self.user.acks), 1)
        self.assertIdle()

    def test_cancelMatchesInvite(self) -> None:
        """
        A CANCEL makes its own server transaction and is handed to C{cancelReceived} with the
        INVITE transaction it matches.
        """
        server = self.invite()
        server.respondWith(180)
        self.receive(requestBytes("CANCEL"))
        self.assertEqual(len(self.user.cancels), 1)
        cancel, invite = self.user.cancels[0]
        self.assertIs(invite, server)
        self.assertEqual(cancel.request.method, "CANCEL")
        self.assertEqual(cancel.state, "trying")
        self.assertEqual(len(self.user.requests), 1)
        self.assertEqual(len(self.layer.servers), 2)
        cancel.respondWith(200)
        server.respondWith(487)
        server.terminate()
        cancel.terminate()
        self.assertIdle()

    def test_cancelWithoutMatch(self) -> None:
        """
        A CANCEL that matches no INVITE transaction is handed up with L{None}.
        """
        self.receive(requestBytes("CANCEL", branch="z9hG4bKunknown"))
        self.assertEqual(len(self.user.cancels), 1)
        cancel, invite = self.user.cancels[0]
        self.assertIsNone(invite)
        cancel.respondWith(481)
        self.clock.advance(SIXTY_FOUR_T1)
        self.assertIdle()

    def test_cancelFromOtherSentByDoesNotMatch(self) -> None:
        """
        A CANCEL with the INVITE's branch but another sent-by matches nothing.
        """
        server = self.invite()
        self.receive(requestBytes("CANCEL", via="SIP/2.0/UDP 192.0.2.99:5060"),
                     Address("udp", "192.0.2.99", 5060))
        self.assertIsNone(self.user.cancels[0][1])
        server.terminate()
        self.user.cancels[0][0].terminate()
        self.assertIdle()

    def test_cancelRetransmission(self) -> None:
        """
        A retransmitted CANCEL is not passed up again; it gets the CANCEL's response again.
        """
        server = self.invite()
        self.receive(requestBytes("CANCEL"))
        cancel = self.user.cancels[0][0]
        cancel.respondWith(200)
        self.receive(requestBytes("CANCEL"))
        self.assertEqual(len(self.user.cancels), 1)
        self.assertEqual(self.sentCodes(), [200, 200])
        server.terminate()
        self.clock.advance(SIXTY_FOUR_T1)
        self.assertIdle()

    def test_responsesAfterFinalIgnored(self) -> None:
        """
        Once a non-2xx final is sent, further responses from the TU are dropped.
        """
        server = self.invite()
        server.respondWith(486)
        server.respondWith(200)
        server.respondWith(180)
        self.assertEqual(self.sentCodes(), [486])
        server.terminate()
        self.assertIdle()

    def test_toTagKept(self) -> None:
        """
        Every response built with C{respondWith} carries the same To tag, the one kept in
        C{toTag}.
        """
        server = self.invite()
        ringing = server.respondWith(180)
        busy = server.respondWith(486)
        self.assertIsNotNone(ringing.toTag)
        self.assertEqual(busy.toTag, ringing.toTag)
        self.assertEqual(server.toTag, ringing.toTag)
        trying = self.transport.messages()
        self.assertEqual([m.toTag for m in trying], [ringing.toTag, ringing.toTag])
        server.terminate()
        self.assertIdle()

    def test_givenToTagKept(self) -> None:
        """
        A To tag given to C{respondWith} is used by later responses too.
        """
        server = self.invite()
        server.respondWith(180, toTag="mine")
        busy = server.respondWith(486)
        self.assertEqual(busy.toTag, "mine")
        self.assertEqual(server.toTag, "mine")
        server.terminate()
        self.assertIdle()

    def test_inDialogToTag(self) -> None:
        """
        For a request that already has a To tag, responses keep it and C{toTag} is that tag.
        """
        server = self.invite(
            requestBytes("INVITE", branch="z9hG4bKreinvite", cseq=2, toTag="dialog1")
        )
        ok = server.respondWith(200)
        self.assertEqual(ok.toTag, "dialog1")
        self.assertEqual(server.toTag, "dialog1")
        self.clock.advance(SIXTY_FOUR_T1)
        self.assertIdle()

    def test_trying100HasNoTag(self) -> None:
        """
        A 100 Trying gets no To tag.
        """
        server = self.invite()
        trying = server.respondWith(100)
        self.assertIsNone(trying.toTag)
        server.terminate()
        self.assertIdle()

    def test_responseCopiesRequestHeaders(self) -> None:
        """
        C{respondWith} copies every Via, From, To, Call-ID and CSeq, and counts the response.
        """
        server = self.invite()
        server.respondWith(486)
        [response] = self.transport.messages()
        assert isinstance(response, Response)
        self.assertEqual([v.branch for v in response.vias()], ["z9hG4bKclient1", "z9hG4bKorigin"])
        self.assertEqual(response.callId, "call-1@192.0.2.1")
        self.assertEqual(str(response.cseq()), "1 INVITE")
        self.assertEqual(response.fromTag, "from1")
        self.assertEqual(self.transport.stats.get("responses_out"), 1)
        server.terminate()
        self.assertIdle()

    def test_contextAttribute(self) -> None:
        """
        A server transaction has a C{context} for the TU, L{None} at first.
        """
        server = self.invite()
        self.assertIsNone(server.context)
        server.context = "proxy state"
        self.assertEqual(server.context, "proxy state")
        server.terminate()
        self.assertIdle()

    def test_differentCSeqIsNewTransaction(self) -> None:
        """
        An INVITE with a new branch (a re-INVITE) is a new transaction.
        """
        first = self.invite()
        second = self.invite(requestBytes("INVITE", branch="z9hG4bKclient2", cseq=2, toTag="tt"))
        self.assertIsNot(first, second)
        self.assertEqual(len(self.layer.servers), 2)
        first.terminate()
        second.terminate()
        self.assertIdle()


class ServerNonInviteTests(TransactionTestCase):
    """
    The non-INVITE server transaction (RFC 3261 section 17.2.2).
    """

    def options(
        self, data: bytes = requestBytes("OPTIONS"), source: Address = PEER
    ) -> ServerTransaction:
        """
        Receive an OPTIONS and return its server transaction.
        """
        self.receive(data, source)
        return self.user.requests[-1]

    def test_newRequestTrying(self) -> None:
        """
        A new non-INVITE request makes a transaction in Trying, passed up; retransmissions in
        Trying are absorbed.
        """
        server = self.options()
        self.assertEqual(server.state, "trying")
        self.receive(requestBytes("OPTIONS"))
        self.assertEqual(len(self.user.requests), 1)
        self.assertEqual(self.transport.sent, [])
        server.terminate()
        self.assertIdle()

    def test_provisionalProceeding(self) -> None:
        """
        A provisional moves Trying to Proceeding; a retransmission then gets it again.
        """
        server = self.options()
        server.respondWith(100)
        self.assertEqual(server.state, "proceeding")
        self.receive(requestBytes("OPTIONS"))
        self.assertEqual(self.sentCodes(), [100, 100])
        server.terminate()
        self.assertIdle()

    def test_finalCompletedThenTimerJ(self) -> None:
        """
        A final response moves to Completed, where retransmissions get the final again and
        are not passed up; Timer J (64*T1 over UDP) then ends the transaction.
        """
        server = self.options()
        server.respondWith(200)
        self.assertEqual(server.state, "completed")
        self.clock.advance(10)
        self.receive(requestBytes("OPTIONS"))
        self.assertEqual(self.sentCodes(), [200, 200])
        self.assertEqual(len(self.user.requests), 1)
        self.clock.advance(SIXTY_FOUR_T1 - 10 - 0.1)
        self.assertIn(server, self.layer.servers.values())
        self.clock.advance(0.2)
        self.assertEqual(server.state, "terminated")
        self.assertIdle()

    def test_finalNotRetransmittedByTimer(self) -> None:
        """
        A non-INVITE server transaction never retransmits on its own.
        """
        server = self.options()
        server.respondWith(404)
        runUntil(self.clock, SIXTY_FOUR_T1 + 1)
        self.assertEqual(self.sentCodes(), [404])
        self.assertEqual(server.state, "terminated")
        self.assertIdle()

    def test_responsesAfterFinalIgnored(self) -> None:
        """
        Responses after the final one are dropped.
        """
        server = self.options()
        server.respondWith(200)
        server.respondWith(500)
        self.assertEqual(self.sentCodes(), [200])
        self.clock.advance(SIXTY_FOUR_T1)
        self.assertIdle()

    def test_tcpTimerJZero(self) -> None:
        """
        Over TCP Timer J is zero: the final response ends the transaction at once.
        """
        server = self.options(requestBytes("OPTIONS", via=TCP_VIA), PEER_TCP)
        server.respondWith(200)
        self.assertEqual(server.state, "terminated")
        self.assertEqual(self.transport.sent[0][1], PEER_TCP)
        self.assertIdle()

    def test_requestAfterTimerJIsNew(self) -> None:
        """
        Once Timer J has fired, the same request is a new transaction.
        """
        server = self.options()
        server.respondWith(200)
        self.clock.advance(SIXTY_FOUR_T1)
        self.assertIdle()
        again = self.options()
        self.assertIsNot(again, server)
        again.terminate()
        self.assertIdle()


class ResponseAddressTests(TransactionTestCase):
    """
    Server transactions send responses where RFC 3261 section 18.2.2 and RFC 3581 say.
    """

    def respondTo(self, via: str, source: Address) -> Address:
        """
        Receive an OPTIONS with top Via C{via} from C{source}, answer it, and return where
        the answer went.
        """
        self.receive(requestBytes("OPTIONS", via=via), source)
        server = self.user.requests[-1]
        server.respondWith(200)
        server.terminate()
        self.assertIdle()
        return self.transport.sent[-1][1]

    def test_rport(self) -> None:
        """
        Over UDP with C{rport}, the response goes to the source address and port.
        """
        self.assertEqual(
            self.respondTo(
                "SIP/2.0/UDP 10.0.0.1:5060;rport", Address("udp", "198.51.100.7", 40000)
            ),
            Address("udp", "198.51.100.7", 40000),
        )

    def test_received(self) -> None:
        """
        Over UDP without C{rport}, the response goes to the C{received} address and the Via
        port.
        """
        self.assertEqual(
            self.respondTo("SIP/2.0/UDP 10.0.0.1:5070", Address("udp", "198.51.100.7", 40000)),
            Address("udp", "198.51.100.7", 5070),
        )

    def test_sentBy(self) -> None:
        """
        Over UDP from the Via's own host, the response goes to the sent-by, port 5060 by
        default.
        """
        self.assertEqual(
            self.respondTo("SIP/2.0/UDP 192.0.2.1", Address("udp", "192.0.2.1", 5080)),
            Address("udp", "192.0.2.1", 5060),
        )

    def test_tcp(self) -> None:
        """
        Over TCP the response goes back to the source address (the connection).
        """
        self.assertEqual(
            self.respondTo("SIP/2.0/TCP 10.0.0.1:5060;rport", PEER_TCP), PEER_TCP
        )

    def test_retransmissionsToSameAddress(self) -> None:
        """
        Timer G retransmissions go where the first response went.
        """
        source = Address("udp", "198.51.100.7", 40000)
        self.receive(requestBytes("INVITE", via="SIP/2.0/UDP 10.0.0.1:5060;rport"), source)
        server = self.user.requests[-1]
        server.respondWith(486)
        runUntil(self.clock, 2)
        self.assertEqual({address for _, address, _ in self.transport.sent}, {source})
        server.terminate()
        self.assertIdle()

    def test_messageReceivedWithoutTransport(self) -> None:
        """
        A request handed straight to C{messageReceived} is answered at the address given
        with it.
        """
        self.layer.messageReceived(parseRequest(requestBytes("OPTIONS")), PEER_TCP)
        server = self.user.requests[-1]
        server.respondWith(200)
        self.assertEqual(self.transport.sent[-1][1], PEER_TCP)
        self.assertIdle()


class ClientInviteTests(TransactionTestCase):
    """
    The INVITE client transaction (RFC 3261 section 17.1.1, RFC 6026 section 7.2).
    """

    def setUp(self) -> None:
        super().setUp()
        self.client = RecordingClientUser()

    def send(
        self, target: Address = TARGET, routes: tuple[str, ...] = ()
    ) -> ClientTransaction:
        """
        Start an INVITE client transaction towards C{target}.
        """
        via = "SIP/2.0/%s 203.0.113.1:5060" % (target.transport.upper(),)
        request = parseRequest(
            requestBytes("INVITE", branch="z9hG4bKproxy1", via=via + ";rport", routes=routes)
        )
        return self.layer.request(request, target, self.client)

    def answer(
        self, transaction: ClientTransaction, code: int, toTag: Optional[str] = "callee1",
        source: Address = TARGET,
    ) -> Response:
        """
        Receive a response to C{transaction}'s request from C{source}.
        """
        response = makeResponse(transaction.request, code, toTag=toTag if code > 100 else None)
        self.receive(response.toBytes(), source)
        return response

    def test_sentToTarget(self) -> None:
        """
        The request is sent at once to the target, byte for byte, and counted.
        """
        transaction = self.send()
        self.assertEqual(self.transport.sent, [(transaction.request.toBytes(), TARGET, 0.0)])
        self.assertEqual(transaction.state, "calling")
        self.assertEqual(self.layer.clients, {transaction.key: transaction})
        self.assertEqual(self.transport.stats.get("requests_out"), 1)
        transaction.terminate()
        self.assertIdle()

    def test_timerA(self) -> None:
        """
        Timer A retransmits the INVITE after 0.5, 1, 2, 4, 8 and 16 seconds (doubling).
        """
        transaction = self.send()
        runUntil(self.clock, SIXTY_FOUR_T1 - 0.1)
        self.assertEqual(self.transport.times(), [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5])
        self.assertEqual(len({data for data, _, _ in self.transport.sent}), 1)
        self.assertEqual(self.transport.stats.get("retransmissions"), 6)
        self.assertEqual(self.client.timeouts, [])
        transaction.terminate()
        self.assertIdle()

    def test_timerB(self) -> None:
        """
        Without a response, Timer B (64*T1) tells the user and removes the transaction.
        """
        transaction = self.send()
        runUntil(self.clock, SIXTY_FOUR_T1 - 0.1)
        self.assertIn(transaction, self.layer.clients.values())
        runUntil(self.clock, SIXTY_FOUR_T1 + 0.1)
        self.assertEqual(self.client.timeouts, [transaction])
        self.assertEqual(transaction.state, "terminated")
        self.assertEqual(self.transport.stats.get("transactions_timed_out"), 1)
        self.assertIdle()

    def test_tcpNoTimerA(self) -> None:
        """
        Over TCP the INVITE is not retransmitted, but Timer B still runs.
        """
        transaction = self.send(TARGET_TCP)
        self.clock.advance(SIXTY_FOUR_T1 - 0.1)
        self.assertEqual(len(self.transport.sent), 1)
        self.clock.advance(0.2)
        self.assertEqual(self.client.timeouts, [transaction])
        self.assertIdle()

    def test_provisionalStopsTimers(self) -> None:
        """
        A 1xx moves to Proceeding, is passed up, and stops Timers A and B.
        """
        transaction = self.send()
        self.clock.advance(0.2)
        self.answer(transaction, 100)
        self.answer(transaction, 180)
        self.assertEqual(transaction.state, "proceeding")
        self.assertEqual(self.client.codes(), [100, 180])
        self.assertEqual(self.clock.getDelayedCalls(), [])
        runUntil(self.clock, 100)
        self.assertEqual(len(self.transport.sent), 1)
        self.assertEqual(self.client.timeouts, [])
        transaction.terminate()
        self.assertIdle()

    def test_2xxAccepted(self) -> None:
        """
        A 2xx moves to Accepted and is passed up; 2xx retransmissions are passed up too;
        Timer M (64*T1) then removes the transaction.
        """
        transaction = self.send()
        self.answer(transaction, 180)
        self.answer(transaction, 200)
        self.assertEqual(transaction.state, "accepted")
        self.clock.advance(5)
        self.answer(transaction, 200)
        self.assertEqual(self.client.codes(), [180, 200, 200])
        self.assertEqual(len(self.transport.sent), 1, "no ACK for a 2xx")
        self.clock.advance(SIXTY_FOUR_T1 - 5 - 0.1)
        self.assertIn(transaction, self.layer.clients.values())
        self.clock.advance(0.2)
        self.assertEqual(transaction.state, "terminated")
        self.assertIdle()

    def test_2xxInCallingStopsTimerA(self) -> None:
        """
        A 2xx in Calling stops the retransmissions.
        """
        transaction = self.send()
        self.answer(transaction, 200)
        runUntil(self.clock, SIXTY_FOUR_T1 + 1)
        self.assertEqual(len(self.transport.sent), 1)
        self.assertEqual(self.client.timeouts, [])
        self.assertIdle()

    def test_2xxFromOtherForks(self) -> None:
        """
        2xx responses with other To tags (forking) are passed up in Accepted too.
        """
        transaction = self.send()
        self.answer(transaction, 200, toTag="fork1")
        self.answer(transaction, 200, toTag="fork2")
        self.assertEqual([r.toTag for _, r in self.client.responses], ["fork1", "fork2"])
        self.clock.advance(SIXTY_FOUR_T1)
        self.assertIdle()

    def test_provisionalAfterFinalIgnored(self) -> None:
        """
        Provisionals after a final response are not passed up.
        """
        transaction = self.send()
        self.answer(transaction, 200)
        self.answer(transaction, 180)
        self.assertEqual(self.client.codes(), [200])
        self.clock.advance(SIXTY_FOUR_T1)
        self.assertIdle()

    def test_non2xxGeneratesAck(self) -> None:
        """
        A 3xx-6xx is acknowledged by the transaction (RFC 3261 section 17.1.1.3): same branch
        and top Via, Request-URI, From, Call-ID and Route; To from the response, with its tag;
        CSeq number with method ACK.
        """
        transaction = self.send(routes=("<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"))
        response = self.answer(transaction, 486, toTag="busy1")
        self.assertEqual(transaction.state, "completed")
        self.assertEqual(len(self.transport.sent), 2)
        data, address, _ = self.transport.sent[1]
        self.assertEqual(address, TARGET)
        ack = parseRequest(data)
        invite = transaction.request
        self.assertEqual(ack.method, "ACK")
        self.assertEqual(ack.uri, invite.uri)
        self.assertEqual(ack.headerValues("via"), invite.headerValues("via")[:1])
        self.assertEqual(ack.topVia().branch, "z9hG4bKproxy1")
        self.assertEqual(ack.header("from"), invite.header("from"))
        self.assertEqual(ack.header("to"), response.header("to"))
        self.assertEqual(ack.toTag, "busy1")
        self.assertEqual(ack.callId, invite.callId)
        self.assertEqual(str(ack.cseq()), "1 ACK")
        self.assertEqual(
            ack.headerValues("route"), ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
        )
        self.assertEqual(ack.maxForwards(), 70)
        self.assertEqual(self.client.codes(), [486])
        transaction.terminate()
        self.assertIdle()

    def test_retransmittedFinalResendsAck(self) -> None:
        """
        A retransmitted 3xx-6xx gets the ACK again and is not passed up again.
        """
        transaction = self.send()
        self.answer(transaction, 180)
        self.answer(transaction, 603)
        self.answer(transaction, 603)
        self.assertEqual(self.client.codes(), [180, 603])
        self.assertEqual(len(self.transport.sent), 3)
        self.assertEqual(self.transport.sent[1][0], self.transport.sent[2][0])
        transaction.terminate()
        self.assertIdle()

    def test_timerD(self) -> None:
        """
        Over UDP Timer D (32 s) ends the Completed transaction; nothing is retransmitted
        meanwhile.
        """
        transaction = self.send()
        self.answer(transaction, 404)
        runUntil(self.clock, 31.9)
        self.assertEqual(len(self.transport.sent), 2)
        self.assertIn(transaction, self.layer.clients.values())
        self.clock.advance(0.2)
        self.assertEqual(transaction.state, "terminated")
        self.assertEqual(self.client.timeouts, [])
        self.assertIdle()

    def test_timerDWithOtherT1(self) -> None:
        """
        Timer D stays at 32 s whatever T1 is (RFC 3261 Table 4: "> 32s for UDP").
        """
        self.layer.timers = TimerConfig(t1=0.1, t2=0.4)
        transaction = self.send()
        self.answer(transaction, 404)
        self.clock.advance(31.9)
        self.assertIn(transaction, self.layer.clients.values())
        self.clock.advance(0.2)
        self.assertIdle()

    def test_tcpTimerDZero(self) -> None:
        """
        Over TCP Timer D is zero: the final is acknowledged and passed up, and the
        transaction ends at once.
        """
        transaction = self.send(TARGET_TCP)
        self.answer(transaction, 486, source=TARGET_TCP)
        self.assertEqual(self.transport.sent[1][1], TARGET_TCP)
        self.assertEqual(parseRequest(self.transport.sent[1][0]).method, "ACK")
        self.assertEqual(self.client.codes(), [486])
        self.assertEqual(transaction.state, "terminated")
        self.assertIdle()

    def test_cancelRequest(self) -> None:
        """
        C{cancelRequest} builds the CANCEL of RFC 3261 section 9.1: the INVITE's top Via
        (same branch), Request-URI, Call-ID, From, To, CSeq number and Route.
        """
        transaction = self.send(routes=("<sip:p1.example.com;lr>",))
        cancel = transaction.cancelRequest()
        invite = transaction.request
        self.assertEqual(cancel.method, "CANCEL")
        self.assertEqual(cancel.uri, invite.uri)
        self.assertEqual(cancel.headerValues("via"), invite.headerValues("via")[:1])
        self.assertEqual(cancel.topVia().branch, "z9hG4bKproxy1")
        self.assertEqual(cancel.callId, invite.callId)
        self.assertEqual(cancel.header("from"), invite.header("from"))
        self.assertEqual(cancel.header("to"), invite.header("to"))
        self.assertEqual(str(cancel.cseq()), "1 CANCEL")
        self.assertEqual(cancel.headerValues("route"), ["<sip:p1.example.com;lr>"])
        reparsed = parseRequest(cancel.toBytes())
        self.assertEqual(reparsed.method, "CANCEL")
        transaction.terminate()
        self.assertIdle()

    def test_cancelAndInviteMatchedApart(self) -> None:
        """
        The CANCEL shares the INVITE's branch; responses are matched by branch and CSeq
        method, so each transaction gets its own.
        """
        transaction = self.send()
        self.answer(transaction, 180)
        cancelUser = RecordingClientUser()
        cancel = self.layer.request(transaction.cancelRequest(), TARGET, cancelUser)
        self.assertEqual(len(self.layer.clients), 2)
        self.receive(makeResponse(cancel.request, 200, toTag="callee1").toBytes(), TARGET)
        self.answer(transaction, 487)
        self.assertEqual(cancelUser.codes(), [200])
        self.assertEqual(self.client.codes(), [180, 487])
        self.clock.advance(SIXTY_FOUR_T1)
        self.assertIdle()

    def test_cancelledInviteWithoutFinalTimesOut(self) -> None:
        """
        Once cancelled in Proceeding, an INVITE that never gets a final response is given up
        after 64*T1 (RFC 3261 section 9.1), and the user told, so that nothing leaks.
        """
        transaction = self.send()
        self.answer(transaction, 180)
        self.clock.advance(100)
        cancel = self.layer.request(transaction.cancelRequest(), TARGET, RecordingClientUser())
        self.receive(makeResponse(cancel.request, 200).toBytes(), TARGET)
        self.clock.advance(SIXTY_FOUR_T1 - 0.1)
        self.assertEqual(self.client.timeouts, [])
        self.assertIn(transaction, self.layer.clients.values())
        self.clock.advance(0.2)
        self.assertEqual(self.client.timeouts, [transaction])
        self.assertIdle()

    def test_provisionalAfterCancelKeepsTimer(self) -> None:
        """
        A provisional that arrives after C{cancelRequest} does not stop the 64*T1 give-up
        timer, and a second C{cancelRequest} does not restart it.
        """
        transaction = self.send()
        self.answer(transaction, 180)
        transaction.cancelRequest()
        self.clock.advance(10)
        transaction.cancelRequest()
        self.answer(transaction, 183)
        self.clock.advance(SIXTY_FOUR_T1 - 10 - 0.1)
        self.assertEqual(self.client.timeouts, [])
        self.clock.advance(0.2)
        self.assertEqual(self.client.timeouts, [transaction])
        self.assertEqual(self.client.codes(), [180, 183])
        self.assertIdle()

    def test_cancelAfterFinalArmsNothing(self) -> None:
        """
        C{cancelRequest} on an INVITE that already has a final response schedules nothing
        new.
        """
        transaction = self.send(TARGET_TCP)
        self.answer(transaction, 200, source=TARGET_TCP)
        transaction.cancelRequest()
        self.clock.advance(SIXTY_FOUR_T1)
        self.assertEqual(self.client.timeouts, [])
        self.assertIdle()

    def test_cancelledInviteFinalStillAcknowledged(self) -> None:
        """
        After C{cancelRequest}, a 487 is handled as usual.
        """
        transaction = self.send()
        self.answer(transaction, 180)
        transaction.cancelRequest()
        self.answer(transaction, 487)
        self.assertEqual(self.client.codes(), [180, 487])
        self.assertEqual(self.client.timeouts, [])
        self.clock.advance(SIXTY_FOUR_T1)
        self.assertEqual(self.client.timeouts, [])
        self.assertIdle()

    def test_strayResponse(self) -> None:
        """
        A response matching no client transaction goes to C{strayResponse}.
        """
        transaction = self.send()
        response = makeResponse(transaction.request, 200, toTag="x")
        response.setHeader("Via", "SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bKother")
        self.receive(response.toBytes(), TARGET)
        self.assertEqual(self.client.responses, [])
        self.assertEqual([r.code for r in self.user.strays], [200])
        transaction.terminate()
        self.assertIdle()

    def test_responseAfterTimerMIsStray(self) -> None:
        """
        A 2xx retransmission after Timer M goes to C{strayResponse}.
        """
        transaction = self.send()
        self.answer(transaction, 200)
        self.clock.advance(SIXTY_FOUR_T1)
        self.answer(transaction, 200)
        self.assertEqual(self.client.codes(), [200])
        self.assertEqual([r.code for r in self.user.strays], [200])
        self.assertIdle()


class ClientNonInviteTests(TransactionTestCase):
    """
    The non-INVITE client transaction (RFC 3261 section 17.1.2).
    """

    def setUp(self) -> None:
        super().setUp()
        self.client = RecordingClientUser()

    def send(self, target: Address = TARGET) -> ClientTransaction:
        """
        Start an OPTIONS client transaction towards C{target}.
        """
        request = parseRequest(requestBytes("OPTIONS", branch="z9hG4bKproxy2"))
        return self.layer.request(request, target, self.client)

    def answer(self, transaction: ClientTransaction, code: int, source: Address = TARGET) -> None:
        """
        Receive a response to C{transaction}'s request.
        """
        response = makeResponse(transaction.request, code, toTag="t1" if code > 100 else None)
        self.receive(response.toBytes(), source)

    def test_timerE(self) -> None:
        """
        Timer E retransmits after 0.5, 1, 2, 4, 4, 4, ... seconds (doubling, capped at T2).
        """
        transaction = self.send()
        self.assertEqual(transaction.state, "trying")
        runUntil(self.clock, SIXTY_FOUR_T1 - 0.1)
        self.assertEqual(
            self.transport.times(),
            [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5],
        )
        transaction.terminate()
        self.assertIdle()

    def test_timerEAfterProvisional(self) -> None:
        """
        After a 1xx, Timer E goes on firing every T2.
        """
        transaction = self.send()
        self.clock.advance(0.2)
        self.answer(transaction, 100)
        self.assertEqual(transaction.state, "proceeding")
        self.assertEqual(self.client.codes(), [100])
        runUntil(self.clock, 13)
        self.assertEqual(self.transport.times(), [0.0, 0.5, 4.5, 8.5, 12.5])
        transaction.terminate()
        self.assertIdle()

    def test_timerF(self) -> None:
        """
        Timer F (64*T1) ends the transaction and tells the user, in Trying or Proceeding.
        """
        transaction = self.send()
        self.answer(transaction, 100)
        runUntil(self.clock, SIXTY_FOUR_T1 - 0.1)
        self.assertEqual(self.client.timeouts, [])
        runUntil(self.clock, SIXTY_FOUR_T1 + 0.1)
        self.assertEqual(self.client.timeouts, [transaction])
        self.assertEqual(transaction.state, "terminated")
        self.assertIdle()

    def test_finalCompletedThenTimerK(self) -> None:
        """
        A final response is passed up once, stops the retransmissions, and Timer K (T4) then
        ends the transaction; retransmitted finals are absorbed.
        """
        transaction = self.send()
        self.clock.advance(0.7)
        self.answer(transaction, 200)
        self.assertEqual(transaction.state, "completed")
        self.answer(transaction, 200)
        self.assertEqual(self.client.codes(), [200])
        sends = len(self.transport.sent)
        self.clock.advance(4.9)
        self.assertEqual(len(self.transport.sent), sends)
        self.assertIn(transaction, self.layer.clients.values())
        self.clock.advance(0.2)
        self.assertEqual(transaction.state, "terminated")
        self.assertEqual(self.client.timeouts, [])
        self.assertIdle()

    def test_tcp(self) -> None:
        """
        Over TCP there is no Timer E, and Timer K is zero.
        """
        transaction = self.send(TARGET_TCP)
        self.clock.advance(10)
        self.assertEqual(len(self.transport.sent), 1)
        self.answer(transaction, 200, TARGET_TCP)
        self.assertEqual(self.client.codes(), [200])
        self.assertIdle()

    def test_tcpTimerF(self) -> None:
        """
        Over TCP Timer F still runs.
        """
        transaction = self.send(TARGET_TCP)
        self.clock.advance(SIXTY_FOUR_T1)
        self.assertEqual(self.client.timeouts, [transaction])
        self.assertIdle()


class RFC2543Tests(TransactionTestCase):
    """
    Requests without the magic cookie are matched the RFC 2543 way (RFC 3261 section 17.2.3,
    last paragraphs).
    """

    def test_inviteRetransmission(self) -> None:
        """
        An INVITE without a branch that comes again is a retransmission.
        """
        self.receive(requestBytes("INVITE", branch=None))
        server = self.user.requests[0]
        server.respondWith(180)
        self.receive(requestBytes("INVITE", branch=None))
        self.assertEqual(len(self.user.requests), 1)
        self.assertEqual(self.sentCodes(), [180, 180])
        server.terminate()
        self.assertIdle()

    def test_oldStyleBranch(self) -> None:
        """
        A branch without the magic cookie does not count: retransmissions match by the
        request's fields.
        """
        self.receive(requestBytes("OPTIONS", branch="oldstyle1"))
        self.receive(requestBytes("OPTIONS", branch="oldstyle1"))
        self.assertEqual(len(self.user.requests), 1)
        self.user.requests[0].terminate()
        self.assertIdle()

    def test_ackForNon2xx(self) -> None:
        """
        The ACK for a non-2xx, without a branch, matches the INVITE transaction and confirms
        it.
        """
        self.receive(requestBytes("INVITE", branch=None))
        server = self.user.requests[0]
        final = server.respondWith(486)
        self.receive(requestBytes("ACK", branch=None, toTag=final.toTag))
        self.assertEqual(server.state, "confirmed")
        self.assertEqual(self.user.acks, [])
        self.clock.advance(5)
        self.assertIdle()

    def test_cancel(self) -> None:
        """
        A CANCEL without a branch matches its INVITE.
        """
        self.receive(requestBytes("INVITE", branch=None))
        server = self.user.requests[0]
        self.receive(requestBytes("CANCEL", branch=None))
        self.assertIs(self.user.cancels[0][1], server)
        server.terminate()
        self.user.cancels[0][0].terminate()
        self.assertIdle()

    def test_otherCSeqIsNew(self) -> None:
        """
        A request differing in CSeq or Call-ID is a new transaction.
        """
        self.receive(requestBytes("OPTIONS", branch=None))
        self.receive(requestBytes("OPTIONS", branch=None, cseq=2))
        self.receive(requestBytes("OPTIONS", branch=None, callId="other"))
        self.assertEqual(len(self.user.requests), 3)
        for server in self.user.requests:
            server.terminate()
        self.assertIdle()

    def test_ackFor2xxGoesToUser(self) -> None:
        """
        An ACK without a branch for a 2xx goes to the user.
        """
        self.receive(requestBytes("INVITE", branch=None))
        server = self.user.requests[0]
        ok = server.respondWith(200)
        self.receive(requestBytes("ACK", branch=None, toTag=ok.toTag))
        self.assertEqual(len(self.user.acks), 1)
        self.clock.advance(SIXTY_FOUR_T1)
        self.assertIdle()


class LayerTests(TransactionTestCase):
    """
    The layer's bookkeeping: limits, identifiers and shutdown.
    """

    def test_receiverInstalled(self) -> None:
        """
        The layer installs itself as the transport's receiver.
        """
        self.assertEqual(self.transport.receiver, self.layer.messageReceived)

    def test_full(self) -> None:
        """
        C{full} is true once live server and client transactions reach C{maxTransactions},
        and false again when they end.
        """
        layer = TransactionLayer(
            self.transport, self.clock, self.timers, self.user, maxTransactions=2
        )
        self.assertFalse(layer.full)
        self.receive(requestBytes("OPTIONS"))
        self.assertFalse(layer.full)
        request = parseRequest(requestBytes("OPTIONS", branch="z9hG4bKout"))
        client = layer.request(request, TARGET, RecordingClientUser())
        self.assertTrue(layer.full)
        client.terminate()
        self.assertFalse(layer.full)
        self.user.requests[0].terminate()
        self.assertEqual(layer.servers, {})
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_newBranch(self) -> None:
        """
        Branches start with the magic cookie, then the seed, and are all different.
        """
        branches = [self.layer.newBranch("abc") for _ in range(100)]
        self.assertTrue(all(b.startswith(MAGIC_COOKIE + "abc") for b in branches))
        self.assertEqual(len(set(branches)), 100)
        self.assertTrue(self.layer.newBranch().startswith(MAGIC_COOKIE))

    def test_newTag(self) -> None:
        """
        Tags are all different and carry at least 32 bits of randomness (8 hex digits).
        """
        tags = [self.layer.newTag() for _ in range(100)]
        self.assertEqual(len(set(tags)), 100)
        self.assertTrue(all(len(t) >= 8 for t in tags))

    def test_identifiersUniqueAcrossLayers(self) -> None:
        """
        A layer made after another has gone (a restart) does not repeat its branches or
        tags.
        """
        seen: set[str] = set()
        for _ in range(20):
            layer = TransactionLayer(self.transport, self.clock, self.timers)
            values = {layer.newBranch(), layer.newTag()}
            self.assertEqual(values & seen, set())
            seen |= values
            del layer
            gc.collect()

    def test_stop(self) -> None:
        """
        C{stop} ends every transaction and cancels every timer.
        """
        self.receive(requestBytes("INVITE"))
        self.user.requests[0].respondWith(486)
        self.receive(requestBytes("OPTIONS", branch="z9hG4bKo"))
        self.layer.request(
            parseRequest(requestBytes("INVITE", branch="z9hG4bKout")), TARGET, RecordingClientUser()
        )
        self.assertEqual(len(self.layer.servers), 2)
        self.assertEqual(len(self.layer.clients), 1)
        self.layer.stop()
        self.assertIdle()

    def test_noUser(self) -> None:
        """
        Without a user, requests are dropped and no transaction is kept for them.
        """
        layer = TransactionLayer(self.transport, self.clock, self.timers)
        self.receive(requestBytes("INVITE"))
        self.receive(requestBytes("CANCEL"))
        self.assertEqual(layer.servers, {})
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(self.transport.sent, [])
        self.assertEqual(self.transport.stats.get("dropped"), 2)
