# -*- test-case-name: sst.test.test_rfc4028 -*-
"""
The session-timer terms of RFC 4028, as pure functions both cores use: the proxy's
section 8.1 edits (L{proxyEdits}, for L{SessionTimerHook<sst.sessiontimer.SessionTimerHook>})
and a UAS's section 9 answer (L{uasInterval}, L{rejects}, L{tooSmallMinSE}, for the B2BUA's
A-leg and refreshes).

Nothing here sends, stores or edits a message: a request is read into an L{Offer}, and
the functions say what to do with it.

@see: U{https://www.rfc-editor.org/rfc/rfc4028}
"""
from __future__ import annotations

from typing import NamedTuple, Optional

from sst.headers import SessionExpires, SIPParseError, parseMinSE, parseSessionExpires
from sst.message import Message, Request
from sst.timers import MIN_SE_FLOOR

__all__ = [
    "Offer",
    "ProxyEdits",
    "proxyEdits",
    "readMinSE",
    "readOffer",
    "readSessionExpires",
    "rejects",
    "tooSmallMinSE",
    "uasInterval",
    "uasRefresher",
    "withDelta",
]


class Offer(NamedTuple):
    """
    What a session refresh request (an initial INVITE, a re-INVITE or an UPDATE) asks for.

    @ivar sessionExpires: its Session-Expires (a delta of 0 is kept: it is below any
        minimum), or L{None}.
    @ivar minSE: its Min-SE, or L{None}.
    @ivar timer: whether it carries C{Supported: timer} (so its sender can act on a 422).
    """

    sessionExpires: Optional[SessionExpires]
    minSE: Optional[int]
    timer: bool

    @property
    def floor(self) -> int:
        """
        The smallest interval the request accepts: its Min-SE, 90 when absent or (against
        section 5) smaller.
        """
        return MIN_SE_FLOOR if self.minSE is None else max(self.minSE, MIN_SE_FLOOR)


def _single(message: Message, key: str, shown: str) -> Optional[str]:
    """
    The value of a header that may appear once.

    @raise SIPParseError: when it appears more than once (RFC 4475 section 3.3.8).
    """
    values = message.lineValues(key)
    if len(values) > 1:
        raise SIPParseError(f"duplicate {shown}")
    return values[0] if values else None


def readSessionExpires(message: Message) -> Optional[SessionExpires]:
    """
    The Session-Expires of C{message} (long or compact C{x} form).

    A request's C{Session-Expires: 0} is read as an interval below any minimum (it gets a
    422 or is raised, as any too-small interval); a response's is malformed.

    @return: the parsed value, or L{None} when absent.
    @raise SIPParseError: when it is malformed, too large or duplicated, or 0 in a
        response.
    """
    value = _single(message, "session-expires", "Session-Expires")
    if value is None:
        return None
    return parseSessionExpires(value, allowZero=isinstance(message, Request))


def readMinSE(message: Message) -> Optional[int]:
    """
    The Min-SE of C{message}.

    @return: the value, or L{None} when absent.
    @raise SIPParseError: when it is malformed, 0, too large or duplicated.
    """
    value = _single(message, "min-se", "Min-SE")
    return None if value is None else parseMinSE(value)


def readOffer(request: Request) -> Offer:
    """
    Read what C{request} asks for.

    @raise SIPParseError: when its Session-Expires or Min-SE is malformed or duplicated.
    """
    return Offer(readSessionExpires(request), readMinSE(request),
                 request.hasOptionTag("supported", "timer"))


def rejects(offer: Offer, local: int, rejectTooSmall: bool) -> bool:
    """
    Whether a request gets C{422 Session Interval Too Small} (sections 8.1 and 9): its
    Session-Expires is below the C{local} minimum, its sender supports timers (one that
    does not could not act on a 422, and the call would fail), and the local policy
    rejects (the seed's C{reject_to_small}).

    @param local: the local minimum, at least 90.
    """
    se = offer.sessionExpires
    return offer.timer and rejectTooSmall and se is not None and se.delta < local


def tooSmallMinSE(offer: Offer, local: int) -> int:
    """
    The Min-SE of a 422 (section 6): the local minimum, raised to 90 and to the request's
    own Min-SE if larger, so that the retry (with the largest Min-SE its sender has seen)
    passes.
    """
    return max(local, MIN_SE_FLOOR, offer.minSE or 0)


class ProxyEdits(NamedTuple):
    """
    What a proxy does to a request it forwards (section 8.1), when it does not reject it.

    @ivar sessionExpires: the delta-seconds to write into Session-Expires (inserted when
        the request had none, its parameters kept otherwise), or L{None} to leave it.
    @ivar minSE: the Min-SE to write (inserted or raised), or L{None} to leave it.
    """

    sessionExpires: Optional[int]
    minSE: Optional[int]


_UNCHANGED = ProxyEdits(None, None)


def proxyEdits(offer: Offer, local: int, rejectTooSmall: bool, insert: Optional[int],
               maxSE: Optional[int] = None) -> ProxyEdits:
    """
    Section 8.1 for a request the proxy forwards and does not reject (see L{rejects}).

      - No Session-Expires: with C{insert}, one is inserted (never below the request's
        Min-SE or the local minimum, never above C{maxSE} unless that Min-SE is), and a
        sender without timer support gets Min-SE raised to the local minimum.
      - Below the local minimum, sender with timer support: forwarded without any
        modification when C{rejectTooSmall} is off (the seed; a proxy must not increase
        Session-Expires, and the callee's own minimum answers).
      - Below the local minimum, sender without timer support: rejecting would fail the
        call, so Min-SE is raised to the local minimum (inserted, never lowered) and
        Session-Expires to match.
      - Otherwise a Session-Expires below the request's Min-SE (90 when absent) is raised
        to it, and one above C{maxSE} lowered to it, never below that Min-SE.

    Min-SE is never inserted or changed in a request with C{Supported: timer} (section
    8.1, against the anti-DoS rule of section 11).

    @param local: the local minimum, at least 90; 0 when none applies (a refresh in a
        dialog that is not timed).
    @param insert: the interval to insert into a request without Session-Expires, or
        L{None} to insert nothing (a refresh).
    @param maxSE: the largest interval accepted (C{--max-se}), or L{None}.
    """
    se = offer.sessionExpires
    floor = offer.floor
    minSE: Optional[int] = None
    if not offer.timer and (se is None and insert is not None or se is not None and se.delta < local):
        if offer.minSE is None or offer.minSE < local:
            minSE = local
            floor = max(floor, local)
    if se is None:
        if insert is None:
            return _UNCHANGED
        return ProxyEdits(_capped(max(insert, local, floor), floor, maxSE), minSE)
    if offer.timer and se.delta < local and not rejectTooSmall:
        return _UNCHANGED
    if se.delta < floor:
        return ProxyEdits(floor, minSE)
    capped = _capped(se.delta, floor, maxSE)
    return ProxyEdits(capped if capped != se.delta else None, minSE)


def _capped(interval: int, floor: int, maxSE: Optional[int]) -> int:
    """
    C{interval} lowered to C{maxSE}, but never below C{floor} (a proxy may reduce
    Session-Expires down to the request's Min-SE).
    """
    if maxSE is None or interval <= maxSE:
        return interval
    return max(maxSE, floor)


def uasInterval(offer: Offer, local: int, preferred: int) -> int:
    """
    Section 9 for a UAS that does not reject (see L{rejects}): the session interval of its
    2xx.

      - No Session-Expires: C{preferred}, never below the local minimum or the request's
        Min-SE.
      - Below the local minimum from a sender without timer support: raised to the local
        minimum (erratum 1687 applies section 8.1's rule to the UAS), never below the
        request's Min-SE.
      - Otherwise the requested interval, raised to the request's Min-SE (90 when absent)
        if below: a UAS never increases it past that.

    @param local: the local minimum, at least 90.
    @param preferred: the interval to use when the request names none.
    """
    se = offer.sessionExpires
    floor = offer.floor
    if se is None:
        return max(preferred, local, floor)
    if se.delta < local and not offer.timer:
        return max(local, floor)
    return max(se.delta, floor)


def uasRefresher(offer: Offer, preferred: str) -> str:
    """
    Section 9, table 2: who refreshes, as the UAS's 2xx says (C{"uac"} or C{"uas"}).

    A sender without timer support cannot refresh, so the UAS does; one that names a
    refresher gets it; otherwise the UAS chooses (C{preferred}).

    @param preferred: C{"uac"} or C{"uas"}, the UAS's choice when the request leaves it.
    """
    if not offer.timer:
        return "uas"
    se = offer.sessionExpires
    if se is not None and se.refresher is not None:
        return se.refresher
    return preferred


def withDelta(text: str, delta: int) -> str:
    """
    Replace the delta-seconds of a Session-Expires or Min-SE value, keeping its parameters
    as they were.
    """
    _, semi, params = text.partition(";")
    return f"{delta}{semi}{params}"
