# -*- test-case-name: sst.test.test_handoff -*-
"""
The links between workers (C{--workers N}): how a worker hands a message it does not own to
its owner, sends over a TCP connection another worker holds, and shares registrations.

Each worker has an inbox: one end of an C{AF_UNIX} datagram socket pair that the parent
made and keeps open, so that what is sent to a worker while it restarts waits for it.  Every
worker holds the other end of every inbox.  The kernel keeps datagram boundaries, and does
not apply its small queue limit (C{net.unix.max_dgram_qlen}) between the two ends of a pair:
only the send buffer bounds what waits.  A datagram that finds the buffer full is dropped and
counted (C{handoff_dropped}), as UDP would lose it: SIP retransmits.

An envelope is one datagram: a kind byte, then for messages a header (the worker that sends
it, the peer's port and host) and the message's bytes exactly as they arrived:

  - C{U}: a UDP datagram from the peer, for its owner;
  - C{T}: a message that came on a TCP connection the sending worker holds, for its owner,
    which sends what goes back to that peer through that worker;
  - C{S}: bytes to send to the peer over the TCP connection this worker holds;
  - C{L} and C{E}: as C{T} and C{S}, for a TLS connection;
  - C{B}: changes to the location service, in JSON, to apply (every worker holds every
    binding, since a call for a user can reach any worker);
  - C{Y}: a restarted worker asks for every binding.
"""
from __future__ import annotations

import json
import math
import socket
import struct
from typing import Any, Optional, Protocol, Sequence

from twisted.internet.interfaces import IReactorFDSet, IReadDescriptor
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from sst.address import Address
from sst.ownership import Ownership
from sst.registrar import LocationService
from sst.stats import Stats

__all__ = ["WorkerLink", "HandOffReceiver", "encodeMessage", "decodeMessage", "inboxPair"]

_HEADER = struct.Struct("!cBHB")

#: Send buffer asked for each inbox: room for a few thousand messages in flight.
INBOX_BUFFER = 8 * 1024 * 1024

#: Most bindings in one C{B} envelope.
_BATCH = 100

#: Most envelopes read in one go before the reactor gets its turn back.
_READ_BURST = 200

#: The envelope kind of a message handed off, by the transport it came on.
_RECEIVED_KINDS = {"udp": b"U", "tcp": b"T", "tls": b"L"}

_SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)


def inboxPair() -> tuple[socket.socket, socket.socket]:
    """
    Make one worker's inbox.

    @return: the end the worker reads, and the end every worker sends to, with a large send
        buffer (beyond C{net.core.wmem_max} when the process may).
    """
    reader, writer = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    for option in (_SO_SNDBUFFORCE, socket.SO_SNDBUF):
        try:
            writer.setsockopt(socket.SOL_SOCKET, option, INBOX_BUFFER)
            break
        except OSError:
            continue
    return reader, writer


def encodeMessage(kind: bytes, worker: int, peer: Address, data: bytes) -> bytes:
    """
    @param kind: C{b"U"}, C{b"T"} or C{b"S"}.
    @param worker: the sending worker.
    @param peer: the peer the message came from or goes to.
    @param data: the message, as it arrived or is to be sent.
    @return: the envelope.
    """
    host = peer.host.encode("ascii")
    return _HEADER.pack(kind, worker, peer.port, len(host)) + host + data


def decodeMessage(envelope: bytes) -> tuple[bytes, int, tuple[str, int], bytes]:
    """
    Read an envelope made by L{encodeMessage}.

    @return: the kind, the sending worker, the peer's host and port, and the message.
    @raise ValueError: when the envelope is cut short.
    """
    if len(envelope) < _HEADER.size:
        raise ValueError("short envelope")
    kind, worker, port, length = _HEADER.unpack_from(envelope)
    start = _HEADER.size + length
    if len(envelope) < start:
        raise ValueError("short envelope")
    host = envelope[_HEADER.size:start].decode("ascii")
    return kind, worker, (host, port), envelope[start:]


class HandOffReceiver(Protocol):
    """
    What a worker link delivers to: the transport layer's side of a hand-off.
    """

    def deliver(self, data: bytes, source: Address) -> None:
        """
        Process a message handed over by the worker that received it.
        """

    def streamHeldBy(self, peer: tuple[str, int], worker: int) -> None:
        """
        Note that the TCP connection to C{peer} is held by C{worker}.
        """

    def send(self, data: bytes, address: Address) -> None:
        """
        Send C{data} to C{address}.
        """


@implementer(IReadDescriptor)
class WorkerLink:
    """
    One worker's end of the links: its inbox, and a way to every worker's inbox.

    @ivar ownership: which worker this is, of how many.
    @ivar receiver: the transport layer messages are delivered to.
    @ivar locations: the location service whose changes are shared, or L{None}.
    """

    _log = Logger()

    def __init__(self, ownership: Ownership, inbox: socket.socket,
                 outboxes: Sequence[socket.socket], reactor: IReactorFDSet, stats: Stats,
                 maxSize: int = 65535) -> None:
        """
        @param inbox: the end of this worker's inbox it reads.
        @param outboxes: the sending end of every worker's inbox, by worker index (this
            worker's own is never used).
        @param reactor: watches the inbox.
        @param maxSize: the largest SIP message (C{--max-size}).
        """
        self.ownership = ownership
        self.inbox = inbox
        self.outboxes = list(outboxes)
        self.reactor = reactor
        self.stats = stats
        self.receiver: Optional[HandOffReceiver] = None
        self.locations: Optional[LocationService] = None
        self._bufferSize = maxSize + 512
        inbox.setblocking(False)
        for outbox in self.outboxes:
            outbox.setblocking(False)

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, receiver: HandOffReceiver, locations: Optional[LocationService]) -> None:
        """
        Read the inbox from now on, share location changes, and ask another worker for the
        bindings it holds (when this one restarts, the others hold them all).
        """
        self.receiver = receiver
        self.locations = locations
        if locations is not None:
            locations.listener = self._locationsChanged
        self.reactor.addReader(self)
        if locations is not None and self.ownership.workers > 1:
            peer = (self.ownership.index + 1) % self.ownership.workers
            self._post(peer, b"Y" + bytes([self.ownership.index]))

    def stop(self) -> None:
        """
        Stop reading the inbox and sharing changes.
        """
        self.reactor.removeReader(self)
        if self.locations is not None and self.locations.listener == self._locationsChanged:
            self.locations.listener = None

    # -- sending -----------------------------------------------------------------------

    def handOff(self, owner: int, data: bytes, source: Address) -> None:
        """
        Hand a message this worker received to its owner: C{U} for UDP, C{T} for TCP,
        C{L} for TLS.
        """
        kind = _RECEIVED_KINDS.get(source.transport, b"U")
        self.stats.increment("handoffs_out")
        self._post(owner, encodeMessage(kind, self.ownership.index, source, data))

    def sendThrough(self, worker: int, data: bytes, address: Address) -> None:
        """
        Send C{data} to C{address} over the TCP or TLS connection C{worker} holds.
        """
        kind = b"E" if address.transport == "tls" else b"S"
        self._post(worker, encodeMessage(kind, self.ownership.index, address, data))

    def _post(self, worker: int, envelope: bytes) -> None:
        try:
            self.outboxes[worker].send(envelope)
        except (BlockingIOError, InterruptedError, ConnectionRefusedError):
            self.stats.increment("handoff_dropped")
        except OSError as e:
            self.stats.increment("handoff_dropped")
            self._log.warn("Hand-off to worker {worker} failed: {error}", worker=worker,
                           error=e)

    def _broadcast(self, envelope: bytes) -> None:
        for worker in range(self.ownership.workers):
            if worker != self.ownership.index:
                self._post(worker, envelope)

    # -- registrations -----------------------------------------------------------------

    def _locationsChanged(self, change: list[Any]) -> None:
        self._broadcast(b"B" + json.dumps([change]).encode("utf-8"))

    def _sendBindings(self, worker: int) -> None:
        """
        Send every binding held here to C{worker}, in batches.
        """
        locations = self.locations
        if locations is None:
            return
        now = locations.clock.seconds()
        batch: list[Any] = []
        for aor, binding in locations.items():
            left = math.ceil(binding.expiresAt - now)
            if left <= 0:
                continue
            batch.append(["bind", aor, binding.contact, left, binding.callId, binding.cseq])
            if len(batch) >= _BATCH:
                self._post(worker, b"B" + json.dumps(batch).encode("utf-8"))
                batch = []
        if batch:
            self._post(worker, b"B" + json.dumps(batch).encode("utf-8"))

    def _applyChanges(self, payload: bytes) -> None:
        locations = self.locations
        if locations is None:
            return
        for change in json.loads(payload):
            locations.replay(change)

    # -- receiving ---------------------------------------------------------------------

    def fileno(self) -> int:
        return self.inbox.fileno()

    def logPrefix(self) -> str:
        return "WorkerLink"

    def connectionLost(self, reason: Failure) -> None:
        self._log.warn("Worker inbox closed: {reason}", reason=reason.getErrorMessage())

    def doRead(self) -> None:
        """
        Deliver what waits in the inbox, a burst at a time.
        """
        for _ in range(_READ_BURST):
            try:
                envelope = self.inbox.recv(self._bufferSize)
            except (BlockingIOError, InterruptedError):
                return
            self.receive(envelope)

    def receive(self, envelope: bytes) -> None:
        """
        Act on one envelope; never raises.
        """
        try:
            kind = envelope[:1]
            if kind == b"B":
                self._applyChanges(envelope[1:])
                return
            if kind == b"Y":
                self._sendBindings(envelope[1])
                return
            kind, worker, peer, data = decodeMessage(envelope)
            receiver = self.receiver
            assert receiver is not None
            if kind == b"U":
                self.stats.increment("handoffs_in")
                receiver.deliver(data, Address("udp", peer[0], peer[1]))
            elif kind == b"T" or kind == b"L":
                self.stats.increment("handoffs_in")
                receiver.streamHeldBy(peer, worker)
                receiver.deliver(data, Address("tcp" if kind == b"T" else "tls", peer[0], peer[1]))
            elif kind == b"S" or kind == b"E":
                receiver.send(data, Address("tcp" if kind == b"S" else "tls", peer[0], peer[1]))
            else:
                raise ValueError("unknown envelope kind %r" % (kind,))
        except Exception:
            self.stats.increment("internal_errors")
            self._log.failure("Bad envelope from another worker")

