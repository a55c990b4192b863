# -*- test-case-name: sst.test.test_store -*-
"""
Dialogs kept across restarts, in an SQLite file (C{--state}).

A L{DialogStore} watches the L{DialogTable} as an L{IDialogObserver}.  An
event only notes the dialog as changed (a dictionary assignment); every
C{flushInterval} seconds one transaction writes every changed dialog with
one C{executemany} UPSERT and deletes every ended one.  A dialog that starts
and ends between two flushes never reaches the file.  The file is in WAL
mode with C{synchronous=NORMAL}: a committed flush survives the process
being killed, so after C{kill -9} at most the last C{flushInterval} seconds
of changes are lost.

On start, L{DialogStore.load} puts every saved dialog back into the table
with L{DialogTable.restore}, which re-arms its timer for what is left until
its saved deadline, or expires it at once (and so counts it) when the
deadline has passed while sst was down.  Deadlines are saved as absolute
clock seconds, and the clock is the reactor's, which is wall-clock time in
production.

Of L{Dialog.extra}, the JSON scalars are saved as they are, and
L{DialogEnds} (what C{--bye-on-expiry} needs) and the B2BUA's
L{CallSnapshot<sst.b2bua.snapshot.CallSnapshot>} (both legs of a call) through
their C{toJSON} and C{fromJSON}; anything else is not saved.  The cluster store
(L{sst.cluster}) saves C{extra} the same way.
"""
from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Any, Callable, Optional

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from zope.interface import implementer

from sst.b2bua.snapshot import CallSnapshot
from sst.dialogs import Dialog, DialogId, DialogState, DialogTable
from sst.expiry import DialogEnds
from sst.dialogs import IDialogObserver

__all__ = ["DialogStore", "checkStatePath", "encodeExtra", "decodeExtra"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS dialogs (
    call_id TEXT NOT NULL,
    from_tag TEXT NOT NULL,
    to_tag TEXT NOT NULL,
    state TEXT NOT NULL,
    interval INTEGER,
    refresher TEXT,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    extra TEXT,
    PRIMARY KEY (call_id, from_tag, to_tag)
) WITHOUT ROWID
"""

_UPSERT = """
INSERT INTO dialogs (call_id, from_tag, to_tag, state, interval, refresher, created_at,
                     expires_at, extra)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (call_id, from_tag, to_tag) DO UPDATE SET
    state = excluded.state, interval = excluded.interval, refresher = excluded.refresher,
    created_at = excluded.created_at, expires_at = excluded.expires_at, extra = excluded.extra
"""

_DELETE = "DELETE FROM dialogs WHERE call_id = ? AND from_tag = ? AND to_tag = ?"

_SELECT = """
SELECT call_id, from_tag, to_tag, state, interval, refresher, created_at, expires_at, extra
FROM dialogs ORDER BY created_at
"""

#: Objects kept in L{Dialog.extra} that are saved, by type name: the type,
#: how to describe an instance in JSON and how to rebuild one.
_CODECS: dict[str, tuple[type, Callable[[Any], object], Callable[[object], object]]] = {
    "DialogEnds": (DialogEnds, DialogEnds.toJSON, DialogEnds.fromJSON),
    "CallSnapshot": (CallSnapshot, CallSnapshot.toJSON, CallSnapshot.fromJSON),
}

_SCALARS = (str, int, float, bool)


def encodeExtra(extra: Optional[dict[str, Any]]) -> Optional[str]:
    """
    Describe what of L{Dialog.extra} can be saved, as JSON.

    @param extra: the dialog's C{extra}.
    @return: a JSON object whose scalar members are the scalar entries of
        C{extra} and whose object members C{{"<type>": ...}} describe the
        objects of known types (L{DialogEnds}); L{None} if there is nothing
        to save.
    """
    if not extra:
        return None
    document: dict[str, object] = {}
    for key, value in extra.items():
        if value is None or isinstance(value, _SCALARS):
            document[str(key)] = value
            continue
        for name, (kind, encode, _) in _CODECS.items():
            if isinstance(value, kind):
                document[str(key)] = {name: encode(value)}
                break
    return json.dumps(document, separators=(",", ":")) if document else None


def decodeExtra(text: Optional[str]) -> Optional[dict[str, Any]]:
    """
    Rebuild a dialog's C{extra} from L{encodeExtra}'s JSON.

    @param text: the JSON, or L{None}.
    @return: the entries, or L{None} when there are none.
    @raise ValueError: if C{text} is not such JSON.
    """
    if text is None:
        return None
    document = json.loads(text)
    if not isinstance(document, dict):
        raise ValueError("extra must be a JSON object, not %r" % (text,))
    extra: dict[str, Any] = {}
    for key, value in document.items():
        if isinstance(value, dict):
            if len(value) != 1 or next(iter(value)) not in _CODECS:
                raise ValueError("Unknown object in extra: %r" % (value,))
            name, described = next(iter(value.items()))
            extra[key] = _CODECS[name][2](described)
        else:
            extra[key] = value
    return extra or None


def checkStatePath(path: str) -> None:
    """
    Make sure a store can be kept at C{path}, leaving no file behind where
    there was none.

    An existing file is opened, and its write lock taken and released, so
    that it is known to be a writable SQLite database; where there is no
    file, a probe file of a unique name is created beside it and removed
    again, so that processes started together in one directory (a
    cluster's nodes) do not trip over each other's probe.

    @param path: the C{--state} file.
    @raise ValueError: with the reason, if no store can be kept there.
    """
    if os.path.isdir(path):
        raise ValueError("%s is a directory" % (path,))
    if not os.path.exists(path):
        directory, name = os.path.split(os.path.abspath(path))
        try:
            handle, probe = tempfile.mkstemp(prefix="." + name + ".", dir=directory)
        except OSError as e:
            raise ValueError("cannot create %s: %s" % (path, e.strerror)) from e
        os.close(handle)
        os.unlink(probe)
        return
    try:
        connection = sqlite3.connect(Path(path).absolute().as_uri() + "?mode=rw", uri=True)
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
            connection.rollback()
        finally:
            connection.close()
    except sqlite3.Error as e:
        raise ValueError("cannot use %s: %s" % (path, e)) from e


@implementer(IDialogObserver)
class DialogStore:
    """
    Writes a dialog table to an SQLite file behind its back, and reads it
    back on start.

    @ivar path: the file.
    @ivar flushInterval: seconds between two flushes.
    @ivar flushes: how many flushes wrote something.
    @ivar written: how many rows the flushes wrote, deletions included.
    """

    _log = Logger()

    def __init__(self, path: str, clock: IReactorTime, flushInterval: float = 1.0,
                 prompt: bool = False) -> None:
        """
        Open (or create) the file.

        @param path: the file.
        @param clock: paces the flushes.
        @param flushInterval: seconds between two flushes.
        @param prompt: also flush at the end of each reactor turn that confirmed or
            refreshed a dialog, so that a process killed at any time loses no confirmed
            dialog (what C{--workers} promises: the supervisor restarts a dead worker from
            the file).
        @raise sqlite3.Error: if the file cannot be opened as a database.
        """
        self.path = path
        self.flushInterval = flushInterval
        self.flushes = 0
        self.written = 0
        # Dialogs changed since the last flush, and ids of dialogs ended since then whose
        # rows may be in the file.  Ids of dialogs created since then: their rows are not.
        self._dirty: dict[DialogId, Dialog] = {}
        self._removed: set[DialogId] = set()
        self._fresh: set[DialogId] = set()
        self._db: Optional[sqlite3.Connection] = sqlite3.connect(path)
        try:
            self._db.execute("PRAGMA journal_mode=WAL").fetchone()
            self._db.execute("PRAGMA synchronous=NORMAL")
            with self._db:
                self._db.execute(_SCHEMA)
        except sqlite3.Error:
            self._db.close()
            raise
        self._loop = LoopingCall(self.flush)
        self._loop.clock = clock
        self.clock = clock
        self.prompt = prompt
        self._soon: Optional[IDelayedCall] = None

    def start(self) -> None:
        """
        Flush every C{flushInterval} seconds from now on.
        """
        if not self._loop.running:
            self._loop.start(self.flushInterval, now=False)

    @property
    def pending(self) -> int:
        """
        How many changes the next flush writes.
        """
        return len(self._dirty) + len(self._removed)

    def load(self, table: DialogTable,
             owns: Callable[[str], bool] = lambda callId: True) -> tuple[int, int]:
        """
        Put every saved dialog back into C{table} (see L{DialogTable.restore}).

        A dialog whose deadline has passed expires at once, and its row is
        deleted by the next flush; so is a row that cannot be read, after a
        warning.

        @param table: the table, which should not hold any of the saved
            dialogs yet.
        @param owns: whether this process owns a dialog, by its Call-ID: with
            C{--workers}, the workers share one file, and each loads (and
            expires) only its own dialogs.
        @return: how many dialogs were restored and how many of them
            expired at once.
        """
        db = self._connection()
        restored = expired = 0
        for row in db.execute(_SELECT).fetchall():
            dialogId = DialogId(*(str(part) for part in row[:3]))
            if not owns(dialogId.callId):
                continue
            try:
                state, interval, refresher, createdAt, expiresAt = row[3:8]
                if interval is not None and type(interval) is not int:
                    raise ValueError("bad interval %r" % (interval,))
                dialog = table.restore(dialogId, DialogState(state), interval, refresher,
                                       float(createdAt), float(expiresAt), decodeExtra(row[8]))
            except (ValueError, TypeError) as e:
                self._log.warn("Dropping unreadable saved dialog {callId}: {error}",
                               callId=dialogId.callId, error=str(e))
                self._removed.add(dialogId)
                continue
            restored += 1
            if dialog.state is DialogState.TERMINATED:
                expired += 1
                self._removed.add(dialogId)
        return restored, expired

    def flush(self) -> None:
        """
        Write every dialog changed since the last flush and delete every
        ended one, in one transaction.  On an error (a full disk, say) the
        changes are kept for the next flush, and the error logged, so that
        the periodic flush goes on.

        @raise sqlite3.ProgrammingError: if the store is closed.
        """
        if not self._dirty and not self._removed:
            return
        db = self._connection()
        try:
            rows = [
                (d.id.callId, d.id.fromTag, d.id.toTag, d.state.value, d.interval, d.refresher,
                 d.createdAt, d.expiresAt, encodeExtra(d.extra))
                for d in self._dirty.values()
            ]
            with db:
                if rows:
                    db.executemany(_UPSERT, rows)
                if self._removed:
                    db.executemany(_DELETE, self._removed)
        except Exception:
            self._log.failure("Cannot save {count} dialog changes to {path}",
                              count=self.pending, path=self.path)
            return
        self.flushes += 1
        self.written += len(rows) + len(self._removed)
        self._dirty = {}
        self._removed = set()
        self._fresh = set()

    def close(self) -> None:
        """
        Stop flushing, flush what is left and close the file.  Closing a
        closed store does nothing.
        """
        if self._loop.running:
            self._loop.stop()
        if self._soon is not None:
            self._soon.cancel()
            self._soon = None
        if self._db is None:
            return
        try:
            self.flush()
        finally:
            self._db.close()
            self._db = None

    def _connection(self) -> sqlite3.Connection:
        """
        @return: the open database.
        @raise sqlite3.ProgrammingError: if the store is closed.
        """
        if self._db is None:
            raise sqlite3.ProgrammingError("DialogStore %s is closed" % (self.path,))
        return self._db

    def dialogCreated(self, dialog: Dialog) -> None:
        """
        Note a new dialog for the next flush.

        @param dialog: the dialog.
        """
        dialogId = dialog.id
        self._dirty[dialogId] = dialog
        if dialogId in self._removed:
            # Ended and made again since the last flush: its old row is in the file.
            self._removed.discard(dialogId)
        else:
            self._fresh.add(dialogId)

    def dialogConfirmed(self, dialog: Dialog) -> None:
        """
        Note a confirmed dialog for the next flush.

        @param dialog: the dialog.
        """
        self._dirty[dialog.id] = dialog
        if self.prompt:
            self._flushSoon()

    def dialogRefreshed(self, dialog: Dialog) -> None:
        """
        Note a refreshed dialog (new deadline, interval or refresher) for the
        next flush.

        @param dialog: the dialog.
        """
        self._dirty[dialog.id] = dialog
        if self.prompt:
            self._flushSoon()

    def dialogUpdated(self, dialog: Dialog) -> None:
        """
        Note a dialog whose L{Dialog.extra} changed (a B2BUA leg's CSeq, say) for the
        next flush.

        @param dialog: the dialog.
        """
        self._dirty[dialog.id] = dialog
        if self.prompt:
            self._flushSoon()

    def dialogForgotten(self, dialog: Dialog) -> None:
        """
        Nothing to write: only a cluster forgets dialogs.

        @param dialog: the dialog.
        """

    def dialogRestored(self, dialog: Dialog) -> None:
        """
        Nothing to write: a restored dialog comes from this file.

        @param dialog: the dialog.
        """

    def _flushSoon(self) -> None:
        """
        Flush at the end of this reactor turn (once, however many changes it makes).
        """
        if self._soon is None and self._db is not None:
            self._soon = self.clock.callLater(0, self._flushNow)

    def _flushNow(self) -> None:
        self._soon = None
        if self._db is not None:
            self.flush()

    def dialogExpired(self, dialog: Dialog) -> None:
        """
        Note an expired dialog, whose row the next flush deletes.

        @param dialog: the dialog.
        """
        self._ended(dialog.id)

    def dialogTerminated(self, dialog: Dialog, reason: str) -> None:
        """
        Note an ended dialog, whose row the next flush deletes.

        @param dialog: the dialog.
        @param reason: why it ended.
        """
        self._ended(dialog.id)

    def _ended(self, dialogId: DialogId) -> None:
        """
        Forget an ended dialog's changes; delete its row at the next flush
        unless it never reached the file.

        @param dialogId: the dialog's identifier.
        """
        self._dirty.pop(dialogId, None)
        if dialogId in self._fresh:
            self._fresh.discard(dialogId)
        else:
            self._removed.add(dialogId)
