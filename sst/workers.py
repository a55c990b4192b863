# -*- test-case-name: sst.test.test_workers -*-
"""
The parent of C{twistd sst --workers N}: binds the SIP sockets, starts the workers, keeps
them running, and stops them.

Each SIP listen address is bound once per worker with C{SO_REUSEPORT}: the kernel spreads
datagrams and connections over the workers by the peer's address, and each worker answers
from its own socket, bound to the same address.  The parent keeps every socket and every
worker's inbox (L{sst.handoff}) open, so that a worker that dies is started again on the
same sockets, and what was handed to it meanwhile waits in its inbox.  A restarted worker
loads its dialogs from the C{--state} file and asks another worker for the registrations.
"""
from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
from typing import Any, Optional

from twisted.application import service
from twisted.internet import defer, protocol
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from twisted.python.failure import Failure

import sst
from sst.address import Address
from sst.handoff import inboxPair
from sst.tap import Options, StartupError, tlsContextsFor
from sst.workerspec import WorkerSpec

__all__ = ["WorkerPool", "bindShared"]

#: Seconds a worker must have run to be restarted at once; one that dies sooner waits
#: longer each time (up to L{MAX_RESTART_DELAY}), so that a worker that cannot start does
#: not spin.
STABLE_AFTER = 10.0
FIRST_RESTART_DELAY = 0.2
MAX_RESTART_DELAY = 5.0

#: Seconds a stopping worker gets between SIGTERM and SIGKILL.
STOP_TIMEOUT = 10.0


def bindShared(address: Address, count: int) -> list[socket.socket]:
    """
    Bind C{count} sockets to C{address} with C{SO_REUSEPORT} (a port 0 is chosen once, for
    all of them); TCP and TLS ones listen (TLS is TCP underneath).  The address is first bound alone, without
    C{SO_REUSEPORT}, so that an address another process listens on is refused even when that
    process shares it with C{SO_REUSEPORT}.

    @raise OSError: when one cannot be bound.
    """
    family = socket.AF_INET6 if address.family == "6" else socket.AF_INET
    kind = socket.SOCK_DGRAM if address.transport == "udp" else socket.SOCK_STREAM
    # First without SO_REUSEPORT: another process's group on the address (another sst, say)
    # would otherwise let ours join it and share its traffic.
    with socket.socket(family, kind) as probe:
        if kind == socket.SOCK_STREAM:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        probe.bind((address.host, address.port))
        port = probe.getsockname()[1]
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, kind)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if kind == socket.SOCK_STREAM:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((address.host, port))
            port = sock.getsockname()[1]
            if kind == socket.SOCK_STREAM:
                sock.listen(1024)
            sock.setblocking(False)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class _WorkerProcess(protocol.ProcessProtocol):
    """
    One running worker: logs what it writes, tells the pool when it ends.
    """

    def __init__(self, pool: "WorkerPool", index: int) -> None:
        self.pool = pool
        self.index = index
        self.ended: defer.Deferred[None] = defer.Deferred()
        self._partial = b""

    def outReceived(self, data: bytes) -> None:
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        if len(self._partial) > 65536:
            lines.append(self._partial)
            self._partial = b""
        for line in lines:
            self.pool._workerSaid(self.index, line.decode("utf-8", "replace"))

    errReceived = outReceived

    def processEnded(self, reason: Failure) -> None:
        if self._partial:
            self.pool._workerSaid(self.index, self._partial.decode("utf-8", "replace"))
        self.pool._workerEnded(self, reason)
        self.ended.callback(None)


class WorkerPool(service.Service):
    """
    Starts, restarts and stops the workers.

    @ivar count: how many workers.
    @ivar bound: the SIP addresses, with the ports bound.
    @ivar restarts: how many times a worker was started again after it died.
    @ivar managementSockets: the unix socket path of each worker's management API.
    """

    _log = Logger()

    def __init__(self, config: Options, reactor: Any, count: int) -> None:
        self.config = config
        self.reactor = reactor
        self.count = count
        self.runDir = tempfile.mkdtemp(prefix="sst-workers-")
        self.managementSockets = [os.path.join(self.runDir, "worker-%d.sock" % (k,))
                                  for k in range(count)]
        self.bound: list[Address] = []
        self.restarts = 0
        self._listening: list[tuple[Address, list[socket.socket]]] = []
        self._inboxes: list[tuple[socket.socket, socket.socket]] = []
        self._processes: dict[int, _WorkerProcess] = {}
        self._startedAt: dict[int, float] = {}
        self._delays: dict[int, float] = {}
        self._pendingStarts: dict[int, IDelayedCall] = {}
        self._argv: list[str] = list(config.argv)

    # -- starting ----------------------------------------------------------------------

    def startService(self) -> None:
        """
        Bind the SIP sockets, make the inboxes and start every worker.

        @raise StartupError: when an address cannot be bound, or the C{--tls-*} files
            cannot be used (the workers would not start).
        """
        tlsContextsFor(self.config)
        for address in self.config["listen"]:
            try:
                sockets = bindShared(address, self.count)
            except OSError as e:
                self._closeSockets()
                raise StartupError("sst: cannot listen on %s:%s: %s" % (
                    address.transport, address.hostport(), e.strerror or e))
            bound = Address(address.transport, address.host, sockets[0].getsockname()[1])
            self._listening.append((bound, sockets))
            self.bound.append(bound)
            self._log.info("Listening on {transport}:{hostport} with {count} workers",
                           transport=bound.transport, hostport=bound.hostport(),
                           count=self.count)
        self._inboxes = [inboxPair() for _ in range(self.count)]
        self._argv = self._workerArgv()
        super().startService()  # type: ignore[no-untyped-call]
        for index in range(self.count):
            self._start(index)

    def _workerArgv(self) -> list[str]:
        """
        @return: the options each worker parses: the parent's, plus, with authentication on
            and no C{--auth-nonce-key}, a key file made now, so that a nonce one worker
            gave is good at every worker (and across a worker's restart).
        """
        argv = list(self.config.argv)
        if self.config.get("auth") is not None and self.config.get("auth-nonce-key") is None:
            path = os.path.join(self.runDir, "nonce.key")
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as f:
                f.write(os.urandom(32))
            argv += ["--auth-nonce-key", path]
        return argv

    def specFor(self, index: int) -> WorkerSpec:
        """
        @return: what worker C{index} is told at start-up.
        """
        return WorkerSpec(
            index, self.count, list(self._argv),
            [(bound, sockets[index].fileno()) for bound, sockets in self._listening],
            self._inboxes[index][0].fileno(),
            [writer.fileno() for _, writer in self._inboxes],
            self.managementSockets[index])

    def _start(self, index: int) -> None:
        self._pendingStarts.pop(index, None)
        if not self.running:
            return
        spec = self.specFor(index)
        try:
            os.unlink(spec.management)
        except FileNotFoundError:
            pass
        childFDs: dict[int, Any] = {0: "w", 1: "r", 2: "r"}
        for fd in spec.descriptors():
            childFDs[fd] = fd
        env = dict(os.environ)
        # The worker imports sst as this process did, even from a source tree.
        root = os.path.dirname(os.path.dirname(os.path.abspath(sst.__file__)))
        env["PYTHONPATH"] = os.pathsep.join(
            [root] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        process = _WorkerProcess(self, index)
        self._processes[index] = process
        self._startedAt[index] = self.reactor.seconds()
        self.reactor.spawnProcess(process, sys.executable,
                                  [sys.executable, "-m", "sst.worker", spec.toJSON()],
                                  env=env, childFDs=childFDs)
        self._log.info("Started worker {index}", index=index)

    # -- supervising -------------------------------------------------------------------

    def _workerSaid(self, index: int, line: str) -> None:
        self._log.info("worker {index}: {line}", index=index, line=line)

    def _workerEnded(self, process: _WorkerProcess, reason: Failure) -> None:
        index = process.index
        if self._processes.get(index) is process:
            del self._processes[index]
        if not self.running:
            return
        lived = self.reactor.seconds() - self._startedAt.get(index, 0.0)
        if lived >= STABLE_AFTER:
            delay = FIRST_RESTART_DELAY
        else:
            delay = min(MAX_RESTART_DELAY, self._delays.get(index, FIRST_RESTART_DELAY / 2) * 2)
        self._delays[index] = delay
        self.restarts += 1
        self._log.warn("Worker {index} ended ({reason}); starting it again in {delay}s",
                       index=index, reason=reason.getErrorMessage(), delay=delay)
        self._pendingStarts[index] = self.reactor.callLater(delay, self._start, index)

    def gauges(self) -> dict[str, int]:
        """
        @return: the parent's own figures for the management API: the worker processes
            running, and how many times one was started again.
        """
        return {"workers_running": len(self._processes), "worker_restarts": self.restarts}

    # -- stopping ----------------------------------------------------------------------

    def stopService(self) -> defer.Deferred[None]:
        """
        Send every worker SIGTERM (SIGKILL after L{STOP_TIMEOUT}), wait for them to end,
        then close the sockets.
        """
        super().stopService()  # type: ignore[no-untyped-call]
        for call in self._pendingStarts.values():
            call.cancel()
        self._pendingStarts.clear()
        waits = []
        for process in list(self._processes.values()):
            waits.append(process.ended)
            self._signal(process, "TERM")
        kill = self.reactor.callLater(STOP_TIMEOUT, self._killAll)
        done: defer.Deferred[Any] = defer.DeferredList(waits)

        def finished(_: object) -> None:
            if kill.active():
                kill.cancel()
            self._closeSockets()

        done.addCallback(finished)
        return done

    def _killAll(self) -> None:
        for process in list(self._processes.values()):
            self._log.warn("Worker {index} did not stop: killing it", index=process.index)
            self._signal(process, "KILL")

    @staticmethod
    def _signal(process: _WorkerProcess, name: str) -> None:
        try:
            if process.transport is not None:
                process.transport.signalProcess(name)
        except Exception:
            pass

    def _closeSockets(self) -> None:
        for _, sockets in self._listening:
            for sock in sockets:
                sock.close()
        self._listening = []
        for reader, writer in self._inboxes:
            reader.close()
            writer.close()
        self._inboxes = []
        shutil.rmtree(self.runDir, ignore_errors=True)

    def boundAddress(self, transport: str) -> Optional[Address]:
        """
        @return: the first address bound for C{transport} (useful with port 0).
        """
        return next((a for a in self.bound if a.transport == transport), None)
