# -*- test-case-name: sst.test.test_tls -*-
"""
Unit tests of SIP over TLS: the C{--tls-*} options and files (L{sst.tls}), the start-up
errors they give through twistd, and the places of the stack that know the transport.
"""
from __future__ import annotations

import os
import socket
import tempfile

from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.internet.error import ConnectionLost
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from sst.address import Address, addressForURI
from sst.handoff import WorkerLink, inboxPair
from sst.headers import parseURI
from sst.message import Request
from sst.ownership import Ownership
from sst.protocol import SIPStreamFactory, SIPStreamProtocol, TransportLayer, _responseAddress
from sst.stats import Stats
from sst.tap import Options, SIPService, StartupError, parseListen
from sst.test._tlscerts import Authority
from sst.testing import CALLEE, PROXY, ProxyHarness
from sst.test.test_tap import _twistd
from sst.test.test_transaction import (
    RecordingClientUser, RecordingTransport, parseRequest, requestBytes)
from sst.timers import TimerConfig
from sst.tls import TLSError, TLSSettings, loadTLS
from sst.transaction import TransactionLayer
from sst.workers import bindShared


def parsed(*args: str) -> Options:
    """
    Parse C{args} as the options of C{twistd sst}.
    """
    options = Options()
    options.parseOptions(["--state", "none", *args])
    return options


class OptionsTests(SynchronousTestCase):
    """
    The C{--listen tls:} and C{--tls-*} options.
    """

    def test_parseListen(self) -> None:
        """
        C{tls:HOST:PORT} is a listen address with transport C{tls}.
        """
        self.assertEqual(parseListen("tls:127.0.0.1:5061"), Address("tls", "127.0.0.1", 5061))
        self.assertEqual(parseListen("TLS:[::1]:5061"), Address("tls", "::1", 5061))

    def test_defaults(self) -> None:
        """
        Without TLS options, outgoing TLS verifies against the platform's trust store.
        """
        self.assertEqual(parsed()["tls"], TLSSettings(None, None, None, True))

    def test_listenNeedsCertificate(self) -> None:
        """
        A C{tls:} listen address without C{--tls-cert} and C{--tls-key} is a usage error.
        """
        e = self.assertRaises(UsageError, parsed, "--listen", "tls:127.0.0.1:5061")
        self.assertIn("--tls-cert and --tls-key", str(e))

    def test_certNeedsKey(self) -> None:
        """
        C{--tls-cert} without C{--tls-key}, or the other way round, is a usage error.
        """
        self.assertRaises(UsageError, parsed, "--tls-cert", "x.pem")
        self.assertRaises(UsageError, parsed, "--tls-key", "x.pem")

    def test_settings(self) -> None:
        """
        The options are gathered in a L{TLSSettings}.
        """
        options = parsed("--listen", "tls:127.0.0.1:5061", "--tls-cert", "c.pem",
                         "--tls-key", "k.pem", "--tls-ca", "ca.pem", "--tls-no-verify")
        self.assertEqual(options["tls"], TLSSettings("c.pem", "k.pem", "ca.pem", False))


class FilesTestCase(SynchronousTestCase):
    """
    A CA and a certificate in a temporary directory.
    """

    def setUp(self) -> None:
        self.directory = tempfile.mkdtemp()
        self.authority = Authority(self.directory)
        self.issued = self.authority.issue("sst", chain=True)

    def write(self, name: str, data: bytes) -> str:
        """
        @return: the path of a new file C{name} holding C{data}.
        """
        path = os.path.join(self.directory, name)
        with open(path, "wb") as f:
            f.write(data)
        return path


class LoadTests(FilesTestCase):
    """
    L{loadTLS} reads the files, or says in one line why it cannot.
    """

    def test_good(self) -> None:
        """
        A certificate with its chain, its key and a CA file load; the server context is
        made.
        """
        contexts = loadTLS(TLSSettings(self.issued.cert, self.issued.key, self.authority.cert))
        assert contexts.serverOptions is not None
        self.assertIsNotNone(contexts.serverOptions.getContext())
        self.assertIs(contexts.clientCreator("127.0.0.1"), contexts.clientCreator("127.0.0.1"))

    def test_missingCertificate(self) -> None:
        """
        A certificate file that cannot be read is named with the reason.
        """
        missing = os.path.join(self.directory, "nope.pem")
        e = self.assertRaises(TLSError, loadTLS, TLSSettings(missing, self.issued.key))
        self.assertEqual(str(e), "--tls-cert %s: No such file or directory" % (missing,))

    def test_notACertificate(self) -> None:
        """
        A certificate file without a PEM certificate is refused.
        """
        bad = self.write("bad.pem", b"hello\n")
        e = self.assertRaises(TLSError, loadTLS, TLSSettings(bad, self.issued.key))
        self.assertEqual(str(e), "--tls-cert %s: no PEM certificate in it" % (bad,))

    def test_badKey(self) -> None:
        """
        A key file that holds no PEM key is refused.
        """
        bad = self.write("bad.key", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
        e = self.assertRaises(TLSError, loadTLS, TLSSettings(self.issued.cert, bad))
        self.assertTrue(str(e).startswith("--tls-key %s: not a PEM private key" % (bad,)), str(e))
        self.assertNotIn("\n", str(e))

    def test_mismatchedKey(self) -> None:
        """
        A key that is not the certificate's is refused, naming both files.
        """
        other = self.authority.issue("other")
        e = self.assertRaises(TLSError, loadTLS, TLSSettings(self.issued.cert, other.key))
        self.assertIn("--tls-key %s does not match the certificate of --tls-cert %s"
                      % (other.key, self.issued.cert), str(e))

    def test_badAuthorities(self) -> None:
        """
        A C{--tls-ca} file without certificates is refused.
        """
        bad = self.write("ca.pem", b"")
        e = self.assertRaises(TLSError, loadTLS, TLSSettings(caFile=bad))
        self.assertEqual(str(e), "--tls-ca %s: no PEM certificate in it" % (bad,))

    def test_serviceStartupError(self) -> None:
        """
        L{SIPService} reads the files when it is made: a bad one is a L{StartupError}
        (exit status 1) with one line.
        """
        other = self.authority.issue("other")
        options = parsed("--listen", "tls:127.0.0.1:0", "--tls-cert", self.issued.cert,
                         "--tls-key", other.key)
        e = self.assertRaises(StartupError, SIPService, options, MemoryReactorClock())
        self.assertTrue(str(e.code).startswith("sst: --tls-key "), e.code)


class TwistdStartupErrorTests(FilesTestCase):
    """
    Through twistd, unusable TLS files are one line on standard error and exit status 1.
    """

    def assertOneLine(self, expected: str, *args: str) -> None:
        """
        Run twistd with C{args}: it fails with status 1, no traceback, and C{expected} in
        its output once.
        """
        result = _twistd("--listen", "tls:127.0.0.1:0", "--http", "none", "--state", "none",
                         *args)
        output = result.stdout + result.stderr
        self.assertEqual(result.returncode, 1, output)
        self.assertEqual(output.count(expected), 1, output)
        self.assertNotIn("Traceback", output)

    def test_missingCertificate(self) -> None:
        """
        A missing certificate file.
        """
        missing = os.path.join(self.directory, "nope.pem")
        self.assertOneLine("sst: --tls-cert %s: No such file or directory" % (missing,),
                           "--tls-cert", missing, "--tls-key", self.issued.key)

    def test_badKey(self) -> None:
        """
        A key file that is no key.
        """
        bad = self.write("bad.key", b"not a key\n")
        self.assertOneLine("sst: --tls-key %s: not a PEM private key" % (bad,),
                           "--tls-cert", self.issued.cert, "--tls-key", bad)

    def test_mismatchedKey(self) -> None:
        """
        A key that is not the certificate's.
        """
        other = self.authority.issue("other")
        self.assertOneLine("sst: --tls-key %s does not match" % (other.key,),
                           "--tls-cert", self.issued.cert, "--tls-key", other.key)

    def test_workersMismatchedKey(self) -> None:
        """
        With C{--workers}, the parent checks the files before it starts any worker.
        """
        other = self.authority.issue("other")
        self.assertOneLine("sst: --tls-key %s does not match" % (other.key,), "--workers", "2",
                           "--tls-cert", self.issued.cert, "--tls-key", other.key)

    def test_listenWithoutCertificate(self) -> None:
        """
        C{--listen tls:} without a certificate is a usage error.
        """
        self.assertOneLine("--listen tls:... needs --tls-cert and --tls-key")


class AddressTests(SynchronousTestCase):
    """
    Where a URI leads over TLS (RFC 3261 section 26.2.2, RFC 5630).
    """

    def test_sipsAndTransportTLS(self) -> None:
        """
        A C{sips} URI (whatever its transport parameter) and a C{sip} URI with
        C{transport=tls} lead to TLS, by default on port 5061.
        """
        for text in ["sips:bob@192.0.2.1", "sips:bob@192.0.2.1;transport=tcp",
                     "sip:bob@192.0.2.1;transport=TLS", "sips:bob@192.0.2.1;transport=udp"]:
            self.assertEqual(addressForURI(parseURI(text)), Address("tls", "192.0.2.1", 5061),
                             text)
        self.assertEqual(addressForURI(parseURI("sip:bob@192.0.2.1:5070;transport=tls")),
                         Address("tls", "192.0.2.1", 5070))

    def test_responseOnConnection(self) -> None:
        """
        A response to a request that came over TLS goes back on its connection, not to
        the Via's sent-by.
        """
        source = Address("tls", "192.0.2.1", 40000)
        self.assertEqual(_responseAddress({"rport": None}, "192.0.2.1", 5061, source), source)


class StreamTests(SynchronousTestCase):
    """
    The stream protocol under a TLS layer.
    """

    def setUp(self) -> None:
        self.layer = TransportLayer(Clock(), Stats())
        self.received: list[Address] = []
        self.layer.receiver = lambda message, source: self.received.append(source)

    def test_sourceIsTLS(self) -> None:
        """
        What arrives on a C{tls} stream protocol comes from a C{tls} address.
        """
        proto = SIPStreamFactory(self.layer, "tls").buildProtocol(None)
        proto.makeConnection(StringTransport())
        proto.dataReceived(requestBytes("OPTIONS"))
        self.assertEqual([a.transport for a in self.received], ["tls"])

    def test_noTCPForTLS(self) -> None:
        """
        A plain TCP connection to a peer is not used for a TLS send to the same address.
        """
        self.layer.reactor = MemoryReactorClock()
        plain = SIPStreamProtocol(self.layer)
        transport = StringTransport()
        plain.makeConnection(transport)
        peer = transport.getPeer()
        self.layer.send(b"x", Address("tls", peer.host, peer.port))
        self.assertEqual(transport.value(), b"")
        self.assertEqual(len(self.layer.reactor.tcpClients), 1)
        self.layer.send(b"y", Address("tcp", peer.host, peer.port))
        self.assertEqual(transport.value(), b"y")

    def test_handshakeFailed(self) -> None:
        """
        An outgoing TLS connection lost before its handshake is done tells those who wait
        for it, and counts a send error; one lost after it does not.
        """
        failures: list[Failure] = []
        proto = SIPStreamProtocol(self.layer, "tls")
        proto.makeConnection(StringTransport())
        proto.awaitHandshake(Address("tls", "192.0.2.1", 5061), [failures.append])
        proto.connectionLost(Failure(ConnectionLost()))
        self.assertEqual(len(failures), 1)
        self.assertEqual(self.layer.stats.snapshot()["send_errors"], 1)
        secured = SIPStreamProtocol(self.layer, "tls")
        secured.makeConnection(StringTransport())
        secured.awaitHandshake(Address("tls", "192.0.2.1", 5061), [failures.append])
        secured.handshakeCompleted()
        secured.connectionLost(Failure(ConnectionLost()))
        self.assertEqual(len(failures), 1)


class TransactionTests(SynchronousTestCase):
    """
    A client transaction over TLS whose connection fails.
    """

    def test_connectFailedEndsAtOnce(self) -> None:
        """
        When the TLS connection is not made, the transaction ends at once as timed out,
        leaving no timer.
        """
        clock = Clock()
        transport = RecordingTransport(clock)
        layer = TransactionLayer(transport, clock, TimerConfig(), None)
        user = RecordingClientUser()
        request = parseRequest(requestBytes("INVITE", via="SIP/2.0/TLS 203.0.113.1:5061"))
        transaction = layer.request(request, Address("tls", "192.0.2.1", 5061), user)
        [failed] = transport.connectFailed
        failed(Failure(ConnectionLost()))
        self.assertEqual(user.timeouts, [transaction])
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_tcpKeepsWaiting(self) -> None:
        """
        Over TCP (not sent there for its size), no one waits for the connection: a
        failed one is left to Timer B, as before.
        """
        clock = Clock()
        transport = RecordingTransport(clock)
        layer = TransactionLayer(transport, clock, TimerConfig(), None)
        user = RecordingClientUser()
        request = parseRequest(requestBytes("INVITE", via="SIP/2.0/TCP 203.0.113.1:5060"))
        layer.request(request, Address("tcp", "192.0.2.1", 5060), user)
        self.assertEqual(transport.connectFailed, [])
        clock.advance(32)
        self.assertEqual(len(user.timeouts), 1)


class WorkerTests(SynchronousTestCase):
    """
    With C{--workers}: TLS sockets are bound by the parent as TCP ones, and messages on TLS
    connections are handed between workers with their transport.
    """

    def test_bindShared(self) -> None:
        """
        A C{tls} address is bound as listening stream sockets.
        """
        sockets = bindShared(Address("tls", "127.0.0.1", 0), 2)
        for sock in sockets:
            self.addCleanup(sock.close)
            self.assertEqual(sock.type, socket.SOCK_STREAM)
            self.assertEqual(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN), 1)

    def test_adoptWrapsInTLS(self) -> None:
        """
        A worker adopts a C{tls} socket with the stream factory under a TLS layer.
        """
        directory = tempfile.mkdtemp()
        issued = Authority(directory).issue("sst")
        reactor = MemoryReactorClock()
        service = SIPService(parsed("--listen", "tls:127.0.0.1:0", "--tls-cert", issued.cert,
                                    "--tls-key", issued.key), reactor)
        factory = service._streamFactory(Address("tls", "127.0.0.1", 5061))
        assert isinstance(factory, TLSMemoryBIOFactory)
        wrapped = factory.wrappedFactory
        assert isinstance(wrapped, SIPStreamFactory)
        self.assertEqual(wrapped.transportName, "tls")
        plain = service._streamFactory(Address("tcp", "127.0.0.1", 5060))
        assert isinstance(plain, SIPStreamFactory)
        self.assertEqual(plain.transportName, "tcp")

    def test_handOff(self) -> None:
        """
        A message from a TLS peer is handed to its owner as TLS (envelope kind C{L}), which
        delivers it from a C{tls} address and sends back through the worker holding the
        connection, as TLS too (kind C{E}).
        """
        inboxes = [inboxPair(), inboxPair()]
        for pair in inboxes:
            for end in pair:
                self.addCleanup(end.close)
        outboxes = [writer for _, writer in inboxes]
        links = [WorkerLink(Ownership(k, 2), inboxes[k][0], outboxes, MemoryReactorClock(),
                            Stats()) for k in range(2)]
        received = _Receiver()
        links[0].receiver = received
        peer = Address("tls", "192.0.2.1", 40000)
        links[1].handOff(0, b"data", peer)
        links[0].doRead()
        self.assertEqual(received.delivered, [(b"data", peer)])
        self.assertEqual(received.held, [(("192.0.2.1", 40000), 1)])
        links[1].receiver = received
        links[0].sendThrough(1, b"back", peer)
        links[1].doRead()
        self.assertEqual(received.sent, [(b"back", peer)])


class _Receiver:
    """
    A L{HandOffReceiver} that records what it is given.
    """

    def __init__(self) -> None:
        self.delivered: list[tuple[bytes, Address]] = []
        self.held: list[tuple[tuple[str, int], int]] = []
        self.sent: list[tuple[bytes, Address]] = []

    def deliver(self, data: bytes, source: Address) -> None:
        self.delivered.append((data, source))

    def streamHeldBy(self, peer: tuple[str, int], worker: int) -> None:
        self.held.append((peer, worker))

    def send(self, data: bytes, address: Address) -> None:
        self.sent.append((data, address))


class ProxyTests(SynchronousTestCase):
    """
    The Via and Record-Route of what the proxy forwards over TLS.
    """

    #: sst's TLS address in these tests.
    TLS = Address("tls", "127.0.0.1", 5061)

    def forward(self, nextHop: str, uri: str) -> Request:
        """
        Forward an INVITE for C{uri} from the UDP caller to C{nextHop}.

        @return: what went to the next hop.
        """
        h = ProxyHarness(["--next-hop", nextHop])
        h.service.transport.listensAt(self.TLS)
        h.fromCaller(h.invite().replace("INVITE sip:bob@%s " % (CALLEE.hostport(),),
                                        "INVITE %s " % (uri,), 1))
        return h.lastRequestTo(addressForURI(parseURI(nextHop)))

    def test_transportTLS(self) -> None:
        """
        A request for a C{transport=tls} next hop goes over TLS with a C{SIP/2.0/TLS} Via
        and, since it came over UDP, two Record-Routes (RFC 5658): the TLS one, with
        C{transport=tls}, on top.
        """
        invite = self.forward("sip:127.0.0.1:5071;transport=tls", "sip:bob@127.0.0.1:5071")
        self.assertTrue(invite.headerValues("via")[0].startswith(
            "SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK"))
        self.assertEqual(invite.headerValues("record-route"),
                         ["<sip:127.0.0.1:5061;transport=tls;lr>", "<sip:%s;lr>"
                          % (PROXY.hostport(),)])

    def test_sips(self) -> None:
        """
        A C{sips} Request-URI goes over TLS (RFC 3261 section 26.2.2), and the TLS
        Record-Route is a C{sips} URI.
        """
        invite = self.forward("sips:127.0.0.1:5071", "sips:bob@127.0.0.1:5071")
        self.assertEqual(invite.headerValues("record-route")[0], "<sips:127.0.0.1:5061;lr>")


class UATests(SynchronousTestCase):
    """
    The Contact the B2BUA's UA core writes over TLS.
    """

    def test_contact(self) -> None:
        """
        Over TLS the UA core's Contact is its TLS address with C{transport=tls}, whether
        asked for the transport or for a request that came over TLS.
        """
        from sst.test.test_ua import Stack

        stack = Stack()
        stack.transport.listensAt(Address("tls", "127.0.0.1", 5061))
        self.assertEqual(stack.ua.contactFor(None, "tls"), "<sip:127.0.0.1:5061;transport=tls>")
        request = parseRequest(requestBytes("INVITE", via="SIP/2.0/TLS 192.0.2.1:5061"))
        request.source = Address("tls", "192.0.2.1", 40000)
        self.assertEqual(stack.ua.contactFor(request), "<sip:127.0.0.1:5061;transport=tls>")
