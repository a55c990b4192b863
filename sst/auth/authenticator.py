# -*- test-case-name: sst.test.test_auth,sst.test.test_proxy_auth -*-
"""
The digest authentication the cores ask before they route a request (RFC 3261 section
22): which requests are challenged, the challenges, and the checks of the credentials.

Who is challenged:
  - never ACK and CANCEL (a CANCEL cannot be resubmitted, RFC 3261 section 22.1), nor a
    request inside a dialog (a To tag), nor a request from a C{--trusted-network} source
    (trunks and PBXs);
  - a REGISTER for our registrar with C{401} and C{WWW-Authenticate};
  - every other request outside a dialog with C{407} and C{Proxy-Authenticate}.

One challenge header is offered per algorithm, strongest first (RFC 8760 section 2.4), all
with the same nonce and C{qop="auth"}; the credentials must use C{qop=auth}.

Who may do what once authenticated: the checker's identity (C{user@domain}) must be the
address of record the request speaks for, the To URI of a REGISTER (a user registers only
itself) and the From URI of anything else (no calling as someone else), else C{403}. A
request speaking for a domain that is not ours is answered C{403} at once: no user of ours
could be challenged for it.

Failures never tell an unknown user from a wrong password: both get a new challenge, the
same as a forged nonce or malformed credentials. An expired nonce with a correct response,
and a C{nc} already used with its nonce, get a new challenge with C{stale=true}, so that the
client retries without asking its user.

The realm is C{--auth-realm} when given, else the domain of that address of record.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.error import UnauthorizedLogin, UnhandledCredentials
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from sst.address import Address
from sst.auth.digest import (
    ALGORITHMS,
    DigestCredentials,
    DigestSyntaxError,
    challengeValue,
    parseCredentials,
)
from sst.auth.checkers import DigestResponse
from sst.auth.nonces import NonceService, NonceState
from sst.headers import URI
from sst.message import Request, Response
from sst.registrar import aorForURI
from sst.relay import IPNetwork, inNetworks
from sst.responses import makeResponse
from sst.stats import Stats

__all__ = ["AuthSettings", "Authenticator", "Rejection", "authenticatorFor"]

#: Requests that are never challenged (RFC 3261 section 22.1).
_NEVER = frozenset(["ACK", "CANCEL"])

_NC_DIGITS = frozenset("0123456789abcdefABCDEF")


@dataclass(frozen=True)
class AuthSettings:
    """
    The C{--auth-*} options.

    @ivar checker: verifies the credentials (C{--auth-checker}, C{--auth-file}).
    @ivar nonceKey: the key nonces are signed with (C{--auth-nonce-key}, or random).
    @ivar nonceLifetime: seconds a nonce stays valid (C{--auth-nonce-lifetime}).
    @ivar algorithms: the algorithms offered, strongest first (C{--auth-algorithms}).
    @ivar realm: the one realm of every challenge (C{--auth-realm}), or L{None}.
    @ivar trusted: source networks never challenged (C{--trusted-network}).
    """

    checker: ICredentialsChecker
    nonceKey: bytes
    nonceLifetime: float = 300.0
    algorithms: tuple[str, ...] = tuple(ALGORITHMS)
    realm: Optional[str] = None
    trusted: tuple[IPNetwork, ...] = ()


def authenticatorFor(settings: Optional[AuthSettings], clock: IReactorTime, stats: Stats,
                     isOurs: Callable[[str], bool]) -> Optional[Authenticator]:
    """
    @return: the authenticator C{settings} describe, or L{None} without settings
        (authentication off).
    """
    if settings is None:
        return None
    nonces = NonceService(clock, settings.nonceKey, settings.nonceLifetime)
    return Authenticator(settings.checker, nonces, stats, isOurs, settings.trusted,
                         settings.algorithms, settings.realm)


@dataclass(frozen=True)
class Rejection:
    """
    What a request that did not pass gets: a challenge (401, 407) or 403.

    @ivar code: the status code.
    @ivar headers: the headers to add, (name, value) pairs.
    """

    code: int
    headers: tuple[tuple[str, str], ...] = ()

    def responseTo(self, request: Request, toTag: str) -> Response:
        """
        @return: the response to C{request}, with our tag C{toTag}.
        """
        response = makeResponse(request, self.code, toTag=toTag)
        for name, value in self.headers:
            response.addHeader(name, value)
        return response


class Authenticator:
    """
    Challenges requests and checks their digest credentials with a C{twisted.cred}
    checker.

    @ivar checker: verifies L{IDigestResponse<sst.interfaces.IDigestResponse>} credentials.
    @ivar nonces: issues and checks the nonces.
    @ivar trusted: the source networks never challenged.
    @ivar algorithms: the algorithms offered, strongest first.
    @ivar realm: the one realm of every challenge, or L{None} for the domain of the
        address of record.
    """

    def __init__(self, checker: ICredentialsChecker, nonces: NonceService, stats: Stats,
                 isOurs: Callable[[str], bool], trusted: Sequence[IPNetwork] = (),
                 algorithms: Sequence[str] = tuple(ALGORITHMS),
                 realm: Optional[str] = None) -> None:
        """
        @param isOurs: whether a host (lower case) is one of our domains or addresses.
        """
        self.checker = checker
        self.nonces = nonces
        self.stats = stats
        self._isOurs = isOurs
        self.trusted = tuple(trusted)
        self.algorithms = tuple(a.upper() for a in algorithms)
        self.realm = realm

    def applies(self, request: Request) -> bool:
        """
        Whether C{request} must be authenticated: not ACK or CANCEL, outside any dialog,
        from a source outside the trusted networks.
        """
        if request.method in _NEVER or request.toTag is not None:
            return False
        source = request.source
        return not (isinstance(source, Address) and inNetworks(source.host, self.trusted))

    def authenticate(self, request: Request, register: bool) -> Deferred[Optional[Rejection]]:
        """
        Check C{request}'s credentials (one that L{applies} to).

        @param register: whether it is a REGISTER for our registrar (challenged with 401;
            the identity must be its To) rather than a request we route (407; its From).
        @return: a L{Deferred} that fires with L{None} when the request may go on (the
            credentials it used are then removed from it), or with the L{Rejection} to
            answer. It fails only when the checker fails unexpectedly.
        @raise SIPParseError: when the From or To header does not parse.
        """
        aorURI = request.toAddr().uri if register else request.fromAddr().uri
        host = aorURI.host.lower() if aorURI.isSIP else ""
        if not aorURI.isSIP or not aorURI.user or not self._isOurs(host):
            self.stats.increment("auth_forbidden")
            return _now(Rejection(403))
        realm = self.realm if self.realm is not None else host
        code, name = (401, "authorization") if register else (407, "proxy-authorization")
        credentials = self._credentials(request, name, realm)
        if credentials is None:
            return _now(self._challenge(code, realm))
        if isinstance(credentials, str):
            # Ours, but not usable: a failure, like a wrong password.
            self.stats.increment("auth_failures")
            return _now(self._challenge(code, realm))
        state = self.nonces.check(credentials.nonce, realm)
        if state is NonceState.INVALID:
            self.stats.increment("auth_failures")
            return _now(self._challenge(code, realm))
        checked: Deferred[Any] = maybeDeferred(self.checker.requestAvatarId,
                                               DigestResponse(credentials, request.method))
        d: Deferred[Optional[Rejection]] = checked.addCallbacks(
            self._checked, self._refused,
            callbackArgs=(request, credentials, state, aorURI, code, name, realm),
            errbackArgs=(code, realm))
        return d

    # -- steps ---------------------------------------------------------------------------

    def _credentials(self, request: Request, name: str,
                     realm: str) -> "DigestCredentials | str | None":
        """
        The first credentials for C{realm} in header C{name}.

        @return: the credentials; L{None} when there are none for our realm (others'
            credentials are left alone, RFC 3261 section 22.3); or a reason (a C{str})
            when they are ours but unusable: malformed, an algorithm or C{qop} we did not
            offer, a parameter missing.
        """
        for value in request.lineValues(name):
            try:
                credentials = parseCredentials(value)
            except DigestSyntaxError:
                continue
            if credentials.realm != realm:
                continue
            return _unusable(credentials, self.algorithms) or credentials
        return None

    def _checked(self, identity: Any, request: Request, credentials: DigestCredentials,
                 state: NonceState, aorURI: URI, code: int, name: str,
                 realm: str) -> Optional[Rejection]:
        """
        The checker accepted the response; now the nonce's age, its count and the
        identity decide.
        """
        if isinstance(identity, bytes):
            identity = identity.decode("utf-8", "replace")
        if state is NonceState.STALE:
            self.stats.increment("auth_stale")
            return self._challenge(code, realm, stale=True)
        if not self.nonces.useCount(credentials.nonce, int(credentials.get("nc") or "0", 16)):
            self.stats.increment("auth_replays")
            return self._challenge(code, realm, stale=True)
        if not _sameAOR(aorURI, str(identity)):
            self.stats.increment("auth_forbidden")
            return Rejection(403)
        self.stats.increment("auth_ok")
        _removeCredentials(request, name, realm)
        return None

    def _refused(self, failure: Failure, code: int, realm: str) -> Rejection:
        """
        The checker refused: unknown user or wrong response, alike. Anything else it
        raised goes on as a failure.
        """
        if not failure.check(UnauthorizedLogin, UnhandledCredentials):  # type: ignore[no-untyped-call]
            failure.raiseException()
        self.stats.increment("auth_failures")
        return self._challenge(code, realm)

    def _challenge(self, code: int, realm: str, stale: bool = False) -> Rejection:
        """
        A challenge: one header per algorithm, strongest first, sharing a new nonce.
        """
        self.stats.increment("auth_challenges")
        nonce = self.nonces.issue(realm)
        header = "WWW-Authenticate" if code == 401 else "Proxy-Authenticate"
        return Rejection(code, tuple((header, challengeValue(realm, nonce, algorithm, stale))
                                     for algorithm in self.algorithms))


def _now(rejection: Optional[Rejection]) -> Deferred[Optional[Rejection]]:
    d: Deferred[Optional[Rejection]] = Deferred()
    d.callback(rejection)
    return d


def _unusable(credentials: DigestCredentials, algorithms: Sequence[str]) -> Optional[str]:
    """
    @return: why C{credentials} cannot be checked, or L{None}.
    """
    for required in ("username", "nonce", "uri", "response", "cnonce", "nc"):
        if not credentials.get(required):
            return "no %s" % (required,)
    if credentials.algorithm not in algorithms:
        return "algorithm %s not offered" % (credentials.algorithm,)
    if (credentials.get("qop") or "").lower() != "auth":
        return "qop must be auth"
    nc = credentials.get("nc") or ""
    if len(nc) != 8 or not set(nc) <= _NC_DIGITS:
        return "nc must be 8 hex digits"
    return None


def _sameAOR(uri: URI, identity: str) -> bool:
    """
    Whether the SIP URI C{uri} is the address of record C{user@domain}.
    """
    return aorForURI(uri) == "sip:%s" % (identity,)


def _removeCredentials(request: Request, name: str, realm: str) -> None:
    """
    Remove the C{name} lines whose credentials are for C{realm}; keep the others, in
    their order, after the other headers.
    """
    values = request.lineValues(name)
    keep = []
    for value in values:
        try:
            if parseCredentials(value).realm == realm:
                continue
        except DigestSyntaxError:
            pass
        keep.append(value)
    request.removeHeader(name)
    for value in keep:
        request.addHeader(name, value)

