# -*- test-case-name: sst.test.test_b2bua,sst.test.test_cycles -*-
"""
A call of the B2BUA and its two legs: L{Call} (the caller's INVITE, the callee's, and what
was agreed for each leg) and L{Leg} (one UA dialog and its session timer). Each is the UA
core's user for its part and passes what it is told to the L{B2BUA<sst.b2bua.core.B2BUA>}.
"""
from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Optional

from twisted.internet.interfaces import IDelayedCall
from zope.interface import implementer

from sst.dialogs import DialogId
from sst.message import Request, Response
from sst.values import Target
from sst.timers import MIN_SE_FLOOR
from sst.transaction import ServerTransaction
from sst.ua.dialog import IDialogUser, UADialog
from sst.ua.invite import IInviteUser, IncomingInvite, OutgoingInvite

if TYPE_CHECKING:
    from sst.b2bua.core import B2BUA

__all__ = ["Call", "Leg", "Terms"]

#: A leg's session timer: (interval, whether sst refreshes), or L{None} for no timer.
Terms = Optional[tuple[int, bool]]


@implementer(IDialogUser)
class Leg:
    """
    One side of a call: its UA dialog and its session timer.

    @ivar name: C{"a"} (sst is the UAS) or C{"b"} (sst is the UAC).
    @ivar dialog: the UA dialog, while it lives.
    @ivar tableId: the leg's identifier in the dialog table, while it is there.
    @ivar interval: the session interval, or L{None} when the leg is untimed.
    @ivar weRefresh: whether sst is the leg's refresher.
    @ivar minSE: the largest Min-SE seen on the leg (sent in our refreshes).
    @ivar localMin: our own minimum for the peer's refreshes.
    @ivar localBody: the SDP sst last sent on this leg, and its type.
    @ivar remoteBody: the SDP the peer last sent on this leg.
    @ivar nextRefresh: when sst refreshes next (clock seconds), or L{None}.
    """

    def __init__(self, call: "Call", name: str) -> None:
        # The call holds its legs; a leg refers back weakly, so that a forgotten call is
        # freed by reference counting (see sst.gctuning).
        self._call = weakref.ref(call)
        self.name = name
        self.dialog: Optional[UADialog] = None
        self.tableId: Optional[DialogId] = None
        self.interval: Optional[int] = None
        self.weRefresh = False
        self.minSE = MIN_SE_FLOOR
        self.localMin = MIN_SE_FLOOR
        self.localBody = b""
        self.localType: Optional[str] = None
        self.remoteBody = b""
        self.refreshTimer: Optional[IDelayedCall] = None
        self.nextRefresh: Optional[float] = None
        self.refreshing = False
        self.noUpdate = False

    @property
    def call(self) -> "Call":
        """
        The call this leg belongs to.

        @raise RuntimeError: if the call was forgotten and freed (nothing refers to a leg by
            then).
        """
        call = self._call()
        if call is None:
            raise RuntimeError("leg %s of a call that has ended" % (self.name,))
        return call

    def __repr__(self) -> str:
        return "<Leg %s of %s interval=%r weRefresh=%r>" % (self.name, self.call.callId,
                                                            self.interval, self.weRefresh)

    @property
    def role(self) -> str:
        """
        sst's role in the leg's dialog: C{"uas"} on the A-leg, C{"uac"} on the B-leg.
        """
        return "uas" if self.name == "a" else "uac"

    def tableRefresher(self) -> Optional[str]:
        """
        @return: the refresher in the dialog's own terms (its UAC or UAS), or L{None}.
        """
        if self.interval is None:
            return None
        if self.weRefresh:
            return self.role
        return "uac" if self.role == "uas" else "uas"

    def requestReceived(self, dialog: UADialog, server: ServerTransaction) -> None:
        self.call.b2bua.inDialogRequest(self, server)

    def ackReceived(self, dialog: UADialog, ack: Request) -> None:
        self.call.b2bua.legAcknowledged(self)

    def dialogTerminated(self, dialog: UADialog, reason: str) -> None:
        self.call.b2bua.legEnded(self, reason)


@implementer(IInviteUser)
class Call:
    """
    One call: the caller's INVITE, the callee's, and the two legs.

    @ivar key: the call's key in L{B2BUA.calls}.
    @ivar callId: the A-leg Call-ID.
    @ivar incoming: the caller's INVITE, or L{None} for a call restored from a store (see
        L{sst.b2bua.restore}), which was set up before sst started.
    @ivar outgoing: the B-leg INVITE while it is pending, else L{None}.
    @ivar aTerms: the A-leg session timer the 2xx will carry, (interval, sst refreshes), or
        L{None}.
    """

    def __init__(self, b2bua: "B2BUA", key: str, callId: str,
                 incoming: Optional[IncomingInvite] = None) -> None:
        """
        @param b2bua: the B2BUA.
        @param key: see L{key}.
        @param callId: see L{callId}.
        @param incoming: see L{incoming}.
        """
        self.b2bua = b2bua
        self.key = key
        self.incoming = incoming
        self.callId = callId
        self.outgoing: Optional[OutgoingInvite] = None
        self.a = Leg(self, "a")
        self.b = Leg(self, "b")
        self.aTerms: Optional[tuple[int, bool]] = None
        self.callerTimer = False
        self.target: Optional[Target] = None
        self.bCallId = ""
        self.bCSeq = 0
        self.bTimed = False
        self.bSE = 0
        self.bMin = MIN_SE_FLOOR
        self.retried422 = 0
        self.ending = False
        self.byeReason: Optional[str] = None

    def other(self, leg: Leg) -> Leg:
        """
        @return: the leg that is not C{leg}.
        """
        return self.b if leg is self.a else self.a

    def inviteProvisional(self, invite: OutgoingInvite, response: Response) -> None:
        self.b2bua.setup.bProvisional(self, response)

    def inviteAnswered(self, invite: OutgoingInvite, dialog: UADialog, response: Response) -> None:
        self.b2bua.setup.bAnswered(self, dialog, response)

    def inviteFailed(self, invite: OutgoingInvite, response: Optional[Response]) -> None:
        self.b2bua.setup.bFailed(self, invite, response)
