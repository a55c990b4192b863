# -*- test-case-name: sst.test.test_tap -*-
"""
Tests for L{sst.tap}: the command line and the service tree of C{twistd sst}.
"""
from __future__ import annotations

from twisted.application.service import IServiceMaker
from twisted.internet.task import Clock
from twisted.plugin import getPlugins
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from sst.address import Address
from sst.tap import Options, SIPService, makeService, parseListen


def parsed(*args: str) -> Options:
    """
    Parse C{args} as the options of C{twistd sst}.
    """
    options = Options()
    options.parseOptions(list(args))
    return options


class PluginTests(SynchronousTestCase):
    """
    The C{twistd} plugin.
    """

    def test_found(self) -> None:
        """
        C{twistd} finds an L{IServiceMaker} called C{sst} that provides the interface.
        """
        makers = [m for m in getPlugins(IServiceMaker) if m.tapname == "sst"]
        self.assertEqual(len(makers), 1)
        self.assertTrue(verifyObject(IServiceMaker, makers[0]))
        self.assertIs(makers[0].options, Options)


class OptionsTests(SynchronousTestCase):
    """
    L{Options} checks every value and raises L{UsageError} with a clear message.
    """

    def test_defaults(self) -> None:
        """
        With no options sst listens on UDP and TCP 127.0.0.1:5060, with a 43200 s dialog
        lifetime and RFC 3261 timer defaults.
        """
        options = parsed()
        self.assertEqual(
            options["listen"],
            [Address("udp", "127.0.0.1", 5060), Address("tcp", "127.0.0.1", 5060)],
        )
        self.assertEqual(options["dialog-timeout"], 43200.0)
        self.assertEqual(options["timers"].t1, 0.5)
        self.assertIsNone(options["next-hop"])

    def test_listenRepeatable(self) -> None:
        """
        C{--listen} may be given several times, with IPv6 hosts in brackets.
        """
        options = parsed("--listen", "udp:127.0.0.1:5070", "--listen", "tcp:[::1]:5071")
        self.assertEqual(
            options["listen"], [Address("udp", "127.0.0.1", 5070), Address("tcp", "::1", 5071)]
        )

    def test_badListen(self) -> None:
        """
        A C{--listen} value that is not C{udp|tcp:HOST:PORT} is a usage error naming the value.
        """
        for bad in ["sctp:127.0.0.1:5060", "udp:127.0.0.1", "udp:127.0.0.1:99999", "udp"]:
            e = self.assertRaises(UsageError, parsed, "--listen", bad)
            self.assertIn(repr(bad), str(e))

    def test_parseListen(self) -> None:
        """
        L{parseListen} reads transport, host and port.
        """
        self.assertEqual(parseListen("TCP:localhost:5080"), Address("tcp", "localhost", 5080))

    def test_badNextHop(self) -> None:
        """
        C{--next-hop} must be a sip: or sips: URI.
        """
        self.assertRaises(UsageError, parsed, "--next-hop", "http://x")
        self.assertRaises(UsageError, parsed, "--next-hop", "sip:host:notaport")
        self.assertEqual(parsed("--next-hop", "sip:127.0.0.1:5070")["next-hop"].port, 5070)

    def test_badNumbers(self) -> None:
        """
        Non-numeric or non-positive timers and sizes are usage errors; T2 below T1 too.
        """
        self.assertRaises(UsageError, parsed, "--dialog-timeout", "soon")
        self.assertRaises(UsageError, parsed, "--dialog-timeout", "0")
        self.assertRaises(UsageError, parsed, "--t1", "-1")
        self.assertRaises(UsageError, parsed, "--t1", "5", "--t2", "4")
        self.assertRaises(UsageError, parsed, "--max-size", "10")
        self.assertRaises(UsageError, parsed, "--max-dialogs", "1.5")


class ServiceTests(SynchronousTestCase):
    """
    L{makeService} assembles the service tree without binding anything.
    """

    def test_tree(self) -> None:
        """
        The tree has one C{sip} service wired to the configured options.
        """
        options = parsed("--dialog-timeout", "600", "--domain", "Example.COM")
        top = makeService(options, Clock())
        sip = top.getServiceNamed("sip")
        self.assertIsInstance(sip, SIPService)
        assert isinstance(sip, SIPService)
        self.assertEqual(sip.dialogs.defaultLifetime, 600.0)
        self.assertTrue(sip.registrar.servesDomain("example.com"))
        self.assertEqual(sip.ports, [])
