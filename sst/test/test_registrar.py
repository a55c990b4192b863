# -*- test-case-name: sst.test.test_registrar -*-
"""
Tests for L{sst.registrar}.
"""

from __future__ import annotations

import re
from typing import Optional

from twisted.internet.task import Clock
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from sst.headers import parseNameAddr, parseURI
from sst.message import Request, Response, parse
from sst.registrar import (
    Binding,
    LocationService,
    LocationServiceFull,
    Registrar,
    aorForURI,
)

ALICE = "sip:alice@example.com"


def register(
    contacts: Optional[list[str]] = None,
    expires: Optional[str] = None,
    to: str = "<sip:alice@example.com>",
    callId: str = "reg-1@192.0.2.1",
    cseq: int = 1,
    method: str = "REGISTER",
) -> Request:
    """
    Build a REGISTER (or another C{method}) with one Contact line per
    element of C{contacts}.
    """
    lines = [
        "%s sip:example.com SIP/2.0" % (method,),
        "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKr1",
        "Via: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKr0",
        "Max-Forwards: 70",
        "From: <sip:alice@example.com>;tag=f1",
        "To: %s" % (to,),
        "Call-ID: %s" % (callId,),
        "CSeq: %d %s" % (cseq, method),
    ]
    lines.extend("Contact: %s" % (c,) for c in contacts or [])
    if expires is not None:
        lines.append("Expires: %s" % (expires,))
    lines.append("Content-Length: 0")
    message = parse(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    assert isinstance(message, Request)
    return message


def contactsOf(response: Response) -> list[tuple[str, Optional[str]]]:
    """
    @return: the (URI, expires) pairs of the Contact headers of C{response}.
    """
    result = []
    for value in response.headerValues("contact"):
        contact = parseNameAddr(value)
        result.append((str(contact.uri), contact.params.get("expires")))
    return result


class AorForURITests(SynchronousTestCase):
    """
    Tests for L{aorForURI}.
    """

    def test_normalizes(self) -> None:
        """
        The host is lower-cased and the port, parameters and headers dropped;
        the user part keeps its case.
        """
        uri = parseURI("sip:Alice@EXAMPLE.com:5070;transport=tcp?subject=x")
        self.assertEqual(aorForURI(uri), "sip:Alice@example.com")

    def test_sips(self) -> None:
        """
        A C{sips} URI has the same address-of-record as its C{sip} form.
        """
        self.assertEqual(aorForURI(parseURI("sips:alice@example.com")), ALICE)

    def test_noUser(self) -> None:
        """
        A URI without a user part gives C{sip:host}.
        """
        self.assertEqual(aorForURI(parseURI("sip:Example.COM")), "sip:example.com")

    def test_ipv6(self) -> None:
        """
        IPv6 hosts are bracketed.
        """
        self.assertEqual(aorForURI(parseURI("sip:bob@[2001:DB8::1]:5060")), "sip:bob@[2001:db8::1]")

    def test_tel(self) -> None:
        """
        A C{tel} URI gives C{tel:number}, without parameters.
        """
        self.assertEqual(aorForURI(parseURI("tel:+15551234;phone-context=x")), "tel:+15551234")

    def test_other(self) -> None:
        """
        Other URIs are kept as they are.
        """
        self.assertEqual(aorForURI(parseURI("mailto:a@b.example")), "mailto:a@b.example")


class BindingTests(SynchronousTestCase):
    """
    Tests for L{Binding}.
    """

    def test_attributes(self) -> None:
        """
        A binding holds its contact, expiry time, Call-ID and CSeq, and
        nothing else.
        """
        binding = Binding("sip:a@192.0.2.1", 10.5, "c1", 3)
        self.assertEqual(
            (binding.contact, binding.expiresAt, binding.callId, binding.cseq),
            ("sip:a@192.0.2.1", 10.5, "c1", 3),
        )
        self.assertFalse(hasattr(binding, "__dict__"))
        self.assertEqual(
            repr(binding), "<Binding sip:a@192.0.2.1 expiresAt=10.5 callId='c1' cseq=3>"
        )


class LocationServiceTests(SynchronousTestCase):
    """
    Tests for L{LocationService}.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.locations = LocationService(self.clock)

    def test_empty(self) -> None:
        """
        A new location service has no bindings.
        """
        self.assertEqual(len(self.locations), 0)
        self.assertEqual(self.locations.lookup(ALICE), [])

    def test_bind(self) -> None:
        """
        L{LocationService.bind} adds a binding that L{LocationService.lookup}
        finds, expiring C{expires} seconds from now.
        """
        self.clock.advance(100)
        binding = self.locations.bind(ALICE, "sip:alice@192.0.2.1", 3600, "c1", 1)
        self.assertEqual(self.locations.lookup(ALICE), [binding])
        self.assertEqual(
            (binding.contact, binding.expiresAt, binding.callId, binding.cseq),
            ("sip:alice@192.0.2.1", 3700.0, "c1", 1),
        )
        self.assertEqual(len(self.locations), 1)
        self.assertEqual(len(self.locations.clock.getDelayedCalls()), 1)

    def test_expiry(self) -> None:
        """
        A binding is removed when its lifetime ends, and its delayed call is
        gone with it.
        """
        self.locations.bind(ALICE, "sip:alice@192.0.2.1", 60, "c1", 1)
        self.clock.advance(59.9)
        self.assertEqual(len(self.locations), 1)
        self.assertEqual(len(self.locations.lookup(ALICE)), 1)
        with capturedLogs() as events:
            self.clock.advance(0.2)
        self.assertEqual(len(self.locations), 0)
        self.assertEqual(self.locations.lookup(ALICE), [])
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(
            [e["contact"] for e in events if "expired" in e["log_format"]],
            ["sip:alice@192.0.2.1"],
        )

    def test_refreshResets(self) -> None:
        """
        Binding the same contact again resets its one delayed call instead of
        adding a second, and updates its Call-ID and CSeq.
        """
        first = self.locations.bind(ALICE, "sip:alice@192.0.2.1", 60, "c1", 1)
        [call] = self.locations.clock.getDelayedCalls()
        self.clock.advance(50)
        second = self.locations.bind(ALICE, "sip:alice@192.0.2.1", 60, "c2", 7)
        self.assertIs(first, second)
        self.assertEqual(self.locations.clock.getDelayedCalls(), [call])
        self.assertEqual(call.getTime(), 110.0)
        self.assertEqual((second.expiresAt, second.callId, second.cseq), (110.0, "c2", 7))
        self.assertEqual(len(self.locations), 1)
        self.clock.advance(59.9)
        self.assertEqual(len(self.locations), 1)
        self.clock.advance(0.1)
        self.assertEqual(len(self.locations), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_newestFirst(self) -> None:
        """
        L{LocationService.lookup} lists the most recently bound or refreshed
        contacts first.
        """
        self.locations.bind(ALICE, "sip:a@192.0.2.1", 60, "c1", 1)
        self.locations.bind(ALICE, "sip:a@192.0.2.2", 60, "c2", 1)
        self.locations.bind(ALICE, "sip:a@192.0.2.3", 60, "c3", 1)
        self.assertEqual(
            [b.contact for b in self.locations.lookup(ALICE)],
            ["sip:a@192.0.2.3", "sip:a@192.0.2.2", "sip:a@192.0.2.1"],
        )
        self.locations.bind(ALICE, "sip:a@192.0.2.1", 60, "c1", 2)
        self.assertEqual(
            [b.contact for b in self.locations.lookup(ALICE)],
            ["sip:a@192.0.2.1", "sip:a@192.0.2.3", "sip:a@192.0.2.2"],
        )

    def test_separateAors(self) -> None:
        """
        Bindings of one address-of-record do not show under another.
        """
        self.locations.bind(ALICE, "sip:a@192.0.2.1", 60, "c1", 1)
        self.locations.bind("sip:bob@example.com", "sip:b@192.0.2.2", 60, "c2", 1)
        self.assertEqual([b.contact for b in self.locations.lookup(ALICE)], ["sip:a@192.0.2.1"])
        self.assertEqual(len(self.locations), 2)

    def test_lookupSkipsExpired(self) -> None:
        """
        A binding whose time has passed is not returned even when its delayed
        call has not run yet.
        """
        self.locations.bind(ALICE, "sip:a@192.0.2.1", 60, "c1", 1)
        self.clock.rightNow = 60.0
        self.assertEqual(self.locations.lookup(ALICE), [])

    def test_unbind(self) -> None:
        """
        L{LocationService.unbind} removes one binding and cancels its delayed
        call.
        """
        self.locations.bind(ALICE, "sip:a@192.0.2.1", 60, "c1", 1)
        self.locations.bind(ALICE, "sip:a@192.0.2.2", 60, "c1", 1)
        self.assertTrue(self.locations.unbind(ALICE, "sip:a@192.0.2.1"))
        self.assertEqual([b.contact for b in self.locations.lookup(ALICE)], ["sip:a@192.0.2.2"])
        self.assertEqual(len(self.locations.clock.getDelayedCalls()), 1)
        self.assertTrue(self.locations.unbind(ALICE, "sip:a@192.0.2.2"))
        self.assertEqual(len(self.locations), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_unbindUnknown(self) -> None:
        """
        L{LocationService.unbind} of a binding that does not exist returns
        C{False}.
        """
        self.assertFalse(self.locations.unbind(ALICE, "sip:a@192.0.2.1"))
        self.locations.bind(ALICE, "sip:a@192.0.2.1", 60, "c1", 1)
        self.assertFalse(self.locations.unbind(ALICE, "sip:a@192.0.2.2"))
        self.assertEqual(len(self.locations), 1)

    def test_unbindAll(self) -> None:
        """
        L{LocationService.unbindAll} removes every binding of one
        address-of-record, cancels their delayed calls and counts them.
        """
        self.locations.bind(ALICE, "sip:a@192.0.2.1", 60, "c1", 1)
        self.locations.bind(ALICE, "sip:a@192.0.2.2", 60, "c1", 1)
        self.locations.bind("sip:bob@example.com", "sip:b@192.0.2.3", 60, "c2", 1)
        self.assertEqual(self.locations.unbindAll(ALICE), 2)
        self.assertEqual(self.locations.unbindAll(ALICE), 0)
        self.assertEqual(len(self.locations), 1)
        self.assertEqual(len(self.locations.clock.getDelayedCalls()), 1)
        self.assertEqual(self.locations.unbindAll("sip:bob@example.com"), 1)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_clear(self) -> None:
        """
        L{LocationService.clear} removes every binding and cancels every
        delayed call.
        """
        self.locations.bind(ALICE, "sip:a@192.0.2.1", 60, "c1", 1)
        self.locations.bind("sip:bob@example.com", "sip:b@192.0.2.3", 60, "c2", 1)
        self.locations.clear()
        self.assertEqual(len(self.locations), 0)
        self.assertEqual(self.locations.lookup(ALICE), [])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_full(self) -> None:
        """
        A new binding beyond C{maxBindings} raises L{LocationServiceFull};
        refreshing an existing one still works.
        """
        locations = LocationService(self.clock, maxBindings=2)
        locations.bind(ALICE, "sip:a@192.0.2.1", 60, "c1", 1)
        locations.bind(ALICE, "sip:a@192.0.2.2", 60, "c1", 1)
        self.assertRaises(
            LocationServiceFull, locations.bind, ALICE, "sip:a@192.0.2.3", 60, "c1", 1
        )
        locations.bind(ALICE, "sip:a@192.0.2.1", 120, "c1", 2)
        self.assertEqual(len(locations), 2)
        self.assertEqual(len(locations.clock.getDelayedCalls()), 2)

    def test_badExpires(self) -> None:
        """
        L{LocationService.bind} refuses a lifetime that is not positive.
        """
        self.assertRaises(ValueError, self.locations.bind, ALICE, "sip:a@192.0.2.1", 0, "c", 1)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_badMaxBindings(self) -> None:
        """
        C{maxBindings} must be at least 1.
        """
        self.assertRaises(ValueError, LocationService, self.clock, 0)


class RegistrarTests(SynchronousTestCase):
    """
    Tests for L{Registrar}.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.locations = LocationService(self.clock)
        self.registrar = Registrar(self.locations, ["Example.com", "[2001:db8::1]"])

    def contacts(self, aor: str = ALICE) -> list[tuple[str, float]]:
        """
        @return: the (contact, expiresAt) pairs bound to C{aor}.
        """
        return [(b.contact, b.expiresAt) for b in self.locations.lookup(aor)]

    def test_constructorChecks(self) -> None:
        """
        The registrar refuses lifetimes out of order.
        """
        self.assertRaises(ValueError, Registrar, self.locations, [], 30, 60, 3600)
        self.assertRaises(ValueError, Registrar, self.locations, [], 3600, 60, 1800)
        self.assertRaises(ValueError, Registrar, self.locations, [], 3600, 0, 86400)

    def test_servesDomain(self) -> None:
        """
        L{Registrar.servesDomain} compares hosts without regard to case, IPv6
        brackets or a trailing dot.
        """
        self.assertTrue(self.registrar.servesDomain("example.com"))
        self.assertTrue(self.registrar.servesDomain("EXAMPLE.COM"))
        self.assertTrue(self.registrar.servesDomain("example.com."))
        self.assertTrue(self.registrar.servesDomain("2001:DB8::1"))
        self.assertTrue(self.registrar.servesDomain("[2001:db8::1]"))
        self.assertFalse(self.registrar.servesDomain("example.org"))
        self.assertFalse(self.registrar.servesDomain("sub.example.com"))

    def test_register(self) -> None:
        """
        A REGISTER with one Contact binds it for the default lifetime, and the
        200 lists it with its lifetime.
        """
        response = self.registrar.handleRegister(register(["<sip:alice@192.0.2.1:5060>"]))
        self.assertEqual((response.code, response.phrase), (200, "OK"))
        self.assertEqual(contactsOf(response), [("sip:alice@192.0.2.1:5060", "3600")])
        self.assertEqual(self.contacts(), [("sip:alice@192.0.2.1:5060", 3600.0)])

    def test_responseHeaders(self) -> None:
        """
        The response copies the Vias, From, Call-ID and CSeq of the REGISTER,
        and adds a random hexadecimal tag to To.
        """
        request = register(["<sip:alice@192.0.2.1>"])
        response = self.registrar.handleRegister(request)
        self.assertEqual(
            [via.branch for via in response.vias()], ["z9hG4bKr1", "z9hG4bKr0"]
        )
        self.assertEqual(response.header("from"), request.header("from"))
        self.assertEqual(response.callId, request.callId)
        self.assertEqual(response.header("cseq"), "1 REGISTER")
        self.assertEqual(str(response.toAddr().uri), ALICE)
        tag = response.toTag
        assert tag is not None
        self.assertTrue(re.fullmatch("[0-9a-f]{16}", tag), tag)
        other = self.registrar.handleRegister(register(["<sip:alice@192.0.2.1>"], cseq=2))
        self.assertNotEqual(other.toTag, tag)

    def test_errorsHaveToTag(self) -> None:
        """
        Error responses carry a To tag too.
        """
        response = self.registrar.handleRegister(register(["<sip:a@192.0.2.1>"], expires="10"))
        self.assertEqual(response.code, 423)
        self.assertIsNotNone(response.toTag)

    def test_existingToTag(self) -> None:
        """
        A To tag in the REGISTER is kept.
        """
        response = self.registrar.handleRegister(
            register(["<sip:alice@192.0.2.1>"], to="<sip:alice@example.com>;tag=x1")
        )
        self.assertEqual(response.toTag, "x1")

    def test_toNormalized(self) -> None:
        """
        The address-of-record comes from the To URI, normalized: a C{sips}
        scheme, port, parameters and host case do not matter.
        """
        self.registrar.handleRegister(
            register(["<sip:alice@192.0.2.1>"], to="<sips:alice@EXAMPLE.com:5061;x=y>")
        )
        self.assertEqual(self.contacts(ALICE), [("sip:alice@192.0.2.1", 3600.0)])

    def test_expiresHeader(self) -> None:
        """
        The Expires header gives the lifetime of contacts without an
        C{expires} parameter.
        """
        response = self.registrar.handleRegister(
            register(["<sip:a@192.0.2.1>", "<sip:a@192.0.2.2>;expires=120"], expires="300")
        )
        self.assertEqual(
            sorted(contactsOf(response)),
            [("sip:a@192.0.2.1", "300"), ("sip:a@192.0.2.2", "120")],
        )

    def test_expiresParameter(self) -> None:
        """
        A contact's C{expires} parameter overrides the default lifetime.
        """
        self.registrar.handleRegister(register(["<sip:a@192.0.2.1>;expires=90"]))
        self.assertEqual(self.contacts(), [("sip:a@192.0.2.1", 90.0)])

    def test_addrSpecContact(self) -> None:
        """
        A Contact in addr-spec form has its C{expires} as a header parameter.
        """
        self.registrar.handleRegister(register(["sip:a@192.0.2.1;expires=90"]))
        self.assertEqual(self.contacts(), [("sip:a@192.0.2.1", 90.0)])

    def test_commaSeparatedContacts(self) -> None:
        """
        Several contacts on one Contact line are all bound.
        """
        response = self.registrar.handleRegister(
            register(['"A, B" <sip:a@192.0.2.1>, <sip:a@192.0.2.2>'])
        )
        self.assertEqual(response.code, 200)
        self.assertEqual(
            sorted(c for c, _ in self.contacts()), ["sip:a@192.0.2.1", "sip:a@192.0.2.2"]
        )

    def test_maxExpires(self) -> None:
        """
        A lifetime above C{maxExpires} is lowered to it, an overflowing one
        too.
        """
        response = self.registrar.handleRegister(
            register(["<sip:a@192.0.2.1>;expires=99999999999", "<sip:a@192.0.2.2>"], "100000")
        )
        self.assertEqual(
            sorted(contactsOf(response)),
            [("sip:a@192.0.2.1", "86400"), ("sip:a@192.0.2.2", "86400")],
        )

    def test_intervalTooBrief(self) -> None:
        """
        A lifetime between 0 and C{minExpires} gets a 423 with Min-Expires,
        and no contact of the REGISTER is bound.
        """
        response = self.registrar.handleRegister(
            register(["<sip:a@192.0.2.1>", "<sip:a@192.0.2.2>;expires=59"])
        )
        self.assertEqual((response.code, response.phrase), (423, "Interval Too Brief"))
        self.assertEqual(response.header("min-expires"), "60")
        self.assertIn(b"\r\nMin-Expires: 60\r\n", response.toBytes())
        self.assertEqual(self.contacts(), [])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_minExpiresAccepted(self) -> None:
        """
        A lifetime of exactly C{minExpires} is accepted.
        """
        response = self.registrar.handleRegister(register(["<sip:a@192.0.2.1>"], "60"))
        self.assertEqual(response.code, 200)

    def test_unregister(self) -> None:
        """
        A contact with a lifetime of 0 is removed, with its delayed call;
        other contacts stay.
        """
        self.registrar.handleRegister(register(["<sip:a@192.0.2.1>", "<sip:a@192.0.2.2>"]))
        response = self.registrar.handleRegister(
            register(["<sip:a@192.0.2.1>;expires=0"], cseq=2)
        )
        self.assertEqual(response.code, 200)
        self.assertEqual(contactsOf(response), [("sip:a@192.0.2.2", "3600")])
        self.assertEqual(len(self.locations.clock.getDelayedCalls()), 1)

    def test_unregisterUnknown(self) -> None:
        """
        Removing a contact that is not bound is not an error.
        """
        response = self.registrar.handleRegister(register(["<sip:a@192.0.2.1>"], "0"))
        self.assertEqual(response.code, 200)
        self.assertEqual(contactsOf(response), [])

    def test_wildcard(self) -> None:
        """
        C{Contact: *} with C{Expires: 0} removes every binding of the
        address-of-record and their delayed calls.
        """
        self.registrar.handleRegister(register(["<sip:a@192.0.2.1>", "<sip:a@192.0.2.2>"]))
        self.registrar.handleRegister(
            register(["<sip:b@192.0.2.3>"], to="<sip:bob@example.com>")
        )
        response = self.registrar.handleRegister(register(["*"], "0", callId="other"))
        self.assertEqual(response.code, 200)
        self.assertEqual(contactsOf(response), [])
        self.assertEqual(self.contacts(), [])
        self.assertEqual(len(self.locations), 1)
        self.registrar.handleRegister(
            register(["*"], "0", to="<sip:bob@example.com>", callId="other")
        )
        self.assertEqual(len(self.locations), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_wildcardNeedsExpiresZero(self) -> None:
        """
        C{Contact: *} without C{Expires: 0} is a 400.
        """
        self.registrar.handleRegister(register(["<sip:a@192.0.2.1>"]))
        for expires in [None, "3600"]:
            response = self.registrar.handleRegister(register(["*"], expires, cseq=5))
            self.assertEqual(response.code, 400)
        self.assertEqual(len(self.locations), 1)

    def test_wildcardAlone(self) -> None:
        """
        C{Contact: *} with another contact is a 400.
        """
        self.registrar.handleRegister(register(["<sip:a@192.0.2.1>"]))
        response = self.registrar.handleRegister(
            register(["*", "<sip:a@192.0.2.2>"], "0", cseq=5)
        )
        self.assertEqual(response.code, 400)
        self.assertEqual(len(self.locations), 1)

    def test_wildcardKeepsNewer(self) -> None:
        """
        C{Contact: *} leaves bindings last updated by a REGISTER with the
        same Call-ID and a higher CSeq.
        """
        self.registrar.handleRegister(register(["<sip:a@192.0.2.1>"], cseq=5))
        self.registrar.handleRegister(register(["*"], "0", cseq=4))
        self.assertEqual(len(self.locations), 1)
        self.registrar.handleRegister(register(["*"], "0", cseq=6))
        self.assertEqual(len(self.locations), 0)

    def test_query(self) -> None:
        """
        A REGISTER without Contact changes nothing and lists the current
        bindings with the whole seconds they have left, newest first.
        """
        self.registrar.handleRegister(register(["<sip:a@192.0.2.1>"]))
        self.clock.advance(10)
        self.registrar.handleRegister(register(["<sip:a@192.0.2.2>"], "600", cseq=2))
        self.clock.advance(99.5)
        response = self.registrar.handleRegister(register(cseq=3))
        self.assertEqual(response.code, 200)
        self.assertEqual(
            contactsOf(response), [("sip:a@192.0.2.2", "501"), ("sip:a@192.0.2.1", "3491")]
        )
        self.assertEqual(len(self.locations), 2)

    def test_queryEmpty(self) -> None:
        """
        A query for an address-of-record without bindings gets a 200 without
        Contact.
        """
        response = self.registrar.handleRegister(register())
        self.assertEqual(response.code, 200)
        self.assertFalse(response.hasHeader("contact"))

    def test_refresh(self) -> None:
        """
        Registering a contact again refreshes its binding without a second
        delayed call.
        """
        self.registrar.handleRegister(register(["<sip:a@192.0.2.1>"], "300"))
        self.clock.advance(200)
        response = self.registrar.handleRegister(register(["<sip:a@192.0.2.1>"], "300", cseq=2))
        self.assertEqual(contactsOf(response), [("sip:a@192.0.2.1", "300")])
        self.assertEqual(len(self.locations.clock.getDelayedCalls()), 1)
        self.clock.advance(299)
        self.assertEqual(len(self.locations), 1)
        self.clock.advance(1)
        self.assertEqual(len(self.locations), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_contactMatching(self) -> None:
        """
        Contacts differing only in host case are the same binding.
        """
        self.registrar.handleRegister(register(["<sip:a@HOST.example.net>"]))
        self.registrar.handleRegister(register(["<sip:a@host.example.net>"], "0", cseq=2))
        self.assertEqual(len(self.locations), 0)

    def test_staleCSeqIgnored(self) -> None:
        """
        A contact update from a REGISTER with the Call-ID of the binding and
        a CSeq not higher than its own is ignored (RFC 3261 section 10.3,
        step 7).
        """
        self.registrar.handleRegister(register(["<sip:a@192.0.2.1>"], "300", cseq=5))
        for cseq in (5, 4):
            response = self.registrar.handleRegister(
                register(["<sip:a@192.0.2.1>"], "0", cseq=cseq)
            )
            self.assertEqual(response.code, 200)
            self.assertEqual(contactsOf(response), [("sip:a@192.0.2.1", "300")])
        response = self.registrar.handleRegister(register(["<sip:a@192.0.2.1>"], "900", cseq=3))
        self.assertEqual(self.contacts(), [("sip:a@192.0.2.1", 300.0)])

    def test_higherCSeqUpdates(self) -> None:
        """
        A higher CSeq with the same Call-ID updates the binding.
        """
        self.registrar.handleRegister(register(["<sip:a@192.0.2.1>"], "300", cseq=5))
        self.registrar.handleRegister(register(["<sip:a@192.0.2.1>"], "900", cseq=6))
        [binding] = self.locations.lookup(ALICE)
        self.assertEqual((binding.expiresAt, binding.cseq), (900.0, 6))

    def test_otherCallIdUpdates(self) -> None:
        """
        A REGISTER with another Call-ID updates the binding whatever its
        CSeq.
        """
        self.registrar.handleRegister(register(["<sip:a@192.0.2.1>"], "300", cseq=5))
        self.registrar.handleRegister(register(["<sip:a@192.0.2.1>"], "900", callId="c-2", cseq=1))
        [binding] = self.locations.lookup(ALICE)
        self.assertEqual((binding.expiresAt, binding.callId, binding.cseq), (900.0, "c-2", 1))

    def test_notOurDomain(self) -> None:
        """
        An address-of-record outside our domains gets a 404 and binds nothing.
        """
        response = self.registrar.handleRegister(
            register(["<sip:a@192.0.2.1>"], to="<sip:alice@example.org>")
        )
        self.assertEqual((response.code, response.phrase), (404, "Not Found"))
        self.assertEqual(len(self.locations), 0)

    def test_telTo(self) -> None:
        """
        A To header that is not a SIP URI gets a 404.
        """
        response = self.registrar.handleRegister(register(["<sip:a@192.0.2.1>"], to="<tel:+1555>"))
        self.assertEqual(response.code, 404)

    def test_ipv6Domain(self) -> None:
        """
        An IPv6 domain is served.
        """
        response = self.registrar.handleRegister(
            register(["<sip:a@192.0.2.1>"], to="<sip:alice@[2001:db8::1]>")
        )
        self.assertEqual(response.code, 200)
        self.assertEqual(len(self.locations.lookup("sip:alice@[2001:db8::1]")), 1)

    def test_malformedContact(self) -> None:
        """
        A Contact that does not parse gets a 400 and no contact is bound.
        """
        for bad in ["<sip:a@192.0.2.2", "<nonsense>", '"unterminated <sip:a@x>']:
            response = self.registrar.handleRegister(register(["<sip:a@192.0.2.1>", bad]))
            self.assertEqual(response.code, 400, bad)
        self.assertEqual(len(self.locations), 0)

    def test_malformedExpires(self) -> None:
        """
        An Expires header or C{expires} parameter that is not a number, or a
        valueless C{expires}, gets a 400.
        """
        cases: list[tuple[list[str], Optional[str]]] = [
            (["<sip:a@192.0.2.1>"], "soon"),
            (["<sip:a@192.0.2.1>;expires=-1"], None),
            (["<sip:a@192.0.2.1>;expires"], None),
        ]
        for contacts, expires in cases:
            response = self.registrar.handleRegister(register(contacts, expires))
            self.assertEqual(response.code, 400, (contacts, expires))
        self.assertEqual(len(self.locations), 0)

    def test_full(self) -> None:
        """
        When the new contacts do not fit in the location service, the REGISTER
        gets a 503 and binds none of them; refreshes still work.
        """
        locations = LocationService(self.clock, maxBindings=2)
        registrar = Registrar(locations, ["example.com"])
        registrar.handleRegister(register(["<sip:a@192.0.2.1>"]))
        response = registrar.handleRegister(
            register(["<sip:a@192.0.2.2>", "<sip:a@192.0.2.3>"], cseq=2)
        )
        self.assertEqual(response.code, 503)
        self.assertEqual(len(locations), 1)
        response = registrar.handleRegister(
            register(["<sip:a@192.0.2.1>", "<sip:a@192.0.2.2>"], cseq=3)
        )
        self.assertEqual(response.code, 200)
        self.assertEqual(len(locations), 2)

    def test_notRegister(self) -> None:
        """
        A request other than REGISTER gets a 405 with Allow.
        """
        response = self.registrar.handleRegister(register(method="OPTIONS"))
        self.assertEqual(response.code, 405)
        self.assertEqual(response.header("allow"), "REGISTER")

    def test_expiryAfterRegister(self) -> None:
        """
        Bindings made by REGISTERs expire on time, leaving no delayed call.
        """
        self.registrar.handleRegister(register(["<sip:a@192.0.2.1>"], "60"))
        self.registrar.handleRegister(register(["<sip:a@192.0.2.2>"], "120", cseq=2))
        self.clock.advance(60)
        self.assertEqual([c for c, _ in self.contacts()], ["sip:a@192.0.2.2"])
        self.clock.advance(60)
        self.assertEqual(len(self.locations), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class SharedLocationTests(SynchronousTestCase):
    """
    L{LocationService.listener} hears every change, and L{LocationService.replay} applies it
    to another location service (how workers share registrations).
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.here = LocationService(self.clock)
        self.there = LocationService(self.clock)
        self.changes: list[list[object]] = []
        self.here.listener = self.changes.append

    def contacts(self, locations: LocationService, aor: str) -> list[str]:
        return [b.contact for b in locations.lookup(aor)]

    def test_bindReplayed(self) -> None:
        self.here.bind("sip:bob@example.com", "sip:bob@192.0.2.1", 600, "c1", 1)
        self.assertEqual(self.changes,
                         [["bind", "sip:bob@example.com", "sip:bob@192.0.2.1", 600, "c1", 1]])
        for change in self.changes:
            self.there.replay(change)
        self.assertEqual(self.contacts(self.there, "sip:bob@example.com"), ["sip:bob@192.0.2.1"])
        binding = self.there.lookup("sip:bob@example.com")[0]
        self.assertEqual((binding.expiresAt, binding.callId, binding.cseq), (600.0, "c1", 1))

    def test_unbindReplayed(self) -> None:
        self.here.bind("sip:bob@example.com", "sip:bob@192.0.2.1", 600, "c1", 1)
        self.here.bind("sip:bob@example.com", "sip:bob@192.0.2.2", 600, "c1", 1)
        self.here.unbind("sip:bob@example.com", "sip:bob@192.0.2.1")
        self.here.bind("sip:al@example.com", "sip:al@192.0.2.3", 600, "c2", 1)
        self.here.unbindAll("sip:al@example.com")
        for change in self.changes:
            self.there.replay(change)
        self.assertEqual(self.contacts(self.there, "sip:bob@example.com"), ["sip:bob@192.0.2.2"])
        self.assertEqual(len(self.there), 1)

    def test_replayNotEchoed(self) -> None:
        """
        A replayed change is not told to the listener of the service it is applied to (it
        would go back and forth between workers).
        """
        echoes: list[list[object]] = []
        self.there.listener = echoes.append
        self.there.replay(["bind", "sip:bob@example.com", "sip:bob@192.0.2.1", 600, "c1", 1])
        self.assertEqual(echoes, [])
        self.there.bind("sip:al@example.com", "sip:al@192.0.2.3", 600, "c2", 1)
        self.assertEqual(len(echoes), 1)

    def test_badChange(self) -> None:
        self.assertRaises(ValueError, self.there.replay, ["rebind", "x"])
        self.assertRaises(ValueError, self.there.replay, ["bind", "x"])

    def test_listenerErrorLogged(self) -> None:
        """
        A listener that fails does not undo or fail the change.
        """
        def fail(change: list[object]) -> None:
            raise RuntimeError("gone")

        self.here.listener = fail
        self.here.bind("sip:bob@example.com", "sip:bob@192.0.2.1", 600, "c1", 1)
        self.assertEqual(len(self.here), 1)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_items(self) -> None:
        self.here.bind("sip:bob@example.com", "sip:bob@192.0.2.1", 600, "c1", 1)
        self.here.bind("sip:al@example.com", "sip:al@192.0.2.3", 600, "c2", 1)
        self.assertEqual(sorted((aor, b.contact) for aor, b in self.here.items()),
                         [("sip:al@example.com", "sip:al@192.0.2.3"),
                          ("sip:bob@example.com", "sip:bob@192.0.2.1")])
