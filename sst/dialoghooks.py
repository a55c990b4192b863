# -*- test-case-name: sst.test.test_dialogs -*-
"""
What the dialog table (L{sst.dialogs}) calls: its observers (and L{DialogObserverBase}, to
subclass), and in a cluster the arbiter of expiries.

They live apart from the table's code, which may be compiled (mypyc cannot define a
C{zope.interface} interface in a compiled module); L{sst.dialogs} exports them too.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from zope.interface import Interface, implementer

if TYPE_CHECKING:
    from sst.dialogs import Dialog

__all__ = ["IDialogObserver", "IExpiryArbiter", "DialogObserverBase"]


class IDialogObserver(Interface):
    """
    Receives the events of a L{DialogTable<sst.dialogs.DialogTable>}.

    Each method is called synchronously by the table, after the table has
    applied the change.  Exceptions raised by an observer are logged by the
    table and do not reach the caller of the table's method.
    """

    def dialogCreated(dialog: Dialog) -> None:
        """
        A dialog was added to the table.

        @param dialog: the new dialog, in the C{EARLY} state.
        """

    def dialogConfirmed(dialog: Dialog) -> None:
        """
        A dialog went from C{EARLY} to C{CONFIRMED}.

        @param dialog: the confirmed dialog.
        """

    def dialogRefreshed(dialog: Dialog) -> None:
        """
        A dialog's expiry was re-armed, and its session interval and refresher
        updated.

        @param dialog: the refreshed dialog.
        """

    def dialogExpired(dialog: Dialog) -> None:
        """
        A dialog reached its expiry time and was removed from the table.

        @param dialog: the expired dialog, now C{TERMINATED}.
        """

    def dialogTerminated(dialog: Dialog, reason: str) -> None:
        """
        A dialog was ended explicitly and removed from the table.

        @param dialog: the ended dialog, now C{TERMINATED}.
        @param reason: why it ended, such as C{"bye"}.
        """

    def dialogRestored(dialog: Dialog) -> None:
        """
        A dialog was put back into the table from a store (after a restart, or taken
        over from another node of a cluster), before its timer can fire.  An observer
        that keeps its own state per dialog (the B2BUA's calls) rebuilds it from
        L{Dialog.extra} here.  The table calls this only on observers that have it.

        @param dialog: the restored dialog.
        """

    def dialogForgotten(dialog: Dialog) -> None:
        """
        The table dropped a dialog because another node of a cluster owns it or ended it
        (L{DialogTable.forget}): drop what is kept for it here, sending nothing.  The
        table calls this only on observers that have it.

        @param dialog: the forgotten dialog, now C{TERMINATED}.
        """

    def dialogUpdated(dialog: Dialog) -> None:
        """
        Something a store keeps changed in a dialog other than its state and timing (its
        L{Dialog.extra}, say), told with L{DialogTable.touch}.  The table calls this only
        on observers that have it.

        @param dialog: the changed dialog.
        """


class IExpiryArbiter(Interface):
    """
    Decides whether a dialog whose timer fired really expires: in a cluster, another node
    may have refreshed or ended it meanwhile, or may own it.

    The table leaves the dialog in place, its timer disarmed, and calls
    L{expiryDue}; the arbiter answers later with exactly one of
    L{DialogTable.expireNow}, L{DialogTable.rearm} or L{DialogTable.forget}.
    """

    def expiryDue(dialog: Dialog) -> None:
        """
        The timer of C{dialog} fired.

        @param dialog: a dialog the table holds, with no timer armed.
        """


@implementer(IDialogObserver)
class DialogObserverBase:
    """
    An L{IDialogObserver} that ignores every event; subclass it and override
    the events you need.
    """

    def dialogCreated(self, dialog: Dialog) -> None:
        """
        Ignore a created dialog.
        """

    def dialogConfirmed(self, dialog: Dialog) -> None:
        """
        Ignore a confirmed dialog.
        """

    def dialogRefreshed(self, dialog: Dialog) -> None:
        """
        Ignore a refreshed dialog.
        """

    def dialogExpired(self, dialog: Dialog) -> None:
        """
        Ignore an expired dialog.
        """

    def dialogTerminated(self, dialog: Dialog, reason: str) -> None:
        """
        Ignore a terminated dialog.
        """

    def dialogRestored(self, dialog: Dialog) -> None:
        """
        Ignore a restored dialog.
        """

    def dialogUpdated(self, dialog: Dialog) -> None:
        """
        Ignore an updated dialog.
        """

    def dialogForgotten(self, dialog: Dialog) -> None:
        """
        Ignore a forgotten dialog.
        """
