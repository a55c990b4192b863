# -*- test-case-name: sst.test.test_stats -*-
"""
Tests for L{sst.stats}.
"""

from __future__ import annotations

import re
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

import sst

from sst.stats import COUNTERS, DESCRIPTIONS, Stats, UnknownCounter


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

    def test_unknownCounter(self) -> None:
        """
        A counter not in L{COUNTERS} is rejected by C{increment} and C{get}, whether
        counting is on or off, and nothing is created.
        """
        for enabled in (True, False):
            stats = Stats(enabled=enabled)
            e = self.assertRaises(UnknownCounter, stats.increment, "expried_sst")
            self.assertIn("expried_sst", str(e))
            self.assertRaises(UnknownCounter, stats.get, "other")
            self.assertEqual(stats.snapshot(), dict.fromkeys(COUNTERS, 0))

    def test_sourceUsesOnlyRegisteredCounters(self) -> None:
        """
        Every counter name that sst's own code increments is registered, including those on
        paths no other test drives.
        """
        pattern = re.compile(r"""(?:\.increment\(|\bcounters\[)\s*["']([^"']+)["']""")
        used = set()
        for path in Path(sst.__file__).parent.rglob("*.py"):
            if "test" not in path.relative_to(Path(sst.__file__).parent).parts:
                used.update(pattern.findall(path.read_text()))
        self.assertIn("expired_sst", used)
        self.assertIn("bytes_in", used)
        self.assertEqual(sorted(used - set(COUNTERS)), [])

    def test_countersInPlace(self) -> None:
        """
        Adding to L{Stats.counters} in place counts as C{increment} does: only when
        enabled, only registered names.
        """
        stats = Stats()
        stats.counters["bytes_in"] += 5
        self.assertEqual(stats.get("bytes_in"), 5)
        self.assertRaises(KeyError, stats.counters.__getitem__, "bytes_inn")
        stats.enabled = False
        stats.counters["bytes_in"] += 5
        stats.increment("bytes_in")
        self.assertEqual(stats.get("bytes_in"), 5)
        self.assertRaises(KeyError, stats.counters.__getitem__, "bytes_inn")
        stats.enabled = True
        stats.counters["bytes_in"] += 1
        self.assertEqual(stats.get("bytes_in"), 6)

    def test_disabled(self) -> None:
        """
        A disabled L{Stats} (the seed's C{enable_stats=0}) counts nothing.
        """
        stats = Stats(enabled=False)
        stats.increment("requests_in")
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
