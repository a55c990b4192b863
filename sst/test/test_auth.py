# -*- test-case-name: sst.test.test_auth -*-
"""
Tests for L{sst.auth}: the digest arithmetic against the RFCs' examples, the nonces, the
credentials and the users-file checker, and C{sst-passwd}.
"""
from __future__ import annotations

import io
import os
import stat

from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import IUsernameDigestHash
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.task import Clock
from twisted.plugin import IPlugin
from twisted.trial.unittest import SynchronousTestCase

from sst.auth.checkers import (
    DigestResponse,
    FileChecker,
    FileCheckerFactory,
    UsersFile,
    UsersFileError,
    findCheckers,
    parseUsers,
)
from sst.auth.digest import (
    ALGORITHMS,
    DigestSyntaxError,
    availableAlgorithms,
    calcHA1,
    calcResponse,
    challengeValue,
    credentialsValue,
    parseCredentials,
)
from sst.auth.nonces import NonceService, NonceState
from sst.auth.passwd import entryFor, main, replaceEntry
from sst.interfaces import IAuthCheckerFactory, IDigestResponse
from sst.test._support import assertProvides

KEY = b"k" * 32

#: RFC 7616 section 3.9.1.
RFC7616 = dict(username="Mufasa", realm="http-auth@example.org", password="Circle of Life",
               method="GET", uri="/dir/index.html",
               nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc="00000001",
               cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")


class DigestTests(SynchronousTestCase):
    """
    L{sst.auth.digest}.
    """

    def test_rfc2617(self) -> None:
        """
        The MD5 example of RFC 2617 section 3.5.
        """
        ha1 = calcHA1("MD5", "Mufasa", "testrealm@host.com", "Circle Of Life")
        self.assertEqual(
            calcResponse("MD5", ha1, "GET", "/dir/index.html", "dcd98b7102dd2f0e8b11d0f600bfb0c093",
                         "00000001", "0a4f113b", "auth"),
            "6629fae49393a05397450978507c4ef1")

    def test_rfc7616SHA256(self) -> None:
        """
        The SHA-256 example of RFC 7616 section 3.9.1.
        """
        r = RFC7616
        ha1 = calcHA1("SHA-256", r["username"], r["realm"], r["password"])
        self.assertEqual(
            calcResponse("SHA-256", ha1, r["method"], r["uri"], r["nonce"], r["nc"], r["cnonce"],
                         "auth"),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1")

    def test_rfc7616MD5(self) -> None:
        """
        The MD5 example of RFC 7616 section 3.9.1.
        """
        r = RFC7616
        ha1 = calcHA1("md5", r["username"], r["realm"], r["password"])
        self.assertEqual(
            calcResponse("MD5", ha1, r["method"], r["uri"], r["nonce"], r["nc"], r["cnonce"], "auth"),
            "8ca523f5e9506fed4657c9700eebdbec")

    def test_sha512_256(self) -> None:
        """
        SHA-512-256 is SHA-512/256 (FIPS 180-4, with its own initial values, not a
        truncated SHA-512): the hash L{calcHA1} uses gives the NIST example's value for
        C{"abc"}.
        """
        import hashlib

        self.assertIn("SHA-512-256", availableAlgorithms())

        self.assertEqual(hashlib.new("sha512_256", b"abc").hexdigest(),
                         "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23")
        self.assertEqual(calcHA1("SHA-512-256", "a", "b", "c"),
                         hashlib.new("sha512_256", b"a:b:c").hexdigest())
        self.assertNotEqual(calcHA1("SHA-512-256", "a", "b", "c"),
                            hashlib.sha512(b"a:b:c").hexdigest()[:64])

    def test_noQop(self) -> None:
        """
        Without C{qop}, the response is the RFC 2069 form C{H(HA1:nonce:HA2)}.
        """
        ha1 = calcHA1("MD5", "Mufasa", "testrealm@host.com", "Circle Of Life")
        self.assertEqual(
            calcResponse("MD5", ha1, "GET", "/dir/index.html", "dcd98b7102dd2f0e8b11d0f600bfb0c093"),
            "670fd8c2df070c60b045671b8b24ff02")

    def test_unknownAlgorithm(self) -> None:
        """
        An algorithm sst does not know, or a C{qop} other than C{auth}, is a L{ValueError}.
        """
        self.assertRaises(ValueError, calcHA1, "SHA-1", "a", "b", "c")
        self.assertRaises(ValueError, calcResponse, "MD5", "x", "GET", "/", "n", "1", "c",
                          "auth-int")

    def test_algorithmsStrongestFirst(self) -> None:
        """
        The algorithms are listed strongest first (RFC 8760 section 2.4).
        """
        self.assertEqual(list(ALGORITHMS), ["SHA-512-256", "SHA-256", "MD5"])

    def test_parseCredentials(self) -> None:
        """
        Credentials parse into unquoted parameters with lower-case names; escapes inside
        quoted strings are undone; commas inside quotes do not split.
        """
        c = parseCredentials('Digest username="al\\"ice", Realm=example.com,'
                             'uri="sip:a@b;x=1,2" , nc=00000001,qop=auth')
        self.assertEqual(c.params, {"username": 'al"ice', "realm": "example.com",
                                    "uri": "sip:a@b;x=1,2", "nc": "00000001", "qop": "auth"})
        self.assertEqual(c.algorithm, "MD5")

    def test_parseCredentialsErrors(self) -> None:
        """
        Another scheme, an unterminated quote, a repeated parameter or a missing value is
        a L{DigestSyntaxError}.
        """
        for bad in ['Basic YWxhZGRpbjpvcGVuc2VzYW1l', 'Digest username="a', 'Digest a=1, a=2',
                    'Digest username', 'Digest a="1" b=2']:
            self.assertRaises(DigestSyntaxError, parseCredentials, bad)

    def test_challengeRoundTrip(self) -> None:
        """
        A challenge parses back, and L{credentialsValue} answers it with a response that
        L{DigestResponse} accepts.
        """
        value = challengeValue("example.com", "n0nce", "SHA-256", stale=True)
        self.assertEqual(value, 'Digest realm="example.com", nonce="n0nce", stale=true, '
                                'algorithm=SHA-256, qop="auth"')
        challenge = parseCredentials(value)
        answer = parseCredentials(credentialsValue(challenge, "INVITE", "sip:bob@example.com",
                                                   "alice", "secret"))
        self.assertEqual(answer.algorithm, "SHA-256")
        self.assertTrue(DigestResponse(answer, "INVITE").checkPassword("secret"))
        self.assertFalse(DigestResponse(answer, "INVITE").checkPassword("Secret"))
        self.assertFalse(DigestResponse(answer, "BYE").checkPassword("secret"))


class NonceTests(SynchronousTestCase):
    """
    L{NonceService}.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1000)
        self.nonces = NonceService(self.clock, KEY, lifetime=300)

    def test_valid(self) -> None:
        """
        A nonce just issued is valid for its realm, and nonces differ.
        """
        nonce = self.nonces.issue("example.com")
        self.assertEqual(self.nonces.check(nonce, "example.com"), NonceState.VALID)
        self.assertNotEqual(nonce, self.nonces.issue("example.com"))

    def test_otherRealm(self) -> None:
        """
        A nonce is bound to its realm.
        """
        nonce = self.nonces.issue("example.com")
        self.assertEqual(self.nonces.check(nonce, "example.org"), NonceState.INVALID)

    def test_forged(self) -> None:
        """
        A nonce with a changed byte, another server's (another key), or garbage, is
        invalid, never stale.
        """
        nonce = self.nonces.issue("r")
        tampered = nonce[:3] + ("A" if nonce[3] != "A" else "B") + nonce[4:]
        other = NonceService(self.clock, b"x" * 32).issue("r")
        for bad in [tampered, other, "", "abc", "!" * 44, nonce + "AAAA"]:
            self.assertEqual(self.nonces.check(bad, "r"), NonceState.INVALID, bad)
        self.clock.advance(301)
        self.assertEqual(self.nonces.check(tampered, "r"), NonceState.INVALID)

    def test_expired(self) -> None:
        """
        At its lifetime a nonce becomes stale.
        """
        nonce = self.nonces.issue("r")
        self.clock.advance(299.9)
        self.assertEqual(self.nonces.check(nonce, "r"), NonceState.VALID)
        self.clock.advance(0.1)
        self.assertEqual(self.nonces.check(nonce, "r"), NonceState.STALE)

    def test_sharedKey(self) -> None:
        """
        Two services with the same key (two processes, or a restart) accept each other's
        nonces.
        """
        nonce = NonceService(self.clock, KEY).issue("r")
        self.assertEqual(self.nonces.check(nonce, "r"), NonceState.VALID)

    def test_shortKey(self) -> None:
        """
        A key shorter than 16 bytes is refused.
        """
        self.assertRaises(ValueError, NonceService, self.clock, b"short")

    def test_replay(self) -> None:
        """
        Each C{nc} must be larger than the last accepted with its nonce; nonces are
        counted apart.
        """
        a, b = self.nonces.issue("r"), self.nonces.issue("r")
        self.assertTrue(self.nonces.useCount(a, 1))
        self.assertFalse(self.nonces.useCount(a, 1))
        self.assertTrue(self.nonces.useCount(b, 1))
        self.assertTrue(self.nonces.useCount(a, 3))
        self.assertFalse(self.nonces.useCount(a, 2))
        self.assertTrue(self.nonces.useCount(a, 4))

    def test_countsForgotten(self) -> None:
        """
        The counts of a nonce are dropped once it expires, with no timer.
        """
        self.nonces.useCount(self.nonces.issue("r"), 1)
        self.clock.advance(150)
        later = self.nonces.issue("r")
        self.nonces.useCount(later, 1)
        self.assertEqual(len(self.nonces), 2)
        self.clock.advance(150)
        self.nonces.useCount(later, 2)
        self.assertEqual(len(self.nonces), 1)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_bounded(self) -> None:
        """
        Past C{maxTracked}, the nonce expiring first is forgotten and becomes stale, so
        that its counts cannot be replayed.
        """
        nonces = NonceService(self.clock, KEY, lifetime=300, maxTracked=2)
        first = nonces.issue("r")
        self.clock.advance(1)
        second = nonces.issue("r")
        self.clock.advance(1)
        third = nonces.issue("r")
        self.assertTrue(nonces.useCount(first, 1))
        self.assertTrue(nonces.useCount(second, 1))
        self.assertTrue(nonces.useCount(third, 1))
        self.assertEqual(len(nonces), 2)
        self.assertEqual(nonces.check(first, "r"), NonceState.STALE)
        self.assertFalse(nonces.useCount(first, 2))
        self.assertEqual(nonces.check(third, "r"), NonceState.VALID)


def _response(password: str, username: str = "alice", realm: str = "example.com",
              algorithm: str = "MD5") -> DigestResponse:
    challenge = parseCredentials(challengeValue(realm, "nonce", algorithm))
    return DigestResponse(parseCredentials(credentialsValue(
        challenge, "REGISTER", "sip:example.com", username, password)), "REGISTER")


class CheckerTests(SynchronousTestCase):
    """
    L{DigestResponse}, L{FileChecker} and its plugin.
    """

    def setUp(self) -> None:
        self.path = self.mktemp()
        with open(self.path, "w") as f:
            f.write("# users\n\n")
            f.write(_line("alice@example.com", None, "secret") + "\n")
            f.write(_line("bob@example.org", "Acme", "hunter2") + "\n")
        self.checker = FileChecker(UsersFile(self.path))

    def test_provides(self) -> None:
        """
        The credentials, the checker and the plugin provide their interfaces; the
        credentials are also Twisted's L{IUsernameDigestHash}.
        """
        response = _response("secret")
        assertProvides(self, IDigestResponse, response)
        assertProvides(self, IUsernameDigestHash, response)
        assertProvides(self, ICredentialsChecker, self.checker)
        assertProvides(self, IAuthCheckerFactory, FileCheckerFactory())
        assertProvides(self, IPlugin, FileCheckerFactory())

    def test_pluginFound(self) -> None:
        """
        The file checker is found as the C{file} plugin.
        """
        self.assertIsInstance(findCheckers()["file"], FileCheckerFactory)

    def test_factoryNeedsFile(self) -> None:
        """
        Without C{--auth-file}, the file plugin raises L{ValueError}; with a missing file,
        L{UsersFileError} (a L{ValueError}).
        """
        factory = FileCheckerFactory()
        self.assertRaises(ValueError, factory.checkerFor, {"auth-file": None})
        self.assertRaises(UsersFileError, factory.checkerFor, {"auth-file": self.path + "x"})
        self.assertIsInstance(factory.checkerFor({"auth-file": self.path}), FileChecker)

    def test_good(self) -> None:
        """
        The right password, for each algorithm, gives the identity.
        """
        for algorithm in ALGORITHMS:
            self.assertEqual(
                self.successResultOf(self.checker.requestAvatarId(
                    _response("secret", algorithm=algorithm))),
                "alice@example.com")

    def test_otherRealm(self) -> None:
        """
        A user in a realm of its own is found in that realm only.
        """
        self.assertEqual(self.successResultOf(self.checker.requestAvatarId(
            _response("hunter2", "bob", "Acme"))), "bob@example.org")
        self.failureResultOf(self.checker.requestAvatarId(
            _response("hunter2", "bob", "example.org")), UnauthorizedLogin)

    def test_wrongPasswordLikeUnknownUser(self) -> None:
        """
        A wrong password and an unknown user both fail with L{UnauthorizedLogin}.
        """
        wrong = self.failureResultOf(self.checker.requestAvatarId(_response("Secret")))
        unknown = self.failureResultOf(self.checker.requestAvatarId(
            _response("secret", "mallory")))
        self.assertEqual(type(wrong.value), UnauthorizedLogin)
        self.assertEqual(type(unknown.value), UnauthorizedLogin)
        self.assertEqual(str(wrong.value), str(unknown.value))

    def test_otherCredentials(self) -> None:
        """
        Credentials that are not L{IDigestResponse} are not handled.
        """
        from twisted.cred.credentials import UsernamePassword
        from twisted.cred.error import UnhandledCredentials

        self.failureResultOf(self.checker.requestAvatarId(UsernamePassword(b"alice", b"secret")),
                             UnhandledCredentials)

    def test_missingHash(self) -> None:
        """
        An algorithm whose hash is left empty never succeeds.
        """
        with open(self.path, "w") as f:
            f.write("alice@example.com:example.com:%s::\n"
                    % (calcHA1("MD5", "alice", "example.com", "secret"),))
        self.successResultOf(self.checker.requestAvatarId(_response("secret")))
        self.failureResultOf(self.checker.requestAvatarId(
            _response("secret", algorithm="SHA-256")), UnauthorizedLogin)

    def test_reread(self) -> None:
        """
        A changed file is read again at the next look-up; a change that does not parse is
        ignored (the users read before stay).
        """
        with open(self.path, "a") as f:
            f.write(_line("carol@example.com", None, "pw") + "\n")
        self.successResultOf(self.checker.requestAvatarId(_response("pw", "carol")))
        with open(self.path, "a") as f:
            f.write("broken line\n")
        self.successResultOf(self.checker.requestAvatarId(_response("pw", "carol")))
        self.flushLoggedErrors()

    def test_malformed(self) -> None:
        """
        A bad line is a L{UsersFileError} naming the file and line.
        """
        good = _line("a@b", None, "x")
        for bad in ["a@b:b:1234", "nodomain:b::%s::" % ("0" * 64,), "a@b::%s::" % ("0" * 32,),
                    "a@b:b:xyz::", "a@b:b:::", good + "\n" + good]:
            e = self.assertRaises(UsersFileError, parseUsers, bad, "users.txt")
            self.assertIn("users.txt line ", str(e))

    def test_unreadable(self) -> None:
        """
        A missing file is a L{UsersFileError} with the reason.
        """
        e = self.assertRaises(UsersFileError, UsersFile, self.path + ".missing")
        self.assertIn("No such file", str(e))


def _line(identity: str, realm: "str | None", password: str) -> str:
    from sst.auth.checkers import formatEntry

    return formatEntry(entryFor(identity, realm, password))


class PasswdTests(SynchronousTestCase):
    """
    C{sst-passwd} (L{sst.auth.passwd.main}).
    """

    def passwd(self, *args: str, password: str = "s3cret-pw") -> tuple[int, str]:
        stderr = io.StringIO()
        code = main(list(args), stdin=io.StringIO(password + "\n"), stderr=stderr)
        return code, stderr.getvalue()

    def test_writes(self) -> None:
        """
        The entry holds the identity, the realm (the domain by default) and the hashes of
        the password with the user part as digest username; never the password; the file
        has mode 0600.
        """
        path = self.mktemp()
        self.assertEqual(self.passwd(path, "alice@Example.COM"), (0, ""))
        with open(path) as f:
            text = f.read()
        self.assertNotIn("s3cret-pw", text)
        self.assertEqual(text, "alice@example.com:example.com:%s:%s:%s\n" % tuple(
            calcHA1(a, "alice", "example.com", "s3cret-pw") for a in ("MD5", "SHA-256",
                                                                      "SHA-512-256")))
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)

    def test_replaces(self) -> None:
        """
        Running it again for a user replaces its line; other lines and comments stay.
        """
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("# comment\n" + _line("bob@example.com", None, "x") + "\n")
        self.passwd(path, "alice@example.com", password="one")
        self.passwd(path, "alice@example.com", "--realm", "Acme", password="two")
        with open(path) as f:
            lines = f.read().splitlines()
        self.assertEqual(len(lines), 3)
        self.assertEqual(lines[0], "# comment")
        self.assertEqual(lines[2], _line("alice@example.com", "Acme", "two"))
        self.assertEqual([n for n in os.listdir(os.path.dirname(os.path.abspath(path)))
                          if n.startswith(".sst-passwd-")], [])

    def test_errors(self) -> None:
        """
        A bad identity, an empty password or a malformed file give status 1 and one line,
        and leave the file alone.
        """
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("garbage\n")
        code, error = self.passwd(path, "alice@example.com")
        self.assertEqual(code, 1)
        self.assertIn("line 1", error)
        self.assertEqual(self.passwd(path + "2", "alice"), (1, "sst-passwd: 'alice' is not user@domain\n"))
        self.assertEqual(self.passwd(path + "2", "a@b", password=""), (1, "sst-passwd: empty password\n"))
        with open(path) as f:
            self.assertEqual(f.read(), "garbage\n")
        self.assertFalse(os.path.exists(path + "2"))

    def test_replaceEntryKeepsOthers(self) -> None:
        """
        L{replaceEntry} adds an entry to an empty file.
        """
        entry = entryFor("a@b", None, "pw")
        self.assertEqual(len(parseUsers(replaceEntry("", entry))), 1)
