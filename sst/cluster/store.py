# -*- test-case-name: sst.test.test_cluster_store -*-
"""
L{ClusterStore}: the dialog table of one node, kept in step with the table the cluster
shares in Redis.

  - B{Writes.} It observes the L{DialogTable}: a confirmed dialog, an accepted refresh, a
    change of what the dialog keeps (L{DialogTable.touch}) and a termination each mark the
    dialog; at the end of the reactor turn one C{EVALSHA} of
    L{WRITE<sst.cluster.scripts.WRITE>} saves and deletes everything marked (in chunks of
    L{chunk} dialogs).  Nothing waits for the reply.
  - B{Expiry.} It is the table's L{IExpiryArbiter}: when a timer fires, the
    L{DUE<sst.cluster.scripts.DUE>} script decides, atomically, whether this node expires
    the dialog (and deletes it from Redis), re-arms it with a deadline another node's
    refresh set, or drops it because another live node owns it or it ended.
  - B{Loads.} L{load} reads a dialog another node made, for an in-dialog request this node
    takes: the proxy then refreshes or ends it here, and the shared deadline moves.
  - B{Liveness and the sweeper.} Every L{heartbeat} seconds it renews this node's liveness
    key (it lives L{ttl} seconds), and twice as often runs
    L{SWEEP<sst.cluster.scripts.SWEEP>}, which claims, atomically, the overdue dialogs of
    nodes whose liveness key is gone; this node restores what it claimed, so it expires (or
    in B2BUA mode refreshes) it, exactly once across the cluster.
  - B{Outages.} Without Redis the node serves its calls from memory: writes wait, timers
    expire locally (counted in C{cluster_local_expiries}), loads find nothing; every failed
    command is counted (C{redis_errors}) and the outage logged once.  When Redis is back,
    the node writes every confirmed dialog it holds again (Redis may have restarted empty).
"""
from __future__ import annotations

import json
from typing import Any, Optional

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from sst.cluster.layout import Keys, SavedDialog, saveArguments
from sst.cluster.link import RedisLink
from sst.cluster.scripts import ADOPT, DUE, LOAD, SWEEP, TAKE, WRITE
from sst.dialogs import Dialog, DialogId, DialogState, DialogTable, IDialogObserver, IExpiryArbiter
from sst.stats import Stats

__all__ = ["ClusterStore"]

#: JSON as compact as it gets, for the arguments of L{WRITE}.
_json = json.JSONEncoder(separators=(",", ":")).encode

_CONFIRMED = DialogState.CONFIRMED
_TERMINATED = DialogState.TERMINATED


@implementer(IDialogObserver, IExpiryArbiter)
class ClusterStore:
    """
    Keeps one node's L{DialogTable} in step with the cluster's table in Redis.

    @ivar node: this node's name (C{--node-id}).
    @ivar link: the connection to Redis.
    @ivar heartbeat: seconds between two renewals of the liveness key.
    @ivar ttl: seconds the liveness key lives: a node silent for that long is dead.
    @ivar grace: seconds one of this node's own dialogs may be overdue before its sweeper
        takes it back (it restarted under the same name and lost it).
    @ivar chunk: the most dialogs one write carries.
    @ivar writeDelay: seconds the first change waits for others before they are written
        together (group commit: a node killed loses at most this much).
    @ivar takeOver: what L{load} does (B2BUA mode): take the dialog over, with the other
        legs of its call, when its owner is dead, rather than read a copy of it.
    """

    _log = Logger()

    def __init__(self, link: RedisLink, table: DialogTable, clock: IReactorTime, node: str,
                 stats: Optional[Stats] = None, keys: Optional[Keys] = None,
                 heartbeat: float = 1.0, ttl: float = 3.0, grace: float = 5.0,
                 sweepLimit: int = 1000, chunk: int = 500, writeDelay: float = 0.01,
                 takeOver: bool = False) -> None:
        self.link = link
        self.table = table
        self.clock = clock
        self.node = node
        self.stats = stats if stats is not None else Stats()
        self.keys = keys if keys is not None else Keys()
        self.heartbeat = heartbeat
        self.ttl = ttl
        self.grace = grace
        self.sweepLimit = sweepLimit
        self.chunk = chunk
        self.writeDelay = writeDelay
        self.takeOver = takeOver
        self._nodeBytes = node.encode("utf-8")
        self._aliveKey = self.keys.aliveKey(node)
        # Dialogs to save and keys to delete at the end of this turn.
        self._dirty: dict[DialogId, Dialog] = {}
        self._drops: set[str] = set()
        # Dialogs this node has written (or loaded): their termination deletes them.
        self._written: set[DialogId] = set()
        self._soon: Optional[IDelayedCall] = None
        # What restoring a dialog means right now: "claim" (save it, owned by this node),
        # "guest" (loaded for a request: nothing to save), "adopt" (this node's own, back
        # after a restart: nothing to save), or None (someone else restores).
        self._restoring: Optional[str] = None
        # The dialog this node is expiring after the DUE script deleted it (no delete to
        # send for it; its expiry may end others, such as a B2BUA call's other leg).
        self._deleted: Optional[DialogId] = None
        self._up = False
        self._everUp = False
        self._resync = False
        self._beats = 0
        self._adoptedCount = 0
        self._downTicks = 0
        self._loop = LoopingCall(self.tick)
        self._loop.clock = clock

    # -- life ------------------------------------------------------------------------------

    def start(self) -> None:
        """
        Observe the table, decide its expiries, and start the heartbeat and the sweeper.
        """
        self.table.addObserver(self)
        self.table.arbiter = self
        self.table.loader = self.load
        if not self._loop.running:
            self._loop.start(self.heartbeat / 2, now=True)

    def stop(self) -> Deferred[Any]:
        """
        Write what is pending, give up this node's liveness key (the others take its
        dialogs over when they fall due), and close the connection.
        """
        if self._loop.running:
            self._loop.stop()
        if self._soon is not None and self._soon.active():
            self._soon.cancel()
        self._soon = None
        self.table.removeObserver(self)
        if self.table.arbiter is self:
            self.table.arbiter = None
        if self.table.loader == self.load:
            self.table.loader = None
        if self.link.up:
            self.flush()
            self.link.call(b"DEL", self._aliveKey).addErrback(lambda _: None)
        return self.link.close()

    @property
    def pending(self) -> int:
        """
        How many dialogs wait to be saved or deleted.
        """
        return len(self._dirty) + len(self._drops)

    def gauges(self) -> dict[str, object]:
        """
        @return: live values for C{/stats} and C{/metrics}: C{redis_up} (1 or 0),
            C{redis_pending_writes} and C{redis_commands}.
        """
        return {"redis_up": 1 if self.link.up else 0,
                "redis_pending_writes": self.pending,
                "redis_commands": self.link.sent}

    # -- observing the table ---------------------------------------------------------------

    def _mark(self, dialog: Dialog) -> None:
        self._dirty[dialog.id] = dialog
        if self._soon is None:
            self._soon = self.clock.callLater(self.writeDelay, self.flush)

    def dialogCreated(self, dialog: Dialog) -> None:
        """
        Nothing to write: an early dialog is written once confirmed.
        """

    def dialogConfirmed(self, dialog: Dialog) -> None:
        """
        Save a confirmed dialog.
        """
        self._mark(dialog)

    def dialogRefreshed(self, dialog: Dialog) -> None:
        """
        Save a confirmed dialog's new deadline.
        """
        if dialog.state is _CONFIRMED:
            self._mark(dialog)

    def dialogUpdated(self, dialog: Dialog) -> None:
        """
        Save what changed in a confirmed dialog.
        """
        if dialog.state is _CONFIRMED:
            self._mark(dialog)

    def dialogForgotten(self, dialog: Dialog) -> None:
        """
        Another node has the dialog: it is not this node's to write or delete any more.
        """
        self._dirty.pop(dialog.id, None)
        self._written.discard(dialog.id)

    def dialogRestored(self, dialog: Dialog) -> None:
        """
        Save a dialog this node claimed (it owns it now); a loaded one is as Redis has it.
        """
        if self._restoring == "claim" and dialog.state is not _TERMINATED:
            self._mark(dialog)

    def dialogExpired(self, dialog: Dialog) -> None:
        """
        Delete an expired dialog (unless the L{DUE<sst.cluster.scripts.DUE>} script did).
        """
        self._ended(dialog)

    def dialogTerminated(self, dialog: Dialog, reason: str) -> None:
        """
        Delete an ended dialog.
        """
        self._ended(dialog)

    def _ended(self, dialog: Dialog) -> None:
        dialogId = dialog.id
        self._dirty.pop(dialogId, None)
        if dialogId in self._written:
            self._written.discard(dialogId)
            if dialogId != self._deleted:
                self._drops.add(self.keys.dialogName(*dialogId))
                if self._soon is None:
                    self._soon = self.clock.callLater(self.writeDelay, self.flush)

    # -- writing ---------------------------------------------------------------------------

    def flush(self) -> None:
        """
        Save every marked dialog and delete every ended one: one script call per
        L{chunk} dialogs, sent now, not waited for.  Without a connection they wait for
        the next flush after Redis comes back.
        """
        self._soon = None
        if not self._dirty and not self._drops:
            return
        if not self.link.up:
            self._resync = True
            return
        saves = [dialog for dialog in self._dirty.values() if dialog.state is not _TERMINATED]
        drops = list(self._drops)
        self._dirty = {}
        self._drops = set()
        chunk = self.chunk
        keys = self.keys
        written = self._written
        for start in range(0, max(len(saves), 1), chunk):
            part = saves[start:start + chunk]
            gone = drops if start == 0 else []
            for dialog in part:
                written.add(dialog.id)
            d = self.link.evaluate(WRITE, (keys.deadlines,), (
                self._nodeBytes, _json([saveArguments(keys, dialog) for dialog in part]),
                _json(gone), keys.nodes))
            d.addErrback(self._writeFailed, part, gone)

    def _writeFailed(self, failure: Failure, saves: list[Dialog], drops: list[str]) -> None:
        self._failed(failure, "write")
        for dialog in saves:
            if dialog.state is not _TERMINATED and self.table.get(dialog.id) is dialog:
                self._dirty.setdefault(dialog.id, dialog)
        self._drops.update(drops)
        self._resync = True

    def _failed(self, failure: Failure, what: str) -> None:
        self.stats.increment("redis_errors")
        if self._up:
            self._up = False
            self._log.warn("Redis {url} failed ({what}: {error}): serving calls from memory "
                           "until it is back", url=str(self.link.url), what=what,
                           error=failure.getErrorMessage())

    # -- expiry ----------------------------------------------------------------------------

    def expiryDue(self, dialog: Dialog) -> None:
        """
        Ask Redis whether this node expires C{dialog} now (see
        L{DUE<sst.cluster.scripts.DUE>}); expire it locally when Redis cannot answer.
        """
        self._dirty.pop(dialog.id, None)  # the verdict decides what Redis keeps
        if dialog.id not in self._written:
            self.table.expireNow(dialog)  # never shared (an early dialog): a local matter
            return
        if not self.link.up:
            self._expireLocally(dialog)
            return
        d = self.link.evaluate(DUE, (self.keys.deadlines,), (
            self.keys.dialog(*dialog.id), self._nodeBytes, repr(self.clock.seconds()),
            self.keys.alive, self.keys.nodes))
        d.addCallbacks(self._verdict, self._verdictFailed, (dialog,), errbackArgs=(dialog,))

    def _stillDue(self, dialog: Dialog) -> bool:
        # Still in the table and not re-armed (by a refresh) while Redis was asked.
        return self.table.get(dialog.id) is dialog and not dialog.armed

    def _verdict(self, reply: Any, dialog: Dialog) -> None:
        if not self._stillDue(dialog):
            return
        kind = reply[0]
        if kind == b"expire":
            self._written.discard(dialog.id)
            self._deleted = dialog.id
            try:
                self.table.expireNow(dialog)
            finally:
                self._deleted = None
        elif kind == b"later":
            interval = int(reply[2]) if reply[2] else None
            refresher = reply[3].decode("ascii") if reply[3] else None
            self.table.rearm(dialog, float(reply[1]), interval, refresher)
            self.stats.increment("cluster_rearmed")
        else:
            self._written.discard(dialog.id)
            self.table.forget(dialog)
            self.stats.increment("cluster_handed_over")

    def _verdictFailed(self, failure: Failure, dialog: Dialog) -> None:
        self._failed(failure, "expiry")
        if self._stillDue(dialog):
            self._expireLocally(dialog)

    def _expireLocally(self, dialog: Dialog) -> None:
        """
        Expire without Redis; its hash is deleted once Redis is back.
        """
        self.stats.increment("cluster_local_expiries")
        self.table.expireNow(dialog)

    # -- loading ---------------------------------------------------------------------------

    def load(self, callId: str, tag1: str, tag2: str) -> Deferred[Optional[Dialog]]:
        """
        Read the dialog of an in-dialog request this node does not hold, into its table.

        @param callId: the request's Call-ID.
        @param tag1: its From tag.
        @param tag2: its To tag.
        @return: the dialog (owned by the node that has it; with L{takeOver}, by this node
            now), or L{None} when Redis has no such dialog (with L{takeOver}: or a live node
            holds it) or cannot be asked; never fails.
        """
        if not self.link.up:
            return succeed(None)
        keys = (self.keys.dialog(callId, tag1, tag2), self.keys.dialog(callId, tag2, tag1))
        if self.takeOver:
            d = self.link.evaluate(TAKE, (self.keys.deadlines,), (
                self._nodeBytes, self.keys.alive, self.keys.nodes) + keys)
            return d.addCallbacks(self._taken, self._loadFailed, (callId,))
        d = self.link.evaluate(LOAD, (), keys)
        return d.addCallbacks(self._loaded, self._loadFailed)

    def _taken(self, reply: Any, callId: str) -> Optional[Dialog]:
        if not reply:
            return None
        if reply[0] == b"held":
            self._log.info("Call {callId} is held by live node {owner}: not taken over",
                           callId=callId, owner=reply[1].decode("utf-8", "replace"))
            return None
        found: Optional[Dialog] = None
        for flat in reply[1:]:
            saved = self._read(flat)
            if saved is None:
                continue
            dialog = self.table.get(saved.id)
            if dialog is None:
                self.stats.increment("cluster_claimed")
                self._log.info("Took over dialog {callId} of node {owner} for a request",
                               callId=saved.id.callId, owner=saved.owner)
                dialog = self._restore(saved, "claim")
            found = found or dialog
        return found

    def _loaded(self, flat: Any) -> Optional[Dialog]:
        if not flat:
            return None
        saved = self._read(flat)
        if saved is None:
            return None
        known = self.table.get(saved.id)
        if known is not None:
            return known
        self.stats.increment("cluster_loaded")
        return self._restore(saved, "guest")

    def _loadFailed(self, failure: Failure) -> None:
        self._failed(failure, "load")
        return None

    def _read(self, flat: Any) -> Optional[SavedDialog]:
        try:
            return SavedDialog.fromHash(flat)
        except ValueError as e:
            self._log.warn("Ignoring an unreadable dialog in Redis: {error}", error=str(e))
            return None

    def _restore(self, saved: SavedDialog, how: str) -> Optional[Dialog]:
        # In Redis: ended while being restored (an observer before this one may end it),
        # it is deleted there.
        self._written.add(saved.id)
        self._restoring = how
        try:
            dialog = self.table.restore(saved.id, saved.state, saved.interval, saved.refresher,
                                        saved.createdAt, saved.expiresAt, saved.extra)
        finally:
            self._restoring = None
        return dialog if self.table.get(saved.id) is dialog else None

    # -- liveness and the sweeper ----------------------------------------------------------

    def tick(self) -> None:
        """
        Twice per heartbeat: notice Redis going and coming back, renew the liveness key
        (once per heartbeat), and sweep.
        """
        link = self.link
        link.watch()
        if not link.up:
            if self._up:
                # The connection went without a command failing (none was waiting): count
                # the outage, which the commands skipped from now on would not.
                self._up = False
                self.stats.increment("redis_errors")
                self._log.warn("Redis {url} is unreachable: serving calls from memory",
                               url=str(link.url))
            if self._everUp:
                self._resync = True
            else:
                self._downTicks += 1
                if self._downTicks == 4:
                    # Two seconds after start-up and still no connection: say so, once.
                    self.stats.increment("redis_errors")
                    self._log.warn("Redis {url} is not reachable ({error}): serving calls "
                                   "from memory until it is", url=str(link.url),
                                   error=link.lastError or "no connection yet")
            return
        if not self._up:
            self._up = True
            if not self._everUp:
                self._everUp = True
                self._log.info("Node {node} uses Redis {url}", node=self.node, url=str(link.url))
                self._adopt(b"0")
            elif self._resync:
                self._log.info("Redis {url} is back: writing {count} dialogs again",
                               url=str(link.url), count=len(self.table))
        if self._resync:
            self._resync = False
            for dialog in self.table:
                if dialog.state is _CONFIRMED and dialog.armed:
                    self._mark(dialog)
        if self._beats % 2 == 0:
            link.call(b"SET", self._aliveKey, b"1", b"PX", int(self.ttl * 1000)).addErrback(
                self._failed, "heartbeat")
        self._beats += 1
        d = link.evaluate(SWEEP, (self.keys.deadlines,), (
            self._nodeBytes, repr(self.clock.seconds()), self.sweepLimit, self.keys.alive,
            repr(self.grace), repr(self.ttl * 2), self.keys.nodes))
        d.addCallbacks(self._claimed, self._failed, errbackArgs=("sweep",))
        self.flush()

    def _adopt(self, cursor: bytes) -> None:
        """
        Take back the dialogs this node owns (it restarted under the same name), a page
        at a time: their timers fire here at their deadlines, as before the restart.
        """
        d = self.link.evaluate(ADOPT, (self.keys.deadlines,), (
            self._nodeBytes, self.keys.nodes, cursor, 500))
        d.addCallbacks(self._adopted, self._failed, errbackArgs=("adopt",))

    def _adopted(self, reply: Any) -> None:
        cursor, hashes = reply[0], reply[1:]
        for flat in hashes:
            saved = self._read(flat)
            if saved is not None and self.table.get(saved.id) is None:
                self._restore(saved, "adopt")
                self._adoptedCount += 1
        if cursor != b"0":
            self._adopt(cursor)
        elif self._adoptedCount:
            self._log.info("Took back {count} dialogs of node {node} from Redis",
                           count=self._adoptedCount, node=self.node)

    def _claimed(self, hashes: Any) -> None:
        for flat in hashes or ():
            saved = self._read(flat)
            if saved is None:
                continue
            self.stats.increment("cluster_claimed")
            self._log.info("Took over dialog {callId} of node {owner}", callId=saved.id.callId,
                           owner=saved.owner)
            known = self.table.get(saved.id)
            if known is None:
                self._restore(saved, "claim")
            elif not known.armed:
                pass  # its verdict is on its way
            else:
                self.table.rearm(known, saved.expiresAt, saved.interval, saved.refresher)
                self._mark(known)
