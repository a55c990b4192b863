# -*- test-case-name: sst.test.test_auth_sipp -*-
"""
SIPp integration tests of digest authentication, over UDP on 127.0.0.1.

SIPp (3.6) computes MD5 only and reads the first challenge of a response, so the proxy
offers MD5 only here (C{--auth-algorithms MD5}); SHA-256 and SHA-512-256 are tested in
L{sst.test.test_auth} and L{sst.test.test_proxy_auth}. No C{--trusted-network} is given,
so loopback is outside every trusted network and SIPp is challenged.
"""
from __future__ import annotations

import os

from twisted.internet import reactor as _globalReactor
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.trial.unittest import TestCase

from sst.auth.checkers import formatEntry
from sst.auth.passwd import entryFor
from sst.tap import Options, SIPService
from sst.test.sipp import (
    SippResult,
    freePort,
    runSipp,
    sippAvailable,
    sippExitOK,
    startSipp,
    waitForListening,
)
from sst.test.test_proxy_sipp import SIPP_TIMEOUT, _describe, _reactor

PASSWORD = "sipp-secret"


class AuthSippUDPTests(TestCase):
    """
    SIPp registers and calls through a proxy that authenticates.
    """

    if not sippAvailable():
        skip = "sipp not installed"

    timeout = 30

    def setUp(self) -> None:
        self.workdir = self.mktemp()
        os.makedirs(self.workdir)

    def _startProxy(self, *arguments: str) -> SIPService:
        """
        Start the stack on UDP 127.0.0.1 (a port the system picks) with C{arguments}; it
        is stopped when the test ends.
        """
        options = Options()
        options.parseOptions(["--listen", "udp:127.0.0.1:0", "--state", "none", "--http",
                              "none", *arguments])
        service = SIPService(options, _globalReactor)
        service.startService()
        self.addCleanup(service.stopService)
        return service

    def _proxyTarget(self, service: SIPService) -> str:
        return "127.0.0.1:%d" % (service.boundAddress("udp").port,)

    def _assertAllSuccessful(self, *results: SippResult) -> None:
        for result in results:
            self.assertTrue(sippExitOK(result), _describe(*results))
            self.assertEqual((result.successful, result.failed), (1, 0), _describe(*results))

    def _users(self) -> str:
        """
        @return: the path of a users file with C{sipp} and C{bob} in 127.0.0.1.
        """
        path = os.path.abspath(str(self.mktemp()))
        with open(path, "w") as f:
            for user in ("sipp", "bob"):
                f.write(formatEntry(entryFor("%s@127.0.0.1" % (user,), None, PASSWORD)) + "\n")
        return path

    def _authenticated(self, scenario: str, target: str, user: str, password: str,
                       **keys: str) -> Deferred[SippResult]:
        """
        Run C{scenario} once with C{-au user -ap password}.
        """
        return runSipp(_reactor(), scenario, target, localPort=freePort("udp"),
                       extraArgs=["-au", user, "-ap", password], keys=keys,
                       timeout=SIPP_TIMEOUT, workdir=self.workdir, service="bob")

    def test_register(self) -> Deferred[None]:
        """
        A REGISTER is challenged with 401, then accepted with the credentials.
        """

        async def check() -> None:
            service = self._startProxy("--auth-file", self._users(), "--auth-algorithms", "MD5")
            result = await self._authenticated("register_auth", self._proxyTarget(service),
                                               "bob", PASSWORD)
            self._assertAllSuccessful(result)
            self.assertEqual(len(service.locations), 1, _describe(result))
            stats = service.stats
            self.assertEqual((stats.get("auth_challenges"), stats.get("auth_ok"),
                              stats.get("auth_failures")), (1, 1, 0), _describe(result))

        return Deferred.fromCoroutine(check())

    def test_wrongPassword(self) -> Deferred[None]:
        """
        With a wrong password the second REGISTER is challenged again: SIPp fails.
        """

        async def check() -> None:
            service = self._startProxy("--auth-file", self._users(), "--auth-algorithms", "MD5")
            result = await self._authenticated("register_auth", self._proxyTarget(service),
                                               "bob", "wrong")
            self.assertEqual(result.successful, 0, _describe(result))
            self.assertEqual(len(service.locations), 0)
            self.assertEqual(service.stats.get("auth_failures"), 1, _describe(result))

        return Deferred.fromCoroutine(check())

    def test_call(self) -> Deferred[None]:
        """
        An INVITE from outside the trusted networks is challenged with 407, acknowledged,
        sent again with credentials and goes through; the callee never sees them.
        """

        async def check() -> None:
            calleePort = freePort("udp")
            service = self._startProxy("--next-hop", "sip:127.0.0.1:%d" % (calleePort,),
                                       "--auth-file", self._users(), "--auth-algorithms", "MD5")
            _, calleeDone = startSipp(_reactor(), "uas", None, localPort=calleePort,
                                      timeout=SIPP_TIMEOUT, workdir=self.workdir)
            try:
                await waitForListening(IReactorTime(_globalReactor), calleePort, "udp")
            except BaseException:
                calleeDone.cancel()
                raise
            try:
                caller = await self._authenticated("uac_auth", self._proxyTarget(service),
                                                   "sipp", PASSWORD,
                                                   callee="127.0.0.1:%d" % (calleePort,))
            finally:
                callee = await calleeDone
            self._assertAllSuccessful(caller, callee)
            why = _describe(caller, callee)
            self.assertNotIn("Proxy-Authorization", callee.messages, why)
            stats = service.stats
            self.assertEqual((stats.get("auth_challenges"), stats.get("auth_ok")), (1, 1), why)
            errors = {name: stats.get(name) for name in ("parse_errors", "dropped",
                                                         "send_errors", "internal_errors")}
            self.assertEqual(errors, dict.fromkeys(errors, 0), why)

        return Deferred.fromCoroutine(check())
