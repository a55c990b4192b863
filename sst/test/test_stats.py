# -*- test-case-name: sst.test.test_stats -*-
"""
Tests for L{sst.stats}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from sst.stats import COUNTERS, DESCRIPTIONS, Stats


class StatsTests(SynchronousTestCase):
    """
    Tests for L{Stats}.
    """

    def test_zeros(self) -> None:
        """
        A new L{Stats} is enabled and has every counter of L{COUNTERS} at 0.
        """
        stats = Stats()
        self.assertTrue(stats.enabled)
        self.assertEqual(stats.snapshot(), dict.fromkeys(COUNTERS, 0))

    def test_increment(self) -> None:
        """
        C{increment} adds one, or the amount given, to a counter.
        """
        stats = Stats()
        stats.increment("expired_sst")
        stats.increment("expired_sst", 4)
        self.assertEqual(stats.get("expired_sst"), 5)
        self.assertEqual(stats.get("rejected_422"), 0)

    def test_newCounter(self) -> None:
        """
        Incrementing a counter not in L{COUNTERS} creates it; C{get} of a
        counter never incremented is 0.
        """
        stats = Stats()
        self.assertEqual(stats.get("other"), 0)
        stats.increment("other", 2)
        self.assertEqual(stats.get("other"), 2)
        self.assertEqual(stats.snapshot()["other"], 2)

    def test_disabled(self) -> None:
        """
        A disabled L{Stats} (the seed's C{enable_stats=0}) counts nothing.
        """
        stats = Stats(enabled=False)
        stats.increment("requests_in")
        stats.increment("other")
        self.assertFalse(stats.enabled)
        self.assertEqual(stats.get("requests_in"), 0)
        self.assertEqual(stats.snapshot(), dict.fromkeys(COUNTERS, 0))

    def test_snapshotIsACopy(self) -> None:
        """
        Changing a snapshot changes no counter, and a snapshot does not
        follow later increments.
        """
        stats = Stats()
        snapshot = stats.snapshot()
        snapshot["dropped"] = 10
        stats.increment("parse_errors")
        self.assertEqual(stats.get("dropped"), 0)
        self.assertEqual(snapshot["parse_errors"], 0)


class DescriptionsTests(SynchronousTestCase):
    """
    Tests for L{DESCRIPTIONS}.
    """

    def test_everyCounter(self) -> None:
        """
        Every counter of L{COUNTERS}, and nothing else, has a one-line
        description.
        """
        self.assertEqual(sorted(DESCRIPTIONS), sorted(COUNTERS))
        for name, text in DESCRIPTIONS.items():
            self.assertTrue(text and "\n" not in text, name)
