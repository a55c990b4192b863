# -*- test-case-name: sst.test.test_sessiontimer -*-
"""
The session-timer policy of the proxy: RFC 4028 section 8, as the OpenSER
C{sst} module meant it.

L{SessionTimerHook} is the L{ISessionTimerHook} the proxy core calls for every
INVITE and UPDATE it forwards and for every 2xx to them.  It keeps no state of
its own: what RFC 4028 section 8.1 asks a proxy to remember per transaction
(whether the UAC sent C{Supported: timer}, and the Session-Expires forwarded)
is read back from the request as forwarded.  The local decisions come from an
L{ISessionTimerPolicy}; L{DefaultSessionTimerPolicy} holds the seed's
parameters.

Where the 2006 module (and Kamailio and OpenSIPS today) deviate from the RFC,
this module follows the RFC:

  - Only Session-Expires is compared with the local minimum; an INVITE with
    C{Session-Expires: 3600} and no Min-SE is not "too small".
  - The 422 says C{Session Interval Too Small} and always carries Min-SE.
  - A UAC without timer support is never rejected; Min-SE is raised (never
    lowered) and Session-Expires raised to match.
  - Min-SE is never inserted or changed in a C{Supported: timer} request.
  - A 2xx without Session-Expires gets one with C{refresher=uac} and
    C{Require: timer}, but only when the UAC supports timers.
  - C{expired_sst} counts timed dialogs that expire.

@see: U{https://www.rfc-editor.org/rfc/rfc4028#section-8}
"""

from __future__ import annotations

import secrets
from typing import Callable, Optional, Protocol

from twisted.logger import Logger
from zope.interface import implementer

from sst.dialogs import Dialog, DialogObserverBase, IDialogObserver
from sst.headers import MAX_DELTA_SECONDS, SIPParseError
from sst.interfaces import ISessionTimerPolicy
from sst.message import Message, Request, Response
from sst.proxy.hook import ISessionTimerHook
from sst.responses import makeResponse
from sst.rfc4028 import (
    Offer,
    proxyEdits,
    readMinSE,
    readOffer,
    readSessionExpires,
    rejects,
    tooSmallMinSE,
    withDelta,
)
from sst.stats import Stats
from sst.timers import DEFAULT_SESSION_EXPIRES, MIN_SE_FLOOR
from sst.values import PolicySettings, SessionTerms

__all__ = [
    "DefaultSessionTimerPolicy",
    "ExpiryCounter",
    "PolicySettings",
    "Responder",
    "SessionTimerHook",
    "TOO_SMALL_PHRASE",
    "checkMin",
    "intervalTooSmall",
]

#: The reason phrase of a 422 (RFC 4028 section 6), not the seed's
#: "Session Timer Too Small".
TOO_SMALL_PHRASE = "Session Interval Too Small"


class Responder(Protocol):
    """
    Anything that sends a response to the request it serves, such as a
    L{ServerTransaction<sst.transaction.ServerTransaction>}.
    """

    def respond(self, response: Response) -> None:
        """
        Send C{response}.
        """


@implementer(ISessionTimerPolicy)
class DefaultSessionTimerPolicy:
    """
    The same answers for every request: the seed module's parameters.

    Every initial INVITE is timed (the seed's C{sst_flag} set for all of
    them).
    """

    def __init__(
        self,
        minSE: int = 1800,
        sessionExpires: int = DEFAULT_SESSION_EXPIRES,
        rejectTooSmall: bool = True,
    ) -> None:
        """
        @param minSE: the seed's C{min_se}, in seconds.
        @param sessionExpires: the interval to insert into INVITEs without
            Session-Expires, in seconds.
        @param rejectTooSmall: the seed's C{reject_to_small}.
        @raise ValueError: if C{minSE} is below 90 (RFC 4028 section 5), or
            C{sessionExpires} below C{minSE} or above 2**32-1.
        """
        if minSE < MIN_SE_FLOOR:
            raise ValueError(
                f"Min-SE must be at least {MIN_SE_FLOOR} (RFC 4028 section 5), not {minSE!r}"
            )
        if sessionExpires < minSE:
            raise ValueError(
                f"Session-Expires ({sessionExpires!r}) must not be below Min-SE ({minSE!r})"
            )
        if sessionExpires > MAX_DELTA_SECONDS:
            raise ValueError(f"Session-Expires too large: {sessionExpires!r}")
        self._minSE = minSE
        self._sessionExpires = sessionExpires
        self._rejectTooSmall = rejectTooSmall

    def isTimed(self, request: Request) -> bool:
        """
        Time every dialog-creating INVITE.

        @param request: the request.
        @return: whether it is an INVITE without a To tag.
        """
        return request.method == "INVITE" and request.toTag is None

    def minSE(self, request: Request) -> int:
        """
        @param request: the request (ignored).
        @return: the configured minimum.
        """
        return self._minSE

    def sessionExpires(self, request: Request) -> int:
        """
        @param request: the request (ignored).
        @return: the configured interval.
        """
        return self._sessionExpires

    def rejectTooSmall(self, request: Request) -> bool:
        """
        @param request: the request (ignored).
        @return: the configured C{reject_to_small}.
        """
        return self._rejectTooSmall

    def __repr__(self) -> str:
        return (
            f"<DefaultSessionTimerPolicy minSE={self._minSE}"
            f" sessionExpires={self._sessionExpires}"
            f" rejectTooSmall={self._rejectTooSmall}>"
        )


def checkMin(request: Request, minSE: int) -> bool:
    """
    Whether the Session-Expires of C{request} is below C{minSE}: the test of
    the seed's C{sstCheckMin}, done right.

    Only Session-Expires is compared.  The request's Min-SE is what the UAC
    accepts, not what it asks for, so an INVITE with C{Session-Expires: 3600}
    and no Min-SE is not too small for C{minSE} 1800 (Kamailio and OpenSIPS
    compare the implied Min-SE of 90 and reject it).

    @param request: an INVITE or UPDATE; it is not changed.
    @param minSE: the local minimum, in seconds.
    @return: C{True} when Session-Expires is present and below C{minSE};
        C{False} when it is absent (nothing is asked for).
    @raise SIPParseError: when Session-Expires is malformed.
    """
    se = readSessionExpires(request)
    return se is not None and se.delta < minSE


def _randomTag() -> str:
    """
    @return: a fresh To tag.
    """
    return secrets.token_hex(8)


def intervalTooSmall(
    request: Request, minSE: int, toTag: Optional[str] = None
) -> Response:
    """
    Build the C{422 Session Interval Too Small} for C{request} (RFC 4028
    section 6).

    Its Min-SE is C{minSE}, raised to 90 and to the request's own Min-SE if
    larger, so that the UAC's retry (with the largest Min-SE it has seen)
    passes here.

    @param request: the rejected request.
    @param minSE: the local minimum, in seconds.
    @param toTag: the To tag to add when the request has none; L{None} for a
        random one.
    @return: the response, not sent.
    @raise SIPParseError: when the request's Min-SE is malformed.
    """
    floor = tooSmallMinSE(Offer(None, readMinSE(request), True), minSE)
    response = makeResponse(
        request, 422, TOO_SMALL_PHRASE, toTag=toTag if toTag is not None else _randomTag()
    )
    response.addHeader("Min-SE", str(floor))
    return response


@implementer(ISessionTimerHook)
class SessionTimerHook:
    """
    RFC 4028 section 8 for the proxy core, under an L{ISessionTimerPolicy}.

    Requests (section 8.1):

      - An initial INVITE the policy times is checked and completed: a
        Session-Expires below the local minimum gets a 422 when the UAC
        supports timers and the policy rejects, and is raised (with Min-SE)
        when the UAC does not support them; a missing Session-Expires is
        inserted, without C{refresher}.
      - Other INVITEs and UPDATEs are only validated, and rejected with 422
        under the same conditions.
      - Malformed Session-Expires or Min-SE raise L{SIPParseError}, which the
        proxy answers with 400.

    2xx responses (section 8.2) report the session interval and refresher,
    adding Session-Expires and C{Require: timer} when the UAS left them out
    and the UAC supports timers.
    """

    _log = Logger()

    def __init__(
        self,
        policy: ISessionTimerPolicy,
        stats: Stats,
        newTag: Callable[[], str] = _randomTag,
        maxSE: Optional[int] = None,
    ) -> None:
        """
        @param policy: the local decisions.
        @param stats: where C{rejected_422} is counted.
        @param newTag: makes the To tag of each 422.
        @param maxSE: C{--max-se}: the largest session interval accepted, or
            L{None} for no cap (RFC 4028 section 11 and local policy).
        """
        self.policy = policy
        self.stats = stats
        self._newTag = newTag
        self.maxSE = maxSE

    # -- the seed's sstCheckMin ----------------------------------------------------------

    def _localMinimum(self, request: Request) -> int:
        """
        @return: the policy's minimum for C{request}, at least 90.
        """
        return max(self.policy.minSE(request), MIN_SE_FLOOR)

    def tooSmall(self, request: Request) -> Response:
        """
        Build the 422 for C{request} with the policy's minimum, and count it
        as C{rejected_422}.

        @param request: the rejected request.
        @return: the response, not sent.
        @raise SIPParseError: when the request's Min-SE is malformed.
        """
        response = intervalTooSmall(request, self._localMinimum(request), self._newTag())
        self.stats.increment("rejected_422")
        return response

    def sstCheckMin(self, request: Request, server: Responder, sendReply: bool) -> bool:
        """
        The seed's C{sstCheckMin(send_reply_flag)}, for routing code and
        plugins: whether C{request} may be rejected because its
        Session-Expires is below the policy's minimum.

        That is the case when L{checkMin} says so I{and} the request carries
        C{Supported: timer}: a UAC without timer support cannot act on a 422,
        so it is never rejected (RFC 4028 section 8.1); L{requestReceived}
        raises its interval instead.  The policy's C{rejectTooSmall} is not
        consulted: it governs only the automatic check of
        L{requestReceived}.

        @param request: an INVITE or UPDATE; it is not changed.
        @param server: what answers C{request}.
        @param sendReply: when C{True} and the check fails, send the
            C{422 Session Interval Too Small} through C{server} (and count
            C{rejected_422}); when C{False}, send nothing whatever the result.
        @return: whether the request is too small (and, with C{sendReply},
            was rejected).
        @raise SIPParseError: when Session-Expires or Min-SE is malformed.
        """
        tooSmall = checkMin(request, self._localMinimum(request)) and request.hasOptionTag(
            "supported", "timer"
        )
        if tooSmall and sendReply:
            server.respond(self.tooSmall(request))
        return tooSmall

    # -- ISessionTimerHook ---------------------------------------------------------------

    def requestReceived(self, request: Request, dialog: Optional[Dialog]) -> Optional[Response]:
        """
        Check and complete an INVITE or UPDATE before it is forwarded.

        Every session refresh request is processed as the initial INVITE is
        (RFC 4028 section 8.1), except that nothing is inserted into a refresh
        and that only timed dialogs are held to our minimum.

        @param request: the request; edited in place.
        @param dialog: its dialog, if known (L{None} for an initial INVITE).
        @return: a 422 to send instead of forwarding, or L{None}.
        @raise SIPParseError: when Session-Expires or Min-SE is malformed.
        """
        if request.method == "INVITE" and request.toTag is None:
            if not self.policy.isTimed(request):
                return None
            return self._sessionRequest(request, initial=True, timed=True)
        return self._sessionRequest(request, initial=False,
                                    timed=dialog is not None and dialog.timed)

    def _sessionRequest(self, request: Request, initial: bool, timed: bool) -> Optional[Response]:
        """
        RFC 4028 section 8.1 for one request (see L{sst.rfc4028.proxyEdits}): a 422, or
        the request edited in place.

        @param initial: whether the request is a dialog-creating INVITE (a missing
            Session-Expires is then inserted).
        @param timed: whether our minimum applies (an initial INVITE the policy times, or a
            refresh in a timed dialog).
        """
        offer = readOffer(request)
        local = self._localMinimum(request) if timed else 0
        if rejects(offer, local, self.policy.rejectTooSmall(request)):
            return self.tooSmall(request)
        edits = proxyEdits(offer, local, self.policy.rejectTooSmall(request),
                           self.policy.sessionExpires(request) if initial else None,
                           self.maxSE)
        if edits.minSE is not None:
            if offer.minSE is None:
                request.addHeader("Min-SE", str(edits.minSE))
            else:
                request.setHeader("Min-SE", withDelta(request.header("min-se") or "",
                                                      edits.minSE))
        if edits.sessionExpires is not None:
            if offer.sessionExpires is None:
                request.addHeader("Session-Expires", str(edits.sessionExpires))
            else:
                request.setHeader("Session-Expires",
                                  withDelta(request.header("session-expires") or "",
                                            edits.sessionExpires))
        return None

    def responseReceived(
        self, request: Request, response: Response, dialog: Optional[Dialog]
    ) -> Optional[SessionTerms]:
        """
        RFC 4028 section 8.2 for a 2xx to a forwarded INVITE or UPDATE.

        A 2xx with Session-Expires is left as it is and gives its interval and
        refresher (L{None} when it names none).  A 2xx without it, to a request
        that carried Session-Expires and C{Supported: timer}, gets
        C{Session-Expires: <forwarded value>;refresher=uac} and C{timer} in
        Require.  Any other 2xx without it means no session timer.

        An initial INVITE the policy does not time, and a refresh in a dialog
        that is unknown, or untimed and not asking for a timer, give L{None}
        and leave the 2xx alone.

        @param request: the request as forwarded.
        @param response: the 2xx; edited in place.
        @param dialog: the dialog, if known.
        @return: the session terms, or L{None} for no session timer.
        """
        if not 200 <= response.code < 300 or request.method not in ("INVITE", "UPDATE"):
            return None
        if request.method == "INVITE" and request.toTag is None:
            if not self.policy.isTimed(request):
                return None
        elif dialog is None or (not dialog.timed and not request.hasHeader("session-expires")):
            return None
        try:
            answered = readSessionExpires(response)
        except SIPParseError as e:
            self._log.warn(
                "Ignoring bad Session-Expires in {response} for {callId}: {reason}",
                response=response,
                callId=request.header("call-id"),
                reason=e.reason,
            )
            return None
        if answered is not None:
            interval = answered.delta
            if self.maxSE is not None and interval > self.maxSE:
                # The UAS raised it (section 9 forbids that): keep the state no longer.
                self._log.info(
                    "Session-Expires {interval} in {response} for {callId} capped at {maxSE}",
                    interval=interval, response=response, callId=request.header("call-id"),
                    maxSE=self.maxSE,
                )
                interval = self.maxSE
            return SessionTerms(interval, answered.refresher)
        if not request.hasOptionTag("supported", "timer"):
            return None
        try:
            forwarded = readSessionExpires(request)
        except SIPParseError:
            return None
        if forwarded is None:
            return None
        response.addHeader("Session-Expires", f"{forwarded.delta};refresher=uac")
        if not response.hasOptionTag("require", "timer"):
            response.setHeader("Require", ", ".join(response.headerValues("require") + ["timer"]))
        return SessionTerms(forwarded.delta, "uac")


@implementer(IDialogObserver)
class ExpiryCounter(DialogObserverBase):
    """
    Counts C{expired_sst}: timed dialogs that expire.  Untimed dialogs
    reaching their default lifetime are not counted.
    """

    def __init__(self, stats: Stats) -> None:
        """
        @param stats: where to count.
        """
        self.stats = stats

    def dialogExpired(self, dialog: Dialog) -> None:
        """
        Count the expiry if the dialog had a session timer.

        @param dialog: the expired dialog.
        """
        if dialog.timed:
            self.stats.increment("expired_sst")
