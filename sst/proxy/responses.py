# -*- test-case-name: sst.test.test_proxy,sst.test.test_proxy_sessiontimer -*-
"""
What the proxy does with what comes back on its branches (RFC 3261 sections 16.7 to 16.8):
provisional responses (early dialogs), 2xx (dialogs, and the session terms the
L{ISessionTimerHook} gives them), failures and best-response selection, Timer C, and the
CANCEL of branches.
"""
from __future__ import annotations

from typing import Callable, Optional

from twisted.logger import Logger

from sst.dialogs import Dialog, DialogId, DialogTable, DialogTableFull
from sst.expiry import ByeOnExpiry
from sst.headers import URI, SIPParseError
from sst.message import Request, Response
from sst.proxy.branches import Branch, ResponseContext, _better, _CancelUser
from sst.proxy.hook import ISessionTimerHook
from sst.stats import Stats
from sst.timerservice import TimerService
from sst.transaction import TransactionLayer
from sst.values import SessionTerms

__all__ = ["ResponseHandler"]


def _rejectResponse(request: Request, code: int, phrase: str = "") -> Response:
    from sst.responses import makeResponse

    return makeResponse(request, code, phrase)


class ResponseHandler:
    """
    The responses to the proxy's branches, their Timer C, and their CANCEL.

    Built by the L{Proxy<sst.proxy.core.Proxy>} with what it needs; each L{Branch} passes
    its client transaction's reports here through its context's proxy.
    """

    _log = Logger()

    def __init__(
        self,
        clock: TimerService,
        transactions: TransactionLayer,
        dialogs: DialogTable,
        stats: Stats,
        hook: ISessionTimerHook,
        byeOnExpiry: Optional[ByeOnExpiry],
        isLocal: Callable[[URI], bool],
    ) -> None:
        """
        @param clock: runs Timer C.
        @param transactions: the proxy's transaction layer (the timers, and where a
            branch's CANCEL goes).
        @param dialogs: the dialog table.
        @param stats: the counters.
        @param hook: the session-timer rules asked about every 2xx to INVITE and UPDATE.
        @param byeOnExpiry: told of each timed dialog established (C{--bye-on-expiry}), or
            L{None}.
        @param isLocal: whether a URI names this proxy.
        """
        self.clock = clock
        self.transactions = transactions
        self.dialogs = dialogs
        self.stats = stats
        self.hook = hook
        self.byeOnExpiry = byeOnExpiry
        self.isLocal = isLocal

    # -- responses -----------------------------------------------------------------------

    def branchResponse(self, branch: Branch, response: Response) -> None:
        """
        A response came back on C{branch}: pass it upstream, or keep it for the best final.
        """
        context = branch.context
        code = response.code
        if code == 100:
            return
        try:
            response.popFirstValue("via")
            if not response.hasHeader("via"):
                return
            if code < 200:
                self._provisional(branch, response)
            elif code < 300:
                self._success(branch, response)
            else:
                self._failure(branch, response)
        except SIPParseError as e:
            self.stats.increment("parse_errors")
            self._log.info("Bad response {response}: {reason}", response=response, reason=e.reason)
            if code >= 200 and not branch.done:
                self.synthesise(branch, 502)
        except Exception:
            self.stats.increment("internal_errors")
            self._log.failure("Error handling {response}", response=response)

    def _provisional(self, branch: Branch, response: Response) -> None:
        context = branch.context
        branch.provisional = True
        if branch.timerC is not None and branch.timerC.active() and not branch.timedOut:
            branch.timerC.reset(self.transactions.timers.C)
        if context.cancelled and not branch.cancelSent:
            self._cancelBranch(branch)
        if context.finalSent:
            return
        request = context.request
        if context.initial and request.method == "INVITE" and response.toTag is not None:
            self._createDialog(request, response, confirmed=False, lifetime=None)
        context.server.respond(response)

    def _success(self, branch: Branch, response: Response) -> None:
        context = branch.context
        firstFinal = not branch.done
        branch.finalCode = max(branch.finalCode, response.code)
        self._stopTimerC(branch)
        request = branch.request
        method = request.method
        if method in ("INVITE", "UPDATE") and branch.firstAnswer(response.toTag or ""):
            # The expiry counts from the first 2xx: retransmissions pass through only.
            self._sessionFor(context, branch, response)
        elif method == "BYE":
            self._endDialog(request, "bye")
        context.finalSent = True
        context.server.respond(response)
        if firstFinal and method == "INVITE":
            for other in context.pending():
                if other is not branch:
                    self._cancelBranch(other)
            if context.initial:
                # Early dialogs of other forks that never answered 2xx expire once late 2xx
                # can no longer come (RFC 6026: 64*T1 after the first 2xx); a late 2xx
                # re-arms its dialog with the negotiated lifetime.
                self._shortenEarlyDialogs(request.callId, request.fromTag or "",
                                          response.toTag or "")

    def _sessionFor(self, context: ResponseContext, branch: Branch, response: Response) -> None:
        request = branch.request
        toTag = response.toTag
        if toTag is None:
            return
        if context.initial:
            if request.method != "INVITE":
                return
            # A 2xx confirms its dialog (RFC 3261 section 12); the ACK does not have to
            # come first, and a later 2xx of another fork must not take it for an early
            # dialog that lost.
            dialog = self._createDialog(request, response, confirmed=True, lifetime=None)
            terms = self.hook.responseReceived(request, response, dialog)
            if dialog is not None:
                self._applyTerms(dialog, terms)
                if self.byeOnExpiry is not None and not (dialog.extra and "ends" in dialog.extra):
                    self.byeOnExpiry.established(dialog, request, response, self.isLocal)
            return
        dialog = self.dialogs.lookup(request.callId, request.fromTag or "", toTag)
        terms = self.hook.responseReceived(request, response, dialog)
        if dialog is not None:
            fromCallee = request.fromTag != dialog.id.fromTag
            self._applyTerms(dialog, terms, fromCallee)

    def _applyTerms(self, dialog: Dialog, terms: Optional[SessionTerms],
                    fromCallee: bool = False) -> None:
        """
        Re-arm C{dialog} with the terms of a 2xx.

        The dialog's refresher names a party of the dialog (C{uac} for the caller,
        C{uas} for the callee), while C{refresher} in a refresh names a role in that
        transaction: a refresh sent by the callee swaps them.
        """
        if terms is None:
            self.dialogs.refresh(dialog.id, None, None, None)
            return
        refresher = terms.refresher
        if fromCallee and refresher is not None:
            refresher = "uas" if refresher == "uac" else "uac"
        self.dialogs.refresh(dialog.id, float(terms.interval), terms.interval, refresher)

    def _createDialog(self, request: Request, response: Response, confirmed: bool,
                      lifetime: Optional[float]) -> Optional[Dialog]:
        dialogId = DialogId(request.callId, request.fromTag or "", response.toTag or "")
        try:
            return self.dialogs.create(dialogId, confirmed=confirmed, lifetime=lifetime)
        except DialogTableFull:
            self.stats.increment("overload_rejected")
            return None

    def _shortenEarlyDialogs(self, callId: str, fromTag: str, winner: str) -> None:
        lifetime = self.transactions.timers.M
        for dialog in self.dialogs.early(callId):
            if dialog.id.fromTag == fromTag and dialog.id.toTag != winner:
                self.dialogs.refresh(dialog.id, lifetime, None, None)

    def _endDialog(self, request: Request, reason: str) -> None:
        dialog = self.dialogs.lookup(request.callId, request.fromTag or "", request.toTag or "")
        if dialog is not None:
            self.dialogs.terminate(dialog.id, reason)

    def _failure(self, branch: Branch, response: Response) -> None:
        context = branch.context
        if branch.done:
            return
        if branch.timedOut and response.code == 487:
            # The answer to the CANCEL Timer C sent: the branch timed out (section 16.8).
            self.synthesise(branch, 408)
            return
        branch.finalCode = response.code
        self._stopTimerC(branch)
        request = branch.request
        if request.method == "BYE" or response.code in (408, 481) and not context.initial:
            self._endDialog(request, "bye" if request.method == "BYE" else "failed")
        if response.code >= 600:
            for other in context.pending():
                self._cancelBranch(other)
        if context.best is None or _better(response, context.best):
            context.best = response
        self._maybeFinish(context)

    def _maybeFinish(self, context: ResponseContext) -> None:
        if context.finalSent or context.pending():
            return
        best = context.best
        if best is None:
            return
        context.finalSent = True
        if context.initial and context.request.method == "INVITE":
            for dialog in self.dialogs.early(context.request.callId):
                if dialog.id.fromTag == (context.request.fromTag or ""):
                    self.dialogs.terminate(dialog.id, "rejected")
        if best.code == 503:
            best.code = 500
            best.phrase = "Server Internal Error"
        if context.cancelled and best.code in (408,):
            context.server.respondWith(487)
            return
        context.server.respond(best)

    def synthesise(self, branch: Branch, code: int) -> None:
        """
        Act as if the branch received a final response C{code} (408 on time-out).
        """
        if branch.done:
            return
        branch.finalCode = code
        self._stopTimerC(branch)
        context = branch.context
        response = _rejectResponse(context.request, code)
        if context.best is None or _better(response, context.best):
            context.best = response
        if code == 408 and not context.initial:
            self._endDialog(branch.request, "timeout")
        self._maybeFinish(context)

    def branchTimedOut(self, branch: Branch) -> None:
        """
        The client transaction of C{branch} timed out: as if it received a 408.
        """
        self.synthesise(branch, 408)

    def startTimerC(self, branch: Branch) -> None:
        """
        Arm Timer C of a forwarded INVITE (RFC 3261 section 16.6 step 11).
        """
        branch.timerC = self.clock.callLater(self.transactions.timers.C, self._timerC, branch)

    def _timerC(self, branch: Branch) -> None:
        """
        Timer C fired (RFC 3261 section 16.8). A branch that had a provisional response is
        cancelled, and its final response awaited (a 487 then counts as a 408) for 64*T1
        more, when Timer C fires again; one that had none behaves as if it received a 408.
        """
        branch.timerC = None
        if branch.done:
            return
        if branch.provisional and not branch.timedOut:
            branch.timedOut = True
            self._cancelBranch(branch)
            branch.timerC = self.clock.callLater(self.transactions.timers.B, self._timerC, branch)
            return
        self.synthesise(branch, 408)

    def _stopTimerC(self, branch: Branch) -> None:
        timerC = branch.timerC
        if timerC is not None:
            branch.timerC = None
            timerC.stop()

    # -- CANCEL --------------------------------------------------------------------------

    def cancelContext(self, context: ResponseContext) -> None:
        """
        The request of C{context} was cancelled (RFC 3261 section 16.10): cancel its
        pending branches, or answer 487 when it has none; while it is still being routed,
        it is only marked (the routing then answers 487).
        """
        context.cancelled = True
        if context.routing:
            return
        for branch in context.pending():
            self._cancelBranch(branch)
        if not context.branches and not context.finalSent:
            context.finalSent = True
            context.server.respondWith(487)

    def _cancelBranch(self, branch: Branch) -> None:
        if branch.cancelSent or branch.done or branch.transaction is None:
            return
        if not branch.provisional:
            # RFC 3261 section 9.1: no CANCEL before a provisional response; it goes out
            # when one arrives (the context is marked cancelled).
            branch.context.cancelled = True
            return
        branch.cancelSent = True
        cancel = branch.transaction.cancelRequest()
        # Where the INVITE went: over TCP when it was large, unless it fell back to UDP.
        user = _CancelUser(branch.context.proxy, branch)
        self.transactions.request(cancel, branch.transaction.target, user)
