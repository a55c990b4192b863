# -*- test-case-name: sst.test.test_timerservice -*-
"""
Tests for L{sst.timerservice.TimerService}: behaviour on a L{Clock}, and its cost counted in
comparisons and heap operations (never timed).
"""
from __future__ import annotations

import gc
import math
import random
from typing import Any, Callable

from twisted.internet.base import DelayedCall
from twisted.internet.error import AlreadyCalled, AlreadyCancelled
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.task import Clock
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from sst.timerservice import Timer, TimerService, asTimerService
from sst.test._support import assertProvides


class _Comparisons:
    count = 0


class CountingFloat(float):
    """
    A float that counts every comparison made with it, so that the work of the heap (whose
    entries start with the deadline) can be counted rather than timed.
    """

    def __lt__(self, other: object) -> bool:
        _Comparisons.count += 1
        return float(self) < other  # type: ignore[operator]

    def __le__(self, other: object) -> bool:
        _Comparisons.count += 1
        return float(self) <= other  # type: ignore[operator]

    def __gt__(self, other: object) -> bool:
        _Comparisons.count += 1
        return float(self) > other  # type: ignore[operator]

    def __ge__(self, other: object) -> bool:
        _Comparisons.count += 1
        return float(self) >= other  # type: ignore[operator]

    def __eq__(self, other: object) -> bool:
        _Comparisons.count += 1
        return float(self) == other

    __hash__ = float.__hash__

    def __add__(self, other: object) -> "CountingFloat":
        return CountingFloat(float(self) + other)  # type: ignore[operator]

    __radd__ = __add__

    def __sub__(self, other: object) -> "CountingFloat":
        return CountingFloat(float(self) - other)  # type: ignore[operator]


class CountingClock(Clock):
    """
    A L{Clock} whose time is a L{CountingFloat}, and which counts the resets of the calls it
    hands out.
    """

    def __init__(self) -> None:
        super().__init__()
        self.rightNow = CountingFloat(0.0)
        self.resets = 0

    def callLater(self, delay: float, callable: Callable[..., object], *args: object,
                  **kw: object) -> IDelayedCall:
        call = super().callLater(delay, callable, *args, **kw)
        assert isinstance(call, DelayedCall)
        resetter = call.resetter

        def counted(c: DelayedCall) -> None:
            self.resets += 1
            resetter(c)

        call.resetter = counted
        return call


class TimerServiceTests(SynchronousTestCase):
    """
    What L{TimerService} does, on a L{Clock}.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.service = TimerService(self.clock)
        self.fired: list[object] = []

    def record(self, value: object = None, **kw: object) -> None:
        self.fired.append((value, kw) if kw else value)

    def test_interfaces(self) -> None:
        """
        The service provides L{IReactorTime} and its timers L{IDelayedCall}.
        """
        assertProvides(self, IReactorTime, self.service)
        assertProvides(self, IDelayedCall, self.service.callLater(1, self.record))

    def test_firesInOrder(self) -> None:
        """
        Timers fire at their time, soonest first, those with the same time in the order they
        were scheduled, with their arguments.
        """
        self.service.callLater(2, self.record, "b")
        self.service.callLater(1, self.record, "a")
        self.service.callLater(2, self.record, "c", flag=True)
        self.clock.advance(0.999)
        self.assertEqual(self.fired, [])
        self.clock.advance(0.001)
        self.assertEqual(self.fired, ["a"])
        self.clock.advance(1)
        self.assertEqual(self.fired, ["a", "b", ("c", {"flag": True})])
        self.assertEqual(len(self.service), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_stop(self) -> None:
        """
        L{TimerService.stop} cancels every pending timer, near and far, and leaves nothing
        on the clock; timers scheduled afterwards run as usual.
        """
        near = self.service.callLater(1, self.record, "near")
        far = self.service.callLater(5000, self.record, "far")
        self.service.stop()
        self.assertEqual((near.active(), far.active(), len(self.service)), (False, False, 0))
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.service.callLater(2, self.record, "later")
        self.clock.advance(6000)
        self.assertEqual(self.fired, ["later"])

    def test_seconds(self) -> None:
        """
        L{TimerService.seconds} is the clock's time.
        """
        self.clock.advance(12.5)
        self.assertEqual(self.service.seconds(), 12.5)
        self.assertIs(self.service.clock, self.clock)

    def test_oneReactorCall(self) -> None:
        """
        However many timers are pending, the clock holds one call, never after the soonest
        deadline (a second before a bucket of later timers is due, to pour it into the
        heap), and none once no timer is pending.
        """
        timers = [self.service.callLater(d, self.record, d) for d in (5, 3, 9, 1, 7)]
        [call] = self.clock.getDelayedCalls()
        self.assertEqual(call.getTime(), 1)
        self.clock.advance(1)
        [call] = self.clock.getDelayedCalls()
        self.assertEqual(call.getTime(), 3 - self.service.granularity)
        self.clock.advance(1)
        [call] = self.clock.getDelayedCalls()
        self.assertEqual(call.getTime(), 3)
        for timer in timers:
            if timer.active():
                timer.cancel()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(self.fired, [1])

    def test_cancel(self) -> None:
        """
        A cancelled timer does not fire and is no longer active; cancelling it again raises
        L{AlreadyCancelled}, and cancelling or moving a fired one L{AlreadyCalled}.
        """
        timer = self.service.callLater(1, self.record, "x")
        other = self.service.callLater(2, self.record, "y")
        self.assertTrue(timer.active())
        timer.cancel()
        self.assertFalse(timer.active())
        self.assertRaises(AlreadyCancelled, timer.cancel)
        self.assertRaises(AlreadyCancelled, timer.reset, 5)
        self.clock.advance(2)
        self.assertEqual(self.fired, ["y"])
        self.assertFalse(other.active())
        self.assertRaises(AlreadyCalled, other.cancel)
        self.assertRaises(AlreadyCalled, other.reset, 1)
        self.assertRaises(AlreadyCalled, other.delay, 1)

    def test_resetSooner(self) -> None:
        """
        L{Timer.reset} to a sooner time fires the timer then, once.
        """
        timer = self.service.callLater(100, self.record, "x")
        self.clock.advance(10)
        timer.reset(5)
        self.assertEqual(timer.getTime(), 15)
        self.assertEqual([c.getTime() for c in self.clock.getDelayedCalls()],
                         [15 - self.service.granularity])
        self.clock.advance(4.9)
        self.assertEqual(self.fired, [])
        self.clock.advance(0.1)
        self.assertEqual(self.fired, ["x"])
        self.clock.advance(100)
        self.assertEqual(self.fired, ["x"])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_resetLater(self) -> None:
        """
        L{Timer.reset} and L{Timer.delay} to a later time fire the timer then, once, and not
        at its first time.
        """
        timer = self.service.callLater(10, self.record, "x")
        self.clock.advance(5)
        timer.reset(10)
        timer.delay(5)
        self.assertEqual(timer.getTime(), 20)
        self.assertEqual([t.getTime() for t in self.service.getDelayedCalls()], [20])
        self.clock.advance(14.9)
        self.assertEqual(self.fired, [])
        self.clock.advance(0.1)
        self.assertEqual(self.fired, ["x"])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_scheduledWhileRunning(self) -> None:
        """
        A timer scheduled by a firing timer, due already, fires in the same advance; one due
        later is armed for.
        """
        def first() -> None:
            self.fired.append("first")
            self.service.callLater(0, self.record, "now")
            self.service.callLater(3, self.record, "later")

        self.service.callLater(1, first)
        self.clock.advance(1)
        self.assertEqual(self.fired, ["first", "now"])
        [call] = self.clock.getDelayedCalls()
        self.assertLessEqual(call.getTime(), 4)
        self.clock.advance(3)
        self.assertEqual(self.fired, ["first", "now", "later"])

    def test_cancelWhileRunning(self) -> None:
        """
        A timer cancelled by another that fires at the same time does not fire.
        """
        victim: list[Timer] = []

        def killer() -> None:
            victim[0].cancel()

        self.service.callLater(1, killer)
        victim.append(self.service.callLater(1, self.record, "victim"))
        self.clock.advance(1)
        self.assertEqual(self.fired, [])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_failingTimerLogged(self) -> None:
        """
        A timer that raises is logged, and the timers due with it still fire.
        """
        self.service.callLater(1, lambda: 1 / 0)
        self.service.callLater(1, self.record, "after")
        with capturedLogs() as events:
            self.clock.advance(1)
        self.assertEqual(self.fired, ["after"])
        [failure] = [e["log_failure"] for e in events if "log_failure" in e]
        self.assertTrue(failure.check(ZeroDivisionError))
        self.flushLoggedErrors(ZeroDivisionError)

    def test_scheduledByCollector(self) -> None:
        """
        A timer scheduled from a garbage collector callback, which may run in the middle of
        any allocation the service makes (while it compacts its heap, say), is never lost.
        """
        scheduled: list[Timer] = []

        def onCollection(phase: str, info: dict[str, int]) -> None:
            if phase == "stop" and len(scheduled) < 300:
                scheduled.append(self.service.callLater(1, self.record, len(scheduled)))

        thresholds = gc.get_threshold()
        self.addCleanup(gc.set_threshold, *thresholds)
        gc.callbacks.append(onCollection)
        self.addCleanup(gc.callbacks.remove, onCollection)
        timers = [self.service.callLater(0.5, lambda: None) for _ in range(3000)]
        gc.set_threshold(1, 1, 1)
        for timer in timers[:2900]:
            timer.cancel()
        gc.set_threshold(*thresholds)
        self.assertGreater(self.service.rebuilt, 0)
        self.clock.advance(2)
        self.assertEqual(len(self.fired), len(scheduled))
        self.assertGreater(len(scheduled), 0)

    def test_asTimerService(self) -> None:
        """
        L{asTimerService} returns a service as it is, and wraps any other clock.
        """
        self.assertIs(asTimerService(self.service), self.service)
        wrapped = asTimerService(self.clock)
        self.assertIsInstance(wrapped, TimerService)
        self.assertIs(wrapped.clock, self.clock)

    def test_repr(self) -> None:
        """
        A timer's repr shows its time and whether it fired or was cancelled.
        """
        timer = self.service.callLater(1, self.record)
        self.assertIn("<Timer at 1", repr(timer))
        timer.cancel()
        self.assertIn("cancelled", repr(timer))


class TimerServiceCostTests(SynchronousTestCase):
    """
    The cost of L{TimerService}, counted: comparisons grow with the logarithm of the number
    of pending timers, the heap stays bounded by the live timers, and the reactor's calls
    are never moved sooner.
    """

    def populated(self, n: int) -> tuple[CountingClock, TimerService, list[Timer], random.Random]:
        """
        @return: a service with C{n} pending timers at random times within an hour.
        """
        clock = CountingClock()
        service = TimerService(clock)
        rng = random.Random(n)
        timers = [service.callLater(rng.uniform(1, 3600), lambda: None) for _ in range(n)]
        return clock, service, timers, rng

    def comparisonsPerOperation(self, n: int) -> dict[str, float]:
        """
        Count the comparisons of 500 schedules, 500 moves sooner, 500 moves later and 500
        cancellations among C{n} pending timers.
        """
        clock, service, timers, rng = self.populated(n)
        result = {}

        def measure(name: str, operation: Callable[[int], Any]) -> None:
            _Comparisons.count = 0
            for i in range(500):
                operation(i)
            result[name] = _Comparisons.count / 500

        measure("schedule", lambda i: service.callLater(rng.uniform(1, 3600), lambda: None))
        measure("sooner", lambda i: timers[i].reset(rng.uniform(0.5, 1)))
        measure("later", lambda i: timers[1000 + i].reset(rng.uniform(3600, 7200)))
        measure("cancel", lambda i: timers[2000 + i].cancel())
        return result

    def test_logarithmicComparisons(self) -> None:
        """
        Scheduling, moving and cancelling a timer cost O(log n) comparisons: with 64 times
        more pending timers, each costs less than twice as many, and never more than a few
        per level of the heap.
        """
        small = self.comparisonsPerOperation(4_000)
        large = self.comparisonsPerOperation(256_000)
        for name in small:
            self.assertLessEqual(large[name], 4 * math.log2(256_000) + 8, (name, large))
            self.assertLess(large[name], 2 * small[name] + 4, (name, small, large))

    def test_neverResetsReactorCalls(self) -> None:
        """
        Moving timers sooner and scheduling earlier ones replaces the one reactor call; no
        reactor call is ever reset, and the clock never holds more than one.
        """
        clock, service, timers, rng = self.populated(2_000)
        for timer in timers[:500]:
            timer.reset(rng.uniform(0.001, 10))
            self.assertLessEqual(len(clock.getDelayedCalls()), 1)
        for _ in range(500):
            service.callLater(rng.uniform(0.001, 10), lambda: None)
            self.assertLessEqual(len(clock.getDelayedCalls()), 1)
        clock.advance(3600)
        self.assertEqual(clock.resets, 0)
        self.assertEqual(len(service), 0)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_heapBounded(self) -> None:
        """
        Cancelled and moved timers do not pile up: the heap holds at most twice the live
        timers (above a small floor), and compacting it costs O(1) heap entries per
        cancellation, amortised.
        """
        clock, service, timers, rng = self.populated(20_000)
        for timer in timers[:19_000]:
            timer.cancel()
        self.assertLessEqual(len(service._heap), max(2 * len(service), service.compactFloor + 1))
        self.assertLessEqual(service.rebuilt, 3 * 19_000)
        moved = timers[19_000:]
        for _ in range(20):
            for timer in moved:
                timer.reset(rng.uniform(0.5, 3600))
        self.assertLessEqual(len(service._heap), max(2 * len(service), service.compactFloor + 1))

    def test_laterTimersInBuckets(self) -> None:
        """
        Timers due later than two steps wait in buckets: cancelling or moving them leaves no
        entry behind in the heap, which holds only what is due soon; they still fire at
        their exact times, in order.
        """
        clock = Clock()
        service = TimerService(clock)
        fired: list[float] = []
        far = [service.callLater(1800 + i / 1000, fired.append, 1800 + i / 1000)
               for i in range(1000)]
        self.assertEqual(service._heap, [])
        for timer in far[:500]:
            timer.cancel()
        for timer in far[500:750]:
            timer.reset(600 + timer.getTime() / 1000)
        self.assertEqual(service._heap, [])
        self.assertEqual(len(service), 500)
        clock.advance(599)
        self.assertEqual(fired, [])
        clock.advance(1.9)
        clock.advance(0.1)
        clock.advance(1300)
        self.assertEqual(fired, sorted(fired))
        self.assertEqual(len(fired), 500)
        self.assertEqual(len(service), 0)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_pushesAndPops(self) -> None:
        """
        Each timer is pushed into the heap once (when scheduled if it is due soon, when its
        bucket is poured otherwise), and each fired timer popped once: firing n timers costs
        n pops, not a scan.
        """
        clock = Clock()
        service = TimerService(clock)
        for i in range(1000):
            service.callLater(i % 10, lambda: None)
        self.assertEqual(service.pushes, 200)
        self.assertEqual(len(service._buckets), 8)
        clock.advance(10)
        self.assertEqual(service.pushes, 1000)
        self.assertEqual(service.pops, 1000)
        self.assertEqual(len(service), 0)
        self.assertLessEqual(service.rearms, 11)


class HeldCallsCostTests(SynchronousTestCase):
    """
    Through the whole proxy stack, the timer work a new call costs does not grow with the
    number of calls held: counted in heap operations, not timed.
    """

    def timerWorkPerCall(self, held: int) -> float:
        """
        Hold C{held} timed calls, then run 50 short timed calls through the proxy and
        return the timer service's heap pushes, pops and compaction work per short call.
        """
        from sst.testing import CALLEE, ProxyHarness

        h = ProxyHarness(["--min-se", "90"])
        timers = h.service.timers
        for n in range(held):
            h.call("Session-Expires: 1800", callId="held-%d" % (n,), branch="z9hG4bK-h%d" % (n,))
            h.sent.clear()
            h.clock.advance(0.01)
        h.clock.advance(40)
        before = timers.pushes + timers.pops + timers.rebuilt

        for n in range(50):
            callId = "short-%d" % (n,)
            h.call("Session-Expires: 1800", callId=callId, branch="z9hG4bK-s%d" % (n,))
            h.fromCaller(h.inDialog("BYE", callId=callId))
            h.fromCallee(h.answer(h.lastRequestTo(CALLEE), 200))
            h.sent.clear()
            h.clock.advance(0.01)
        h.clock.advance(40)
        self.assertEqual(len(h.dialogs), held)
        return (timers.pushes + timers.pops + timers.rebuilt - before) / 50

    def test_flat(self) -> None:
        """
        A short call costs the same timer work with 2,000 calls held as with 20.
        """
        few = self.timerWorkPerCall(20)
        many = self.timerWorkPerCall(2000)
        self.assertGreater(few, 0)
        self.assertLessEqual(many, few * 1.1, (few, many))
