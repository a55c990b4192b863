# -*- test-case-name: sst.test.test_proxy -*-
"""
The state of a proxied request: its L{ResponseContext} (RFC 3261 section 16.2), one
L{Branch} per forwarded copy, the user of a branch's CANCEL, and best-response selection
(section 16.7 step 6).

A branch passes what its client transaction reports up to the proxy's
L{ResponseHandler<sst.proxy.responses.ResponseHandler>}.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from zope.interface import classImplements

from sst.address import Address
from sst.message import Request, Response
from sst.timerservice import Timer
from sst.transaction import ClientTransaction, IClientTransactionUser, ServerTransaction

if TYPE_CHECKING:
    from sst.proxy.core import Proxy

__all__ = ["Branch", "ResponseContext"]


class Branch:
    """
    One forwarded copy of a request, with its client transaction.
    """

    __slots__ = ("context", "request", "target", "transaction", "provisional", "finalCode",
                 "cancelSent", "timerC", "timedOut", "answered")

    def __init__(self, context: "ResponseContext", request: Request, target: Address) -> None:
        self.context = context
        self.request = request
        self.target = target
        self.transaction: Optional[ClientTransaction] = None
        self.provisional = False
        self.finalCode = 0
        self.cancelSent = False
        self.timerC: Optional[Timer] = None
        #: Whether Timer C fired after a provisional response and the branch was cancelled
        #: for it: its 487 then stands for a 408 (RFC 3261 section 16.8).
        self.timedOut = False
        #: The To tags of the 2xx seen so far, so that a retransmitted 2xx is
        #: forwarded but does not re-arm its dialog's expiry.
        self.answered: tuple[str, ...] = ()

    def firstAnswer(self, toTag: str) -> bool:
        """
        Note a 2xx with C{toTag}.

        @return: whether it is the first 2xx of this branch with that tag
            (not a retransmission).
        """
        if toTag in self.answered:
            return False
        self.answered += (toTag,)
        return True

    @property
    def done(self) -> bool:
        """
        Whether a final response (real or synthesised) was seen.
        """
        return self.finalCode >= 200

    def responseReceived(self, transaction: ClientTransaction, response: Response) -> None:
        self.context.proxy.responses.branchResponse(self, response)

    def transactionTimedOut(self, transaction: ClientTransaction) -> None:
        self.context.proxy.responses.branchTimedOut(self)


class ResponseContext:
    """
    The state of one proxied request (RFC 3261 section 16.2): its server transaction and
    branches, the best final response so far, and whether it was cancelled.
    """

    __slots__ = ("proxy", "server", "request", "initial", "branches", "best", "_finalSent",
                 "cancelled", "routing", "counted")

    def __init__(self, proxy: "Proxy", server: ServerTransaction, initial: bool) -> None:
        self.proxy = proxy
        self.server = server
        self.request = server.request
        self.initial = initial
        self.branches: list[Branch] = []
        self.best: Optional[Response] = None
        self._finalSent = False
        self.cancelled = False
        self.routing = True
        # An initial INVITE counts against --max-dialogs until its final response is sent
        # (by then a 2xx has made its dialog), so that a surge cannot overfill the table.
        self.counted = initial and server.request.method == "INVITE"
        if self.counted:
            proxy.invitesInProgress += 1

    @property
    def finalSent(self) -> bool:
        """
        Whether the final response went upstream.
        """
        return self._finalSent

    @finalSent.setter
    def finalSent(self, value: bool) -> None:
        if value and not self._finalSent and self.counted:
            self.counted = False
            self.proxy.invitesInProgress -= 1
        if value:
            # No other final goes upstream: the best one so far is no longer needed.
            self.best = None
        self._finalSent = value

    def serverTransactionEnded(self) -> None:
        """
        The server transaction ended: stop counting it even if no final was sent, and let
        go of the branches (each refers to this context), whose client transactions may
        live on a little (2xx retransmissions) but can no longer send anything upstream.
        """
        self.branches = []
        if self.counted:
            self.counted = False
            self.proxy.invitesInProgress -= 1

    def pending(self) -> list[Branch]:
        """
        @return: branches without a final response.
        """
        return [b for b in self.branches if not b.done]


class _CancelUser:
    """
    The user of the CANCEL client transaction of a branch: its responses need no action;
    when it times out (no response at all), the branch is given up as if it received a 408.
    """

    __slots__ = ("proxy", "branch")

    def __init__(self, proxy: "Proxy", branch: Branch) -> None:
        self.proxy = proxy
        self.branch = branch

    def responseReceived(self, transaction: ClientTransaction, response: Response) -> None:
        pass

    def transactionTimedOut(self, transaction: ClientTransaction) -> None:
        self.proxy.responses.synthesise(self.branch, 408)


def _rank(code: int) -> tuple[int, int]:
    # RFC 3261 section 16.7 step 6: 6xx first, then the lowest class; 503 is a last resort.
    if code >= 600:
        return (0, code)
    if code == 503:
        return (9, code)
    if code == 408:
        return (8, code)
    return (code // 100, code)


def _better(candidate: Response, current: Response) -> bool:
    return _rank(candidate.code) < _rank(current.code)


# Declared here rather than with @implementer, which would make them Python classes when the
# module is compiled (mypyc); they stay native, with their attributes in C structs.
classImplements(Branch, IClientTransactionUser)
classImplements(_CancelUser, IClientTransactionUser)
