# -*- test-case-name: sst.test.test_expiry -*-
"""
Tests for L{sst.expiry}: C{--bye-on-expiry}. Its behaviour on the wire is tested through the
proxy in L{sst.test.test_proxy_sessiontimer}.
"""
from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from sst.expiry import ByeOnExpiry
from sst.dialogs import IDialogObserver
from sst.test._support import assertProvides
from sst.testing import ProxyHarness
from sst.transaction import IClientTransactionUser


class ProvidesTests(SynchronousTestCase):
    """
    The objects of L{sst.expiry} provide the interfaces they declare.
    """

    def test_provides(self) -> None:
        """
        L{ByeOnExpiry}, which the proxy adds with C{--bye-on-expiry}, is a dialog observer;
        the user of the BYEs it sends at expiry is a client transaction user.
        """
        h = ProxyHarness(["--min-se", "90", "--bye-on-expiry"])
        bye = h.service.proxy.byeOnExpiry
        self.assertIsInstance(bye, ByeOnExpiry)
        assertProvides(self, IDialogObserver, bye)
        h.call("Session-Expires: 90")
        h.clock.advance(90.1)
        byes = [client for client in h.service.transactions.clients.values()
                if client.request.method == "BYE"]
        self.assertEqual(len(byes), 2)
        for client in byes:
            assertProvides(self, IClientTransactionUser, client.user)
