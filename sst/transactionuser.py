# -*- test-case-name: sst.test.test_transaction -*-
"""
What the transaction layer (L{sst.transaction}) calls upward: the user of the whole layer
(the proxy core, the UA core) and the user of one client transaction.

They live apart from the layer's code, which may be compiled (mypyc cannot define a
C{zope.interface} interface in a compiled module); L{sst.transaction} exports them too.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from zope.interface import Interface

if TYPE_CHECKING:
    from sst.message import Request, Response
    from sst.transaction import ClientTransaction, ServerTransaction

__all__ = ["ITransactionUser", "IClientTransactionUser"]


class ITransactionUser(Interface):
    """
    What sits above the transaction layer (the proxy core, the UA core).
    """

    def requestReceived(transaction: "ServerTransaction") -> None:
        """
        A new request (not ACK, not CANCEL) arrived and a server transaction was made for it.
        """

    def ackReceived(request: Request) -> None:
        """
        An ACK that matches no INVITE server transaction (the ACK for a 2xx) arrived.
        """

    def cancelReceived(cancel: "ServerTransaction", invite: Optional["ServerTransaction"]) -> None:
        """
        A CANCEL arrived; C{invite} is the INVITE server transaction it matches, if any.
        """

    def strayResponse(response: Response) -> None:
        """
        A response matching no client transaction arrived.
        """


class IClientTransactionUser(Interface):
    """
    Told what happens to a client transaction.
    """

    def responseReceived(transaction: "ClientTransaction", response: Response) -> None:
        """
        A response for the transaction (never a retransmitted non-2xx final).
        """

    def transactionTimedOut(transaction: "ClientTransaction") -> None:
        """
        Timer B or F fired: no final response came.
        """
