# -*- test-case-name: sst.test.test_store -*-
"""
Tests for L{sst.store}: dialogs written behind to SQLite and restored on
start, with their session timers re-armed from the saved deadlines.
"""
from __future__ import annotations

import os
import sqlite3
from typing import Any, Optional

from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import capturedLogs
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from sst.dialogs import Dialog, DialogId, DialogState, DialogTable
from sst.expiry import EXPIRY_REASON, DialogEnds
from sst.dialogs import IDialogObserver
from sst.message import Request
from sst.sessiontimer import ExpiryCounter
from sst.stats import Stats
from sst.store import DialogStore, checkStatePath, decodeExtra, encodeExtra
from sst.tap import Options, SIPService
from sst.testing import CALLEE, CALLER, ProxyHarness
from sst.test._support import assertProvides

TIMED = DialogId("timed@example.com", "caller-a", "callee-a")
UNTIMED = DialogId("untimed@example.com", "caller-b", "callee-b")
ENDED = DialogId("ended@example.com", "caller-c", "callee-c")
EXPIRING = DialogId("expiring@example.com", "caller-d", "callee-d")


def rows(path: str) -> dict[DialogId, tuple[Any, ...]]:
    """
    Read a store's file with a connection of its own.

    @return: every row, by dialog id, without the id columns.
    """
    connection = sqlite3.connect(path)
    try:
        found = connection.execute("SELECT * FROM dialogs").fetchall()
    finally:
        connection.close()
    return {DialogId(*row[:3]): tuple(row[3:]) for row in found}


def ends() -> DialogEnds:
    """
    @return: a L{DialogEnds} with every field set.
    """
    result = DialogEnds("sip:alice@192.0.2.1:5061", ("<sip:edge.example.com;lr>",),
                        "sip:bob@192.0.2.2:5070", (), '"alice" <sip:alice@example.com>;tag=a',
                        "<sip:bob@example.com>;tag=b", 3)
    result.calleeCSeq = 7
    return result


class StoreTestCase(SynchronousTestCase):
    """
    A temporary file for the store, and helpers to open it on a clock.
    """

    def setUp(self) -> None:
        self.path = self.mktemp() + ".sqlite"

    def openTable(self, clock: Clock, flushInterval: float = 1.0
                  ) -> tuple[DialogTable, DialogStore, Stats]:
        """
        A dialog table on C{clock} that counts C{expired_sst}, with a store
        on C{self.path} observing it and flushing; both are closed when the
        test ends.
        """
        stats = Stats()
        table = DialogTable(clock)
        table.addObserver(ExpiryCounter(stats))
        store = DialogStore(self.path, clock, flushInterval)
        self.addCleanup(store.close)
        table.addObserver(store)
        store.start()
        return table, store, stats


class StoreTests(StoreTestCase):
    """
    L{DialogStore} saves dialogs behind the table's back and restores them.
    """

    def test_provides(self) -> None:
        """
        L{DialogStore} is an L{IDialogObserver}.
        """
        table, store, _ = self.openTable(Clock())
        assertProvides(self, IDialogObserver, store)

    def test_roundTrip(self) -> None:
        """
        Dialogs created, confirmed and refreshed are back after a restart in
        the state they were in, with the same deadlines, interval and
        refresher; dialogs that ended or expired before the last flush are
        not.
        """
        clock = Clock()
        clock.advance(1000)
        table, store, _ = self.openTable(clock)
        table.create(TIMED, confirmed=True, lifetime=90, interval=90, refresher="uac")
        table.create(UNTIMED, lifetime=600)
        table.create(ENDED, confirmed=True)
        table.create(EXPIRING, confirmed=True, lifetime=5, interval=90, refresher="uas")
        clock.advance(1)
        table.terminate(ENDED)
        clock.advance(29)
        table.refresh(TIMED, 120, 120, "uas")
        clock.advance(1)
        store.close()
        self.assertEqual(set(rows(self.path)), {TIMED, UNTIMED})

        later = Clock()
        later.advance(1040)
        restored, second, _ = self.openTable(later)
        self.assertEqual(second.load(restored), (2, 0))
        timed = restored.get(TIMED)
        untimed = restored.get(UNTIMED)
        assert timed is not None and untimed is not None
        self.assertEqual((timed.state, timed.interval, timed.refresher, timed.createdAt,
                          timed.expiresAt), (DialogState.CONFIRMED, 120, "uas", 1000.0, 1150.0))
        self.assertEqual((untimed.state, untimed.interval, untimed.refresher, untimed.createdAt,
                          untimed.expiresAt), (DialogState.EARLY, None, None, 1000.0, 1600.0))
        self.assertEqual([call.getTime() for call in restored.timers.getDelayedCalls()],
                         [1150.0, 1600.0])  # the two expiries
        self.assertIn(1041.0, [call.getTime() for call in later.getDelayedCalls()])  # the flush
        self.assertEqual(second.pending, 0)

    def loadInto(self, table: DialogTable) -> tuple[int, int]:
        """
        Load this test's store file into C{table} through a store of its own.
        """
        store = DialogStore(self.path, Clock())
        try:
            return store.load(table)
        finally:
            store.close()

    def test_restoredTimerFires(self) -> None:
        """
        A restored timed dialog expires at its saved deadline, not a whole
        interval after the restart, and is counted in C{expired_sst}; its
        timer is freed and its row deleted.
        """
        clock = Clock()
        table, store, _ = self.openTable(clock)
        table.create(TIMED, confirmed=True, lifetime=100, interval=100, refresher="uac")
        store.close()

        later = Clock()
        later.advance(40)
        restored, second, stats = self.openTable(later)
        self.assertEqual(second.load(restored), (1, 0))
        later.advance(59.9)
        self.assertEqual(len(restored), 1)
        later.advance(0.2)
        self.assertEqual(len(restored), 0)
        self.assertEqual(stats.get("expired_sst"), 1)
        second.close()
        self.assertEqual(later.getDelayedCalls(), [])
        self.assertEqual(rows(self.path), {})

    def test_passedDeadlineExpiresAtOnce(self) -> None:
        """
        A dialog whose deadline passed while sst was down expires during
        L{DialogStore.load}, through the usual expiry (counted in
        C{expired_sst}, reported to observers), leaves no timer behind, and
        its row is deleted by the next flush.
        """
        clock = Clock()
        table, store, _ = self.openTable(clock)
        table.create(TIMED, confirmed=True, lifetime=90, interval=90, refresher="uac")
        table.create(UNTIMED, confirmed=True, lifetime=600)
        store.close()

        later = Clock()
        later.advance(91)
        restored = DialogTable(later)
        stats = Stats()
        restored.addObserver(ExpiryCounter(stats))
        second = DialogStore(self.path, later)
        self.addCleanup(second.close)
        self.assertEqual(second.load(restored), (2, 1))
        self.assertEqual([dialog.id for dialog in restored], [UNTIMED])
        self.assertEqual(stats.get("expired_sst"), 1)
        self.assertEqual(restored.expiredCount, 1)
        self.assertEqual([call.getTime() for call in restored.timers.getDelayedCalls()], [600.0])
        second.flush()
        self.assertEqual(set(rows(self.path)), {UNTIMED})

    def test_writeBehind(self) -> None:
        """
        Changes reach the file only when the flush interval has passed, all
        of them in one flush; a dialog made and ended between two flushes
        never reaches it.
        """
        clock = Clock()
        table, store, _ = self.openTable(clock)
        ids = [DialogId("call-%d" % (i,), "a", "b") for i in range(40)]
        for dialogId in ids:
            table.create(dialogId, lifetime=300)
        for dialogId in ids[:20]:
            table.confirm(dialogId)
        for dialogId in ids[:10]:
            table.refresh(dialogId, 200, 90, "uac")
        for dialogId in ids[30:]:
            table.terminate(dialogId)
        clock.advance(0.9)
        self.assertEqual(rows(self.path), {})
        self.assertEqual(store.pending, 30)
        clock.advance(0.1)
        self.assertEqual((store.flushes, store.written, store.pending), (1, 30, 0))
        saved = rows(self.path)
        self.assertEqual(set(saved), set(ids[:30]))
        self.assertEqual(saved[ids[0]], ("confirmed", 90, "uac", 0.0, 200.0, None))
        self.assertEqual(saved[ids[15]], ("confirmed", None, None, 0.0, 300.0, None))
        self.assertEqual(saved[ids[25]], ("early", None, None, 0.0, 300.0, None))

        for dialogId in ids[:5]:
            table.terminate(dialogId)
        clock.advance(1)
        self.assertEqual((store.flushes, store.written), (2, 35))
        self.assertEqual(set(rows(self.path)), set(ids[5:30]))
        clock.advance(5)
        self.assertEqual(store.flushes, 2)

    def test_madeAgainAfterFlush(self) -> None:
        """
        A dialog saved, ended and made again under the same id before the
        next flush is saved as it is now, and deleted when it ends again.
        """
        clock = Clock()
        table, store, _ = self.openTable(clock)
        table.create(TIMED, lifetime=300)
        clock.advance(1)
        table.terminate(TIMED)
        table.create(TIMED, confirmed=True, lifetime=50)
        clock.advance(1)
        self.assertEqual(rows(self.path)[TIMED][:1], ("confirmed",))
        table.terminate(TIMED)
        table.create(TIMED, lifetime=10)
        table.terminate(TIMED)
        clock.advance(1)
        self.assertEqual(rows(self.path), {})

    def test_extra(self) -> None:
        """
        The JSON scalars of C{extra} and its L{DialogEnds} are saved and
        restored; other values are left out.
        """
        clock = Clock()
        table, store, _ = self.openTable(clock)
        dialog = table.create(TIMED, confirmed=True, lifetime=90, interval=90, refresher="uac")
        dialog.extra = {"ends": ends(), "note": "x", "count": 2, "flag": True, "none": None,
                        "object": object()}
        table.refresh(TIMED, 90, 90, "uac")
        store.close()

        restored = DialogTable(clock)
        self.loadInto(restored)
        back = restored.get(TIMED)
        assert back is not None and back.extra is not None
        self.assertEqual(sorted(back.extra), ["count", "ends", "flag", "none", "note"])
        self.assertEqual((back.extra["note"], back.extra["count"], back.extra["flag"]),
                         ("x", 2, True))
        self.assertEqual(back.extra["ends"].toJSON(), ends().toJSON())
        self.assertIsInstance(back.extra["ends"].callerRoutes, tuple)

    def test_encodeExtra(self) -> None:
        """
        L{encodeExtra} gives L{None} for nothing to save; L{decodeExtra}
        reverses it and rejects what it did not make.
        """
        self.assertIsNone(encodeExtra(None))
        self.assertIsNone(encodeExtra({"object": object()}))
        self.assertEqual(decodeExtra(encodeExtra({"a": 1.5})), {"a": 1.5})
        self.assertIsNone(decodeExtra(None))
        for bad in ["[1]", "{", '{"a": {"Nope": 1}}', '{"ends": {"DialogEnds": {}}}']:
            self.assertRaises(ValueError, decodeExtra, bad)

    def test_dialogEndsJSON(self) -> None:
        """
        L{DialogEnds.fromJSON} rebuilds what L{DialogEnds.toJSON} describes
        and rejects anything else.
        """
        back = DialogEnds.fromJSON(ends().toJSON())
        for name in DialogEnds.__slots__:
            self.assertEqual(getattr(back, name), getattr(ends(), name), name)
        broken = dict(ends().toJSON(), callerCSeq="3")
        self.assertRaises(ValueError, DialogEnds.fromJSON, broken)
        self.assertRaises(ValueError, DialogEnds.fromJSON, [])

    def test_unreadableRowDropped(self) -> None:
        """
        A row that cannot be restored is skipped with a warning and deleted
        by the next flush; the others are restored.
        """
        table, store, _ = self.openTable(Clock())
        table.create(TIMED, lifetime=90)
        store.close()
        connection = sqlite3.connect(self.path)
        with connection:
            connection.execute(
                "INSERT INTO dialogs VALUES ('bad', 'a', 'b', 'gone', NULL, NULL, 0, 90, NULL)")
            connection.execute(
                "INSERT INTO dialogs VALUES ('bad2', 'a', 'b', 'early', NULL, NULL, 0, 90, '{')")
        connection.close()

        restored = DialogTable(Clock())
        second = DialogStore(self.path, Clock())
        self.addCleanup(second.close)
        with capturedLogs() as events:
            self.assertEqual(second.load(restored), (1, 0))
        self.assertEqual([dialog.id for dialog in restored], [TIMED])
        self.assertEqual(len([e for e in events if "Dropping" in e["log_format"]]), 2)
        second.flush()
        self.assertEqual(set(rows(self.path)), {TIMED})

    def test_flushErrorKept(self) -> None:
        """
        A flush that fails is logged, its changes are kept, and the next
        flush writes them.
        """
        clock = Clock()
        table, store, _ = self.openTable(clock)
        table.create(TIMED, lifetime=90)
        other = sqlite3.connect(self.path)
        self.addCleanup(other.close)
        with other:
            other.execute("ALTER TABLE dialogs RENAME TO elsewhere")
        with capturedLogs() as events:
            clock.advance(1)
        self.assertEqual(len([e for e in events if "log_failure" in e]), 1)
        self.assertEqual(len(self.flushLoggedErrors(sqlite3.OperationalError)), 1)
        self.assertEqual((store.flushes, store.pending), (0, 1))
        with other:
            other.execute("ALTER TABLE elsewhere RENAME TO dialogs")
        clock.advance(1)
        self.assertEqual((store.flushes, store.pending), (1, 0))
        self.assertEqual(set(rows(self.path)), {TIMED})

    def test_closeTwice(self) -> None:
        """
        Closing a closed store does nothing; flushing one raises.
        """
        _, store, _ = self.openTable(Clock())
        store.close()
        store.close()
        store.dialogCreated(Dialog(TIMED, 0, 1))
        self.assertRaises(sqlite3.ProgrammingError, store.flush)


class RestoreTests(SynchronousTestCase):
    """
    L{DialogTable.restore} puts a dialog back with its one timer.
    """

    def test_noEvent(self) -> None:
        """
        A restored dialog is not reported as created, is not subject to
        C{maxDialogs}, and refuses an id already in the table or a
        terminated state.
        """
        clock = Clock()
        table = DialogTable(clock, maxDialogs=0)
        store = DialogStore(self.mktemp(), clock)
        self.addCleanup(store.close)
        table.addObserver(store)
        dialog = table.restore(TIMED, DialogState.CONFIRMED, 90, "uac", 0.0, 90.0, None)
        self.assertIs(table.get(TIMED), dialog)
        self.assertEqual(store.pending, 0)
        self.assertRaises(ValueError, table.restore, TIMED, DialogState.EARLY, None, None, 0, 9)
        self.assertRaises(ValueError, table.restore, UNTIMED, DialogState.TERMINATED, None,
                          None, 0, 9)
        self.assertEqual(len(clock.getDelayedCalls()), 1)
        table.terminate(TIMED)
        self.assertEqual(clock.getDelayedCalls(), [])


class ByeOnExpiryTests(StoreTestCase):
    """
    C{--bye-on-expiry} still sends its BYEs for a dialog restored after a
    restart.
    """

    def savedCall(self) -> None:
        """
        Run a call with C{Session-Expires: 90} through a proxy with
        C{--bye-on-expiry} and a store, then stop it.
        """
        harness = ProxyHarness(["--min-se", "90", "--bye-on-expiry", "--state", "none"])
        store = DialogStore(self.path, harness.clock)
        harness.dialogs.addObserver(store)
        harness.call("Session-Expires: 90")
        harness.fromCaller(harness.inDialog("INFO", cseq=4))
        harness.fromCallee(harness.answer(harness.lastRequestTo(CALLEE), 200))
        harness.clock.advance(10)
        harness.fromCaller(harness.inDialog("UPDATE", "Session-Expires: 90", cseq=5))
        harness.fromCallee(harness.answer(harness.lastRequestTo(CALLEE), 200,
                                          "Session-Expires: 90;refresher=uac"))
        store.close()

    def restarted(self, at: float) -> tuple[ProxyHarness, tuple[int, int]]:
        """
        A new proxy with C{--bye-on-expiry}, its clock at C{at}, loaded from
        the store.
        """
        harness = ProxyHarness(["--min-se", "90", "--bye-on-expiry", "--state", "none"])
        harness.clock.advance(at)
        store = DialogStore(self.path, harness.clock)
        self.addCleanup(store.close)
        harness.dialogs.addObserver(store)
        return harness, store.load(harness.dialogs)

    def assertByes(self, harness: ProxyHarness) -> None:
        """
        Both parties got the expiry BYE, with CSeqs above the last ones
        seen before the restart.
        """
        toCallee = harness.lastRequestTo(CALLEE)
        toCaller = harness.lastRequestTo(CALLER)
        for bye, cseq in [(toCallee, "6 BYE"), (toCaller, "1 BYE")]:
            self.assertIsInstance(bye, Request)
            self.assertEqual((bye.method, bye.header("cseq"), bye.header("reason")),
                             ("BYE", cseq, EXPIRY_REASON))
        self.assertEqual(harness.stats.get("expiry_byes"), 2)
        self.assertEqual(harness.stats.get("expired_sst"), 1)

    def test_restoredDialogEnds(self) -> None:
        """
        The restored dialog carries the L{DialogEnds} saved with it, and its
        expiry at the saved deadline sends BYE to both parties.
        """
        self.savedCall()
        harness, counts = self.restarted(60)
        self.assertEqual(counts, (1, 0))
        dialog: Optional[Dialog] = harness.dialogs.lookup("call-1", "caller1", "callee1")
        assert dialog is not None and dialog.extra is not None
        self.assertIsInstance(dialog.extra["ends"], DialogEnds)
        self.assertEqual(dialog.expiresAt, 100.0)
        harness.clock.advance(39.9)
        self.assertEqual(harness.stats.get("expiry_byes"), 0)
        harness.clock.advance(0.2)
        self.assertByes(harness)

    def test_passedWhileDown(self) -> None:
        """
        A dialog whose deadline passed while sst was down gets its BYEs as
        soon as it is loaded.
        """
        self.savedCall()
        harness, counts = self.restarted(200)
        self.assertEqual(counts, (1, 1))
        self.assertByes(harness)


class OptionsTests(SynchronousTestCase):
    """
    C{--state} names the store's file, or C{none}.
    """

    def parse(self, *args: str) -> Options:
        """
        Parse C{args} as C{twistd sst} options.
        """
        options = Options()
        options.parseOptions(list(args))
        return options

    def test_default(self) -> None:
        """
        By default the state is kept in C{sst-state.sqlite} in the working
        directory, which parsing the options does not create.
        """
        self.assertEqual(Options()["state"], "sst-state.sqlite")
        path = self.mktemp()
        self.assertEqual(self.parse("--state", path)["state"], path)
        self.assertFalse(os.path.exists(path))

    def test_none(self) -> None:
        """
        C{--state none} keeps no state, in either mode; b2bua mode keeps its calls in the
        file given.
        """
        self.assertIsNone(self.parse("--state", "none")["state"])
        self.assertIsNone(self.parse("--mode", "b2bua", "--state", "none")["state"])
        path = self.mktemp()
        self.assertEqual(self.parse("--mode", "b2bua", "--state", path)["state"], path)

    def test_unwritable(self) -> None:
        """
        A path in a missing directory, a directory, or a file that is not an
        SQLite database is a usage error naming C{--state}.
        """
        directory = self.mktemp()
        os.makedirs(directory)
        notDatabase = os.path.join(directory, "text")
        with open(notDatabase, "w") as f:
            f.write("not a database, not at all; " * 100)
        for bad in [os.path.join(directory, "missing", "state.sqlite"), directory, notDatabase]:
            e = self.assertRaises(UsageError, self.parse, "--state", bad)
            self.assertIn("--state", str(e))

    def test_probeOfAnotherProcess(self) -> None:
        """
        A file that appears at the path just after the check found none (the probe of
        another node started at the same time in the same directory) does not fail the
        check: it probes with a file of its own, beside the path, and leaves the other
        process's file alone.
        """
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        path = os.path.join(directory, "sst-state.sqlite")
        with open(path, "w"):
            pass  # the other node's probe
        exists = os.path.exists

        def notYet(candidate: str) -> bool:
            # The other node created its probe just after this one looked.
            return False if candidate == path else exists(candidate)

        self.patch(os.path, "exists", notYet)
        checkStatePath(path)
        self.assertEqual(os.listdir(directory), ["sst-state.sqlite"])

    def test_noStoreLeavesNothing(self) -> None:
        """
        Checking a path where there is no store creates nothing.
        """
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        checkStatePath(os.path.join(directory, "state.sqlite"))
        self.assertEqual(os.listdir(directory), [])

    def test_existingDatabase(self) -> None:
        """
        An existing store is accepted.
        """
        path = self.mktemp()
        DialogStore(path, Clock()).close()
        self.assertEqual(self.parse("--state", path)["state"], path)
        checkStatePath(path)


class ServiceTests(SynchronousTestCase):
    """
    L{SIPService} opens the store when it starts and closes it when it
    stops, and not before.
    """

    def test_startStop(self) -> None:
        """
        Starting the service restores the saved dialogs, logging how many,
        and saves changes every second; stopping it saves what is left.
        """
        path = self.mktemp()
        options = Options()
        options.parseOptions(["--listen", "tcp:127.0.0.1:5060", "--state", path])
        before = Clock()
        before.advance(100)
        table = DialogTable(before)
        store = DialogStore(path, before)
        table.addObserver(store)
        table.create(TIMED, confirmed=True, lifetime=90, interval=90, refresher="uac")
        table.create(EXPIRING, confirmed=True, lifetime=5, interval=90, refresher="uac")
        store.close()

        reactor = MemoryReactorClock()
        reactor.advance(110)
        service = SIPService(options, reactor)
        self.assertIsNone(service.store)
        with capturedLogs() as events:
            service.startService()
        self.assertIsNotNone(service.store)
        self.assertEqual([dialog.id for dialog in service.dialogs], [TIMED])
        self.assertEqual(service.stats.get("expired_sst"), 1)
        restoredLog = [e for e in events if "Restored" in e["log_format"]]
        self.assertEqual((restoredLog[0]["restored"], restoredLog[0]["expired"]), (2, 1))
        service.dialogs.create(UNTIMED, lifetime=30)
        service.stopService()
        self.assertIsNone(service.store)
        self.assertEqual(set(rows(path)), {TIMED, UNTIMED})

    def test_noFileUntilStarted(self) -> None:
        """
        A service that is never started (as in L{ProxyHarness}) creates no
        file.
        """
        path = self.mktemp()
        harness = ProxyHarness(["--state", path])
        harness.call()
        self.assertEqual(len(harness.dialogs), 1)
        self.assertFalse(os.path.exists(path))


class WorkerStoreTests(StoreTestCase):
    """
    With C{--workers}, the workers share one file: each loads its own dialogs, and writes
    confirmations and refreshes at the end of the reactor turn.
    """

    def test_promptFlush(self) -> None:
        """
        With C{prompt}, a confirmation or a refresh is written at the end of the turn (the
        clock's next step, however small), once for all the changes of the turn; a dialog
        only created waits for the periodic flush.
        """
        clock = Clock()
        table = DialogTable(clock)
        store = DialogStore(self.path, clock, prompt=True)
        self.addCleanup(store.close)
        table.addObserver(store)
        store.start()
        table.create(TIMED, lifetime=300)
        clock.advance(0)
        self.assertEqual(rows(self.path), {})
        table.confirm(TIMED)
        table.create(UNTIMED, confirmed=True, lifetime=300)
        self.assertEqual(rows(self.path), {})
        clock.advance(0)
        self.assertEqual(set(rows(self.path)), {TIMED, UNTIMED})
        self.assertEqual(store.flushes, 1)
        table.refresh(TIMED, 200, 90, "uac")
        clock.advance(0)
        self.assertEqual(rows(self.path)[TIMED][1:3], (90, "uac"))
        self.assertEqual(store.flushes, 2)

    def test_withoutPromptWaits(self) -> None:
        """
        Without C{prompt} (one process), a confirmation waits for the periodic flush.
        """
        clock = Clock()
        table, store, _ = self.openTable(clock)
        table.create(TIMED, confirmed=True, lifetime=300)
        clock.advance(0)
        self.assertEqual(rows(self.path), {})

    def test_loadOwnOnly(self) -> None:
        """
        C{load} restores only the dialogs whose Call-ID the process owns, and expires (and
        deletes) only those.
        """
        clock = Clock()
        table, store, _ = self.openTable(clock)
        table.create(TIMED, confirmed=True, lifetime=300)
        table.create(UNTIMED, confirmed=True, lifetime=300)
        table.create(EXPIRING, confirmed=True, lifetime=5)
        store.close()
        later = Clock()
        later.advance(100)
        mine = {TIMED.callId, EXPIRING.callId}
        restored, second, _ = self.openTable(later)
        self.assertEqual(second.load(restored, lambda callId: callId in mine), (2, 1))
        self.assertEqual([d.id for d in restored], [TIMED])
        second.close()
        self.assertEqual(set(rows(self.path)), {TIMED, UNTIMED})
