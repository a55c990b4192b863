# -*- test-case-name: sst.test.test_dialogs -*-
"""
The dialog table: the one owner of dialog state.

A L{DialogTable} maps L{DialogId}s to L{Dialog}s, gives each dialog one
L{IDelayedCall} for its expiry, and tells L{IDialogObserver}s what happens to
its dialogs.  It knows nothing of SIP messages: callers extract the Call-ID and
tags, and the session-timer policy decides the lifetime.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any, Callable, Iterator

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from sst.dialoghooks import DialogObserverBase, IDialogObserver, IExpiryArbiter
from sst.timerservice import Timer, asTimerService
from sst.values import DialogId

__all__ = [
    "DialogId",
    "DialogState",
    "Dialog",
    "DialogTableFull",
    "DialogObserverBase",
    "DialogTable",
    "IDialogObserver",
    "IExpiryArbiter",
]

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred

#: Reads a dialog of a cluster into the table by its Call-ID and the request's From and To
#: tags: the dialog, or L{None} when there is none; it never fails.
DialogLoader = Callable[[str, str, str], "Deferred[Dialog | None]"]

_REFRESHERS = frozenset({"uac", "uas"})


class DialogState(enum.Enum):
    """
    The states of a dialog.
    """

    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


#: Who refreshes a dialog, by its refresher: the caller (the UAC of the INVITE that
#: created the dialog) or the callee.
_PARTIES = {"uac": "caller", "uas": "callee"}


class Dialog:
    """
    One dialog's state.  Only L{DialogTable} changes it.

    @ivar id: the dialog's identifier.
    @ivar state: the dialog's state.
    @ivar createdAt: when the dialog was created, in clock seconds.
    @ivar interval: the negotiated session interval in seconds, or L{None}
        when the dialog has no session timer.
    @ivar refresher: who refreshes the session: C{"uac"} for the caller (the
        UAC of the INVITE that created the dialog) or C{"uas"} for the callee,
        whatever roles the last refresh transaction had; or L{None}.
    @ivar expiresAt: when the dialog expires, in clock seconds.
    @ivar extra: L{None}, or a dictionary for other components (such as the
        session-timer policy or the B2BUA) to keep their own data in.  They
        create it when they first need it.
    """

    __slots__ = (
        "id",
        "state",
        "createdAt",
        "interval",
        "refresher",
        "expiresAt",
        "extra",
        "_expiry",
    )

    def __init__(
        self,
        id: DialogId,
        createdAt: float,
        expiresAt: float,
        state: DialogState = DialogState.EARLY,
        interval: int | None = None,
        refresher: str | None = None,
    ) -> None:
        """
        @param id: see L{Dialog.id}.
        @param createdAt: see L{Dialog.createdAt}.
        @param expiresAt: see L{Dialog.expiresAt}.
        @param state: see L{Dialog.state}.
        @param interval: see L{Dialog.interval}.
        @param refresher: see L{Dialog.refresher}.
        """
        self.id = id
        self.state = state
        self.createdAt = createdAt
        self.interval = interval
        self.refresher = refresher
        self.expiresAt = expiresAt
        self.extra: dict[str, Any] | None = None
        self._expiry: Timer | None = None

    @property
    def armed(self) -> bool:
        """
        Whether the dialog's expiry timer is armed (not while an
        L{IExpiryArbiter} decides its fate, nor once it ended).
        """
        return self._expiry is not None

    @property
    def timed(self) -> bool:
        """
        Whether the dialog has a session timer.
        """
        return self.interval is not None

    def asDict(self) -> dict[str, object]:
        """
        Describe the dialog in a form C{json.dumps} accepts.

        @return: a dictionary with the keys C{call_id}, C{from_tag},
            C{to_tag}, C{state} (C{"early"}, C{"confirmed"} or
            C{"terminated"}), C{interval}, C{refresher}, C{refresher_party}
            (C{"caller"}, C{"callee"} or L{None}), C{created_at} and
            C{expires_at}; and C{extra}, the entries of L{extra} whose values
            are JSON scalars (strings, numbers, booleans, null), when there
            are any.
        """
        document: dict[str, object] = {
            "call_id": self.id.callId,
            "from_tag": self.id.fromTag,
            "to_tag": self.id.toTag,
            "state": self.state.name.lower(),
            "interval": self.interval,
            "refresher": self.refresher,
            "refresher_party": _PARTIES.get(self.refresher or ""),
            "created_at": self.createdAt,
            "expires_at": self.expiresAt,
        }
        if self.extra:
            shown = {
                str(key): value
                for key, value in self.extra.items()
                if value is None or isinstance(value, (str, int, float, bool))
            }
            if shown:
                document["extra"] = shown
        return document

    def __repr__(self) -> str:
        return (
            f"<Dialog {self.id.callId!r} {self.id.fromTag!r}/{self.id.toTag!r}"
            f" {self.state.name} interval={self.interval!r}>"
        )


class DialogTableFull(Exception):
    """
    The dialog table holds as many dialogs as it is allowed to.

    @ivar maxDialogs: the table's limit.
    """

    def __init__(self, maxDialogs: int) -> None:
        """
        @param maxDialogs: the table's limit.
        """
        super().__init__(f"Dialog table full ({maxDialogs} dialogs)")
        self.maxDialogs = maxDialogs



def _checkArguments(
    lifetime: float, interval: int | None, refresher: str | None
) -> None:
    """
    Reject a negative lifetime, a non-positive interval or an unknown
    refresher.

    @raise ValueError: if an argument is out of range.
    """
    if not lifetime >= 0:
        raise ValueError(f"Dialog lifetime must not be negative, not {lifetime!r}")
    if interval is not None and interval <= 0:
        raise ValueError(f"Session interval must be positive, not {interval!r}")
    if refresher is not None and refresher not in _REFRESHERS:
        raise ValueError(f"Refresher must be 'uac' or 'uas', not {refresher!r}")


class DialogTable:
    """
    The dialogs sst knows about, each with one expiry timer.

    Every change is reported to the observers after it is applied, in the
    order the observers were added.

    @ivar expiredCount: how many dialogs have expired.
    @ivar timers: the timer service the expiries are scheduled in.
    """

    _log = Logger()

    def __init__(
        self,
        clock: IReactorTime,
        defaultLifetime: float = 43200.0,
        maxDialogs: int | None = None,
    ) -> None:
        """
        @param clock: schedules the expiries and tells the time.
        @param defaultLifetime: the lifetime, in seconds, of a dialog created
            or refreshed without one.
        @param maxDialogs: the most dialogs the table holds, or L{None} for no
            limit.
        """
        self._clock = self.timers = asTimerService(clock)
        self.defaultLifetime = defaultLifetime
        self.maxDialogs = maxDialogs
        self._dialogs: dict[DialogId, Dialog] = {}
        # Call-ID -> the ids of its dialogs, as an insertion-ordered set.
        # Call-ID -> its one dialog id, or an insertion-ordered dict of ids once a call has
        # several (forking); a dict per call would cost ~230 bytes per held dialog.
        self._byCall: dict[str, DialogId | dict[DialogId, None]] = {}
        self._observers: list[IDialogObserver] = []
        self.expiredCount = 0
        #: Consulted when a timer fires (see L{IExpiryArbiter}); without one, the dialog
        #: expires at once.
        self.arbiter: IExpiryArbiter | None = None
        #: Reads a dialog another node of a cluster made, for an in-dialog request this
        #: node takes (see L{sst.cluster.store.ClusterStore.load}); L{None} without a
        #: cluster.
        self.loader: DialogLoader | None = None

    def addObserver(self, observer: IDialogObserver) -> None:
        """
        Report events to C{observer} from now on.  Adding an observer twice
        has no effect.

        @param observer: the observer to add.
        """
        if observer not in self._observers:
            self._observers.append(observer)

    def removeObserver(self, observer: IDialogObserver) -> None:
        """
        Stop reporting events to C{observer}.  Removing an observer that was
        not added has no effect.

        @param observer: the observer to remove.
        """
        if observer in self._observers:
            self._observers.remove(observer)

    def create(
        self,
        dialogId: DialogId,
        confirmed: bool = False,
        lifetime: float | None = None,
        interval: int | None = None,
        refresher: str | None = None,
    ) -> Dialog:
        """
        Add a dialog, or return the one already under C{dialogId}.

        A new dialog is created C{EARLY} and reported with C{dialogCreated};
        if C{confirmed} is true it is then confirmed (see L{confirm}).

        For an existing dialog, C{confirmed} confirms it, and any of
        C{lifetime}, C{interval} or C{refresher} other than L{None} refreshes
        it with these values (see L{refresh}).  It keeps its one timer.

        @param dialogId: the dialog's identifier.
        @param confirmed: whether the dialog is confirmed.
        @param lifetime: seconds until the dialog expires; L{None} means the
            table's default lifetime.
        @param interval: the negotiated session interval in seconds, or
            L{None} if the dialog has no session timer.
        @param refresher: C{"uac"}, C{"uas"} or L{None}.
        @return: the dialog.
        @raise DialogTableFull: if the dialog is new and the table is full.
        @raise ValueError: if C{lifetime} is negative, C{interval} not
            positive or C{refresher} unknown.
        """
        existing = self._dialogs.get(dialogId)
        if existing is not None:
            if confirmed:
                self.confirm(dialogId)
            if lifetime is not None or interval is not None or refresher is not None:
                self.refresh(dialogId, lifetime, interval, refresher)
            return existing
        if self.maxDialogs is not None and len(self._dialogs) >= self.maxDialogs:
            raise DialogTableFull(self.maxDialogs)
        if lifetime is None:
            lifetime = self.defaultLifetime
        _checkArguments(lifetime, interval, refresher)
        now = self._clock.seconds()
        dialog = Dialog(
            dialogId, now, now + lifetime, interval=interval, refresher=refresher
        )
        dialog._expiry = self._clock.callLater(lifetime, self._expire, dialog)
        self._add(dialog)
        self._notify("dialogCreated", dialog)
        if confirmed:
            self.confirm(dialogId)
        return dialog

    def restore(
        self,
        dialogId: DialogId,
        state: DialogState,
        interval: int | None,
        refresher: str | None,
        createdAt: float,
        expiresAt: float,
        extra: dict[str, Any] | None = None,
    ) -> Dialog:
        """
        Put back a dialog saved before a restart (see L{sst.store}), its one
        timer armed for what is left until C{expiresAt}.

        Observers are told C{dialogRestored}, not C{dialogCreated}, so they do
        not take it for a new one, and C{maxDialogs} is not applied: it existed
        already.  A dialog whose deadline has passed then expires at once, the
        usual way: it is removed and C{dialogExpired} reported.

        @param dialogId: the dialog's identifier.
        @param state: C{EARLY} or C{CONFIRMED}.
        @param interval: see L{Dialog.interval}.
        @param refresher: see L{Dialog.refresher}.
        @param createdAt: when it was created, in clock seconds.
        @param expiresAt: when it expires, in clock seconds.
        @param extra: see L{Dialog.extra}.
        @return: the dialog, C{TERMINATED} if it expired at once.
        @raise ValueError: if the table holds C{dialogId} already, or an
            argument is out of range.
        """
        if dialogId in self._dialogs:
            raise ValueError(f"Dialog {dialogId!r} is in the table already")
        if state is DialogState.TERMINATED:
            raise ValueError("A terminated dialog cannot be restored")
        _checkArguments(0.0, interval, refresher)
        dialog = Dialog(dialogId, createdAt, expiresAt, state, interval, refresher)
        dialog.extra = extra
        self._add(dialog)
        remaining = expiresAt - self._clock.seconds()
        if remaining > 0:
            dialog._expiry = self._clock.callLater(remaining, self._expire, dialog)
        self._notifyOptional("dialogRestored", dialog)
        if remaining <= 0 and self._dialogs.get(dialogId) is dialog:
            self._expire(dialog)
        return dialog

    def _add(self, dialog: Dialog) -> None:
        """
        Put a dialog into the table and its Call-ID index.

        @param dialog: a dialog the table does not hold.
        """
        dialogId = dialog.id
        self._dialogs[dialogId] = dialog
        known = self._byCall.get(dialogId.callId)
        if known is None:
            self._byCall[dialogId.callId] = dialogId
        elif isinstance(known, DialogId):
            self._byCall[dialogId.callId] = {known: None, dialogId: None}
        else:
            known[dialogId] = None

    def get(self, dialogId: DialogId) -> Dialog | None:
        """
        Find a dialog by its exact identifier.

        @param dialogId: the dialog's identifier.
        @return: the dialog, or L{None}.
        """
        return self._dialogs.get(dialogId)

    def lookup(self, callId: str, tag1: str, tag2: str) -> Dialog | None:
        """
        Find the dialog an in-dialog request belongs to, whichever party sent
        it.

        @param callId: the request's Call-ID.
        @param tag1: the request's From tag.
        @param tag2: the request's To tag.
        @return: the dialog whose caller's tag is C{tag1} and callee's tag is
            C{tag2} (a request from the caller), else the one with the tags
            the other way round (a request from the callee), else L{None}.
        """
        # A DialogId is a tuple: a plain one finds it, without building one.
        dialogs: dict[tuple[str, str, str], Dialog] = self._dialogs  # type: ignore[assignment]
        dialog = dialogs.get((callId, tag1, tag2))
        if dialog is None:
            dialog = dialogs.get((callId, tag2, tag1))
        return dialog

    def dialogsForCall(self, callId: str) -> list[Dialog]:
        """
        Find every dialog of a call; a forked INVITE creates several.

        @param callId: the Call-ID.
        @return: the call's dialogs, oldest first.
        """
        known = self._byCall.get(callId)
        ids = () if known is None else (known,) if isinstance(known, DialogId) else tuple(known)
        return [self._dialogs[dialogId] for dialogId in ids]

    def early(self, callId: str) -> list[Dialog]:
        """
        Find the early dialogs of a call, such as the other forks once one
        fork is confirmed.

        @param callId: the Call-ID.
        @return: the call's C{EARLY} dialogs, oldest first.
        """
        known = self._byCall.get(callId)
        if known is None:
            return []
        if isinstance(known, DialogId):
            # The usual call: one dialog.
            dialog = self._dialogs[known]
            return [dialog] if dialog.state is DialogState.EARLY else []
        return [
            dialog
            for dialog in self.dialogsForCall(callId)
            if dialog.state is DialogState.EARLY
        ]

    def __len__(self) -> int:
        """
        @return: how many dialogs the table holds.
        """
        return len(self._dialogs)

    def __iter__(self) -> Iterator[Dialog]:
        """
        Iterate over a snapshot of the dialogs, so the table may change
        meanwhile.

        @return: an iterator over the dialogs, oldest first.
        """
        return iter(list(self._dialogs.values()))

    def __contains__(self, dialogId: object) -> bool:
        """
        @return: whether the table holds a dialog under C{dialogId}.
        """
        return dialogId in self._dialogs

    def confirm(self, dialogId: DialogId) -> bool:
        """
        Move a dialog from C{EARLY} to C{CONFIRMED} and report
        C{dialogConfirmed}.  A confirmed dialog stays as it is.

        @param dialogId: the dialog's identifier.
        @return: whether the table holds the dialog.
        """
        dialog = self._dialogs.get(dialogId)
        if dialog is None:
            return False
        if dialog.state is DialogState.EARLY:
            dialog.state = DialogState.CONFIRMED
            self._notify("dialogConfirmed", dialog)
        return True

    def refresh(
        self,
        dialogId: DialogId,
        lifetime: float | None = None,
        interval: int | None = None,
        refresher: str | None = None,
    ) -> bool:
        """
        Re-arm a dialog's expiry, set its session interval and refresher, and
        report C{dialogRefreshed}.

        @param dialogId: the dialog's identifier.
        @param lifetime: seconds from now until the dialog expires; L{None}
            means the table's default lifetime.
        @param interval: the new session interval, or L{None} if the dialog
            no longer has a session timer.
        @param refresher: C{"uac"}, C{"uas"} or L{None}.
        @return: whether the table holds the dialog.
        @raise ValueError: if C{lifetime} is negative, C{interval} not
            positive or C{refresher} unknown.
        """
        dialog = self._dialogs.get(dialogId)
        if dialog is None:
            return False
        if lifetime is None:
            lifetime = self.defaultLifetime
        _checkArguments(lifetime, interval, refresher)
        expiry = dialog._expiry
        if expiry is not None:
            expiry.reset(lifetime)
        else:
            # Its timer fired and the arbiter has not answered yet.
            dialog._expiry = self._clock.callLater(lifetime, self._expire, dialog)
        dialog.expiresAt = self._clock.seconds() + lifetime
        dialog.interval = interval
        dialog.refresher = refresher
        self._notify("dialogRefreshed", dialog)
        return True

    def terminate(self, dialogId: DialogId, reason: str = "bye") -> bool:
        """
        End a dialog: cancel its timer, remove it and report
        C{dialogTerminated}.

        @param dialogId: the dialog's identifier.
        @param reason: why the dialog ends, passed on to the observers.
        @return: whether the table held the dialog.
        """
        dialog = self._dialogs.get(dialogId)
        if dialog is None:
            return False
        expiry = dialog._expiry
        if expiry is not None:
            expiry.stop()
        self._remove(dialog)
        self._notify("dialogTerminated", dialog, reason)
        return True

    def touch(self, dialogId: DialogId) -> bool:
        """
        Report C{dialogUpdated}: something stores keep in the dialog (its
        L{Dialog.extra}) changed.

        @param dialogId: the dialog's identifier.
        @return: whether the table holds the dialog.
        """
        dialog = self._dialogs.get(dialogId)
        if dialog is None:
            return False
        self._notifyOptional("dialogUpdated", dialog)
        return True

    def _expire(self, dialog: Dialog) -> None:
        """
        A dialog's timer fired: expire it, or ask the arbiter first.

        @param dialog: the dialog.
        """
        if self._dialogs.get(dialog.id) is not dialog:
            return
        arbiter = self.arbiter
        if arbiter is None:
            self.expireNow(dialog)
            return
        expiry = dialog._expiry
        if expiry is not None:
            expiry.stop()
            dialog._expiry = None
        arbiter.expiryDue(dialog)

    def expireNow(self, dialog: Dialog) -> bool:
        """
        Remove a dialog and report C{dialogExpired}: its timer fired (and the
        arbiter agreed).

        @param dialog: the dialog.
        @return: whether the table held it (and so it expired).
        """
        if self._dialogs.get(dialog.id) is not dialog:
            return False
        expiry = dialog._expiry
        if expiry is not None:
            expiry.stop()
        self._remove(dialog)
        self.expiredCount += 1
        self._log.info(
            "Dialog {callId} expired (interval {interval})",
            callId=dialog.id.callId,
            interval=dialog.interval,
        )
        self._notify("dialogExpired", dialog)
        return True

    def rearm(self, dialog: Dialog, expiresAt: float, interval: int | None,
              refresher: str | None) -> bool:
        """
        Take the timing another node gave a dialog (it was refreshed there): arm its timer
        for C{expiresAt}.  Observers are not told: nothing changed that they do not know.

        @param dialog: the dialog.
        @param expiresAt: its deadline, in clock seconds.
        @param interval: see L{Dialog.interval}.
        @param refresher: see L{Dialog.refresher}.
        @return: whether the table holds the dialog.
        @raise ValueError: if C{interval} or C{refresher} is out of range.
        """
        if self._dialogs.get(dialog.id) is not dialog:
            return False
        _checkArguments(0.0, interval, refresher)
        delay = max(0.0, expiresAt - self._clock.seconds())
        expiry = dialog._expiry
        if expiry is not None:
            expiry.reset(delay)
        else:
            dialog._expiry = self._clock.callLater(delay, self._expire, dialog)
        dialog.expiresAt = expiresAt
        dialog.interval = interval
        dialog.refresher = refresher
        return True

    def forget(self, dialog: Dialog) -> bool:
        """
        Drop a dialog from this table: it ended on another node, or another live node owns
        it.  Observers are told C{dialogForgotten} (not C{dialogTerminated}: nothing ended
        here, and no store may delete it).

        @param dialog: the dialog.
        @return: whether the table held it.
        """
        if self._dialogs.get(dialog.id) is not dialog:
            return False
        expiry = dialog._expiry
        if expiry is not None:
            expiry.stop()
        self._remove(dialog)
        self._notifyOptional("dialogForgotten", dialog)
        return True

    def _remove(self, dialog: Dialog) -> None:
        """
        Take a dialog out of the table and its index, and mark it
        C{TERMINATED}.

        @param dialog: a dialog the table holds.
        """
        dialogId = dialog.id
        del self._dialogs[dialogId]
        known = self._byCall[dialogId.callId]
        if isinstance(known, DialogId):
            del self._byCall[dialogId.callId]
        else:
            del known[dialogId]
            if len(known) == 1:
                self._byCall[dialogId.callId] = next(iter(known))
        dialog.state = DialogState.TERMINATED
        dialog._expiry = None

    def _notifyOptional(self, event: str, dialog: Dialog) -> None:
        """
        Deliver an event added to L{IDialogObserver} later than the others, to the
        observers that have its method.
        """
        for observer in tuple(self._observers):
            method = getattr(observer, event, None)
            if method is None:
                continue
            try:
                method(dialog)
            except Exception:
                self._log.failure(
                    "Dialog observer {observer!r} failed on {event} for {callId}",
                    observer=observer,
                    event=event,
                    callId=dialog.id.callId,
                )

    def _notify(self, event: str, dialog: Dialog, *args: str) -> None:
        """
        Deliver an event to each observer, logging what they raise.

        @param event: the event's name: the L{IDialogObserver} method called.
        @param dialog: the dialog concerned, the method's first argument.
        @param args: the method's other arguments.
        """
        for observer in tuple(self._observers):
            try:
                getattr(observer, event)(dialog, *args)
            except Exception:
                self._log.failure(
                    "Dialog observer {observer!r} failed on {event} for {callId}",
                    observer=observer,
                    event=event,
                    callId=dialog.id.callId,
                )
