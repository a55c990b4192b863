# -*- test-case-name: sst.test.test_b2bua_restore -*-
"""
B2BUA calls kept across a restart: L{CallPersistence} keeps each call's
L{CallSnapshot<sst.b2bua.snapshot.CallSnapshot>} in both legs' dialog-table entries, and
rebuilds the call from either entry when a store puts it back.

The dialog stores (C{--state}, L{sst.store}; a cluster's shared store) save a table entry with
its C{extra}, so they save the snapshot too. It is taken again, and the entries touched (see
L{DialogTable.touch<sst.dialogs.DialogTable.touch>}), when something that matters after a
restart changes: the call is answered, a refresh (either way) changes a leg's terms or remote
target, an offer changes the SDP. CSeq numbers are not saved on each request: a restored leg
sends its requests with a CSeq L{CSEQ_MARGIN} above the saved one (RFC 3261 section 12.2.1.1
only asks that it increase), and takes any CSeq of the peer from the saved one up.

What a restored call lacks: the caller's and the callee's INVITE (long answered), the 2xx
retransmissions of an A-leg whose ACK had not come (its entry stays early), and the requests
that were in progress when sst stopped (the peers retransmit them or give up).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from twisted.logger import Logger

from sst.b2bua.call import Call, Leg
from sst.b2bua.snapshot import SNAPSHOT, CallSnapshot, LegSnapshot, snapshotOf
from sst.dialogs import Dialog
from sst.ua.dialog import UADialog

if TYPE_CHECKING:
    from sst.b2bua.core import B2BUA

__all__ = ["CSEQ_MARGIN", "CallPersistence"]

#: How much higher than the saved CSeq a restored leg's next request is.
CSEQ_MARGIN = 1000


class CallPersistence:
    """
    Keeps a L{B2BUA}'s calls in its legs' table entries, and rebuilds them on restore.
    """

    _log = Logger()

    def __init__(self, b2bua: B2BUA) -> None:
        """
        @param b2bua: the B2BUA whose calls these are.
        """
        self.b2bua = b2bua

    def save(self, call: Call) -> None:
        """
        Put the call's snapshot in the entry of each leg that has one, and tell the stores.
        Nothing happens for a call that is ending or not up yet.
        """
        if call.ending:
            return
        snapshot = snapshotOf(call)
        if snapshot is None:
            return
        for leg in (call.a, call.b):
            self._keep(leg, snapshot, touch=True)

    def _keep(self, leg: Leg, snapshot: CallSnapshot, touch: bool) -> None:
        tableId = leg.tableId
        if tableId is None:
            return
        dialogs = self.b2bua.dialogs
        entry = dialogs.get(tableId)
        if entry is None:
            return
        if entry.extra is None:
            entry.extra = {}
        entry.extra[SNAPSHOT] = snapshot
        if touch:
            dialogs.touch(tableId)

    def restored(self, entry: Dialog) -> None:
        """
        A store put a leg's entry back: rebuild its call (unless the other leg's entry did
        already) and attach the leg to it. An entry without a snapshot is left alone; one of a
        call that is ending is ended.
        """
        snapshot = entry.extra.get(SNAPSHOT) if entry.extra else None
        if not isinstance(snapshot, CallSnapshot):
            return
        name = snapshot.leg(entry.id)
        if name is None:
            self._log.warn("Restored dialog {callId} is no leg of its saved call {key}",
                           callId=entry.id.callId, key=snapshot.key)
            return
        b2bua = self.b2bua
        call = b2bua.calls.get(snapshot.key)
        new = call is None
        if call is None:
            call = self._rebuild(snapshot)
            if call is None:
                return
        leg = call.a if name == "a" else call.b
        if call.ending or leg.dialog is None or leg.tableId is not None:
            b2bua.dialogs.terminate(entry.id, "ended")
            return
        leg.tableId = entry.id
        b2bua.legs[entry.id] = leg
        if new:
            self._log.info("Restored call {callId} ({key})", callId=call.callId, key=call.key)
            for each, saved in ((call.a, snapshot.a), (call.b, snapshot.b)):
                b2bua.refreshes.resume(each, saved.nextRefresh)
        else:
            b2bua.refreshes.describe(leg)
        current = snapshotOf(call)
        if current is not None:
            self._keep(leg, current, touch=False)

    def _rebuild(self, snapshot: CallSnapshot) -> Call | None:
        """
        Make the call of C{snapshot}, its legs and their UA dialogs, held by the UA core.

        @return: the call, in L{B2BUA.calls}, or L{None} when the UA core holds one of its
            dialogs already.
        """
        b2bua = self.b2bua
        ua = b2bua.ua
        for saved in (snapshot.a, snapshot.b):
            if (saved.callId, saved.localTag, saved.remoteTag) in ua.dialogs:
                self._log.warn("Not restoring call {key}: its dialog {callId} is up",
                               key=snapshot.key, callId=saved.callId)
                return None
        call = Call(b2bua, snapshot.key, snapshot.callId)
        call.bCallId = snapshot.bCallId
        for leg, saved in ((call.a, snapshot.a), (call.b, snapshot.b)):
            self._rebuildLeg(leg, saved)
        b2bua.calls[call.key] = call
        return call

    def _rebuildLeg(self, leg: Leg, saved: LegSnapshot) -> None:
        dialog = UADialog(
            self.b2bua.ua, saved.callId, saved.localTag, saved.remoteTag, saved.localParty,
            saved.remoteParty, saved.routeSet, saved.remoteTarget,
            saved.localCSeq + CSEQ_MARGIN, saved.remoteCSeq, saved.isUAC, saved.contact)
        dialog.peerAllow = saved.peerAllow
        dialog.peerSupported = saved.peerSupported
        dialog.user = leg
        self.b2bua.ua.adoptDialog(dialog)
        leg.dialog = dialog
        leg.interval = saved.interval
        leg.weRefresh = saved.weRefresh
        leg.minSE = saved.minSE
        leg.localMin = saved.localMin
        leg.localBody = saved.localBody
        leg.localType = saved.localType
        leg.remoteBody = saved.remoteBody
        leg.noUpdate = saved.noUpdate
