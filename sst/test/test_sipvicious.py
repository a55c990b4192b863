# -*- test-case-name: sst.test.test_sipvicious -*-
"""
The scanner every public SIP server meets: SIPVicious (PyPI C{sipvicious}) against a real
C{twistd sst} with digest authentication.  C{svwar} enumerates no user, C{svcrack} with a
wordlist that lacks the password finds none (and, as a check that the tool works against
sst at all, finds it when the list has it), and the scans leave no binding behind.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import Any

from twisted.internet import reactor as _globalReactor
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorProcess, IReactorTime
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from sst.auth.checkers import formatEntry
from sst.auth.passwd import entryFor
from sst.test.sipp import freePort, waitForListening
from sst.test.nodeprocess import TWISTD, NodeProcess

_BIN = os.path.dirname(sys.executable)
SVWAR = shutil.which("sipvicious_svwar", path=_BIN) or shutil.which("sipvicious_svwar")
SVCRACK = shutil.which("sipvicious_svcrack", path=_BIN) or shutil.which("sipvicious_svcrack")

PASSWORD = "c0rrect-h0rse"
USERS = ["alice", "bob", "carol", "100", "101", "1000", "admin", "test", "sst"]


class SipviciousTests(TestCase):
    """
    C{svwar} and C{svcrack} against sst with C{--auth-file}.
    """

    timeout = 90

    if SVWAR is None or SVCRACK is None:
        skip = "sipvicious is not installed (pip install sipvicious)"
    elif not os.path.exists(TWISTD):
        skip = "no twistd next to %s" % (sys.executable,)

    def setUp(self) -> Deferred[None]:  # type: ignore[override]
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)
        users = os.path.join(self.workdir, "users")
        with open(users, "w") as f:
            for user in ("alice", "bob"):
                f.write(formatEntry(entryFor("%s@127.0.0.1" % (user,), None, PASSWORD)) + "\n")
        self.port = freePort("udp")
        self.httpPort = freePort("tcp")
        self.proxy = NodeProcess(os.path.join(self.workdir, "sst.log"))
        args = [TWISTD, "-n", "--pidfile=", "--logfile=" + self.proxy.logfile, "sst",
                "--listen", "udp:127.0.0.1:%d" % (self.port,), "--auth-file", users,
                # SIPVicious answers MD5 challenges only, and reads the first one.
                "--auth-algorithms", "MD5", "--state", "none",
                "--http", "tcp:%d:interface=127.0.0.1" % (self.httpPort,)]
        self.proxy.process = IReactorProcess(_globalReactor).spawnProcess(
            self.proxy, TWISTD, args, env=dict(os.environ), path=self.workdir)
        self.addCleanup(self.stop)
        clock = IReactorTime(_globalReactor)
        return Deferred.fromCoroutine(self.waitUp(clock))

    async def waitUp(self, clock: IReactorTime) -> None:
        await waitForListening(clock, self.port, "udp", timeout=10)
        await waitForListening(clock, self.httpPort, "tcp", timeout=10)

    async def _stop(self) -> None:
        if not self.proxy.ended.called:
            self.proxy.signal("TERM")
            await self.proxy.ended

    def stop(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._stop())

    def scan(self, *args: str) -> Deferred[str]:
        """
        Run a SIPVicious tool (in a thread: it blocks) against sst; its output.
        """
        def call() -> str:
            env = dict(os.environ, HOME=self.workdir)  # its session files go there
            result = subprocess.run(
                [*args, "-b", "127.0.0.1", "-P", str(freePort("udp")),
                 "udp://127.0.0.1:%d" % (self.port,)],
                cwd=self.workdir, env=env, capture_output=True, text=True, timeout=60)
            return result.stdout + result.stderr

        return deferToThread(call)

    def wordlist(self, name: str, words: list[str]) -> str:
        path = os.path.join(self.workdir, name)
        with open(path, "w") as f:
            f.write("\n".join(words) + "\n")
        return path

    async def registrations(self) -> Any:
        import treq

        reactor: Any = _globalReactor
        response = await treq.get("http://127.0.0.1:%d/stats" % (self.httpPort,),
                                  reactor=reactor, persistent=False)
        return (await response.json())["registrations"]

    def test_svwarFindsNoUser(self) -> Deferred[None]:
        """
        C{svwar} finds no user, known or not, with REGISTER, INVITE or OPTIONS, even when
        forced on: sst answers every user alike.
        """
        async def check() -> None:
            names = self.wordlist("names", USERS)
            assert SVWAR is not None
            for method in ("REGISTER", "INVITE", "OPTIONS"):
                output = await self.scan(SVWAR, "--force", "-m", method, "-d", names)
                self.assertIn("found nothing", output, output)
                self.assertNotIn("| Extension", output, output)
            self.assertEqual(await self.registrations(), 0)

        return Deferred.fromCoroutine(check())

    def test_svcrackFindsNoPassword(self) -> Deferred[None]:
        """
        C{svcrack} with a wordlist that lacks the password finds none; with one that has
        it, it finds it (so the tool does work against sst).
        """
        async def check() -> None:
            assert SVCRACK is not None
            wrong = self.wordlist("wrong", ["123456", "password", "alice", "letmein", "1234"])
            output = await self.scan(SVCRACK, "-u", "alice", "-d", wrong)
            self.assertIn("found nothing", output, output)
            self.assertNotIn(PASSWORD, output)
            right = self.wordlist("right", ["123456", PASSWORD])
            output = await self.scan(SVCRACK, "-u", "alice", "-d", right)
            self.assertIn(PASSWORD, output, output)

        return Deferred.fromCoroutine(check())
