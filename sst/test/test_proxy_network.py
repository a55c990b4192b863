# -*- test-case-name: sst.test.test_proxy_network -*-
"""
Loopback tests of the proxy's choice of transport (RFC 3261 section 18.1.1) and of its
answer to oversized messages over TCP, with Twisted peers in the test (SIPp cannot listen
on UDP and TCP at once).

The proxy runs in-process on 127.0.0.1, on ports the system picks; every socket the test
opens is closed when it ends.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from twisted.internet import reactor as _globalReactor
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import ClientFactory, DatagramProtocol, Protocol
from twisted.internet.task import deferLater
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from sst.message import Request, Response, parse
from sst.protocol import StreamFramer
from sst.responses import makeResponse
from sst.tap import Options, SIPService
from sst.test._support import waitUntil

#: The reactor, for UDP and TCP (its typed interfaces do not let one type say both).
_REACTOR: Any = _globalReactor
_TIME = IReactorTime(_globalReactor)


def largeInvite(callerPort: int, calleePort: int, size: int = 1600) -> bytes:
    """
    An INVITE from a caller on UDP C{callerPort} for a callee on C{calleePort}, with a body
    that makes it about C{size} bytes.
    """
    body = b"v=0\r\na=x-filler:" + b"x" * size + b"\r\n"
    head = (
        "INVITE sip:bob@127.0.0.1:%d SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-large-1;rport\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:alice@127.0.0.1:%d>;tag=a1\r\n"
        "To: <sip:bob@127.0.0.1:%d>\r\n"
        "Call-ID: large-1\r\n"
        "CSeq: 1 INVITE\r\n"
        "Contact: <sip:alice@127.0.0.1:%d>\r\n"
        "Content-Type: application/sdp\r\n"
        "Content-Length: %d\r\n\r\n" % (calleePort, callerPort, callerPort, calleePort,
                                         callerPort, len(body))
    )
    return head.encode("ascii") + body


class _Datagrams(DatagramProtocol):
    """
    Keeps the datagrams it receives, and fires C{arrived} with the first one.
    """

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.arrived: Deferred[bytes] = Deferred()

    def datagramReceived(self, datagram: bytes, addr: tuple[str, int]) -> None:
        self.received.append(datagram)
        if not self.arrived.called:
            self.arrived.callback(datagram)


class _Stream(Protocol):
    """
    Frames what arrives on a TCP connection, fires C{arrived} with the first message and
    C{lost} when the connection closes.
    """

    def __init__(self, arrived: Deferred[bytes], lost: Deferred[None]) -> None:
        self.framer = StreamFramer()
        self.arrived = arrived
        self.lost = lost

    def dataReceived(self, data: bytes) -> None:
        for message in self.framer.feed(data):
            if not self.arrived.called:
                self.arrived.callback(message)

    def connectionLost(self, reason: Failure = Failure(Exception())) -> None:
        if not self.lost.called:
            self.lost.callback(None)


class _StreamFactory(ClientFactory):
    """
    Builds one L{_Stream}, for a server or a client.
    """

    def __init__(self) -> None:
        self.arrived: Deferred[bytes] = Deferred()
        self.lost: Deferred[None] = Deferred()
        self.proto: Optional[_Stream] = None

    def buildProtocol(self, addr: object) -> _Stream:
        self.proto = _Stream(self.arrived, self.lost)
        return self.proto


def answered(caller: _Datagrams, code: int) -> bool:
    """
    @return: whether C{caller} received a response with status C{code}.
    """
    return any(isinstance(m, Response) and m.code == code
               for m in map(parse, caller.received))


class TransportChoiceTests(TestCase):
    """
    A request over 1300 bytes for a UDP next hop goes over TCP, or over UDP when TCP is
    refused; an oversized request over TCP is answered 513.
    """

    timeout = 20

    def startProxy(self, *arguments: str) -> SIPService:
        """
        Start the SIP stack on 127.0.0.1, UDP and TCP; it is stopped when the test ends.
        """
        options = Options()
        options.parseOptions(["--listen", "udp:127.0.0.1:0", "--listen", "tcp:127.0.0.1:0",
                              "--state", "none", "--http", "none", "--no-gc-tuning",
                              *arguments])
        service = SIPService(options, _globalReactor)
        service.startService()
        self.addCleanup(service.stopService)
        return service

    def udp(self) -> tuple[_Datagrams, int]:
        """
        @return: a UDP socket on 127.0.0.1 (closed when the test ends) and its port.
        """
        proto = _Datagrams()
        port = _REACTOR.listenUDP(0, proto, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        address = port.getHost()
        assert isinstance(address, IPv4Address)
        return proto, address.port

    def sendToProxy(self, caller: _Datagrams, service: SIPService, data: bytes) -> None:
        """
        Send C{data} from C{caller}'s socket to the proxy's UDP port.
        """
        assert caller.transport is not None
        caller.transport.write(data, ("127.0.0.1", service.boundAddress("udp").port))

    def test_largeRequestOverTCP(self) -> Deferred[None]:
        """
        A 1.7 KB INVITE that arrives over UDP, for a next hop given as UDP, reaches the
        next hop over TCP on the same port, with a TCP top Via; nothing goes over UDP.
        """

        async def check() -> None:
            callee, port = self.udp()
            server = _StreamFactory()
            listening = _REACTOR.listenTCP(port, server, interface="127.0.0.1")
            self.addCleanup(listening.stopListening)
            service = self.startProxy("--next-hop", "sip:127.0.0.1:%d" % (port,))
            caller, callerPort = self.udp()
            self.sendToProxy(caller, service, largeInvite(callerPort, port))
            data = await server.arrived
            invite = parse(data)
            assert isinstance(invite, Request)
            self.assertGreater(len(data), 1300)
            tcp = service.boundAddress("tcp")
            self.assertTrue(invite.headerValues("via")[0].startswith(
                "SIP/2.0/TCP %s;branch=z9hG4bK" % (tcp.hostport(),)), data)
            self.assertEqual(callee.received, [])
            assert server.proto is not None and server.proto.transport is not None
            server.proto.transport.write(makeResponse(invite, 486, toTag="b1").toBytes())
            await waitUntil(lambda: answered(caller, 486))
            server.proto.transport.loseConnection()
            await server.lost
            await waitUntil(lambda: not service.transport._connections)

        return Deferred.fromCoroutine(check())

    def test_refusedFallsBackToUDP(self) -> Deferred[None]:
        """
        When nothing listens on TCP at the next hop (the connection is refused), the large
        INVITE reaches it over UDP, with a UDP top Via.
        """

        async def check() -> None:
            callee, port = self.udp()
            service = self.startProxy("--next-hop", "sip:127.0.0.1:%d" % (port,))
            caller, callerPort = self.udp()
            self.sendToProxy(caller, service, largeInvite(callerPort, port))
            data = await callee.arrived
            invite = parse(data)
            assert isinstance(invite, Request)
            udp = service.boundAddress("udp")
            self.assertTrue(invite.headerValues("via")[0].startswith(
                "SIP/2.0/UDP %s;branch=z9hG4bK" % (udp.hostport(),)), data)
            self.assertEqual(invite.body, parse(largeInvite(callerPort, port)).body)
            assert callee.transport is not None
            callee.transport.write(makeResponse(invite, 486, toTag="b1").toBytes(),
                                   ("127.0.0.1", udp.port))
            await waitUntil(lambda: answered(caller, 486))

        return Deferred.fromCoroutine(check())

    def test_oversizeOverTCPAnswered(self) -> Deferred[None]:
        """
        A request over C{--max-size} sent over TCP gets C{513 Message Too Large} on its
        connection, which the proxy then closes.
        """

        async def check() -> None:
            service = self.startProxy("--next-hop", "sip:127.0.0.1:9", "--max-size", "1000")
            client = _StreamFactory()
            connector = _REACTOR.connectTCP("127.0.0.1", service.boundAddress("tcp").port, client)
            self.addCleanup(connector.disconnect)
            await waitUntil(lambda: client.proto is not None and client.proto.transport is not None)
            assert client.proto is not None and client.proto.transport is not None
            data = largeInvite(5999, 9, size=1200).replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP")
            client.proto.transport.write(data)
            reply = parse(await client.arrived)
            assert isinstance(reply, Response)
            self.assertEqual((reply.code, reply.cseq().method), (513, "INVITE"))
            await client.lost

        return Deferred.fromCoroutine(check())
