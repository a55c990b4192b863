# -*- test-case-name: sst.test.test_pjsua_tls -*-
"""
Interop of SIP over TLS with PJSIP: two pjsua2 accounts register with sst over TLS, verifying
its certificate, and call each other through it; sst reaches the callee over TLS too, and
verifies the callee's certificate. Digest authentication is on, as it would be beyond
loopback.

pjsua2 runs in a child process (L{sst.test.pjsua_auth_peer} with its TLS options); sst runs
in-process, in trial's reactor. Certificates come from a CA made for the test. Takes about
2 s.
"""
from __future__ import annotations

import json
import os
import sys
from typing import Any, Optional

from twisted.internet import reactor as _globalReactor
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorProcess, IReactorTime
from twisted.trial.unittest import TestCase

from sst.auth.checkers import formatEntry
from sst.auth.passwd import entryFor
from sst.protocol import SIPStreamProtocol
from sst.tap import Options, SIPService
from sst.test._tlscerts import Authority
from sst.test.sipp import freePort
from sst.test.test_pjsua import _Collect, _skip

_PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pjsua_auth_peer.py")

PASSWORD = "pj-tls-secret"


def _tlsSkip() -> Optional[str]:
    """
    @return: why pjsua2 cannot run this test (not importable, or built without TLS), or
        L{None}.
    """
    if _skip is not None:
        return _skip
    import pjsua2 as pj  # type: ignore[import-untyped, import-not-found, unused-ignore]

    if not hasattr(pj, "PJSIP_TRANSPORT_TLS"):
        return "pjsua2 was built without TLS support (no PJSIP_TRANSPORT_TLS)"
    return None


class PJSUATLSTests(TestCase):
    """
    pjsua2 registers and calls through sst over TLS.
    """

    skip = _tlsSkip()

    timeout = 60

    def test_registerAndCallOverTLS(self) -> Deferred[None]:
        """
        Both accounts register over TLS (sst's certificate verified against the test CA);
        alice's INVITE reaches bob's TLS contact through sst, which verifies bob's
        certificate; the call is confirmed and ended on both sides; every message sst
        received came over TLS, and it counted no error.
        """

        async def check() -> None:
            directory = os.path.abspath(str(self.mktemp()))
            os.makedirs(directory)
            authority = Authority(directory)
            server = authority.issue("sst", chain=True)
            phones = authority.issue("phones")
            users = os.path.join(directory, "users")
            with open(users, "w") as f:
                for user in ("alice", "bob"):
                    f.write(formatEntry(entryFor("%s@127.0.0.1" % (user,), None, PASSWORD)) + "\n")
            options = Options()
            options.parseOptions([
                "--listen", "tls:127.0.0.1:0", "--tls-cert", server.cert, "--tls-key",
                server.key, "--tls-ca", authority.cert, "--http", "none", "--state", "none",
                "--auth-file", users])
            service = SIPService(options, _globalReactor)
            sources: list[str] = []
            receiver = service.transport.receiver
            assert receiver is not None

            def record(message: Any, source: Any) -> None:
                sources.append(source.transport)
                receiver(message, source)

            service.transport.receiver = record
            connections: list[tuple[str, str, int]] = []
            connectionMade = SIPStreamProtocol.connectionMade

            def registered(proto: SIPStreamProtocol) -> None:
                # Patched on the class: the transport layer may be compiled (mypyc), and
                # its instances take no new attributes.
                connectionMade(proto)
                assert proto.peer is not None
                connections.append((proto.transportName, proto.peer[0], proto.peer[1]))

            self.patch(SIPStreamProtocol, "connectionMade", registered)
            service.startService()
            self.addCleanup(service.stopService)
            port = service.boundAddress("tls").port
            bobPort = freePort("tcp")
            collect = _Collect()
            IReactorProcess(_globalReactor).spawnProcess(
                collect, sys.executable,
                [sys.executable, _PEER, "--sst", "127.0.0.1:%d" % (port,), "--alice-port",
                 str(freePort("tcp")), "--bob-port", str(bobPort), "--password",
                 PASSWORD, "--tls-ca", authority.cert, "--tls-cert", phones.cert,
                 "--tls-key", phones.key],
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
            self.assertTrue(sources, why)
            self.assertEqual(set(sources), {"tls"}, why)
            # Bob's registered contact is his listener: sst connected to it, and verified it.
            self.assertIn(("tls", "127.0.0.1", bobPort), connections, why)
            self.assertEqual({kind for kind, _, _ in connections}, {"tls"}, why)
            errors = {name: stats[name] for name in ("send_errors", "parse_errors",
                                                     "internal_errors", "auth_failures")}
            self.assertEqual(errors, dict.fromkeys(errors, 0), why)

        return Deferred.fromCoroutine(check())
