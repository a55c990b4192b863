"""
Tests for L{sst.handoff}: two workers in one process, each a whole stack on one clock, linked
by real socket pairs; what one receives for the other is handed over and handled there only.
"""
from __future__ import annotations

import socket
from typing import Optional

from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactor
from twisted.trial.unittest import TestCase

from sst.address import Address
from sst.dialogs import DialogState
from sst.handoff import WorkerLink, decodeMessage, encodeMessage, inboxPair
from sst.message import Response
from sst.protocol import TransportLayer
from sst.ownership import Ownership, ownerOf
from sst.stats import Stats
from sst.testing import CALLEE, CALLER, PROXY, ProxyHarness, SortedClock


def ownedCallId(worker: int, workers: int = 2, prefix: str = "call") -> str:
    """
    @return: a Call-ID that C{worker} owns.
    """
    n = 0
    while True:
        callId = "%s-%d@test" % (prefix, n)
        if ownerOf(callId.encode("latin-1"), workers) == worker:
            return callId
        n += 1


class EnvelopeTests(TestCase):
    """
    L{encodeMessage} and L{decodeMessage}.
    """

    def test_roundTrip(self) -> None:
        envelope = encodeMessage(b"T", 3, Address("tcp", "::1", 5070), b"INVITE ...")
        self.assertEqual(decodeMessage(envelope), (b"T", 3, ("::1", 5070), b"INVITE ..."))

    def test_short(self) -> None:
        envelope = encodeMessage(b"U", 0, Address("udp", "127.0.0.1", 5060), b"")
        self.assertRaises(ValueError, decodeMessage, envelope[:3])
        self.assertRaises(ValueError, decodeMessage, envelope[:8])

    def test_inboxKeepsBurst(self) -> None:
        """
        An inbox holds far more than C{net.unix.max_dgram_qlen} (often 10) envelopes that
        wait for a busy worker: the limit does not apply between the ends of a pair.
        """
        reader, writer = inboxPair()
        self.addCleanup(reader.close)
        self.addCleanup(writer.close)
        writer.setblocking(False)
        for n in range(500):
            writer.send(b"x" * 900)
        reader.setblocking(False)
        self.assertEqual(len(reader.recv(2000)), 900)


class Workers:
    """
    Two proxy stacks on one clock, linked as workers 0 and 1.
    """

    def __init__(self, test: TestCase, args: Optional[list[str]] = None) -> None:
        self.clock = SortedClock()
        self.inboxes = [inboxPair(), inboxPair()]
        for reader, writer in self.inboxes:
            test.addCleanup(reader.close)
            test.addCleanup(writer.close)
        self.reactor = MemoryReactor()
        self.harnesses = [ProxyHarness(["--min-se", "90"] + (args or []), clock=self.clock)
                          for _ in range(2)]
        self.links = [self.link(index) for index in range(2)]

    def link(self, index: int) -> WorkerLink:
        harness = self.harnesses[index]
        link = WorkerLink(Ownership(index, 2), self.inboxes[index][0],
                          [writer for _, writer in self.inboxes], self.reactor,
                          harness.service.stats)
        harness.service.transport.link = link
        link.start(harness.service.transport, harness.service.locations)
        return link

    def pump(self) -> None:
        """
        Deliver what waits in the inboxes until none is left.
        """
        for _ in range(20):
            for link in self.links:
                link.doRead()

    def receive(self, worker: int, data: str, source: Address) -> None:
        """
        Worker C{worker}'s socket receives C{data} from C{source}.
        """
        self.harnesses[worker].receive(data, source)
        self.pump()


class HandOffTests(TestCase):
    """
    A message goes to the worker that owns its Call-ID, whichever receives it.
    """

    def setUp(self) -> None:
        self.workers = Workers(self)
        self.owner, self.other = self.workers.harnesses
        self.callId = ownedCallId(0)

    def call(self, receiver: int = 1) -> Response:
        """
        A timed call whose every message arrives at worker C{receiver}.
        """
        workers = self.workers
        workers.receive(receiver, self.owner.invite("Session-Expires: 90", callId=self.callId),
                        CALLER)
        forwarded = self.owner.lastRequestTo(CALLEE)
        workers.receive(receiver, self.owner.answer(forwarded, 200,
                                                    "Session-Expires: 90;refresher=uac",
                                                    "Require: timer"), CALLEE)
        ok = self.owner.lastResponseTo(CALLER)
        workers.receive(receiver, self.owner.inDialog("ACK", cseq=1, callId=self.callId),
                        CALLER)
        return ok

    def test_ownerHandlesCall(self) -> None:
        """
        A call whose messages all reach the other worker is handled by its owner alone: the
        dialog, the transactions and what is sent are the owner's.
        """
        ok = self.call(receiver=1)
        self.assertEqual(ok.code, 200)
        self.assertEqual([d.state for d in self.owner.dialogs], [DialogState.CONFIRMED])
        self.assertEqual(list(self.other.dialogs), [])
        self.assertEqual(self.other.sent, [])
        self.assertEqual(self.other.stats.snapshot()["requests_in"], 0)
        self.assertEqual(self.other.stats.snapshot()["handoffs_out"], 3)
        self.assertEqual(self.owner.stats.snapshot()["handoffs_in"], 3)
        self.assertEqual(len(self.other.service.transactions.servers), 0)

    def test_ownMessagesStay(self) -> None:
        """
        What a worker receives for itself is not handed anywhere.
        """
        self.call(receiver=0)
        self.assertEqual(self.owner.stats.snapshot()["handoffs_out"], 0)
        self.assertEqual(self.other.stats.snapshot()["handoffs_in"], 0)
        self.assertEqual(len(list(self.owner.dialogs)), 1)

    def test_refreshAtOtherWorker(self) -> None:
        """
        A refresh that arrives at the other worker moves the owner's deadline.
        """
        self.call(receiver=0)
        dialog = next(iter(self.owner.dialogs))
        first = dialog.expiresAt
        self.workers.clock.advance(60)
        self.workers.receive(1, self.owner.inDialog("UPDATE", "Session-Expires: 90;refresher=uac",
                                                    "Supported: timer", callId=self.callId,
                                                    cseq=3), CALLER)
        update = self.owner.lastRequestTo(CALLEE)
        self.assertEqual(update.method, "UPDATE")
        self.workers.receive(1, self.owner.answer(update, 200, "Session-Expires: 90;refresher=uac",
                                                  "Require: timer"), CALLEE)
        self.assertEqual(dialog.expiresAt, first + 60)
        self.assertEqual(list(self.other.dialogs), [])

    def test_expiresOnce(self) -> None:
        """
        An unrefreshed session expires once, at its owner.
        """
        self.call(receiver=1)
        self.workers.clock.advance(200)
        expired = [h.stats.snapshot()["expired_sst"] for h in self.workers.harnesses]
        self.assertEqual(expired, [1, 0])

    def test_noCallId(self) -> None:
        """
        A message without a Call-ID is handled (here: dropped and counted, as a response
        could not carry the Call-ID) by the worker that received it.
        """
        bad = self.owner.invite(callId=self.callId).replace("Call-ID: %s\r\n" % (self.callId,), "")
        self.workers.receive(1, bad, CALLER)
        self.assertEqual(self.other.stats.snapshot()["parse_errors"], 1)
        self.assertEqual(self.other.stats.snapshot()["handoffs_out"], 0)
        self.assertEqual(self.owner.stats.snapshot()["parse_errors"], 0)

    def test_streamHandedOver(self) -> None:
        """
        A message that came on a TCP connection the other worker holds is handled by its
        owner, which notes that worker as the connection's holder.
        """
        tcpCaller = Address("tcp", CALLER.host, 40000)
        invite = self.owner.invite(callId=self.callId).replace(
            "SIP/2.0/UDP %s" % (CALLER.hostport(),), "SIP/2.0/TCP %s" % (tcpCaller.hostport(),))
        self.workers.receive(1, invite, tcpCaller)
        self.assertEqual(len(self.owner.service.transactions.servers), 1)
        self.assertEqual(len(self.other.service.transactions.servers), 0)
        self.assertEqual(self.owner.service.transport._remoteStreams,
                         {(tcpCaller.host, tcpCaller.port): 1})

    def test_sendThroughHolder(self) -> None:
        """
        What a worker sends to a peer whose TCP connection another worker holds goes out
        through that worker; with a connection of its own, through its own.
        """
        layer = TransportLayer(self.workers.clock, Stats())
        layer.link = WorkerLink(Ownership(0, 2), self.workers.inboxes[0][0],
                                [writer for _, writer in self.workers.inboxes],
                                self.workers.reactor, layer.stats)
        peer = Address("tcp", "127.0.0.1", 40000)
        layer.streamHeldBy((peer.host, peer.port), 1)
        trying = (b"SIP/2.0 100 Trying\r\nVia: SIP/2.0/TCP 127.0.0.1:40000;branch=z9hG4bK-1\r\n"
                  b"From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: c\r\n"
                  b"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
        layer.send(trying, peer)
        self.workers.pump()
        self.assertEqual([(m.toBytes(), a) for m, a in self.other.sent], [(trying, peer)])

    def test_fullInboxCounted(self) -> None:
        """
        A hand-off that finds the owner's inbox full is dropped and counted, not raised.
        """
        link = self.workers.links[1]
        full, writer = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(full.close)
        self.addCleanup(writer.close)
        writer.setblocking(False)
        writer.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        link.outboxes[0] = writer
        for _ in range(50):
            link.handOff(0, b"x" * 1000, CALLER)
        self.assertGreater(self.other.stats.snapshot()["handoff_dropped"], 0)

    def test_badEnvelope(self) -> None:
        """
        An envelope that cannot be read is counted and logged, not raised.
        """
        self.workers.links[0].receive(b"Zjunk")
        self.assertEqual(self.owner.stats.snapshot()["internal_errors"], 1)
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)


class SharedRegistrationTests(TestCase):
    """
    Every worker holds every registration: a call for a user can reach any of them.
    """

    def register(self, workers: Workers, receiver: int, expires: int, cseq: int = 1) -> None:
        callId = ownedCallId(1 - receiver, prefix="reg")
        lines = [
            "REGISTER sip:127.0.0.1 SIP/2.0",
            "Via: SIP/2.0/UDP %s;branch=z9hG4bK-reg-%d;rport" % (CALLEE.hostport(), cseq),
            "Max-Forwards: 70",
            "From: <sip:bob@127.0.0.1>;tag=r1",
            "To: <sip:bob@127.0.0.1>",
            "Call-ID: %s" % (callId,),
            "CSeq: %d REGISTER" % (cseq,),
            "Contact: <sip:bob@%s>;expires=%d" % (CALLEE.hostport(), expires),
            "Content-Length: 0",
        ]
        workers.receive(receiver, "\r\n".join(lines) + "\r\n\r\n", CALLEE)

    def test_bindingShared(self) -> None:
        """
        A binding made at one worker is in the other's location service, and goes when it is
        removed.
        """
        workers = Workers(self)
        self.register(workers, 0, 600)
        held = [[b.contact for b in h.service.locations.lookup("sip:bob@127.0.0.1")]
                for h in workers.harnesses]
        self.assertEqual(held, [["sip:bob@%s" % (CALLEE.hostport(),)]] * 2)
        self.register(workers, 0, 0, cseq=2)
        self.assertEqual([len(h.service.locations) for h in workers.harnesses], [0, 0])

    def test_restartedWorkerAsks(self) -> None:
        """
        A worker that starts again asks another for every binding.
        """
        workers = Workers(self)
        self.register(workers, 0, 600)
        restarted = ProxyHarness(["--min-se", "90"], clock=workers.clock)
        workers.harnesses[1] = restarted
        workers.links[1].stop()
        workers.links[1] = workers.link(1)
        workers.pump()
        self.assertEqual([b.contact for b in restarted.service.locations.lookup("sip:bob@127.0.0.1")],
                         ["sip:bob@%s" % (CALLEE.hostport(),)])
