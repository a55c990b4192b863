# -*- test-case-name: sst.test.test_torture -*-
"""
The torture corpus in C{sst/test/data/torture}: messages written after RFC 4475 (and RFC 4028
for session timers), each with its expected handling in C{manifest.txt}.

Every message is parsed alone, then sent through the whole proxy (L{ProxyHarness} in next-hop
mode): valid ones are forwarded or answered as the manifest says, invalid ones get the
expected status or are dropped and counted, and nothing ever raises.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Optional

from twisted.trial.unittest import SynchronousTestCase

from sst.address import Address
from sst.headers import SIPParseError
from sst.message import Request, Response, parse
from sst.test._fuzzing import TortureHarness, settle
from sst.testing import CALLEE, CALLER

#: Where the corpus lives.
CORPUS = os.path.join(os.path.dirname(__file__), "data", "torture")

#: What a message may be expected to meet, besides a status code.
HANDLINGS = ("forward", "stray", "drop")


@dataclass(frozen=True)
class Entry:
    """
    One line of the manifest.

    @ivar path: the file, relative to L{CORPUS}.
    @ivar parses: whether L{parse} accepts it.
    @ivar handling: C{"forward"}, C{"stray"}, C{"drop"} or a status code as text.
    @ivar why: the comment on the line.
    """

    path: str
    parses: bool
    handling: str
    why: str

    @property
    def code(self) -> Optional[int]:
        """
        The status the caller gets, when the handling is one.
        """
        return int(self.handling) if self.handling.isdigit() else None

    def data(self) -> bytes:
        """
        @return: the message's bytes.
        """
        with open(os.path.join(CORPUS, self.path), "rb") as f:
            return f.read()


def readManifest(path: str = os.path.join(CORPUS, "manifest.txt")) -> list[Entry]:
    """
    Read the manifest.

    @raise ValueError: on a line that is not C{PATH ok|error HANDLING [# why]}.
    """
    entries: list[Entry] = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            text, _, why = line.partition("#")
            fields = text.split()
            if not fields:
                continue
            if (len(fields) != 3 or fields[1] not in ("ok", "error")
                    or not (fields[2] in HANDLINGS or (fields[2].isdigit() and len(fields[2]) == 3))):
                raise ValueError("manifest line %d: %r" % (number, line))
            entries.append(Entry(fields[0], fields[1] == "ok", fields[2], why.strip()))
    return entries


MANIFEST = readManifest()


def isResponse(data: bytes) -> bool:
    """
    @return: whether C{data} starts like a response.
    """
    return data.lstrip(b"\r\n").startswith(b"SIP/")


class ManifestTests(SynchronousTestCase):
    """
    The manifest and the corpus agree.
    """

    def test_everyFileListed(self) -> None:
        """
        Every C{.sip} file under C{valid/} and C{invalid/} is in the manifest exactly once,
        and every manifest entry names an existing file.
        """
        files = sorted(
            "%s/%s" % (kind, name)
            for kind in ("valid", "invalid")
            for name in os.listdir(os.path.join(CORPUS, kind))
            if name.endswith(".sip")
        )
        listed = [entry.path for entry in MANIFEST]
        self.assertEqual(sorted(listed), files)
        self.assertEqual(len(set(listed)), len(listed))

    def test_validParse(self) -> None:
        """
        Everything under C{valid/} parses: the RFC 4475 valid messages must.
        """
        for entry in MANIFEST:
            if entry.path.startswith("valid/"):
                self.assertTrue(entry.parses, entry.path)

    def test_badLine(self) -> None:
        """
        A manifest line with an unknown parse result or handling is refused.
        """
        for line in ["valid/x.sip ok maybe\n", "valid/x.sip perhaps forward\n", "valid/x.sip ok\n",
                     "valid/x.sip ok 40\n"]:
            path = self.mktemp()
            with open(path, "w", encoding="utf-8") as f:
                f.write(line)
            self.assertRaises(ValueError, readManifest, path)


class TortureTests(SynchronousTestCase):
    """
    Each corpus message, parsed alone and through the whole proxy. The test methods
    C{test_valid_*} and C{test_invalid_*} are made from the manifest, one per file.
    """

    def harness(self, *args: str) -> TortureHarness:
        """
        A fresh proxy.
        """
        return TortureHarness(list(args))

    def assertNothingRaised(self, h: TortureHarness) -> None:
        """
        Nothing was logged as an error and nothing was counted as an internal error; and
        everything the proxy sent parses again, except responses to broken requests (which
        can only carry what the request had).
        """
        self.assertEqual(self.flushLoggedErrors(), [])
        self.assertEqual(h.stats.get("internal_errors"), 0)
        for data, address, error in h.unparsable:
            self.assertIn(data[:12], (b"SIP/2.0 400 ", b"SIP/2.0 505 ", b"SIP/2.0 513 "), error)

    def settleAll(self, h: TortureHarness) -> None:
        """
        Run the clock past every timer the proxy sets (transactions, Timer C, registrations,
        dialogs); nothing must be left scheduled and nothing may raise on the way.
        """
        settle(h, 100000)
        self.assertEqual(h.clock.getDelayedCalls(), [])
        self.assertNothingRaised(h)

    def check(self, entry: Entry) -> None:
        """
        Check one manifest entry: parsing alone, then the proxy's handling.
        """
        data = entry.data()
        self.checkParse(entry, data)
        h = self.harness()
        h.deliver(data)
        self.assertNothingRaised(h)
        if entry.handling == "forward":
            if isResponse(data):
                self.checkRelayed(h, data)
            else:
                self.checkForwarded(h, data)
        elif entry.handling == "stray":
            self.assertEqual(h.wire, [])
        elif entry.handling == "drop":
            self.assertEqual(h.wire, [])
            self.assertEqual(h.stats.get("dropped"), 1)
        else:
            response, address = self.lastResponse(h)
            self.assertEqual(response.code, entry.code)
            self.assertEqual((address.transport, address.host), (CALLER.transport, CALLER.host))
            self.assertEqual(h.requests(), [], "a rejected request must not be forwarded")
            self.assertEqual(h.stats.get("dropped"), 0)
            if not entry.parses:
                self.assertEqual(h.stats.get("parse_errors"), 1)
        self.settleAll(h)

    def lastResponse(self, h: TortureHarness) -> tuple[Response, Address]:
        """
        @return: the last response the proxy sent, and where to: the caller's source address,
            or the caller's host at the port its Via names (RFC 3261 section 18.2.2).
        """
        for message, address in reversed(h.sent):
            if isinstance(message, Response):
                return message, address
        raise AssertionError("no response was sent")

    def checkParse(self, entry: Entry, data: bytes) -> None:
        """
        L{parse} accepts or refuses the message as the manifest says; refused requests that
        can be answered carry the partly parsed request and the status to answer with.
        """
        if entry.parses:
            message = parse(data)
            self.assertIsInstance(message, Response if isResponse(data) else Request)
            # What the proxy writes back out parses the same way.
            again = parse(message.toBytes())
            self.assertEqual(again.toBytes(), message.toBytes())
            return
        error = self.assertRaises(SIPParseError, parse, data)
        if entry.code is not None:
            self.assertEqual(error.status, entry.code)
            self.assertIsInstance(error.message, Request)

    def checkForwarded(self, h: TortureHarness, data: bytes) -> None:
        """
        The request went on exactly once, with its method and Request-URI; a 200 from the
        next hop reaches the caller.
        """
        original = parse(data)
        assert isinstance(original, Request)
        forwarded = h.requests()
        self.assertEqual(len(forwarded), 1, forwarded)
        request, address = forwarded[0]
        self.assertEqual((request.method, request.uri), (original.method, original.uri))
        self.assertEqual(len(request.vias()), len(original.vias()) + 1)
        h.fromCallee(h.answer(request, 200))
        self.assertEqual(h.lastResponseTo(CALLER).code, 200)
        self.assertNothingRaised(h)

    def checkRelayed(self, h: TortureHarness, data: bytes) -> None:
        """
        The response was relayed to the caller, without the proxy's Via.
        """
        original = parse(data)
        assert isinstance(original, Response)
        response = h.lastResponseTo(CALLER)
        self.assertEqual((response.code, response.phrase), (original.code, original.phrase))
        self.assertEqual(len(response.vias()), len(original.vias()) - 1)

    # -- message by message ------------------------------------------------------------

    def forward(self, name: str, *args: str) -> tuple[TortureHarness, bytes, Request]:
        """
        Send C{valid/name.sip} from the caller.

        @return: the harness, the bytes sent, and the one request forwarded.
        """
        h = self.harness(*args)
        data = next(e for e in MANIFEST if e.path == name).data()
        h.deliver(data)
        forwarded = h.requests()
        self.assertEqual(len(forwarded), 1)
        return h, data, forwarded[0][0]

    def test_wsinvKeptVerbatim(self) -> None:
        """
        The folded, oddly spaced header lines of wsinv are forwarded byte for byte, and its
        typed headers decode as intended.
        """
        h, data, request = self.forward("valid/wsinv.sip")
        raw = h.wire[-1][0]
        for line in [b"X-Strange-Header:  first part of the value\r\n\tsecond part, after a tab fold\r\n",
                     b'FROM\t : "Dave \\"the \\\\ quoted\\" Smith"    <sip:dave@example.net>\r\n   ;\r\n',
                     b"X-Empty-Separators: ;;,,;,;;\r\n"]:
            self.assertIn(line, raw)
        self.assertEqual((request.toTag, request.fromTag), ("88a7s9d", "zz91ab"))
        self.assertEqual(str(request.cseq()), "42 INVITE")
        self.assertEqual(request.maxForwards(), 69)
        self.assertEqual([v.host for v in request.vias()[1:]],
                         ["192.0.2.7", "relay.example.org", "192.0.2.200"])
        self.assertFalse(request.hasHeader("route"), "our own Route is removed")
        self.assertEqual(h.wire[-1][1], Address("udp", "rooms.example.com", 5060))

    def test_dblreqTrailingIgnored(self) -> None:
        """
        The bytes after dblreq's Content-Length (a whole INVITE) are ignored: only the
        REGISTER goes on, with an empty body.
        """
        h, data, request = self.forward("valid/dblreq.sip")
        self.assertEqual((request.method, request.body), ("REGISTER", b""))
        self.assertNotIn(b"INVITE", h.wire[-1][0])

    def test_mpart01BodyUnchanged(self) -> None:
        """
        A multipart body with binary octets (CR, LF, NUL, 0xFF, and a CRLF CRLF) is forwarded
        byte for byte.
        """
        h, data, request = self.forward("valid/mpart01.sip")
        original = parse(data)
        self.assertEqual(request.body, original.body)
        self.assertTrue(h.wire[-1][0].endswith(original.body))
        self.assertIn(b"\x00\xff", request.body)

    def test_intmethCSeq(self) -> None:
        """
        An unusual method is forwarded with its CSeq method unchanged, and the escaped user
        part of the Request-URI is not touched.
        """
        h, data, request = self.forward("valid/intmeth.sip")
        self.assertEqual(request.cseq().method, request.method)
        self.assertEqual(request.requestURI().host, "example.org")
        self.assertIn("(no-doubt!)", request.uri)

    def test_semiuriUser(self) -> None:
        """
        The C{;} in semiuri's user part belongs to the user, not to URI parameters.
        """
        h, data, request = self.forward("valid/semiuri.sip")
        uri = request.requestURI()
        self.assertEqual((uri.user, uri.host, uri.params), ("user;par=u%40example.net", "example.com", {}))

    def test_transportsVias(self) -> None:
        """
        Vias with unknown transports are forwarded unchanged below the proxy's own.
        """
        h, data, request = self.forward("valid/transports.sip")
        self.assertEqual([v.transport for v in request.vias()],
                         ["UDP", "UDP", "SCTP", "TLS-SCTP", "WSS", "FANCY-NEW-TRANSPORT"])

    def test_seLws(self) -> None:
        """
        C{x: 1800 ; refresher = UAC} is understood as Session-Expires 1800 with refresher
        uac, and forwarded as it came.
        """
        h, data, request = self.forward("valid/se-lws.sip")
        self.assertEqual(request.header("session-expires"), "1800 ; refresher = UAC")
        se = request.sessionExpires()
        assert se is not None
        self.assertEqual((se.delta, se.refresher), (1800, "uac"))

    def test_minSEParams(self) -> None:
        """
        Min-SE with generic parameters is accepted and forwarded as it came.
        """
        h, data, request = self.forward("valid/minse-params.sip")
        self.assertEqual(request.minSE(), 120)
        self.assertEqual(request.header("min-se"), "120 ; generic = param ; flag")

    def test_minSE30Forwarded(self) -> None:
        """
        Min-SE 30 is below the RFC 4028 floor of 90 but well-formed: with Session-Expires
        1800 the INVITE is forwarded with both headers untouched (the proxy's own floor
        stays 90; it never lowers nor rewrites a Min-SE it does not need to raise).
        """
        h, data, request = self.forward("valid/minse30.sip")
        self.assertEqual((request.minSE(), request.header("session-expires")), (30, "1800"))

    def test_minSE30Rejected(self) -> None:
        """
        Min-SE 30 with Session-Expires 60 from a UAC that supports timers gets a 422 whose
        Min-SE is the proxy's minimum (1800), not 30 nor 90.
        """
        h = self.harness()
        h.deliver(next(e for e in MANIFEST if e.path == "valid/minse30-small.sip").data())
        response = h.lastResponseTo(CALLER)
        self.assertEqual((response.code, response.header("min-se")), (422, "1800"))
        self.assertEqual(h.stats.get("rejected_422"), 1)

    def test_seWithoutTimerRaised(self) -> None:
        """
        Session-Expires 100 and Min-SE 95 from a UAC without timer support are raised to the
        proxy's minimum rather than rejected (RFC 4028 section 8.1).
        """
        h, data, request = self.forward("valid/se-notimer.sip")
        self.assertEqual((request.header("session-expires"), request.minSE()), ("1800", 1800))

    def test_bext01Unsupported(self) -> None:
        """
        The 420 to bext01 lists the Proxy-Require option tags in Unsupported, and not the
        Require ones (a proxy ignores Require).
        """
        h = self.harness()
        h.deliver(next(e for e in MANIFEST if e.path == "invalid/bext01.sip").data())
        response = h.lastResponseTo(CALLER)
        self.assertEqual(response.code, 420)
        self.assertEqual(response.headerValues("unsupported"),
                         ["noProxiesSupportThis", "norDoProxiesSupportThis"])

    def test_zeroMaxForwardsOptions(self) -> None:
        """
        An OPTIONS with Max-Forwards 0 is answered 200 by sst itself, as the request's final
        recipient (RFC 3261 section 16.3 item 3), and not forwarded.
        """
        h = self.harness()
        data = next(e for e in MANIFEST if e.path == "invalid/bext01.sip").data()
        data = data.replace(b"Max-Forwards: 70", b"Max-Forwards: 0").replace(b"Proxy-Require", b"X-Was")
        h.deliver(data)
        self.assertEqual(h.lastResponseTo(CALLER).code, 200)
        self.assertEqual(h.requests(), [])

    def test_inv2543Retransmission(self) -> None:
        """
        A retransmitted INVITE without a branch cookie matches its server transaction by the
        RFC 2543 rules (RFC 4475 section 3.2.1) and is not forwarded twice.
        """
        h, data, request = self.forward("valid/inv2543.sip")
        h.deliver(data)
        self.assertEqual(len(h.requests()), 1)
        self.assertEqual([m.code for m in h.to(CALLER) if isinstance(m, Response)], [100, 100])
        self.assertNothingRaised(h)

    def test_rfc4475Answers(self) -> None:
        """
        RFC 4475's own C{baddn}, C{badinv01} and C{badvers} get a 400, a 400 and a 505 Version
        Not Supported; none of their Vias asks for C{rport}, so each answer goes to the
        caller's address at the sent-by port, 5060 (RFC 3261 section 18.2.2). Nothing is
        forwarded and nothing is dropped.
        """
        for name, code, phrase in [("baddn", 400, "bad display name"),
                                   ("badinv01", 400, None),
                                   ("badvers", 505, "Version Not Supported")]:
            h = self.harness()
            h.deliver(next(e for e in MANIFEST if e.path == "invalid/rfc4475-%s.sip" % (name,)).data())
            [(data, address)] = [(d, a) for d, a in h.wire if d.startswith(b"SIP/2.0 ")]
            self.assertTrue(data.startswith(b"SIP/2.0 %d " % (code,)), data)
            if phrase is not None:
                self.assertTrue(data.startswith(b"SIP/2.0 %d %s\r\n" % (code, phrase.encode())), data)
            self.assertEqual(address, Address("udp", CALLER.host, 5060))
            self.assertEqual(h.requests(), [])
            self.assertEqual(h.stats.get("dropped"), 0)
            self.assertNothingRaised(h)

    def test_insufAnswered(self) -> None:
        """
        The 400 to insuf carries the Via and CSeq it could, and no invented From, To or
        Call-ID.
        """
        h = self.harness()
        h.deliver(next(e for e in MANIFEST if e.path == "invalid/insuf.sip").data())
        raw = h.wire[-1][0]
        self.assertTrue(raw.startswith(b"SIP/2.0 400 "))
        self.assertIn(b"\r\nCSeq: 193942 INVITE\r\n", raw)
        self.assertIn(b"received=127.0.0.1", raw)
        for name in (b"\r\nFrom:", b"\r\nTo:", b"\r\nCall-ID:"):
            self.assertNotIn(name, raw)

    def test_tooLarge(self) -> None:
        """
        A request above C{--max-size} is answered 513 when its header block fits in the
        limit, and never forwarded.
        """
        h = self.harness("--max-size", "1024")
        data = next(e for e in MANIFEST if e.path == "valid/longreq.sip").data()
        shortHead = next(e for e in MANIFEST if e.path == "valid/mpart01.sip").data()
        h.deliver(shortHead)
        self.assertEqual(h.lastResponseTo(CALLER).code, 513)
        h.deliver(data)
        self.assertEqual(h.stats.get("dropped"), 1, "longreq's header block is too large to answer")
        self.assertEqual(h.requests(), [])
        self.assertNothingRaised(h)

    def test_responsesToLiveTransaction(self) -> None:
        """
        The corpus' odd responses, made to match a forwarded INVITE: a 180 with an empty
        reason phrase is relayed, a 503 with overflowing Retry-After and Warning values
        becomes a 500 to the caller (RFC 3261 section 16.7 step 6), and nothing raises.
        """
        h = self.harness()
        h.fromCaller(h.invite())
        forwarded = h.lastRequestTo(CALLEE)
        ringing = h.answer(forwarded, 180).replace("SIP/2.0 180 Ringing", "SIP/2.0 180 ")
        h.fromCallee(ringing)
        self.assertEqual(h.lastResponseTo(CALLER).code, 180)
        h.fromCallee(h.answer(forwarded, 503, "Retry-After: 949302838503028349304023988",
                              'Warning: 1812 overture "In Progress"'))
        self.assertEqual(h.lastResponseTo(CALLER).code, 500)
        self.assertNothingRaised(h)
        self.settleAll(h)

    def test_bigcodeToLiveTransaction(self) -> None:
        """
        A response with a four-digit status code matching a forwarded INVITE is dropped as
        unparsable; the branch still ends (Timer C / B) with a 408 to the caller.
        """
        h = self.harness()
        h.fromCaller(h.invite())
        forwarded = h.lastRequestTo(CALLEE)
        h.fromCallee(h.answer(forwarded, 200).replace("SIP/2.0 200 OK", "SIP/2.0 4294967301 Big"))
        self.assertEqual(h.stats.get("dropped"), 1)
        self.assertEqual([m.code for m in h.to(CALLER) if isinstance(m, Response)], [100])
        settle(h, 200)
        self.assertEqual(h.lastResponseTo(CALLER).code, 408)
        self.settleAll(h)


def _makeTest(entry: Entry) -> Callable[[TortureTests], None]:
    def test(self: TortureTests) -> None:
        self.check(entry)

    expectation = {
        "forward": "is forwarded (a response: relayed to the caller)",
        "stray": "is dropped as a stray response, with no reply",
        "drop": "is dropped and counted, with no reply",
    }.get(entry.handling, "gets a %s" % (entry.handling,))
    test.__doc__ = "%s %s %s (%s); nothing raises." % (
        entry.path, "parses and" if entry.parses else "does not parse and", expectation, entry.why)
    test.__name__ = "test_" + entry.path[: -len(".sip")].replace("/", "_").replace("-", "_")
    return test


for _entry in MANIFEST:
    _test = _makeTest(_entry)
    setattr(TortureTests, _test.__name__, _test)
del _entry, _test
