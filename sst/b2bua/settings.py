# -*- test-case-name: sst.test.test_b2bua,sst.test.test_tap -*-
"""
The B2BUA's own options: L{B2BUASettings}, checked when made, and the values its
C{--refresher} and C{--refresh-method} take.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from sst.timers import MIN_SE_FLOOR

__all__ = ["B2BUASettings", "REFRESHERS", "REFRESH_METHODS"]

#: The values of C{--refresher}.
REFRESHERS = ("uac", "uas", "local")

#: The values of C{--refresh-method}.
REFRESH_METHODS = ("update", "invite", "auto")


@dataclass(frozen=True)
class B2BUASettings:
    """
    The B2BUA's own options.

    @ivar refresher: C{--refresher}: who refreshes the A-leg when the caller supports timers
        and names no refresher: C{"uac"} (the caller), C{"uas"} or C{"local"} (sst; C{local}
        also asks for C{refresher=uac} on the B-leg, so sst refreshes both legs).
    @ivar refreshMethod: C{--refresh-method}: C{"update"}, C{"invite"} or C{"auto"} (UPDATE
        when the peer's Allow lists it).
    @ivar bSessionExpires: C{--b-session-expires}, or L{None} for the policy's
        C{sessionExpires} (the A-leg value).
    @ivar bMinSE: C{--b-min-se}, or L{None} for the policy's C{minSE}.
    @ivar passHeaders: lower-case names of the caller's headers copied into the B-leg INVITE
        (none by default: only the body and its Content-Type pass).
    @ivar maxSE: C{--max-se}: the largest session interval the A-leg accepts (a larger one is
        answered lowered to it, never below the caller's Min-SE), or L{None} for no cap.
    @ivar retryDelay: seconds between attempts after a refresh failed with an error other than
        481, 408, 491 and 422.
    """

    refresher: str = "uac"
    refreshMethod: str = "auto"
    bSessionExpires: Optional[int] = None
    bMinSE: Optional[int] = None
    passHeaders: frozenset[str] = frozenset()
    retryDelay: float = 10.0
    maxSE: Optional[int] = None

    def __post_init__(self) -> None:
        """
        @raise ValueError: on an unknown refresher or method, a Min-SE below 90, or a
            Session-Expires below the Min-SE.
        """
        if self.refresher not in REFRESHERS:
            raise ValueError("refresher must be one of %s, not %r" % (", ".join(REFRESHERS),
                                                                      self.refresher))
        if self.refreshMethod not in REFRESH_METHODS:
            raise ValueError("refresh method must be one of %s, not %r"
                             % (", ".join(REFRESH_METHODS), self.refreshMethod))
        if self.bMinSE is not None and self.bMinSE < MIN_SE_FLOOR:
            raise ValueError("B-leg Min-SE must be at least %d (RFC 4028 section 5), not %d"
                             % (MIN_SE_FLOOR, self.bMinSE))
        if (self.bSessionExpires is not None and self.bMinSE is not None
                and self.bSessionExpires < self.bMinSE):
            raise ValueError("B-leg Session-Expires (%d) must not be below its Min-SE (%d)"
                             % (self.bSessionExpires, self.bMinSE))
