# -*- test-case-name: sst.test.test_gctuning -*-
"""
Tests for L{sst.gctuning}: the garbage collector's pause monitor and tuning, driven through a
fake C{gc} module and a L{Clock}, and their wiring into C{twistd sst}.  Nothing is timed: the
monitor reads a fake timer.
"""
from __future__ import annotations

import gc
import json
from typing import Any, Callable, Literal

from prometheus_client.parser import text_string_to_metric_families
from treq.testing import StubTreq
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import capturedLogs
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from sst.gctuning import (
    DEFAULT_TENURE_INTERVAL,
    DEFAULT_THRESHOLDS,
    CollectorTuning,
    GCPauseMonitor,
)
from sst.tap import Options, SIPService, makeService

_Callback = Callable[[Literal["start", "stop"], dict[str, int]], object]


class FakeGC:
    """
    A stand-in for the C{gc} module that records what is asked of it and changes nothing in
    the interpreter.

    @ivar calls: the calls made, oldest first, as tuples of the name and arguments
        (C{get_threshold} and C{get_freeze_count} included).
    @ivar thresholds: the current thresholds.
    @ivar frozen: what C{get_freeze_count} returns.
    """

    def __init__(self, thresholds: tuple[int, int, int] = (700, 10, 10)) -> None:
        self.callbacks: list[_Callback] = []
        self.calls: list[tuple[object, ...]] = []
        self.thresholds = thresholds
        self.frozen = 0

    def collect(self, generation: int = 2) -> int:
        """
        Record the call and run a collection of C{generation} for the callbacks.
        """
        self.calls.append(("collect", generation))
        self.runCollection(generation)
        return 0

    def freeze(self) -> None:
        self.calls.append(("freeze",))

    def unfreeze(self) -> None:
        self.calls.append(("unfreeze",))

    def get_freeze_count(self) -> int:
        self.calls.append(("get_freeze_count",))
        return self.frozen

    def get_threshold(self) -> tuple[int, int, int]:
        self.calls.append(("get_threshold",))
        return self.thresholds

    def set_threshold(self, threshold0: int, threshold1: int = 0, threshold2: int = 0,
                      /) -> None:
        self.calls.append(("set_threshold", threshold0, threshold1, threshold2))
        self.thresholds = (threshold0, threshold1, threshold2)

    def runCollection(self, generation: int, collected: int = 0) -> None:
        """
        Call every callback as the collector does around a collection of C{generation}.
        """
        for callback in list(self.callbacks):
            callback("start", {"generation": generation})
        for callback in list(self.callbacks):
            callback("stop", {"generation": generation, "collected": collected,
                              "uncollectable": 0})

    def changes(self) -> list[tuple[object, ...]]:
        """
        @return: the calls that change the collector's state (C{collect}, C{freeze},
            C{unfreeze}, C{set_threshold}), oldest first.
        """
        return [c for c in self.calls if c[0] in ("collect", "freeze", "unfreeze",
                                                  "set_threshold")]


class FakeTimer:
    """
    A timer that returns C{now}, which the test sets.
    """

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def parsed(*args: str) -> Options:
    """
    Parse C{args} as the options of C{twistd sst}.
    """
    options = Options()
    options.parseOptions(list(args))
    return options


class GCPauseMonitorTests(SynchronousTestCase):
    """
    L{GCPauseMonitor} times collections through the collector's callbacks.
    """

    def setUp(self) -> None:
        self.gc = FakeGC()
        self.timer = FakeTimer()
        self.monitor = GCPauseMonitor(timer=self.timer, gcModule=self.gc)

    def collection(self, generation: int, start: float, stop: float,
                   collected: int = 0) -> None:
        """
        Call the monitor as the collector would for a collection of C{generation} that
        starts and stops at these times.
        """
        self.timer.now = start
        self.monitor.gcCallback("start", {"generation": generation})
        self.timer.now = stop
        self.monitor.gcCallback("stop", {"generation": generation, "collected": collected,
                                         "uncollectable": 0})

    def test_pausePerGeneration(self) -> None:
        """
        Each pause, the time between the C{start} and C{stop} calls, counts in its
        generation; the snapshot gives it in milliseconds.
        """
        self.monitor.install()
        self.collection(0, 10.0, 10.0005)
        self.collection(2, 20.0, 20.120, collected=7)
        snapshot = self.monitor.snapshot()
        self.assertEqual((snapshot["gc_gen0_collections"], snapshot["gc_gen1_collections"],
                          snapshot["gc_gen2_collections"]), (1, 0, 1))
        self.assertAlmostEqual(snapshot["gc_gen0_pause_max_ms"], 0.5)
        self.assertAlmostEqual(snapshot["gc_gen2_pause_max_ms"], 120.0)
        self.assertAlmostEqual(snapshot["gc_gen1_pause_max_ms"], 0.0)
        self.assertEqual(snapshot["gc_collections"], 2)
        self.assertEqual(snapshot["gc_collected_objects"], 7)

    def test_maxLastTotal(self) -> None:
        """
        C{gc_pause_max_ms} is the longest pause of any generation, C{gc_pause_last_ms} the
        latest one and C{gc_pause_total_ms} their sum; each generation has its own.
        """
        self.monitor.install()
        self.collection(1, 0.0, 0.004)
        self.collection(2, 1.0, 1.030)
        self.collection(1, 2.0, 2.002)
        snapshot = self.monitor.snapshot()
        self.assertAlmostEqual(snapshot["gc_pause_max_ms"], 30.0)
        self.assertAlmostEqual(snapshot["gc_pause_last_ms"], 2.0)
        self.assertAlmostEqual(snapshot["gc_pause_total_ms"], 36.0)
        self.assertAlmostEqual(snapshot["gc_gen1_pause_max_ms"], 4.0)
        self.assertAlmostEqual(snapshot["gc_gen1_pause_last_ms"], 2.0)
        self.assertAlmostEqual(snapshot["gc_gen1_pause_total_ms"], 6.0)
        self.assertAlmostEqual(snapshot["gc_gen2_pause_last_ms"], 30.0)

    def test_unmatchedStop(self) -> None:
        """
        A C{stop} without a C{start} before it (the monitor was installed in between) is
        not counted, and neither is a second C{stop}.
        """
        self.monitor.install()
        self.monitor.gcCallback("stop", {"generation": 2})
        self.collection(0, 1.0, 1.001)
        self.monitor.gcCallback("stop", {"generation": 0})
        self.assertEqual(self.monitor.snapshot()["gc_collections"], 1)

    def test_unknownGeneration(self) -> None:
        """
        A generation the monitor does not know counts as a full collection.
        """
        self.monitor.install()
        self.collection(3, 1.0, 1.002)
        self.assertEqual(self.monitor.snapshot()["gc_gen2_collections"], 1)

    def test_snapshotKeys(self) -> None:
        """
        A snapshot has the overall and per-generation figures and the count of frozen
        objects, all of them numbers (so that C{/metrics} exports each as a gauge), zero
        before any collection.
        """
        self.gc.frozen = 1234
        snapshot = self.monitor.snapshot()
        expected = {"gc_pause_max_ms", "gc_pause_last_ms", "gc_pause_total_ms",
                    "gc_collections", "gc_collected_objects", "gc_frozen_objects"}
        for generation in (0, 1, 2):
            for suffix in ("collections", "pause_max_ms", "pause_last_ms", "pause_total_ms"):
                expected.add("gc_gen%d_%s" % (generation, suffix))
        self.assertEqual(set(snapshot), expected)
        for name, value in snapshot.items():
            self.assertIsInstance(value, (int, float), name)
            self.assertFalse(isinstance(value, bool), name)
        self.assertEqual(snapshot["gc_frozen_objects"], 1234)
        self.assertEqual(snapshot["gc_pause_max_ms"], 0)

    def test_frozenCountReused(self) -> None:
        """
        The count of frozen objects, a walk over all of them, is taken again only once it
        is older than C{freezeCountMaxAge} seconds.
        """
        monitor = GCPauseMonitor(timer=self.timer, gcModule=self.gc, freezeCountMaxAge=60)
        self.timer.now = 100.0
        self.gc.frozen = 10
        self.assertEqual(monitor.snapshot()["gc_frozen_objects"], 10)
        self.gc.frozen = 20
        self.timer.now = 159.9
        self.assertEqual(monitor.snapshot()["gc_frozen_objects"], 10)
        self.timer.now = 160.0
        self.assertEqual(monitor.snapshot()["gc_frozen_objects"], 20)
        self.assertEqual(self.gc.calls.count(("get_freeze_count",)), 2)

    def test_installIdempotent(self) -> None:
        """
        L{GCPauseMonitor.install} adds one callback however often it is called, and
        L{GCPauseMonitor.uninstall} removes it (again, harmlessly).
        """
        self.monitor.install()
        self.monitor.install()
        self.assertEqual(len(self.gc.callbacks), 1)
        self.assertTrue(self.monitor.installed)
        self.monitor.uninstall()
        self.monitor.uninstall()
        self.assertEqual(self.gc.callbacks, [])
        self.assertFalse(self.monitor.installed)

    def test_uninstallOwnCallbackOnly(self) -> None:
        """
        Uninstalling removes exactly this monitor's callback: another monitor's and any
        other function stay, in order.
        """
        def other(phase: str, info: dict[str, int]) -> None:
            pass

        another = GCPauseMonitor(timer=self.timer, gcModule=self.gc)
        self.gc.callbacks.append(other)
        another.install()
        self.monitor.install()
        self.gc.callbacks.append(other)
        self.monitor.uninstall()
        self.assertEqual(self.gc.callbacks, [other, another.gcCallback, other])

    def test_collectsOnlyWhileInstalled(self) -> None:
        """
        Collections are counted between L{GCPauseMonitor.install} and
        L{GCPauseMonitor.uninstall}; the figures stay after it, and a new install starts
        from zero.
        """
        self.gc.runCollection(0)
        self.monitor.install()
        self.gc.runCollection(1)
        self.monitor.uninstall()
        self.gc.runCollection(2)
        self.assertEqual(self.monitor.collections, [0, 1, 0])
        self.monitor.install()
        self.assertEqual(self.monitor.collections, [0, 0, 0])

    def test_realCollection(self) -> None:
        """
        Installed on the real C{gc} module, the monitor sees a real C{gc.collect()} as a
        full collection.
        """
        monitor = GCPauseMonitor()
        monitor.install()
        self.addCleanup(monitor.uninstall)
        gc.collect()
        snapshot = monitor.snapshot()
        self.assertGreaterEqual(snapshot["gc_gen2_collections"], 1)
        self.assertGreaterEqual(snapshot["gc_collections"], 1)


class CollectorTuningTests(SynchronousTestCase):
    """
    L{CollectorTuning} freezes at start-up, sets the thresholds, tenures every interval,
    and puts everything back when stopped.
    """

    def setUp(self) -> None:
        self.gc = FakeGC(thresholds=(700, 10, 10))
        self.clock = Clock()
        self.tuning = CollectorTuning(self.clock, gcModule=self.gc)

    def test_start(self) -> None:
        """
        L{CollectorTuning.start} collects, then freezes, then sets the thresholds, and
        schedules the first tenuring; it installs no collector callback.
        """
        self.tuning.start()
        self.assertEqual(self.gc.changes(), [("collect", 2), ("freeze",),
                                             ("set_threshold",) + DEFAULT_THRESHOLDS])
        self.assertEqual(self.gc.callbacks, [])
        self.assertTrue(self.tuning.running)
        self.assertEqual(self.tuning.freezes, 1)
        self.assertEqual([c.getTime() for c in self.clock.getDelayedCalls()],
                         [DEFAULT_TENURE_INTERVAL])

    def test_startLogs(self) -> None:
        """
        Starting logs the number of frozen objects and the thresholds, old and new.
        """
        self.gc.frozen = 4321
        with capturedLogs() as events:
            self.tuning.start()
        [event] = [e for e in events if "Garbage collector tuned" in e["log_format"]]
        self.assertEqual((event["frozen"], event["thresholds"], event["previous"]),
                         (4321, DEFAULT_THRESHOLDS, (700, 10, 10)))

    def test_startTwice(self) -> None:
        """
        Starting a started tuning changes nothing.
        """
        self.tuning.start()
        before = list(self.gc.calls)
        self.tuning.start()
        self.assertEqual(self.gc.calls, before)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)

    def test_tenuring(self) -> None:
        """
        Every interval, the tuning runs a full collection and then freezes what survived it,
        and nothing in between.
        """
        self.tuning.start()
        start = len(self.gc.changes())
        self.clock.advance(DEFAULT_TENURE_INTERVAL * 0.99)
        self.assertEqual(len(self.gc.changes()), start)
        self.clock.advance(DEFAULT_TENURE_INTERVAL * 0.01)
        self.assertEqual(self.gc.changes()[start:], [("collect", 2), ("freeze",)])
        self.clock.advance(DEFAULT_TENURE_INTERVAL)
        self.clock.advance(DEFAULT_TENURE_INTERVAL)
        self.assertEqual(self.gc.changes()[start:], [("collect", 2), ("freeze",)] * 3)
        self.assertEqual(self.tuning.freezes, 4)

    def test_stop(self) -> None:
        """
        Stopping restores the thresholds, unfreezes and tenures no more.
        """
        self.tuning.start()
        self.tuning.stop()
        self.assertEqual(self.gc.changes()[-2:], [("set_threshold", 700, 10, 10), ("unfreeze",)])
        self.assertFalse(self.tuning.running)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        before = list(self.gc.calls)
        self.clock.advance(DEFAULT_TENURE_INTERVAL * 10)
        self.assertEqual(self.gc.calls, before)

    def test_stopNotStarted(self) -> None:
        """
        Stopping a tuning that was never started changes nothing.
        """
        self.tuning.stop()
        self.assertEqual(self.gc.calls, [])

    def test_restart(self) -> None:
        """
        A stopped tuning can start again, and then restores the thresholds it found then.
        """
        self.tuning.start()
        self.tuning.stop()
        self.gc.thresholds = (900, 9, 9)
        self.tuning.start()
        self.tuning.stop()
        self.assertEqual(self.gc.thresholds, (900, 9, 9))

    def test_customThresholdsAndInterval(self) -> None:
        """
        The thresholds and the tenure interval can be chosen.
        """
        tuning = CollectorTuning(self.clock, thresholds=(5000, 5, 5), tenureInterval=2.0,
                                 gcModule=self.gc)
        tuning.start()
        self.assertIn(("set_threshold", 5000, 5, 5), self.gc.calls)
        self.clock.advance(1.9)
        self.assertEqual(tuning.freezes, 1)
        self.clock.advance(0.1)
        self.assertEqual(tuning.freezes, 2)
        tuning.stop()

    def test_badArguments(self) -> None:
        """
        Thresholds that are not three positive integers, and a tenure interval that is not
        positive, are refused.
        """
        for thresholds in [(0, 10, 10), (700, 0, 10), (700, 10)]:
            self.assertRaises(ValueError, CollectorTuning, self.clock, thresholds=thresholds,
                              gcModule=self.gc)
        for interval in (0.0, -1.0):
            self.assertRaises(ValueError, CollectorTuning, self.clock, tenureInterval=interval,
                              gcModule=self.gc)


class ServiceTests(SynchronousTestCase):
    """
    C{twistd sst} runs the monitor and, unless told not to, the tuning; the pauses reach
    C{/stats} and C{/metrics}.
    """

    def test_defaults(self) -> None:
        """
        By default the service has a monitor and a tuning; nothing is installed before the
        service starts.
        """
        options = parsed()
        self.assertFalse(options["no-gc-tuning"])
        service = SIPService(options, Clock())
        assert service.gcTuning is not None
        self.assertFalse(service.gcTuning.running)
        self.assertFalse(service.gcMonitor.installed)

    def test_noGCTuning(self) -> None:
        """
        C{--no-gc-tuning} leaves the collector alone: the service has no tuning, but still
        a monitor, and no C{gc_freezes} value.
        """
        service = SIPService(parsed("--no-gc-tuning"), Clock())
        self.assertIsNone(service.gcTuning)
        gauges = service.gauges()
        self.assertIn("gc_pause_max_ms", gauges)
        self.assertNotIn("gc_freezes", gauges)

    def test_gauges(self) -> None:
        """
        L{SIPService.gauges} includes the monitor's snapshot and the tuning's freezes.
        """
        service = SIPService(parsed(), Clock())
        gauges = service.gauges()
        for name in ["gc_pause_max_ms", "gc_pause_last_ms", "gc_pause_total_ms",
                     "gc_collections", "gc_frozen_objects", "gc_gen0_pause_max_ms",
                     "gc_gen2_pause_max_ms", "gc_gen2_collections", "gc_freezes"]:
            self.assertIn(name, gauges)
        self.assertEqual(gauges["server_transactions"], 0)

    def test_statsAndMetrics(self) -> None:
        """
        C{GET /stats} shows C{gc_pause_max_ms} and the other values, and C{/metrics} has
        them as C{sst_gc_*} gauges.
        """
        top = makeService(parsed("--http", "tcp:0:interface=127.0.0.1"), Clock())
        site: Any = top.getServiceNamed("http")
        # StubTreq sets its request functions at run time, unseen by mypy.
        stub: Any = StubTreq(site.factory.resource)
        response = self.successResultOf(stub.get("http://sst.invalid/stats"))
        document = json.loads(self.successResultOf(stub.content(response)))
        self.assertEqual(document["gc_pause_max_ms"], 0)
        self.assertIn("gc_gen2_pause_max_ms", document)
        self.assertIn("gc_freezes", document)
        response = self.successResultOf(stub.get("http://sst.invalid/metrics"))
        body = self.successResultOf(stub.content(response)).decode("utf-8")
        families = {f.name: f for f in text_string_to_metric_families(body)}
        for name in ["sst_gc_pause_max_ms", "sst_gc_gen2_pause_max_ms", "sst_gc_collections",
                     "sst_gc_frozen_objects", "sst_gc_freezes"]:
            self.assertEqual(families[name].type, "gauge", name)

    def test_startStopRealCollector(self) -> None:
        """
        Started, the service freezes the interpreter's objects, sets the thresholds, times
        collections and tenures every interval; stopped, it restores the thresholds,
        unfreezes and removes its callbacks.
        """
        thresholds = gc.get_threshold()
        frozen = gc.get_freeze_count()
        callbacks = list(gc.callbacks)

        def restore() -> None:
            if service.running:
                service.stopService()
            gc.set_threshold(*thresholds)
            if frozen == 0:
                gc.unfreeze()
            gc.callbacks[:] = callbacks

        reactor = MemoryReactorClock()
        service = SIPService(parsed("--listen", "tcp:127.0.0.1:0", "--state", "none",
                                    "--http", "none"), reactor)
        self.addCleanup(restore)
        service.startService()
        tuning = service.gcTuning
        assert tuning is not None
        self.assertEqual(gc.get_threshold(), DEFAULT_THRESHOLDS)
        self.assertGreater(gc.get_freeze_count(), frozen)
        self.assertTrue(service.gcMonitor.installed)
        before = gc.get_freeze_count()
        survivors = [[n] for n in range(1000)]
        reactor.advance(DEFAULT_TENURE_INTERVAL)
        self.assertEqual(tuning.freezes, 2)
        self.assertGreaterEqual(gc.get_freeze_count(), before + len(survivors))
        self.assertGreaterEqual(service.gcMonitor.snapshot()["gc_gen2_collections"], 1)
        service.stopService()
        self.assertEqual(gc.get_threshold(), thresholds)
        self.assertEqual(gc.get_freeze_count(), frozen)
        self.assertEqual(gc.callbacks, callbacks)
