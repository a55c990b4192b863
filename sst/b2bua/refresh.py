# -*- test-case-name: sst.test.test_b2bua,sst.test.test_cycles -*-
"""
Each leg's entry in the dialog table and sst's refreshes on it: L{Refreshes}.

On each leg where sst is the refresher, at SE/2: an UPDATE without body when the peer's Allow
lists UPDATE (C{--refresh-method auto}), else a re-INVITE with the current body. Each refresh
(and each offer relayed into the leg) carries the largest Min-SE seen on the leg: the peer's
INVITE and refreshes, our INVITE, 422s (RFC 4028 section 7.4); its Session-Expires is never
below it. 481, 408 or a time-out end the call (the UA core ends that leg, with BYE on 408 and
time-out; the B2BUA sends BYE on the other); 491 is retried after the RFC 3261 section 14.1
back-off; a 422 is retried at once with the larger Min-SE; other failures every
C{retryDelay} seconds until the BYE margin.

@see: U{https://www.rfc-editor.org/rfc/rfc4028#section-7.4}
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from sst.b2bua.call import Leg
from sst.dialogs import DialogTableFull
from sst.headers import SIPParseError
from sst.message import Response
from sst.timers import nonRefresherByeAt, refreshAt
from sst.ua.invite import glareBackoff

if TYPE_CHECKING:
    from sst.b2bua.core import B2BUA

__all__ = ["Refreshes"]


class Refreshes:
    """
    The session timers of a L{B2BUA}'s legs: their table entries, re-armed on each refresh,
    and the refreshes sst sends where it is the refresher.
    """

    def __init__(self, b2bua: B2BUA) -> None:
        """
        @param b2bua: the B2BUA whose legs these are.
        """
        self.b2bua = b2bua

    def register(self, leg: Leg, confirmed: bool) -> None:
        """
        Put C{leg} in the dialog table and arm our refresh; the call ends when the
        table is full.
        """
        dialog = leg.dialog
        assert dialog is not None
        tableId = dialog.id
        interval = leg.interval
        lifetime = None if interval is None else nonRefresherByeAt(interval)
        try:
            entry = self.b2bua.dialogs.create(tableId, confirmed=confirmed, lifetime=lifetime,
                                              interval=interval, refresher=leg.tableRefresher())
        except DialogTableFull:
            self.b2bua.stats.increment("overload_rejected")
            self.b2bua.endCall(leg.call, None)
            return
        leg.tableId = tableId
        self.b2bua.legs[tableId] = leg
        entry.extra = {"call": leg.call.callId, "leg": leg.name, "role": leg.role}
        self._schedule(leg)

    def setTerms(self, leg: Leg, interval: int, weRefresh: bool) -> None:
        """
        A 2xx refreshed the leg: re-arm its expiry and our refresh.
        """
        leg.interval = interval
        leg.weRefresh = weRefresh
        if leg.tableId is not None:
            self.b2bua.dialogs.refresh(leg.tableId, nonRefresherByeAt(interval), interval,
                                       leg.tableRefresher())
        self._schedule(leg)

    def _schedule(self, leg: Leg) -> None:
        """
        Arm (or re-arm) our refresh at SE/2 when sst is the leg's refresher.
        """
        if leg.interval is not None and leg.weRefresh and leg.dialog is not None:
            self._refreshIn(leg, refreshAt(leg.interval))
        else:
            self.cancelRefresh(leg)

    def _refreshIn(self, leg: Leg, delay: float) -> None:
        timer = leg.refreshTimer
        if timer is not None and timer.active():
            timer.reset(delay)
        else:
            leg.refreshTimer = self.b2bua.clock.callLater(delay, self._refresh, leg)
        leg.nextRefresh = self.b2bua.clock.seconds() + delay
        self.describe(leg)

    def cancelRefresh(self, leg: Leg) -> None:
        """
        Disarm our refresh of C{leg}.
        """
        timer = leg.refreshTimer
        if timer is not None and timer.active():
            timer.cancel()
        leg.refreshTimer = None
        leg.nextRefresh = None
        self.describe(leg)

    def resume(self, leg: Leg, at: Optional[float]) -> None:
        """
        Arm our refresh of a leg restored from a store, at C{at} (clock seconds), or at once
        when that has passed or is unknown; nothing when sst does not refresh the leg.
        """
        if leg.interval is None or not leg.weRefresh or leg.dialog is None:
            self.describe(leg)
            return
        now = self.b2bua.clock.seconds()
        self._refreshIn(leg, 0.0 if at is None else max(0.0, at - now))

    def describe(self, leg: Leg) -> None:
        """
        Show who refreshes C{leg} and when sst refreshes it next in its table entry
        (C{sst_refreshes}, C{next_refresh}), as C{/dialogs} lists it.
        """
        if leg.tableId is None:
            return
        entry = self.b2bua.dialogs.get(leg.tableId)
        if entry is not None and entry.extra is not None:
            entry.extra["sst_refreshes"] = leg.weRefresh if leg.interval is not None else None
            entry.extra["next_refresh"] = leg.nextRefresh

    def unregister(self, leg: Leg, reason: str) -> None:
        """
        Take C{leg} out of the dialog table (C{reason} for its observers) and disarm
        our refresh.
        """
        self.cancelRefresh(leg)
        tableId = leg.tableId
        if tableId is not None:
            leg.tableId = None
            self.b2bua.legs.pop(tableId, None)
            self.b2bua.dialogs.terminate(tableId, reason)

    def _refresh(self, leg: Leg) -> None:
        leg.refreshTimer = None
        leg.nextRefresh = None
        dialog = leg.dialog
        if dialog is None or not dialog.alive or leg.interval is None or leg.call.ending:
            return
        if dialog.invitePending or dialog.inviteServer is not None or leg.refreshing:
            # An offer/answer exchange is under way: try again in a second.
            self._refreshIn(leg, 1.0)
            return
        method = self.b2bua.settings.refreshMethod
        if method == "auto":
            useUpdate = dialog.peerAllows("UPDATE") and not leg.noUpdate
        else:
            useUpdate = method == "update"
        headers = self.refreshHeaders(leg, "uac")
        body = b""
        if not useUpdate and leg.localBody:
            body = leg.localBody
            if leg.localType is not None:
                headers.append(("Content-Type", leg.localType))
        sentMethod = "UPDATE" if useUpdate else "INVITE"
        leg.refreshing = True
        self.b2bua.stats.increment("refreshes_sent")
        self.describe(leg)
        dialog.request(sentMethod, headers, body,
                       onResponse=lambda response: self._refreshAnswered(leg, sentMethod, response),
                       onTimeout=lambda: self._refreshTimedOut(leg))

    def refreshHeaders(self, leg: Leg, refresher: str) -> list[tuple[str, str]]:
        """
        The session timer of a session refresh request sst sends on C{leg} (RFC 4028
        section 7.4): C{Min-SE} is the largest seen in the dialog (the peer's INVITE and
        refreshes, 422s), and C{Session-Expires} the leg's interval, never below it.

        @param refresher: the C{refresher} parameter, in the request's terms.
        """
        assert leg.interval is not None
        interval = max(leg.interval, leg.minSE)
        return [("Session-Expires", "%d;refresher=%s" % (interval, refresher)),
                ("Min-SE", str(leg.minSE))]

    def _refreshTimedOut(self, leg: Leg) -> None:
        # The UA core sends BYE on the leg and ends it; _legEnded ends the other.
        leg.refreshing = False

    def _refreshAnswered(self, leg: Leg, method: str, response: Response) -> None:
        code = response.code
        if code < 200:
            return
        leg.refreshing = False
        dialog = leg.dialog
        if dialog is None or leg.call.ending:
            return
        if code < 300:
            self.applyRefreshAnswer(leg, response)
            return
        self.b2bua.stats.increment("refreshes_failed")
        if code in (481, 408):
            return  # the UA core ends the leg, and _legEnded the call
        if code == 491:
            self._refreshIn(leg, glareBackoff(dialog.isUAC, self.b2bua.uniform))
            return
        if code == 422:
            try:
                offered = response.minSE()
            except SIPParseError:
                offered = None
            if offered is not None and offered > leg.minSE:
                leg.minSE = offered
                leg.interval = max(leg.interval or offered, offered)
                self._refreshIn(leg, 0)
                return
        if (method == "UPDATE" and code in (405, 501)
                and self.b2bua.settings.refreshMethod == "auto"):
            # Only "auto" may fall back to re-INVITE; with "update" forced this is an
            # ordinary failure, retried after the delay below.
            leg.noUpdate = True
            self._refreshIn(leg, 0)
            return
        entry = self.b2bua.dialogs.get(leg.tableId) if leg.tableId is not None else None
        delay = self.b2bua.settings.retryDelay
        if entry is not None and self.b2bua.clock.seconds() + delay < entry.expiresAt:
            self._refreshIn(leg, delay)
        else:
            self.describe(leg)

    def applyRefreshAnswer(self, leg: Leg, response: Response) -> None:
        """
        Section 7.2 for a 2xx to a refresh (or relayed offer) we sent on C{leg}.
        """
        try:
            se = response.sessionExpires()
        except SIPParseError:
            se = None
        if se is not None:
            self.setTerms(leg, se.delta, se.refresher != "uas")
        elif leg.interval is not None:
            self.setTerms(leg, leg.interval, True)
        # A 2xx to our re-INVITE or UPDATE may also have refreshed the remote target.
        self.b2bua.persistence.save(leg.call)
