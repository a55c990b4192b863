# -*- test-case-name: sst.test.test_restart -*-
"""
A real C{twistd sst} process killed with C{SIGKILL} in the middle of a call
and started again keeps the call's dialog (C{--state}, L{sst.store}).

The proxy runs as a child process (it has to die), between a SIPp caller and
a SIPp callee on loopback.  That the restored session timer still fires at
its saved deadline is tested with a clock in
L{sst.test.test_store.StoreTests.test_restoredTimerFires} rather than by
waiting 90 s here.
"""
from __future__ import annotations

import os
import sqlite3
import sys
from typing import Any, Optional

from twisted.internet import reactor as _globalReactor
from twisted.internet.defer import Deferred
from twisted.internet.error import ProcessTerminated
from twisted.internet.interfaces import IReactorProcess, IReactorTime
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from sst.test.nodeprocess import TWISTD, NodeProcess, getJSON, startNode, stopNode
from sst.test.sipp import (
    SippResult,
    freePort,
    sippAvailable,
    sippExitOK,
    killedAtCleanup,
    startSipp,
    waitForListening,
)

#: How long the caller waits between its ACK and its BYE, in milliseconds.
PAUSE_MS = 4000

#: SIPp's global timeout for each side, in seconds.
SIPP_TIMEOUT = 20.0

#: How long after the dialog appears the proxy is killed: more than the
#: store's one-second flush interval.
KILL_AFTER = 1.4


class RestartTests(TestCase):
    """
    C{kill -9} during a call, then a restart with the same options.
    """

    timeout = 45

    #: C{--mode}.
    mode = "proxy"

    if not sippAvailable():
        skip = "sipp is not installed"
    elif not os.path.exists(TWISTD):
        skip = "no twistd next to %s" % (sys.executable,)

    def setUp(self) -> None:
        """
        Pick the ports, and a directory for the logs and the state file.
        """
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)
        self.state = os.path.join(self.workdir, "state.sqlite")
        self.proxyPort = freePort("udp")
        self.calleePort = freePort("udp")
        self.httpPort = freePort("tcp")
        self.runs = 0

    async def startProxy(self) -> NodeProcess:
        """
        Start C{twistd -n sst} with the test's options and wait until it
        listens; it is stopped at the end of the test if still running.
        """
        self.runs += 1
        return await startNode(
            self, os.path.join(self.workdir, "proxy-%d.log" % (self.runs,)), self.workdir,
            ["--listen", "udp:127.0.0.1:%d" % (self.proxyPort,),
             "--next-hop", "sip:127.0.0.1:%d" % (self.calleePort,),
             "--mode", self.mode, "--min-se", "90", "--state", self.state,
             "--http", "tcp:%d:interface=127.0.0.1" % (self.httpPort,)],
            self.proxyPort, self.httpPort)

    def startSipp(self, scenario: str, target: Optional[str], port: int,
                  extraArgs: list[str]) -> Deferred[SippResult]:
        """
        Start one SIPp side, killed at the end of the test if still running.
        """
        process, done = startSipp(
            IReactorProcess(_globalReactor), scenario, target, localPort=port,
            extraArgs=extraArgs, keys={"callee": "127.0.0.1:%d" % (self.calleePort,)},
            timeout=SIPP_TIMEOUT, workdir=self.workdir)
        return killedAtCleanup(self, process, done)

    async def dialogs(self) -> list[dict[str, Any]]:
        """
        @return: the running proxy's C{GET /dialogs}.
        """
        listed: list[dict[str, Any]] = await getJSON(self.httpPort, "/dialogs")
        return listed

    def savedRows(self) -> list[tuple[Any, ...]]:
        """
        @return: the rows of the state file, read with a connection of its own.
        """
        connection = sqlite3.connect(self.state)
        try:
            return connection.execute("SELECT call_id, expires_at FROM dialogs").fetchall()
        finally:
            connection.close()

    async def callThenKill(self, dialogs: int
                           ) -> tuple[list[dict[str, Any]], Deferred[SippResult],
                                      Deferred[SippResult]]:
        """
        Start the callee, the proxy (or B2BUA) and a caller whose call lasts L{PAUSE_MS};
        once C{dialogs} dialogs are confirmed, wait L{KILL_AFTER} and kill the process with
        C{SIGKILL}.

        @return: C{GET /dialogs} before the kill, and the caller's and callee's results.
        """
        clock = IReactorTime(_globalReactor)
        callee = self.startSipp("uas", None, self.calleePort, [])
        await waitForListening(clock, self.calleePort, "udp")
        first = await self.startProxy()
        caller = self.startSipp("uac_timer_restart", "127.0.0.1:%d" % (self.proxyPort,),
                                freePort("udp"), ["-d", str(PAUSE_MS)])
        before: list[dict[str, Any]] = []
        for _ in range(50):
            before = await self.dialogs()
            if len(before) == dialogs and all(d["state"] == "confirmed" for d in before):
                break
            await deferLater(clock, 0.1, lambda: None)
        self.assertEqual(len(before), dialogs, first.log())
        await deferLater(clock, KILL_AFTER, lambda: None)
        first.signal("KILL")
        reason = await first.ended
        self.assertIsInstance(reason, ProcessTerminated)
        assert isinstance(reason, ProcessTerminated)
        self.assertEqual(reason.signal, 9)
        return before, caller, callee

    async def callEnds(self, second: NodeProcess, caller: Deferred[SippResult],
                       callee: Deferred[SippResult], restored: str) -> None:
        """
        Both SIPp sides succeed through the restarted process C{second}, whose log says
        C{restored}; stopped, it leaves the state file empty.
        """
        callerResult = await caller
        calleeResult = await callee
        why = "\n".join([callerResult.summary(), callerResult.messages[-4000:],
                         calleeResult.summary(), second.log()])
        self.assertTrue(sippExitOK(callerResult), why)
        self.assertTrue(sippExitOK(calleeResult), why)
        self.assertEqual(await self.dialogs(), [], why)
        self.assertIn(restored, second.log())
        await stopNode(second)
        self.assertEqual(self.savedRows(), [])

    def test_killedMidCall(self) -> Deferred[None]:
        """
        A proxy killed with C{SIGKILL} after the ACK of a call with
        C{Session-Expires: 90} comes back with the call's dialog and its
        deadline; the caller's BYE passes through the restarted proxy and
        ends the dialog.
        """
        return Deferred.fromCoroutine(self.killedMidCall())

    async def killedMidCall(self) -> None:
        """
        See L{test_killedMidCall}.
        """
        before, caller, callee = await self.callThenKill(1)
        self.assertEqual([(d["state"], d["interval"], d["refresher"]) for d in before],
                         [("confirmed", 90, "uac")])
        self.assertEqual([row[0] for row in self.savedRows()], [before[0]["call_id"]])

        second = await self.startProxy()
        after = await self.dialogs()
        self.assertEqual([(d["call_id"], d["state"], d["interval"], d["refresher"])
                          for d in after],
                         [(before[0]["call_id"], "confirmed", 90, "uac")], second.log())
        self.assertEqual(after[0]["expires_at"], before[0]["expires_at"])
        self.assertEqual(after[0]["created_at"], before[0]["created_at"])
        await self.callEnds(second, caller, callee, "Restored 1 dialogs")


class B2BUARestartTests(RestartTests):
    """
    C{kill -9} during a call through C{--mode b2bua}, then a restart with the same options.
    """

    mode = "b2bua"

    def test_killedMidCall(self) -> Deferred[None]:
        """
        A B2BUA killed with C{SIGKILL} after the ACK of a call with C{Session-Expires: 90}
        comes back with both legs' entries and their deadlines; the caller's BYE, sent to the
        restarted B2BUA, is answered, and the B-leg ended with BYE to the callee.
        """
        return Deferred.fromCoroutine(self.b2buaKilledMidCall())

    async def b2buaKilledMidCall(self) -> None:
        """
        See L{test_killedMidCall}.
        """
        before, caller, callee = await self.callThenKill(2)
        legs = sorted((d["extra"]["leg"], d["call_id"], d["interval"], d["expires_at"])
                      for d in before)
        self.assertEqual([(leg[0], leg[2]) for leg in legs], [("a", 90), ("b", 1800)])
        self.assertEqual(sorted(row[0] for row in self.savedRows()),
                         sorted(leg[1] for leg in legs))

        second = await self.startProxy()
        after = await self.dialogs()
        self.assertEqual(sorted((d["extra"]["leg"], d["call_id"], d["interval"], d["expires_at"])
                                for d in after), legs, second.log())
        await self.callEnds(second, caller, callee, "Restored call")
