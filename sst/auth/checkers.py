# -*- test-case-name: sst.test.test_auth -*-
"""
Digest credentials for C{twisted.cred} (L{DigestResponse}), the users file that stores
C{H(A1)} hashes rather than passwords (L{UsersFile}, L{FileChecker}), and how the checker
plugins are found (L{findCheckers}).

The users file (C{--auth-file}) has one line per user::

    alice@example.com:example.com:MD5-HA1:SHA-256-HA1:SHA-512-256-HA1

the user's identity (its address of record without C{sip:}), the realm (the domain unless
chosen otherwise), then C{H(user ":" realm ":" password)} in lower-case hex for MD5, SHA-256
and SHA-512/256, where C{user} is the identity's user part: the digest username a phone
sends is the user part (C{alice}), not the whole address. A hash may be left empty: that
algorithm then never succeeds for the user. Blank lines and lines starting with C{#} are
ignored. C{sst-passwd} writes it (L{sst.auth.passwd}).
"""
from __future__ import annotations

import hmac
import os
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.error import UnauthorizedLogin, UnhandledCredentials
from twisted.internet.defer import Deferred, fail, succeed
from twisted.logger import Logger
from twisted.plugin import IPlugin
from zope.interface import implementer

from sst.auth.digest import ALGORITHMS, DigestCredentials, calcHA1, calcResponse
from sst.interfaces import IAuthCheckerFactory, IDigestResponse

__all__ = [
    "DigestResponse",
    "FileChecker",
    "FileCheckerFactory",
    "UserEntry",
    "UsersFile",
    "UsersFileError",
    "findCheckers",
    "formatEntry",
    "parseUsers",
]

#: The algorithms of the users file's hash columns, in order.
FILE_ALGORITHMS = ("MD5", "SHA-256", "SHA-512-256")

#: The length in hex digits of each algorithm's hash.
_HEX_LENGTHS = {"MD5": 32, "SHA-256": 64, "SHA-512-256": 64}

_HEX = frozenset("0123456789abcdef")


@implementer(IDigestResponse)
class DigestResponse:
    """
    Digest credentials of one request (C{qop=auth} or none), checked against C{H(A1)}.

    @ivar username: the digest username.
    @ivar realm: the realm.
    @ivar algorithm: the algorithm, upper case.
    """

    def __init__(self, credentials: DigestCredentials, method: str) -> None:
        """
        @param credentials: the parsed Authorization or Proxy-Authorization value.
        @param method: the request's method (C{A2} is C{method ":" uri}).
        """
        self.credentials = credentials
        self.method = method
        self.username = credentials.username
        self.realm = credentials.realm
        self.algorithm = credentials.algorithm

    def checkHash(self, digestHash: object) -> bool:
        """
        Whether the response was made with this C{H(A1)} (lower-case hex, of L{algorithm}).
        """
        if isinstance(digestHash, bytes):
            digestHash = digestHash.decode("ascii", "replace")
        if not isinstance(digestHash, str) or not digestHash:
            return False
        c = self.credentials
        try:
            expected = calcResponse(self.algorithm, digestHash.lower(), self.method,
                                    c.get("uri") or "", c.nonce, c.get("nc"), c.get("cnonce"),
                                    c.get("qop"))
        except ValueError:
            return False
        given = (c.get("response") or "").lower()
        return hmac.compare_digest(expected.encode("ascii"), given.encode("ascii", "replace"))

    def checkPassword(self, password: str) -> bool:
        """
        Whether the response was made with C{password}.
        """
        try:
            ha1 = calcHA1(self.algorithm, self.username, self.realm, password)
        except ValueError:
            return False
        return self.checkHash(ha1)


@dataclass(frozen=True)
class UserEntry:
    """
    One line of the users file.

    @ivar identity: C{user@domain}.
    @ivar realm: the realm of the hashes.
    @ivar hashes: C{H(A1)} by algorithm name; an algorithm left empty is missing.
    """

    identity: str
    realm: str
    hashes: Mapping[str, str]

    @property
    def user(self) -> str:
        """
        The digest username: the identity's user part.
        """
        return self.identity.rpartition("@")[0]


class UsersFileError(ValueError):
    """
    A users file that cannot be read or parsed; the message names the file and line.
    """


def formatEntry(entry: UserEntry) -> str:
    """
    @return: C{entry} as a line of the users file, without the newline.
    """
    return ":".join([entry.identity, entry.realm]
                    + [entry.hashes.get(a, "") for a in FILE_ALGORITHMS])


def parseUsers(text: str, name: str = "users file") -> dict[tuple[str, str], UserEntry]:
    """
    Parse the text of a users file.

    @param name: what to call it in errors.
    @return: the entries by (digest username, realm).
    @raise UsersFileError: at the first bad line.
    """
    users: dict[tuple[str, str], UserEntry] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(":")
        where = "%s line %d" % (name, number)
        if len(fields) != 2 + len(FILE_ALGORITHMS):
            raise UsersFileError("%s: want user@domain:realm:md5:sha256:sha512-256, %d fields "
                                 "separated by colons, not %d" % (where, 2 + len(FILE_ALGORITHMS),
                                                                  len(fields)))
        identity, realm = fields[0], fields[1]
        user, at, domain = identity.rpartition("@")
        if not at or not user or not domain:
            raise UsersFileError("%s: the identity %r is not user@domain" % (where, identity))
        if not realm:
            raise UsersFileError("%s: the realm is empty" % (where,))
        hashes: dict[str, str] = {}
        for algorithm, value in zip(FILE_ALGORITHMS, fields[2:]):
            value = value.lower()
            if value and (len(value) != _HEX_LENGTHS[algorithm] or not set(value) <= _HEX):
                raise UsersFileError("%s: the %s hash must be %d hex digits" % (
                    where, algorithm, _HEX_LENGTHS[algorithm]))
            if value:
                hashes[algorithm] = value
        if not hashes:
            raise UsersFileError("%s: %s has no hash at all" % (where, identity))
        entry = UserEntry("%s@%s" % (user, domain.lower()), realm, hashes)
        key = (entry.user, realm)
        if key in users:
            raise UsersFileError("%s: user %r appears twice in realm %r" % (where, entry.user,
                                                                            realm))
        users[key] = entry
    return users


class UsersFile:
    """
    The users file, read again when it changes (checked by its size and modification
    time on each look-up, so that C{sst-passwd} takes effect without a restart). A change
    that does not parse is logged, and the users read before are kept.
    """

    _log = Logger()

    def __init__(self, path: str) -> None:
        """
        @raise UsersFileError: when the file cannot be read or parsed.
        """
        self.path = path
        self._stamp: Optional[tuple[int, int]] = None
        self.users: dict[tuple[str, str], UserEntry] = {}
        self._load()

    def _load(self) -> None:
        try:
            stat = os.stat(self.path)
            with open(self.path, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as e:
            raise UsersFileError("%s: %s" % (self.path, getattr(e, "strerror", None) or e))
        self.users = parseUsers(text, self.path)
        self._stamp = (stat.st_mtime_ns, stat.st_size)

    def lookup(self, user: str, realm: str) -> Optional[UserEntry]:
        """
        @return: the entry of digest username C{user} in C{realm}, or L{None}.
        """
        try:
            stat = os.stat(self.path)
        except OSError:
            stat = None
        if stat is not None and (stat.st_mtime_ns, stat.st_size) != self._stamp:
            try:
                self._load()
            except UsersFileError as e:
                self._stamp = (stat.st_mtime_ns, stat.st_size)
                self._log.error("Keeping the users read before: {error}", error=str(e))
            else:
                self._log.info("Read {count} users from {path}", count=len(self.users),
                               path=self.path)
        return self.users.get((user, realm))


#: Compared with when the user is unknown, so that an unknown user costs what a wrong
#: password does.
_NO_HASH = "0" * 64


@implementer(ICredentialsChecker)
class FileChecker:
    """
    Checks L{IDigestResponse} credentials against a L{UsersFile}; the avatar identifier is
    the user's identity, C{user@domain}. An unknown user and a wrong response fail alike,
    with L{UnauthorizedLogin}.
    """

    credentialInterfaces = (IDigestResponse,)

    def __init__(self, users: UsersFile) -> None:
        self.users = users

    def requestAvatarId(self, credentials: Any) -> Deferred[Any]:
        """
        @param credentials: an L{IDigestResponse}.
        @return: a L{Deferred} that fires with C{user@domain}, or fails with
            L{UnauthorizedLogin}.
        """
        if not IDigestResponse.providedBy(credentials):
            return fail(UnhandledCredentials())
        response: Any = credentials
        entry = self.users.lookup(response.username, response.realm)
        ha1 = entry.hashes.get(response.algorithm) if entry is not None else None
        ok = response.checkHash(ha1 if ha1 is not None else _NO_HASH)
        if entry is None or ha1 is None or not ok:
            return fail(UnauthorizedLogin())
        return succeed(entry.identity)


@implementer(IPlugin, IAuthCheckerFactory)
class FileCheckerFactory:
    """
    C{--auth-checker file --auth-file FILE}: the users file of L{sst.auth.checkers}.
    """

    name = "file"
    description = "users and their H(A1) hashes in --auth-file (written by sst-passwd)"

    def checkerFor(self, options: Mapping[str, Any]) -> ICredentialsChecker:
        path = options.get("auth-file")
        if not path:
            raise ValueError("the file checker needs --auth-file FILE")
        return FileChecker(UsersFile(path))


def findCheckers() -> dict[str, IAuthCheckerFactory]:
    """
    @return: every checker plugin found, by name.
    """
    from twisted.plugin import getPlugins

    import sst.plugins

    found: dict[str, IAuthCheckerFactory] = {}
    for plugin in getPlugins(IAuthCheckerFactory, sst.plugins):
        found.setdefault(plugin.name, plugin)
    return found


# Every algorithm of the file is one sst knows.
assert set(FILE_ALGORITHMS) == set(ALGORITHMS)
