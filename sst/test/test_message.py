# -*- test-case-name: sst.test.test_message -*-
"""
Tests for L{sst.message}.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from hypothesis import given, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from sst.headers import CSeq, SessionExpires, SIPParseError, parseVia
from sst import message
from sst.message import (
    COMPACT_FORMS,
    DEFAULT_MAX_SIZE,
    Header,
    Message,
    Request,
    Response,
    canonicalName,
    displayName,
    parse,
)
from sst.test import _hypothesis  # noqa: F401  (loads the Hypothesis profile)

BODY = (
    b"v=0\r\n"
    b"o=alice 2890844526 2890844526 IN IP4 pc33.atlanta.example.com\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.101\r\n"
    b"t=0 0\r\n"
    b"m=audio 49172 RTP/AVP 0\r\n"
)

HEADERS = [
    b"Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport",
    b"Max-Forwards: 70",
    b"To: Bob <sip:bob@biloxi.example.com>",
    b'From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774',
    b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com",
    b"CSeq: 314159 INVITE",
    b"Contact: <sip:alice@pc33.atlanta.example.com>",
    b"Supported: timer, 100rel",
    b"Session-Expires: 1800;refresher=uac",
    b"Min-SE: 90",
    b"Content-Type: application/sdp",
]


def request(
    headers: list[bytes] = HEADERS,
    body: bytes = BODY,
    startLine: bytes = b"INVITE sip:bob@biloxi.example.com SIP/2.0",
    contentLength: Union[bytes, None] = None,
    eol: bytes = b"\r\n",
) -> bytes:
    """
    Build a message from its start line, header lines and body.

    @param contentLength: the Content-Length value to write; L{None} for the length of
        C{body}, C{b""} for no Content-Length header at all.
    """
    lines = [startLine] + list(headers)
    if contentLength is None:
        contentLength = b"%d" % (len(body),)
    if contentLength:
        lines.append(b"Content-Length: " + contentLength)
    return eol.join(lines) + eol + eol + body


def response(headers: list[bytes] = HEADERS, body: bytes = b"", statusLine: bytes = b"SIP/2.0 200 OK") -> bytes:
    """
    Build a response with the default headers.
    """
    return request(headers, body, statusLine)


def replaceHeader(name: bytes, line: Union[bytes, None], headers: list[bytes] = HEADERS) -> list[bytes]:
    """
    @return: C{headers} with the line(s) called C{name} replaced by C{line} (or removed
        when C{line} is L{None}).
    """
    out: list[bytes] = []
    for h in headers:
        if h.split(b":", 1)[0].strip().lower() == name.lower():
            if line is not None:
                out.append(line)
                line = None
        else:
            out.append(h)
    return out


def parseRequest(data: bytes) -> Request:
    """
    Parse C{data}, which must be a request.
    """
    message = parse(data)
    assert isinstance(message, Request), message
    return message


def parseResponse(data: bytes) -> Response:
    """
    Parse C{data}, which must be a response.
    """
    message = parse(data)
    assert isinstance(message, Response), message
    return message


class ParseRequestTests(SynchronousTestCase):
    """
    Parsing requests.
    """

    def test_startLine(self) -> None:
        """
        The method and Request-URI come from the request line.
        """
        msg = parseRequest(request())
        self.assertEqual((msg.method, msg.uri), ("INVITE", "sip:bob@biloxi.example.com"))
        self.assertEqual(msg.startLine(), "INVITE sip:bob@biloxi.example.com SIP/2.0")
        self.assertEqual(repr(msg), "<Request INVITE sip:bob@biloxi.example.com>")
        uri = msg.requestURI()
        self.assertEqual((uri.user, uri.host), ("bob", "biloxi.example.com"))

    def test_headersAndBody(self) -> None:
        """
        Headers are indexed in order with lower-case long keys; the body is kept as bytes.
        """
        msg = parseRequest(request())
        self.assertEqual(
            [key for key, _ in msg.iterHeaders()],
            [
                "via",
                "max-forwards",
                "to",
                "from",
                "call-id",
                "cseq",
                "contact",
                "supported",
                "session-expires",
                "min-se",
                "content-type",
                "content-length",
            ],
        )
        self.assertEqual(msg.body, BODY)
        self.assertIsInstance(msg.body, bytes)

    def test_accessors(self) -> None:
        """
        The typed accessors decode Via, CSeq, From/To, Call-ID, Max-Forwards,
        Session-Expires and Min-SE.
        """
        msg = parseRequest(request())
        self.assertEqual(msg.topVia().branch, "z9hG4bK776asdhds")
        self.assertEqual(msg.cseq(), CSeq(314159, "INVITE"))
        self.assertEqual(msg.fromTag, "1928301774")
        self.assertIsNone(msg.toTag)
        self.assertEqual(msg.fromAddr().uri.user, "alice")
        self.assertEqual(msg.toAddr().display, "Bob")
        self.assertEqual(msg.callId, "a84b4c76e66710@pc33.atlanta.example.com")
        self.assertEqual(msg.maxForwards(), 70)
        self.assertEqual(msg.sessionExpires(), SessionExpires(1800, "uac"))
        self.assertEqual(msg.minSE(), 90)
        self.assertEqual([str(a.uri) for a in msg.nameAddrs("m")], ["sip:alice@pc33.atlanta.example.com"])

    def test_absentOptionalHeaders(self) -> None:
        """
        Max-Forwards, Session-Expires and Min-SE accessors give L{None} when absent.
        """
        headers = [h for h in HEADERS if not h.startswith((b"Max-", b"Session-", b"Min-"))]
        msg = parseRequest(request(headers))
        self.assertIsNone(msg.maxForwards())
        self.assertIsNone(msg.sessionExpires())
        self.assertIsNone(msg.minSE())

    def test_badSessionExpiresIsLazy(self) -> None:
        """
        A bad Session-Expires or Min-SE does not fail the parse; its accessor raises.
        """
        headers = replaceHeader(b"session-expires", b"Session-Expires: 0")
        headers = replaceHeader(b"min-se", b"Min-SE: x", headers)
        msg = parseRequest(request(headers))
        self.assertRaises(SIPParseError, msg.sessionExpires)
        self.assertRaises(SIPParseError, msg.minSE)

    def test_optionTags(self) -> None:
        """
        Option tags are matched case-insensitively in a comma list.
        """
        msg = parseRequest(request(replaceHeader(b"supported", b"Supported: 100rel , Timer")))
        self.assertTrue(msg.hasOptionTag("Supported", "timer"))
        self.assertTrue(msg.hasOptionTag("k", "100REL"))
        self.assertFalse(msg.hasOptionTag("Require", "timer"))

    def test_leadingCRLF(self) -> None:
        """
        CRLFs before the start line (keep-alives) are skipped.
        """
        self.assertEqual(parseRequest(b"\r\n\r\n" + request()).method, "INVITE")

    def test_methodCaseSensitive(self) -> None:
        """
        The method is kept as sent; extension methods are accepted.
        """
        headers = replaceHeader(b"cseq", b"CSeq: 1 !interesting-Method0123456789_*+`.%indeed'~")
        msg = parseRequest(
            request(headers, startLine=b"!interesting-Method0123456789_*+`.%indeed'~ sip:a@b SIP/2.0")
        )
        self.assertEqual(msg.method, "!interesting-Method0123456789_*+`.%indeed'~")

    def test_versionCase(self) -> None:
        """
        The SIP version is matched case-insensitively.
        """
        self.assertEqual(parseRequest(request(startLine=b"INVITE sip:bob@b sip/2.0")).method, "INVITE")

    def test_bareLF(self) -> None:
        """
        A message whose lines end with bare LF parses like one with CRLF.
        """
        msg = parseRequest(request(eol=b"\n"))
        self.assertEqual(msg.callId, "a84b4c76e66710@pc33.atlanta.example.com")
        self.assertEqual(msg.body, BODY)

    def test_bareLFBodyWithCRLFCRLF(self) -> None:
        """
        In a bare-LF message, a CRLF CRLF inside the body does not end the headers.
        """
        body = b"a\r\n\r\nb"
        msg = parseRequest(request(body=body, eol=b"\n"))
        self.assertEqual(msg.body, body)
        self.assertEqual(msg.header("content-type"), "application/sdp")

    def test_bareCR(self) -> None:
        """
        A CR that does not end a line is an error, so that no next hop sees a header line
        we did not.
        """
        headers = replaceHeader(b"supported", b"Supported: timer\rRoute: <sip:evil>")
        self.assertRaises(SIPParseError, parse, request(headers))


class ParseResponseTests(SynchronousTestCase):
    """
    Parsing responses.
    """

    def test_statusLine(self) -> None:
        """
        The status code and reason phrase come from the status line.
        """
        msg = parseResponse(response())
        self.assertEqual((msg.code, msg.phrase), (200, "OK"))
        self.assertEqual(msg.startLine(), "SIP/2.0 200 OK")
        self.assertEqual(repr(msg), "<Response 200 OK>")
        self.assertEqual(msg.cseq().method, "INVITE")

    def test_phraseWithSpaces(self) -> None:
        """
        The reason phrase runs to the end of the line, spaces and non-ASCII octets included
        (RFC 4475 section 3.1.1.12).
        """
        phrase = "= 2**3 * 5**2 \u043d\u043e \u0441\u0442\u043e".encode("utf-8")
        msg = parseResponse(response(statusLine=b"SIP/2.0 200 " + phrase))
        self.assertEqual(msg.phrase.encode("latin-1"), phrase)
        self.assertIn(b"SIP/2.0 200 " + phrase + b"\r\n", msg.toBytes())

    def test_emptyPhrase(self) -> None:
        """
        An empty reason phrase is accepted (RFC 4475 section 3.1.1.13).
        """
        self.assertEqual(parseResponse(response(statusLine=b"SIP/2.0 183 ")).code, 183)
        self.assertEqual(parseResponse(response(statusLine=b"SIP/2.0 299")).phrase, "")

    def test_codeBounds(self) -> None:
        """
        Codes 100 and 699 are accepted.
        """
        self.assertEqual(parseResponse(response(statusLine=b"SIP/2.0 100 Trying")).code, 100)
        self.assertEqual(parseResponse(response(statusLine=b"SIP/2.0 699 x")).code, 699)

    def test_badCodes(self) -> None:
        """
        Codes out of range, with other than three ASCII digits, or missing are errors.
        """
        for line in [
            b"SIP/2.0 099 x",
            b"SIP/2.0 700 x",
            b"SIP/2.0 2000 OK",
            b"SIP/2.0 20 OK",
            b"SIP/2.0 2O0 OK",
            b"SIP/2.0 \xb200 OK",
            b"SIP/2.0 -20 OK",
            b"SIP/2.0",
            b"SIP/2.0  200 OK",
        ]:
            error = self.assertRaises(SIPParseError, parse, response(statusLine=line))
            self.assertEqual(error.status, 400, line)

    def test_unsupportedVersion(self) -> None:
        """
        A response in another SIP version is an error with status 505.
        """
        error = self.assertRaises(SIPParseError, parse, response(statusLine=b"SIP/3.0 200 OK"))
        self.assertEqual(error.status, 505)

    def test_defaultPhrase(self) -> None:
        """
        A L{Response} built without a phrase takes the usual one for its code.
        """
        self.assertEqual(Response(422).phrase, "Session Interval Too Small")
        self.assertEqual(Response(299).phrase, "")


class HeaderNameTests(SynchronousTestCase):
    """
    Header names: case, compact forms, display.
    """

    def test_caseInsensitive(self) -> None:
        """
        Header names match in any case, as sent and as asked for (RFC 4475 section 3.1.1.1).
        """
        headers = replaceHeader(b"max-forwards", b"MaX-fOrWaRdS: 0068")
        headers = replaceHeader(b"call-id", b"call-ID: abc@d", headers)
        msg = parseRequest(request(headers))
        self.assertEqual(msg.maxForwards(), 68)
        self.assertEqual(msg.header("CALL-ID"), "abc@d")
        self.assertEqual(msg.header("Call-Id"), "abc@d")
        self.assertTrue(msg.hasHeader("cAlL-iD"))

    def test_compactForms(self) -> None:
        """
        The compact forms i m e l c f s k t v x stand for their long names, both in a parsed
        message and when asked for.
        """
        expected = {
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
        }
        for short, long in expected.items():
            self.assertEqual(COMPACT_FORMS[short], long)
            self.assertEqual(canonicalName(short), long)
            self.assertEqual(canonicalName(short.upper()), long)

    def test_compactMessage(self) -> None:
        """
        A message written entirely in compact forms parses as the long one does.
        """
        data = request(
            [
                b"v: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK1",
                b"t: <sip:bob@b>",
                b"F: <sip:alice@a>;tag=9",
                b"i: abc@a",
                b"CSeq: 1 INVITE",
                b"m: <sip:alice@10.0.0.1>",
                b"k: timer",
                b"x: 1800 ; refresher = UAS",
                b"c: application/sdp",
                b"e: gzip",
                b"s: lunch",
            ],
            contentLength=b"",
        ).replace(b"\r\n\r\n", b"\r\nl: %d\r\n\r\n" % (len(BODY),))
        msg = parseRequest(data)
        self.assertEqual(msg.topVia().host, "pc33.atlanta.example.com")
        self.assertEqual(msg.fromTag, "9")
        self.assertEqual(msg.callId, "abc@a")
        self.assertEqual(msg.header("Content-Type"), "application/sdp")
        self.assertEqual(msg.header("Content-Encoding"), "gzip")
        self.assertEqual(msg.header("Subject"), "lunch")
        self.assertTrue(msg.hasOptionTag("Supported", "timer"))
        self.assertEqual(msg.sessionExpires(), SessionExpires(1800, "uas"))
        self.assertEqual(msg.body, BODY)

    def test_displayName(self) -> None:
        """
        Headers the stack writes get their conventional spelling.
        """
        self.assertEqual(displayName("call-id"), "Call-ID")
        self.assertEqual(displayName("cseq"), "CSeq")
        self.assertEqual(displayName("min-se"), "Min-SE")
        self.assertEqual(displayName("session-expires"), "Session-Expires")
        self.assertEqual(displayName("record-route"), "Record-Route")


class FoldingTests(SynchronousTestCase):
    """
    Header lines continued on the next line (RFC 3261 section 7.3.1).
    """

    def test_folded(self) -> None:
        """
        Continuation lines join the value with a single space.
        """
        headers = replaceHeader(b"cseq", b"CSeq: 0009\r\n  \t INVITE")
        headers = replaceHeader(b"subject", b"Subject: a", headers + [b"Subject: x"])
        headers = [h if not h.startswith(b"Subject") else b"Subject: first\r\n\tsecond\r\n third" for h in headers]
        msg = parseRequest(request(headers))
        self.assertEqual(msg.cseq(), CSeq(9, "INVITE"))
        self.assertEqual(msg.header("subject"), "first second third")

    def test_foldedViaList(self) -> None:
        """
        A folded, comma-combined Via with whitespace everywhere parses (RFC 4475 section
        3.1.1.1).
        """
        headers = replaceHeader(
            b"via",
            b"v:  SIP  / 2.0  / TCP     spindle.example.com   ;\r\n"
            b"  branch  =   z9hG4bK9ikj8  ,\r\n"
            b" SIP  /    2.0   / UDP  192.168.255.111   ; branch=\r\n"
            b" z9hG4bK30239",
        )
        vias = parseRequest(request(headers)).vias()
        self.assertEqual([(v.transport, v.host, v.branch) for v in vias], [
            ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
            ("UDP", "192.168.255.111", "z9hG4bK30239"),
        ])

    def test_foldedKeptInToBytes(self) -> None:
        """
        An untouched folded header is written back with its folding.
        """
        folded = b"Subject: first\r\n\tsecond"
        data = request(HEADERS + [folded])
        self.assertIn(b"\r\n" + folded + b"\r\n", parse(data).toBytes())

    def test_foldedFirstLine(self) -> None:
        """
        A continuation line with no header before it is an error.
        """
        data = request([b"  folded"] + HEADERS)
        error = self.assertRaises(SIPParseError, parse, data)
        self.assertIsInstance(error.message, Request)


class ViaListTests(SynchronousTestCase):
    """
    Via lines and comma-combined Via values.
    """

    def test_order(self) -> None:
        """
        L{Message.vias} lists every Via element top first, across lines and commas.
        """
        headers = [
            b"Via: SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/TCP b;branch=z9hG4bK2",
            b"Max-Forwards: 70",
            b"v: SIP/2.0/UDP c;branch=z9hG4bK3",
            b"Via: SIP/2.0/UDP [2001:db8::1]:5062;branch=z9hG4bK4",
        ] + HEADERS[2:]
        msg = parseRequest(request(headers))
        self.assertEqual([v.host for v in msg.vias()], ["a", "b", "c", "2001:db8::1"])
        self.assertEqual(msg.topVia().branch, "z9hG4bK1")
        self.assertEqual(len(msg.headerValues("via")), 4)

    def test_popFirstValueCombined(self) -> None:
        """
        Popping the top Via from a comma-combined line leaves the rest on that line.
        """
        headers = [b"Via: SIP/2.0/UDP a;branch=z9hG4bK1 , SIP/2.0/UDP b;branch=z9hG4bK2"] + HEADERS[1:]
        msg = parseRequest(request(headers))
        self.assertEqual(msg.popFirstValue("Via"), "SIP/2.0/UDP a;branch=z9hG4bK1")
        self.assertEqual([v.host for v in msg.vias()], ["b"])
        self.assertTrue(msg.toBytes().startswith(
            b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\nVia: SIP/2.0/UDP b;branch=z9hG4bK2\r\n"
        ))

    def test_popFirstValueLine(self) -> None:
        """
        Popping a Via that is alone on its line removes the line.
        """
        headers = HEADERS[:1] + [b"Via: SIP/2.0/UDP b;branch=z9hG4bK2"] + HEADERS[1:]
        msg = parseRequest(request(headers))
        self.assertEqual(msg.vias()[0].host, "pc33.atlanta.example.com")
        msg.popFirstValue("v")
        self.assertEqual([v.host for v in msg.vias()], ["b"])
        self.assertEqual(len([k for k, _ in msg.iterHeaders() if k == "via"]), 1)

    def test_popFirstValueAbsent(self) -> None:
        """
        Popping an absent header gives L{None}.
        """
        self.assertIsNone(parseRequest(request()).popFirstValue("Route"))

    def test_popFirstValueEmptyLine(self) -> None:
        """
        Popping from an empty header line removes the line and gives L{None}.
        """
        msg = Message([Header("route", "")])
        self.assertIsNone(msg.popFirstValue("route"))
        self.assertEqual(msg.headers, [])


class EditingTests(SynchronousTestCase):
    """
    Editing headers and writing the message back.
    """

    def test_roundTrip(self) -> None:
        """
        An untouched message is written back byte for byte.
        """
        data = request()
        self.assertEqual(parse(data).toBytes(), data)

    def test_extendTopVia(self) -> None:
        """
        L{Message.extendTopVia} appends to a top Via line that holds one element ending in
        an empty C{rport}, and leaves any other alone.
        """
        via = parseVia("SIP/2.0/UDP h:5060;rport=5;received=1.2.3.4")
        usual = parse(request(replaceHeader(b"via", b"Via: SIP/2.0/UDP h:5060;rport  ")))
        self.assertTrue(usual.extendTopVia(via, "=5;received=1.2.3.4"))
        self.assertEqual(usual.lineValues("via"), ["SIP/2.0/UDP h:5060;rport=5;received=1.2.3.4"])
        self.assertIs(usual.topVia(), via)
        for line in (b"Via: SIP/2.0/UDP h:5060;rport, SIP/2.0/UDP g;rport",
                     b"Via: SIP/2.0/UDP h:5060;rport=7"):
            other = parse(request(replaceHeader(b"via", line)))
            before = other.toBytes()
            self.assertFalse(other.extendTopVia(via, "=5;received=1.2.3.4"))
            self.assertEqual(other.toBytes(), before)

    def test_copyFirstLines(self) -> None:
        """
        L{Message.copyFirstLines} appends the first line of each key in the order given,
        written as in the source, and skips the keys the source lacks.
        """
        headers = replaceHeader(b"call-id", b"i  :   abc@d  ")
        source = parse(request(headers))
        copy = Response(200)
        copy.copyFirstLines(source, ("cseq", "subject", "call-id"))
        self.assertEqual(copy._keys, ["cseq", "call-id"])
        self.assertEqual(copy._lines[1], "i  :   abc@d  ")
        self.assertEqual(copy.callId, "abc@d")

    def test_roundTripOddSpelling(self) -> None:
        """
        Untouched headers keep their spelling, compact form and spacing.
        """
        headers = replaceHeader(b"call-id", b"i  :   abc@d  ")
        headers = replaceHeader(b"cseq", b"cseq:314159    INVITE", headers)
        data = request(headers)
        self.assertEqual(parse(data).toBytes(), data)

    def test_forwardEditsOnlyWhatChanged(self) -> None:
        """
        A proxy's edits (new top Via, Max-Forwards, Record-Route) leave every other line as it
        arrived, in its place.
        """
        headers = replaceHeader(b"to", b"tO  :Bob<sip:bob@biloxi.example.com>")
        data = request(headers)
        msg = parseRequest(data)
        msg.setHeader("Max-Forwards", "69")
        msg.addHeader("Via", "SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp", first=True)
        msg.insertBefore("Record-Route", "<sip:proxy.example.com;lr>")
        head, body = data.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        self.assertEqual(lines[2], b"Max-Forwards: 70")
        expected = (
            lines[:1]
            + [b"Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp", lines[1], b"Max-Forwards: 69"]
            + lines[3:]
            + [b"Record-Route: <sip:proxy.example.com;lr>"]
        )
        self.assertEqual(msg.toBytes(), b"\r\n".join(expected) + b"\r\n\r\n" + body)

    def test_setHeader(self) -> None:
        """
        L{Message.setHeader} replaces every line of that name with one, in place of the first.
        """
        headers = HEADERS[:2] + [b"Route: <sip:a;lr>", b"Route: <sip:b;lr>"] + HEADERS[2:]
        msg = parseRequest(request(headers))
        msg.setHeader("route", "<sip:c;lr>")
        self.assertEqual(msg.headerValues("Route"), ["<sip:c;lr>"])
        self.assertEqual([k for k, _ in msg.iterHeaders()][2], "route")
        msg.setHeader("Require", "timer")
        self.assertEqual(msg.headers[-1].key, "require")
        self.assertIn(b"\r\nRequire: timer\r\n", msg.toBytes())

    def test_setHeaderInvalidatesCache(self) -> None:
        """
        After an edit the typed accessors decode the new value.
        """
        msg = parseRequest(request())
        self.assertEqual(msg.cseq().number, 314159)
        self.assertEqual(msg.sessionExpires(), SessionExpires(1800, "uac"))
        msg.setHeader("CSeq", "2 INVITE")
        msg.setHeader("x", "90")
        self.assertEqual(msg.cseq().number, 2)
        self.assertEqual(msg.sessionExpires(), SessionExpires(90))

    def test_removeHeader(self) -> None:
        """
        L{Message.removeHeader} removes every line of that name and says how many.
        """
        headers = HEADERS + [b"Route: <sip:a;lr>", b"route: <sip:b;lr>"]
        msg = parseRequest(request(headers))
        self.assertEqual(msg.removeHeader("Route"), 2)
        self.assertFalse(msg.hasHeader("route"))
        self.assertEqual(msg.removeHeader("Route"), 0)
        self.assertEqual(msg.removeHeader("x"), 1)
        self.assertIsNone(msg.sessionExpires())

    def test_insertBefore(self) -> None:
        """
        L{Message.insertBefore} puts the line before the first of its name, or at the end.
        """
        headers = HEADERS + [b"Record-Route: <sip:a;lr>"]
        msg = parseRequest(request(headers))
        msg.insertBefore("Record-Route", "<sip:b;lr>")
        self.assertEqual(msg.headerValues("record-route"), ["<sip:b;lr>", "<sip:a;lr>"])
        msg.insertBefore("Route", "<sip:c;lr>")
        self.assertEqual(msg.headers[-1].key, "route")

    def test_addHeader(self) -> None:
        """
        L{Message.addHeader} appends, or with C{first=True} puts the line before all others.
        """
        msg = parseRequest(request())
        msg.addHeader("Via", "SIP/2.0/TCP p;branch=z9hG4bKp", first=True)
        msg.addHeader("Require", "timer")
        self.assertEqual(msg.headers[0].key, "via")
        self.assertEqual(msg.topVia().host, "p")
        self.assertEqual(msg.headers[-1].text(), "Require: timer")

    def test_contentLengthRewritten(self) -> None:
        """
        Content-Length is written as the real length of the body, and added when absent.
        """
        msg = parseRequest(request())
        msg.body = b"x=1\r\n"
        self.assertTrue(msg.toBytes().endswith(b"\r\nContent-Length: 5\r\n\r\nx=1\r\n"))
        msg = parseRequest(request(contentLength=b""))
        self.assertTrue(msg.toBytes().endswith(b"\r\nContent-Length: %d\r\n\r\n" % (len(BODY),) + BODY))

    def test_builtMessage(self) -> None:
        """
        A message built in code serialises with the conventional header spellings.
        """
        msg = Response(200, headers=[Header("call-id", "a@b"), Header("cseq", "1 BYE")])
        self.assertEqual(msg.toBytes(), b"SIP/2.0 200 OK\r\nCall-ID: a@b\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n")

    def test_requestURIFollowsAssignment(self) -> None:
        """
        L{Request.requestURI} follows an assignment to C{uri}.
        """
        msg = parseRequest(request())
        self.assertEqual(msg.requestURI().user, "bob")
        msg.uri = "sip:carol@chicago.example.com"
        self.assertEqual(msg.requestURI().user, "carol")
        self.assertIn(b"INVITE sip:carol@chicago.example.com SIP/2.0\r\n", msg.toBytes())


class ContentLengthTests(SynchronousTestCase):
    """
    Framing the body by Content-Length (RFC 3261 sections 18.3 and 20.14).
    """

    def test_extraBytesIgnored(self) -> None:
        """
        Bytes after the announced body are ignored (RFC 4475 section 3.1.1.8).
        """
        msg = parseRequest(request() + b"garbage\r\n\r\nINVITE sip:x SIP/2.0")
        self.assertEqual(msg.body, BODY)

    def test_zeroLength(self) -> None:
        """
        Content-Length 0 gives an empty body, whatever follows.
        """
        self.assertEqual(parse(request(body=b"") + b"trailing").body, b"")

    def test_noContentLength(self) -> None:
        """
        Without Content-Length the rest of the datagram is the body.
        """
        self.assertEqual(parse(request(contentLength=b"")).body, BODY)

    def test_compactContentLength(self) -> None:
        """
        The compact C{l} form frames the body too.
        """
        data = request(contentLength=b"").replace(b"\r\n\r\n", b"\r\nl: 4\r\n\r\n", 1)
        self.assertEqual(parse(data).body, BODY[:4])

    def test_bodyShorter(self) -> None:
        """
        A body shorter than Content-Length is an error (RFC 4475 section 3.1.2.2), and the
        error carries the request so that a 400 can be sent.
        """
        error = self.assertRaises(SIPParseError, parse, request(contentLength=b"%d" % (len(BODY) + 1,)))
        self.assertEqual(error.status, 400)
        self.assertIsInstance(error.message, Request)

    def test_badValues(self) -> None:
        """
        A negative, non-numeric, overflowing or empty Content-Length is an error (RFC 4475
        section 3.1.2.3).
        """
        for value in [b"-999", b"abc", b"1.5", b"99999999999999999999", b"1 2", b"\xb2", b" "]:
            data = request(headers=HEADERS + [b"Content-Length: " + value], contentLength=b"")
            self.assertRaises(SIPParseError, parse, data)


class SizeTests(SynchronousTestCase):
    """
    The size cap.
    """

    def test_tooLarge(self) -> None:
        """
        A message larger than C{maxSize} is an error with status 513; when its header block
        fits in C{maxSize}, the error carries the request, so that the 513 can be sent.
        """
        data = request()
        error = self.assertRaises(SIPParseError, parse, data, len(data) - 1)
        self.assertEqual(error.status, 513)
        self.assertIsInstance(error.message, Request)
        self.assertEqual(error.message.callId, "a84b4c76e66710@pc33.atlanta.example.com")
        headerBlock = data.index(b"\r\n\r\n")
        error = self.assertRaises(SIPParseError, parse, data, headerBlock)
        self.assertEqual(error.status, 513)
        self.assertIsNone(error.message)

    def test_atLimit(self) -> None:
        """
        A message of exactly C{maxSize} bytes is accepted.
        """
        data = request()
        self.assertEqual(parseRequest(data).body, parse(data, len(data)).body)

    def test_default(self) -> None:
        """
        The default cap is 64 KiB.
        """
        self.assertEqual(DEFAULT_MAX_SIZE, 65536)
        data = request(body=b"x" * DEFAULT_MAX_SIZE)
        self.assertEqual(self.assertRaises(SIPParseError, parse, data).status, 513)

    def test_longBlankRun(self) -> None:
        """
        A header value with a long run of inner blanks parses in linear time (the header-line
        pattern must not backtrack quadratically).
        """
        headers = HEADERS + [b"Subject: a" + b" \t" * 30000 + b"b"]
        msg = parseRequest(request(headers, body=b""))
        self.assertEqual(len(msg.header("subject") or ""), 60002)


class StartLineErrorTests(SynchronousTestCase):
    """
    Malformed start lines.
    """

    def test_badRequestLines(self) -> None:
        """
        Extra or trailing spaces, tabs, C{<>} around the Request-URI, a missing version or
        URI, or a method that is not a token are errors (RFC 4475 sections 3.1.2.7 to
        3.1.2.10). When the line still starts with a method and ends with a SIP version, the
        error carries the request, so that it can be answered with a 400; otherwise no
        partial message can be built.
        """
        for line in [
            b"INVITE  sip:bob@b SIP/2.0",
            b"INVITE sip:bob@b  SIP/2.0",
            b"INVITE sip:bob@b SIP/2.0 ",
            b" INVITE sip:bob@b SIP/2.0",
            b"INVITE\tsip:bob@b\tSIP/2.0",
            b"INVITE <sip:bob@b> SIP/2.0",
            b"INVITE sip:bob@b; lr SIP/2.0",
            b"INVITE bob SIP/2.0",
        ]:
            error = self.assertRaises(SIPParseError, parse, request(startLine=line))
            self.assertEqual(error.status, 400, line)
            self.assertIsInstance(error.message, Request, line)
            self.assertEqual(error.message.method, "INVITE")
        for line in [
            b"INVITE sip:bob@b",
            b"INVITE SIP/2.0",
            b"INV(ITE sip:bob@b SIP/2.0",
            b"INVITE sip:bob@b HTTP/1.1",
        ]:
            error = self.assertRaises(SIPParseError, parse, request(startLine=line))
            self.assertEqual(error.status, 400, line)
            self.assertIsNone(error.message, line)

    def test_badRequestURI(self) -> None:
        """
        A Request-URI that does not parse is an error found by the parser, with the request
        attached.
        """
        for uri in [b"sip:bob@b:99999", b"sip:bob@", b"sip:[::1"]:
            error = self.assertRaises(SIPParseError, parse, request(startLine=b"INVITE " + uri + b" SIP/2.0"))
            self.assertIsInstance(error.message, Request)

    def test_unusualRequestURI(self) -> None:
        """
        A Request-URI whose user part holds C{?}, C{;} and C{/} parses (RFC 4475 section
        3.1.1.2).
        """
        uri = (b"sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too."
               b"(doesn't-it)@example.com")
        msg = parseRequest(request(startLine=b"INVITE " + uri + b" SIP/2.0"))
        self.assertEqual(msg.requestURI().host, "example.com")

    def test_unsupportedVersion(self) -> None:
        """
        A request in another SIP version is an error with status 505 that carries the request,
        headers indexed, so that the 505 can be sent (RFC 4475 section 3.3.15).
        """
        error = self.assertRaises(SIPParseError, parse, request(startLine=b"INVITE sip:bob@b SIP/7.0"))
        self.assertEqual(error.status, 505)
        partial = error.message
        assert isinstance(partial, Request)
        self.assertEqual(partial.callId, "a84b4c76e66710@pc33.atlanta.example.com")
        self.assertEqual(partial.topVia().branch, "z9hG4bK776asdhds")

    def test_empty(self) -> None:
        """
        Empty data, or nothing but CRLFs, is an error.
        """
        self.assertRaises(SIPParseError, parse, b"")
        self.assertRaises(SIPParseError, parse, b"\r\n\r\n")

    def test_garbage(self) -> None:
        """
        Bytes that are no SIP message are an error without a partial message.
        """
        for data in [b"hello", b"\x00\x01\x02\xff\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"]:
            self.assertIsNone(self.assertRaises(SIPParseError, parse, data).message)


class HeaderErrorTests(SynchronousTestCase):
    """
    Malformed or missing headers.
    """

    def test_badHeaderLine(self) -> None:
        """
        A line that is not C{name: value} is an error that carries the request with its other
        headers indexed.
        """
        for line in [b"Sup ported: timer", b"no colon here", b": empty name", b"Na@me: x"]:
            error = self.assertRaises(SIPParseError, parse, request(HEADERS + [line]))
            partial = error.message
            assert isinstance(partial, Request)
            self.assertEqual(partial.cseq().number, 314159)
            self.assertEqual(partial.header("content-length"), str(len(BODY)))

    def test_duplicates(self) -> None:
        """
        A second line of a single-valued header is an error, also when one line uses the
        compact form; the error carries the request.
        """
        for name, line in [
            (b"from", b"f: <sip:eve@e>;tag=2"),
            (b"to", b"To: <sip:eve@e>"),
            (b"call-id", b"i: other@x"),
            (b"cseq", b"CSeq: 314159 INVITE"),
            (b"content-length", b"l: %d" % (len(BODY),)),
            (b"max-forwards", b"Max-Forwards: 70"),
            (b"session-expires", b"x: 1800"),
            (b"min-se", b"Min-SE: 90"),
        ]:
            error = self.assertRaises(SIPParseError, parse, request(HEADERS + [line]))
            self.assertIn("duplicate", error.reason, name)
            self.assertIsInstance(error.message, Request)

    def test_missingRequired(self) -> None:
        """
        A message without Via, From, To, Call-ID or CSeq is an error that names the header.
        """
        for name, shown in [
            (b"via", "Via"),
            (b"from", "From"),
            (b"to", "To"),
            (b"call-id", "Call-ID"),
            (b"cseq", "CSeq"),
        ]:
            for data in [request(replaceHeader(name, None)), response(replaceHeader(name, None))]:
                error = self.assertRaises(SIPParseError, parse, data)
                self.assertEqual(error.reason, "missing " + shown)

    def test_cseqMethodMismatch(self) -> None:
        """
        A request whose CSeq method differs from its method (case included) is an error.
        """
        for line in [b"CSeq: 314159 BYE", b"CSeq: 314159 invite"]:
            error = self.assertRaises(SIPParseError, parse, request(replaceHeader(b"cseq", line)))
            self.assertIsInstance(error.message, Request)

    def test_responseCSeqMethodFree(self) -> None:
        """
        A response's CSeq may name any method.
        """
        self.assertEqual(parseResponse(response(replaceHeader(b"cseq", b"CSeq: 7 BYE"))).cseq().method, "BYE")

    def test_maxForwards(self) -> None:
        """
        Max-Forwards above 255, negative or non-numeric is an error; 0 and 255 are accepted.
        """
        for value, ok in [(b"0", True), (b"255", True), (b"256", False), (b"-1", False), (b"x", False)]:
            data = request(replaceHeader(b"max-forwards", b"Max-Forwards: " + value))
            if ok:
                self.assertEqual(parseRequest(data).maxForwards(), int(value))
            else:
                self.assertIsInstance(self.assertRaises(SIPParseError, parse, data).message, Request)

    def test_badCoreHeaders(self) -> None:
        """
        A bad top Via or CSeq (the headers the transaction layer reads on every message)
        fails the parse (RFC 4475 sections 3.1.2.4 to 3.1.2.6).
        """
        for name, line in [
            (b"via", b"Via: SIP/2.0/UDP host:99999;branch=z9hG4bK1"),
            (b"via", b"Via: HTTP/1.1/UDP host;branch=z9hG4bK1"),
            (b"cseq", b"CSeq: 36893488147419103232 INVITE"),
            (b"cseq", b"CSeq: INVITE"),
        ]:
            error = self.assertRaises(SIPParseError, parse, request(replaceHeader(name, line)))
            self.assertIsInstance(error.message, Request)

    def test_badFromToLazy(self) -> None:
        """
        A bad From or To is found when the header is decoded (the proxy decodes both on
        dialog-creating requests and answers 400), not by L{parse}.
        """
        bad = parseRequest(request(replaceHeader(b"from", b'From: "Bob <sip:bob@b>;tag=1')))
        self.assertRaises(SIPParseError, bad.fromAddr)
        bad = parseRequest(request(replaceHeader(b"to", b"To: sip:bob@b?x=y")))
        self.assertRaises(SIPParseError, bad.toAddr)


class TortureTests(SynchronousTestCase):
    """
    Messages after the RFC 4475 torture tests.
    """

    def test_wsinv(self) -> None:
        """
        Whitespace, case, folding, escapes and compact forms everywhere (RFC 4475 section
        3.1.1.1) parse, and the message is written back unchanged.
        """
        body = BODY
        data = (
            b"INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0\r\n"
            b"TO :\r\n"
            b" sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n\r\n"
            b'from   : "J Rosenberg \\\\\\""       <sip:jdrosen@example.com>\r\n'
            b"  ;\r\n"
            b"  tag = 98asjd8\r\n"
            b"MaX-fOrWaRdS: 0068\r\n"
            b"Call-ID: wsinv.ndaksdj@192.0.2.1\r\n"
            b"Content-Length   : %d\r\n"
            b"cseq: 0009\r\n"
            b"  INVITE\r\n"
            b"Via  : SIP  /   2.0\r\n"
            b" /UDP\r\n"
            b"    192.0.2.2;rport;branch=390skdjuw\r\n"
            b"s :\r\n"
            b"NewFangledHeader:   newfangled value\r\n"
            b" continued newfangled value\r\n"
            b"UnknownHeaderWithUnusualValue: ;;,,;;,;\r\n"
            b"Content-Type: application/sdp\r\n"
            b"Route:\r\n"
            b" <sip:services.example.com;lr;unknownwith=value;unknown-no-value>\r\n"
            b"v:  SIP  / 2.0  / TCP     spindle.example.com   ;\r\n"
            b"  branch  =   z9hG4bK9ikj8  ,\r\n"
            b" SIP  /    2.0   / UDP  192.168.255.111   ; branch=\r\n"
            b" z9hG4bK30239\r\n"
            b'm:"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam =\r\n'
            b"      newvalue ;\r\n"
            b"  secondparam ; q = 0.33\r\n"
            b"\r\n"
        ) % (len(body),) + body
        msg = parseRequest(data)
        self.assertEqual(msg.toTag, "1918181833n")
        self.assertEqual(msg.fromTag, "98asjd8")
        self.assertEqual(msg.fromAddr().display, r'"J Rosenberg \\\""')
        self.assertEqual(msg.maxForwards(), 68)
        self.assertEqual(msg.cseq(), CSeq(9, "INVITE"))
        self.assertEqual([v.host for v in msg.vias()], ["192.0.2.2", "spindle.example.com", "192.168.255.111"])
        self.assertEqual(msg.header("subject"), "")
        self.assertEqual(msg.header("newfangledheader"), "newfangled value continued newfangled value")
        self.assertEqual(msg.nameAddrs("contact")[0].params, {"newparam": "newvalue", "secondparam": None, "q": "0.33"})
        self.assertEqual(msg.body, body)
        self.assertEqual(msg.toBytes(), data)

    def test_escapedDisplayWithNulls(self) -> None:
        """
        Escaped control octets and NUL in a quoted display name are accepted (RFC 4475
        section 3.1.1.4).
        """
        headers = replaceHeader(b"to", b'To: "BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f" <sip:bob@b>')
        self.assertEqual(parseRequest(request(headers)).toAddr().uri.user, "bob")

    def test_noSpaceBeforeAngle(self) -> None:
        """
        A token display name directly followed by C{<} is accepted (RFC 4475 section
        3.1.1.6).
        """
        headers = replaceHeader(b"from", b"From: caller<sip:caller@example.com>;tag=323")
        self.assertEqual(parseRequest(request(headers)).fromAddr().display, "caller")

    def test_unterminatedDisplay(self) -> None:
        """
        An unterminated quoted display name is an error (RFC 4475 section 3.1.2.6).
        """
        headers = replaceHeader(b"from", b'From: "Bob <sip:bob@example.com>;tag=1')
        self.assertRaises(SIPParseError, parseRequest(request(headers)).fromAddr)

    def test_scalarOverflow(self) -> None:
        """
        Overlarge scalar values are errors (RFC 4475 sections 3.1.2.4 and 3.1.2.5).
        """
        for name, line in [
            (b"cseq", b"CSeq: 36893488147419103232 INVITE"),
            (b"max-forwards", b"Max-Forwards: 300"),
            (b"content-length", b"Content-Length: 18446744073709551616"),
        ]:
            self.assertRaises(SIPParseError, parse, request(replaceHeader(name, line, HEADERS + [b"Content-Length: 1"])))
        self.assertRaises(SIPParseError, parse, response(replaceHeader(b"cseq", b"CSeq: 36893488147419103232 INVITE")))


# -- robustness ------------------------------------------------------------------------------

_VALID = request()

_INSERTS = [b"\x00", b"\xb2", b"\xff", b" ", b"\t", b"\r", b"\n", b"\r\n", b"\r\n ", b";", b",", b"=", b'"',
            b"<", b">", b":", b"[", b"]", b"@", b"\\", b"/", b"?", b"9" * 12, b"-", b"0"]

@dataclass(frozen=True)
class Mutation:
    """
    One change to a message's bytes.

    @ivar kind: C{"replace"} (C{data} over the byte at C{at}), C{"truncate"} (at C{at}),
        C{"insert"} (C{data} at C{at}), C{"delete"} (C{count} bytes at C{at}) or
        C{"duplicate"} (line number C{at}).
    """

    kind: str
    at: int
    data: bytes = b""
    count: int = 0

    def apply(self, message: bytes) -> bytes:
        """
        @return: C{message} with this change made.
        """
        at = min(self.at, len(message))
        if self.kind == "replace":
            return message[:at] + self.data + message[at + 1 :]
        if self.kind == "truncate":
            return message[:at]
        if self.kind == "insert":
            return message[:at] + self.data + message[at:]
        if self.kind == "delete":
            return message[:at] + message[at + self.count :]
        lines = message.split(b"\r\n")
        i = self.at % len(lines)
        lines.insert(i, lines[i])
        return b"\r\n".join(lines)


_positions = st.integers(0, len(_VALID))
_mutation = st.one_of(
    st.builds(Mutation, st.just("replace"), _positions, st.binary(min_size=1, max_size=1)),
    st.builds(Mutation, st.just("truncate"), _positions),
    st.builds(Mutation, st.just("insert"), _positions, st.sampled_from(_INSERTS)),
    st.builds(Mutation, st.just("insert"), _positions, st.binary(min_size=1, max_size=8)),
    st.builds(Mutation, st.just("delete"), _positions, count=st.integers(1, 20)),
    st.builds(Mutation, st.just("duplicate"), st.integers(0, 30)),
)


class RobustnessTests(SynchronousTestCase):
    """
    Whatever the bytes, L{parse} returns a message or raises L{SIPParseError}.
    """

    @given(st.lists(_mutation, min_size=1, max_size=4))
    def test_mutations(self, mutations: list[Mutation]) -> None:
        """
        Byte flips, truncations, insertions, deletions and duplicated lines of a valid INVITE
        either parse (and then serialise, with every eagerly checked accessor working) or
        raise L{SIPParseError}; any other exception is a bug.
        """
        data = _VALID
        for mutation in mutations:
            data = mutation.apply(data)
        try:
            msg = parse(data)
        except SIPParseError as e:
            self.assertIsInstance(e.reason, str)
            self.assertIn(e.status, (400, 505, 513))
            return
        self.assertIsInstance(msg, (Request, Response))
        msg.topVia()
        msg.cseq()
        msg.maxForwards()
        for lazy in (msg.fromAddr, msg.toAddr, msg.vias):
            try:
                lazy()
            except SIPParseError:
                pass
        msg.fromTag, msg.toTag
        if isinstance(msg, Request):
            msg.requestURI()
        self.assertIsInstance(msg.toBytes(), bytes)

    @given(st.binary(max_size=300))
    def test_randomBytes(self, data: bytes) -> None:
        """
        Random bytes, alone or after a valid start line, parse or raise L{SIPParseError}.
        """
        for candidate in [data, b"INVITE sip:a@b SIP/2.0\r\n" + data, b"SIP/2.0 200 OK\r\n" + data]:
            try:
                parse(candidate)
            except SIPParseError:
                pass


class MemoTests(SynchronousTestCase):
    """
    The memos that decode a recurring header text once (L{sst.message._CSEQS},
    L{sst.message._DELTAS}, L{sst.message._TAGS}) give each message what its own text says.
    """

    def test_sameTextSameValue(self) -> None:
        """
        Two messages with the same CSeq, Max-Forwards, Content-Length, From and To texts
        decode them to equal values.
        """
        first, second = parseRequest(request()), parseRequest(request())
        for msg in (first, second):
            self.assertEqual(msg.cseq(), CSeq(314159, "INVITE"))
            self.assertEqual(msg.maxForwards(), 70)
            self.assertEqual(msg.body, BODY)
            self.assertEqual(msg.fromTag, "1928301774")
            self.assertIsNone(msg.toTag)

    def test_otherTextOtherValue(self) -> None:
        """
        A message whose texts differ from those decoded before gets its own values, not the
        remembered ones: the memos are keyed by the whole text.
        """
        parseRequest(request())
        headers = replaceHeader(b"cseq", b"CSeq: 314160 INVITE")
        headers = replaceHeader(b"max-forwards", b"Max-Forwards: 69", headers)
        headers = replaceHeader(b"to", b"To: Bob <sip:bob@biloxi.example.com>;tag=b1", headers)
        headers = replaceHeader(
            b"from", b'From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301775', headers)
        msg = parseRequest(request(headers, body=BODY[:10]))
        self.assertEqual(msg.cseq(), CSeq(314160, "INVITE"))
        self.assertEqual(msg.maxForwards(), 69)
        self.assertEqual(msg.body, BODY[:10])
        self.assertEqual(msg.fromTag, "1928301775")
        self.assertEqual(msg.toTag, "b1")
        again = parseRequest(request())
        self.assertEqual(again.cseq(), CSeq(314159, "INVITE"))
        self.assertEqual(again.maxForwards(), 70)
        self.assertEqual(again.fromTag, "1928301774")
        self.assertIsNone(again.toTag)

    def test_editedHeaderNotRemembered(self) -> None:
        """
        A header edited after parsing is decoded from its new text.
        """
        msg = parseRequest(request())
        self.assertEqual(msg.toTag, None)
        msg.setHeader("To", "Bob <sip:bob@biloxi.example.com>;tag=x9")
        msg.setHeader("CSeq", "7 INVITE")
        msg.setHeader("Max-Forwards", "3")
        self.assertEqual(msg.toTag, "x9")
        self.assertEqual(msg.cseq(), CSeq(7, "INVITE"))
        self.assertEqual(msg.maxForwards(), 3)

    def test_fullMemoEmptied(self) -> None:
        """
        A memo that reaches its size is emptied, and decoding goes on correctly.
        """
        for n in range(message._MEMO_SIZE + 10):
            headers = replaceHeader(b"cseq", b"CSeq: %d INVITE" % (n + 1,))
            msg = parseRequest(request(headers))
            self.assertEqual(msg.cseq().number, n + 1)
            self.assertLessEqual(len(message._CSEQS), message._MEMO_SIZE)

    def test_badTextNotRemembered(self) -> None:
        """
        A text that does not decode raises every time.
        """
        headers = replaceHeader(b"max-forwards", b"Max-Forwards: 7x")
        for _ in range(2):
            self.assertRaises(SIPParseError, parse, request(headers))

    def test_shapeKnownThenRepeated(self) -> None:
        """
        A header block whose keys differ from one checked before, by one repeated
        single-valued header or one missing required header, is refused.
        """
        parseRequest(request())
        self.assertIn(tuple(parseRequest(request())._keys), message._SHAPES)
        repeated = HEADERS + [b"CSeq: 314159 INVITE"]
        self.assertRaises(SIPParseError, parse, request(repeated))
        missing = replaceHeader(b"call-id", None)
        self.assertRaises(SIPParseError, parse, request(missing))
        parseRequest(request())
        self.assertRaises(SIPParseError, parse, request(repeated))
