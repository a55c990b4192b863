# -*- test-case-name: sst.test.test_rfc4028 -*-
"""
Tests for L{sst.rfc4028}: the session-timer terms both cores use.
"""
from __future__ import annotations

from typing import Optional

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from sst.headers import SessionExpires, SIPParseError
from sst.message import Request, parse
from sst.rfc4028 import (
    Offer,
    ProxyEdits,
    proxyEdits,
    readOffer,
    rejects,
    tooSmallMinSE,
    uasInterval,
    uasRefresher,
    withDelta,
)


def offer(se: Optional[int] = None, minSE: Optional[int] = None, timer: bool = True,
          refresher: Optional[str] = None) -> Offer:
    return Offer(None if se is None else SessionExpires(se, refresher), minSE, timer)


def request(*headers: str) -> Request:
    lines = ["INVITE sip:bob@192.0.2.1 SIP/2.0",
             "Via: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK-1",
             "From: <sip:alice@192.0.2.2>;tag=a", "To: <sip:bob@192.0.2.1>",
             "Call-ID: c1", "CSeq: 1 INVITE", *headers, "Content-Length: 0"]
    parsed = parse(("\r\n".join(lines) + "\r\n\r\n").encode())
    assert isinstance(parsed, Request)
    return parsed


class ReadOfferTests(SynchronousTestCase):
    """
    L{readOffer} reads Session-Expires, Min-SE and timer support.
    """

    def test_read(self) -> None:
        """
        Compact forms count, a Session-Expires of 0 is kept (too small, not malformed), and
        a malformed header raises L{SIPParseError}.
        """
        self.assertEqual(readOffer(request("k: timer", "x: 0", "Min-SE: 120")),
                         Offer(SessionExpires(0, None), 120, True))
        self.assertEqual(readOffer(request()), Offer(None, None, False))
        self.assertRaises(SIPParseError, readOffer, request("Session-Expires: soon"))
        self.assertRaises(SIPParseError, readOffer, request("Min-SE: 0"))

    def test_floor(self) -> None:
        """
        The floor is the Min-SE, 90 when absent or smaller.
        """
        self.assertEqual([offer(minSE=m).floor for m in (None, 30, 90, 1000)],
                         [90, 90, 90, 1000])


class RejectTests(SynchronousTestCase):
    """
    L{rejects} and L{tooSmallMinSE}: the 422 of sections 6, 8.1 and 9.
    """

    def test_rejects(self) -> None:
        """
        Only a too-small interval from a sender with timer support, and only when the policy
        rejects.
        """
        self.assertTrue(rejects(offer(100), 1800, True))
        self.assertTrue(rejects(offer(0), 90, True))
        self.assertFalse(rejects(offer(100), 1800, False))
        self.assertFalse(rejects(offer(100, timer=False), 1800, True))
        self.assertFalse(rejects(offer(1800), 1800, True))
        self.assertFalse(rejects(offer(), 1800, True))
        self.assertFalse(rejects(offer(100), 0, True))

    def test_minSEOfThe422(self) -> None:
        """
        The 422's Min-SE is at least ours, 90 and the request's own.
        """
        self.assertEqual(tooSmallMinSE(offer(100), 1800), 1800)
        self.assertEqual(tooSmallMinSE(offer(100, minSE=2400), 1800), 2400)


class ProxyEditsTests(SynchronousTestCase):
    """
    L{proxyEdits}: section 8.1 for a forwarded request.
    """

    def test_cases(self) -> None:
        """
        The rules, case by case (local minimum 1800, inserting 1800).
        """
        cases = [
            (offer(), ProxyEdits(1800, None)),
            (offer(timer=False), ProxyEdits(1800, 1800)),
            (offer(minSE=2400), ProxyEdits(2400, None)),
            (offer(100, timer=False), ProxyEdits(1800, 1800)),
            (offer(0, timer=False), ProxyEdits(1800, 1800)),
            (offer(100, minSE=2400, timer=False), ProxyEdits(2400, None)),
            (offer(3600), ProxyEdits(None, None)),
            (offer(3600, minSE=4000), ProxyEdits(4000, None)),
            (offer(100), ProxyEdits(None, None)),
        ]
        for given_, expected in cases:
            self.assertEqual(proxyEdits(given_, 1800, False, 1800), expected, given_)

    def test_refresh(self) -> None:
        """
        Nothing is inserted into a refresh (C{insert} L{None}); outside a timed dialog
        (local 0) nothing is raised to a minimum.
        """
        self.assertEqual(proxyEdits(offer(timer=False), 1800, True, None), ProxyEdits(None, None))
        self.assertEqual(proxyEdits(offer(100, timer=False), 0, True, None),
                         ProxyEdits(None, None))

    def test_maxSE(self) -> None:
        """
        A cap lowers a larger interval, never below the request's Min-SE.
        """
        self.assertEqual(proxyEdits(offer(86400), 90, True, None, 7200), ProxyEdits(7200, None))
        self.assertEqual(proxyEdits(offer(86400, minSE=9000), 90, True, None, 7200),
                         ProxyEdits(9000, None))
        self.assertEqual(proxyEdits(offer(), 90, True, 10000, 7200), ProxyEdits(7200, None))

    @given(se=st.none() | st.integers(0, 100000), minSE=st.none() | st.integers(1, 100000),
           timer=st.booleans(), local=st.integers(90, 5000),
           reject=st.booleans(), insert=st.none() | st.integers(90, 100000))
    def test_invariants(self, se: Optional[int], minSE: Optional[int], timer: bool,
                        local: int, reject: bool, insert: Optional[int]) -> None:
        """
        Min-SE is never touched with timer support and never lowered; a forwarded interval
        is never below the forwarded Min-SE (90 when absent), except a too-small one
        forwarded unchanged with rejection off.
        """
        given_ = offer(se, minSE, timer)
        if rejects(given_, local, reject):
            return
        edits = proxyEdits(given_, local, reject, insert)
        if timer:
            self.assertIsNone(edits.minSE)
        if edits.minSE is not None:
            self.assertGreaterEqual(edits.minSE, minSE or 0)
        forwardedMinSE = edits.minSE if edits.minSE is not None else minSE
        interval = edits.sessionExpires if edits.sessionExpires is not None else se
        if interval is None:
            return
        if timer and se is not None and se < local and not reject:
            self.assertEqual(edits, ProxyEdits(None, None))
            return
        self.assertGreaterEqual(interval, max(forwardedMinSE or 90, 90))


class UASTests(SynchronousTestCase):
    """
    L{uasInterval} and L{uasRefresher}: section 9.
    """

    def test_interval(self) -> None:
        """
        The preferred interval when none is asked; a too-small one from a sender without
        timer support raised to ours; otherwise the request's, raised to its Min-SE.
        """
        self.assertEqual(uasInterval(offer(), 1800, 3600), 3600)
        self.assertEqual(uasInterval(offer(minSE=5000), 1800, 3600), 5000)
        self.assertEqual(uasInterval(offer(100, timer=False), 1800, 3600), 1800)
        self.assertEqual(uasInterval(offer(0, timer=False), 1800, 3600), 1800)
        self.assertEqual(uasInterval(offer(100), 1800, 3600), 100)
        self.assertEqual(uasInterval(offer(100, minSE=200), 90, 3600), 200)

    def test_refresher(self) -> None:
        """
        Table 2: the UAS refreshes for a sender without timer support, the sender's choice
        holds, and otherwise the UAS's preference.
        """
        self.assertEqual(uasRefresher(offer(1800, timer=False, refresher="uac"), "uac"), "uas")
        self.assertEqual(uasRefresher(offer(1800, refresher="uac"), "uas"), "uac")
        self.assertEqual(uasRefresher(offer(1800), "uas"), "uas")
        self.assertEqual(uasRefresher(offer(), "uac"), "uac")

    def test_withDelta(self) -> None:
        """
        L{withDelta} keeps the parameters.
        """
        self.assertEqual(withDelta("100;refresher=uac;x=1", 1800), "1800;refresher=uac;x=1")
        self.assertEqual(withDelta(" 100", 90), "90")
