# -*- test-case-name: sst.test.test_values -*-
"""
Value types that several layers pass to each other and to plugins: low in the import
graph (they depend only on L{sst.address} and L{sst.timers}), so that no layer imports
another just for a type.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, NamedTuple, Optional

from sst.address import Address
from sst.timers import DEFAULT_SESSION_EXPIRES

__all__ = ["DialogId", "PolicySettings", "SessionTerms", "Target"]


class DialogId(NamedTuple):
    """
    What identifies a dialog (RFC 3261 section 12).

    @ivar callId: the Call-ID.
    @ivar fromTag: the caller's (UAC's) tag, from the From header of the
        dialog-creating INVITE.
    @ivar toTag: the callee's (UAS's) tag, from the To header of its response.
    """

    callId: str
    fromTag: str
    toTag: str


class SessionTerms(NamedTuple):
    """
    The session timer a 2xx settled for a dialog.

    @ivar interval: the session interval in seconds.
    @ivar refresher: C{"uac"} or C{"uas"}.
    """

    interval: int
    refresher: Optional[str]


@dataclass(frozen=True)
class Target:
    """
    One place to send a request to.

    @ivar address: where to send the request.
    @ivar requestURI: the Request-URI to give the forwarded request, set when
        the request is retargeted (to a registered contact); L{None} to keep
        the request's own.
    """

    address: Address
    requestURI: Optional[str] = None


@dataclass(frozen=True)
class PolicySettings:
    """
    What the command line says about session timers, handed to a policy plugin.

    @ivar minSE: C{--min-se} (the seed's C{min_se}).
    @ivar sessionExpires: C{--session-expires}.
    @ivar rejectTooSmall: not C{--no-reject-too-small} (the seed's C{reject_to_small}).
    @ivar options: the C{--policy-option KEY=VALUE} pairs, for the plugin to read.
    """

    minSE: int = 1800
    sessionExpires: int = DEFAULT_SESSION_EXPIRES
    rejectTooSmall: bool = True
    options: Mapping[str, str] = field(default_factory=dict)
