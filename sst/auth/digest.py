# -*- test-case-name: sst.test.test_auth -*-
"""
The digest arithmetic of RFC 3261 section 22.4 with the algorithms of RFC 8760 (MD5,
SHA-256 and SHA-512/256, C{qop=auth}), and the syntax of the C{Digest} challenge and
credentials (RFC 3261 section 25.1, C{challenge} and C{credentials}).

Twisted's own digest code (C{twisted.cred._digest}) knows MD5 and SHA-1 only, so sst has its
own: the hashes come from L{hashlib}, SHA-512/256 as OpenSSL's C{sha512_256} (the SHA-512
variant with its own initial values, FIPS 180-4 section 5.3.6; not a truncated SHA-512).

@see: U{https://www.rfc-editor.org/rfc/rfc8760#section-2}
@see: U{https://www.rfc-editor.org/rfc/rfc7616#section-3.4}
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable, Optional

__all__ = [
    "ALGORITHMS",
    "DigestCredentials",
    "DigestSyntaxError",
    "availableAlgorithms",
    "calcHA1",
    "calcResponse",
    "challengeValue",
    "credentialsValue",
    "parseCredentials",
]

#: The algorithms sst knows, strongest first (the order of its challenges, RFC 8760
#: section 2.4), by their names in C{algorithm=}, with the L{hashlib} name of each.
ALGORITHMS: dict[str, str] = {
    "SHA-512-256": "sha512_256",
    "SHA-256": "sha256",
    "MD5": "md5",
}


def availableAlgorithms() -> list[str]:
    """
    @return: the names in L{ALGORITHMS} that this Python's L{hashlib} can compute,
        strongest first (SHA-512/256 needs OpenSSL 1.1.1 or later).
    """
    names = []
    for name, hashName in ALGORITHMS.items():
        try:
            hashlib.new(hashName)
        except ValueError:
            continue
        names.append(name)
    return names


def _hasher(algorithm: str) -> Callable[[str], str]:
    """
    @return: the function that hashes text to lower-case hex with C{algorithm} (RFC 8760
        section 2: C{H(data)}).
    @raise ValueError: for an algorithm not in L{ALGORITHMS}.
    """
    hashName = ALGORITHMS.get(algorithm.upper())
    if hashName is None:
        raise ValueError("unknown digest algorithm %r" % (algorithm,))

    def h(text: str) -> str:
        return hashlib.new(hashName, text.encode("utf-8")).hexdigest()

    return h


def calcHA1(algorithm: str, username: str, realm: str, password: str) -> str:
    """
    C{H(A1)} for a non-session algorithm: C{H(username ":" realm ":" password)}, what a
    server stores instead of the password (RFC 7616 section 3.4.2).

    @raise ValueError: for an unknown algorithm.
    """
    return _hasher(algorithm)("%s:%s:%s" % (username, realm, password))


def calcResponse(algorithm: str, ha1: str, method: str, uri: str, nonce: str,
                 nc: Optional[str] = None, cnonce: Optional[str] = None,
                 qop: Optional[str] = None) -> str:
    """
    The C{response} of digest credentials (RFC 7616 section 3.4.1; RFC 2617 section 3.2.2.1
    without C{qop}): C{KD(H(A1), nonce:nc:cnonce:qop:H(A2))} with C{A2 = method:uri}.

    @param ha1: C{H(A1)}, lower-case hex (see L{calcHA1}).
    @param qop: C{"auth"}, or L{None} for the RFC 2069 form (then C{nc} and C{cnonce} are
        not used).
    @raise ValueError: for an unknown algorithm, or a C{qop} other than C{auth}.
    """
    h = _hasher(algorithm)
    ha2 = h("%s:%s" % (method, uri))
    if qop is None:
        return h("%s:%s:%s" % (ha1, nonce, ha2))
    if qop.lower() != "auth":
        raise ValueError("unsupported qop %r" % (qop,))
    return h("%s:%s:%s:%s:%s:%s" % (ha1, nonce, nc or "", cnonce or "", qop, ha2))


class DigestSyntaxError(ValueError):
    """
    An Authorization or Proxy-Authorization value that is not digest credentials sst can
    check.
    """


@dataclass(frozen=True)
class DigestCredentials:
    """
    The parameters of C{Digest} credentials (RFC 3261 section 25.1, C{digest-response}),
    as sent.

    @ivar params: every parameter, names lower-cased, values unquoted.
    """

    params: dict[str, str]

    def get(self, name: str) -> Optional[str]:
        """
        @return: parameter C{name} (lower case), or L{None}.
        """
        return self.params.get(name)

    @property
    def username(self) -> str:
        return self.params.get("username", "")

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")

    @property
    def nonce(self) -> str:
        return self.params.get("nonce", "")

    @property
    def algorithm(self) -> str:
        """
        The algorithm, upper-cased; C{MD5} when absent (RFC 3261 section 22.4).
        """
        return self.params.get("algorithm", "MD5").upper()


def _skipSpaces(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def parseCredentials(value: str) -> DigestCredentials:
    """
    Parse an Authorization or Proxy-Authorization value: C{Digest} then comma-separated
    C{name=token} or C{name="quoted string"} parameters.

    @raise DigestSyntaxError: when it is not the C{Digest} scheme or does not parse.
    """
    value = value.strip()
    scheme, _, rest = value.partition(" ")
    if scheme.lower() != "digest":
        raise DigestSyntaxError("not Digest credentials")
    params: dict[str, str] = {}
    i = _skipSpaces(rest, 0)
    n = len(rest)
    while i < n:
        eq = rest.find("=", i)
        if eq < 0:
            raise DigestSyntaxError("a parameter without a value")
        name = rest[i:eq].strip().lower()
        if not name or any(c in name for c in ' \t",'):
            raise DigestSyntaxError("a malformed parameter name")
        i = _skipSpaces(rest, eq + 1)
        if i < n and rest[i] == '"':
            chars = []
            i += 1
            while i < n and rest[i] != '"':
                if rest[i] == "\\" and i + 1 < n:
                    i += 1
                chars.append(rest[i])
                i += 1
            if i >= n:
                raise DigestSyntaxError("an unterminated quoted string")
            i += 1
            text = "".join(chars)
        else:
            end = rest.find(",", i)
            end = n if end < 0 else end
            text = rest[i:end].strip()
            i = end
        if name in params:
            raise DigestSyntaxError("parameter %s repeated" % (name,))
        params[name] = text
        i = _skipSpaces(rest, i)
        if i < n:
            if rest[i] != ",":
                raise DigestSyntaxError("parameters must be separated by commas")
            i = _skipSpaces(rest, i + 1)
    return DigestCredentials(params)


def _quote(text: str) -> str:
    return '"%s"' % (text.replace("\\", "\\\\").replace('"', '\\"'),)


def challengeValue(realm: str, nonce: str, algorithm: str, stale: bool = False,
                   opaque: Optional[str] = None) -> str:
    """
    The value of one WWW-Authenticate or Proxy-Authenticate header (RFC 3261 section
    25.1, C{digest-cln}), offering C{qop="auth"}.
    """
    parts = ["Digest realm=%s" % (_quote(realm),), "nonce=%s" % (_quote(nonce),)]
    if opaque is not None:
        parts.append("opaque=%s" % (_quote(opaque),))
    if stale:
        parts.append("stale=true")
    parts.append("algorithm=%s" % (algorithm,))
    parts.append('qop="auth"')
    return ", ".join(parts)


def credentialsValue(challenge: DigestCredentials, method: str, uri: str, username: str,
                     password: str, nc: int = 1, cnonce: str = "0a4f113b") -> str:
    """
    The client's side: the Authorization or Proxy-Authorization value that answers
    C{challenge} (a challenge's value parsed with L{parseCredentials}) with C{qop=auth}.
    """
    algorithm = challenge.algorithm
    ncText = "%08x" % (nc,)
    ha1 = calcHA1(algorithm, username, challenge.realm, password)
    response = calcResponse(algorithm, ha1, method, uri, challenge.nonce, ncText, cnonce, "auth")
    return ", ".join([
        "Digest username=%s" % (_quote(username),), "realm=%s" % (_quote(challenge.realm),),
        "nonce=%s" % (_quote(challenge.nonce),), "uri=%s" % (_quote(uri),),
        "response=%s" % (_quote(response),), "algorithm=%s" % (algorithm,),
        "cnonce=%s" % (_quote(cnonce),), "qop=auth", "nc=%s" % (ncText,),
    ])
