# -*- test-case-name: sst.test.test_proxy,sst.test.test_tap -*-
"""
L{DialogCounter}: the dialog observer that counts dialogs created, terminated and expired,
in proxy and B2BUA mode alike.
"""
from __future__ import annotations

from zope.interface import implementer

from sst.dialogs import Dialog, DialogObserverBase, IDialogObserver
from sst.stats import Stats

__all__ = ["DialogCounter"]


@implementer(IDialogObserver)
class DialogCounter(DialogObserverBase):
    """
    Counts C{dialogs_created}, C{dialogs_terminated} and C{dialogs_expired} from the
    dialog table's events (early dialogs included).
    """

    def __init__(self, stats: Stats) -> None:
        """
        @param stats: where to count.
        """
        self.stats = stats

    def dialogCreated(self, dialog: Dialog) -> None:
        """
        Count a new dialog.

        @param dialog: the dialog.
        """
        self.stats.increment("dialogs_created")

    def dialogTerminated(self, dialog: Dialog, reason: str) -> None:
        """
        Count a dialog ended by BYE, rejection or failure.

        @param dialog: the dialog.
        @param reason: why it ended.
        """
        self.stats.increment("dialogs_terminated")

    def dialogExpired(self, dialog: Dialog) -> None:
        """
        Count a dialog whose timer ran out.

        @param dialog: the dialog.
        """
        self.stats.increment("dialogs_expired")
