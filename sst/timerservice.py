# -*- test-case-name: sst.test.test_timerservice -*-
"""
The one timer service every layer schedules through.

L{TimerService} keeps every deadline of the stack (transaction timers A to M, Timer C,
dialog expiries, registrar bindings, B2BUA refreshes and BYEs) over an injected
L{IReactorTime<twisted.internet.interfaces.IReactorTime>}, with one reactor C{DelayedCall}
armed for the earliest: what is due within two seconds in a binary heap, the rest in
one-second buckets.  Scheduling, cancelling and moving a timer cost O(log n) at most, O(1)
for the timers in buckets; nothing ever calls C{DelayedCall.reset()} towards an earlier
time, which in Twisted is a linear search of the reactor's heap.
"""

from __future__ import annotations

from heapq import heapify, heappop, heappush
from typing import Any, Callable, Final, Optional

from twisted.internet.error import AlreadyCalled, AlreadyCancelled
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from zope.interface import classImplements

__all__ = ["Timer", "TimerService", "asTimerService"]


_CALLED: Final[int] = -1
_CANCELLED: Final[int] = -2

#: A timer's C{_bucket} while it is not in a bucket (it is in the heap, or not pending).
_NO_BUCKET: Final[float] = -1.0


class Timer:
    """
    One scheduled call of a L{TimerService}: an L{IDelayedCall}.

    A pending timer is either in the service's heap, under its current sequence number, or
    in one of its buckets.  Cancelling a timer in the heap, or moving it sooner, leaves its
    heap entry behind, to be skipped when it surfaces (or dropped when the service compacts
    its heap); a timer in a bucket is taken out of it.
    """

    __slots__ = ("_service", "_when", "_seq", "_bucket", "_fn", "_args", "_kw")

    def __init__(
        self,
        service: "TimerService",
        when: float,
        seq: int,
        fn: Callable[..., object],
        args: tuple[object, ...],
        kw: Optional[dict[str, object]],
    ) -> None:
        self._service = service
        self._when = when
        self._seq = seq
        self._bucket: float = _NO_BUCKET
        self._fn: Optional[Callable[..., object]] = fn
        self._args = args
        self._kw = kw

    def getTime(self) -> float:
        """
        @return: when the timer fires, in the clock's seconds.
        """
        return self._when

    def active(self) -> bool:
        """
        @return: whether the timer has neither fired nor been cancelled.
        """
        return self._seq >= 0

    def cancel(self) -> None:
        """
        Stop the timer from firing.

        @raise AlreadyCancelled: if it was cancelled already.
        @raise AlreadyCalled: if it has fired.
        """
        if self._seq < 0:
            self._check()
        self._service._cancel(self)

    def stop(self) -> None:
        """
        Stop the timer from firing if it is pending; nothing happens once it has fired or
        been cancelled (what C{if t.active(): t.cancel()} does, in one call).
        """
        if self._seq >= 0:
            self._service._cancel(self)

    def reset(self, secondsFromNow: float) -> None:
        """
        Move the timer to C{secondsFromNow} from now, sooner or later: O(log n) either way.

        @raise AlreadyCancelled: if it was cancelled.
        @raise AlreadyCalled: if it has fired.
        """
        if self._seq < 0:
            self._check()
        service = self._service
        now = service._clock.seconds()
        service._move(self, now + secondsFromNow, now)

    def delay(self, secondsLater: float) -> None:
        """
        Move the timer C{secondsLater} later (sooner when negative).

        @raise AlreadyCancelled: if it was cancelled.
        @raise AlreadyCalled: if it has fired.
        """
        self._check()
        self._service._move(self, self._when + secondsLater)

    def _check(self) -> None:
        if self._seq == _CANCELLED:
            raise AlreadyCancelled()
        if self._seq == _CALLED:
            raise AlreadyCalled()

    def __repr__(self) -> str:
        state = {_CALLED: " called", _CANCELLED: " cancelled"}.get(self._seq, "")
        return "<Timer at %r %r%s>" % (self._when, self._fn, state)


class TimerService:
    """
    Every deadline of the stack, driven by one reactor C{DelayedCall}.

    It provides L{IReactorTime}, so any layer that schedules through an injected clock
    schedules through it; tests inject a L{Clock<twisted.internet.task.Clock>} underneath
    and advance that.

    Timers due soon (within two L{granularity} steps) are in a binary heap of
    C{(when, seq, timer)} entries, compared in C (a float, then a unique int): scheduling
    one is a push, O(log n) in the timers due soon.  Later ones (dialog expiries, Timers B,
    C, F, H, J, L, M, registrations) wait in buckets, one dictionary per L{granularity}
    step of time, with a heap of the bucket numbers: scheduling, cancelling and moving them
    cost O(1), and a bucket is poured into the heap as its time comes near, so the timers
    fire at their exact times, soonest first.  Cancelling a timer in the heap marks it;
    moving it later only changes its time (its entry is placed again when it surfaces);
    moving it sooner adds an entry.  Entries left behind are skipped as they surface, and
    the heap is rebuilt without them when they outnumber its live timers: as it holds only
    what is due soon, a rebuild is short.  Work is counted in L{pushes}, L{pops},
    L{rebuilt} and L{rearms}.

    @ivar pushes: heap pushes so far.
    @ivar pops: heap pops so far.
    @ivar rebuilt: heap entries examined by compactions so far.
    @ivar rearms: times the reactor call was (re)scheduled.
    """

    _log = Logger()

    #: The heap is never compacted below this many entries.
    compactFloor = 1024

    #: The width of a bucket, in seconds.
    granularity = 1.0

    def __init__(self, clock: IReactorTime) -> None:
        """
        @param clock: the reactor (or a test's clock) the service runs on.
        """
        self._clock = clock
        self._heap: list[tuple[float, int, Timer]] = []
        # A bucket's number is the float C{when // granularity} (a whole number), not
        # converted to an int: it only keys the buckets and orders them.
        self._buckets: dict[float, dict[Timer, None]] = {}
        self._bucketOrder: list[float] = []
        self._bucketed = 0
        self._seq = 0
        self._live = 0
        self._armed: Optional[IDelayedCall] = None
        self._armedAt = float("inf")
        self._running = False
        self.pushes = 0
        self.pops = 0
        self.rebuilt = 0
        self.rearms = 0

    @property
    def clock(self) -> IReactorTime:
        """
        The clock underneath.
        """
        return self._clock

    def __len__(self) -> int:
        """
        @return: how many timers are pending.
        """
        return self._live

    # -- IReactorTime --------------------------------------------------------------------

    def seconds(self) -> float:
        """
        @return: the clock's current time.
        """
        return self._clock.seconds()

    def callLater(self, delay: float, callable: Callable[..., Any], *args: object,
                  **kw: object) -> Timer:
        """
        Call C{callable(*args, **kw)} C{delay} seconds from now.

        @return: the timer, to cancel or move.
        """
        self._seq = seq = self._seq + 1
        now = self._clock.seconds()
        when = now + delay
        timer = Timer(self, when, seq, callable, args, kw or None)
        self._live += 1
        self._place(timer, when, now)
        return timer

    def stop(self) -> None:
        """
        Cancel every pending timer and the reactor call: the service is shutting down.
        Timers scheduled afterwards run as usual.
        """
        for timer in self.getDelayedCalls():
            timer.cancel()
        self._clear()

    def getDelayedCalls(self) -> list[Timer]:
        """
        @return: the pending timers, soonest first (O(n log n): for tests and inspection).
        """
        timers = {entry[2] for entry in self._heap if entry[2]._seq == entry[1]}
        for bucket in self._buckets.values():
            timers.update(bucket)
        return sorted(timers, key=lambda t: (t._when, t._seq))

    # -- placing, moving and cancelling --------------------------------------------------

    def _place(self, timer: Timer, when: float, now: float) -> None:
        """
        Put a pending timer, whose time is C{when}, in the heap if it is due soon, else in
        its bucket; have the reactor call come in time for it.
        """
        step = self.granularity
        index = when // step
        if index * step <= now + step:
            heappush(self._heap, (when, timer._seq, timer))
            self.pushes += 1
            wake = when
        else:
            bucket = self._buckets.get(index)
            if bucket is None:
                bucket = self._buckets[index] = {}
                heappush(self._bucketOrder, index)
            bucket[timer] = None
            timer._bucket = index
            self._bucketed += 1
            # Poured into the heap one step before it starts.
            wake = (index - 1) * step
        if wake < self._armedAt and not self._running:
            self._arm(wake)

    def _unbucket(self, timer: Timer) -> bool:
        """
        Take C{timer} out of its bucket, if it is in one.

        @return: whether it was.
        """
        index = timer._bucket
        if index == _NO_BUCKET:
            return False
        bucket = self._buckets.get(index)
        if bucket is not None:
            bucket.pop(timer, None)
        timer._bucket = _NO_BUCKET
        self._bucketed -= 1
        return True

    def _cancel(self, timer: Timer) -> None:
        index = timer._bucket
        if index != _NO_BUCKET:
            # What _unbucket does, without its call.
            bucket = self._buckets.get(index)
            if bucket is not None:
                bucket.pop(timer, None)
            timer._bucket = _NO_BUCKET
            self._bucketed -= 1
        timer._seq = _CANCELLED
        timer._fn = None
        timer._args = ()
        timer._kw = None
        self._live -= 1
        if self._live == 0 and not self._running:
            self._clear()
        elif len(self._heap) > self.compactFloor:
            self._maybeCompact()

    def _move(self, timer: Timer, when: float, now: Optional[float] = None) -> None:
        """
        Move a pending timer to C{when}.

        @param now: the clock's time, when the caller has just read it.
        """
        if timer._bucket != _NO_BUCKET:
            self._unbucket(timer)
            timer._when = when
            self._place(timer, when, self._clock.seconds() if now is None else now)
            return
        if when >= timer._when:
            # Its entry stays; it is placed again at the new time when it surfaces.
            timer._when = when
            return
        self._seq += 1
        timer._seq = self._seq
        timer._when = when
        self._place(timer, when, self._clock.seconds() if now is None else now)
        self._maybeCompact()

    def _maybeCompact(self) -> None:
        """
        Rebuild the heap without its stale entries once they outnumber its live timers.

        Not while timers fire (L{_run} holds the heap).  The new heap is built aside and the
        service's heap replaced by an empty one meanwhile: building it allocates, which may
        run a collection, whose callbacks (or finalisers) may schedule a timer, and that
        timer lands in the empty heap and is merged in, not lost.
        """
        heap = self._heap
        if (self._running or len(heap) <= self.compactFloor
                or len(heap) <= 2 * (self._live - self._bucketed)):
            return
        self.rebuilt += len(heap)
        self._heap = []
        live = [(t._when, seq, t) for (_, seq, t) in heap if t._seq == seq]
        live.extend(self._heap)
        heapify(live)
        self._heap = live

    def _clear(self) -> None:
        """
        Nothing is pending: drop the heap, the buckets and the reactor call, so the clock
        has nothing scheduled for us.
        """
        self._heap.clear()
        self._buckets.clear()
        self._bucketOrder.clear()
        self._bucketed = 0
        if self._armed is not None:
            self._armed.cancel()
            self._armed = None
        self._armedAt = float("inf")

    # -- running -------------------------------------------------------------------------

    def _arm(self, when: float) -> None:
        """
        Have the reactor call L{_run} at C{when}: one call, replaced (never moved sooner
        with C{reset}) when an earlier deadline comes.
        """
        if self._armed is not None:
            self._armed.cancel()
        self.rearms += 1
        self._armedAt = when
        self._armed = self._clock.callLater(max(0.0, when - self._clock.seconds()), self._run)

    def _pour(self, now: float) -> None:
        """
        Move the timers of every bucket that starts within a step of C{now} into the heap.
        """
        step = self.granularity
        order = self._bucketOrder
        heap = self._heap
        while order and order[0] * step <= now + step:
            bucket = self._buckets.pop(heappop(order), None)
            if not bucket:
                continue
            self._bucketed -= len(bucket)
            for timer in bucket:
                timer._bucket = _NO_BUCKET
                heappush(heap, (timer._when, timer._seq, timer))
            self.pushes += len(bucket)

    def _run(self) -> None:
        """
        Fire every timer that is due, soonest first, then arm for the next one.
        """
        self._armed = None
        self._armedAt = float("inf")
        self._running = True
        heap = self._heap
        clock = self._clock
        step = self.granularity
        order = self._bucketOrder
        try:
            now = clock.seconds()
            self._pour(now)
            while heap and heap[0][0] <= now:
                when, seq, timer = heappop(heap)
                self.pops += 1
                if timer._seq != seq:
                    continue
                if timer._when > when:
                    # Moved later: placed again at its new time.
                    self._place(timer, timer._when, now)
                    continue
                fn, args, kw = timer._fn, timer._args, timer._kw
                timer._seq = _CALLED
                timer._fn = None
                timer._args = ()
                timer._kw = None
                self._live -= 1
                assert fn is not None
                try:
                    if kw:
                        fn(*args, **kw)
                    else:
                        fn(*args)
                except Exception:
                    self._log.failure("Timer {fn!r} failed", fn=fn)
                now = clock.seconds()
                if order and order[0] * step <= now + step:
                    self._pour(now)
        finally:
            self._running = False
        if self._live == 0:
            self._clear()
            return
        self._maybeCompact()
        self._skipStale()
        wake = float("inf")
        if self._heap:
            wake = self._heap[0][0]
        if order:
            wake = min(wake, (order[0] - 1) * step)
        if wake != float("inf"):
            self._arm(wake)

    def _skipStale(self) -> None:
        """
        Pop the entries at the top of the heap that stand for no pending timer, so that the
        reactor call is armed for a live one.
        """
        heap = self._heap
        now = self._clock.seconds()
        while heap:
            when, seq, timer = heap[0]
            if timer._seq == seq and timer._when == when:
                return
            heappop(heap)
            self.pops += 1
            if timer._seq == seq:
                self._running = True
                try:
                    self._place(timer, timer._when, now)
                finally:
                    self._running = False


# Declared here rather than with @implementer, which would make them Python classes when the
# module is compiled (mypyc); they stay native, with their attributes in C structs.
classImplements(Timer, IDelayedCall)
classImplements(TimerService, IReactorTime)


def asTimerService(clock: IReactorTime) -> TimerService:
    """
    @return: C{clock} itself when it is a L{TimerService}, else a new service over it (a
        layer built on its own, as in a unit test, still schedules through a service).
    """
    if isinstance(clock, TimerService):
        return clock
    return TimerService(clock)
