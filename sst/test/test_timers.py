# -*- test-case-name: sst.test.test_timers -*-
"""
Tests for L{sst.timers}.
"""

from __future__ import annotations

import dataclasses

from twisted.trial.unittest import SynchronousTestCase

from sst.timers import (
    DEFAULT_SESSION_EXPIRES,
    MIN_SE_FLOOR,
    TimerConfig,
    byeMargin,
    nextRetransmit,
    nonRefresherByeAt,
    refreshAt,
)


class TimerConfigTests(SynchronousTestCase):
    """
    Tests for L{TimerConfig}.
    """

    def test_defaults(self) -> None:
        """
        The default base values are those of RFC 3261 section 17.
        """
        config = TimerConfig()
        self.assertEqual((config.t1, config.t2, config.t4), (0.5, 4.0, 5.0))

    def test_defaultTimers(self) -> None:
        """
        With the default T1 of 0.5s, timers A to M take the RFC 3261 Table 4
        and RFC 6026 values.
        """
        config = TimerConfig()
        self.assertEqual(config.A, 0.5)
        self.assertEqual(config.B, 32.0)
        self.assertEqual(config.C, 181.0)
        self.assertEqual(config.E, 0.5)
        self.assertEqual(config.F, 32.0)
        self.assertEqual(config.G, 0.5)
        self.assertEqual(config.H, 32.0)
        self.assertEqual(config.L, 32.0)
        self.assertEqual(config.M, 32.0)

    def test_unreliableTransportTimers(self) -> None:
        """
        Over an unreliable transport, timers D, I, J and K wait for
        retransmissions.
        """
        config = TimerConfig()
        self.assertEqual(config.D(reliable=False), 32.0)
        self.assertEqual(config.I(reliable=False), 5.0)
        self.assertEqual(config.J(reliable=False), 32.0)
        self.assertEqual(config.K(reliable=False), 5.0)

    def test_reliableTransportTimers(self) -> None:
        """
        Over a reliable transport, timers D, I, J and K are zero.
        """
        config = TimerConfig()
        for timer in (config.D, config.I, config.J, config.K):
            self.assertEqual(timer(True), 0.0)

    def test_derivedFromT1(self) -> None:
        """
        Timers derived from T1 follow a configured T1; timers I and K follow
        T4.
        """
        config = TimerConfig(t1=0.1, t2=1.0, t4=2.0)
        self.assertEqual(config.A, 0.1)
        self.assertAlmostEqual(config.B, 6.4)
        self.assertAlmostEqual(config.F, 6.4)
        self.assertAlmostEqual(config.H, 6.4)
        self.assertAlmostEqual(config.J(False), 6.4)
        self.assertEqual(config.I(False), 2.0)
        self.assertEqual(config.K(False), 2.0)

    def test_timerCExceedsThreeMinutes(self) -> None:
        """
        Timer C is longer than 3 minutes (RFC 3261 section 16.6, step 11).
        """
        self.assertGreater(TimerConfig().C, 180.0)

    def test_frozen(self) -> None:
        """
        L{TimerConfig} cannot be changed after construction.
        """
        config = TimerConfig()
        self.assertRaises(
            dataclasses.FrozenInstanceError, setattr, config, "t1", 1.0
        )

    def test_t1NotPositive(self) -> None:
        """
        A T1 that is zero, negative or NaN is rejected with L{ValueError}.
        """
        for t1 in (0.0, -0.5, float("nan")):
            error = self.assertRaises(ValueError, TimerConfig, t1=t1)
            self.assertIn("T1 must be positive", str(error))

    def test_t2BelowT1(self) -> None:
        """
        A T2 below T1 is rejected with L{ValueError}.
        """
        error = self.assertRaises(ValueError, TimerConfig, t1=2.0, t2=1.0)
        self.assertEqual(
            str(error), "T2 (1.0) must not be less than T1 (2.0)"
        )

    def test_t2EqualsT1(self) -> None:
        """
        T2 may equal T1.
        """
        self.assertEqual(TimerConfig(t1=1.0, t2=1.0).t2, 1.0)

    def test_t4NotPositive(self) -> None:
        """
        A T4 that is zero or negative is rejected with L{ValueError}.
        """
        for t4 in (0.0, -1.0):
            error = self.assertRaises(ValueError, TimerConfig, t4=t4)
            self.assertIn("T4 must be positive", str(error))


class NextRetransmitTests(SynchronousTestCase):
    """
    Tests for L{nextRetransmit}.
    """

    def test_doublesWithoutCap(self) -> None:
        """
        Without a cap the interval doubles each time, as for timer A.
        """
        intervals = [0.5]
        for _ in range(4):
            intervals.append(nextRetransmit(intervals[-1], None))
        self.assertEqual(intervals, [0.5, 1.0, 2.0, 4.0, 8.0])

    def test_cappedAtT2(self) -> None:
        """
        With a cap the interval doubles until it reaches the cap, as for
        timers E and G with T2.
        """
        config = TimerConfig()
        intervals = [config.E]
        for _ in range(5):
            intervals.append(nextRetransmit(intervals[-1], config.t2))
        self.assertEqual(intervals, [0.5, 1.0, 2.0, 4.0, 4.0, 4.0])


class SessionIntervalTests(SynchronousTestCase):
    """
    Tests for the RFC 4028 session-interval arithmetic.
    """

    def test_constants(self) -> None:
        """
        The Min-SE floor is 90 seconds and the default Session-Expires is
        1800 seconds.
        """
        self.assertEqual(MIN_SE_FLOOR, 90)
        self.assertEqual(DEFAULT_SESSION_EXPIRES, 1800)

    def test_minimumInterval(self) -> None:
        """
        With SE=90, the refresher refreshes at 45s and the non-refresher
        sends BYE at 60s: the margin is a third of the interval.
        """
        self.assertEqual(refreshAt(90), 45)
        self.assertEqual(byeMargin(90), 30)
        self.assertEqual(nonRefresherByeAt(90), 60)

    def test_defaultInterval(self) -> None:
        """
        With SE=1800, the refresher refreshes at 900s and the non-refresher
        sends BYE at 1768s: the margin is capped at 32 seconds.
        """
        self.assertEqual(refreshAt(1800), 900)
        self.assertEqual(byeMargin(1800), 32)
        self.assertEqual(nonRefresherByeAt(1800), 1768)

    def test_marginCrossover(self) -> None:
        """
        The BYE margin is a third of the interval up to 96s and 32s beyond.
        """
        self.assertEqual(byeMargin(96), 32)
        self.assertEqual(byeMargin(93), 31)
        self.assertEqual(byeMargin(120), 32)

    def test_intervalNotPositive(self) -> None:
        """
        A session interval that is zero or negative is rejected with
        L{ValueError}.
        """
        for function in (refreshAt, byeMargin, nonRefresherByeAt):
            for interval in (0, -90):
                self.assertRaises(ValueError, function, interval)
