# -*- test-case-name: sst.test.test_torture_network -*-
"""
RFC 4475's C{baddn}, C{badinv01} and C{badvers} sent over real loopback sockets (UDP and
TCP) to the whole service running in trial's reactor: the answers come back over the real
protocol path, to the address RFC 3261 section 18.2.2 gives.

The messages are the corpus files (L{sst.test.test_torture}), with only the sent-by of their
top Via pointed at this test's socket, so that the answer can be received; the faults stay.
"""
from __future__ import annotations

import os
from twisted.internet import reactor as _globalReactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import DatagramProtocol, Protocol
from twisted.trial.unittest import TestCase

from sst.tap import Options, SIPService

#: The RFC 4475 messages of the corpus.
CORPUS = os.path.join(os.path.dirname(__file__), "data", "torture", "invalid")


def rfcMessage(name: str, sentBy: bytes, port: int) -> bytes:
    """
    @return: RFC 4475's message C{name}, its top Via's sent-by C{sentBy} replaced by
        127.0.0.1 and C{port}.
    """
    with open(os.path.join(CORPUS, "rfc4475-%s.sip" % (name,)), "rb") as f:
        data = f.read()
    assert b"UDP " + sentBy in data
    return data.replace(b"UDP " + sentBy, b"UDP 127.0.0.1:%d" % (port,), 1)


class _Collector(DatagramProtocol):
    """
    Fires C{received} with the first datagram that arrives.
    """

    def __init__(self) -> None:
        self.received: Deferred[bytes] = Deferred()

    def datagramReceived(self, datagram: bytes, addr: object) -> None:
        if not self.received.called:
            self.received.callback(datagram)


class _StreamCollector(Protocol):
    """
    Fires C{received} with the first complete header block that arrives.
    """

    def __init__(self) -> None:
        self.received: Deferred[bytes] = Deferred()
        self._buffer = b""

    def dataReceived(self, data: bytes) -> None:
        self._buffer += data
        if b"\r\n\r\n" in self._buffer and not self.received.called:
            self.received.callback(self._buffer)


class TortureNetworkTests(TestCase):
    """
    The RFC 4475 messages through real sockets.
    """

    timeout = 20

    def setUp(self) -> None:
        options = Options()
        options.parseOptions(
            ["--listen", "udp:127.0.0.1:0", "--listen", "tcp:127.0.0.1:0", "--state", "none",
             "--next-hop", "sip:127.0.0.1:9"])
        self.service = SIPService(options, _globalReactor)
        self.service.startService()
        self.addCleanup(self.service.stopService)
        self.collector = _Collector()
        port = _globalReactor.listenUDP(0, self.collector, interface="127.0.0.1")  # type: ignore[attr-defined]
        self.addCleanup(port.stopListening)
        self.port: int = port.getHost().port

    async def exchange(self, data: bytes) -> bytes:
        """
        Send C{data} from the test's UDP socket to the proxy.

        @return: the first datagram that comes back.
        """
        assert self.collector.transport is not None
        self.collector.transport.write(data, ("127.0.0.1", self.service.boundAddress("udp").port))
        return await self.collector.received

    def assertNoForwarding(self) -> None:
        """
        Nothing was forwarded, and the bad request counted as a parse error or answered
        by the proxy, never dropped nor an internal error.
        """
        stats = self.service.stats
        self.assertEqual((stats.get("requests_out"), stats.get("dropped"), stats.get("internal_errors")),
                         (0, 0, 0))

    def test_badvers(self) -> None:
        """
        C{badvers} (SIP/7.0 request line and Via) gets 505 Version Not Supported at the
        Via's sent-by.
        """
        async def check() -> None:
            reply = await self.exchange(rfcMessage("badvers", b"c.example.com", self.port))
            self.assertTrue(reply.startswith(b"SIP/2.0 505 Version Not Supported\r\n"), reply)
            self.assertIn(b"\r\nCall-ID: badvers.31417@c.example.com\r\n", reply)
            self.assertNoForwarding()

        return Deferred.fromCoroutine(check())  # type: ignore[return-value]

    def test_badinv01(self) -> None:
        """
        C{badinv01} (Via C{;;,;,,}) gets a 400 at the Via's sent-by.
        """
        async def check() -> None:
            reply = await self.exchange(rfcMessage("badinv01", b"192.0.2.15", self.port))
            self.assertTrue(reply.startswith(b"SIP/2.0 400 "), reply)
            self.assertIn(b"\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;;,;,,\r\n" % (self.port,), reply)
            self.assertNoForwarding()

        return Deferred.fromCoroutine(check())  # type: ignore[return-value]

    def test_baddn(self) -> None:
        """
        C{baddn} (unquoted display names with a comma) gets a 400 and is not forwarded.
        """
        async def check() -> None:
            reply = await self.exchange(rfcMessage("baddn", b"c.example.com:5060", self.port))
            self.assertTrue(reply.startswith(b"SIP/2.0 400 bad display name\r\n"), reply)
            self.assertNoForwarding()

        return Deferred.fromCoroutine(check())  # type: ignore[return-value]

    def test_badversTCP(self) -> None:
        """
        Over TCP, the 505 to C{badvers} comes back on the connection, whatever its Via says.
        """
        async def check() -> None:
            endpoint = TCP4ClientEndpoint(_globalReactor, "127.0.0.1",
                                          self.service.boundAddress("tcp").port)
            client = _StreamCollector()
            await connectProtocol(endpoint, client)
            assert client.transport is not None
            self.addCleanup(client.transport.loseConnection)
            data = rfcMessage("badvers", b"c.example.com", 9).replace(b"SIP/7.0/UDP", b"SIP/7.0/TCP")
            client.transport.write(data)
            reply = await client.received
            self.assertTrue(reply.startswith(b"SIP/2.0 505 Version Not Supported\r\n"), reply)
            self.assertNoForwarding()

        return Deferred.fromCoroutine(check())  # type: ignore[return-value]


