# -*- test-case-name: sst.test.test_tls_network -*-
"""
SIP over TLS on loopback: sst in-process on the real reactor, Twisted TLS peers in the test
(a caller that connects to sst, a callee that sst connects to), and certificates from a CA
made for each test.
"""
from __future__ import annotations

import tempfile
from typing import Any, Callable, Optional

from twisted.internet import reactor as _globalReactor
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, wrapClientTLS
from twisted.internet.interfaces import IReactorTime, ITCPTransport
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.ssl import Certificate, PrivateCertificate, optionsForClientTLS
from twisted.internet.task import deferLater
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from sst.message import Request, Response, parse
from sst.protocol import StreamFramer
from sst.responses import makeResponse
from sst.tap import Options, SIPService
from sst.test._tlscerts import Authority, Issued
from sst.test._support import waitUntil

_REACTOR: Any = _globalReactor
_TIME = IReactorTime(_globalReactor)


class Peer(Protocol):
    """
    One end of a SIP-over-TLS connection in the test: keeps the messages it receives.
    """

    def __init__(self, received: list[Request | Response]) -> None:
        self.framer = StreamFramer()
        self.received = received
        self.lost = False

    def dataReceived(self, data: bytes) -> None:
        for message in self.framer.feed(data):
            self.received.append(parse(message))

    def connectionLost(self, reason: Failure = Failure(Exception())) -> None:
        self.lost = True

    def abort(self) -> None:
        """
        Drop the connection, unless it is gone already.
        """
        if self.transport is not None and not self.lost:
            ITCPTransport(self.transport).abortConnection()

    def sendMessage(self, message: Request | Response | bytes) -> None:
        """
        Write a message on the connection.
        """
        assert self.transport is not None
        self.transport.write(message if isinstance(message, bytes) else message.toBytes())


class PeerFactory(Factory):
    """
    Builds L{Peer}s that share one list of what they received.
    """

    def __init__(self) -> None:
        self.received: list[Request | Response] = []
        self.peers: list[Peer] = []

    def buildProtocol(self, addr: object) -> Peer:
        peer = Peer(self.received)
        self.peers.append(peer)
        return peer

    def abort(self) -> None:
        """
        Drop every connection.
        """
        for peer in self.peers:
            peer.abort()

    def requests(self, method: str) -> list[Request]:
        """
        @return: the requests of C{method} received.
        """
        return [m for m in self.received if isinstance(m, Request) and m.method == method]

    def responses(self, code: int) -> list[Response]:
        """
        @return: the responses with status C{code} received.
        """
        return [m for m in self.received if isinstance(m, Response) and m.code == code]


def request(method: str, uri: str, branch: str, cseq: int, extra: str = "",
            callId: str = "tls-call-1", toTag: str = "") -> bytes:
    """
    A request from the caller (alice), over TLS.
    """
    to = "<sip:bob@127.0.0.1>" + (";tag=%s" % (toTag,) if toTag else "")
    return (
        "%s %s SIP/2.0\r\n"
        "Via: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bK-%s;rport\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:alice@127.0.0.1>;tag=a1\r\n"
        "To: %s\r\n"
        "Call-ID: %s\r\n"
        "CSeq: %d %s\r\n"
        "Contact: <sip:alice@127.0.0.1:5999;transport=tls>\r\n"
        "%s"
        "Content-Length: 0\r\n\r\n" % (method, uri, branch, to, callId, cseq, method, extra)
    ).encode("ascii")


class TLSTestCase(TestCase):
    """
    Makes the certificates, starts sst and the peers; everything is closed at the end.
    """

    timeout = 30

    def setUp(self) -> None:
        self.directory = tempfile.mkdtemp()
        self.authority = Authority(self.directory)
        self.server = self.authority.issue("sst", chain=True)

    def startSST(self, *arguments: str, ca: Optional[str] = None) -> SIPService:
        """
        Start sst on 127.0.0.1 over TLS (and UDP), with the test CA as its trust root
        unless C{ca} says another file; stopped when the test ends.
        """
        options = Options()
        options.parseOptions([
            "--listen", "udp:127.0.0.1:0", "--listen", "tls:127.0.0.1:0",
            "--tls-cert", self.server.cert, "--tls-key", self.server.key,
            "--tls-ca", ca or self.authority.cert,
            "--state", "none", "--http", "none", "--no-gc-tuning", *arguments])
        service = SIPService(options, _globalReactor)
        service.startService()
        self.addCleanup(service.stopService)
        return service

    def callee(self, issued: Issued) -> tuple[PeerFactory, int]:
        """
        A TLS server on 127.0.0.1 presenting C{issued}.

        @return: its factory and port.
        """
        with open(issued.cert, "rb") as c, open(issued.key, "rb") as k:
            options = PrivateCertificate.loadPEM(c.read() + k.read()).options()
        factory = PeerFactory()
        port = _REACTOR.listenTCP(0, TLSMemoryBIOFactory(options, False, factory),
                                  interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.addCleanup(factory.abort)
        address = port.getHost()
        assert isinstance(address, IPv4Address)
        return factory, address.port

    async def caller(self, service: SIPService) -> tuple[PeerFactory, Peer]:
        """
        Connect to sst over TLS, checking its certificate against the test CA.
        """
        with open(self.authority.cert, "rb") as f:
            trust = Certificate.loadPEM(f.read())
        factory = PeerFactory()
        endpoint = TCP4ClientEndpoint(_REACTOR, "127.0.0.1", service.boundAddress("tls").port)
        peer = await wrapClientTLS(optionsForClientTLS("127.0.0.1", trustRoot=trust),
                                   endpoint).connect(factory)
        assert isinstance(peer, Peer)
        self.addCleanup(peer.abort)
        return factory, peer


class OptionsOverTLSTests(TLSTestCase):
    """
    sst answers over TLS.
    """

    def test_optionsToSelf(self) -> Deferred[None]:
        """
        An OPTIONS for sst itself over TLS gets 200 on the same connection, after the caller
        verified sst's certificate (chain from C{--tls-cert}) against the test CA.
        """

        async def check() -> None:
            service = self.startSST()
            tls = service.boundAddress("tls")
            self.assertEqual(tls.transport, "tls")
            factory, peer = await self.caller(service)
            peer.sendMessage(request("OPTIONS", "sip:%s" % (tls.hostport(),), "o1", 1))
            await waitUntil(lambda: bool(factory.responses(200)))
            self.assertEqual(service.stats.snapshot()["options_answered"], 1)

        return Deferred.fromCoroutine(check())


class CallOverTLSTests(TLSTestCase):
    """
    A call from a TLS caller to a TLS callee through the proxy.
    """

    def test_call(self) -> Deferred[None]:
        """
        INVITE, 200, ACK and BYE go from a TLS caller through sst to a TLS next hop (given
        as C{transport=tls}) whose certificate names 127.0.0.1; the requests sst forwards
        carry its C{SIP/2.0/TLS} Via and a C{;transport=tls} Record-Route.
        """

        async def check() -> None:
            callee, calleePort = self.callee(self.authority.issue("callee"))
            service = self.startSST(
                "--next-hop", "sip:127.0.0.1:%d;transport=tls" % (calleePort,))
            tls = service.boundAddress("tls")
            callers, caller = await self.caller(service)
            contact = "sip:bob@127.0.0.1:%d;transport=tls" % (calleePort,)
            caller.sendMessage(request("INVITE", "sip:bob@127.0.0.1", "i1", 1))
            await waitUntil(lambda: bool(callee.requests("INVITE")))
            invite = callee.requests("INVITE")[0]
            recordRoute = "<sip:%s;transport=tls;lr>" % (tls.hostport(),)
            self.assertEqual(invite.headerValues("record-route"), [recordRoute])
            self.assertTrue(invite.headerValues("via")[0].startswith(
                "SIP/2.0/TLS %s;branch=z9hG4bK" % (tls.hostport(),)))
            ok = makeResponse(invite, 200, toTag="b1")
            ok.addHeader("Record-Route", recordRoute)
            ok.addHeader("Contact", "<%s>" % (contact,))
            callee.peers[0].sendMessage(ok)
            await waitUntil(lambda: bool(callers.responses(200)))
            answer = callers.responses(200)[0]
            self.assertEqual(answer.headerValues("record-route"), [recordRoute])
            route = "Route: %s\r\n" % (recordRoute,)
            caller.sendMessage(request("ACK", contact, "a1", 1, route, toTag="b1"))
            await waitUntil(lambda: bool(callee.requests("ACK")))
            caller.sendMessage(request("BYE", contact, "b1", 2, route, toTag="b1"))
            await waitUntil(lambda: bool(callee.requests("BYE")))
            bye = callee.requests("BYE")[0]
            self.assertTrue(bye.headerValues("via")[0].startswith("SIP/2.0/TLS "))
            callee.peers[0].sendMessage(makeResponse(bye, 200))
            await waitUntil(lambda: len(callers.responses(200)) == 2)
            self.assertEqual(len(callee.peers), 1)  # One connection, reused.

        return Deferred.fromCoroutine(check())


class VerificationTests(TLSTestCase):
    """
    sst checks the certificates of the servers it connects to.
    """

    async def inviteTo(self, issued: Issued, *arguments: str) -> tuple[PeerFactory, PeerFactory]:
        """
        Send an INVITE through sst to a TLS callee presenting C{issued}.

        @return: what the caller and the callee received once the caller has a final
            response.
        """
        callee, calleePort = self.callee(issued)
        service = self.startSST(
            "--next-hop", "sip:127.0.0.1:%d;transport=tls" % (calleePort,), *arguments)
        callers, caller = await self.caller(service)
        caller.sendMessage(request("INVITE", "sip:bob@127.0.0.1", "v1", 1))
        await waitUntil(lambda: any(isinstance(m, Response) and m.code >= 200
                                for m in callers.received))
        return callers, callee

    def test_unknownAuthority(self) -> Deferred[None]:
        """
        A next hop whose certificate comes from a CA sst does not trust is not sent the
        INVITE: the handshake fails, and the caller gets 408 at once (not after Timer B).
        """

        async def check() -> None:
            other = Authority(self.directory, "other CA")
            started = _TIME.seconds()
            callers, callee = await self.inviteTo(other.issue("stranger"))
            self.assertEqual(callers.responses(408)[0].code, 408)
            self.assertEqual(callee.requests("INVITE"), [])
            self.assertLess(_TIME.seconds() - started, 10)

        return Deferred.fromCoroutine(check())

    def test_wrongName(self) -> Deferred[None]:
        """
        A next hop at 127.0.0.1 whose certificate, from the trusted CA, names only
        C{example.com} is refused too.
        """

        async def check() -> None:
            issued = self.authority.issue("elsewhere", hosts=["example.com"], addresses=[])
            callers, callee = await self.inviteTo(issued)
            self.assertTrue(callers.responses(408))
            self.assertEqual(callee.requests("INVITE"), [])

        return Deferred.fromCoroutine(check())

    def test_noVerify(self) -> Deferred[None]:
        """
        With C{--tls-no-verify}, the same next hop of an unknown CA gets the INVITE.
        """

        async def check() -> None:
            other = Authority(self.directory, "other CA")
            callee, calleePort = self.callee(other.issue("stranger"))
            service = self.startSST(
                "--next-hop", "sip:127.0.0.1:%d;transport=tls" % (calleePort,),
                "--tls-no-verify")
            callers, caller = await self.caller(service)
            caller.sendMessage(request("INVITE", "sip:bob@127.0.0.1", "n1", 1))
            await waitUntil(lambda: bool(callee.requests("INVITE")))

        return Deferred.fromCoroutine(check())
