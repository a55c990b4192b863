# -*- test-case-name: sst.test.test_headers -*-
"""
Grammar of the SIP header values the stack needs (RFC 3261 section 25, RFC 4028 sections 4 and 5).

Every function here is a pure function of a decoded header value (C{str}); each raises
L{SIPParseError} with a reason fit for a 400 response.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, Optional

if TYPE_CHECKING:
    from sst.message import Request, Response

__all__ = [
    "SIPParseError",
    "URI",
    "NameAddr",
    "Via",
    "CSeq",
    "SessionExpires",
    "MAX_DELTA_SECONDS",
    "splitCommas",
    "parseParams",
    "parseURI",
    "parseNameAddr",
    "parseVia",
    "readSentBy",
    "parseCSeq",
    "parseDeltaSeconds",
    "parseSessionExpires",
    "parseMinSE",
    "formatParams",
]

#: Largest delta-seconds value accepted (RFC 3261 section 25.1 allows 2**32-1; larger is an overflow).
MAX_DELTA_SECONDS = 2**32 - 1

_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
_BAD_URI_CHARS = re.compile(r"[ \t\r\n<>]")
_BAD_HOST_CHARS = re.compile(r"[ \t<>\"@;,?/]")
_IPV6_CHARS = re.compile(r"[0-9A-Fa-f:.]+")
#: What keeps a parameter list or Via off the fast paths: blanks (and other white space),
#: quotes, brackets.
_NOT_PLAIN = re.compile(r"[\s\"\[\]<>]")
#: The usual Via: C{SIP/2.0/UDP host[:port][;params]}, with a host name or IPv4 address, and
#: parameters without a character of L{_NOT_PLAIN}.
_PLAIN_VIA = re.compile(
    r"SIP/2\.0/([A-Za-z0-9\-.!%*_+`'~]+) ([A-Za-z0-9.\-]+)(?::([0-9]{1,5}))?(?:;([^\s\"\[\]<>]*))?")
#: The usual name-addr: an optional quoted display name (no escapes) or token, C{<uri>} with
#: no blank, quote or bracket inside, and plain parameters.
_PLAIN_NAME_ADDR = re.compile(
    r'("[^"\\\r\n]*"|[A-Za-z0-9\-.!%*_+`\'~]+)? ?<([^<>"\s]+)>(?:;([^\s"<>\[\]]+))?')
#: The usual SIP URI: C{sip:[user@]host[:port][;params]}, no password, headers or IPv6, and
#: no character of L{_NOT_PLAIN} anywhere.
_PLAIN_SIP_URI = re.compile(
    r"sip:(?:([^:@;?\s\"\[\]<>]+)@)?([A-Za-z0-9.\-]+)(?::([0-9]{1,5}))?(?:;([^@?\s\"\[\]<>]*))?")


class SIPParseError(ValueError):
    """
    A message or header value that does not follow the SIP grammar.

    @ivar reason: a short human-readable reason, usable as the reason phrase of a 400.
    @ivar status: the SIP status code a server should answer with (400 unless said otherwise).
    @ivar message: the partly parsed message, when the start line and header block could be
        indexed (so that a response can be built from its Via, From, To, Call-ID and CSeq).
    """

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.message: Optional[object] = None

    @property
    def phrase(self) -> str:
        """
        The reason phrase of the answer: the reason itself for a 400 (cut to 100
        characters), the status's usual phrase otherwise (C{505 Version Not Supported},
        C{513 Message Too Large}).
        """
        from sst.message import REASON_PHRASES

        return self.reason[:100] if self.status == 400 else REASON_PHRASES.get(self.status, "")

    def response(self, request: "Request") -> "Response":
        """
        The answer to C{request}, the partly parsed request this error was met in (RFC 3261
        section 8.2.6.2: its Via, From, To, Call-ID and CSeq lines copied as they are).

        @return: a response with this error's status; the phrase of a 400 is the reason (cut
            to 100 characters), that of any other status its usual phrase (C{505 Version Not
            Supported}, C{513 Message Too Large}).
        """
        from sst.responses import makeResponse

        return makeResponse(request, self.status, self.phrase)


def isToken(value: str) -> bool:
    """
    @return: whether C{value} is a non-empty RFC 3261 C{token}.
    """
    return _TOKEN.fullmatch(value) is not None


def splitCommas(value: str) -> list[str]:
    """
    Split a header value on the commas that separate its elements, ignoring commas inside
    quoted strings and inside C{<...>}.

    @raise SIPParseError: on an unterminated quoted string.
    """
    if '"' not in value:
        if "," not in value:
            # One element, brackets or not (the usual Route, Record-Route and Contact).
            value = value.strip()
            return [value] if value else []
        if "<" not in value:
            return [part.strip() for part in value.split(",") if part.strip()]
    parts: list[str] = []
    start = 0
    inQuote = False
    inAngle = False
    i = 0
    n = len(value)
    while i < n:
        c = value[i]
        if inQuote:
            if c == "\\":
                i += 1
            elif c == '"':
                inQuote = False
        elif c == '"':
            inQuote = True
        elif c == "<":
            inAngle = True
        elif c == ">":
            inAngle = False
        elif c == "," and not inAngle:
            part = value[start:i].strip()
            if part:
                parts.append(part)
            start = i + 1
        i += 1
    if inQuote:
        raise SIPParseError("unterminated quoted string")
    part = value[start:].strip()
    if part:
        parts.append(part)
    return parts


def _splitSemis(value: str) -> list[str]:
    """
    Split on semicolons outside quoted strings.
    """
    if '"' not in value:
        return value.split(";")
    parts: list[str] = []
    start = 0
    inQuote = False
    i = 0
    while i < len(value):
        c = value[i]
        if inQuote:
            if c == "\\":
                i += 1
            elif c == '"':
                inQuote = False
        elif c == '"':
            inQuote = True
        elif c == ";":
            parts.append(value[start:i])
            start = i + 1
        i += 1
    if inQuote:
        raise SIPParseError("unterminated quoted string")
    parts.append(value[start:])
    return parts


#: Parameter names seen on every call, already known to be lower-case tokens.
_PARAM_NAMES = frozenset(["branch", "rport", "received", "lr", "transport", "tag", "maddr",
                          "ttl", "user", "method", "refresher", "expires", "q", "ob"])


def _plainParams(text: str) -> dict[str, Optional[str]]:
    """
    L{parseParams} for the usual case: C{text} is C{;}-separated, with no blank and no
    quote anywhere (the leading C{;} already removed).
    """
    params: dict[str, Optional[str]] = {}
    for item in text.split(";"):
        name, eq, val = item.partition("=")
        if name not in _PARAM_NAMES:
            name = name.lower()
            if _TOKEN.fullmatch(name) is None:
                raise SIPParseError("bad parameter %r" % (item,))
        if eq:
            if not val:
                raise SIPParseError("empty value for parameter %r" % (name,))
            params[name] = val
        else:
            params[name] = None
    return params


def parseParams(value: str) -> dict[str, Optional[str]]:
    """
    Parse C{;name=value;flag} parameters (the leading C{;} optional). Names are lower-cased;
    whitespace around C{;} and C{=} is allowed (RFC 3261 SEMI and EQUAL).

    @raise SIPParseError: on an empty or invalid parameter name (so C{;;} and a trailing
        C{;} are errors), or an empty value.
    """
    if not value:
        return {}
    if not _NOT_PLAIN.search(value):
        return _plainParams(value[1:] if value[0] == ";" else value)
    return _parseParams(value)


def _parseParams(value: str) -> dict[str, Optional[str]]:
    """
    L{parseParams} for any parameter list: blanks around C{;} and C{=}, quoted values.
    """
    params: dict[str, Optional[str]] = {}
    value = value.strip()
    if not value:
        return params
    if value[0] == ";":
        value = value[1:]
    for item in _splitSemis(value):
        name, eq, val = item.partition("=")
        name = name.strip().lower()
        if not isToken(name):
            raise SIPParseError("bad parameter %r" % (item.strip(),))
        if eq:
            val = val.strip()
            if not val:
                raise SIPParseError("empty value for parameter %r" % (name,))
            params[name] = val
        else:
            params[name] = None
    return params


def formatParams(params: dict[str, Optional[str]]) -> str:
    """
    Serialise parameters as C{;name=value;flag}.
    """
    return "".join(";%s" % (k,) if v is None else ";%s=%s" % (k, v) for k, v in params.items())


@dataclass(slots=True)
class URI:
    """
    A C{sip}, C{sips} or C{tel} URI, or any other absolute URI (kept opaque).

    @ivar scheme: the lower-cased scheme.
    @ivar host: the host (IPv6 references without brackets); empty for opaque URIs.
    @ivar port: the port, or L{None} when absent.
    @ivar params: the URI parameters, names lower-cased.
    """

    scheme: str
    user: Optional[str] = None
    password: Optional[str] = None
    host: str = ""
    port: Optional[int] = None
    params: dict[str, Optional[str]] = field(default_factory=dict)
    headers: str = ""
    opaque: str = ""

    @property
    def isSIP(self) -> bool:
        """
        Whether this is a C{sip:} or C{sips:} URI.
        """
        return self.scheme in ("sip", "sips")

    def hostport(self) -> str:
        """
        @return: C{host[:port]} with IPv6 hosts bracketed.
        """
        host = "[%s]" % (self.host,) if ":" in self.host else self.host
        return host if self.port is None else "%s:%d" % (host, self.port)

    def __str__(self) -> str:
        if not self.isSIP and self.scheme != "tel":
            return "%s:%s" % (self.scheme, self.opaque)
        if self.scheme == "tel":
            return "tel:%s%s" % (self.user or "", formatParams(self.params))
        userinfo = ""
        if self.user is not None:
            userinfo = self.user
            if self.password is not None:
                userinfo += ":" + self.password
            userinfo += "@"
        text = "%s:%s%s%s" % (self.scheme, userinfo, self.hostport(), formatParams(self.params))
        if self.headers:
            text += "?" + self.headers
        return text


def _parseHostPort(text: str) -> tuple[str, Optional[int]]:
    text = text.strip()
    if not text:
        raise SIPParseError("missing host")
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SIPParseError("unterminated IPv6 reference")
        host = text[1:end]
        if _IPV6_CHARS.fullmatch(host) is None or ":" not in host:
            raise SIPParseError("bad IPv6 reference %r" % (text,))
        rest = text[end + 1 :].lstrip()
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise SIPParseError("bad host %r" % (text,))
        portText = rest[1:].lstrip()
        if not portText:
            raise SIPParseError("empty port")
    else:
        host, colon, portText = text.partition(":")
        if colon:
            # Via allows whitespace around the colon (RFC 3261 section 25.1, COLON).
            host = host.rstrip()
            portText = portText.lstrip()
            if not portText:
                raise SIPParseError("empty port")
    if _BAD_HOST_CHARS.search(host) is not None:
        raise SIPParseError("bad host %r" % (text,))
    if not host:
        raise SIPParseError("missing host")
    if not portText:
        return host, None
    # isdigit() alone accepts non-ASCII digits such as U+00B2, which int() rejects.
    if not (portText.isascii() and portText.isdigit()) or len(portText) > 5 or int(portText) > 65535:
        raise SIPParseError("bad port %r" % (portText,))
    return host, int(portText)


#: The ports of the fast paths, by their text (one to five ASCII digits, as the patterns
#: say), once seen: the same few recur in every message.
_PORTS: dict[str, int] = {}


def _portOf(text: str) -> int:
    """
    @param text: one to five ASCII digits.
    @return: the port they write, remembered in L{_PORTS}.
    @raise SIPParseError: above 65535.
    """
    port = int(text)
    if port > 65535:
        raise SIPParseError("bad port %r" % (text,))
    if len(_PORTS) >= 4096:
        _PORTS.clear()
    _PORTS[text] = port
    return port


def parseURI(text: str) -> URI:
    """
    Parse an absolute URI. C{sip}/C{sips} URIs are split into their parts, C{tel} into number
    and parameters; other schemes are kept opaque.

    @raise SIPParseError: on whitespace (also leading or trailing), a missing scheme, or a bad
        host or port.
    """
    plain = _PLAIN_SIP_URI.fullmatch(text)
    if plain is not None:
        user, host, portText, paramText = plain.groups()
        port = None
        if portText is not None:
            port = _PORTS.get(portText)
            if port is None:
                port = _portOf(portText)
        return URI("sip", user, None, host.lower(), port,
                   _plainParams(paramText) if paramText is not None else {})
    return _parseURI(text)


def _parseURI(text: str) -> URI:
    """
    L{parseURI} for any URI: other schemes, passwords, headers, IPv6 references.
    """
    scheme, colon, rest = text.partition(":")
    if not colon or _SCHEME.fullmatch(scheme) is None:
        raise SIPParseError("bad URI %r" % (text,))
    if _BAD_URI_CHARS.search(text) is not None:
        raise SIPParseError("bad URI %r" % (text,))
    scheme = scheme.lower()
    if scheme == "tel":
        number, semi, paramText = rest.partition(";")
        if not number:
            raise SIPParseError("empty tel URI")
        return URI(scheme, user=number, params=parseParams(semi + paramText))
    if scheme not in ("sip", "sips"):
        if not rest:
            raise SIPParseError("empty URI")
        return URI(scheme, opaque=rest)
    # "@" appears unescaped only after the userinfo, whose user part may hold "?" and ";"
    # (RFC 3261 section 25.1, user-unreserved), so split it off before looking for headers.
    at = rest.rfind("@")
    user: Optional[str] = None
    password: Optional[str] = None
    if at >= 0:
        userinfo = rest[:at]
        rest = rest[at + 1 :]
        user, pcolon, pw = userinfo.partition(":")
        if pcolon:
            password = pw
        if not user:
            raise SIPParseError("empty user part")
    rest, _, headers = rest.partition("?")
    hostport, semi, paramText = rest.partition(";")
    host, port = _parseHostPort(hostport)
    return URI(scheme, user, password, host.lower(), port, parseParams(semi + paramText), headers)


def _endOfQuoted(text: str) -> int:
    """
    @param text: text starting with a double quote.
    @return: the index just after the quoted string that starts C{text}.
    @raise SIPParseError: when the quoted string is not terminated.
    """
    i = 1
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return i + 1
        i += 1
    raise SIPParseError("unterminated quoted string")


@dataclass(slots=True)
class NameAddr:
    """
    A C{name-addr} or C{addr-spec} with header parameters (From, To, Contact, Route, ...).
    """

    uri: URI
    display: str = ""
    params: dict[str, Optional[str]] = field(default_factory=dict)

    @property
    def tag(self) -> Optional[str]:
        """
        The C{tag} parameter, or L{None}.
        """
        return self.params.get("tag")

    def __str__(self) -> str:
        display = self.display + " " if self.display else ""
        return "%s<%s>%s" % (display, self.uri, formatParams(self.params))


def parseNameAddr(text: str) -> NameAddr:
    """
    Parse C{[display] <uri> *(;param)} or C{addr-spec *(;param)} (in the latter, the parameters
    belong to the header, RFC 3261 section 20).

    @raise SIPParseError: on unbalanced quotes or angle brackets, or a bad URI.
    """
    plain = _PLAIN_NAME_ADDR.fullmatch(text)
    if plain is not None:
        display, uri, paramText = plain.groups()
        nameAddr = NameAddr(parseURI(uri), display or "",
                            _plainParams(paramText) if paramText is not None else {})
        if display is not None and display[0] == '"':
            _noteQuoted(text)
        return nameAddr
    return _parseNameAddr(text)


#: Name-addrs with a quoted display name that L{parseNameAddr} took, for
#: L{checkDisplayName}: the From (or To) of every request of a dialog is the same text.
_QUOTED_OK: dict[str, None] = {}


def _noteQuoted(text: str) -> None:
    """
    Note that C{text}, a name-addr with a quoted display name, parses.
    """
    if len(_QUOTED_OK) >= 4096:
        _QUOTED_OK.clear()
    _QUOTED_OK[text] = None


def checkDisplayName(text: str) -> None:
    """
    Check the display name of a name-addr, the part before C{<}: unquoted, it must be
    tokens (RFC 3261 section 25.1; RFC 4475 section 3.1.2.15 has a comma in one).  Cheap
    for the usual forms, for a proxy that forwards From and To without reading them.

    @raise SIPParseError: when L{parseNameAddr} would refuse the display name.
    """
    lt = text.find("<")
    if lt > 0 and _TOKENS.fullmatch(text, 0, lt) is None and text not in _QUOTED_OK:
        parseNameAddr(text)


#: Blank-separated tokens, or nothing.
_TOKENS = re.compile(r"[ \t]*(?:[A-Za-z0-9\-.!%*_+`'~]+[ \t]*)*")


def _parseNameAddr(text: str) -> NameAddr:
    """
    L{parseNameAddr} for any name-addr or addr-spec.
    """
    text = text.strip()
    display = ""
    if text.startswith('"'):
        # A quoted display name may hold '<', ';', ',' and escaped quotes.
        close = _endOfQuoted(text)
        lt = text.find("<", close)
        if lt < 0 or text[close:lt].strip():
            raise SIPParseError("bad display name")
        display = text[:close]
    else:
        lt = text.find("<")
        if lt > 0:
            display = text[:lt].strip()
            if display and not all(isToken(word) for word in display.split()):
                raise SIPParseError("bad display name")
    if lt >= 0:
        gt = text.find(">", lt)
        if gt < 0:
            raise SIPParseError("unterminated <")
        uri = parseURI(text[lt + 1 : gt])
        paramText = text[gt + 1 :].lstrip()
        if paramText and paramText[0] != ";":
            raise SIPParseError("junk after >")
        return NameAddr(uri, display, parseParams(paramText))
    if '"' in text:
        raise SIPParseError("display name without <uri>")
    uriText, semi, paramText = text.partition(";")
    if "," in uriText or "?" in uriText or " " in uriText.strip():
        raise SIPParseError("addr-spec with reserved characters needs <>")
    return NameAddr(parseURI(uriText.strip()), "", parseParams(semi + paramText))


#: The start of a Via element, read loosely: any protocol version, blanks anywhere, a host
#: name, an IPv4 address or an IPv6 reference, and a port.
_LOOSE_SENT_BY = re.compile(
    r"[ \t]*SIP[ \t]*/[ \t]*[^/ \t]*[ \t]*/[ \t]*[A-Za-z0-9\-.!%*_+`'~]+[ \t]+"
    r"(\[[0-9A-Fa-f:.]+\]|[^ \t;,:\[\]]+)(?:[ \t]*:[ \t]*([0-9]{1,5}))?[ \t]*")


def readSentBy(text: str) -> Optional[tuple[str, Optional[int], bool]]:
    """
    Read what a top Via that does not parse still tells about where its sender waits for the
    response (RFC 3261 section 18.2.2, RFC 3581): its sent-by and whether it asks for
    C{rport}. The protocol version is not checked, and broken or empty parameters (RFC 4475
    sections 3.1.2.1 and 3.1.2.16) are skipped.

    @param text: the value of the first Via line.
    @return: the host (an IPv6 reference without brackets), the port (L{None} when absent)
        and whether C{rport} is among the parameters of the first element; L{None} when no
        host can be read or the port is not a port.
    """
    match = _LOOSE_SENT_BY.match(text)
    if match is None:
        return None
    hostText, portText = match.groups()
    rest = text[match.end() :]
    if rest and rest[0] not in ";,":
        return None
    try:
        host, _ = _parseHostPort(hostText)
    except SIPParseError:
        return None
    port = int(portText) if portText is not None else None
    if port is not None and not 0 < port < 65536:
        return None
    element = rest.split(",", 1)[0]
    rport = any(piece.partition("=")[0].strip().lower() == "rport"
                for piece in element.split(";"))
    return host, port, rport


@dataclass(slots=True)
class Via:
    """
    One Via element: C{SIP/2.0/UDP host:port;branch=...}.
    """

    transport: str
    host: str
    port: Optional[int]
    params: dict[str, Optional[str]]

    @property
    def branch(self) -> Optional[str]:
        """
        The C{branch} parameter, or L{None}.
        """
        return self.params.get("branch")

    def sentBy(self) -> str:
        """
        @return: C{host[:port]} as in the Via.
        """
        host = self.host
        if ":" in host:
            host = "[%s]" % (host,)
        port = self.port
        return host if port is None else "%s:%d" % (host, port)

    def __str__(self) -> str:
        return "SIP/2.0/%s %s%s" % (self.transport, self.sentBy(), formatParams(self.params))


def parseVia(text: str) -> Via:
    """
    Parse one Via element (not a comma list).

    @raise SIPParseError: on a bad protocol, host or parameter.
    """
    plain = _PLAIN_VIA.fullmatch(text)
    if plain is not None:
        transport, host, portText, paramText = plain.groups()
        port = None
        if portText is not None:
            port = _PORTS.get(portText)
            if port is None:
                port = _portOf(portText)
        return Via(transport if transport.isupper() else transport.upper(), host, port,
                   _plainParams(paramText) if paramText is not None else {})
    return _parseVia(text)


def _parseVia(text: str) -> Via:
    """
    L{parseVia} for any Via element: blanks, IPv6 references, quoted parameters.
    """
    text = text.strip()
    slash1 = text.find("/")
    slash2 = text.find("/", slash1 + 1)
    if slash1 < 0 or slash2 < 0:
        raise SIPParseError("bad Via")
    if text[:slash1].strip().upper() != "SIP" or text[slash1 + 1 : slash2].strip() != "2.0":
        raise SIPParseError("bad Via protocol")
    rest = text[slash2 + 1 :].lstrip()
    parts = rest.split(None, 1)
    if len(parts) != 2:
        raise SIPParseError("bad Via: no sent-by")
    transport, sentBy = parts
    if not isToken(transport):
        raise SIPParseError("bad Via transport")
    hostport, semi, paramText = sentBy.partition(";")
    host, port = _parseHostPort(hostport)
    return Via(transport.upper(), host, port, parseParams(semi + paramText))


class CSeq(NamedTuple):
    """
    A CSeq: sequence number and method.
    """

    number: int
    method: str

    def __str__(self) -> str:
        return "%d %s" % (self.number, self.method)


#: Methods known to be tokens, so that the usual CSeq needs no check of its method.
_METHODS = frozenset(["INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "UPDATE",
                      "PRACK", "SUBSCRIBE", "NOTIFY", "REFER", "INFO", "MESSAGE", "PUBLISH"])


def parseCSeq(text: str) -> CSeq:
    """
    Parse C{1*DIGIT LWS Method}; the number must be below 2**31 (RFC 3261 section 8.1.1.5).

    @raise SIPParseError: on anything else.
    """
    digits, space, method = text.partition(" ")
    if (method in _METHODS and 0 < len(digits) < 10 and digits.isdigit() and digits.isascii()):
        return CSeq(int(digits), method)
    parts = text.split()
    if len(parts) != 2 or not parts[0].isascii() or not parts[0].isdigit() or not isToken(parts[1]):
        raise SIPParseError("bad CSeq")
    digits = parts[0]
    # Check the length first: int() refuses strings of more than 4300 digits.
    if len(digits) > 10 and len(digits.lstrip("0")) > 10:
        raise SIPParseError("CSeq number too large")
    number = int(digits)
    if number >= 2**31:
        raise SIPParseError("CSeq number too large")
    return CSeq(number, parts[1])


def parseDeltaSeconds(text: str, what: str) -> int:
    """
    Parse a C{delta-seconds} value.

    @param what: the header name, for the error reason.
    @raise SIPParseError: when not a decimal number or above L{MAX_DELTA_SECONDS}.
    """
    text = text.strip()
    if not text.isdigit() or not text.isascii():
        raise SIPParseError("bad %s value %r" % (what, text))
    if (len(text) > 10 and len(text.lstrip("0")) > 10) or int(text) > MAX_DELTA_SECONDS:
        raise SIPParseError("%s value too large" % (what,))
    return int(text)


class SessionExpires(NamedTuple):
    """
    A parsed Session-Expires value (RFC 4028 section 4).

    @ivar delta: the session interval in seconds (at least 1).
    @ivar refresher: C{"uac"}, C{"uas"} or L{None}.
    """

    delta: int
    refresher: Optional[str] = None

    def __str__(self) -> str:
        if self.refresher is None:
            return str(self.delta)
        return "%d;refresher=%s" % (self.delta, self.refresher)


def parseSessionExpires(text: str, allowZero: bool = False) -> SessionExpires:
    """
    Parse C{delta-seconds *(SEMI se-params)}: whitespace around C{;} and C{=}, any case,
    generic parameters skipped.

    @param allowZero: accept an interval of 0 (a request's, which a proxy treats as too
        small rather than malformed).
    @raise SIPParseError: on a zero (unless allowed), overflowing or non-numeric
        interval, or a refresher other than C{uac}/C{uas}.
    """
    known = _SESSION_EXPIRES.get(text)
    if known is not None:
        return known
    delta, semi, paramText = text.partition(";")
    seconds = parseDeltaSeconds(delta, "Session-Expires")
    if seconds == 0 and not allowZero:
        raise SIPParseError("Session-Expires of 0")
    params = parseParams(semi + paramText)
    refresher = params.get("refresher")
    if "refresher" in params:
        if refresher is None or refresher.lower() not in ("uac", "uas"):
            raise SIPParseError("bad refresher %r" % (refresher,))
        refresher = refresher.lower()
    parsed = SessionExpires(seconds, refresher)
    if seconds:
        # Valid whatever allowZero says.
        if len(_SESSION_EXPIRES) >= 4096:
            _SESSION_EXPIRES.clear()
        _SESSION_EXPIRES[text] = parsed
    return parsed


#: The Session-Expires values with a non-zero interval parsed so far, by their text: a
#: proxy reads the same few on every call (immutable, so shared).
_SESSION_EXPIRES: dict[str, SessionExpires] = {}


def parseMinSE(text: str) -> int:
    """
    Parse C{Min-SE: delta-seconds *(SEMI generic-param)} (RFC 4028 section 5).

    @raise SIPParseError: on a zero, overflowing or non-numeric value.
    """
    delta, semi, paramText = text.partition(";")
    seconds = parseDeltaSeconds(delta, "Min-SE")
    if seconds == 0:
        raise SIPParseError("Min-SE of 0")
    parseParams(semi + paramText)
    return seconds
