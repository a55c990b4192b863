# -*- test-case-name: sst.test.test_floodlimit -*-
"""
Tests for L{sst.floodlimit}: per-source flood limits, alone and in the stack.
"""
from __future__ import annotations

import ipaddress

from twisted.internet.task import Clock
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from sst.address import Address
from sst.floodlimit import FloodLimiter, FloodLimits
from sst.message import Response
from sst.stats import Stats
from sst.tap import Options
from sst.testing import CALLEE, CALLER, ProxyHarness

TRUSTED = ipaddress.ip_network("10.0.0.0/8")


def limiter(limit: int = 5, window: float = 2.0, ban: float = 60.0,
            clock: Clock | None = None) -> tuple[FloodLimiter, Clock, Stats]:
    """
    A limiter of C{limit} requests per C{window} on a fresh clock, trusting 10.0.0.0/8.
    """
    clock = clock or Clock()
    stats = Stats()
    return (FloodLimiter(FloodLimits(limit, window, ban, "drop", (TRUSTED,)), clock, stats),
            clock, stats)


class FloodLimiterTests(SynchronousTestCase):
    """
    L{FloodLimiter} counts requests per host over a sliding window.
    """

    def test_underLimit(self) -> None:
        """
        Up to C{limit} requests within the window are admitted.
        """
        flood, _, stats = limiter()
        self.assertEqual([flood.admit("192.0.2.1") for _ in range(5)], [True] * 5)
        self.assertEqual(flood.banned, {})
        self.assertEqual(stats.get("flood_offenders"), 0)

    def test_overLimitBlocked(self) -> None:
        """
        The request over the limit blocks the host for the ban time: it and every later
        request are refused, counted once as an offender and each as blocked; another
        host is unaffected.
        """
        flood, clock, stats = limiter()
        for _ in range(5):
            flood.admit("192.0.2.1")
        self.assertFalse(flood.admit("192.0.2.1"))
        self.assertEqual(flood.banned, {"192.0.2.1": 60.0})
        clock.advance(30)
        self.assertFalse(flood.admit("192.0.2.1"))
        self.assertTrue(flood.admit("192.0.2.2"))
        self.assertEqual(stats.get("flood_offenders"), 1)
        self.assertEqual(stats.get("flood_blocked"), 2)
        self.assertEqual(flood.retryAfter("192.0.2.1"), 30)

    def test_banEnds(self) -> None:
        """
        After the ban time the host is admitted again and forgotten from L{banned}.
        """
        flood, clock, _ = limiter()
        for _ in range(6):
            flood.admit("192.0.2.1")
        clock.advance(60)
        self.assertTrue(flood.admit("192.0.2.1"))
        self.assertEqual(flood.banned, {})

    def test_steadyRateUnderLimit(self) -> None:
        """
        A source that sends at just under the limit, for many windows, is never blocked:
        the window slides rather than resetting to let bursts through, and does not
        overcount.
        """
        flood, clock, _ = limiter(limit=10, window=1.0)
        results = []
        for _ in range(200):  # 8 per second, for 25 s.
            results.append(flood.admit("192.0.2.1"))
            clock.advance(1.0 / 8)
        self.assertEqual(set(results), {True})

    def test_burstAcrossWindowEdge(self) -> None:
        """
        A burst split across the edge of two windows is still seen: the previous window
        counts in proportion to its overlap with the sliding window.
        """
        flood, clock, _ = limiter(limit=10, window=1.0)
        clock.advance(0.9)
        for _ in range(8):
            self.assertTrue(flood.admit("192.0.2.1"))
        clock.advance(0.2)  # 0.1 s into the next window: 8 * 0.9 + new ones.
        self.assertTrue(flood.admit("192.0.2.1"))
        self.assertTrue(flood.admit("192.0.2.1"))
        self.assertFalse(flood.admit("192.0.2.1"))

    def test_idleSourcesForgotten(self) -> None:
        """
        A source silent for two windows is no longer counted or kept.
        """
        flood, clock, _ = limiter(limit=3, window=1.0)
        for _ in range(3):
            flood.admit("192.0.2.1")
        clock.advance(2.5)
        flood.admit("192.0.2.2")
        self.assertNotIn("192.0.2.1", flood._current)
        self.assertNotIn("192.0.2.1", flood._previous)
        self.assertEqual([flood.admit("192.0.2.1") for _ in range(3)], [True] * 3)

    def test_trustedExempt(self) -> None:
        """
        A source in a trusted network is never blocked, however much it sends.
        """
        flood, _, stats = limiter(limit=2)
        self.assertEqual(set(flood.admit("10.1.2.3") for _ in range(50)), {True})
        self.assertEqual(flood.banned, {})
        self.assertEqual(stats.get("flood_blocked"), 0)

    def test_badLimits(self) -> None:
        """
        L{FloodLimits} refuses a zero limit, a non-positive window or ban, and an unknown
        action.
        """
        self.assertRaises(ValueError, FloodLimits, 0)
        self.assertRaises(ValueError, FloodLimits, 5, 0.0)
        self.assertRaises(ValueError, FloodLimits, 5, 1.0, -1.0)
        self.assertRaises(ValueError, FloodLimits, 5, 1.0, 1.0, "reject")


class FloodOptionsTests(SynchronousTestCase):
    """
    The C{--flood-*} and C{--trusted-network} options.
    """

    def parse(self, *args: str) -> Options:
        options = Options()
        options.parseOptions(list(args))
        return options

    def test_offByDefault(self) -> None:
        """
        Without C{--flood-limit} there are no flood limits.
        """
        self.assertIsNone(self.parse()["flood-limits"])

    def test_limits(self) -> None:
        """
        The options become one L{FloodLimits}.
        """
        options = self.parse("--flood-limit", "100", "--flood-window", "4", "--flood-ban",
                             "30", "--flood-action", "503", "--trusted-network", "10.0.0.0/8")
        self.assertEqual(options["flood-limits"],
                         FloodLimits(100, 4.0, 30.0, "503", (TRUSTED,)))

    def test_badOptions(self) -> None:
        """
        A bad limit, window, action or network is a usage error.
        """
        for args in (["--flood-limit", "0"], ["--flood-limit", "x"],
                     ["--flood-limit", "5", "--flood-window", "0"],
                     ["--flood-action", "reject"], ["--trusted-network", "10.0.0.0/99"]):
            self.assertRaises(UsageError, self.parse, *args)


def options(n: int) -> str:
    """
    An OPTIONS for a user behind the proxy, the C{n}th of a flood.
    """
    return ("OPTIONS sip:bob@127.0.0.1:5070 SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-flood-%d;rport\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:alice@127.0.0.1:5061>;tag=f%d\r\n"
            "To: <sip:bob@127.0.0.1:5070>\r\n"
            "Call-ID: flood-%d\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n" % (n, n, n))


class StackFloodTests(SynchronousTestCase):
    """
    Flood limits in the whole stack: requests over the limit never reach the proxy.
    """

    def test_dropped(self) -> None:
        """
        With C{--flood-action drop}, the requests over the limit are neither forwarded nor
        answered; the blocked source shows in the gauges.
        """
        h = ProxyHarness(["--flood-limit", "3"])
        for n in range(6):
            h.fromCaller(options(n))
        self.assertEqual(len(h.to(CALLEE)), 3)
        self.assertEqual(h.to(CALLER), [])
        self.assertEqual(h.stats.get("flood_blocked"), 3)
        self.assertEqual(h.service.gauges()["flood_blocked_sources"], 1)
        h.clock.advance(60)
        self.assertEqual(h.service.gauges()["flood_blocked_sources"], 0)

    def test_rejected503(self) -> None:
        """
        With C{--flood-action 503}, they get C{503} with a C{Retry-After} of the time left
        in the block, sent to the Via's address.
        """
        h = ProxyHarness(["--flood-limit", "3", "--flood-action", "503", "--flood-ban", "20"])
        for n in range(3):
            h.fromCaller(options(n))
        h.clock.advance(0.5)
        h.fromCaller(options(3))
        answers = h.to(CALLER)
        self.assertEqual([r.code for r in answers if isinstance(r, Response)], [503])
        self.assertEqual(answers[0].header("retry-after"), "20")
        self.assertEqual(len({m.callId for m in h.to(CALLEE)}), 3)

    def test_responsesNotLimited(self) -> None:
        """
        Responses are never counted or blocked, even from a blocked host: they answer
        what sst sent.  (The caller and the callee share the host 127.0.0.1.)
        """
        h = ProxyHarness(["--flood-limit", "1", "--flood-action", "503"])
        h.fromCaller(h.invite())
        invite = h.lastRequestTo(CALLEE)
        h.fromCaller(options(1))
        self.assertEqual(h.stats.get("flood_offenders"), 1)
        h.fromCallee(h.answer(invite, 180))
        h.fromCallee(h.answer(invite, 200))
        codes = [r.code for r in h.to(CALLER) if isinstance(r, Response)]
        self.assertEqual(codes, [100, 503, 180, 200])
        self.assertEqual(h.stats.get("flood_blocked"), 1)

    def test_trustedNetworkExempt(self) -> None:
        """
        A source in C{--trusted-network} is not blocked.
        """
        h = ProxyHarness(["--flood-limit", "2", "--trusted-network", "127.0.0.0/8"])
        for n in range(6):
            h.fromCaller(options(n))
        self.assertEqual(len(h.to(CALLEE)), 6)
        self.assertEqual(h.stats.get("flood_blocked"), 0)

    def test_otherSourcesServed(self) -> None:
        """
        While one source is blocked, another is served.
        """
        h = ProxyHarness(["--flood-limit", "2"])
        for n in range(4):
            h.fromCaller(options(n))
        other = Address("udp", "127.0.0.2", 5061)
        h.receive(options(10).replace("127.0.0.1:5061", "127.0.0.2:5061"), other)
        self.assertEqual(len(h.to(CALLEE)), 3)
