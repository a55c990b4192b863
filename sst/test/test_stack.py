# -*- test-case-name: sst.test.test_stack -*-
"""
Tests for L{sst.stack.buildStack}: every part constructed with what it needs.
"""
from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from sst.expiry import ByeOnExpiry
from sst.routing import LazyResolver
from sst.stack import buildStack
from sst.stats import Stats
from sst.tap import Options
from sst.testing import RecordingTransport


def options(*argv: str) -> Options:
    parsed = Options()
    parsed.parseOptions(["--listen", "udp:127.0.0.1:5060", "--state", "none", *argv])
    return parsed


class BuildStackTests(SynchronousTestCase):
    """
    L{buildStack} in each mode.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        # Never used: no test looks a name up.
        self.resolver = LazyResolver(self.fail)

    def test_proxy(self) -> None:
        """
        In proxy mode the proxy is its transaction layer's user, the DNS router uses the
        resolver given, and there is no UA core.
        """
        stack = buildStack(options(), self.clock, self.resolver)
        assert stack.proxy is not None
        self.assertIs(stack.transactions, stack.proxy.transactions)
        self.assertIs(stack.transactions.user, stack.proxy)
        self.assertIs(stack.transport.receiver.__self__, stack.transactions)  # type: ignore[union-attr]
        self.assertIs(stack.dns._resolver, self.resolver)
        self.assertIsNone(stack.proxy.byeOnExpiry)
        self.assertEqual((stack.ua, stack.b2bua), (None, None))
        self.assertEqual(stack.hook.maxSE, None)

    def test_byeOnExpiry(self) -> None:
        """
        C{--bye-on-expiry} gives the proxy a L{ByeOnExpiry} that observes the dialogs.
        """
        stack = buildStack(options("--bye-on-expiry", "--max-se", "7200"), self.clock,
                           self.resolver)
        assert stack.proxy is not None
        self.assertIsInstance(stack.proxy.byeOnExpiry, ByeOnExpiry)
        self.assertIn(stack.proxy.byeOnExpiry, stack.dialogs._observers)
        self.assertEqual(stack.hook.maxSE, 7200)

    def test_b2bua(self) -> None:
        """
        In B2BUA mode the B2BUA is its UA core's user, and the UA core its transaction
        layer's.
        """
        stack = buildStack(options("--mode", "b2bua"), self.clock, self.resolver)
        assert stack.b2bua is not None and stack.ua is not None
        self.assertIs(stack.ua, stack.b2bua.ua)
        self.assertIs(stack.ua.user, stack.b2bua)
        self.assertIs(stack.transactions.user, stack.ua)
        self.assertIsNone(stack.proxy)

    def test_transportGiven(self) -> None:
        """
        A transport given is used as it is, and its counters are the stack's.
        """
        stats = Stats()
        transport = RecordingTransport(self.clock, stats, lambda *sent: None)
        stack = buildStack(options(), self.clock, self.resolver, transport)
        self.assertIs(stack.transport, transport)
        self.assertIs(stack.stats, stats)
