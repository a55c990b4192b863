# -*- test-case-name: sst.test.test_message -*-
"""
SIP messages: bytes to L{Request}/L{Response} and back (RFC 3261 section 7).

The parser indexes the header block once and keeps each header's original text; typed
accessors decode a header the first time they are asked. Serialising writes untouched headers
back byte for byte, so forwarding costs only the edits a proxy makes.
"""
from __future__ import annotations

import re
from itertools import repeat
from operator import itemgetter
from typing import Callable, Hashable, Iterator, Optional, TypeVar, Union

from sst.headers import (
    CSeq,
    NameAddr,
    SessionExpires,
    SIPParseError,
    URI,
    Via,
    parseCSeq,
    parseDeltaSeconds,
    parseMinSE,
    parseNameAddr,
    parseSessionExpires,
    parseURI,
    parseVia,
    splitCommas,
)

__all__ = [
    "SIPParseError",
    "Message",
    "Request",
    "Response",
    "parse",
    "DEFAULT_MAX_SIZE",
    "REASON_PHRASES",
    "canonicalName",
]

#: Default cap on the size of one message, in bytes.
DEFAULT_MAX_SIZE = 65536

#: Compact header forms (RFC 3261 section 7.3.3 and extensions; C{x} is RFC 4028).
COMPACT_FORMS = {
    "i": "call-id",
    "m": "contact",
    "e": "content-encoding",
    "l": "content-length",
    "c": "content-type",
    "f": "from",
    "s": "subject",
    "k": "supported",
    "t": "to",
    "v": "via",
    "x": "session-expires",
    "o": "event",
    "r": "refer-to",
    "u": "allow-events",
    "b": "referred-by",
}

_DISPLAY_NAMES = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "min-se": "Min-SE",
    "mime-version": "MIME-Version",
    "rack": "RAck",
    "rseq": "RSeq",
}

#: Headers that may appear at most once (RFC 3261 section 7.3.1; RFC 4028).
SINGLE_VALUED = frozenset(
    [
        "call-id",
        "cseq",
        "from",
        "to",
        "max-forwards",
        "content-length",
        "content-type",
        "session-expires",
        "min-se",
        "expires",
    ]
)

#: Headers that must be present in every request and response.
REQUIRED = ("via", "from", "to", "call-id", "cseq")
_REQUIRED_KEYS = frozenset(REQUIRED)

REASON_PHRASES = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    413: "Request Entity Too Large",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    422: "Session Interval Too Small",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    486: "Busy Here",
    487: "Request Terminated",
    491: "Request Pending",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
}

_LINE_SPLIT = re.compile(r"\r?\n")
#: Methods that need no check of their spelling.
_KNOWN_METHODS = frozenset(["INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "UPDATE",
                            "PRACK", "SUBSCRIBE", "NOTIFY", "REFER", "INFO", "MESSAGE",
                            "PUBLISH"])
_METHOD_OK = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~]+$")


_KEYS: dict[str, str] = {}


_TAG_PARAM = re.compile(r";[ \t]*tag[ \t]*=[ \t]*([^;, \t]+)", re.IGNORECASE)


def tagOf(value: str) -> Optional[str]:
    """
    @return: the C{tag} parameter of a From or To value (after the C{>} of a name-addr, or
        among the header parameters of an addr-spec), or L{None}.
    """
    end = value.rfind(">")
    if end >= 0:
        value = value[end + 1 :]
    if "tag" not in value and "TAG" not in value.upper():
        return None
    match = _TAG_PARAM.search(value)
    return match.group(1) if match else None


_K = TypeVar("_K", bound=Hashable)
_T = TypeVar("_T")

#: Values decoded from header texts that recur from message to message (the CSeq, the
#: Max-Forwards and the Content-Length of the usual messages, the From and To of every
#: message of a call), by text. Each is a pure function of its text and immutable, so one
#: decoding serves every message carrying the same text; a memo is emptied when full.
_CSEQS: dict[str, CSeq] = {}
_DELTAS: dict[str, int] = {}
#: The tag of each From or To text, C{""} for none.
_TAGS: dict[str, str] = {}
_MEMO_SIZE = 4096


def _remember(memo: dict[_K, _T], text: _K, value: _T) -> _T:
    """
    Note in C{memo} that C{text} decodes to C{value}.

    @return: C{value}.
    """
    if len(memo) >= _MEMO_SIZE:
        memo.clear()
    memo[text] = value
    return value


def _delta(text: str, what: str) -> int:
    """
    L{parseDeltaSeconds}, through L{_DELTAS}.
    """
    number = _DELTAS.get(text)
    if number is None:
        number = _remember(_DELTAS, text, parseDeltaSeconds(text, what))
    return number


def _cseqOf(value: str) -> CSeq:
    """
    L{parseCSeq}, through L{_CSEQS}.
    """
    cseq = _CSEQS.get(value)
    if cseq is None:
        cseq = _remember(_CSEQS, value, parseCSeq(value))
    return cseq


def _topViaOf(value: str) -> Via:
    """
    @return: the first element of the Via value C{value}, decoded.
    """
    if "," in value:
        elements = splitCommas(value)
        if not elements:
            raise SIPParseError("empty Via")
        value = elements[0]
    return parseVia(value)


def _maxForwardsOf(value: str) -> int:
    """
    @return: the Max-Forwards value C{value}, decoded.
    """
    number = _delta(value, "Max-Forwards")
    if number > 255:
        raise SIPParseError("Max-Forwards too large")
    return number


#: What each header's decoded forms are cached under.
_CACHE_KEYS = {
    "via": ("via", "topvia"),
    "from": ("from", "from-tag"),
    "to": ("to", "to-tag"),
}


def canonicalName(name: str) -> str:
    """
    @return: the lower-case long form of a header name (compact forms expanded).
    """
    key = _KEYS.get(name)
    if key is None:
        key = name.lower()
        key = COMPACT_FORMS.get(key, key)
        if len(_KEYS) < 4096:
            _KEYS[name] = key
    return key


def displayName(key: str) -> str:
    """
    @return: the conventional spelling of a header key, for headers we write.
    """
    shown = _DISPLAY_NAMES.get(key)
    if shown is None:
        shown = "-".join(part.capitalize() for part in key.split("-"))
        if len(_DISPLAY_NAMES) < 1024:
            _DISPLAY_NAMES[key] = shown
    return shown


class Header:
    """
    One header line: its key (lower-case long name), decoded value, and original text.

    @ivar raw: the original line (folding included) or L{None} once edited.
    """

    __slots__ = ("key", "value", "raw")

    def __init__(self, key: str, value: str, raw: Optional[str] = None) -> None:
        self.key = key
        self.value = value
        self.raw = raw

    def text(self) -> str:
        """
        @return: the line to write: the original text when unedited.
        """
        if self.raw is not None:
            return self.raw
        return "%s: %s" % (displayName(self.key), self.value)


def valueOf(line: str) -> str:
    """
    @return: the value of a header line: what follows its colon, without the blanks around
        it, with a folded line's continuations joined by single spaces.
    """
    value = line.partition(":")[2]
    if "\n" in value:
        # A folded line: each continuation joins with one space (RFC 3261 section 7.3.1).
        parts = value.split("\r\n")
        value = parts[0].strip(" \t")
        for part in parts[1:]:
            value = (value + " " + part.strip()).strip()
        return value
    return value.strip(" \t")


class Message:
    """
    What requests and responses share: an ordered list of header lines and a body.

    A header line is kept as the text it is written with (as it arrived, or as sst wrote it)
    beside its key (lower-case long name, compact forms expanded), in two parallel lists;
    values are read from the text when asked for.  Looking a header up is a C-level search
    of the key list, and forwarding a message writes its lines back as they are.

    @ivar body: the body, as bytes.
    @ivar receivedAt: when the message arrived (clock seconds), set by the transport.
    @ivar source: where it came from, set by the transport.
    """

    __slots__ = ("_lines", "_keys", "body", "receivedAt", "source", "_cache")

    def __init__(self, headers: Optional[list[Header]] = None, body: bytes = b"") -> None:
        self._lines: list[str] = []
        self._keys: list[str] = []
        self.body = body
        self.receivedAt = 0.0
        self.source: object = None
        self._cache: dict[str, object] = {}
        if headers:
            self._addHeaders(headers)

    def _addHeaders(self, headers: list[Header]) -> None:
        """
        Append C{headers}, as the constructor's C{headers} argument does.
        """
        for h in headers:
            self._keys.append(h.key)
            self._lines.append(h.text())

    @property
    def headers(self) -> list[Header]:
        """
        The header lines, in order, as L{Header}s (a copy: edit through the methods).
        """
        return [Header(key, valueOf(line), line) for key, line in zip(self._keys, self._lines)]

    def copyHeaders(self, other: "Message") -> None:
        """
        Give this message the header lines of C{other} (a proxy's copy of a request), and
        what was decoded from them (decoded values are never changed in place).
        """
        self._lines = other._lines[:]
        self._keys = other._keys[:]
        self._cache = dict(other._cache)

    def shrink(self) -> None:
        """
        Forget what was decoded from the headers (it is decoded again if asked for): a
        transaction that only lingers keeps its message at its smallest.
        """
        self._cache = {}

    # -- generic header access ---------------------------------------------------------

    def header(self, name: str) -> Optional[str]:
        """
        @return: the value of the first header called C{name} (any form), or L{None}.
        """
        key = _KEYS.get(name) or canonicalName(name)
        try:
            line = self._lines[self._keys.index(key)]
        except ValueError:
            return None
        value = line.partition(":")[2]
        if "\n" in value:
            return valueOf(line)
        return value.strip(" \t")

    def headerValues(self, name: str) -> list[str]:
        """
        @return: every element of every header called C{name}, comma lists split.
        """
        key = _KEYS.get(name) or canonicalName(name)
        keys = self._keys
        count = keys.count(key)
        if not count:
            return []
        lines = self._lines
        if count == 1:
            line = lines[keys.index(key)]
            value = line.partition(":")[2]
            if "\n" in value:
                value = valueOf(line)
            return splitCommas(value)
        values: list[str] = []
        for k, line in zip(keys, lines):
            if k == key:
                values.extend(splitCommas(valueOf(line)))
        return values

    def copyLines(self, other: "Message", key: str, every: bool = False) -> bool:
        """
        Append the first line (or with C{every}, each line) of C{other} whose key is C{key},
        as it is written there.

        @param key: the key, in canonical form.
        @return: whether C{other} had such a line.
        """
        keys = other._keys
        if key not in keys:
            return False
        if every:
            for k, line in zip(keys, other._lines):
                if k == key:
                    self._keys.append(key)
                    self._lines.append(line)
        else:
            self._keys.append(key)
            self._lines.append(other._lines[keys.index(key)])
        return True

    def copyFirstLines(self, other: "Message", keys: tuple[str, ...]) -> None:
        """
        Append, for each key of C{keys} in turn, the first line of C{other} with that key,
        as it is written there (what L{copyLines} does for each, in one call); keys that
        C{other} lacks are skipped.

        @param keys: keys, in canonical form.
        """
        theirs = other._keys
        lines = other._lines
        for key in keys:
            if key in theirs:
                self._keys.append(key)
                self._lines.append(lines[theirs.index(key)])

    def lineValues(self, name: str) -> list[str]:
        """
        @return: the value of each line called C{name}, comma lists left whole.
        """
        key = _KEYS.get(name) or canonicalName(name)
        keys = self._keys
        count = keys.count(key)
        if count == 0:
            return []
        if count == 1:
            return [valueOf(self._lines[keys.index(key)])]
        return [valueOf(line) for k, line in zip(keys, self._lines) if k == key]

    def hasHeader(self, name: str) -> bool:
        """
        @return: whether a header called C{name} is present.
        """
        return (_KEYS.get(name) or canonicalName(name)) in self._keys

    def hasOptionTag(self, name: str, tag: str) -> bool:
        """
        @return: whether the option tag C{tag} is listed in C{name} (Supported, Require, ...).
        """
        return tag.lower() in map(str.lower, self.headerValues(name))

    def appendHeader(self, key: str, value: str) -> None:
        """
        Add a header line at the end, its key given in canonical form (lower case, long
        name): the way to build a message line by line.
        """
        self._cache.pop(key, None) if self._cache else None
        self._keys.append(key)
        self._lines.append("%s: %s" % (_DISPLAY_NAMES.get(key) or displayName(key), value))

    def addHeader(self, name: str, value: str, first: bool = False) -> None:
        """
        Add a header line, at the end of the header block or before all others.
        """
        key = _KEYS.get(name) or canonicalName(name)
        if self._cache:
            self._invalidate(key)
        line = "%s: %s" % (_DISPLAY_NAMES.get(key) or displayName(key), value)
        if first:
            self._keys.insert(0, key)
            self._lines.insert(0, line)
        else:
            self._keys.append(key)
            self._lines.append(line)

    def insertBefore(self, name: str, value: str) -> None:
        """
        Add a header line before the first existing header of the same name (or at the end).
        """
        key = _KEYS.get(name) or canonicalName(name)
        if self._cache:
            self._invalidate(key)
        line = "%s: %s" % (_DISPLAY_NAMES.get(key) or displayName(key), value)
        keys = self._keys
        if key in keys:
            i = keys.index(key)
            keys.insert(i, key)
            self._lines.insert(i, line)
        else:
            keys.append(key)
            self._lines.append(line)

    def setHeader(self, name: str, value: str) -> None:
        """
        Replace every header called C{name} by one line with C{value}, keeping its position.
        """
        key = _KEYS.get(name) or canonicalName(name)
        if self._cache:
            self._invalidate(key)
        line = "%s: %s" % (_DISPLAY_NAMES.get(key) or displayName(key), value)
        keys = self._keys
        if key not in keys:
            keys.append(key)
            self._lines.append(line)
            return
        i = keys.index(key)
        self._lines[i] = line
        if keys.count(key) > 1:
            self._keepOnly(lambda j, k: k != key or j == i)

    def _keepOnly(self, keep: Callable[[int, str], bool]) -> None:
        """
        Drop the lines for which C{keep(index, key)} is false.
        """
        pairs = [(k, line) for j, (k, line) in enumerate(zip(self._keys, self._lines))
                 if keep(j, k)]
        self._keys = [k for k, _ in pairs]
        self._lines = [line for _, line in pairs]

    def removeHeader(self, name: str) -> int:
        """
        Remove every header called C{name}.

        @return: how many lines were removed.
        """
        key = canonicalName(name)
        count = self._keys.count(key)
        if count:
            self._keepOnly(lambda j, k: k != key)
        self._invalidate(key)
        return count

    def popFirstValue(self, name: str) -> Optional[str]:
        """
        Remove and return the first element of a list header (Via, Route), splitting a
        comma-combined line when needed.
        """
        key = _KEYS.get(name) or canonicalName(name)
        keys = self._keys
        if key not in keys:
            return None
        i = keys.index(key)
        line = self._lines[i]
        value = line.partition(":")[2]
        value = valueOf(line) if "\n" in value else value.strip(" \t")
        if self._cache:
            self._invalidate(key)
        if "," in value:
            values = splitCommas(value)
            if len(values) > 1:
                self._lines[i] = "%s: %s" % (displayName(key), ", ".join(values[1:]))
                return values[0]
        else:
            values = [value] if value else []
        del keys[i]
        del self._lines[i]
        return values[0] if values else None

    def _invalidate(self, key: str) -> None:
        """
        Forget what was decoded from the headers called C{key}.
        """
        cache = self._cache
        if cache:
            names = _CACHE_KEYS.get(key)
            if names is None:
                cache.pop(key, None)
                return
            for name in names:
                cache.pop(name, None)

    def pushVia(self, via: Via, text: Optional[str] = None) -> None:
        """
        Add C{via} as the new top Via (a proxy forwarding a request), keeping it decoded.

        @param text: C{via} as written, when the caller has it already.
        """
        self._keys.insert(0, "via")
        self._lines.insert(0, "Via: " + (text if text is not None else str(via)))
        cache = self._cache
        cache.pop("via", None)
        cache["topvia"] = via

    def replaceTopVia(self, via: Via, text: Optional[str] = None) -> None:
        """
        Replace the top Via element by C{via} (as the transport does to add C{received} and
        C{rport}), leaving the other Via elements and every other header untouched.

        @param text: C{via} as written, when the caller has it already.
        """
        keys = self._keys
        if "via" not in keys:
            raise SIPParseError("missing Via")
        i = keys.index("via")
        if text is None:
            text = str(via)
        value = self._lines[i].partition(":")[2]
        if "," in value:
            values = splitCommas(valueOf(self._lines[i]))
            values[0] = text
            value = ", ".join(values)
        else:
            value = text
        self._lines[i] = "Via: " + value
        cache = self._cache
        cache.pop("via", None)
        cache["topvia"] = via

    def extendTopVia(self, via: Via, suffix: str) -> bool:
        """
        Append C{suffix} to the top Via when its line holds that one element and it ends
        with an empty C{rport} (the usual Via of a request, to which the transport adds
        the values of C{rport} and C{received}), keeping C{via}, the result, decoded.

        @return: whether the line was like that and was extended; if not, nothing changed.
        """
        keys = self._keys
        if "via" not in keys:
            return False
        i = keys.index("via")
        line = self._lines[i]
        value = line.partition(":")[2]
        value = valueOf(line) if "\n" in value else value.strip(" \t")
        if "," in value or not value.endswith(";rport"):
            return False
        self._lines[i] = "Via: " + value + suffix
        cache = self._cache
        cache.pop("via", None)
        cache["topvia"] = via
        return True

    def iterHeaders(self) -> Iterator[tuple[str, str]]:
        """
        @return: (key, value) pairs in order.
        """
        return ((key, valueOf(line)) for key, line in zip(self._keys, self._lines))

    # -- typed accessors ----------------------------------------------------------------

    def vias(self) -> list[Via]:
        """
        @return: every Via element, top first.
        @raise SIPParseError: when a Via does not parse.
        """
        cached = self._cache.get("via")
        if cached is None:
            cached = [parseVia(v) for v in self.headerValues("via")]
            self._cache["via"] = cached
        return cached  # type: ignore[return-value]

    def topVia(self) -> Via:
        """
        @return: the top Via (only that element is decoded).
        @raise SIPParseError: when there is none.
        """
        cached = self._cache.get("topvia")
        if cached is None:
            value = self.header("via")
            if value is None:
                raise SIPParseError("missing Via")
            cached = self._cache["topvia"] = _topViaOf(value)
        return cached  # type: ignore[return-value]

    def cseq(self) -> CSeq:
        """
        @return: the parsed CSeq.
        """
        cached = self._cache.get("cseq")
        if cached is None:
            value = self.header("cseq")
            if value is None:
                raise SIPParseError("missing CSeq")
            cached = self._cache["cseq"] = _cseqOf(value)
        return cached  # type: ignore[return-value]

    def _nameAddr(self, key: str) -> NameAddr:
        cached = self._cache.get(key)
        if cached is None:
            value = self.header(key)
            if value is None:
                raise SIPParseError("missing %s" % (displayName(key),))
            cached = parseNameAddr(value)
            self._cache[key] = cached
        return cached  # type: ignore[return-value]

    def fromAddr(self) -> NameAddr:
        """
        @return: the parsed From header.
        """
        return self._nameAddr("from")

    def toAddr(self) -> NameAddr:
        """
        @return: the parsed To header.
        """
        return self._nameAddr("to")

    def _tag(self, key: str, cacheKey: str) -> Optional[str]:
        cache = self._cache
        if cacheKey in cache:
            return cache[cacheKey]  # type: ignore[return-value]
        parsed = cache.get(key)
        if isinstance(parsed, NameAddr):
            tag = parsed.tag
        else:
            # What header() does, without its call.
            try:
                line = self._lines[self._keys.index(key)]
            except ValueError:
                raise SIPParseError("missing %s" % (displayName(key),)) from None
            value = line.partition(":")[2]
            value = valueOf(line) if "\n" in value else value.strip(" \t")
            known = _TAGS.get(value)
            if known is None:
                known = _remember(_TAGS, value, tagOf(value) or "")
            tag = known or None
        cache[cacheKey] = tag
        return tag

    @property
    def fromTag(self) -> Optional[str]:
        """
        The From tag, read without decoding the whole header.
        """
        cache = self._cache
        if "from-tag" in cache:
            return cache["from-tag"]  # type: ignore[return-value]
        return self._tag("from", "from-tag")

    @property
    def toTag(self) -> Optional[str]:
        """
        The To tag, read without decoding the whole header.
        """
        cache = self._cache
        if "to-tag" in cache:
            return cache["to-tag"]  # type: ignore[return-value]
        return self._tag("to", "to-tag")

    @property
    def callId(self) -> str:
        """
        The Call-ID (compared byte for byte).
        """
        cache = self._cache
        value = cache.get("call-id")
        if value is None:
            # What header() does, without its call.
            try:
                line = self._lines[self._keys.index("call-id")]
            except ValueError:
                raise SIPParseError("missing Call-ID") from None
            value = line.partition(":")[2]
            value = cache["call-id"] = valueOf(line) if "\n" in value else value.strip(" \t")
        return value  # type: ignore[return-value]

    def nameAddrs(self, name: str) -> list[NameAddr]:
        """
        @return: every element of a name-addr list header (Route, Record-Route, Contact).
        """
        return [parseNameAddr(v) for v in self.headerValues(name)]

    def maxForwards(self) -> Optional[int]:
        """
        @return: Max-Forwards, or L{None} when absent.
        """
        cache = self._cache
        if "max-forwards" in cache:
            return cache["max-forwards"]  # type: ignore[return-value]
        value = self.header("max-forwards")
        number = None if value is None else _maxForwardsOf(value)
        cache["max-forwards"] = number
        return number

    def sessionExpires(self) -> Optional[SessionExpires]:
        """
        @return: the Session-Expires header (long or compact C{x} form), or L{None} when
            absent (RFC 4028 section 4).
        @raise SIPParseError: when it does not parse.
        """
        cache = self._cache
        if "session-expires" not in cache:
            value = self.header("session-expires")
            cache["session-expires"] = None if value is None else parseSessionExpires(value)
        return cache["session-expires"]  # type: ignore[return-value]

    def minSE(self) -> Optional[int]:
        """
        @return: the Min-SE value in seconds, or L{None} when absent (RFC 4028 section 5).
        @raise SIPParseError: when it does not parse.
        """
        cache = self._cache
        if "min-se" not in cache:
            value = self.header("min-se")
            cache["min-se"] = None if value is None else parseMinSE(value)
        return cache["min-se"]  # type: ignore[return-value]

    # -- serialisation ------------------------------------------------------------------

    def startLine(self) -> str:
        """
        @return: the first line of the message.
        """
        raise NotImplementedError()

    def byteSize(self) -> int:
        """
        @return: the length of L{toBytes}, but for a rewritten Content-Length, without
            serialising.
        """
        lines = self._lines
        return (len(self.startLine()) + sum(map(len, lines)) + 2 * len(lines) + 4
                + ("content-length" not in self._keys) * 19 + len(self.body))

    def toBytes(self) -> bytes:
        """
        Serialise, writing header lines as they are and Content-Length as the real length
        of the body (one line, added when absent).
        """
        keys = self._keys
        body = self.body
        if keys.count("content-length") == 1:
            # The usual message: its lines joined as they are (copied only to rewrite a
            # wrong Content-Length), between the start line and the empty line.
            lines = self._lines
            i = keys.index("content-length")
            line = lines[i]
            value = line.partition(":")[2]
            if "\n" in value:
                value = valueOf(line)
            if value.strip(" \t") != str(len(body)):
                lines = lines[:]
                lines[i] = "Content-Length: %d" % (len(body),)
            text = "%s\r\n%s\r\n\r\n" % (self.startLine(), "\r\n".join(lines))
            data = text.encode("latin-1")
            return data + body if body else data
        lines = [self.startLine()]
        length = "Content-Length: %d" % (len(body),)
        seen = False
        for k, line in zip(keys, self._lines):
            if k == "content-length":
                if seen:
                    continue
                seen = True
                if valueOf(line) != str(len(body)):
                    line = length
            lines.append(line)
        if not seen:
            lines.append(length)
        lines.append("\r\n")
        data = "\r\n".join(lines).encode("latin-1")
        return data + body if body else data


class Request(Message):
    """
    A SIP request.

    @ivar method: the method (case-sensitive).
    @ivar uri: the Request-URI, as text.
    """

    __slots__ = ("method", "uri", "_ruri")

    def __init__(
        self, method: str, uri: str, headers: Optional[list[Header]] = None, body: bytes = b""
    ) -> None:
        # What Message.__init__ does, without its call: a request is made for every one
        # parsed and every one forwarded.
        self._lines = []
        self._keys = []
        self.body = body
        self.receivedAt = 0.0
        self.source = None
        self._cache = {}
        if headers:
            self._addHeaders(headers)
        self.method = method
        self.uri = uri
        self._ruri: Optional[tuple[str, URI]] = None

    def startLine(self) -> str:
        return "%s %s SIP/2.0" % (self.method, self.uri)

    def shrink(self) -> None:
        self._cache = {}
        self._ruri = None

    def requestURI(self) -> URI:
        """
        @return: the parsed Request-URI.
        """
        # Keyed by the text, so that assigning to C{uri} is noticed without re-serialising.
        cached = self._ruri
        if cached is None or cached[0] != self.uri:
            cached = self._ruri = (self.uri, parseURI(self.uri))
        return cached[1]

    def __repr__(self) -> str:
        return "<Request %s %s>" % (self.method, self.uri)


class Response(Message):
    """
    A SIP response.
    """

    __slots__ = ("code", "phrase")

    def __init__(
        self, code: int, phrase: str = "", headers: Optional[list[Header]] = None, body: bytes = b""
    ) -> None:
        # As in Request.__init__.
        self._lines = []
        self._keys = []
        self.body = body
        self.receivedAt = 0.0
        self.source = None
        self._cache = {}
        if headers:
            self._addHeaders(headers)
        self.code = code
        self.phrase = phrase if phrase else REASON_PHRASES.get(code, "")

    def startLine(self) -> str:
        return "SIP/2.0 %d %s" % (self.code, self.phrase)

    def __repr__(self) -> str:
        return "<Response %d %s>" % (self.code, self.phrase)


#: The status codes a status line may carry, by their text.
_STATUS_CODES = {str(code): code for code in range(100, 700)}


def _parseStartLine(line: str) -> tuple[Union[Request, Response], Optional[SIPParseError]]:
    """
    @return: the message the start line begins and, for a request whose only fault is its
        SIP version, the 505 error to raise once the headers are indexed (so that the 505 can
        be built from them).
    """
    if line[:8] == "SIP/2.0 ":
        # The usual status line.
        code = _STATUS_CODES.get(line[8:11])
        if code is not None and line[11:12] in (" ", ""):
            return Response(code, line[12:], []), None
    elif line[-8:] == " SIP/2.0":
        # The usual request line.
        method, space, uri = line[:-8].partition(" ")
        if (method in _KNOWN_METHODS and uri and " " not in uri and ":" in uri
                and uri[0] != "<"):
            return Request(method, uri, []), None
    if line.startswith("SIP/") or line[:4].upper() == "SIP/":
        parts = line.split(" ", 2)
        if len(parts) < 2:
            raise SIPParseError("bad status line")
        version = parts[0]
        if version.upper() != "SIP/2.0":
            raise SIPParseError("unsupported version", status=505)
        codeText = parts[1]
        if len(codeText) != 3 or not codeText.isdigit() or not codeText.isascii():
            raise SIPParseError("bad status code")
        code = int(codeText)
        if code < 100 or code > 699:
            raise SIPParseError("bad status code")
        return Response(code, parts[2] if len(parts) == 3 else "", []), None
    parts = line.split(" ")
    if len(parts) != 3:
        return _badRequestLine(line, "bad request line")
    method, uri, version = parts
    if not _METHOD_OK.match(method):
        raise SIPParseError("bad method")
    if not uri or ":" not in uri or uri[0] == "<":
        return _badRequestLine(line, "bad Request-URI")
    if version.upper() != "SIP/2.0":
        if version[:4].upper() == "SIP/":
            return Request(method, uri, []), SIPParseError("unsupported version", status=505)
        raise SIPParseError("bad request line")
    return Request(method, uri, []), None


def _badRequestLine(line: str, reason: str) -> tuple[Request, SIPParseError]:
    """
    A request line with a bad Request-URI, or blanks around or inside it (RFC 4475 sections
    3.1.2.7 to 3.1.2.10). When it still starts with a method and ends with a SIP version,
    the error is returned to be raised once the headers are indexed, so that the request
    can be answered with a 400; otherwise it is raised at once.
    """
    words = line.split()
    if len(words) >= 3 and _METHOD_OK.match(words[0]) and words[-1][:4].upper() == "SIP/":
        return Request(words[0], " ".join(words[1:-1]), []), SIPParseError(reason)
    raise SIPParseError(reason)


def parse(data: bytes, maxSize: int = DEFAULT_MAX_SIZE) -> Union[Request, Response]:
    """
    Parse one message.

    Bytes after the body that Content-Length announces are ignored (datagram transports,
    RFC 4475 section 3.1.1.8). A message with no Content-Length takes the rest as body.
    Besides the header block, the Request-URI, Via, From, To, CSeq and Max-Forwards are
    decoded here, so that no layer above meets a bad one.

    @param maxSize: the largest message accepted, in bytes.
    @raise SIPParseError: with a reason and a status (400; 505 for another SIP version; 513
        above C{maxSize}); its C{message} holds the partly parsed message when the start line
        could be read, with every well-formed header line indexed, so that a response can be
        built from it.
    """
    if len(data) > maxSize:
        tooLarge = SIPParseError("message too large", status=513)
        # Index the header block alone (when it fits), so that a request can be answered.
        end = data.find(b"\r\n\r\n", 0, maxSize)
        if end > 0:
            try:
                tooLarge.message = parse(data[: end + 4], maxSize)
            except SIPParseError as e:
                tooLarge.message = e.message
        raise tooLarge
    # Tolerate leading CRLFs (keep-alives, RFC 3261 section 7.5).
    data = data.lstrip(b"\r\n")
    # The header block ends at the first empty line, whether CRLF or bare LF ends it; a CRLF
    # CRLF inside the body of a bare-LF message is not the end of its headers.
    end = data.find(b"\r\n\r\n")
    lfEnd = data.find(b"\n\n", 0, len(data) if end < 0 else end)
    if lfEnd >= 0:
        head = data[:lfEnd].rstrip(b"\r")
        body = data[lfEnd + 2 :]
    elif end >= 0:
        head = data[:end]
        body = data[end + 4 :]
    else:
        head = data.rstrip(b"\r\n")
        body = b""
    if not head:
        raise SIPParseError("empty message")
    text = head.decode("latin-1")
    lines = text.split("\r\n")
    joined = "".join(lines)
    if "\r" in joined or "\n" in joined:
        # A CR or LF outside a CRLF. A CR that does not end a line would let the next hop
        # see a line we did not.
        if text.count("\r") != text.count("\r\n"):
            raise SIPParseError("bare CR in header")
        lines = _LINE_SPLIT.split(text)
    msg, error = _parseStartLine(lines[0])
    badLine: Optional[SIPParseError] = None
    # The usual header block: every line "Name: value" with a name seen before (a folded,
    # empty or bad line has no such name).  The names are mapped to keys without a Python
    # loop.
    del lines[0]
    rest = lines
    fastKeys = list(map(_NAMES.get, map(_BEFORE, map(str.partition, rest, repeat(":")))))
    if None not in fastKeys:
        msg._lines = rest
        msg._keys = fastKeys  # type: ignore[assignment]
    else:
        badLine = _indexLines(msg, rest)
    if error is None:
        error = badLine
    if error is not None:
        error.message = msg
        raise error
    try:
        _validate(msg, body)
    except SIPParseError as e:
        e.message = msg
        raise
    return msg


#: The part of a partitioned line before the separator.
_BEFORE = itemgetter(0)


def _indexLines(msg: Union[Request, Response], lines: list[str]) -> Optional[SIPParseError]:
    """
    Index header lines one by one: folding, empty lines, names not seen before.

    @return: the error of the first line that is not a header line, if any (indexing goes
        on, so that the error can carry Via, From, To, Call-ID and CSeq).
    """
    rawLines = msg._lines
    keys = msg._keys
    names = _NAMES
    folding = False
    badLine: Optional[SIPParseError] = None
    for line in lines:
        if not line:
            continue
        first = line[0]
        if first == " " or first == "\t":
            if folding:
                rawLines[-1] += "\r\n" + line
            elif badLine is None:
                badLine = SIPParseError("folded line without a header")
            continue
        colon = line.find(":")
        key = names.get(line[:colon]) if colon > 0 else None
        if key is None:
            key = _headerKey(line, colon)
            if key is None:
                # Keep indexing, so that the error can carry Via, From, To, Call-ID and CSeq.
                if badLine is None:
                    badLine = SIPParseError("bad header line %r" % (line[:40],))
                folding = False
                continue
        rawLines.append(line)
        keys.append(key)
        folding = True
    return badLine


#: Header names as they appear before the colon (blanks included), mapped to their keys.
_NAMES: dict[str, str] = {}

_NAME_PART = re.compile(r"([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*")


def _headerKey(line: str, colon: int) -> Optional[str]:
    """
    The key of a header line whose name is not yet in L{_NAMES}: its name must be a token,
    blanks allowed before the colon.

    @return: the key, or L{None} when the line is not a header line.
    """
    if colon <= 0:
        return None
    match = _NAME_PART.fullmatch(line, 0, colon)
    if match is None:
        return None
    key = canonicalName(match.group(1))
    if len(_NAMES) < 4096:
        _NAMES[line[:colon]] = key
    return key


#: The sequences of header keys that L{_checkKeys} passed: the messages of a kind (the
#: INVITEs of one phone, the responses of one peer) have the same header lines in the same
#: order, so their keys are checked once.
_SHAPES: dict[tuple[str, ...], bool] = {}


def _checkKeys(keys: list[str]) -> None:
    """
    Check that no single-valued header is repeated and that the required ones are there.

    @raise SIPParseError: when one is repeated or missing.
    """
    singles = list(filter(SINGLE_VALUED.__contains__, keys))
    if len(set(singles)) != len(singles):
        for key in singles:
            if singles.count(key) > 1:
                raise SIPParseError("duplicate %s" % (displayName(key),))
    if not _REQUIRED_KEYS.issubset(keys):
        for key in REQUIRED:
            if key not in keys:
                raise SIPParseError("missing %s" % (displayName(key),))


def _validate(msg: Union[Request, Response], body: bytes) -> None:
    keys = msg._keys
    shape = tuple(keys)
    if shape not in _SHAPES:
        _checkKeys(keys)
        _remember(_SHAPES, shape, True)
    lines = msg._lines
    cache = msg._cache
    # The values are read as L{valueOf} does, without its call for an unfolded line.
    if "content-length" in keys:
        line = lines[keys.index("content-length")]
        value = line.partition(":")[2]
        value = valueOf(line) if "\n" in value else value.strip(" \t")
        length = _DELTAS.get(value)
        if length is None:
            length = _delta(value, "Content-Length")
        if length > len(body):
            raise SIPParseError("Content-Length larger than message")
        body = body[:length]
    msg.body = body
    # As the accessors do (CSeq and Via are there: _checkKeys says so), without their
    # lookups of a cache that is still empty.
    line = lines[keys.index("cseq")]
    value = line.partition(":")[2]
    value = valueOf(line) if "\n" in value else value.strip(" \t")
    cseq = _CSEQS.get(value)
    if cseq is None:
        cseq = _cseqOf(value)
    cache["cseq"] = cseq
    if isinstance(msg, Request):
        if cseq.method != msg.method:
            raise SIPParseError("CSeq method does not match request method")
        uri = msg.uri
        parsed = parseURI(uri)
        msg._ruri = (uri, parsed)
        if parsed.headers:
            # RFC 3261 section 19.1.1: headers are not allowed in a Request-URI, and a proxy
            # must not forward them (RFC 4475 section 3.1.2.11).
            raise SIPParseError("headers in Request-URI")
    # Decode what the transaction layer needs on every message. From and To are decoded
    # when first asked for (the proxy checks them on dialog-creating requests); their tags
    # are read cheaply by L{Message.fromTag} and L{Message.toTag}.
    line = lines[keys.index("via")]
    value = line.partition(":")[2]
    value = valueOf(line) if "\n" in value else value.strip(" \t")
    cache["topvia"] = parseVia(value) if "," not in value else _topViaOf(value)
    if "max-forwards" in keys:
        line = lines[keys.index("max-forwards")]
        value = line.partition(":")[2]
        value = valueOf(line) if "\n" in value else value.strip(" \t")
        number = _DELTAS.get(value)
        if number is None or number > 255:
            number = _maxForwardsOf(value)
        cache["max-forwards"] = number
    else:
        cache["max-forwards"] = None
