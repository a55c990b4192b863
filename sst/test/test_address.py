# -*- test-case-name: sst.test.test_address -*-
"""
Tests for L{sst.address}.
"""
from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from sst.address import Address, addressForURI
from sst.headers import parseURI


class AddressTests(SynchronousTestCase):
    """
    L{Address}: its family and how it is written.
    """

    def test_family(self) -> None:
        """
        An IPv6 host is family C{"6"}; an IPv4 address or a host name is C{"4"}.
        """
        self.assertEqual(Address("udp", "::1", 5060).family, "6")
        self.assertEqual(Address("udp", "2001:db8::5", 5060).family, "6")
        self.assertEqual(Address("tcp", "192.0.2.1", 5060).family, "4")
        self.assertEqual(Address("udp", "example.com", 5060).family, "4")

    def test_hostport(self) -> None:
        """
        C{hostport} brackets IPv6 hosts.
        """
        self.assertEqual(Address("udp", "::1", 5062).hostport(), "[::1]:5062")
        self.assertEqual(Address("udp", "192.0.2.1", 5060).hostport(), "192.0.2.1:5060")


class AddressForURITests(SynchronousTestCase):
    """
    L{addressForURI}: where a request for a URI goes without DNS.
    """

    def test_defaults(self) -> None:
        """
        The scheme's default port and UDP, unless the URI says otherwise.
        """
        self.assertEqual(addressForURI(parseURI("sip:bob@192.0.2.1")),
                         Address("udp", "192.0.2.1", 5060))
        self.assertEqual(addressForURI(parseURI("sip:bob@[2001:db8::1]:5070;transport=TCP")),
                         Address("tcp", "2001:db8::1", 5070))

    def test_maddrAndSips(self) -> None:
        """
        C{maddr} overrides the host; a C{sips:} URI goes over TLS to port 5061; an unknown
        transport falls back to the default.
        """
        self.assertEqual(addressForURI(parseURI("sip:bob@example.com;maddr=192.0.2.9")),
                         Address("udp", "192.0.2.9", 5060))
        self.assertEqual(addressForURI(parseURI("sips:bob@example.com")),
                         Address("tls", "example.com", 5061))
        self.assertEqual(addressForURI(parseURI("sip:bob@example.com;transport=sctp"), "tcp"),
                         Address("tcp", "example.com", 5060))
