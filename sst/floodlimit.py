# -*- test-case-name: sst.test.test_floodlimit -*-
"""
Flood limits per source address, as Kamailio's C{pike} module keeps them: a source that
sends more than C{limit} requests within a sliding C{window} is blocked for C{banTime}
seconds; its requests are dropped, or answered C{503 Service Unavailable} with a
C{Retry-After}.  Responses are never limited (they answer what sst sent), and sources in
the trusted networks never are.

The window slides by the usual two-bucket estimate: the count of the current window plus
the previous window's count weighted by how much of it still overlaps the sliding window.
That keeps two integers per active source, and a source that falls silent for two windows
is forgotten, with no timer: the buckets turn over when a request finds them stale.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from sst.relay import IPNetwork, inNetworks
from sst.stats import Stats

__all__ = ["FloodLimits", "FloodLimiter", "FLOOD_ACTIONS"]

#: What happens to a blocked source's requests.
FLOOD_ACTIONS = ("drop", "503")


@dataclass(frozen=True)
class FloodLimits:
    """
    The C{--flood-*} options.

    @ivar limit: requests one source may send within C{window}.
    @ivar window: the sliding window, in seconds.
    @ivar banTime: how long an offender stays blocked, in seconds.
    @ivar action: C{"drop"} or C{"503"} (see L{FLOOD_ACTIONS}).
    @ivar trusted: networks never limited (C{--trusted-network}).
    """

    limit: int
    window: float = 2.0
    banTime: float = 60.0
    action: str = "drop"
    trusted: Sequence[IPNetwork] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError("the flood limit must be at least 1 request")
        if self.window <= 0 or self.banTime <= 0:
            raise ValueError("the flood window and ban time must be positive")
        if self.action not in FLOOD_ACTIONS:
            raise ValueError("the flood action must be drop or 503, not %r" % (self.action,))


class FloodLimiter:
    """
    Counts requests per source host and blocks those over the limit.

    @ivar banned: the blocked hosts, each with the time its block ends (a block that has
        ended is forgotten at the next turn of the window, or when its host sends again).
    """

    _log = Logger()

    #: Exempt hosts remembered at most, so that a spoofed flood cannot grow the cache.
    maxExempt = 4096

    def __init__(self, limits: FloodLimits, clock: IReactorTime, stats: Stats) -> None:
        self.limits = limits
        self.clock = clock
        self.stats = stats
        self.banned: dict[str, float] = {}
        self._current: dict[str, int] = {}
        self._previous: dict[str, int] = {}
        self._start = clock.seconds()
        self._exempt: set[str] = set()

    def admit(self, host: str) -> bool:
        """
        Count one request from C{host}.

        @return: whether to handle it; C{False} when C{host} is blocked, or has just gone
            over the limit and is blocked from now on.
        """
        now = self.clock.seconds()
        limits = self.limits
        elapsed = now - self._start
        if elapsed >= limits.window:
            self._turnOver(now)
            elapsed = now - self._start
        until = self.banned.get(host)
        if until is not None:
            if now < until:
                self.stats.increment("flood_blocked")
                return False
            del self.banned[host]
        count = self._current.get(host, 0) + 1
        self._current[host] = count
        if count <= limits.limit:
            # Cheap case first: under the limit in this window alone; the previous window
            # can only add to it.
            previous = self._previous.get(host)
            if previous is None:
                return True
            estimate = count + previous * (1.0 - elapsed / limits.window)
            if estimate <= limits.limit:
                return True
        else:
            estimate = float(count)
        if self._isExempt(host):
            return True
        self.banned[host] = now + limits.banTime
        self.stats.increment("flood_offenders")
        self.stats.increment("flood_blocked")
        self._log.warn("Flood from {host}: about {count} requests in {window} s; blocked "
                       "for {ban} s", host=host, count=int(estimate), window=limits.window,
                       ban=limits.banTime)
        return False

    def blockedNow(self) -> int:
        """
        @return: how many hosts are blocked at this moment (not counting blocks that have
            ended but are not yet forgotten).
        """
        now = self.clock.seconds()
        return sum(1 for until in self.banned.values() if until > now)

    def retryAfter(self, host: str) -> int:
        """
        @return: whole seconds until C{host}'s block ends (at least 1).
        """
        until = self.banned.get(host, 0.0)
        return max(1, int(until - self.clock.seconds() + 0.999))

    def _turnOver(self, now: float) -> None:
        """
        Start a new window: the current one becomes the previous one, or both are emptied
        when a whole window went by without a request; blocks that ended are forgotten.
        """
        window = self.limits.window
        steps = int((now - self._start) // window)
        self._previous = self._current if steps == 1 else {}
        self._current = {}
        self._start += steps * window
        if self.banned:
            self.banned = {host: until for host, until in self.banned.items() if until > now}

    def _isExempt(self, host: str) -> bool:
        """
        @return: whether C{host} is in a trusted network (checked only for hosts that go
            over the limit, and remembered).
        """
        if host in self._exempt:
            return True
        if not inNetworks(host, self.limits.trusted):
            return False
        if len(self._exempt) >= self.maxExempt:
            self._exempt.clear()
        self._exempt.add(host)
        return True


def floodLimiterFor(limits: Optional[FloodLimits], clock: IReactorTime,
                    stats: Stats) -> Optional[FloodLimiter]:
    """
    @return: a limiter for C{limits}, or L{None} when flood limits are off.
    """
    return None if limits is None else FloodLimiter(limits, clock, stats)
