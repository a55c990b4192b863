# -*- test-case-name: sst.test.test_dialogs -*-
"""
Interfaces between the parts of sst.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple, Optional

from zope.interface import Interface

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred

    from sst.dialogs import Dialog
    from sst.message import Request, Response
    from sst.routing import Target


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


class SessionTerms(NamedTuple):
    """
    The session timer a 2xx settled for a dialog.

    @ivar interval: the session interval in seconds.
    @ivar refresher: C{"uac"} or C{"uas"}.
    """

    interval: int
    refresher: Optional[str]


class ISessionTimerHook(Interface):
    """
    The one place where the proxy core asks about session timers (RFC 4028 section 8).

    The proxy calls it for every INVITE and UPDATE it forwards and for every 2xx to them;
    the hook may edit the message in place. It owns no dialog state.
    """

    def requestReceived(request: Request, dialog: Optional[Dialog]) -> Optional[Response]:
        """
        An INVITE or UPDATE is about to be forwarded (C{dialog} is L{None} for an initial
        INVITE). Edit it in place (Session-Expires, Min-SE), or return a response to send
        instead of forwarding it (a 422).
        """

    def responseReceived(
        request: Request, response: Response, dialog: Optional[Dialog]
    ) -> Optional[SessionTerms]:
        """
        A 2xx to a forwarded INVITE or UPDATE (C{request}, as forwarded) is about to be sent
        upstream. Edit it in place (RFC 4028 section 8.2) and return the session terms the
        dialog now has, or L{None} when the session is not timed.
        """


class IRouter(Interface):
    """
    Decides where initial out-of-dialog requests go.
    """

    def route(request: Request) -> Deferred[list[Target]]:
        """
        Where an initial out-of-dialog request goes, in order of preference;
        an empty list means no route (the proxy answers 404 or 480).

        @param request: the request to route; it is not changed.
        @return: a L{Deferred} that fires with the targets.  It does not fail:
            a router that cannot route answers an empty list.
        """
