"""
C{twistd -n sst} as a child process of a test: started with the test's options, read
through its HTTP API, killed with C{SIGKILL} when the test says so and stopped when it
ends (L{sst.test.test_restart}, L{sst.test.test_cluster_sipp}).
"""
from __future__ import annotations

import os
import sys
from typing import Any, Optional

from twisted.internet import reactor as _globalReactor
from twisted.internet.defer import Deferred
from twisted.internet.error import ProcessExitedAlready
from twisted.internet.interfaces import IProcessTransport, IReactorProcess, IReactorTime
from twisted.internet.protocol import ProcessProtocol
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from sst.test.sipp import waitForListening

__all__ = ["TWISTD", "NodeProcess", "getJSON", "startNode", "stopNode"]

#: C{twistd} of the Python running the tests.
TWISTD = os.path.join(os.path.dirname(sys.executable), "twistd")


class NodeProcess(ProcessProtocol):
    """
    A C{twistd sst} child process.

    @ivar logfile: where it logs.
    @ivar ended: fires with the reason (L{ProcessDone} or L{ProcessTerminated}) once the
        process has exited.
    @ivar process: its transport, once spawned.
    """

    def __init__(self, logfile: str) -> None:
        """
        @param logfile: where the process logs.
        """
        self.logfile = logfile
        self.output: list[bytes] = []
        self.ended: Deferred[object] = Deferred()
        self.process: Optional[IProcessTransport] = None

    def outReceived(self, data: bytes) -> None:
        """
        Keep what the process writes.
        """
        self.output.append(data)

    errReceived = outReceived

    def processEnded(self, reason: Failure) -> None:
        """
        Fire L{ended}.
        """
        self.ended.callback(reason.value)

    def log(self, tail: int = 6000) -> str:
        """
        @return: the end of the process's log and output, for assertion messages.
        """
        try:
            with open(self.logfile, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except FileNotFoundError:
            text = ""
        return text[-tail:] + b"".join(self.output).decode("utf-8", "replace")[-2000:]

    def signal(self, name: str) -> None:
        """
        Send the process a signal unless it has exited.
        """
        if self.process is not None and not self.ended.called:
            try:
                self.process.signalProcess(name)
            except ProcessExitedAlready:
                pass


async def startNode(test: TestCase, logfile: str, workdir: str, options: list[str],
                    sipPort: int, httpPort: int) -> NodeProcess:
    """
    Start C{twistd -n --pidfile= --logfile=LOGFILE sst OPTIONS} and wait until it listens
    on UDP C{sipPort} and TCP C{httpPort}; it is stopped (L{stopNode}) when C{test} ends.

    @param test: the test that owns the process.
    @param logfile: where it logs.
    @param workdir: its working directory.
    @param options: the options of C{sst}.
    @return: the process.
    """
    node = NodeProcess(logfile)
    args = [TWISTD, "-n", "--pidfile=", "--logfile=" + logfile, "sst", *options]
    node.process = IReactorProcess(_globalReactor).spawnProcess(
        node, TWISTD, args, env=dict(os.environ), path=workdir)
    test.addCleanup(lambda: Deferred.fromCoroutine(stopNode(node)))
    clock = IReactorTime(_globalReactor)
    try:
        await waitForListening(clock, sipPort, "udp", timeout=15)
        await waitForListening(clock, httpPort, "tcp", timeout=15)
    except TimeoutError:
        test.fail("sst never listened:\n" + node.log())
    return node


async def stopNode(node: NodeProcess) -> None:
    """
    Stop a process still running: C{SIGTERM}, then C{SIGKILL} 5 s later.
    """
    if node.ended.called:
        return
    node.signal("TERM")
    killer = IReactorTime(_globalReactor).callLater(5, node.signal, "KILL")
    try:
        await node.ended
    finally:
        if killer.active():
            killer.cancel()


async def getJSON(port: int, path: str) -> Any:
    """
    @return: the JSON body of C{GET http://127.0.0.1:PORT/PATH}.
    @raise AssertionError: when the answer is not 200.
    """
    import treq

    # treq's annotations and Twisted's cannot say "a reactor with TCP and time" in one type.
    reactor: Any = _globalReactor
    response = await treq.get("http://127.0.0.1:%d%s" % (port, path), reactor=reactor,
                              persistent=False)
    if response.code != 200:
        raise AssertionError("GET %s answered %d" % (path, response.code))
    return await response.json()
