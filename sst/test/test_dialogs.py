# -*- test-case-name: sst.test.test_dialogs -*-
"""
Tests for L{sst.dialogs}.
"""

from __future__ import annotations

import gc
import json
import tracemalloc

from twisted.internet.task import Clock
from twisted.logger import LogLevel, capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from sst.dialogs import (
    Dialog,
    DialogId,
    DialogObserverBase,
    DialogState,
    DialogTable,
    DialogTableFull,
)
from sst.dialogs import IDialogObserver, IExpiryArbiter
from zope.interface import implementer
from sst.test._support import assertProvides

CALLER = DialogId("call-1@example.com", "caller-tag", "callee-tag")


class RecordingObserver(DialogObserverBase):
    """
    Records every event it receives as C{(event, dialog id, state)}, plus the
    reason for C{dialogTerminated}.
    """

    def __init__(self) -> None:
        self.events: list[tuple[object, ...]] = []

    def dialogCreated(self, dialog: Dialog) -> None:
        self.events.append(("created", dialog.id, dialog.state))

    def dialogConfirmed(self, dialog: Dialog) -> None:
        self.events.append(("confirmed", dialog.id, dialog.state))

    def dialogRefreshed(self, dialog: Dialog) -> None:
        self.events.append(("refreshed", dialog.id, dialog.state))

    def dialogExpired(self, dialog: Dialog) -> None:
        self.events.append(("expired", dialog.id, dialog.state))

    def dialogTerminated(self, dialog: Dialog, reason: str) -> None:
        self.events.append(("terminated", dialog.id, dialog.state, reason))


class BrokenObserver(DialogObserverBase):
    """
    Raises L{ZeroDivisionError} on every event.
    """

    def dialogCreated(self, dialog: Dialog) -> None:
        1 / 0

    def dialogConfirmed(self, dialog: Dialog) -> None:
        1 / 0

    def dialogRefreshed(self, dialog: Dialog) -> None:
        1 / 0

    def dialogExpired(self, dialog: Dialog) -> None:
        1 / 0

    def dialogTerminated(self, dialog: Dialog, reason: str) -> None:
        1 / 0


class DialogTableTestCase(SynchronousTestCase):
    """
    Gives each test a L{Clock} and a L{DialogTable} on it.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.table = DialogTable(self.clock, defaultLifetime=3600.0)


class CreateTests(DialogTableTestCase):
    """
    Tests for L{DialogTable.create}, L{DialogTable.get} and the iteration
    helpers.
    """

    def test_createEarly(self) -> None:
        """
        L{DialogTable.create} adds an C{EARLY} dialog, untimed unless given an
        interval, that L{DialogTable.get} finds.
        """
        self.clock.advance(10)
        dialog = self.table.create(CALLER)
        self.assertIs(self.table.get(CALLER), dialog)
        self.assertIn(CALLER, self.table)
        self.assertEqual(dialog.id, CALLER)
        self.assertIs(dialog.state, DialogState.EARLY)
        self.assertEqual(dialog.createdAt, 10)
        self.assertEqual(dialog.expiresAt, 3610)
        self.assertIsNone(dialog.interval)
        self.assertIsNone(dialog.refresher)
        self.assertFalse(dialog.timed)
        self.assertIsNone(dialog.extra)
        self.assertEqual(len(self.table), 1)

    def test_createConfirmedTimed(self) -> None:
        """
        L{DialogTable.create} with C{confirmed}, a lifetime, an interval and a
        refresher makes a C{CONFIRMED}, timed dialog expiring after the
        lifetime.
        """
        dialog = self.table.create(
            CALLER, confirmed=True, lifetime=60, interval=90, refresher="uac"
        )
        self.assertIs(dialog.state, DialogState.CONFIRMED)
        self.assertTrue(dialog.timed)
        self.assertEqual(dialog.interval, 90)
        self.assertEqual(dialog.refresher, "uac")
        self.assertEqual(dialog.expiresAt, 60)
        self.assertEqual([c.getTime() for c in self.table.timers.getDelayedCalls()], [60])

    def test_createExistingReturnsIt(self) -> None:
        """
        L{DialogTable.create} for an existing dialog returns it, without a
        second timer or a second C{dialogCreated}.
        """
        observer = RecordingObserver()
        self.table.addObserver(observer)
        first = self.table.create(CALLER)
        second = self.table.create(CALLER)
        self.assertIs(first, second)
        self.assertEqual(len(self.table), 1)
        self.assertEqual(len(self.table.timers.getDelayedCalls()), 1)
        self.assertEqual(observer.events, [("created", CALLER, DialogState.EARLY)])

    def test_createExistingConfirmsAndRefreshes(self) -> None:
        """
        L{DialogTable.create} for an existing dialog confirms it when told
        to, and refreshes it when given a lifetime, interval or refresher,
        re-arming its one timer.
        """
        observer = RecordingObserver()
        self.table.addObserver(observer)
        dialog = self.table.create(CALLER)
        self.clock.advance(5)
        again = self.table.create(
            CALLER, confirmed=True, lifetime=90, interval=90, refresher="uas"
        )
        self.assertIs(again, dialog)
        self.assertIs(dialog.state, DialogState.CONFIRMED)
        self.assertEqual((dialog.interval, dialog.refresher), (90, "uas"))
        self.assertEqual(dialog.expiresAt, 95)
        self.assertEqual([c.getTime() for c in self.table.timers.getDelayedCalls()], [95])
        self.assertEqual(
            [event[0] for event in observer.events],
            ["created", "confirmed", "refreshed"],
        )

    def test_invalidArguments(self) -> None:
        """
        L{DialogTable.create} rejects a negative lifetime, a non-positive
        interval and an unknown refresher with L{ValueError}, and adds
        nothing.
        """
        self.assertRaises(ValueError, self.table.create, CALLER, lifetime=-1)
        self.assertRaises(ValueError, self.table.create, CALLER, interval=0)
        self.assertRaises(ValueError, self.table.create, CALLER, refresher="both")
        self.assertEqual(len(self.table), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_maxDialogs(self) -> None:
        """
        L{DialogTable.create} raises L{DialogTableFull} for a new dialog when
        the table holds C{maxDialogs}, but still returns existing ones.
        """
        table = DialogTable(self.clock, maxDialogs=2)
        table.create(DialogId("a", "1", "2"))
        table.create(DialogId("b", "1", "2"))
        error = self.assertRaises(
            DialogTableFull, table.create, DialogId("c", "1", "2")
        )
        self.assertEqual(error.maxDialogs, 2)
        self.assertEqual(str(error), "Dialog table full (2 dialogs)")
        self.assertEqual(len(table), 2)
        self.assertEqual(len(table.timers.getDelayedCalls()), 2)
        self.assertIsNotNone(table.create(DialogId("a", "1", "2")))
        table.terminate(DialogId("a", "1", "2"))
        self.assertIsNotNone(table.create(DialogId("c", "1", "2")))

    def test_iterate(self) -> None:
        """
        Iterating over a L{DialogTable} yields its dialogs, oldest first, and
        the table may change during the iteration.
        """
        ids = [DialogId(f"call-{n}", "f", "t") for n in range(3)]
        dialogs = [self.table.create(dialogId) for dialogId in ids]
        seen = []
        for dialog in self.table:
            seen.append(dialog)
            self.table.terminate(dialog.id)
        self.assertEqual(seen, dialogs)
        self.assertEqual(len(self.table), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_getUnknown(self) -> None:
        """
        L{DialogTable.get} returns L{None} for an unknown dialog.
        """
        self.assertIsNone(self.table.get(CALLER))
        self.assertNotIn(CALLER, self.table)


class LookupTests(DialogTableTestCase):
    """
    Tests for L{DialogTable.lookup}.
    """

    def test_fromCaller(self) -> None:
        """
        A request from the caller carries the caller's tag in From and the
        callee's in To.
        """
        dialog = self.table.create(CALLER)
        self.assertIs(
            self.table.lookup(CALLER.callId, "caller-tag", "callee-tag"), dialog
        )

    def test_fromCallee(self) -> None:
        """
        A request from the callee carries the tags the other way round, and
        finds the same dialog.
        """
        dialog = self.table.create(CALLER)
        self.assertIs(
            self.table.lookup(CALLER.callId, "callee-tag", "caller-tag"), dialog
        )

    def test_unknown(self) -> None:
        """
        L{DialogTable.lookup} returns L{None} when neither direction matches.
        """
        self.table.create(CALLER)
        self.assertIsNone(self.table.lookup(CALLER.callId, "caller-tag", "other"))
        self.assertIsNone(self.table.lookup("other", "caller-tag", "callee-tag"))


class ForkingTests(DialogTableTestCase):
    """
    Tests for the dialogs of a forked INVITE: same Call-ID and From tag,
    different To tags.
    """

    def setUp(self) -> None:
        super().setUp()
        self.forkA = DialogId("fork@example.com", "caller", "a")
        self.forkB = DialogId("fork@example.com", "caller", "b")

    def test_dialogsForCall(self) -> None:
        """
        L{DialogTable.dialogsForCall} returns each fork's dialog, oldest
        first, and no other call's.
        """
        a = self.table.create(self.forkA)
        b = self.table.create(self.forkB)
        self.table.create(CALLER)
        self.assertEqual(self.table.dialogsForCall("fork@example.com"), [a, b])
        self.assertEqual(self.table.dialogsForCall("unknown"), [])

    def test_separateTimers(self) -> None:
        """
        Each fork's dialog has its own timer: one expires while the other
        lives on.
        """
        self.table.create(self.forkA, lifetime=10)
        b = self.table.create(self.forkB, lifetime=20)
        self.assertEqual(len(self.table.timers.getDelayedCalls()), 2)
        self.clock.advance(10)
        self.assertEqual(self.table.dialogsForCall("fork@example.com"), [b])
        self.assertEqual(len(self.table.timers.getDelayedCalls()), 1)
        self.clock.advance(10)
        self.assertEqual(self.table.dialogsForCall("fork@example.com"), [])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_early(self) -> None:
        """
        L{DialogTable.early} returns the forks still C{EARLY} once another is
        confirmed.
        """
        self.table.create(self.forkA, confirmed=True)
        b = self.table.create(self.forkB)
        self.assertEqual(self.table.early("fork@example.com"), [b])

    def test_indexKeptInSync(self) -> None:
        """
        Terminating forks removes them from the Call-ID index; the index
        entry goes once the last fork is gone.
        """
        self.table.create(self.forkA)
        self.table.create(self.forkB)
        self.table.terminate(self.forkA)
        self.assertEqual(
            [d.id for d in self.table.dialogsForCall("fork@example.com")],
            [self.forkB],
        )
        self.table.terminate(self.forkB)
        self.assertEqual(self.table.dialogsForCall("fork@example.com"), [])
        self.assertEqual(self.table._byCall, {})


class ExpiryTests(DialogTableTestCase):
    """
    Tests for dialog expiry.
    """

    def test_boundary(self) -> None:
        """
        A dialog is still there just before its lifetime elapses and gone,
        with its timer, just after.
        """
        dialog = self.table.create(CALLER, confirmed=True, lifetime=90)
        self.clock.advance(89.9)
        self.assertEqual(len(self.table), 1)
        self.clock.advance(0.2)
        self.assertEqual(len(self.table), 0)
        self.assertIsNone(self.table.get(CALLER))
        self.assertIs(dialog.state, DialogState.TERMINATED)
        self.assertEqual(self.table.expiredCount, 1)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_defaultLifetime(self) -> None:
        """
        A dialog created without a lifetime expires after the table's
        default lifetime.
        """
        self.table.create(CALLER)
        self.clock.advance(3599.9)
        self.assertEqual(len(self.table), 1)
        self.clock.advance(0.2)
        self.assertEqual(len(self.table), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_defaultLifetimeIsTwelveHours(self) -> None:
        """
        The default lifetime of L{DialogTable} is 12 hours.
        """
        table = DialogTable(self.clock)
        self.assertEqual(table.create(CALLER).expiresAt, 43200.0)

    def test_logged(self) -> None:
        """
        An expiry is logged at info level with the Call-ID and interval.
        """
        self.table.create(CALLER, lifetime=60, interval=90, refresher="uac")
        with capturedLogs() as events:
            self.clock.advance(60)
        [event] = events
        self.assertEqual(event["log_level"], LogLevel.info)
        self.assertEqual(event["callId"], CALLER.callId)
        self.assertEqual(event["interval"], 90)


class RefreshTests(DialogTableTestCase):
    """
    Tests for L{DialogTable.refresh}.
    """

    def test_resetsTheOneTimer(self) -> None:
        """
        A refresh re-arms the dialog's one timer: there is never a second
        delayed call, and the dialog expires a full lifetime after the
        refresh.
        """
        self.table.create(CALLER, lifetime=90, interval=90, refresher="uac")
        [timer] = self.table.timers.getDelayedCalls()
        self.clock.advance(45)
        self.assertTrue(self.table.refresh(CALLER, 90, 90, "uac"))
        self.assertEqual(self.table.timers.getDelayedCalls(), [timer])
        self.clock.advance(89.9)
        self.assertEqual(len(self.table), 1)
        self.assertEqual(len(self.table.timers.getDelayedCalls()), 1)
        self.clock.advance(0.2)
        self.assertEqual(len(self.table), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_updatesInterval(self) -> None:
        """
        A refresh sets the interval, the refresher and the expiry time; a
        refresh without an interval leaves the dialog untimed, with the
        default lifetime.
        """
        dialog = self.table.create(CALLER, lifetime=90, interval=90, refresher="uac")
        self.clock.advance(30)
        self.table.refresh(CALLER, lifetime=1800, interval=1800, refresher="uas")
        self.assertEqual((dialog.interval, dialog.refresher), (1800, "uas"))
        self.assertEqual(dialog.expiresAt, 1830)
        self.table.refresh(CALLER)
        self.assertFalse(dialog.timed)
        self.assertIsNone(dialog.refresher)
        self.assertEqual(dialog.expiresAt, 3630)
        self.assertEqual(
            [c.getTime() for c in self.table.timers.getDelayedCalls()], [3630]
        )

    def test_unknown(self) -> None:
        """
        Refreshing an unknown dialog returns C{False} and schedules nothing.
        """
        self.assertFalse(self.table.refresh(CALLER, 90, 90, "uac"))
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_invalid(self) -> None:
        """
        A refresh with an unknown refresher raises L{ValueError} and leaves
        the dialog as it was.
        """
        dialog = self.table.create(CALLER, lifetime=90, interval=90, refresher="uac")
        self.assertRaises(ValueError, self.table.refresh, CALLER, 90, 90, "x")
        self.assertEqual((dialog.refresher, dialog.expiresAt), ("uac", 90))


class ConfirmTerminateTests(DialogTableTestCase):
    """
    Tests for L{DialogTable.confirm} and L{DialogTable.terminate}.
    """

    def test_confirm(self) -> None:
        """
        L{DialogTable.confirm} moves an C{EARLY} dialog to C{CONFIRMED} once;
        confirming again reports nothing.
        """
        observer = RecordingObserver()
        self.table.addObserver(observer)
        dialog = self.table.create(CALLER)
        self.assertTrue(self.table.confirm(CALLER))
        self.assertTrue(self.table.confirm(CALLER))
        self.assertIs(dialog.state, DialogState.CONFIRMED)
        self.assertEqual(
            [event[0] for event in observer.events], ["created", "confirmed"]
        )

    def test_confirmUnknown(self) -> None:
        """
        Confirming an unknown dialog returns C{False}.
        """
        self.assertFalse(self.table.confirm(CALLER))

    def test_terminate(self) -> None:
        """
        L{DialogTable.terminate} removes the dialog, marks it C{TERMINATED}
        and cancels its timer.
        """
        dialog = self.table.create(CALLER, confirmed=True)
        self.assertTrue(self.table.terminate(CALLER))
        self.assertIs(dialog.state, DialogState.TERMINATED)
        self.assertEqual(len(self.table), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(7200)
        self.assertEqual(self.table.expiredCount, 0)

    def test_terminateUnknown(self) -> None:
        """
        Terminating an unknown dialog returns C{False}.
        """
        self.assertFalse(self.table.terminate(CALLER))


class ObserverTests(DialogTableTestCase):
    """
    Tests for L{IDialogObserver} and how L{DialogTable} calls observers.
    """

    def test_baseProvidesInterface(self) -> None:
        """
        L{DialogObserverBase} provides L{IDialogObserver}, as does the test
        double built on it.
        """
        assertProvides(self, IDialogObserver, DialogObserverBase())
        assertProvides(self, IDialogObserver, RecordingObserver())

    def test_baseIgnoresEvents(self) -> None:
        """
        L{DialogObserverBase} accepts every event and does nothing.
        """
        self.table.addObserver(DialogObserverBase())
        self.table.create(CALLER, confirmed=True)
        self.table.refresh(CALLER)
        self.table.terminate(CALLER)
        self.table.create(CALLER)
        self.clock.advance(3600)
        self.assertEqual(len(self.table), 0)

    def test_eventsInOrder(self) -> None:
        """
        An observer receives each event in order, with the dialog in the
        state the event leaves it.
        """
        observer = RecordingObserver()
        self.table.addObserver(observer)
        other = DialogId("call-2", "f", "t")
        self.table.create(CALLER, confirmed=True, lifetime=90, interval=90)
        self.table.refresh(CALLER, 90, 90, "uac")
        self.table.terminate(CALLER, reason="admin")
        self.table.create(other, lifetime=10)
        self.clock.advance(10)
        self.assertEqual(
            observer.events,
            [
                ("created", CALLER, DialogState.EARLY),
                ("confirmed", CALLER, DialogState.CONFIRMED),
                ("refreshed", CALLER, DialogState.CONFIRMED),
                ("terminated", CALLER, DialogState.TERMINATED, "admin"),
                ("created", other, DialogState.EARLY),
                ("expired", other, DialogState.TERMINATED),
            ],
        )

    def test_terminateDefaultReason(self) -> None:
        """
        L{DialogTable.terminate} gives the reason C{"bye"} by default.
        """
        observer = RecordingObserver()
        self.table.addObserver(observer)
        self.table.create(CALLER)
        self.table.terminate(CALLER)
        self.assertEqual(observer.events[-1][-1], "bye")

    def test_removeObserver(self) -> None:
        """
        A removed observer receives no more events; adding an observer twice
        or removing an unknown one has no effect.
        """
        observer = RecordingObserver()
        self.table.addObserver(observer)
        self.table.addObserver(observer)
        self.table.create(CALLER)
        self.table.removeObserver(observer)
        self.table.removeObserver(observer)
        self.table.terminate(CALLER)
        self.assertEqual(observer.events, [("created", CALLER, DialogState.EARLY)])

    def test_raisingObserver(self) -> None:
        """
        An observer that raises does not break the table nor stop later
        observers; each failure is logged.
        """
        observer = RecordingObserver()
        self.table.addObserver(BrokenObserver())
        self.table.addObserver(observer)
        dialog = self.table.create(CALLER, confirmed=True, lifetime=90)
        self.assertTrue(self.table.refresh(CALLER, 90))
        self.assertTrue(self.table.terminate(CALLER))
        self.table.create(CALLER, lifetime=10)
        self.clock.advance(10)
        self.assertIs(dialog.state, DialogState.TERMINATED)
        self.assertEqual(len(self.table), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(
            [event[0] for event in observer.events],
            ["created", "confirmed", "refreshed", "terminated", "created", "expired"],
        )
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 6)

    def test_observerTerminatesDuringCreate(self) -> None:
        """
        An observer may terminate a dialog while it is being created; the
        dialog is then not confirmed, and its timer is gone.
        """

        class Terminator(DialogObserverBase):
            def dialogCreated(self, dialog: Dialog) -> None:
                table.terminate(dialog.id, reason="rejected")

        table = self.table
        table.addObserver(Terminator())
        dialog = table.create(CALLER, confirmed=True)
        self.assertIs(dialog.state, DialogState.TERMINATED)
        self.assertEqual(len(table), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class DialogTests(SynchronousTestCase):
    """
    Tests for L{Dialog}.
    """

    def test_asDict(self) -> None:
        """
        L{Dialog.asDict} gives the identifier, the state's lowercase name,
        the session timer and the times, ready for JSON.
        """
        clock = Clock()
        clock.advance(100)
        table = DialogTable(clock)
        dialog = table.create(
            CALLER, confirmed=True, lifetime=60, interval=90, refresher="uac"
        )
        expected = {
            "call_id": "call-1@example.com",
            "from_tag": "caller-tag",
            "to_tag": "callee-tag",
            "state": "confirmed",
            "interval": 90,
            "refresher": "uac",
            "refresher_party": "caller",
            "created_at": 100.0,
            "expires_at": 160.0,
        }
        self.assertEqual(dialog.asDict(), expected)
        self.assertEqual(json.loads(json.dumps(dialog.asDict())), expected)

    def test_asDictUntimed(self) -> None:
        """
        An untimed, early dialog has a null interval and refresher.
        """
        dialog = Dialog(CALLER, createdAt=0.0, expiresAt=10.0)
        result = dialog.asDict()
        self.assertEqual(result["state"], "early")
        self.assertIsNone(result["interval"])
        self.assertIsNone(result["refresher"])

    def test_slots(self) -> None:
        """
        A L{Dialog} has no instance dictionary; L{Dialog.extra} is where
        other components keep their data.
        """
        dialog = Dialog(CALLER, createdAt=0.0, expiresAt=10.0)
        self.assertFalse(hasattr(dialog, "__dict__"))
        self.assertRaises(AttributeError, setattr, dialog, "other", 1)
        dialog.extra = {"policy": "x"}
        self.assertEqual(dialog.extra, {"policy": "x"})

    def test_repr(self) -> None:
        """
        The representation of a L{Dialog} names its identifier and state.
        """
        dialog = Dialog(CALLER, createdAt=0.0, expiresAt=10.0, interval=90)
        self.assertEqual(
            repr(dialog),
            "<Dialog 'call-1@example.com' 'caller-tag'/'callee-tag' EARLY"
            " interval=90>",
        )

    def test_memory(self) -> None:
        """
        A held, timed dialog costs under 2500 bytes on average, counting its
        identifier, its timer and the table's indexes.
        """
        count = 10_000
        clock = Clock()
        table = DialogTable(clock)
        gc.collect()
        tracemalloc.start()
        self.addCleanup(tracemalloc.stop)
        before = tracemalloc.get_traced_memory()[0]
        for n in range(count):
            dialogId = DialogId(
                f"{n:08x}-4f2c-9d1e-a7b3c5d6e8f0@192.0.2.10",
                f"{n:08x}ab",
                f"{n:08x}cd",
            )
            table.create(dialogId, confirmed=True, interval=1800, refresher="uac")
        after = tracemalloc.get_traced_memory()[0]
        perDialog = (after - before) / count
        self.assertEqual(len(table), count)
        self.assertEqual(len(table.timers.getDelayedCalls()), count)
        self.assertLess(perDialog, 2500, f"{perDialog:.0f} bytes per dialog")


@implementer(IExpiryArbiter)
class _Arbiter:
    """
    An L{IExpiryArbiter} that keeps the dialogs whose timers fired, to answer later.
    """

    def __init__(self) -> None:
        self.due: list[Dialog] = []

    def expiryDue(self, dialog: Dialog) -> None:
        self.due.append(dialog)


class ArbiterTests(DialogTableTestCase):
    """
    With an L{IExpiryArbiter}, a fired timer waits for its verdict.
    """

    def setUp(self) -> None:
        super().setUp()
        self.arbiter = _Arbiter()
        self.table.arbiter = self.arbiter
        self.observer = RecordingObserver()
        self.table.addObserver(self.observer)
        self.dialog = self.table.create(CALLER, confirmed=True, lifetime=90.0, interval=90,
                                        refresher="uac")
        del self.observer.events[:]

    def test_interface(self) -> None:
        from zope.interface.verify import verifyObject

        self.assertTrue(verifyObject(IExpiryArbiter, self.arbiter))

    def test_waitsForTheVerdict(self) -> None:
        """
        The dialog stays, unarmed, until the arbiter expires it.
        """
        self.clock.advance(90)
        self.assertEqual(self.arbiter.due, [self.dialog])
        self.assertIs(self.table.get(CALLER), self.dialog)
        self.assertFalse(self.dialog.armed)
        self.assertEqual(self.observer.events, [])
        self.assertTrue(self.table.expireNow(self.dialog))
        self.assertEqual(self.observer.events, [("expired", CALLER, DialogState.TERMINATED)])
        self.assertEqual(self.table.expiredCount, 1)
        self.assertFalse(self.table.expireNow(self.dialog))

    def test_rearm(self) -> None:
        """
        Re-armed with another node's deadline, the dialog's timer fires again then;
        observers hear nothing.
        """
        self.clock.advance(90)
        self.assertTrue(self.table.rearm(self.dialog, self.clock.seconds() + 30, 120, "uas"))
        self.assertTrue(self.dialog.armed)
        self.assertEqual((self.dialog.interval, self.dialog.refresher), (120, "uas"))
        self.clock.advance(29)
        self.assertEqual(len(self.arbiter.due), 1)
        self.clock.advance(1)
        self.assertEqual(len(self.arbiter.due), 2)
        self.assertEqual(self.observer.events, [])

    def test_forget(self) -> None:
        """
        A forgotten dialog leaves the table without any event.
        """
        self.clock.advance(90)
        self.assertTrue(self.table.forget(self.dialog))
        self.assertNotIn(CALLER, self.table)
        self.assertEqual(self.observer.events, [])
        self.assertEqual(self.table.expiredCount, 0)
        self.assertFalse(self.table.forget(self.dialog))

    def test_refreshWhileDue(self) -> None:
        """
        A refresh while the verdict is awaited arms a new timer.
        """
        self.clock.advance(90)
        self.assertTrue(self.table.refresh(CALLER, 90.0, 90, "uac"))
        self.assertTrue(self.dialog.armed)
        self.clock.advance(90)
        self.assertEqual(len(self.arbiter.due), 2)

    def test_restoredOverdueAsksTheArbiter(self) -> None:
        """
        A dialog restored past its deadline goes to the arbiter too.
        """
        other = DialogId("c2", "a", "b")
        restored = self.table.restore(other, DialogState.CONFIRMED, 90, "uac",
                                      self.clock.seconds() - 100, self.clock.seconds() - 10)
        self.assertEqual(self.arbiter.due, [restored])


class OptionalEventTests(DialogTableTestCase):
    """
    C{dialogRestored} and C{dialogUpdated} reach the observers that have them.
    """

    def test_restoredBeforeExpiry(self) -> None:
        """
        C{dialogRestored} comes first, then an overdue dialog expires.
        """
        seen: list[tuple[str, DialogState]] = []

        class Observer(DialogObserverBase):
            def dialogRestored(self, dialog: Dialog) -> None:
                seen.append(("restored", dialog.state))

            def dialogExpired(self, dialog: Dialog) -> None:
                seen.append(("expired", dialog.state))

        self.table.addObserver(Observer())
        self.table.restore(CALLER, DialogState.CONFIRMED, 90, "uac", -100.0, -1.0)
        self.assertEqual(seen, [("restored", DialogState.CONFIRMED),
                                ("expired", DialogState.TERMINATED)])

    def test_touch(self) -> None:
        updated: list[Dialog] = []

        class Observer(DialogObserverBase):
            def dialogUpdated(self, dialog: Dialog) -> None:
                updated.append(dialog)

        self.table.addObserver(Observer())
        dialog = self.table.create(CALLER)
        self.assertTrue(self.table.touch(CALLER))
        self.assertEqual(updated, [dialog])
        self.assertFalse(self.table.touch(DialogId("x", "y", "z")))

    def test_observerWithoutTheNewEvents(self) -> None:
        """
        An observer written before these events (it has no such methods) is skipped, not
        failed.
        """

        class Old:
            def dialogCreated(self, dialog: Dialog) -> None:
                pass

        self.table.addObserver(Old())  # type: ignore[arg-type]
        with capturedLogs() as events:
            self.table.restore(CALLER, DialogState.CONFIRMED, None, None, 0.0, 100.0)
            self.table.touch(CALLER)
        self.assertEqual(list(events), [])
