# -*- test-case-name: sst.test.test_protocol -*-
"""
Tests for L{sst.protocol}.
"""
from __future__ import annotations

import errno
import socket
from typing import Optional, Union

from twisted.internet.address import IPv4Address
from twisted.internet.interfaces import IUDPTransport
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import capturedLogs
from twisted.python.failure import Failure
from twisted.internet.error import ConnectionDone, ConnectionRefusedError
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from sst.address import Address
from sst.headers import SIPParseError, parseVia
from sst.message import Request, Response, parse
from sst.protocol import (
    SIPDatagramProtocol,
    SIPStreamProtocol,
    StreamFramer,
    TransportLayer,
    numericFamily,
    responseAddress,
)
from sst.responses import makeResponse
from sst.stats import Stats
from sst.test.test_message import BODY, HEADERS, replaceHeader, request, response
from sst.test._support import assertProvides

SOURCE = ("192.0.2.50", 6050)


@implementer(IUDPTransport)
class FakeDatagramTransport:
    """
    A UDP transport that records what is written to it.

    @ivar written: C{(datagram, address)} pairs, in order.
    """

    def __init__(self) -> None:
        self.written: list[tuple[bytes, Optional[tuple[str, int]]]] = []

    def write(self, packet: bytes, addr: Optional[tuple[str, int]] = None) -> None:
        self.written.append((packet, addr))

    def connect(self, host: str, port: int) -> None:
        raise NotImplementedError()

    def getHost(self) -> IPv4Address:
        return IPv4Address("UDP", "192.0.2.1", 5060)

    def stopListening(self) -> None:
        return None

    def setBroadcastAllowed(self, enabled: bool) -> None:
        pass

    def getBroadcastAllowed(self) -> bool:
        return False


class FakeSocket:
    """
    The C{sendto} of a UDP socket: records datagrams, or raises the errors it is given, in
    turn.
    """

    def __init__(self, *errors: OSError) -> None:
        self.sent: list[tuple[bytes, tuple[str, int]]] = []
        self.errors = list(errors)

    def sendto(self, data: bytes, addr: tuple[str, int]) -> int:
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append((data, addr))
        return len(data)

    def setsockopt(self, *args: object) -> None:
        pass


@implementer(IUDPTransport)
class SocketDatagramTransport(FakeDatagramTransport):
    """
    A L{FakeDatagramTransport} with a C{socket}, as Twisted's C{udp.Port} has.
    """

    def __init__(self, sock: FakeSocket) -> None:
        super().__init__()
        self.socket = sock


class Received:
    """
    A receiver that records the messages handed up, and can be told to fail.
    """

    def __init__(self) -> None:
        self.messages: list[tuple[Union[Request, Response], Address]] = []
        self.error: Optional[Exception] = None

    def __call__(self, message: Union[Request, Response], source: Address) -> None:
        self.messages.append((message, source))
        if self.error is not None:
            raise self.error


class FakeDatagramTransportTests(SynchronousTestCase):
    """
    Tests for the test double L{FakeDatagramTransport}.
    """

    def test_provides(self) -> None:
        """
        L{FakeDatagramTransport} and L{SocketDatagramTransport} provide L{IUDPTransport}.
        """
        assertProvides(self, IUDPTransport, FakeDatagramTransport())
        assertProvides(self, IUDPTransport, SocketDatagramTransport(FakeSocket()))


class DatagramSocketTests(SynchronousTestCase):
    """
    L{TransportLayer.send} over UDP writes to the socket itself.
    """

    def setUp(self) -> None:
        self.stats = Stats()
        self.layer = TransportLayer(Clock(), self.stats)

    def connect(self, sock: FakeSocket) -> SocketDatagramTransport:
        transport = SocketDatagramTransport(sock)
        SIPDatagramProtocol(self.layer).makeConnection(transport)
        return transport

    def test_sendsOnSocket(self) -> None:
        """
        A datagram to a numeric address goes to the socket's C{sendto}, not through the
        transport's C{write}, and its bytes are counted.
        """
        sock = FakeSocket()
        transport = self.connect(sock)
        self.layer.send(b"hello", Address("udp", "192.0.2.9", 5080))
        self.assertEqual(sock.sent, [(b"hello", ("192.0.2.9", 5080))])
        self.assertEqual(transport.written, [])
        self.assertEqual(self.stats.get("bytes_out"), 5)

    def test_hostName(self) -> None:
        """
        A host name is never handed to the socket (which would look it up, blocking): the
        datagram is counted as a send error and logged.
        """
        sock = FakeSocket()
        self.connect(sock)
        with capturedLogs() as events:
            self.layer.send(b"hello", Address("udp", "sip.example.com", 5060))
        self.assertEqual(sock.sent, [])
        self.assertEqual(self.stats.get("send_errors"), 1)
        self.assertEqual([e["address"].host for e in events if "address" in e],
                         ["sip.example.com"])

    def test_lostDatagram(self) -> None:
        """
        A datagram the kernel refuses (full buffer, unreachable, too large) is counted in
        C{send_errors} without a logged failure; an interrupted call is retried.
        """
        sock = FakeSocket(BlockingIOError(errno.EAGAIN, "full"),
                          OSError(errno.ENETUNREACH, "unreachable"),
                          InterruptedError(errno.EINTR, "interrupted"))
        self.connect(sock)
        with capturedLogs() as events:
            for _ in range(3):
                self.layer.send(b"hello", Address("udp", "192.0.2.9", 5080))
        self.assertEqual(self.stats.get("send_errors"), 2)
        self.assertEqual(sock.sent, [(b"hello", ("192.0.2.9", 5080))])
        self.assertEqual([e for e in events if "log_failure" in e], [])

    def test_otherErrorLogged(self) -> None:
        """
        Any other socket error is counted and logged as a failure, never raised.
        """
        self.connect(FakeSocket(PermissionError(errno.EACCES, "denied")))
        self.layer.send(b"hello", Address("udp", "192.0.2.9", 5080))
        self.assertEqual(self.stats.get("send_errors"), 1)
        self.assertEqual(len(self.flushLoggedErrors(PermissionError)), 1)

    def test_numericFamily(self) -> None:
        """
        L{numericFamily} tells IPv4 from IPv6 and from host names.
        """
        self.assertEqual(numericFamily("192.0.2.1"), "4")
        self.assertEqual(numericFamily("2001:db8::1"), "6")
        self.assertEqual(numericFamily("[2001:db8::1]"), "")
        self.assertEqual(numericFamily("example.com"), "")
        self.assertEqual(numericFamily("192.0.2.256"), "")

    def test_realSocket(self) -> None:
        """
        Over a real loopback socket, the datagram arrives.
        """
        receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(receiver.close)
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(5)
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(sender.close)
        sender.bind(("127.0.0.1", 0))
        self.connect(sender)  # type: ignore[arg-type]
        self.layer.send(b"hello", Address("udp", "127.0.0.1", receiver.getsockname()[1]))
        self.assertEqual(receiver.recv(100), b"hello")


class DatagramTests(SynchronousTestCase):
    """
    Tests for L{SIPDatagramProtocol} and the receiving side of L{TransportLayer}.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1000.5)
        self.stats = Stats()
        self.layer = TransportLayer(self.clock, self.stats)
        self.received = Received()
        self.layer.receiver = self.received
        self.proto = SIPDatagramProtocol(self.layer)
        self.fake = FakeDatagramTransport()
        self.proto.makeConnection(self.fake)

    def receive(self, data: bytes, source: tuple[str, int] = SOURCE) -> None:
        """
        Deliver C{data} as a datagram from C{source}.
        """
        self.proto.datagramReceived(data, source)

    def sent(self) -> list[tuple[Union[Request, Response], Optional[tuple[str, int]]]]:
        """
        @return: what was written to the socket, parsed.
        """
        return [(parse(data), addr) for data, addr in self.fake.written]

    def test_request(self) -> None:
        """
        A valid request reaches the receiver with its source address and arrival time.
        """
        self.receive(request())
        [(message, source)] = self.received.messages
        assert isinstance(message, Request)
        self.assertEqual(message.method, "INVITE")
        self.assertEqual(source, Address("udp", *SOURCE))
        self.assertEqual(message.source, source)
        self.assertEqual(message.receivedAt, 1000.5)
        self.assertEqual(self.stats.get("requests_in"), 1)
        self.assertEqual(self.stats.get("bytes_in"), len(request()))
        self.assertEqual(self.fake.written, [])

    def test_response(self) -> None:
        """
        A valid response reaches the receiver, its Via untouched.
        """
        data = response()
        self.receive(data)
        [(message, _)] = self.received.messages
        assert isinstance(message, Response)
        self.assertEqual(message.code, 200)
        self.assertEqual(message.toBytes(), data)
        self.assertEqual(self.stats.get("responses_in"), 1)

    def test_receivedAdded(self) -> None:
        """
        When the top Via's sent-by host differs from the source address, C{received} is
        added (RFC 3261 section 18.2.1); the other Vias stay as they were.
        """
        headers = replaceHeader(b"via", b"Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2")
        self.receive(request(headers))
        [(message, _)] = self.received.messages
        vias = message.vias()
        self.assertEqual(vias[0].params, {"branch": "z9hG4bK1", "received": "192.0.2.50"})
        self.assertEqual((vias[0].host, vias[1].host), ("pc33.example.com", "b"))
        self.assertEqual(vias[1].params, {"branch": "z9hG4bK2"})

    def test_sameHostUntouched(self) -> None:
        """
        When sent-by is the source address and there is no C{rport}, the Via is left as it
        arrived.
        """
        headers = replaceHeader(b"via", b"Via: SIP/2.0/UDP 192.0.2.50:6050;branch=z9hG4bK1")
        data = request(headers)
        self.receive(data)
        self.assertEqual(self.received.messages[0][0].toBytes(), data)

    def test_rportFilled(self) -> None:
        """
        An empty C{rport} gets the source port, and C{received} is added even when it
        equals sent-by (RFC 3581 section 4).
        """
        headers = replaceHeader(b"via", b"Via: SIP/2.0/UDP 192.0.2.50:5060;rport;branch=z9hG4bK1")
        self.receive(request(headers))
        [(message, _)] = self.received.messages
        assert isinstance(message, Request)
        via = message.topVia()
        self.assertEqual(via.params, {"rport": "6050", "branch": "z9hG4bK1", "received": "192.0.2.50"})
        self.assertEqual(responseAddress(message), Address("udp", "192.0.2.50", 6050))

    def test_rportWithValueKept(self) -> None:
        """
        An C{rport} that already has a value is not changed.
        """
        headers = replaceHeader(b"via", b"Via: SIP/2.0/UDP h;rport=7000;branch=z9hG4bK1")
        self.receive(request(headers))
        self.assertEqual(self.received.messages[0][0].topVia().params["rport"], "7000")

    def test_responseAddress(self) -> None:
        """
        Without C{rport}, responses go to C{received} and the sent-by port (RFC 3261 section
        18.2.2); a bad C{rport} value falls back to the source port.
        """
        headers = replaceHeader(b"via", b"Via: SIP/2.0/UDP pc33.example.com:5070;branch=z9hG4bK1")
        self.receive(request(headers))
        message = self.received.messages[0][0]
        assert isinstance(message, Request)
        self.assertEqual(responseAddress(message), Address("udp", "192.0.2.50", 5070))
        for value in [b"\xb2", b"99999", b"0", b"1" * 5000]:
            headers = replaceHeader(b"via", b"Via: SIP/2.0/UDP h;rport=" + value + b";branch=z9hG4bK1")
            self.receive(request(headers))
            message = self.received.messages[-1][0]
            assert isinstance(message, Request)
            self.assertEqual(responseAddress(message), Address("udp", "192.0.2.50", 6050))

    def test_badRequestAnswered(self) -> None:
        """
        A request that does not parse but has a usable Via gets a 400 carrying the reason,
        sent back to its source, and is counted in C{parse_errors}.
        """
        headers = replaceHeader(b"via", b"Via: SIP/2.0/UDP 192.0.2.50:5060;rport;branch=z9hG4bK1")
        headers = replaceHeader(b"max-forwards", b"Max-Forwards: 300", headers)
        self.receive(request(headers))
        self.assertEqual(self.received.messages, [])
        [(reply, addr)] = self.sent()
        assert isinstance(reply, Response)
        self.assertEqual((reply.code, reply.phrase), (400, "Max-Forwards too large"))
        self.assertEqual(addr, SOURCE)
        self.assertEqual(reply.callId, "a84b4c76e66710@pc33.atlanta.example.com")
        self.assertEqual(reply.cseq().number, 314159)
        self.assertEqual(reply.topVia().params["rport"], "6050")
        self.assertEqual(self.stats.get("parse_errors"), 1)
        self.assertEqual(self.stats.get("responses_out"), 1)
        self.assertEqual(self.stats.get("dropped"), 0)

    def test_badHeaderLineAnswered(self) -> None:
        """
        A request with a malformed header line is answered with a 400 built from its other
        headers.
        """
        self.receive(request(HEADERS + [b"this is not a header"]))
        [(reply, addr)] = self.sent()
        assert isinstance(reply, Response)
        self.assertEqual(reply.code, 400)
        self.assertIn("bad header line", reply.phrase)
        self.assertEqual(addr, SOURCE)

    def test_unsupportedVersionAnswered(self) -> None:
        """
        A request in another SIP version is answered with a 505 (RFC 4475 section 3.3.15).
        """
        self.receive(request(startLine=b"INVITE sip:bob@b SIP/7.0"))
        [(reply, _)] = self.sent()
        assert isinstance(reply, Response)
        self.assertEqual(reply.code, 505)
        self.assertEqual(self.stats.get("parse_errors"), 1)

    def rawSent(self) -> list[tuple[bytes, Optional[tuple[str, int]]]]:
        """
        @return: what was written to the socket, as bytes (an answer to a request with a
            broken Via carries that Via, and does not parse again).
        """
        return list(self.fake.written)

    def test_unreadableViaAnsweredToSource(self) -> None:
        """
        A request whose Via has no readable sent-by (no host, or a port out of range) is
        answered with a 400 sent back to the datagram's source, its Via lines copied as they
        came; it is counted as a parse error, not as dropped.
        """
        for via in [b"Via: SIP/2.0/UDP host:99999;branch=z9hG4bK1",
                    b"Via: SIP/2.0/UDP ;rport;branch=z9hG4bK1"]:
            self.fake.written.clear()
            self.receive(request(replaceHeader(b"via", via)))
            [(data, addr)] = self.rawSent()
            self.assertTrue(data.startswith(b"SIP/2.0 400 "), data)
            self.assertIn(b"\r\n" + via + b"\r\n", data)
            self.assertEqual(addr, SOURCE)
        self.assertEqual(self.received.messages, [])
        self.assertEqual((self.stats.get("parse_errors"), self.stats.get("dropped")), (2, 0))

    def test_extraneousSeparatorsAnswered(self) -> None:
        """
        A request whose only Via is C{SIP/2.0/UDP 192.0.2.15;;,;,,} (RFC 4475 section
        3.1.2.1) gets a 400 sent where RFC 3261 section 18.2.2 says from what can be read:
        the source address (as C{received}) and the default port, the sent-by having none.
        """
        self.receive(request(replaceHeader(b"via", b"Via: SIP/2.0/UDP 192.0.2.15;;,;,,")))
        [(data, addr)] = self.rawSent()
        self.assertTrue(data.startswith(b"SIP/2.0 400 "), data)
        self.assertIn(b"\r\nVia: SIP/2.0/UDP 192.0.2.15;;,;,,\r\n", data)
        self.assertEqual(addr, (SOURCE[0], 5060))
        self.assertEqual((self.stats.get("parse_errors"), self.stats.get("dropped")), (1, 0))

    def test_otherVersionViaAnswered(self) -> None:
        """
        A request in SIP/7.0 whose Via is in SIP/7.0 too (RFC 4475 section 3.1.2.16) gets a
        505 Version Not Supported, sent after what the Via says: the sent-by port on the
        source address, or the source port when it asks for C{rport}.
        """
        line = b"OPTIONS sip:t.watson@example.org SIP/7.0"
        headers = replaceHeader(b"cseq", b"CSeq: 1 OPTIONS")
        cases = [(b"Via: SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw", (SOURCE[0], 5060)),
                 (b"Via: SIP/7.0/UDP c.example.com:5070;branch=z9hG4bK1", (SOURCE[0], 5070)),
                 (b"Via: SIP/7.0/UDP c.example.com:5070;rport;branch=z9hG4bK1", SOURCE)]
        for via, expected in cases:
            self.fake.written.clear()
            self.receive(request(replaceHeader(b"via", via, headers), startLine=line))
            [(data, addr)] = self.rawSent()
            self.assertTrue(data.startswith(b"SIP/2.0 505 Version Not Supported\r\n"), data)
            self.assertIn(b"\r\n" + via + b"\r\n", data)
            self.assertIn(b"\r\nCSeq: 1 OPTIONS\r\n", data)
            self.assertEqual(addr, expected)
        self.assertEqual((self.stats.get("parse_errors"), self.stats.get("dropped")), (3, 0))

    def test_noViaDropped(self) -> None:
        """
        A request without any Via cannot be answered (a response without Via matches no
        transaction): it is dropped and counted.
        """
        self.receive(request(replaceHeader(b"via", None)))
        self.assertEqual(self.fake.written, [])
        self.assertEqual((self.stats.get("parse_errors"), self.stats.get("dropped")), (1, 1))

    def test_badACKDropped(self) -> None:
        """
        A bad ACK is never answered (RFC 3261 section 17.1.1.1).
        """
        headers = replaceHeader(b"cseq", b"CSeq: 1 ACK")
        self.receive(request(headers + [b"Max-Forwards: 1"], startLine=b"ACK sip:bob@b SIP/2.0"))
        self.assertEqual(self.fake.written, [])
        self.assertEqual(self.stats.get("dropped"), 1)

    def test_badResponseDropped(self) -> None:
        """
        A response that does not parse is dropped and counted, never answered.
        """
        self.receive(response(replaceHeader(b"cseq", b"CSeq: x INVITE")))
        self.assertEqual(self.fake.written, [])
        self.assertEqual(self.received.messages, [])
        self.assertEqual((self.stats.get("parse_errors"), self.stats.get("dropped")), (1, 1))

    def test_garbageDropped(self) -> None:
        """
        Garbage without a start line is dropped and counted; nothing is sent.
        """
        for data in [b"\x00\xffgarbage", b"hello world\r\n\r\n", b"x" * 70000]:
            self.receive(data)
        self.assertEqual(self.fake.written, [])
        self.assertEqual(self.received.messages, [])
        self.assertEqual(self.stats.get("dropped"), 3)
        self.assertEqual(self.stats.get("parse_errors"), 3)

    def test_keepAlive(self) -> None:
        """
        A CRLF keep-alive is neither an error nor a message.
        """
        self.receive(b"\r\n\r\n")
        self.assertEqual(self.received.messages, [])
        self.assertEqual((self.stats.get("parse_errors"), self.stats.get("dropped")), (0, 0))

    def test_receiverError(self) -> None:
        """
        An exception raised by the receiver is logged and counted in C{internal_errors}, and
        does not reach the reactor.
        """
        self.received.error = ZeroDivisionError("boom")
        self.receive(request())
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.assertEqual(self.stats.get("internal_errors"), 1)
        self.receive(request())
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.assertEqual(self.stats.get("internal_errors"), 2)

    def test_noReceiver(self) -> None:
        """
        Without a receiver, a message is parsed and counted but goes nowhere.
        """
        self.layer.receiver = None
        self.receive(request())
        self.assertEqual(self.stats.get("requests_in"), 1)

    def test_send(self) -> None:
        """
        L{TransportLayer.send} writes a datagram to the address and counts the bytes.
        """
        self.layer.send(b"hello", Address("udp", "192.0.2.9", 5080))
        self.assertEqual(self.fake.written, [(b"hello", ("192.0.2.9", 5080))])
        self.assertEqual(self.stats.get("bytes_out"), 5)

    def test_sendWithoutSocket(self) -> None:
        """
        Sending UDP with no socket for the address family is counted, not raised.
        """
        self.layer.send(b"hello", Address("udp", "2001:db8::1", 5060))
        self.assertEqual(self.stats.get("send_errors"), 1)
        self.proto.doStop()
        self.layer.send(b"hello", Address("udp", "192.0.2.9", 5060))
        self.assertEqual(self.stats.get("send_errors"), 2)
        self.assertEqual(self.fake.written, [])


class StreamFramerTests(SynchronousTestCase):
    """
    Tests for L{StreamFramer}, feeding each chunk whole.
    """

    def feed(self, framer: StreamFramer, data: bytes) -> list[bytes]:
        """
        Give C{data} to C{framer}.

        @return: the messages completed.
        """
        return framer.feed(data)

    def test_one(self) -> None:
        """
        A complete message comes out whole.
        """
        data = request()
        self.assertEqual(self.feed(StreamFramer(), data), [data])

    def test_split(self) -> None:
        """
        A message split across chunks comes out once its body is complete.
        """
        data = request()
        framer = StreamFramer()
        self.assertEqual(self.feed(framer, data[:30]), [])
        self.assertEqual(self.feed(framer, data[30:-5]), [])
        self.assertEqual(self.feed(framer, data[-5:]), [data])

    def test_two(self) -> None:
        """
        Two messages in one chunk come out as two.
        """
        first, second = request(), response(body=b"")
        self.assertEqual(self.feed(StreamFramer(), first + second), [first, second])

    def test_keepAlives(self) -> None:
        """
        CRLF keep-alives between messages are skipped.
        """
        first, second = request(), response(body=b"")
        self.assertEqual(self.feed(StreamFramer(), b"\r\n\r\n" + first + b"\r\n" + second), [first, second])

    def test_compactLength(self) -> None:
        """
        The compact C{l:} form frames the body, in any case.
        """
        data = request(contentLength=b"").replace(b"\r\n\r\n", b"\r\nL : %d\r\n\r\n" % (len(BODY),), 1)
        self.assertEqual(self.feed(StreamFramer(), data + data), [data, data])

    def test_noLength(self) -> None:
        """
        Without Content-Length a message has no body on a stream.
        """
        data = request(body=b"", contentLength=b"")
        self.assertEqual(self.feed(StreamFramer(), data + b"x"), [data])

    def test_oversize(self) -> None:
        """
        A message larger than the cap, announced or still unterminated, is an error.
        """
        self.assertRaises(SIPParseError, self.feed, StreamFramer(200), request())
        self.assertRaises(SIPParseError, self.feed, StreamFramer(100), b"x" * 101)
        big = request(contentLength=b"99999999999999999999")
        self.assertRaises(SIPParseError, self.feed, StreamFramer(), big)
        huge = request(contentLength=b"9" * 5000)
        self.assertEqual(self.assertRaises(SIPParseError, self.feed, StreamFramer(), huge).status, 513)

    def test_framedMessagesParse(self) -> None:
        """
        What the framer cuts parses to the messages that were sent.
        """
        first, second = request(), response(body=b"")
        messages = self.feed(StreamFramer(), first + second)
        self.assertEqual([parse(m).toBytes() for m in messages], [first, second])


class StreamFramerByteByByteTests(StreamFramerTests):
    """
    Tests for L{StreamFramer}, feeding one byte at a time.
    """

    def feed(self, framer: StreamFramer, data: bytes) -> list[bytes]:
        """
        Give C{data} to C{framer} one byte at a time.

        @return: the messages completed.
        """
        messages: list[bytes] = []
        for i in range(len(data)):
            messages.extend(framer.feed(data[i : i + 1]))
        return messages


class StreamProtocolTests(SynchronousTestCase):
    """
    Tests for L{SIPStreamProtocol}.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.stats = Stats()
        self.layer = TransportLayer(self.clock, self.stats)
        self.received = Received()
        self.layer.receiver = self.received
        self.transport = StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.77", 40000))
        self.proto = SIPStreamProtocol(self.layer)
        self.proto.makeConnection(self.transport)

    def test_request(self) -> None:
        """
        A request arriving over TCP reaches the receiver with a C{tcp} source.
        """
        self.proto.dataReceived(request())
        [(message, source)] = self.received.messages
        self.assertEqual(source, Address("tcp", "192.0.2.77", 40000))
        self.assertEqual(message.topVia().params["received"], "192.0.2.77")

    def test_responseOnSameConnection(self) -> None:
        """
        The response to a request goes back over the connection it came on.
        """
        self.proto.dataReceived(request())
        [(message, source)] = self.received.messages
        assert isinstance(message, Request)
        self.assertEqual(responseAddress(message), source)
        self.layer.sendMessage(makeResponse(message, 200), responseAddress(message))
        reply = parse(self.transport.value())
        assert isinstance(reply, Response)
        self.assertEqual((reply.code, reply.callId), (200, message.callId))
        self.assertEqual(parseVia(reply.headerValues("via")[0]).params["received"], "192.0.2.77")

    def test_chunks(self) -> None:
        """
        Messages arriving in pieces, and two in one piece, are each delivered once.
        """
        data = request() + response(body=b"")
        for i in range(0, len(data), 7):
            self.proto.dataReceived(data[i : i + 7])
        self.proto.dataReceived(data)
        self.assertEqual([type(m) for m, _ in self.received.messages], [Request, Response, Request, Response])

    def test_badRequestAnswered(self) -> None:
        """
        A bad request over TCP is answered with a 400 on the same connection.
        """
        self.proto.dataReceived(request(replaceHeader(b"max-forwards", b"Max-Forwards: 256")))
        reply = parse(self.transport.value())
        assert isinstance(reply, Response)
        self.assertEqual(reply.code, 400)
        self.assertFalse(self.transport.disconnecting)

    def test_otherVersionAnsweredOnConnection(self) -> None:
        """
        Over TCP, the 505 to a request whose Via is in SIP/7.0 goes back over the connection
        it came on, whatever the Via says (RFC 3261 section 18.2.2).
        """
        headers = replaceHeader(b"via", b"Via: SIP/7.0/TCP c.example.com;branch=z9hG4bK1",
                                replaceHeader(b"cseq", b"CSeq: 1 OPTIONS"))
        self.proto.dataReceived(request(headers, startLine=b"OPTIONS sip:a@b SIP/7.0"))
        self.assertTrue(self.transport.value().startswith(b"SIP/2.0 505 Version Not Supported\r\n"))
        self.assertEqual((self.stats.get("parse_errors"), self.stats.get("dropped")), (1, 0))

    def test_oversizeCloses(self) -> None:
        """
        A message beyond the size cap closes the connection and counts a parse error.
        """
        self.proto.dataReceived(request(contentLength=b"9999999"))
        self.assertTrue(self.transport.disconnecting)
        self.assertEqual(self.stats.get("parse_errors"), 1)
        self.assertEqual(self.received.messages, [])

    def test_oversizeRequestAnswered(self) -> None:
        """
        A request whose announced length passes the size cap gets C{513 Message Too Large}
        on the connection, built from its header block (Via with C{received}), before the
        connection closes; nothing goes up.
        """
        self.proto.dataReceived(request(contentLength=b"9999999"))
        reply = parse(self.transport.value())
        assert isinstance(reply, Response)
        self.assertEqual((reply.code, reply.cseq().method), (513, "INVITE"))
        self.assertEqual(reply.topVia().params.get("received"), "192.0.2.77")
        self.assertTrue(self.transport.disconnecting)
        self.assertEqual(self.received.messages, [])
        self.assertEqual(self.stats.get("dropped"), 0)

    def test_oversizeRequestArrivingAnswered(self) -> None:
        """
        A request of ordinary size that passes a small size cap (C{--max-size 600}) by its
        body is answered 513 too.
        """
        layer = TransportLayer(self.clock, self.stats, maxSize=600)
        proto = SIPStreamProtocol(layer)
        transport = StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.77", 40000))
        proto.makeConnection(transport)
        proto.dataReceived(request(body=b"x" * 700))
        reply = parse(transport.value())
        assert isinstance(reply, Response)
        self.assertEqual(reply.code, 513)
        self.assertTrue(transport.disconnecting)

    def test_oversizeUnreadableClosesSilently(self) -> None:
        """
        Oversized bytes whose header block never ends within the cap, or an oversized
        response, or ACK, are not answered: the connection just closes.
        """
        for data in [b"INVITE sip:a@b SIP/2.0\r\nX: " + b"y" * 70000,
                     response(body=b"").replace(b"Content-Length: 0", b"Content-Length: 9999999"),
                     request(startLine=b"ACK sip:bob@biloxi.example.com SIP/2.0",
                             contentLength=b"9999999")]:
            transport = StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.78", 40000))
            proto = SIPStreamProtocol(self.layer)
            proto.makeConnection(transport)
            proto.dataReceived(data)
            self.assertEqual(transport.value(), b"")
            self.assertTrue(transport.disconnecting)
        self.assertEqual(self.stats.get("dropped"), 3)

    def test_connectFailedCallback(self) -> None:
        """
        When the TCP connection a message waits for fails, the callback given with it is
        called with the reason, and the message is counted as a send error.
        """
        reactor = MemoryReactorClock()
        layer = TransportLayer(reactor, self.stats, reactor=reactor)
        reasons: list[Failure] = []
        layer.send(b"hello", Address("tcp", "192.0.2.9", 5080), reasons.append)
        layer.send(b"again", Address("tcp", "192.0.2.9", 5080))
        [(host, port, factory, _, _)] = reactor.tcpClients
        self.assertEqual((host, port), ("192.0.2.9", 5080))
        [connector] = reactor.connectors
        factory.clientConnectionFailed(connector, Failure(ConnectionRefusedError()))
        self.assertEqual([r.type for r in reasons], [ConnectionRefusedError])
        self.assertEqual(self.stats.get("send_errors"), 2)

    def test_connectionLost(self) -> None:
        """
        Once the connection is gone, sending to the peer no longer uses it.
        """
        self.proto.connectionLost(Failure(ConnectionDone()))
        self.layer.send(b"x", Address("tcp", "192.0.2.77", 40000))
        self.assertEqual(self.transport.value(), b"")
        self.assertEqual(self.stats.get("send_errors"), 1)
        self.flushLoggedErrors(RuntimeError)
