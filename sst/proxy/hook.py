# -*- test-case-name: sst.test.test_proxy,sst.test.test_sessiontimer -*-
"""
The interface the proxy core calls upward about session timers, L{ISessionTimerHook}, and
the hook that times nothing, L{NoSessionTimers}.

It lives beside the proxy that calls it; L{SessionTimerHook<sst.sessiontimer.SessionTimerHook>}
implements it for RFC 4028 section 8.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from zope.interface import Interface, implementer

if TYPE_CHECKING:
    from sst.dialogs import Dialog
    from sst.message import Request, Response
    from sst.values import SessionTerms

__all__ = ["ISessionTimerHook", "NoSessionTimers"]


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


@implementer(ISessionTimerHook)
class NoSessionTimers:
    """
    A hook that times nothing: dialogs live for the default lifetime.
    """

    def requestReceived(self, request: Request, dialog: Optional[Dialog]) -> Optional[Response]:
        return None

    def responseReceived(
        self, request: Request, response: Response, dialog: Optional[Dialog]
    ) -> Optional[SessionTerms]:
        return None
