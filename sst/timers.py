# -*- test-case-name: sst.test.test_timers -*-
"""
Timer values and the session-interval arithmetic (the timer service that runs them is
L{sst.timerservice}).

L{TimerConfig} derives the transaction timers of RFC 3261 Table 4 (and
RFC 6026's timers L and M) from T1, T2 and T4, in one place.  The functions
L{refreshAt}, L{byeMargin} and L{nonRefresherByeAt} implement the session
interval arithmetic of RFC 4028.

@see: U{https://www.rfc-editor.org/rfc/rfc3261#appendix-A}
@see: U{https://www.rfc-editor.org/rfc/rfc4028#section-10}
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Final

__all__ = [
    "MIN_SE_FLOOR",
    "DEFAULT_SESSION_EXPIRES",
    "TimerConfig",
    "nextRetransmit",
    "refreshAt",
    "byeMargin",
    "nonRefresherByeAt",
]

MIN_SE_FLOOR: Final[int] = 90
"""
The absolute minimum session interval, in seconds (RFC 4028 section 5).
"""

DEFAULT_SESSION_EXPIRES: Final[int] = 1800
"""
The recommended session interval, in seconds (RFC 4028 section 4).
"""

_MAX_BYE_MARGIN: Final[float] = 32.0


@dataclass(frozen=True)
class TimerConfig:
    """
    The base timer values of RFC 3261 section 17 and the timers derived from
    them.

    Timers that restart with a doubling interval (A, E, G) give their
    I{initial} value; use L{nextRetransmit} for the following ones.  Timers
    that are zero over a reliable transport take a C{reliable} argument.
    The others are computed once (the configuration cannot change): the
    transaction layer reads them on every transaction.

    @ivar t1: RTT estimate, in seconds.
    @ivar t2: the maximum retransmit interval for non-INVITE requests and
        INVITE responses, in seconds.
    @ivar t4: the maximum time a message remains in the network, in seconds.
    """

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0

    def __post_init__(self) -> None:
        """
        Check that the base values are usable.

        @raise ValueError: if C{t1} or C{t4} is not positive, or C{t2} is less
            than C{t1}.
        """
        if not self.t1 > 0:
            raise ValueError(f"T1 must be positive, not {self.t1!r}")
        if not self.t2 >= self.t1:
            raise ValueError(
                f"T2 ({self.t2!r}) must not be less than T1 ({self.t1!r})"
            )
        if not self.t4 > 0:
            raise ValueError(f"T4 must be positive, not {self.t4!r}")

    @cached_property
    def A(self) -> float:
        """
        Timer A: initial INVITE request retransmit interval (UDP only).
        """
        return self.t1

    @cached_property
    def B(self) -> float:
        """
        Timer B: INVITE transaction timeout.
        """
        return 64 * self.t1

    @cached_property
    def C(self) -> float:
        """
        Timer C: proxy INVITE transaction timeout; it must exceed 3 minutes.
        """
        return 181.0

    def D(self, reliable: bool) -> float:
        """
        Timer D: wait time for response retransmits in the INVITE client
        transaction.

        @param reliable: whether the transport is reliable.
        @return: 32 seconds over an unreliable transport, else 0.
        """
        return 0.0 if reliable else 32.0

    @cached_property
    def E(self) -> float:
        """
        Timer E: initial non-INVITE request retransmit interval (UDP only).
        """
        return self.t1

    @cached_property
    def F(self) -> float:
        """
        Timer F: non-INVITE transaction timeout.
        """
        return 64 * self.t1

    @cached_property
    def G(self) -> float:
        """
        Timer G: initial INVITE response retransmit interval.
        """
        return self.t1

    @cached_property
    def H(self) -> float:
        """
        Timer H: wait time for ACK receipt.
        """
        return 64 * self.t1

    def I(self, reliable: bool) -> float:  # noqa: E743
        """
        Timer I: wait time for ACK retransmits.

        @param reliable: whether the transport is reliable.
        @return: T4 over an unreliable transport, else 0.
        """
        return 0.0 if reliable else self.t4

    def J(self, reliable: bool) -> float:
        """
        Timer J: wait time for non-INVITE request retransmits.

        @param reliable: whether the transport is reliable.
        @return: 64*T1 over an unreliable transport, else 0.
        """
        return 0.0 if reliable else 64 * self.t1

    def K(self, reliable: bool) -> float:
        """
        Timer K: wait time for non-INVITE response retransmits.

        @param reliable: whether the transport is reliable.
        @return: T4 over an unreliable transport, else 0.
        """
        return 0.0 if reliable else self.t4

    @cached_property
    def L(self) -> float:
        """
        Timer L: wait time for accepted INVITE request retransmits
        (RFC 6026 section 8.11).
        """
        return 64 * self.t1

    @cached_property
    def M(self) -> float:
        """
        Timer M: wait time for retransmission of 2xx to INVITE
        (RFC 6026 section 8.11).
        """
        return 64 * self.t1


def nextRetransmit(current: float, cap: float | None) -> float:
    """
    Compute the retransmit interval following C{current}: double it, capped.

    Timer A doubles without a cap; timers E and G are capped at T2.

    @param current: the interval just used, in seconds.
    @param cap: the largest interval allowed, or L{None} for no cap.
    @return: the next interval, in seconds.
    """
    doubled = current * 2
    if cap is None:
        return doubled
    return min(doubled, cap)


def _checkInterval(interval: float) -> None:
    """
    Reject a session interval that is not positive.

    @raise ValueError: if C{interval} is not positive.
    """
    if not interval > 0:
        raise ValueError(f"Session interval must be positive, not {interval!r}")


def refreshAt(interval: float) -> float:
    """
    When the refresher should send its session refresh request.

    @param interval: the negotiated session interval, in seconds.
    @return: seconds after the last refresh: half the interval.
    @raise ValueError: if C{interval} is not positive.
    @see: U{https://www.rfc-editor.org/rfc/rfc4028#section-10}
    """
    _checkInterval(interval)
    return interval / 2


def byeMargin(interval: float) -> float:
    """
    How long before the session expires the non-refresher sends its BYE.

    @param interval: the negotiated session interval, in seconds.
    @return: the smaller of 32 seconds and one third of the interval.
    @raise ValueError: if C{interval} is not positive.
    @see: U{https://www.rfc-editor.org/rfc/rfc4028#section-10}
    """
    _checkInterval(interval)
    return min(_MAX_BYE_MARGIN, interval / 3)


def nonRefresherByeAt(interval: float) -> float:
    """
    When the non-refresher should send BYE if no refresh has arrived.

    @param interval: the negotiated session interval, in seconds.
    @return: seconds after the last refresh: the interval minus
        L{byeMargin}.
    @raise ValueError: if C{interval} is not positive.
    @see: U{https://www.rfc-editor.org/rfc/rfc4028#section-10}
    """
    return interval - byeMargin(interval)


#: A timer's C{_seq} once it has fired or been cancelled: it matches no heap entry.
