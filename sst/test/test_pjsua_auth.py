# -*- test-case-name: sst.test.test_pjsua_auth -*-
"""
Interop of digest authentication with PJSIP: two pjsua2 accounts register with an
authenticating sst proxy and call each other through it, over UDP on 127.0.0.1.

pjsua2 runs in a child process (L{sst.test.pjsua_auth_peer}); sst runs in-process, in trial's
reactor. PJSIP answers the challenges that offer SHA-512-256, SHA-256 and MD5 with SHA-256.
Takes about 2 s.
"""
from __future__ import annotations

import json
import os
import sys
from typing import Any

from twisted.internet import reactor as _globalReactor
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorProcess, IReactorTime
from twisted.trial.unittest import TestCase

from sst.auth.checkers import formatEntry
from sst.auth.passwd import entryFor
from sst.tap import Options, SIPService
from sst.test.sipp import freePort
from sst.test.test_pjsua import _Collect, _skip

_PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pjsua_auth_peer.py")

PASSWORD = "pj-secret"


class PJSUAAuthTests(TestCase):
    """
    pjsua2 registers and calls through sst with digest authentication.
    """

    if _skip is not None:
        skip = _skip

    timeout = 60

    def test_registerAndCall(self) -> Deferred[None]:
        """
        Both accounts answer the 401 of their REGISTER and are registered; alice answers
        the 407 of her INVITE, which sst routes to bob's contact; the call is confirmed and
        ended on both sides; sst counted no failure and no error.
        """

        async def check() -> None:
            users = os.path.abspath(str(self.mktemp()))
            with open(users, "w") as f:
                for user in ("alice", "bob"):
                    f.write(formatEntry(entryFor("%s@127.0.0.1" % (user,), None, PASSWORD)) + "\n")
            options = Options()
            options.parseOptions(["--listen", "udp:127.0.0.1:0", "--http", "none", "--state",
                                  "none", "--auth-file", users])
            service = SIPService(options, _globalReactor)
            service.startService()
            self.addCleanup(service.stopService)
            port = service.boundAddress("udp").port
            collect = _Collect()
            IReactorProcess(_globalReactor).spawnProcess(
                collect, sys.executable,
                [sys.executable, _PEER, "--sst", "127.0.0.1:%d" % (port,), "--alice-port",
                 str(freePort()), "--bob-port", str(freePort()), "--password", PASSWORD],
                env=dict(os.environ))
            collect.killer = IReactorTime(_globalReactor).callLater(45, collect.kill)
            code, out, err = await collect.done
            events: list[dict[str, Any]] = [json.loads(line) for line in out.splitlines()
                                            if line.startswith("{")]
            stats = service.stats.snapshot()
            why = "exit %d\n%s\n--- stderr ---\n%s\nstats %s" % (code, out[-6000:], err[-3000:],
                                                                 stats)
            self.assertEqual(code, 0, why)
            self.assertEqual(sorted((e["who"], e["code"]) for e in events
                                    if e["event"] == "registration")[:2],
                             [("alice", 200), ("bob", 200)], why)
            self.assertGreaterEqual(stats["auth_ok"], 3, why)
            self.assertGreaterEqual(stats["auth_challenges"], 3, why)
            errors = {name: stats[name] for name in ("auth_failures", "auth_forbidden",
                                                     "parse_errors", "internal_errors")}
            self.assertEqual(errors, dict.fromkeys(errors, 0), why)

        return Deferred.fromCoroutine(check())
