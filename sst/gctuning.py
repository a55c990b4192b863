# -*- test-case-name: sst.test.test_gctuning -*-
"""
CPython's cyclic garbage collector: how long it pauses sst, and a policy that keeps the pauses
short while sst holds many dialogs.

A full (generation 2) collection traverses every object the collector tracks.  With 100,000
dialogs held that is about 630,000 objects, and each full collection stops sst for 95-150 ms.
L{GCPauseMonitor} times every collection through C{gc.callbacks} and reports the pauses (the
C{gc_*} values of C{GET /stats}, the C{sst_gc_*} gauges of C{/metrics}).  L{CollectorTuning}
keeps collections short:

  1. At start-up it collects once and then freezes (C{gc.freeze()}) everything that exists:
     modules, Twisted, plugins, restored dialogs.  Frozen objects sit in the collector's
     permanent generation, which no collection traverses.
  2. It sets the collection thresholds (L{DEFAULT_THRESHOLDS}).
  3. With C{freezeSurvivors}, it freezes again after each full collection, so that what
     survived it (held dialogs, registrations, calls in progress) is not traversed by the
     next one.  A full collection then traverses only what was promoted to the oldest
     generation since the previous one, so its pause depends on the rate at which
     long-lived objects are created, not on how many are held.

B{Caveat: frozen cyclic garbage is never reclaimed.}  Freezing is safe only for objects that
are freed by reference counting: a frozen object whose last reference is dropped is freed at
once, frozen or not.  A frozen object that later becomes part of unreachable I{cyclic}
garbage (a reference cycle nothing else points to) is never examined again, so it is never
freed: that memory leaks until the process exits.  Step 3 freezes whatever is alive at that
moment, calls in progress included, so it is only correct while the objects of a call are
freed by reference counting when the call ends.  Dialogs are (100,000 frozen dialogs, 600,000
objects, are all freed when their dialogs end).  The proxy's transactions are not yet: a
L{ServerTransaction<sst.transaction.ServerTransaction>} and its
L{ResponseContext<sst.proxy.ResponseContext>}, a
L{ClientTransaction<sst.transaction.ClientTransaction>} and its L{Branch<sst.proxy.Branch>},
and a context and its branches refer to each other, so each proxied call leaves about 55
objects that only the cyclic collector frees, and step 3 leaks about 51 of them (some 15 KB)
per call.  That is why C{twistd sst} does step 3 only with C{--gc-freeze-survivors}.  The
C{gc_frozen_objects} value (C{gc.get_freeze_count()}) shows how many objects are frozen:
under a steady load it must level off.  If it grows while C{active_dialogs} does not, frozen
objects are leaking.

The collector is reached only through a L{GCModule}, the real C{gc} module by default, so
tests drive both classes with a fake and leave the interpreter's collector alone.
"""

from __future__ import annotations

import gc
import time
from typing import Callable, Final, Literal, Optional, Protocol

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

__all__ = [
    "GCModule",
    "GCPauseMonitor",
    "CollectorTuning",
    "DEFAULT_THRESHOLDS",
    "DEFAULT_CHECK_INTERVAL",
    "DEFAULT_FREEZE_COUNT_MAX_AGE",
]

#: What C{gc.callbacks} holds: called with C{"start"} or C{"stop"} and an info dictionary.
GCCallback = Callable[[Literal["start", "stop"], dict[str, int]], object]

#: The generations of CPython's collector: 0 (youngest) to 2 (oldest, "full" collections).
_GENERATIONS: Final = (0, 1, 2)

DEFAULT_THRESHOLDS: Final[tuple[int, int, int]] = (1000, 10, 2)
"""
The collection thresholds L{CollectorTuning} sets, instead of CPython's C{(700, 10, 10)}.

  - Generation 0 is collected when the tracked objects allocated minus those freed since its
    last collection pass the first threshold.  At 700, a collection often runs in the middle
    of the handling of a SIP message and promotes its parsed headers and the Deferreds in
    flight to an older generation although reference counting frees them a moment later.
    At 1000, fewer of them are promoted and there are 30% fewer young collections, each of
    which still traverses only about 1000 objects (well under 1 ms).  It is not raised
    further because, once survivors are frozen, a full collection traverses what was
    promoted since the previous one, roughly the product of the three thresholds
    (1001 x 11 x 3 = 33,000 objects, about 7 ms, while every object allocated survives):
    at (10000, 10, 10) that product would be 1.3 million objects, far over 50 ms.
  - Generation 1 is collected every 10 young collections, as by default: it traverses about
    11,000 objects at most, 2-3 ms.
  - Generation 2 (a full collection) runs every 2 generation 1 collections instead of 10.
    Full collections keep running, so cyclic garbage is still reclaimed, and, with
    survivors frozen after each one, they are short and frequent rather than long and rare:
    the total time spent in them does not grow, as each object is traversed by one full
    collection before it is frozen.  Proxying 300 calls/s (transactions live 32 s), full
    collections took 20-30 ms (at most 41 ms) every 1.6 s of traffic, against 0.6-0.8 s
    every 5 s with CPython's defaults.  CPython also skips a full collection until the
    objects promoted since the last one exceed a quarter of those that survived it; as the
    survivors are frozen, that rule no longer postpones full collections for long.

Without the freezing of survivors (C{freezeSurvivors=False}) these thresholds make little
difference: full collections then traverse every object created since start-up.
"""

DEFAULT_CHECK_INTERVAL: Final[float] = 0.1
"""
Seconds between two checks by L{CollectorTuning} for a full collection whose survivors are
to be frozen: much less than the time between two full collections (about a second at 300
calls/s), so that the next one does not traverse the same survivors again.
"""

DEFAULT_FREEZE_COUNT_MAX_AGE: Final[float] = 60.0
"""
Seconds for which L{GCPauseMonitor.snapshot} reuses the count of frozen objects.
C{gc.get_freeze_count()} walks the list of frozen objects, one cache miss each: it takes
25-40 ms with 630,000 frozen objects (100,000 dialogs) on the reference machine, a stall as
long as the collections this module avoids, so it is not repeated at each scrape.
"""


class GCModule(Protocol):
    """
    The part of the C{gc} module that this module uses.  The real C{gc} module provides it;
    tests pass a fake.
    """

    #: The functions the collector calls before and after each collection.
    callbacks: list[GCCallback]

    def collect(self, generation: int = 2) -> int:
        """
        Run a collection of C{generation} and the younger ones.

        @return: how many unreachable objects were found.
        """

    def freeze(self) -> None:
        """
        Move every tracked object to the permanent generation, which no collection traverses.
        """

    def unfreeze(self) -> None:
        """
        Move every object of the permanent generation back to the oldest generation.
        """

    def get_freeze_count(self) -> int:
        """
        @return: how many objects are in the permanent generation.
        """

    def get_threshold(self) -> tuple[int, int, int]:
        """
        @return: the three collection thresholds.
        """

    def set_threshold(self, threshold0: int, threshold1: int = 0, threshold2: int = 0,
                      /) -> None:
        """
        Set the collection thresholds.
        """


class GCPauseMonitor:
    """
    Times every collection of the cyclic garbage collector.

    Once installed, it is called by the collector at the start and at the end of each
    collection, reads C{timer} both times, and keeps per generation the number of
    collections, the total, longest and last pause, and the objects found unreachable.  A
    pause includes the other callbacks the collector calls between this one's two calls.

    @ivar collections: collections per generation since L{install}.
    @ivar pauseTotal: seconds paused per generation since L{install}.
    @ivar pauseMax: the longest pause per generation since L{install}, in seconds.
    @ivar pauseLast: the last pause per generation, in seconds.
    @ivar collected: unreachable objects found per generation since L{install}.
    @ivar lastPause: the last pause of any generation, in seconds.
    """

    def __init__(self, timer: Callable[[], float] = time.perf_counter,
                 gcModule: GCModule = gc,
                 freezeCountMaxAge: float = DEFAULT_FREEZE_COUNT_MAX_AGE) -> None:
        """
        @param timer: returns a time in seconds; only differences between two readings are
            used.
        @param gcModule: the collector (the real C{gc} module unless testing).
        @param freezeCountMaxAge: seconds (on C{timer}) for which L{snapshot} reuses the
            count of frozen objects; 0 counts them at every snapshot.
        """
        self._timer = timer
        self._gc = gcModule
        self.freezeCountMaxAge = freezeCountMaxAge
        self._frozen: Optional[tuple[float, int]] = None
        self._startedAt: Optional[float] = None
        self._installed = False
        self.collections = [0 for _ in _GENERATIONS]
        self.pauseTotal = [0.0 for _ in _GENERATIONS]
        self.pauseMax = [0.0 for _ in _GENERATIONS]
        self.pauseLast = [0.0 for _ in _GENERATIONS]
        self.collected = [0 for _ in _GENERATIONS]
        self.lastPause = 0.0

    @property
    def installed(self) -> bool:
        """
        Whether the monitor is in the collector's callbacks.
        """
        return self._installed

    def install(self) -> None:
        """
        Start timing collections, from zero.  Installing an installed monitor does nothing.
        """
        if self._installed:
            return
        for generation in _GENERATIONS:
            self.collections[generation] = 0
            self.pauseTotal[generation] = 0.0
            self.pauseMax[generation] = 0.0
            self.pauseLast[generation] = 0.0
            self.collected[generation] = 0
        self.lastPause = 0.0
        self._startedAt = None
        self._gc.callbacks.append(self.gcCallback)
        self._installed = True

    def uninstall(self) -> None:
        """
        Stop timing collections; the figures so far remain.  Only this monitor's callback is
        removed.  Uninstalling a monitor that is not installed does nothing.
        """
        if not self._installed:
            return
        self._installed = False
        _removeCallback(self._gc, self.gcCallback)

    def gcCallback(self, phase: str, info: dict[str, int]) -> None:
        """
        What the collector calls: C{phase} is C{"start"} before a collection and C{"stop"}
        after it, and C{info["generation"]} is the oldest generation collected.

        It allocates no tracked object, so it cannot itself trigger a collection.

        @param phase: C{"start"} or C{"stop"}.
        @param info: the collector's information about the collection.
        """
        if phase == "start":
            self._startedAt = self._timer()
            return
        if phase != "stop" or self._startedAt is None:
            return
        pause = self._timer() - self._startedAt
        self._startedAt = None
        generation = info.get("generation", 2)
        if generation not in _GENERATIONS:
            generation = 2
        self.collections[generation] += 1
        self.pauseTotal[generation] += pause
        self.pauseLast[generation] = pause
        if pause > self.pauseMax[generation]:
            self.pauseMax[generation] = pause
        self.collected[generation] += info.get("collected", 0)
        self.lastPause = pause

    def snapshot(self) -> dict[str, float | int]:
        """
        The figures for the operations API.  Pauses are in milliseconds.

        C{gc_frozen_objects} is counted at most once every C{freezeCountMaxAge} seconds
        (see L{DEFAULT_FREEZE_COUNT_MAX_AGE}); in between, the last count is reported.

        @return: C{gc_pause_max_ms} (the longest pause of any generation since L{install}),
            C{gc_pause_last_ms}, C{gc_pause_total_ms}, C{gc_collections},
            C{gc_collected_objects} (unreachable objects found), C{gc_frozen_objects}, and
            per generation N C{gc_genN_collections}, C{gc_genN_pause_max_ms},
            C{gc_genN_pause_last_ms} and C{gc_genN_pause_total_ms}.
        """
        snapshot: dict[str, float | int] = {
            "gc_pause_max_ms": max(self.pauseMax) * 1000.0,
            "gc_pause_last_ms": self.lastPause * 1000.0,
            "gc_pause_total_ms": sum(self.pauseTotal) * 1000.0,
            "gc_collections": sum(self.collections),
            "gc_collected_objects": sum(self.collected),
            "gc_frozen_objects": self.frozenObjects(),
        }
        for generation in _GENERATIONS:
            prefix = "gc_gen%d_" % (generation,)
            snapshot[prefix + "collections"] = self.collections[generation]
            snapshot[prefix + "pause_max_ms"] = self.pauseMax[generation] * 1000.0
            snapshot[prefix + "pause_last_ms"] = self.pauseLast[generation] * 1000.0
            snapshot[prefix + "pause_total_ms"] = self.pauseTotal[generation] * 1000.0
        return snapshot

    def frozenObjects(self) -> int:
        """
        @return: C{gc.get_freeze_count()}, counted again only if the last count is older
            than C{freezeCountMaxAge} seconds.
        """
        now = self._timer()
        if self._frozen is None or not 0 <= now - self._frozen[0] < self.freezeCountMaxAge:
            self._frozen = (now, self._gc.get_freeze_count())
        return self._frozen[1]


class CollectorTuning:
    """
    The policy that keeps collections short: freeze at start-up, set the thresholds, and
    (with C{freezeSurvivors}) freeze again after each full collection.  See the module's
    documentation, and its caveat about cyclic garbage.

    A collector callback notes each full collection, and a check that runs every
    C{checkInterval} seconds on C{clock} does the freeze.  The callback does not schedule
    the freeze itself: the collector calls it from whatever allocation triggered the
    collection, which may be in the middle of the clock's own code, and a L{TimerService
    <sst.timers.TimerService>} that is rebuilding its heap then loses the timer (15% of them
    in a trial with frequent collections).  So the callback only sets a flag.

    @ivar thresholds: the thresholds set while started.
    @ivar freezeSurvivors: whether to freeze after each full collection.
    @ivar checkInterval: seconds between two checks for a freeze to do.
    @ivar freezes: the freezes done since L{start}, the one at start-up included.
    @ivar fullCollections: the full collections seen since L{start}, the one at start-up
        excluded (counted only with C{freezeSurvivors}).
    """

    _log = Logger()

    def __init__(
        self,
        clock: IReactorTime,
        thresholds: tuple[int, int, int] = DEFAULT_THRESHOLDS,
        checkInterval: float = DEFAULT_CHECK_INTERVAL,
        gcModule: GCModule = gc,
        freezeSurvivors: bool = True,
    ) -> None:
        """
        @param clock: schedules the checks.
        @param thresholds: the collection thresholds to set.
        @param checkInterval: seconds between two checks for a freeze to do.
        @param freezeSurvivors: whether to freeze after each full collection (safe only if
            the objects alive at any moment are freed by reference counting).
        @param gcModule: the collector (the real C{gc} module unless testing).
        @raise ValueError: if a threshold is not positive or C{checkInterval} is negative.
        """
        if len(thresholds) != 3 or min(thresholds) < 1:
            raise ValueError("thresholds must be three positive integers, not %r"
                             % (thresholds,))
        if not checkInterval >= 0:
            raise ValueError("checkInterval must not be negative, not %r" % (checkInterval,))
        self._clock = clock
        self._gc = gcModule
        self.thresholds = thresholds
        self.checkInterval = checkInterval
        self.freezeSurvivors = freezeSurvivors
        self._previous: Optional[tuple[int, int, int]] = None
        self._froze = False
        self._freezeDue = False
        self._check: Optional[IDelayedCall] = None
        self.freezes = 0
        self.fullCollections = 0

    @property
    def running(self) -> bool:
        """
        Whether L{start} was called and L{stop} not since.
        """
        return self._previous is not None

    def start(self) -> None:
        """
        Collect and freeze everything, set the thresholds and, with C{freezeSurvivors}, start
        freezing after each full collection.  Call it once the service has built everything
        it keeps.  Starting a started tuning does nothing.
        """
        if self._previous is not None:
            return
        gcModule = self._gc
        gcModule.collect()
        gcModule.freeze()
        self._froze = True
        self.freezes = 1
        self.fullCollections = 0
        self._previous = gcModule.get_threshold()
        gcModule.set_threshold(*self.thresholds)
        self._freezeDue = False
        if self.freezeSurvivors:
            gcModule.callbacks.append(self.gcCallback)
            self._scheduleCheck()
        self._log.info(
            "Garbage collector tuned: {frozen} objects frozen, thresholds {thresholds} "
            "(were {previous}), survivors of full collections {survivors}",
            frozen=gcModule.get_freeze_count(), thresholds=self.thresholds,
            previous=self._previous,
            survivors="frozen" if self.freezeSurvivors else "not frozen")

    def stop(self) -> None:
        """
        Stop freezing, restore the thresholds L{start} found, and unfreeze what is frozen if
        L{start} froze.  C{gc.unfreeze()} thaws every frozen object, including any that
        something else froze.  Stopping a tuning that is not started does nothing.
        """
        previous = self._previous
        if previous is None:
            return
        self._previous = None
        _removeCallback(self._gc, self.gcCallback)
        if self._check is not None:
            if self._check.active():
                self._check.cancel()
            self._check = None
        self._freezeDue = False
        self._gc.set_threshold(*previous)
        if self._froze:
            self._froze = False
            self._gc.unfreeze()

    def gcCallback(self, phase: str, info: dict[str, int]) -> None:
        """
        What the collector calls: note that a full collection just ended, for the next check
        to freeze its survivors.  It does nothing else (see the class documentation).

        @param phase: C{"start"} or C{"stop"}.
        @param info: the collector's information; C{info["generation"]} is the oldest
            generation collected.
        """
        if phase == "stop" and info.get("generation") == 2:
            self.fullCollections += 1
            self._freezeDue = True

    def _scheduleCheck(self) -> None:
        self._check = self._clock.callLater(self.checkInterval, self._checkFreeze)

    def _checkFreeze(self) -> None:
        """
        Freeze if a full collection ended since the last check, then check again later.
        """
        self._check = None
        if self._previous is None:
            return
        if self._freezeDue:
            self._freezeDue = False
            self._gc.freeze()
            self.freezes += 1
        self._scheduleCheck()


def _removeCallback(gcModule: GCModule, callback: GCCallback) -> None:
    """
    Remove C{callback}, a bound method, from the collector's callbacks.  Bound methods are
    equal only when they bind the same function to the same object, so the callbacks of
    other objects stay.
    """
    callbacks = gcModule.callbacks
    for index in range(len(callbacks) - 1, -1, -1):
        if callbacks[index] == callback:
            del callbacks[index]
            return
