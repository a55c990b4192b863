# -*- test-case-name: sst.test.test_auth_options -*-
"""
The C{--auth-*} options of C{twistd sst}, checked into L{AuthSettings}, and the safe
default: sst listening beyond loopback does not start without authentication unless told
so with C{--no-auth}.

L{Options<sst.tap.Options>} declares the options; L{authSettingsFrom} reads them.
"""
from __future__ import annotations

import ipaddress
import os
from typing import Any, Mapping, Optional, Sequence

from twisted.cred.checkers import ICredentialsChecker
from twisted.python import usage

from sst.address import Address
from sst.auth.authenticator import AuthSettings
from sst.auth.checkers import findCheckers
from sst.auth.digest import ALGORITHMS, availableAlgorithms
from sst.auth.nonces import MIN_KEY_SIZE
from sst.interfaces import IDigestResponse

__all__ = ["AUTH_PARAMETERS", "AUTH_FLAGS", "authSettingsFrom", "isLoopback"]

#: C{--auth-algorithms} by default: all of them, where available.
_DEFAULT_ALGORITHMS = ",".join(ALGORITHMS)

#: The C{optParameters} rows of the C{--auth-*} options.
AUTH_PARAMETERS = [
    ["auth-file", None, None, "Digest authentication: users and their H(A1) hashes, one "
     "user@domain:realm:md5:sha256:sha512-256 a line (written by sst-passwd)."],
    ["auth-checker", None, None, "Digest authentication: the credentials-checker plugin "
     "(default: file, when --auth-file is given)."],
    ["auth-nonce-key", None, None, "File holding the key (16 bytes or more) nonces are "
     "signed with, to share it between processes and restarts (default: random at start)."],
    ["auth-nonce-lifetime", None, "300", "Seconds a digest nonce stays valid."],
    ["auth-realm", None, None, "The realm of every challenge (default: the domain of the "
     "From, or of the To of a REGISTER)."],
    ["auth-algorithms", None, _DEFAULT_ALGORITHMS, "Digest algorithms offered, strongest "
     "first (SHA-512-256, SHA-256, MD5)."],
]

#: The C{optFlags} rows of the C{--auth-*} options.
AUTH_FLAGS = [
    ["no-auth", None, "Listen beyond loopback without authentication (an open proxy for "
     "anyone who can reach it: only behind another guard)."],
]


def isLoopback(address: Address) -> bool:
    """
    @return: whether C{address} is on loopback only (127.0.0.0/8, ::1, localhost).
    """
    host = address.host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _algorithms(text: str) -> tuple[str, ...]:
    """
    @return: the algorithms of C{--auth-algorithms}, strongest first; by default every one
        this Python's OpenSSL has (SHA-512/256 needs OpenSSL 1.1.1).
    @raise usage.UsageError: for an unknown algorithm, or one asked for that is missing.
    """
    available = availableAlgorithms()
    if text == _DEFAULT_ALGORITHMS:
        return tuple(available)
    names = [name.strip().upper() for name in text.split(",") if name.strip()]
    for name in names:
        if name not in ALGORITHMS:
            raise usage.UsageError("--auth-algorithms: unknown algorithm %r (known: %s)"
                                   % (name, ", ".join(ALGORITHMS)))
        if name not in available:
            raise usage.UsageError("--auth-algorithms: %s is not available in this Python's "
                                   "OpenSSL" % (name,))
    if not names:
        raise usage.UsageError("--auth-algorithms names no algorithm")
    return tuple(sorted(set(names), key=list(ALGORITHMS).index))


def _nonceKey(path: Optional[str]) -> bytes:
    if path is None:
        return os.urandom(32)
    try:
        with open(path, "rb") as f:
            key = f.read()
    except OSError as e:
        raise usage.UsageError("--auth-nonce-key %s: %s" % (path, e.strerror))
    if len(key) < MIN_KEY_SIZE:
        raise usage.UsageError("--auth-nonce-key %s: the key must have at least %d bytes"
                               % (path, MIN_KEY_SIZE))
    return key


def _checker(options: Mapping[str, Any]) -> ICredentialsChecker:
    name = options["auth-checker"] or "file"
    checkers = findCheckers()
    factory = checkers.get(name)
    if factory is None:
        raise usage.UsageError("unknown --auth-checker %r; found: %s"
                               % (name, ", ".join(sorted(checkers)) or "none"))
    try:
        checker = factory.checkerFor(options)
    except ValueError as e:
        given = options["auth-checker"] is not None
        raise usage.UsageError("%s: %s" % ("--auth-checker " + name if given else "--auth-file", e))
    if not ICredentialsChecker.providedBy(checker) or IDigestResponse not in tuple(
            getattr(checker, "credentialInterfaces", ())):
        raise usage.UsageError("--auth-checker %s did not build an ICredentialsChecker of "
                               "IDigestResponse credentials" % (name,))
    return checker


def authSettingsFrom(options: Mapping[str, Any], listen: Sequence[Address],
                     trusted: Sequence[Any]) -> Optional[AuthSettings]:
    """
    Check the C{--auth-*} options.

    @param options: the parsed command line.
    @param listen: the C{--listen} addresses.
    @param trusted: the C{--trusted-network}s, never challenged.
    @return: the settings, or L{None} when authentication is off.
    @raise usage.UsageError: on a bad option, a users file that cannot be read, or a
        listen address beyond loopback with neither a checker nor C{--no-auth}.
    """
    lifetime = options["auth-nonce-lifetime"]
    try:
        seconds = float(lifetime)
    except ValueError:
        raise usage.UsageError("--auth-nonce-lifetime wants a number, not %r" % (lifetime,))
    if seconds <= 0:
        raise usage.UsageError("--auth-nonce-lifetime must be greater than 0")
    algorithms = _algorithms(options["auth-algorithms"])
    wanted = options["auth-file"] is not None or options["auth-checker"] is not None
    if options["no-auth"]:
        if wanted:
            raise usage.UsageError("--no-auth contradicts --auth-file and --auth-checker")
        return None
    if not wanted:
        exposed = [a for a in listen if not isLoopback(a)]
        if exposed:
            raise usage.UsageError(
                "refusing to listen on %s:%s without authentication: give --auth-file "
                "(see sst-passwd), or --no-auth to run open"
                % (exposed[0].transport, exposed[0].hostport()))
        return None
    return AuthSettings(_checker(options), _nonceKey(options["auth-nonce-key"]), seconds,
                        algorithms, options["auth-realm"], tuple(trusted))
