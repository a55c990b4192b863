# -*- test-case-name: sst.test.test_gctuning -*-
"""
CPython's cyclic garbage collector: how long it pauses sst, and a policy that keeps the pauses
short however many dialogs sst holds.

A collection traverses every object the collector tracks in the generations it collects.  With
100,000 dialogs held that is about 600,000 objects, and each full collection stopped sst for
95-150 ms; under a steady load the young generations fill with the transactions that linger
for 32 s (Timers L, M and J), and collections stopped it for 150-450 ms.
L{GCPauseMonitor} times every collection through C{gc.callbacks} and reports the pauses (the
C{gc_*} values of C{GET /stats}, the C{sst_gc_*} gauges of C{/metrics}).  L{CollectorTuning}
keeps them short by I{tenuring}:

  1. At start-up it collects once and then freezes (C{gc.freeze()}) everything that exists:
     modules, Twisted, plugins, restored dialogs.  Frozen objects sit in the collector's
     permanent generation, which no collection traverses; reference counting still frees
     them.
  2. Every half second (L{DEFAULT_TENURE_INTERVAL}) it runs a full collection, which traverses
     only what is not frozen, that is what was created in the last half second and is still
     alive, and then freezes what survived.  A collection's pause therefore depends on the
     call rate, never on the number of dialogs held or of transactions lingering; and cyclic
     garbage is still reclaimed within half a second.
  3. It raises the threshold of the automatic young collections (L{DEFAULT_THRESHOLDS}),
     which between two tenurings only ever see young objects.

B{Caveat: frozen cyclic garbage is never reclaimed.}  A frozen object that later becomes part
of unreachable I{cyclic} garbage (a reference cycle nothing else points to) is never
examined again, so it is never freed.  Tenuring is correct because what sst keeps beyond a
second (dialogs, transactions, calls, bindings) is freed by reference counting when it ends:
transactions let go of their users and contexts, contexts of their branches, B2BUA legs
refer weakly to their calls (C{sst.test.test_cycles} runs call flows and checks that a
collection finds nothing).  Code added to sst, policy plugins included, must keep it so.
C{gc_frozen_objects} (C{gc.get_freeze_count()}) shows how many objects are frozen: under a
steady load it must level off; if it grows while C{active_dialogs} does not, frozen objects
are leaking, and C{--no-gc-tuning} turns the tuning off.

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
    "DEFAULT_TENURE_INTERVAL",
    "DEFAULT_FREEZE_COUNT_MAX_AGE",
]

#: What C{gc.callbacks} holds: called with C{"start"} or C{"stop"} and an info dictionary.
GCCallback = Callable[[Literal["start", "stop"], dict[str, int]], object]

#: The generations of CPython's collector: 0 (youngest) to 2 (oldest, "full" collections).
_GENERATIONS: Final = (0, 1, 2)

DEFAULT_THRESHOLDS: Final[tuple[int, int, int]] = (10000, 10, 10)
"""
The collection thresholds L{CollectorTuning} sets, instead of CPython's C{(700, 10, 10)}.

Generation 0 is collected when the tracked objects allocated minus those freed since its last
collection pass the first threshold.  Between two tenurings (L{DEFAULT_TENURE_INTERVAL}) only
the objects of the last interval are not frozen, so automatic collections have little to find:
at 10,000, a young collection runs after about 200 calls' worth of surviving objects instead
of 14, and traverses at most the objects of one interval.  The other two thresholds are
CPython's.
"""

DEFAULT_TENURE_INTERVAL: Final[float] = 0.5
"""
Seconds between two tenurings (a full collection, then a freeze of what survived it).  A
tenuring traverses what was created in the last interval and is still alive, about 50
objects per call in progress or lingering.
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
    tenure every C{tenureInterval} seconds (a full collection, then a freeze of its
    survivors).  See the module's documentation, and its caveat about cyclic garbage.

    @ivar thresholds: the thresholds set while started.
    @ivar tenureInterval: seconds between two tenurings.
    @ivar freezes: the freezes done since L{start}, the one at start-up included.
    """

    _log = Logger()

    def __init__(
        self,
        clock: IReactorTime,
        thresholds: tuple[int, int, int] = DEFAULT_THRESHOLDS,
        tenureInterval: float = DEFAULT_TENURE_INTERVAL,
        gcModule: GCModule = gc,
    ) -> None:
        """
        @param clock: schedules the tenurings.
        @param thresholds: the collection thresholds to set.
        @param tenureInterval: seconds between two tenurings.
        @param gcModule: the collector (the real C{gc} module unless testing).
        @raise ValueError: if a threshold or C{tenureInterval} is not positive.
        """
        if len(thresholds) != 3 or min(thresholds) < 1:
            raise ValueError("thresholds must be three positive integers, not %r"
                             % (thresholds,))
        if not tenureInterval > 0:
            raise ValueError("tenureInterval must be positive, not %r" % (tenureInterval,))
        self._clock = clock
        self._gc = gcModule
        self.thresholds = thresholds
        self.tenureInterval = tenureInterval
        self._previous: Optional[tuple[int, int, int]] = None
        self._next: Optional[IDelayedCall] = None
        self.freezes = 0

    @property
    def running(self) -> bool:
        """
        Whether L{start} was called and L{stop} not since.
        """
        return self._previous is not None

    def start(self) -> None:
        """
        Collect and freeze everything, set the thresholds and start tenuring.  Call it once
        the service has built everything it keeps.  Starting a started tuning does nothing.
        """
        if self._previous is not None:
            return
        gcModule = self._gc
        gcModule.collect()
        gcModule.freeze()
        self.freezes = 1
        self._previous = gcModule.get_threshold()
        gcModule.set_threshold(*self.thresholds)
        self._next = self._clock.callLater(self.tenureInterval, self._tenure)
        self._log.info(
            "Garbage collector tuned: {frozen} objects frozen, thresholds {thresholds} "
            "(were {previous}), survivors tenured every {interval} s",
            frozen=gcModule.get_freeze_count(), thresholds=self.thresholds,
            previous=self._previous, interval=self.tenureInterval)

    def stop(self) -> None:
        """
        Stop tenuring, restore the thresholds L{start} found, and unfreeze.
        C{gc.unfreeze()} thaws every frozen object, including any that something else froze.
        Stopping a tuning that is not started does nothing.
        """
        previous = self._previous
        if previous is None:
            return
        self._previous = None
        if self._next is not None and self._next.active():
            self._next.cancel()
        self._next = None
        self._gc.set_threshold(*previous)
        self._gc.unfreeze()

    def _tenure(self) -> None:
        """
        Collect what is not frozen yet, freeze what survived, and do it again later.
        """
        self._next = None
        if self._previous is None:
            return
        self._gc.collect()
        self._gc.freeze()
        self.freezes += 1
        self._next = self._clock.callLater(self.tenureInterval, self._tenure)


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
