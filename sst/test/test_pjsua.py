# -*- test-case-name: sst.test.test_pjsua -*-
"""
Interop of the B2BUA with PJSIP: two pjsua2 accounts call each other through sst.

pjsua2 runs its own event machinery, so it runs in a child process (L{sst.test.pjsua_peer})
driven by the test from trial's reactor, where sst runs in-process. The call holds for 50 s
with session timers of 90 s on both legs, so that the refreshes at 45 s happen: takes about
52 s.
"""
from __future__ import annotations

import json
import os
import sys
from typing import Any, Optional

from twisted.internet import reactor as _globalReactor
from twisted.internet.defer import Deferred
from twisted.internet.error import ProcessDone, ProcessExitedAlready, ProcessTerminated
from twisted.internet.interfaces import IDelayedCall, IReactorProcess, IReactorTime
from twisted.internet.protocol import ProcessProtocol
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from sst.tap import Options, SIPService
from sst.test.sipp import freePort

try:
    import pjsua2  # type: ignore[import-untyped, import-not-found, unused-ignore]  # noqa: F401
except ImportError as e:  # pragma: no cover - depends on the machine
    _skip: Optional[str] = "pjsua2 (the pjsua2-python package) cannot be imported: %s" % (e,)
else:
    _skip = None

_PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pjsua_peer.py")

#: How long A holds the call, in seconds: past the refreshes at SE/2 = 45 s.
HOLD = 50.0


class _Collect(ProcessProtocol):
    """
    Collects a child's output; L{done} fires with (exit code, stdout, stderr).
    """

    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.err: list[bytes] = []
        self.done: Deferred[tuple[int, str, str]] = Deferred()
        self.killer: Optional[IDelayedCall] = None

    def outReceived(self, data: bytes) -> None:
        self.out.append(data)

    def errReceived(self, data: bytes) -> None:
        self.err.append(data)

    def processEnded(self, reason: Failure) -> None:
        if self.killer is not None and self.killer.active():
            self.killer.cancel()
        code = -1
        if isinstance(reason.value, ProcessDone):
            code = 0
        elif isinstance(reason.value, ProcessTerminated):
            code = reason.value.exitCode if reason.value.exitCode is not None else -1
        self.done.callback((code, b"".join(self.out).decode("utf-8", "replace"),
                            b"".join(self.err).decode("utf-8", "replace")))

    def kill(self) -> None:
        """
        Kill the child when it overstays.
        """
        try:
            if self.transport is not None:
                self.transport.signalProcess("KILL")
        except ProcessExitedAlready:
            pass


class PJSUAInteropTests(TestCase):
    """
    A call from pjsua2 account A through the sst B2BUA to pjsua2 account B.
    """

    if _skip is not None:
        skip = _skip

    timeout = 120

    def test_callWithRefreshes(self) -> Deferred[None]:
        """
        A calls B through sst with session timers of 90 s: both calls are confirmed; A, the
        A-leg refresher, refreshes at about 45 s and sst answers that itself; sst, the B-leg
        refresher, refreshes B at about 45 s; A's BYE reaches B through sst; afterwards sst
        keeps nothing and met no error.
        """

        async def check() -> None:
            aPort, bPort = freePort(), freePort()
            options = Options()
            options.parseOptions([
                "--mode", "b2bua", "--listen", "udp:127.0.0.1:0", "--http", "none",
                "--next-hop", "sip:127.0.0.1:%d" % (bPort,), "--min-se", "90",
                "--session-expires", "90", "--b-session-expires", "90", "--b-min-se", "90"])
            service = SIPService(options, _globalReactor)
            service.startService()
            self.addCleanup(service.stopService)
            port = service.boundAddress("udp").port
            collect = _Collect()
            IReactorProcess(_globalReactor).spawnProcess(
                collect, sys.executable,
                [sys.executable, _PEER, "--sst", "127.0.0.1:%d" % (port,), "--a-port", str(aPort),
                 "--b-port", str(bPort), "--se", "90", "--hold", str(HOLD)],
                env=dict(os.environ))
            collect.killer = IReactorTime(_globalReactor).callLater(HOLD + 40, collect.kill)
            code, out, err = await collect.done
            events: list[dict[str, Any]] = []
            for line in out.splitlines():
                if line.startswith("{"):
                    events.append(json.loads(line))
            why = "exit %d\n%s\n--- stderr ---\n%s\nstats %s" % (
                code, out[-6000:], err[-3000:], service.stats.snapshot())
            self.assertEqual(code, 0, why)
            aRefreshes = [e for e in events if e["who"] == "A" and e["event"] == "sent"
                          and e["method"] in ("UPDATE", "INVITE") and e["t"] > 30]
            self.assertTrue(aRefreshes, why)
            self.assertTrue(all(40 <= e["t"] <= 50 for e in aRefreshes), why)
            bRefreshes = [e for e in events if e["who"] == "B" and e["event"] == "request"
                          and e["method"] in ("UPDATE", "INVITE")]
            self.assertTrue(bRefreshes, why)
            self.assertTrue(all(40 <= e["t"] <= 50 for e in bRefreshes), why)
            self.assertGreaterEqual(service.stats.get("refreshes_received"), 1, why)
            self.assertGreaterEqual(service.stats.get("refreshes_sent"), 1, why)
            self.assertIn({"who": "B", "event": "request", "method": "BYE"},
                          [{k: e.get(k) for k in ("who", "event", "method")} for e in events], why)
            assert service.b2bua is not None
            self.assertEqual((len(service.b2bua.calls), len(service.dialogs)), (0, 0), why)
            counters = service.stats.snapshot()
            errors = {name: counters.get(name, 0)
                      for name in ("parse_errors", "send_errors", "internal_errors")}
            self.assertEqual(errors, dict.fromkeys(errors, 0), why)

        return Deferred.fromCoroutine(check())
