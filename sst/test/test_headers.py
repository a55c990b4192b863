# -*- test-case-name: sst.test.test_headers -*-
"""
Tests for L{sst.headers}.
"""
from __future__ import annotations

from typing import Optional

from hypothesis import assume, given, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from sst.headers import (
    MAX_DELTA_SECONDS,
    CSeq,
    SessionExpires,
    SIPParseError,
    URI,
    NameAddr,
    checkDisplayName,
    formatParams,
    parseCSeq,
    parseDeltaSeconds,
    parseMinSE,
    parseNameAddr,
    parseParams,
    parseSessionExpires,
    parseURI,
    parseVia,
    readSentBy,
    splitCommas,
    _parseNameAddr,
    _parseParams,
    _parseURI,
    _parseVia,
)
from sst.test import _hypothesis  # noqa: F401  (loads the Hypothesis profile)


class SIPParseErrorTests(SynchronousTestCase):
    """
    Tests for L{SIPParseError}.
    """

    def test_defaults(self) -> None:
        """
        A parse error carries its reason, status 400 and no partial message by default.
        """
        error = SIPParseError("bad thing")
        self.assertEqual((error.reason, error.status, error.message), ("bad thing", 400, None))
        self.assertEqual(str(error), "bad thing")

    def test_isValueError(self) -> None:
        """
        A parse error is a L{ValueError}, so generic callers can catch it as such.
        """
        self.assertIsInstance(SIPParseError("x", 505), ValueError)

    def test_response(self) -> None:
        """
        L{SIPParseError.response} builds the answer to the partly parsed request: a 400
        carries the reason as its phrase (cut to 100 characters), any other status its usual
        phrase; the request's Via, From, To, Call-ID and CSeq lines are copied as they are.
        """
        from sst.message import Request

        request = Request("OPTIONS", "sip:bob@example.com")
        for key, line in [("via", "Via: SIP/7.0/UDP c.example.com;branch=z9hG4bK1"),
                          ("from", "From: A. Bell <sip:a.g.bell@example.com>;tag=1"),
                          ("to", "To: <sip:bob@example.com>"), ("call-id", "Call-ID: c1"),
                          ("cseq", "CSeq: 1 OPTIONS")]:
            request._keys.append(key)
            request._lines.append(line)
        bad = SIPParseError("bad display name " + "x" * 200).response(request)
        self.assertEqual((bad.code, bad.phrase), (400, ("bad display name " + "x" * 200)[:100]))
        self.assertEqual(bad.headerValues("via"), ["SIP/7.0/UDP c.example.com;branch=z9hG4bK1"])
        self.assertEqual((bad.callId, bad.header("cseq")), ("c1", "1 OPTIONS"))
        version = SIPParseError("unsupported version", status=505).response(request)
        self.assertEqual((version.code, version.phrase), (505, "Version Not Supported"))

    def test_phrase(self) -> None:
        """
        L{SIPParseError.phrase}, which every core answers with, is the reason for a 400 (cut
        to 100 characters) and the usual phrase for any other status.
        """
        self.assertEqual(SIPParseError("x" * 150).phrase, "x" * 100)
        self.assertEqual(SIPParseError("too big", status=513).phrase, "Message Too Large")


class SplitCommasTests(SynchronousTestCase):
    """
    Tests for L{splitCommas}.
    """

    def test_plain(self) -> None:
        """
        A plain list splits on commas; whitespace around elements and empty elements go.
        """
        self.assertEqual(splitCommas(" timer ,100rel,, path "), ["timer", "100rel", "path"])

    def test_single(self) -> None:
        """
        A value without commas is one element.
        """
        self.assertEqual(splitCommas("SIP/2.0/UDP h;branch=z9hG4bK1"), ["SIP/2.0/UDP h;branch=z9hG4bK1"])

    def test_empty(self) -> None:
        """
        An empty or blank value has no elements.
        """
        self.assertEqual(splitCommas(""), [])
        self.assertEqual(splitCommas("  ,  "), [])

    def test_quotedComma(self) -> None:
        """
        A comma inside a quoted string does not split.
        """
        self.assertEqual(
            splitCommas('"Bell, Alexander" <sip:a@b>, <sip:c@d>'),
            ['"Bell, Alexander" <sip:a@b>', "<sip:c@d>"],
        )

    def test_escapedQuote(self) -> None:
        """
        An escaped quote does not end a quoted string.
        """
        self.assertEqual(
            splitCommas(r'"a \", b" <sip:a@b>, <sip:c@d>'),
            [r'"a \", b" <sip:a@b>', "<sip:c@d>"],
        )

    def test_angleComma(self) -> None:
        """
        A comma inside C{<...>} does not split.
        """
        self.assertEqual(
            splitCommas("<sip:a@b;x=1,2>, <sip:c@d>"), ["<sip:a@b;x=1,2>", "<sip:c@d>"]
        )

    def test_unterminatedQuote(self) -> None:
        """
        An unterminated quoted string is an error.
        """
        self.assertRaises(SIPParseError, splitCommas, '"abc, <sip:a@b>')


class ParseParamsTests(SynchronousTestCase):
    """
    Tests for L{parseParams} and L{formatParams}.
    """

    def test_empty(self) -> None:
        """
        Empty or blank text has no parameters.
        """
        self.assertEqual(parseParams(""), {})
        self.assertEqual(parseParams(" \t "), {})

    def test_emptyParameter(self) -> None:
        """
        A semicolon must be followed by a parameter: C{;;}, a trailing C{;} and a lone C{;}
        are errors.
        """
        for text in [";", " ; ", ";;lr", ";lr;", ";lr; ", ";lr;;tag=1"]:
            self.assertRaises(SIPParseError, parseParams, text)

    def test_valuesAndFlags(self) -> None:
        """
        C{name=value} gives the value and a bare name gives L{None}.
        """
        self.assertEqual(
            parseParams(";branch=z9hG4bK1;rport;lr"),
            {"branch": "z9hG4bK1", "rport": None, "lr": None},
        )

    def test_leadingSemicolonOptional(self) -> None:
        """
        The leading semicolon may be left out.
        """
        self.assertEqual(parseParams("tag=1;lr"), {"tag": "1", "lr": None})

    def test_whitespace(self) -> None:
        """
        Whitespace around C{;} and C{=} is allowed (RFC 3261 SEMI and EQUAL).
        """
        self.assertEqual(
            parseParams(" ;  tag \t=  abc  ;\tlr ; q = 0.5"),
            {"tag": "abc", "lr": None, "q": "0.5"},
        )

    def test_nameCase(self) -> None:
        """
        Names are lower-cased; values keep their case.
        """
        self.assertEqual(parseParams(";TaG=AbC;LR"), {"tag": "AbC", "lr": None})

    def test_quotedValue(self) -> None:
        """
        A quoted value may hold semicolons and equals signs; it keeps its quotes.
        """
        self.assertEqual(
            parseParams(';x="a;b=c";y=1'), {"x": '"a;b=c"', "y": "1"}
        )

    def test_unterminatedQuote(self) -> None:
        """
        An unterminated quoted value is an error.
        """
        self.assertRaises(SIPParseError, parseParams, ';x="abc;y=1')

    def test_badName(self) -> None:
        """
        An empty parameter name, or one that is not a token, is an error.
        """
        self.assertRaises(SIPParseError, parseParams, ";=1")
        self.assertRaises(SIPParseError, parseParams, ";a b=1")
        self.assertRaises(SIPParseError, parseParams, ";a@b")

    def test_emptyValue(self) -> None:
        """
        C{name=} with nothing after the equals sign is an error.
        """
        self.assertRaises(SIPParseError, parseParams, ";tag=")
        self.assertRaises(SIPParseError, parseParams, ";tag= ;lr")

    def test_format(self) -> None:
        """
        L{formatParams} writes values and flags in order, and its output parses back.
        """
        params: dict[str, Optional[str]] = {"branch": "z9hG4bK1", "rport": None, "received": "1.2.3.4"}
        text = formatParams(params)
        self.assertEqual(text, ";branch=z9hG4bK1;rport;received=1.2.3.4")
        self.assertEqual(parseParams(text), params)
        self.assertEqual(formatParams({}), "")


class ParseURITests(SynchronousTestCase):
    """
    Tests for L{parseURI}.
    """

    def test_sip(self) -> None:
        """
        A C{sip} URI is split into user, host, port and parameters; the host is lower-cased.
        """
        uri = parseURI("sip:alice@Atlanta.Example.COM:5070;transport=TCP;lr")
        self.assertEqual(uri.scheme, "sip")
        self.assertEqual(uri.user, "alice")
        self.assertIsNone(uri.password)
        self.assertEqual(uri.host, "atlanta.example.com")
        self.assertEqual(uri.port, 5070)
        self.assertEqual(uri.params, {"transport": "TCP", "lr": None})
        self.assertTrue(uri.isSIP)

    def test_noUser(self) -> None:
        """
        A URI without userinfo has no user and, without a port, no port.
        """
        uri = parseURI("sip:proxy.example.com")
        self.assertEqual((uri.user, uri.host, uri.port), (None, "proxy.example.com", None))
        self.assertEqual(uri.hostport(), "proxy.example.com")

    def test_schemeCase(self) -> None:
        """
        The scheme is case-insensitive and stored lower-cased.
        """
        self.assertEqual(parseURI("SIP:a@b").scheme, "sip")
        self.assertEqual(parseURI("SiPs:a@b").scheme, "sips")

    def test_sips(self) -> None:
        """
        A C{sips} URI is a SIP URI.
        """
        uri = parseURI("sips:bob@biloxi.example.com")
        self.assertEqual((uri.scheme, uri.user, uri.host), ("sips", "bob", "biloxi.example.com"))
        self.assertTrue(uri.isSIP)

    def test_password(self) -> None:
        """
        C{user:password@host} gives both user and password.
        """
        uri = parseURI("sip:alice:secret@example.com")
        self.assertEqual((uri.user, uri.password), ("alice", "secret"))
        self.assertEqual(str(uri), "sip:alice:secret@example.com")

    def test_emptyUser(self) -> None:
        """
        An empty user part before C{@} is an error.
        """
        self.assertRaises(SIPParseError, parseURI, "sip:@example.com")
        self.assertRaises(SIPParseError, parseURI, "sip::pw@example.com")

    def test_ipv6(self) -> None:
        """
        An IPv6 reference loses its brackets in C{host}, and gets them back in L{URI.hostport}.
        """
        uri = parseURI("sip:[::1]:5060")
        self.assertEqual((uri.host, uri.port), ("::1", 5060))
        self.assertEqual(uri.hostport(), "[::1]:5060")
        uri = parseURI("sip:bob@[2001:db8::10];transport=udp")
        self.assertEqual((uri.user, uri.host, uri.port), ("bob", "2001:db8::10", None))
        self.assertEqual(str(uri), "sip:bob@[2001:db8::10];transport=udp")

    def test_badIPv6(self) -> None:
        """
        An unterminated or malformed IPv6 reference, or junk after it, is an error.
        """
        self.assertRaises(SIPParseError, parseURI, "sip:[::1")
        self.assertRaises(SIPParseError, parseURI, "sip:[example.com]")
        self.assertRaises(SIPParseError, parseURI, "sip:[::1]x")
        self.assertRaises(SIPParseError, parseURI, "sip:[::1]:")

    def test_headers(self) -> None:
        """
        URI headers after C{?} are kept as text and written back.
        """
        uri = parseURI("sip:alice@atlanta.com;maddr=1.2.3.4?subject=project%20x&priority=urgent")
        self.assertEqual(uri.params, {"maddr": "1.2.3.4"})
        self.assertEqual(uri.headers, "subject=project%20x&priority=urgent")
        self.assertEqual(
            str(uri), "sip:alice@atlanta.com;maddr=1.2.3.4?subject=project%20x&priority=urgent"
        )

    def test_userWithReservedCharacters(self) -> None:
        """
        The user part may hold C{;}, C{?} and C{/} (RFC 3261 user-unreserved; RFC 4475
        sections 3.1.1.2 and 3.1.1.9): they do not start parameters or headers.
        """
        uri = parseURI("sip:user;par=u%40example.net@example.com")
        self.assertEqual((uri.user, uri.host, uri.params), ("user;par=u%40example.net", "example.com", {}))
        uri = parseURI(
            "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too."
            "(doesn't-it)@example.com"
        )
        self.assertEqual(uri.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
        self.assertEqual(uri.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
        self.assertEqual((uri.host, uri.headers), ("example.com", ""))

    def test_tel(self) -> None:
        """
        A C{tel} URI keeps its number as user and its parameters.
        """
        uri = parseURI("tel:+1-201-555-0123;phone-context=example.com")
        self.assertEqual((uri.scheme, uri.user), ("tel", "+1-201-555-0123"))
        self.assertEqual(uri.params, {"phone-context": "example.com"})
        self.assertFalse(uri.isSIP)
        self.assertEqual(str(uri), "tel:+1-201-555-0123;phone-context=example.com")
        self.assertRaises(SIPParseError, parseURI, "tel:")

    def test_otherScheme(self) -> None:
        """
        Other absolute URIs are kept opaque and written back unchanged.
        """
        uri = parseURI("mailto:alice@example.com")
        self.assertEqual((uri.scheme, uri.opaque, uri.host), ("mailto", "alice@example.com", ""))
        self.assertEqual(str(uri), "mailto:alice@example.com")
        self.assertRaises(SIPParseError, parseURI, "urn:")

    def test_badScheme(self) -> None:
        """
        A missing or malformed scheme is an error.
        """
        for text in ["alice@example.com", ":alice@example.com", "1sip:a@b", "s p:a@b", ""]:
            self.assertRaises(SIPParseError, parseURI, text)

    def test_badPort(self) -> None:
        """
        A port that is empty, not a number, above 65535 or in non-ASCII digits is an error.
        """
        for text in [
            "sip:a@b:",
            "sip:a@b:x",
            "sip:a@b:65536",
            "sip:a@b:123456",
            "sip:a@b:-1",
            "sip:a@b:5060:1",
            "sip:a@b:\N{SUPERSCRIPT TWO}",
            "sip:a@b:" + "9" * 5000,
        ]:
            self.assertRaises(SIPParseError, parseURI, text)

    def test_portBounds(self) -> None:
        """
        Ports 0 and 65535 are accepted.
        """
        self.assertEqual(parseURI("sip:b:0").port, 0)
        self.assertEqual(parseURI("sip:b:65535").port, 65535)

    def test_whitespace(self) -> None:
        """
        Whitespace, CR, LF or angle brackets inside a URI are errors.
        """
        for text in [
            "sip:al ice@b",
            "sip:alice@b; lr",
            "sip:a@b\t",
            " sip:a@b",
            "sip:a@b ",
            "sip:a@b\r\nVia: x",
            "sip:<a@b>",
        ]:
            self.assertRaises(SIPParseError, parseURI, text)

    def test_badHost(self) -> None:
        """
        A missing host or one with reserved characters is an error.
        """
        for text in ["sip:", "sip:alice@", "sip:alice@;lr", 'sip:a@"b"', "sip:a@b/c"]:
            self.assertRaises(SIPParseError, parseURI, text)

    def test_str(self) -> None:
        """
        L{URI.__str__} writes a SIP URI from its parts.
        """
        uri = URI("sip", "bob", None, "example.com", 5062, {"lr": None})
        self.assertEqual(str(uri), "sip:bob@example.com:5062;lr")
        self.assertEqual(parseURI(str(uri)), uri)


class ParseNameAddrTests(SynchronousTestCase):
    """
    Tests for L{parseNameAddr}.
    """

    def test_quotedDisplay(self) -> None:
        """
        A quoted display name is kept with its quotes; header parameters follow C{>}.
        """
        addr = parseNameAddr('"Alice Liddell" <sip:alice@example.com>;tag=1928301774')
        self.assertEqual(addr.display, '"Alice Liddell"')
        self.assertEqual(addr.uri.user, "alice")
        self.assertEqual(addr.tag, "1928301774")

    def test_quotedDisplayWithSpecials(self) -> None:
        """
        A quoted display name may hold escaped quotes and backslashes, C{<}, C{>}, C{;} and
        C{,} (RFC 4475 section 3.1.1.1).
        """
        addr = parseNameAddr(r'"J Rosenberg \\\"" <sip:jdrosen@example.com> ; tag = 98asjd8')
        self.assertEqual(addr.display, r'"J Rosenberg \\\""')
        self.assertEqual(addr.uri.host, "example.com")
        self.assertEqual(addr.tag, "98asjd8")
        addr = parseNameAddr('"<sip:eve@evil>; tag=x, y" <sip:bob@example.com>;tag=real')
        self.assertEqual(addr.uri.user, "bob")
        self.assertEqual(addr.tag, "real")

    def test_tokenDisplay(self) -> None:
        """
        An unquoted display name of tokens is allowed, with or without a space before C{<}
        (RFC 4475 section 3.1.1.6).
        """
        addr = parseNameAddr("Bob Smith <sip:bob@example.com>")
        self.assertEqual((addr.display, addr.tag), ("Bob Smith", None))
        self.assertEqual(parseNameAddr("caller<sip:caller@example.com>;tag=323").display, "caller")

    def test_noDisplay(self) -> None:
        """
        C{<uri>} alone has an empty display name.
        """
        addr = parseNameAddr("<sip:bob@example.com;lr>")
        self.assertEqual(addr.display, "")
        self.assertEqual(addr.uri.params, {"lr": None})
        self.assertEqual(addr.params, {})

    def test_addrSpecParams(self) -> None:
        """
        In the addr-spec form the parameters belong to the header, not the URI (RFC 3261
        section 20.10).
        """
        addr = parseNameAddr("sip:alice@example.com;tag=abc;transport=tcp")
        self.assertEqual(addr.uri.params, {})
        self.assertEqual(addr.params, {"tag": "abc", "transport": "tcp"})
        self.assertEqual(addr.tag, "abc")

    def test_addrSpecReserved(self) -> None:
        """
        An addr-spec holding C{,}, C{?} or a space must be enclosed in C{<>}.
        """
        self.assertRaises(SIPParseError, parseNameAddr, "sip:a@b?subject=x")
        self.assertRaises(SIPParseError, parseNameAddr, "sip:a@b, sip:c@d")
        self.assertRaises(SIPParseError, parseNameAddr, "sip:a@b c")

    def test_unterminatedAngle(self) -> None:
        """
        C{<} without C{>} is an error.
        """
        self.assertRaises(SIPParseError, parseNameAddr, "<sip:bob@example.com;tag=1")
        self.assertRaises(SIPParseError, parseNameAddr, '"Bob" <sip:bob@example.com')

    def test_unterminatedQuote(self) -> None:
        """
        An unterminated quoted display name is an error (RFC 4475 section 3.1.2.6), also when
        its last character is an escaped quote.
        """
        self.assertRaises(SIPParseError, parseNameAddr, '"Bob <sip:bob@example.com>;tag=1')
        self.assertRaises(SIPParseError, parseNameAddr, r'"Bob\" <sip:bob@example.com>')

    def test_badDisplay(self) -> None:
        """
        A display name that is neither quoted nor tokens, or text between a quoted display
        name and C{<}, is an error; so is a quoted display name without C{<uri>}.
        """
        self.assertRaises(SIPParseError, parseNameAddr, "Bob@home <sip:bob@example.com>")
        self.assertRaises(SIPParseError, parseNameAddr, '"Bob" x <sip:bob@example.com>')
        self.assertRaises(SIPParseError, parseNameAddr, '"Bob" sip:bob@example.com')

    def test_junkAfterAngle(self) -> None:
        """
        Anything after C{>} other than parameters is an error.
        """
        self.assertRaises(SIPParseError, parseNameAddr, "<sip:bob@example.com>junk;tag=1")
        self.assertRaises(SIPParseError, parseNameAddr, "<sip:bob@example.com> <sip:c@d>")

    def test_badURI(self) -> None:
        """
        A bad URI inside C{<>} is an error, and so is whitespace inside C{<>} (RFC 3261
        LAQUOT and RAQUOT allow it only outside; RFC 4475 section 3.1.2.14).
        """
        self.assertRaises(SIPParseError, parseNameAddr, "<sip:bob@example.com:99999>")
        self.assertRaises(SIPParseError, parseNameAddr, "<>")
        self.assertRaises(SIPParseError, parseNameAddr, '"Watson" < sip:t.watson@example.org >')

    def test_whitespaceOutsideAngles(self) -> None:
        """
        Whitespace around C{<}, C{>} and the parameters of an addr-spec is allowed.
        """
        addr = parseNameAddr('  "A"   <sip:a@b>  ;  tag = 1 ')
        self.assertEqual((addr.display, str(addr.uri), addr.tag), ('"A"', "sip:a@b", "1"))
        addr = parseNameAddr(" sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n")
        self.assertEqual((addr.uri.host, addr.tag), ("chair-dnrc.example.com", "1918181833n"))

    def test_emptyParameter(self) -> None:
        """
        An empty header parameter (C{;;} or a trailing C{;}) is an error in both forms.
        """
        for text in ["<sip:a@b>;", "<sip:a@b>;;tag=1", "sip:a@b;", "sip:a@b;;tag=1"]:
            self.assertRaises(SIPParseError, parseNameAddr, text)

    def test_str(self) -> None:
        """
        A name-addr is written as display, C{<uri>} and parameters, and parses back.
        """
        addr = parseNameAddr('"Bob" <sip:bob@example.com>;tag=1')
        self.assertEqual(str(addr), '"Bob" <sip:bob@example.com>;tag=1')
        self.assertEqual(parseNameAddr(str(addr)), addr)
        self.assertEqual(str(parseNameAddr("sip:a@b;tag=2")), "<sip:a@b>;tag=2")


class ParseViaTests(SynchronousTestCase):
    """
    Tests for L{parseVia}.
    """

    def test_basic(self) -> None:
        """
        A Via gives transport, host, port and parameters.
        """
        via = parseVia("SIP/2.0/UDP pc33.atlanta.com:5066;branch=z9hG4bK776asdhds;rport")
        self.assertEqual((via.transport, via.host, via.port), ("UDP", "pc33.atlanta.com", 5066))
        self.assertEqual(via.params, {"branch": "z9hG4bK776asdhds", "rport": None})
        self.assertEqual(via.branch, "z9hG4bK776asdhds")
        self.assertEqual(via.sentBy(), "pc33.atlanta.com:5066")
        self.assertEqual(str(via), "SIP/2.0/UDP pc33.atlanta.com:5066;branch=z9hG4bK776asdhds;rport")

    def test_case(self) -> None:
        """
        Protocol name and transport are case-insensitive; the transport is stored upper-case.
        """
        via = parseVia("sip/2.0/tcp host;branch=z9hG4bK1")
        self.assertEqual(via.transport, "TCP")
        self.assertIsNone(via.port)

    def test_whitespace(self) -> None:
        """
        Whitespace may surround C{/}, C{;}, C{=} and the sent-by colon (RFC 4475 section
        3.1.1.1).
        """
        via = parseVia("SIP  /   2.0 /UDP   192.0.2.2 : 5070 ; rport ;  branch =  390skdjuw")
        self.assertEqual((via.transport, via.host, via.port), ("UDP", "192.0.2.2", 5070))
        self.assertEqual(via.params, {"rport": None, "branch": "390skdjuw"})

    def test_ipv6(self) -> None:
        """
        An IPv6 sent-by is bracketed in the Via and stored without brackets.
        """
        via = parseVia("SIP/2.0/UDP [2001:db8::9:1]:5060;branch=z9hG4bK1;received=2001:db8::9:255")
        self.assertEqual((via.host, via.port), ("2001:db8::9:1", 5060))
        self.assertEqual(via.params["received"], "2001:db8::9:255")
        self.assertEqual(via.sentBy(), "[2001:db8::9:1]:5060")

    def test_unknownTransport(self) -> None:
        """
        An unknown transport token is accepted (RFC 4475 section 3.1.1.10).
        """
        self.assertEqual(parseVia("SIP/2.0/UNKNOWN 192.0.2.2;branch=z9hG4bK1").transport, "UNKNOWN")

    def test_badProtocol(self) -> None:
        """
        A protocol other than C{SIP/2.0}, or a malformed one, is an error.
        """
        for text in [
            "SIP/3.0/UDP host",
            "SIPS/2.0/UDP host",
            "SIP/2.0 host",
            "SIP 2.0 UDP host",
            "SIP/2.0/U@DP host",
            "",
        ]:
            self.assertRaises(SIPParseError, parseVia, text)

    def test_noSentBy(self) -> None:
        """
        A Via without sent-by is an error.
        """
        self.assertRaises(SIPParseError, parseVia, "SIP/2.0/UDP")
        self.assertRaises(SIPParseError, parseVia, "SIP/2.0/UDP ;branch=z9hG4bK1")

    def test_badHostOrPort(self) -> None:
        """
        A bad host, port or IPv6 reference in sent-by is an error.
        """
        for text in [
            "SIP/2.0/UDP host:99999",
            "SIP/2.0/UDP host:",
            "SIP/2.0/UDP 2001:db8::1",
            "SIP/2.0/UDP [2001:db8::1",
            "SIP/2.0/UDP [x y]:5060",
            "SIP/2.0/UDP a@b",
        ]:
            self.assertRaises(SIPParseError, parseVia, text)

    def test_badParams(self) -> None:
        """
        Bad parameters are an error.
        """
        self.assertRaises(SIPParseError, parseVia, "SIP/2.0/UDP host;branch=")
        self.assertRaises(SIPParseError, parseVia, "SIP/2.0/UDP host;;branch=1")
        self.assertRaises(SIPParseError, parseVia, "SIP/2.0/UDP host;branch=1;")
        self.assertRaises(SIPParseError, parseVia, "SIP/2.0/UDP host;")


class ReadSentByTests(SynchronousTestCase):
    """
    Tests for L{readSentBy}: what a Via that does not parse still tells about where its
    sender listens (RFC 3261 section 18.2.2).
    """

    def test_extraneousSeparators(self) -> None:
        """
        The sent-by of RFC 4475's C{badinv01} Via is read despite its empty parameters and
        elements.
        """
        self.assertEqual(readSentBy("SIP/2.0/UDP 192.0.2.15;;,;,,"), ("192.0.2.15", None, False))

    def test_otherVersion(self) -> None:
        """
        The sent-by of a Via in another SIP version (RFC 4475's C{badvers}) is read, blanks
        and a port included.
        """
        self.assertEqual(readSentBy("SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw"),
                         ("c.example.com", None, False))
        self.assertEqual(readSentBy(" SIP / 7.0 / TCP  host.example.com : 5070 ;rport"),
                         ("host.example.com", 5070, True))

    def test_rport(self) -> None:
        """
        An C{rport} parameter, with or without a value, among broken parameters, is seen; a
        parameter of another element is not.
        """
        self.assertEqual(readSentBy("SIP/2.0/UDP h;;rport;x=\""), ("h", None, True))
        self.assertEqual(readSentBy("SIP/2.0/UDP h:5062;RPORT=9;;"), ("h", 5062, True))
        self.assertEqual(readSentBy("SIP/2.0/UDP h;;, SIP/2.0/UDP g;rport"), ("h", None, False))

    def test_ipv6(self) -> None:
        """
        An IPv6 reference is read without its brackets.
        """
        self.assertEqual(readSentBy("SIP/2.0/UDP [2001:db8::9]:5070;;"), ("2001:db8::9", 5070, False))

    def test_unreadable(self) -> None:
        """
        Without a readable host, or with a bad port, there is nothing to read: L{None}.
        """
        for text in ["", "SIP/2.0/UDP ;rport;branch=z9hG4bK1", "SIP/2.0/UDP host:99999",
                     "SIP/2.0/UDP host:x5", "garbage", "SIP/2.0/UDP [2001:db8::9", "SIP/2.0/UDP a<b"]:
            self.assertIsNone(readSentBy(text), text)


class ParseCSeqTests(SynchronousTestCase):
    """
    Tests for L{parseCSeq}.
    """

    def test_basic(self) -> None:
        """
        A CSeq gives its number and method; any whitespace may separate them.
        """
        self.assertEqual(parseCSeq("314159 INVITE"), CSeq(314159, "INVITE"))
        self.assertEqual(parseCSeq(" 0009 \t ACK "), CSeq(9, "ACK"))
        self.assertEqual(str(CSeq(1, "BYE")), "1 BYE")

    def test_methodCase(self) -> None:
        """
        The method keeps its case (methods are case-sensitive).
        """
        self.assertEqual(parseCSeq("1 invite").method, "invite")

    def test_bounds(self) -> None:
        """
        The number must be below 2**31 (RFC 3261 section 8.1.1.5); leading zeros are no
        overflow.
        """
        self.assertEqual(parseCSeq("2147483647 INVITE").number, 2**31 - 1)
        self.assertEqual(parseCSeq("000000000000001 INVITE").number, 1)
        self.assertRaises(SIPParseError, parseCSeq, "2147483648 INVITE")
        self.assertRaises(SIPParseError, parseCSeq, "36893488147419103232 INVITE")
        self.assertRaises(SIPParseError, parseCSeq, "9" * 5000 + " INVITE")

    def test_bad(self) -> None:
        """
        A missing number or method, extra words, a negative or non-ASCII number, or a method
        that is not a token, is an error.
        """
        for text in [
            "",
            "INVITE",
            "1",
            "1 INVITE x",
            "-1 INVITE",
            "1.5 INVITE",
            "\N{SUPERSCRIPT TWO} INVITE",
            "1 INV@ITE",
        ]:
            self.assertRaises(SIPParseError, parseCSeq, text)


class ParseDeltaSecondsTests(SynchronousTestCase):
    """
    Tests for L{parseDeltaSeconds}.
    """

    def test_values(self) -> None:
        """
        Decimal numbers up to 2**32-1 are accepted, with surrounding whitespace and leading
        zeros.
        """
        self.assertEqual(parseDeltaSeconds(" 0 ", "X"), 0)
        self.assertEqual(parseDeltaSeconds("0068", "X"), 68)
        self.assertEqual(parseDeltaSeconds(str(MAX_DELTA_SECONDS), "X"), MAX_DELTA_SECONDS)
        self.assertEqual(parseDeltaSeconds("0000000000001800", "X"), 1800)

    def test_bad(self) -> None:
        """
        Overflow, signs, non-digits and non-ASCII digits are errors naming the header.
        """
        for text in ["4294967296", "1" * 5000, "-1", "+1", "1e3", "", "\N{SUPERSCRIPT ONE}"]:
            error = self.assertRaises(SIPParseError, parseDeltaSeconds, text, "Expires")
            self.assertIn("Expires", error.reason)


class ParseSessionExpiresTests(SynchronousTestCase):
    """
    Tests for L{parseSessionExpires} (RFC 4028 section 4).
    """

    def test_deltaOnly(self) -> None:
        """
        A bare delta has no refresher.
        """
        self.assertEqual(parseSessionExpires("1800"), SessionExpires(1800, None))

    def test_remembered(self) -> None:
        """
        A value parsed once is not parsed again: the same (immutable) result comes back. A
        zero interval is not remembered, so it is still refused where it is not allowed.
        """
        first = parseSessionExpires("1801;refresher=uas")
        self.assertIs(parseSessionExpires("1801;refresher=uas"), first)
        self.assertIs(parseSessionExpires("1801;refresher=uas", allowZero=True), first)
        self.assertEqual(parseSessionExpires("0", allowZero=True), SessionExpires(0, None))
        self.assertRaises(SIPParseError, parseSessionExpires, "0")

    def test_refresher(self) -> None:
        """
        The refresher is case-insensitive and stored lower-case.
        """
        self.assertEqual(parseSessionExpires("1800;refresher=uac"), SessionExpires(1800, "uac"))
        self.assertEqual(parseSessionExpires("90;Refresher=UAS"), SessionExpires(90, "uas"))

    def test_whitespace(self) -> None:
        """
        Whitespace around the delta, C{;} and C{=} is allowed.
        """
        self.assertEqual(
            parseSessionExpires(" 1800 ; refresher = UAC "), SessionExpires(1800, "uac")
        )
        self.assertEqual(parseSessionExpires("1800\t;\trefresher\t=\tuas"), SessionExpires(1800, "uas"))

    def test_genericParams(self) -> None:
        """
        Unknown parameters, flags and quoted values are skipped.
        """
        self.assertEqual(
            parseSessionExpires('4000;x-foo=bar;refresher=uas;flag;q="a;b"'),
            SessionExpires(4000, "uas"),
        )

    def test_bounds(self) -> None:
        """
        1 and 2**32-1 are accepted.
        """
        self.assertEqual(parseSessionExpires("1").delta, 1)
        self.assertEqual(parseSessionExpires("4294967295").delta, 4294967295)

    def test_bad(self) -> None:
        """
        Zero, overflow, a negative or non-numeric delta, a bad or valueless refresher, or bad
        parameters are errors.
        """
        for text in [
            "0",
            "4294967296",
            "99999999999999999999",
            "-1800",
            "abc",
            "",
            "1800 refresher=uac",
            "1800;refresher=both",
            "1800;refresher",
            '1800;refresher="uac"',
            "1800;;refresher=uac",
            "1800;",
            "1800;refresher=uac;",
            "1800;=x",
        ]:
            self.assertRaises(SIPParseError, parseSessionExpires, text)

    def test_str(self) -> None:
        """
        L{SessionExpires} writes C{delta[;refresher=...]}.
        """
        self.assertEqual(str(SessionExpires(1800)), "1800")
        self.assertEqual(str(SessionExpires(90, "uas")), "90;refresher=uas")


class ParseMinSETests(SynchronousTestCase):
    """
    Tests for L{parseMinSE} (RFC 4028 section 5).
    """

    def test_value(self) -> None:
        """
        Min-SE is a delta-seconds, with whitespace.
        """
        self.assertEqual(parseMinSE("90"), 90)
        self.assertEqual(parseMinSE(" 1800 "), 1800)

    def test_genericParams(self) -> None:
        """
        Generic parameters are allowed and ignored.
        """
        self.assertEqual(parseMinSE("90 ; x=1;flag"), 90)

    def test_bad(self) -> None:
        """
        Zero, overflow, non-numbers and bad parameters are errors.
        """
        for text in ["0", "4294967296", "-90", "x", "", "90;", "90;;x", "90;a b"]:
            self.assertRaises(SIPParseError, parseMinSE, text)


# -- property tests --------------------------------------------------------------------------

_TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"

_whitespace = st.text(alphabet=" \t", max_size=3)
_tokens = st.text(alphabet=_TOKEN_CHARS, min_size=1, max_size=8)
_quoted = st.text(alphabet=_TOKEN_CHARS + " ;=,<>:@", max_size=8).map(lambda s: '"%s"' % (s,))


@st.composite
def _genericParam(draw: st.DrawFn) -> str:
    """
    A generic parameter other than C{refresher}: C{name}, C{name=token} or C{name="..."},
    with random whitespace around C{=}.
    """
    name = draw(_tokens.filter(lambda n: n.lower() != "refresher"))
    value = draw(st.one_of(st.none(), _tokens, _quoted))
    if value is None:
        return name
    return name + draw(_whitespace) + "=" + draw(_whitespace) + value


@st.composite
def _sessionExpires(draw: st.DrawFn) -> tuple[str, int, Optional[str]]:
    """
    A Session-Expires value and the delta and (lower-case) refresher it must parse to.
    """
    delta = draw(st.integers(min_value=1, max_value=MAX_DELTA_SECONDS))
    refresher = draw(st.one_of(st.none(), st.sampled_from(["uac", "uas"])))
    params = draw(st.lists(_genericParam(), max_size=3))
    if refresher is not None:
        name = "".join(draw(st.sampled_from([c.lower(), c.upper()])) for c in "refresher")
        shown = "".join(draw(st.sampled_from([c.lower(), c.upper()])) for c in refresher)
        param = name + draw(_whitespace) + "=" + draw(_whitespace) + shown
        params.insert(draw(st.integers(min_value=0, max_value=len(params))), param)
    text = draw(_whitespace) + str(delta) + draw(_whitespace)
    for param in params:
        text += ";" + draw(_whitespace) + param + draw(_whitespace)
    return text, delta, refresher


class SessionExpiresPropertyTests(SynchronousTestCase):
    """
    Property tests for the Session-Expires and Min-SE grammar.
    """

    @given(_sessionExpires())
    def test_parse(self, case: tuple[str, int, Optional[str]]) -> None:
        """
        Any grammatical Session-Expires (random whitespace, case and generic parameters)
        parses to its delta and lower-cased refresher.
        """
        text, delta, refresher = case
        self.assertEqual(parseSessionExpires(text), SessionExpires(delta, refresher))

    @given(_sessionExpires())
    def test_roundTrip(self, case: tuple[str, int, Optional[str]]) -> None:
        """
        The text of a parsed Session-Expires parses back to the same value.
        """
        value = parseSessionExpires(case[0])
        self.assertEqual(parseSessionExpires(str(value)), value)

    @given(
        st.integers(min_value=1, max_value=MAX_DELTA_SECONDS),
        st.one_of(st.none(), st.sampled_from(["uac", "uas"])),
    )
    def test_strRoundTrip(self, delta: int, refresher: Optional[str]) -> None:
        """
        Every L{SessionExpires} serialises to text that parses back to it.
        """
        value = SessionExpires(delta, refresher)
        self.assertEqual(parseSessionExpires(str(value)), value)

    @given(st.integers(min_value=MAX_DELTA_SECONDS + 1, max_value=10**30), _whitespace)
    def test_overflow(self, delta: int, space: str) -> None:
        """
        A delta above 2**32-1 is an error for Session-Expires and Min-SE.
        """
        self.assertRaises(SIPParseError, parseSessionExpires, space + str(delta))
        self.assertRaises(SIPParseError, parseMinSE, str(delta) + space)

    @given(st.integers(min_value=1, max_value=MAX_DELTA_SECONDS), st.lists(_genericParam(), max_size=3),
           _whitespace)
    def test_minSE(self, delta: int, params: list[str], space: str) -> None:
        """
        Min-SE with any generic parameters parses to its delta.
        """
        text = str(delta) + "".join(space + ";" + space + p for p in params)
        self.assertEqual(parseMinSE(text), delta)


_hosts = st.one_of(
    st.from_regex(r"[a-z][a-z0-9\-]{0,10}(\.[a-z][a-z0-9\-]{0,10}){0,3}", fullmatch=True),
    st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: "%d.%d.%d.%d" % t),
)
_ports = st.one_of(st.none(), st.integers(0, 99999))
_paramItems = st.lists(
    st.tuples(
        st.sampled_from(["branch", "rport", "received", "lr", "Transport", "x-y", "", "b@d", "tag"]),
        st.one_of(st.none(), st.sampled_from(["", "z9hG4bK1", "udp", "1.2.3.4", "a%40b", "v?w"])),
    ),
    max_size=4,
)


def _paramText(items: list[tuple[str, Optional[str]]]) -> str:
    return "".join(";" + name + ("" if value is None else "=" + value) for name, value in items)


def _outcome(parser: object, text: str) -> object:
    """
    What a parser makes of C{text}: its result, or the reason it refuses it.
    """
    try:
        return parser(text)  # type: ignore[operator]
    except SIPParseError as e:
        return ("error", e.reason)


class FastPathTests(SynchronousTestCase):
    """
    The fast paths of L{parseVia}, L{parseURI} and L{parseParams} give what the general
    parsers give, results and errors alike.
    """

    @given(st.sampled_from(["UDP", "tcp", "TLS", "SCTP", "WS"]), _hosts, _ports, _paramItems)
    def test_via(self, transport: str, host: str, port: Optional[int],
                 params: list[tuple[str, Optional[str]]]) -> None:
        """
        A plain Via parses as the general Via parser parses it.
        """
        text = "SIP/2.0/%s %s%s%s" % (transport, host, "" if port is None else ":%d" % port,
                                      _paramText(params))
        self.assertEqual(_outcome(parseVia, text), _outcome(_parseVia, text))

    @given(st.one_of(st.none(), st.sampled_from(["bob", "+1555", "a%40b", "user;x", "u?v"])),
           _hosts, _ports, _paramItems)
    def test_uri(self, user: Optional[str], host: str, port: Optional[int],
                 params: list[tuple[str, Optional[str]]]) -> None:
        """
        A plain SIP URI parses as the general URI parser parses it.
        """
        text = "sip:%s%s%s%s" % ("" if user is None else user + "@", host,
                                 "" if port is None else ":%d" % port, _paramText(params))
        self.assertEqual(_outcome(parseURI, text), _outcome(_parseURI, text))

    @given(_paramItems, st.booleans())
    def test_params(self, params: list[tuple[str, Optional[str]]], leading: bool) -> None:
        """
        A plain parameter list parses as the general parameter parser parses it.
        """
        text = _paramText(params)
        if not leading:
            text = text[1:]
        self.assertEqual(_outcome(parseParams, text), _outcome(_parseParams, text))

    @given(st.sampled_from(["", '"alice" ', '"a<b, c"', "alice ", "alice", "al ice ", '"x\\"y" ',
                            "  ", '"bad']),
           st.sampled_from(["sip:alice@192.0.2.1", "sip:alice@atlanta.example.com:5070",
                            "sips:bob@[2001:db8::1]", "tel:+1555", "sip:a b@c", "sip:x@y;lr"]),
           _paramItems, st.sampled_from(["", " ", ";"]))
    def test_nameAddr(self, display: str, uri: str, params: list[tuple[str, Optional[str]]],
                      tail: str) -> None:
        """
        A usual name-addr parses as the general name-addr parser parses it.
        """
        text = "%s<%s>%s%s" % (display, uri, _paramText(params), tail)
        self.assertEqual(_outcome(parseNameAddr, text), _outcome(_parseNameAddr, text))

    @given(st.sampled_from(["", '"alice" ', '"a<b, c"', "alice ", "alice", "al ice ", '"x\\"y" ',
                            "Bell, Alexander ", "a@b ", "  ", '"bad', "A. Bell ", "\tx\t"]),
           st.sampled_from(["sip:alice@192.0.2.1", "sips:bob@[2001:db8::1]", "tel:+1555"]),
           _paramItems)
    def test_checkDisplayName(self, display: str, uri: str,
                              params: list[tuple[str, Optional[str]]]) -> None:
        """
        L{checkDisplayName} refuses exactly the name-addrs (with valid URIs and parameters)
        that L{parseNameAddr} refuses.
        """
        rest = "<%s>%s" % (uri, _paramText(params))
        assume(isinstance(_outcome(parseNameAddr, rest), NameAddr))
        text = display + rest
        self.assertEqual(_outcome(checkDisplayName, text) is None,
                         isinstance(_outcome(parseNameAddr, text), NameAddr), text)
