# -*- test-case-name: sst.test.test_protocol -*-
"""
SIP over UDP, TCP and TLS: Twisted protocols that turn bytes into messages and back (RFC 3261
section 18, RFC 3581; TLS is TCP's framing under a TLS layer, see L{sst.tls}).

The transport layer knows addresses, not transactions: it parses what arrives, stamps it with
its source and arrival time, fixes the top Via (C{received}, C{rport}), and hands it to one
receiver callable. What cannot be parsed is answered with a 400 when a reply is possible and
dropped and counted otherwise; nothing raises into the reactor.
"""
from __future__ import annotations

import errno
import re
import socket
from typing import TYPE_CHECKING, Callable, Optional, Union

from mypy_extensions import mypyc_attr
import twisted.internet.protocol  # noqa: F401 (named so that mypyc declares it)
from twisted.internet import protocol
from twisted.internet.endpoints import (
    HostnameEndpoint, TCP4ClientEndpoint, TCP6ClientEndpoint, wrapClientTLS)
from twisted.internet.interfaces import (
    IAddress, IHandshakeListener, IReactorTCP, IReactorTime, IStreamClientEndpoint)
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from sst.address import Address
from sst.floodlimit import FloodLimiter
from sst.handoff import WorkerLink
from sst.headers import SIPParseError, Via, readSentBy
from sst.message import DEFAULT_MAX_SIZE, Request, Response, parse
from sst.responses import makeResponse
from sst.stats import Stats

if TYPE_CHECKING:
    from sst.tls import TLSContexts

__all__ = ["TransportLayer", "SIPDatagramProtocol", "SIPStreamProtocol", "StreamFramer"]

Receiver = Callable[[Union[Request, Response], Address], None]

#: Told why a TCP connection a message waited for could not be made.
ConnectFailed = Callable[[Failure], None]

_CONTENT_LENGTH = re.compile(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*([0-9]+)[ \t]*\r?$")


#: Hosts already checked by L{numericFamily}: C{"4"}, C{"6"}, or C{""} (not numeric).
_FAMILIES: dict[str, str] = {}

#: Errors of C{sendto} that mean the datagram was lost, as UDP may lose it: counted, not
#: logged as failures (a full socket buffer under overload, an ICMP error from earlier).
_DATAGRAM_LOST = frozenset([errno.EAGAIN, errno.EWOULDBLOCK, errno.ENOBUFS, errno.ECONNREFUSED,
                            errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EMSGSIZE])


def numericFamily(host: str) -> str:
    """
    Whether C{host} is a numeric address a UDP socket can send to without a name lookup.

    @return: C{"4"} for an IPv4 address, C{"6"} for an IPv6 address (no brackets), C{""}
        for anything else; remembered per host (the cache is emptied when it gets large).
    """
    family = _FAMILIES.get(host)
    if family is not None:
        return family
    family = ""
    for code, name in ((socket.AF_INET, "4"), (socket.AF_INET6, "6")):
        try:
            socket.inet_pton(code, host)
        except (OSError, ValueError):
            continue
        family = name
        break
    if len(_FAMILIES) >= 65536:
        _FAMILIES.clear()
    _FAMILIES[host] = family
    return family


@mypyc_attr(allow_interpreted_subclasses=True)
class TransportLayer:
    """
    The bottom of the stack: sends bytes to addresses and delivers parsed messages upward.

    @ivar receiver: called with each parsed message and its source address.
    """

    _log = Logger()

    def __init__(
        self,
        clock: IReactorTime,
        stats: Stats,
        maxSize: int = DEFAULT_MAX_SIZE,
        reactor: Optional[IReactorTCP] = None,
        limiter: Optional[FloodLimiter] = None,
        tls: Optional[TLSContexts] = None,
    ) -> None:
        """
        @param limiter: the flood limits on requests per source (C{--flood-limit}), or
            L{None} for none.
        @param tls: the TLS contexts (L{sst.tls.loadTLS}) outgoing TLS connections are
            made with, or L{None}: then the platform's trust store, and no client
            certificate.
        """
        self.clock = clock
        self.stats = stats
        self.maxSize = maxSize
        self.reactor = reactor
        self.limiter = limiter
        self.tls = tls
        self.receiver: Optional[Receiver] = None
        self._udp: dict[str, SIPDatagramProtocol] = {}
        self._connections: dict[tuple[str, int], SIPStreamProtocol] = {}
        self._pending: dict[tuple[str, int], list[tuple[bytes, Optional[ConnectFailed]]]] = {}
        self.listening: dict[str, Address] = {}
        #: With C{--workers}: the link to the other workers, which own some of the messages
        #: this worker receives and hold some of the TCP connections it answers on.
        self.link: Optional[WorkerLink] = None
        #: With C{--workers}: the worker that holds the TCP connection to each peer whose
        #: messages another worker handed here.
        self._remoteStreams: dict[tuple[str, int], int] = {}

    def listensAt(self, bound: Address) -> None:
        """
        Note an address we listen at (the first of each transport and family is the one our
        Via and Record-Route name).
        """
        self.listening.setdefault(bound.transport + bound.family, bound)

    # -- sending -------------------------------------------------------------------------

    def localAddress(self, transport: str, family: str = "4") -> Address:
        """
        @return: the address we listen on for C{transport}, for Via and Record-Route.
        """
        return (
            self.listening.get(transport + family)
            or self.listening.get(transport + "4")
            or self.listening.get(transport + "6")
            or next(iter(self.listening.values()))
        )

    def listensOn(self, transport: str) -> bool:
        """
        @return: whether we listen on C{transport} (C{"udp"}, C{"tcp"} or C{"tls"}), in any
            family.
        """
        return any(key.startswith(transport) for key in self.listening)

    def send(self, data: bytes, address: Address,
             connectFailed: Optional[ConnectFailed] = None) -> None:
        """
        Send C{data} to C{address}; errors are logged and counted, never raised.

        A UDP datagram goes straight to the socket of the right family: the host was checked
        to be a numeric address once (L{numericFamily}), not on every datagram, and a full
        socket buffer or an unreachable peer is counted in C{send_errors}, not logged as a
        failure.

        @param connectFailed: over TCP or TLS, called with the reason when the connection
            this message waits for cannot be made (refused, reset, timed out, a TLS
            handshake that failed, a server certificate that did not verify); the message
            is then dropped.
        """
        try:
            if address.transport != "udp":
                self._sendStream(data, address, connectFailed)
            else:
                host = address.host
                family = _FAMILIES.get(host) or numericFamily(host)
                if not family:
                    self.stats.increment("send_errors")
                    self._log.warn("Not sending to {address}: not a numeric address",
                                   address=address)
                    return
                proto = self._udp.get(family)
                if proto is None or proto.transport is None:
                    self.stats.increment("send_errors")
                    self._log.warn("No UDP socket for {address}", address=address)
                    return
                if not proto.sendDatagram(data, (host, address.port)):
                    self.stats.increment("send_errors")
                    return
            self.stats.counters["bytes_out"] += len(data)
        except Exception:
            self.stats.increment("send_errors")
            self._log.failure("Sending to {address} failed", address=address)

    def sendMessage(self, message: Union[Request, Response], address: Address) -> None:
        """
        Serialise and send a message, counting it.
        """
        self.stats.increment("requests_out" if isinstance(message, Request) else "responses_out")
        self.send(message.toBytes(), address)

    def _sendStream(self, data: bytes, address: Address,
                    connectFailed: Optional[ConnectFailed] = None) -> None:
        key = (address.host, address.port)
        conn = self._connections.get(key)
        if (conn is not None and conn.transport is not None
                and conn.transportName == address.transport):
            conn.transport.write(data)
            return
        if self._remoteStreams:
            holder = self._remoteStreams.get(key)
            if holder is not None and self.link is not None:
                self.link.sendThrough(holder, data, address)
                return
        queue = self._pending.get(key)
        if queue is not None:
            queue.append((data, connectFailed))
            return
        if self.reactor is None:
            raise RuntimeError("no reactor to connect with")
        self._pending[key] = [(data, connectFailed)]
        d = self._streamEndpoint(address).connect(SIPStreamFactory(self, address.transport))

        def connected(proto: SIPStreamProtocol) -> None:
            pending = self._pending.pop(key, [])
            for chunk, _ in pending:
                assert proto.transport is not None
                proto.transport.write(chunk)
            if address.transport == "tls":
                # Connected, not yet secured: the handshake can still fail.
                proto.awaitHandshake(address, [callback for _, callback in pending
                                               if callback is not None])

        def failed(reason: Failure) -> None:
            dropped = self._pending.pop(key, [])
            self.stats.increment("send_errors", len(dropped))
            self._log.warn("TCP connect to {address} failed: {reason}", address=address,
                           reason=reason.getErrorMessage())
            for _, callback in dropped:
                if callback is None:
                    continue
                try:
                    callback(reason)
                except Exception:
                    self.stats.increment("internal_errors")
                    self._log.failure("Error after the TCP connect to {address} failed",
                                      address=address)

        d.addCallbacks(connected, failed)

    def _streamEndpoint(self, address: Address) -> IStreamClientEndpoint:
        """
        @return: the endpoint of a new TCP or TLS connection to C{address}; over TLS, the
            server's certificate must name C{address.host} (a numeric address, or the host
            name the connection looks up).
        """
        assert self.reactor is not None
        endpoint: IStreamClientEndpoint
        if address.transport == "tls" and not numericFamily(address.host):
            endpoint = HostnameEndpoint(self.reactor, address.host, address.port, timeout=10)
        else:
            endpointType = TCP6ClientEndpoint if address.family == "6" else TCP4ClientEndpoint
            endpoint = endpointType(self.reactor, address.host, address.port, timeout=10)
        if address.transport != "tls":
            return endpoint
        if self.tls is None:
            from sst.tls import TLSContexts, TLSSettings

            self.tls = TLSContexts(TLSSettings(), None, None, None)
        return wrapClientTLS(self.tls.clientCreator(address.host), endpoint)

    def streamHeldBy(self, peer: tuple[str, int], worker: int) -> None:
        """
        Note that another worker holds the TCP connection to C{peer}: what goes to C{peer}
        from here goes through that worker, unless this one has a connection of its own.
        """
        streams = self._remoteStreams
        if streams.get(peer) != worker:
            if len(streams) >= 65536:
                streams.clear()
            streams[peer] = worker

    def registerConnection(self, proto: SIPStreamProtocol, peer: tuple[str, int]) -> None:
        """
        Remember a TCP connection so responses and requests to C{peer} reuse it.
        """
        self._connections[peer] = proto

    def unregisterConnection(self, proto: SIPStreamProtocol, peer: tuple[str, int]) -> None:
        """
        Forget a closed TCP connection.
        """
        if self._connections.get(peer) is proto:
            del self._connections[peer]

    # -- receiving -----------------------------------------------------------------------

    def dataReceived(self, data: bytes, source: Address) -> None:
        """
        Parse one message and hand it up. Never raises.
        """
        counters = self.stats.counters
        counters["bytes_in"] += len(data)
        if data[:1] in b"\r\n" and not data.strip(b"\r\n"):
            return  # keep-alive (or nothing at all)
        limiter = self.limiter
        if limiter is not None and not data.startswith(b"SIP/") and not limiter.admit(source.host):
            self._flooded(data, source, limiter)
            return
        link = self.link
        if link is not None:
            ownership = link.ownership
            owner = ownership.ownerOfMessage(data)
            if owner is not None and owner != ownership.index:
                link.handOff(owner, data, source)
                return
        self.deliver(data, source)

    def deliver(self, data: bytes, source: Address) -> None:
        """
        Parse one message this worker owns (or that no worker owns: it has no Call-ID) and
        hand it up.  Never raises.
        """
        counters = self.stats.counters
        try:
            message = parse(data, self.maxSize)
        except SIPParseError as e:
            self._parseError(e, source)
            return
        except Exception:
            self.stats.increment("parse_errors")
            self._log.failure("Unexpected error parsing a message from {source}", source=source)
            return
        message.receivedAt = self.clock.seconds()
        message.source = source
        if isinstance(message, Request):
            counters["requests_in"] += 1
            try:
                self._fixVia(message, source)
            except SIPParseError as e:
                e.message = message
                self._parseError(e, source)
                return
        else:
            counters["responses_in"] += 1
        if self.receiver is None:
            return
        try:
            self.receiver(message, source)
        except Exception:
            self.stats.increment("internal_errors")
            self._log.failure("Error handling {message} from {source}", message=message,
                              source=source)

    def _parseError(self, error: SIPParseError, source: Address) -> None:
        """
        Answer a request that did not parse with the error's status when a response can be
        addressed (it has a Via, and is not an ACK); drop and count anything else.
        """
        self.stats.increment("parse_errors")
        partial = error.message
        if isinstance(partial, Request) and partial.method != "ACK" and partial.hasHeader("via"):
            try:
                address = self._errorAddress(partial, source)
                response = error.response(partial)
                response.source = source
                self.sendMessage(response, address)
                self._log.info("{status} to {address}: {reason}", status=error.status,
                               address=address, reason=error.reason)
                return
            except SIPParseError:
                pass
            except Exception:
                self._log.failure("Could not answer a bad request from {source}", source=source)
        self.stats.increment("dropped")
        self._log.info("Dropped a bad message from {source}: {reason}", source=source,
                       reason=error.reason)

    def _flooded(self, data: bytes, source: Address, limiter: FloodLimiter) -> None:
        """
        A request from a blocked source: dropped, or with C{--flood-action 503} answered
        C{503 Service Unavailable} with a C{Retry-After} of the time left in the block
        (RFC 3261 section 21.5.4), when it parses, is not an ACK and can be addressed.
        """
        if limiter.limits.action != "503":
            return
        try:
            request = parse(data, self.maxSize)
        except SIPParseError:
            return
        except Exception:
            self._log.failure("Unexpected error parsing a message from {source}", source=source)
            return
        if not isinstance(request, Request) or request.method == "ACK":
            return
        try:
            address = self._errorAddress(request, source)
            response = makeResponse(request, 503)
            response.addHeader("Retry-After", str(limiter.retryAfter(source.host)))
            self.sendMessage(response, address)
        except Exception:
            self._log.failure("Could not answer a request from blocked {source}", source=source)

    def _errorAddress(self, request: Request, source: Address) -> Address:
        """
        Where the answer to a request that did not parse goes (RFC 3261 section 18.2.2, RFC
        3581): as for any request when its top Via parses (C{received} and C{rport} added to
        it); else after what can still be read of that Via (L{readSentBy}): the source
        address, at the source port for C{rport} or else at the sent-by port; else, when no
        sent-by can be read, the source itself (the connection, for TCP).
        """
        try:
            self._fixVia(request, source)
            via = request.topVia()
            return _responseAddress(via.params, via.host, via.port, source)
        except SIPParseError:
            pass
        sentBy = readSentBy(request.header("via") or "")
        if source.transport != "udp" or sentBy is None:
            return source
        _, port, rport = sentBy
        if rport:
            return source
        return Address("udp", source.host, port if port is not None else 5060)

    def _fixVia(self, request: Request, source: Address) -> None:
        via = request.topVia()
        params = via.params
        rport = "rport" in params and params["rport"] is None
        # RFC 3581 section 4: with an empty rport, received is added even when it equals sent-by.
        if via.host == source.host and not rport:
            return
        params = dict(params)
        params["received"] = source.host
        if rport:
            params["rport"] = str(source.port)
        fixed = Via(via.transport, via.host, via.port, params)
        # The usual Via ends with an empty rport and is alone on its line: add the values to
        # its text as it came, rather than writing it anew.
        if not (rport and "received" not in via.params and request.extendTopVia(
                fixed, "=%d;received=%s" % (source.port, source.host))):
            request.replaceTopVia(fixed)


#: The valid C{rport} values seen, by their text (the ports peers send from).
_RPORTS: dict[str, int] = {}


def _responseAddress(params: dict[str, Optional[str]], host: str, port: Optional[int],
                     source: Address) -> Address:
    """
    Where a response goes (RFC 3261 section 18.2.2, RFC 3581): the connection it came on for
    TCP and TLS, else C{received}/C{rport} or the Via's sent-by.
    """
    if source.transport != "udp":
        return source
    rport = params.get("rport")
    target = params.get("received") or host
    if rport:
        port = _RPORTS.get(rport)
        if port is None:
            valid = (rport.isascii() and rport.isdigit() and len(rport) <= 5
                     and 0 < int(rport) < 65536)
            if not valid:
                return Address("udp", target, source.port)
            port = int(rport)
            if len(_RPORTS) >= 65536:
                _RPORTS.clear()
            _RPORTS[rport] = port
        return Address("udp", target, port)
    return Address("udp", target, port if port is not None else 5060)


def responseAddress(request: Request) -> Address:
    """
    @return: where responses to C{request} go.
    """
    via = request.topVia()
    source = request.source
    assert isinstance(source, Address)
    return _responseAddress(via.params, via.host, via.port, source)


class SIPDatagramProtocol(protocol.DatagramProtocol):
    """
    SIP over UDP: one datagram is one message (extra bytes after the body are ignored).
    """

    def __init__(self, layer: TransportLayer, family: str = "4") -> None:
        self.layer = layer
        self.family = family
        self._socket: Optional[socket.socket] = None

    #: Socket buffer asked for, so that bursts and collector pauses don't drop datagrams.
    socketBuffer = 4 * 1024 * 1024

    def startProtocol(self) -> None:
        self.layer._udp[self.family] = self
        handle = getattr(self.transport, "socket", None)
        self._socket = handle
        if handle is not None:
            for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                try:
                    handle.setsockopt(socket.SOL_SOCKET, option, self.socketBuffer)
                except OSError:
                    pass

    def sendDatagram(self, data: bytes, addr: tuple[str, int]) -> bool:
        """
        Send one datagram to a numeric address, on the socket itself: Twisted's
        C{udp.Port.write} checks the address again on every datagram.

        @return: whether the datagram went out (C{False} when the kernel dropped it: full
            buffer, unreachable network, too large).
        @raise OSError: on any other socket error.
        """
        sock = self._socket
        if sock is None:
            # A transport without a socket (a test's fake): its own write.
            assert self.transport is not None
            self.transport.write(data, addr)
            return True
        try:
            sock.sendto(data, addr)
        except InterruptedError:
            sock.sendto(data, addr)
        except OSError as e:
            if e.errno in _DATAGRAM_LOST:
                return False
            raise
        return True

    def stopProtocol(self) -> None:
        self._socket = None
        if self.layer._udp.get(self.family) is self:
            del self.layer._udp[self.family]

    def datagramReceived(self, datagram: bytes, addr: tuple[str, int]) -> None:
        source = _SOURCES.get(addr)
        if source is None:
            source = Address("udp", addr[0], addr[1])
            if len(_SOURCES) >= 65536:
                _SOURCES.clear()
            _SOURCES[addr] = source
        self.layer.dataReceived(datagram, source)


#: The addresses datagrams came from, made once per peer.
_SOURCES: dict[tuple[str, int], Address] = {}


class StreamFramer:
    """
    Cuts a byte stream into SIP messages by Content-Length (RFC 3261 section 18.3).
    """

    def __init__(self, maxSize: int = DEFAULT_MAX_SIZE) -> None:
        self.maxSize = maxSize
        self._buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        """
        Add bytes; return the complete messages they finish.

        @raise SIPParseError: when a message exceeds the size cap (the stream cannot be
            resynchronised and should be closed).
        """
        self._buffer += data
        messages: list[bytes] = []
        while True:
            buf = self._buffer.lstrip(b"\r\n")
            self._buffer = buf
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > self.maxSize:
                    raise SIPParseError("message too large", status=513)
                return messages
            head = buf[: end + 2]
            match = _CONTENT_LENGTH.search(head)
            digits = match.group(1).lstrip(b"0") if match else b""
            if len(digits) > 10:  # int() refuses more than 4300 digits; any such length is too large
                raise SIPParseError("message too large", status=513)
            length = int(digits) if digits else 0
            total = end + 4 + length
            if total > self.maxSize:
                raise SIPParseError("message too large", status=513)
            if len(buf) < total:
                return messages
            messages.append(buf[:total])
            self._buffer = buf[total:]

    def headerBlock(self) -> Optional[bytes]:
        """
        @return: the header block of the message being received, up to and including the
            empty line that ends it, or L{None} when it has not all arrived.
        """
        buf = self._buffer.lstrip(b"\r\n")
        end = buf.find(b"\r\n\r\n")
        return buf[: end + 4] if end >= 0 else None


@implementer(IHandshakeListener)
class SIPStreamProtocol(protocol.Protocol):
    """
    SIP over TCP or TLS: frames messages by Content-Length; the connection is reused for
    responses and for requests to the same peer.

    @ivar transportName: C{"tcp"}, or C{"tls"} under a TLS layer: the transport of the
        addresses of what arrives.
    """

    def __init__(self, layer: TransportLayer, transportName: str = "tcp") -> None:
        self.layer = layer
        self.transportName = transportName
        self.framer = StreamFramer(layer.maxSize)
        self.peer: Optional[tuple[str, int]] = None
        #: An outgoing TLS connection whose handshake is not done: the server, and who is
        #: told if it fails.
        self._handshake: Optional[tuple[Address, list[ConnectFailed]]] = None

    def awaitHandshake(self, server: Address, callbacks: list[ConnectFailed]) -> None:
        """
        The connection to C{server} is made, its TLS handshake not yet done: if the
        connection is lost before it is, the messages written are lost too, as if the
        connection had failed: count them and call C{callbacks} with the reason.
        """
        self._handshake = (server, callbacks)

    def handshakeCompleted(self) -> None:
        """
        See L{IHandshakeListener}: the TLS handshake is done, the server verified.
        """
        self._handshake = None

    def connectionMade(self) -> None:
        assert self.transport is not None
        peer: IAddress = self.transport.getPeer()
        self.peer = (getattr(peer, "host", ""), getattr(peer, "port", 0))
        self.layer.registerConnection(self, self.peer)

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        if self.peer is not None:
            self.layer.unregisterConnection(self, self.peer)
        handshake, self._handshake = self._handshake, None
        if handshake is not None:
            self._handshakeFailed(handshake[0], handshake[1], reason)

    def _handshakeFailed(self, server: Address, callbacks: list[ConnectFailed],
                         reason: Failure) -> None:
        layer = self.layer
        layer.stats.increment("send_errors")
        layer._log.warn("TLS connection to {address} failed: {reason}", address=server,
                        reason=reason.getErrorMessage())
        for callback in callbacks:
            try:
                callback(reason)
            except Exception:
                layer.stats.increment("internal_errors")
                layer._log.failure("Error after the TLS connection to {address} failed",
                                   address=server)

    def dataReceived(self, data: bytes) -> None:
        assert self.peer is not None
        try:
            messages = self.framer.feed(data)
        except SIPParseError as e:
            self._tooLarge(e, Address(self.transportName, self.peer[0], self.peer[1]))
            return
        source = Address(self.transportName, self.peer[0], self.peer[1])
        for message in messages:
            self.layer.dataReceived(message, source)


    def _tooLarge(self, error: SIPParseError, source: Address) -> None:
        """
        A message passed the size cap: answer it C{513 Message Too Large} on this connection
        when it is a request whose header block arrived, fits the cap and parses well enough
        (as over UDP), then close the connection, which cannot be resynchronised.
        """
        head = self.framer.headerBlock()
        if head is not None:
            try:
                error.message = parse(head, self.layer.maxSize)
            except SIPParseError as e:
                error.message = e.message
            except Exception:
                self.layer._log.failure("Unexpected error parsing a message from {source}",
                                        source=source)
        self.layer._parseError(error, source)
        self.layer._log.info("Closing {transport} connection from {peer}: {reason}",
                             transport=self.transportName.upper(), peer=self.peer,
                             reason=error.reason)
        assert self.transport is not None
        self.transport.loseConnection()


class SIPStreamFactory(protocol.Factory):
    """
    Builds L{SIPStreamProtocol}s for one transport layer, for listening and connecting.

    @ivar transportName: C{"tcp"}, or C{"tls"} for the protocols under a TLS layer (which
        wraps this factory).
    """

    def __init__(self, layer: TransportLayer, transportName: str = "tcp") -> None:
        self.layer = layer
        self.transportName = transportName

    def buildProtocol(self, addr: Optional[IAddress]) -> SIPStreamProtocol:
        return SIPStreamProtocol(self.layer, self.transportName)
