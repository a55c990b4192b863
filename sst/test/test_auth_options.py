# -*- test-case-name: sst.test.test_auth_options -*-
"""
Tests for L{sst.auth.options}: the C{--auth-*} options and the refusal to listen beyond
loopback without authentication.
"""
from __future__ import annotations

import os

from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from sst.address import Address
from sst.auth.authenticator import AuthSettings
from sst.auth.checkers import FileChecker, formatEntry
from sst.auth.options import isLoopback
from sst.auth.passwd import entryFor
from sst.test.test_tap import _twistd, parsed


class OptionsTests(SynchronousTestCase):
    """
    C{--auth-*} options of L{Options<sst.tap.Options>}.
    """

    def setUp(self) -> None:
        self.users = self.mktemp()
        with open(self.users, "w") as f:
            f.write(formatEntry(entryFor("alice@example.com", None, "pw")) + "\n")

    def assertUsage(self, message: str, *args: str) -> None:
        """
        Parsing C{args} raises L{UsageError} whose text contains C{message}.
        """
        e = self.assertRaises(UsageError, parsed, *args)
        self.assertIn(message, str(e))

    def test_loopbackOpen(self) -> None:
        """
        By default (loopback) authentication is off and nothing is asked.
        """
        self.assertIsNone(parsed("--state", "none")["auth"])
        self.assertIsNone(parsed("--listen", "udp:127.0.0.2:5060", "--listen",
                                 "tcp:[::1]:5060", "--state", "none")["auth"])

    def test_exposedRefused(self) -> None:
        """
        A listen address beyond loopback without authentication is refused in one line,
        unless C{--no-auth}.
        """
        self.assertUsage("refusing to listen on udp:0.0.0.0:5060 without authentication: "
                         "give --auth-file (see sst-passwd), or --no-auth to run open",
                         "--listen", "udp:127.0.0.1:5060", "--listen", "udp:0.0.0.0:5060")
        self.assertIsNone(parsed("--listen", "udp:0.0.0.0:5060", "--no-auth",
                                 "--state", "none")["auth"])

    def test_exposedWithAuth(self) -> None:
        """
        With C{--auth-file}, any address may be listened on; the file checker is the
        default, the nonce key random, the lifetime 300 s, every algorithm offered.
        """
        options = parsed("--listen", "udp:0.0.0.0:5060", "--auth-file", self.users,
                         "--trusted-network", "10.0.0.0/8", "--state", "none")
        settings = options["auth"]
        self.assertIsInstance(settings, AuthSettings)
        self.assertIsInstance(settings.checker, FileChecker)
        self.assertEqual(len(settings.nonceKey), 32)
        self.assertEqual(settings.nonceLifetime, 300.0)
        self.assertEqual(settings.algorithms, ("SHA-512-256", "SHA-256", "MD5"))
        self.assertEqual([str(n) for n in settings.trusted], ["10.0.0.0/8"])
        self.assertIsNone(settings.realm)

    def test_values(self) -> None:
        """
        The nonce key file, lifetime, realm and algorithms are read; the algorithms are put
        strongest first.
        """
        key = self.mktemp()
        with open(key, "wb") as f:
            f.write(b"0123456789abcdef")
        settings = parsed("--auth-file", self.users, "--auth-nonce-key", key,
                          "--auth-nonce-lifetime", "60", "--auth-realm", "Acme",
                          "--auth-algorithms", "md5, sha-256", "--state", "none")["auth"]
        self.assertEqual(settings.nonceKey, b"0123456789abcdef")
        self.assertEqual(settings.nonceLifetime, 60.0)
        self.assertEqual(settings.realm, "Acme")
        self.assertEqual(settings.algorithms, ("SHA-256", "MD5"))

    def test_bad(self) -> None:
        """
        Bad values are usage errors that say what is wrong.
        """
        short = self.mktemp()
        with open(short, "wb") as f:
            f.write(b"short")
        malformed = self.mktemp()
        with open(malformed, "w") as f:
            f.write("alice\n")
        for message, args in [
            ("No such file", ["--auth-file", self.users + ".missing"]),
            ("line 1", ["--auth-file", malformed]),
            ("unknown --auth-checker 'nosuch'; found: file", ["--auth-checker", "nosuch"]),
            ("the file checker needs --auth-file", ["--auth-checker", "file"]),
            ("at least 16 bytes", ["--auth-file", self.users, "--auth-nonce-key", short]),
            ("No such file", ["--auth-file", self.users, "--auth-nonce-key", short + "x"]),
            ("--auth-nonce-lifetime must be greater than 0",
             ["--auth-file", self.users, "--auth-nonce-lifetime", "0"]),
            ("unknown algorithm 'SHA-1'", ["--auth-file", self.users, "--auth-algorithms", "sha-1"]),
            ("names no algorithm", ["--auth-file", self.users, "--auth-algorithms", ","]),
            ("--no-auth contradicts", ["--auth-file", self.users, "--no-auth"]),
            ("KEY=VALUE", ["--auth-checker-option", "novalue"]),
        ]:
            self.assertUsage(message, *args, "--state", "none")

    def test_algorithmMissing(self) -> None:
        """
        Where OpenSSL lacks SHA-512/256, the default offers the others; asking for it is a
        usage error.
        """
        import sst.auth.options

        self.patch(sst.auth.options, "availableAlgorithms", lambda: ["SHA-256", "MD5"])
        self.assertEqual(parsed("--auth-file", self.users, "--state", "none")["auth"].algorithms,
                         ("SHA-256", "MD5"))
        self.assertUsage("SHA-512-256 is not available", "--auth-file", self.users,
                         "--auth-algorithms", "SHA-512-256,MD5", "--state", "none")

    def test_checkerOptions(self) -> None:
        """
        C{--auth-checker-option KEY=VALUE} collects options for the plugin.
        """
        options = parsed("--auth-checker-option", "dsn=postgres://x", "--auth-checker-option",
                         "table = users", "--state", "none")
        self.assertEqual(options["auth-checker-option"], {"dsn": "postgres://x", "table": "users"})

    def test_isLoopback(self) -> None:
        """
        127.0.0.0/8, ::1 and localhost are loopback; other addresses and names are not.
        """
        for host, expected in [("127.0.0.1", True), ("127.9.9.9", True), ("::1", True),
                               ("[::1]", True), ("localhost", True), ("0.0.0.0", False),
                               ("::", False), ("192.0.2.1", False), ("sip.example.com", False)]:
            self.assertEqual(isLoopback(Address("udp", host, 5060)), expected, host)


class StartupTests(SynchronousTestCase):
    """
    Through twistd, a users file that cannot be used, or an exposed listen address without
    authentication, stops start-up with a short message and exit status 1.
    """

    def test_malformedUsersFile(self) -> None:
        """
        A malformed users file: a few lines ending with the file, line and error.
        """
        path = os.path.abspath(self.mktemp())
        with open(path, "w") as f:
            f.write("# ok\nalice@example.com\n")
        result = _twistd("--auth-file", path, "--http", "none", "--state", "none")
        self.assertEqual(result.returncode, 1)
        output = result.stdout + result.stderr
        self.assertLessEqual(len(output.splitlines()), 4, output)
        self.assertIn("--auth-file: %s line 2: want user@domain:realm:md5:sha256:sha512-256" % (path,), output)
        self.assertNotIn("Traceback", output)

    def test_exposed(self) -> None:
        """
        Listening on every address without authentication is refused.
        """
        result = _twistd("--listen", "udp:0.0.0.0:0", "--http", "none", "--state", "none")
        self.assertEqual(result.returncode, 1)
        output = result.stdout + result.stderr
        self.assertIn("refusing to listen on udp:0.0.0.0:0 without authentication", output)
        self.assertNotIn("Traceback", output)
