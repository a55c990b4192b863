# -*- test-case-name: sst.test.test_tap -*-
"""
Tests for L{sst.tap}: the command line and the service tree of C{twistd sst}.
"""
from __future__ import annotations

import errno
import io
import ipaddress
import os
import socket
import subprocess
import sys
from importlib import metadata

from twisted.copyright import version as twistedVersion
from twisted.application.service import IServiceMaker
from twisted.internet.address import IPv4Address
from twisted.internet.error import CannotListenError
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.plugin import getPlugins
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

import sst
from sst.address import Address
from sst.policies import NetworkPolicy
from sst.sessiontimer import DefaultSessionTimerPolicy
from sst.tap import Options, SIPService, StartupError, makeService, parseListen, sstVersion
from sst.test._support import assertProvides


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
        assertProvides(self, IServiceMaker, makers[0])
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

    def test_advertise(self) -> None:
        """
        C{--advertise} takes C{HOST}, C{HOST:PORT} or C{[IPv6]:PORT} into a (host, port)
        pair, with port 5060 by default; without it there is none.
        """
        self.assertIsNone(parsed()["advertise"])
        self.assertEqual(parsed("--advertise", "sip.example.com")["advertise"],
                         ("sip.example.com", 5060))
        self.assertEqual(parsed("--advertise", "192.0.2.7:5070")["advertise"],
                         ("192.0.2.7", 5070))
        self.assertEqual(parsed("--advertise", "[::1]:5070")["advertise"], ("::1", 5070))
        self.assertEqual(parsed("--advertise", "[2001:db8::7]")["advertise"],
                         ("2001:db8::7", 5060))

    def test_badAdvertise(self) -> None:
        """
        A C{--advertise} value that is not C{HOST[:PORT]} (a port out of range, an IPv6
        address without brackets, a URI, spaces) is a usage error naming the value.
        """
        for bad in ["host:0", "host:65536", "host:port", "::1", "[::1", "sip:host:5060",
                    "a b", "", "host:"]:
            e = self.assertRaises(UsageError, parsed, "--advertise", bad)
            self.assertIn("--advertise must be HOST[:PORT]", str(e))
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

    def test_maxSE(self) -> None:
        """
        C{--max-se} is a whole number of seconds, not below C{--session-expires}; it is
        absent (no cap) by default.
        """
        self.assertIsNone(parsed()["max-se"])
        self.assertEqual(parsed("--max-se", "7200")["max-se"], 7200)
        self.assertRaises(UsageError, parsed, "--max-se", "0")
        self.assertRaises(UsageError, parsed, "--max-se", "soon")
        e = self.assertRaises(UsageError, parsed, "--max-se", "1000")
        self.assertIn("--session-expires", str(e))
        self.assertEqual(parsed("--max-se", "100", "--min-se", "90",
                                "--session-expires", "90")["max-se"], 100)


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


class ObserverOrderTests(SynchronousTestCase):
    """
    The observers of the dialog table, in the order C{doc/architecture.md} gives.
    """

    def observers(self, *args: str) -> list[str]:
        """
        @return: the class names of the dialog table's observers once the service built
            from C{args} has started (on a reactor that binds nothing), in the order they
            are told.
        """
        sip = SIPService(parsed("--listen", "tcp:127.0.0.1:5060", "--http", "none",
                                "--no-gc-tuning", *args), MemoryReactorClock())
        sip.startService()
        self.addCleanup(sip.stopService)
        return [type(o).__name__ for o in sip.dialogs._observers]

    def test_proxy(self) -> None:
        """
        Proxy mode: the expiry counter, the dialog counter, C{--bye-on-expiry}, the store.
        """
        state = self.mktemp()
        self.assertEqual(self.observers("--bye-on-expiry", "--state", state),
                         ["ExpiryCounter", "DialogCounter", "ByeOnExpiry", "DialogStore"])
        self.assertEqual(self.observers("--state", "none"), ["ExpiryCounter", "DialogCounter"])

    def test_b2bua(self) -> None:
        """
        B2BUA mode: the expiry counter, the B2BUA, the dialog counter, the store (last, so
        that what the B2BUA does to a restored leg's entry reaches it).
        """
        state = self.mktemp()
        self.assertEqual(self.observers("--mode", "b2bua", "--state", state),
                         ["ExpiryCounter", "B2BUA", "DialogCounter", "DialogStore"])
        self.assertEqual(self.observers("--mode", "b2bua", "--state", "none"),
                         ["ExpiryCounter", "B2BUA", "DialogCounter"])


class SecurityDefaultsTests(SynchronousTestCase):
    """
    Start-up checks of the management API and relay options: every bad value is a
    L{UsageError} from C{postOptions}, never a traceback from L{makeService}; the defaults
    expose nothing beyond loopback.
    """

    def tokenFile(self, content: bytes) -> str:
        """
        @return: the path of a new file holding C{content}.
        """
        path: str = self.mktemp()
        with open(path, "wb") as f:
            f.write(content)
        return path

    def test_defaultHttpLoopback(self) -> None:
        """
        By default the management API listens on TCP port 8080 of 127.0.0.1 only, and no
        token is configured (so every C{DELETE} is refused).
        """
        options = parsed()
        self.assertEqual(options["http"], "tcp:8080:interface=127.0.0.1")
        self.assertIn("interface=127.0.0.1", options["http"])
        self.assertIsNone(options["http-token"])
        from twisted.internet.endpoints import TCP4ServerEndpoint, serverFromString

        endpoint = serverFromString(Clock(), options["http"])
        assert isinstance(endpoint, TCP4ServerEndpoint)
        self.assertEqual((endpoint._port, endpoint._interface), (8080, "127.0.0.1"))

    def test_httpNone(self) -> None:
        """
        C{--http none} turns the management API off: the tree has no C{http} service.
        """
        options = parsed("--http", "none")
        self.assertIsNone(options["http"])
        top = makeService(options, Clock())
        self.assertEqual([s.name for s in top], ["sip"])

    def test_badHttpEndpoint(self) -> None:
        """
        An endpoint description that does not parse (a bad port, an unknown type, an
        unknown argument, a missing certificate) is a usage error naming the option and the
        value.
        """
        for bad in ["tcp:notaport", "nosuch:8080", "tcp:8080:colour=blue", "8080:interface",
                    "ssl:8443:privateKey=/nonexistent/key.pem"]:
            e = self.assertRaises(UsageError, parsed, "--http", bad)
            self.assertIn("--http %r" % (bad,), str(e))

    def test_goodHttpEndpoints(self) -> None:
        """
        Valid descriptions pass and are kept as given for L{makeService}.
        """
        for good in ["tcp:0:interface=127.0.0.1", "tcp6:8080:interface=\\:\\:1", "tcp:8081"]:
            self.assertEqual(parsed("--http", good)["http"], good)

    def test_tokenFile(self) -> None:
        """
        The token file's content, without surrounding whitespace, is the bearer token.
        """
        options = parsed("--http-token-file", self.tokenFile(b"  s3cret-T0ken~\n"))
        self.assertEqual(options["http-token"], b"s3cret-T0ken~")

    def test_badTokenFile(self) -> None:
        """
        A token with inner whitespace, control characters or non-ASCII bytes is a usage
        error naming the file; so are an empty and a missing file.
        """
        for content in [b"a b", b"abc\x00def", b"t\xc3\xa9", b"a\tb"]:
            path = self.tokenFile(content)
            e = self.assertRaises(UsageError, parsed, "--http-token-file", path)
            self.assertIn(path, str(e))
            self.assertIn("visible ASCII", str(e))
        self.assertRaises(UsageError, parsed, "--http-token-file", self.tokenFile(b" \n"))
        self.assertRaises(UsageError, parsed, "--http-token-file", self.mktemp())

    def test_relayNetworkDefault(self) -> None:
        """
        By default no source network may relay, not even loopback.
        """
        options = parsed()
        self.assertEqual(options["relay-network"], [])
        sip = makeService(options, Clock()).getServiceNamed("sip")
        assert isinstance(sip, SIPService)
        self.assertEqual(sip.proxy.relay.networks, ())

    def test_relayNetwork(self) -> None:
        """
        C{--relay-network} is repeatable, takes IPv4 and IPv6 networks (a bare address is a
        one-address network, host bits are masked off) and reaches the proxy.
        """
        options = parsed("--relay-network", "10.1.0.0/16", "--relay-network", "2001:db8::/32",
                         "--relay-network", "192.0.2.7", "--relay-network", "172.16.5.4/12")
        expected = [ipaddress.ip_network(n) for n in
                    ["10.1.0.0/16", "2001:db8::/32", "192.0.2.7/32", "172.16.0.0/12"]]
        self.assertEqual(options["relay-network"], expected)
        sip = makeService(options, Clock()).getServiceNamed("sip")
        assert isinstance(sip, SIPService)
        self.assertEqual(list(sip.proxy.relay.networks), expected)

    def test_badRelayNetwork(self) -> None:
        """
        A C{--relay-network} that is not a CIDR network is a usage error naming the value.
        """
        for bad in ["10.0.0.0/33", "example.com", "10.0.0/8", "", "::1/129"]:
            e = self.assertRaises(UsageError, parsed, "--relay-network", bad)
            self.assertIn("--relay-network", str(e))


class PolicyOptionsTests(SynchronousTestCase):
    """
    C{--policy} and C{--policy-option}: a policy that cannot be built stops start-up with a
    usage error; nothing falls back to the default policy.
    """

    def test_defaultPolicy(self) -> None:
        """
        Without C{--policy} the default policy times every INVITE, with C{--min-se}.
        """
        policy = parsed("--min-se", "600", "--session-expires", "900")["session-timer-policy"]
        self.assertIs(type(policy), DefaultSessionTimerPolicy)
        self.assertEqual((policy.minSE(None), policy.sessionExpires(None)), (600, 900))

    def test_unknownPolicy(self) -> None:
        """
        An unknown C{--policy} is a usage error naming it and the policies found.
        """
        e = self.assertRaises(UsageError, parsed, "--policy", "nosuch")
        self.assertIn("unknown --policy 'nosuch'", str(e))
        self.assertIn("default, networks", str(e))

    def test_policyOption(self) -> None:
        """
        C{--policy-option KEY=VALUE} is repeatable; KEY and VALUE are stripped, and VALUE
        may be empty or hold C{=}.
        """
        options = parsed("--policy-option", " a = 1 ", "--policy-option", "b=x=y",
                         "--policy-option", "c=")
        self.assertEqual(options["policy-option"], {"a": "1", "b": "x=y", "c": ""})

    def test_badPolicyOption(self) -> None:
        """
        A C{--policy-option} without C{=}, or with an empty key, is a usage error naming the
        option and the value.
        """
        for bad in ["networks", "", "=10.0.0.0/8", " =x", "="]:
            e = self.assertRaises(UsageError, parsed, "--policy-option", bad)
            self.assertIn("--policy-option wants KEY=VALUE, not %r" % (bad,), str(e))

    def test_networksPolicy(self) -> None:
        """
        C{--policy networks} with C{--policy-option networks=CIDR,...} builds a
        L{NetworkPolicy} over those networks.
        """
        policy = parsed("--policy", "networks", "--policy-option",
                        "networks=10.0.0.0/8, 2001:db8::/32")["session-timer-policy"]
        assert isinstance(policy, NetworkPolicy)
        self.assertEqual(policy.networks, [ipaddress.ip_network("10.0.0.0/8"),
                                           ipaddress.ip_network("2001:db8::/32")])

    def test_networksPolicyWithoutNetworks(self) -> None:
        """
        C{--policy networks} with no networks (no C{networks} option, or an empty one) is a
        usage error that says how to give them, rather than a policy that times nothing.
        """
        for extra in [[], ["--policy-option", "networks="], ["--policy-option", "networks= "],
                      ["--policy-option", "other=10.0.0.0/8"]]:
            e = self.assertRaises(UsageError, parsed, "--policy", "networks", *extra)
            self.assertIn("--policy networks:", str(e))
            self.assertIn("--policy-option networks=CIDR", str(e))

    def test_networksPolicyBadNetwork(self) -> None:
        """
        A network that does not parse (or an empty item in the list) is a usage error
        naming it.
        """
        for bad in ["10.0.0.0/33", "example.com", "10.0.0.0/8,", ","]:
            e = self.assertRaises(UsageError, parsed, "--policy", "networks",
                                  "--policy-option", "networks=" + bad)
            self.assertIn("bad network", str(e))


class VersionTests(SynchronousTestCase):
    """
    C{twistd sst --version} prints sst's version.
    """

    def version(self) -> tuple[int, str]:
        """
        Parse C{--version} with the output captured.

        @return: the exit status and what was printed.
        """
        options = Options()
        options.stdout = io.StringIO()
        e = self.assertRaises(SystemExit, options.parseOptions, ["--version"])
        return e.code, options.stdout.getvalue()

    def test_version(self) -> None:
        """
        C{--version} prints sst's version from its package metadata, then Twisted's, and
        exits with status 0 before any other option is checked.
        """
        code, output = self.version()
        self.assertEqual(code, 0)
        self.assertEqual(output, "sst %s\nTwisted %s\n"
                         % (metadata.version("sst"), twistedVersion))

    def test_versionNotInstalled(self) -> None:
        """
        Run from a source tree that was never installed, sst has no package metadata: its
        version is then C{unknown}.
        """

        def missing(name: str) -> str:
            raise metadata.PackageNotFoundError(name)

        self.patch(metadata, "version", missing)
        self.assertEqual(sstVersion(), "unknown")
        self.assertEqual(self.version(), (0, "sst unknown\nTwisted %s\n"
                                          % (twistedVersion,)))

    def test_twistd(self) -> None:
        """
        C{twistd sst --version} reaches sst's options (not twistd's own C{--version}).
        """
        root = os.path.dirname(os.path.dirname(os.path.abspath(sst.__file__)))
        result = subprocess.run(
            [sys.executable, "-c", "from twisted.scripts.twistd import run; run()", "sst",
             "--version"], cwd=root, capture_output=True, text=True, timeout=120)
        self.assertEqual((result.returncode, result.stdout.splitlines()[:1]),
                         (0, ["sst %s" % (metadata.version("sst"),)]), result.stderr)


def _twistd(*args: str) -> "subprocess.CompletedProcess[str]":
    """
    Run C{twistd -n --pidfile= sst ARGS} from the source tree with the test's Python.
    """
    root = os.path.dirname(os.path.dirname(os.path.abspath(sst.__file__)))
    return subprocess.run(
        [sys.executable, "-c", "from twisted.scripts.twistd import run; run()", "-n",
         "--pidfile=", "sst"] + list(args), cwd=root, capture_output=True, text=True,
        timeout=120)


class _FakeUDPPort:
    """
    A bound UDP port of L{_BusyTCPReactor}.
    """

    def __init__(self, port: int, interface: str) -> None:
        self.address = IPv4Address("UDP", interface, port)
        self.stopped = False

    def getHost(self) -> IPv4Address:
        return self.address

    def stopListening(self) -> None:
        self.stopped = True


class _BusyTCPReactor(MemoryReactorClock):
    """
    A reactor whose UDP ports bind and whose TCP ports are all taken.
    """

    def __init__(self) -> None:
        super().__init__()
        self.udpPorts: list[_FakeUDPPort] = []

    def listenUDP(self, port: int, protocol: object, interface: str = "",
                  maxPacketSize: int = 8192) -> _FakeUDPPort:
        bound = _FakeUDPPort(port, interface)
        self.udpPorts.append(bound)
        return bound

    def listenTCP(self, port: int, factory: object, backlog: int = 50,
                  interface: str = "") -> None:
        raise CannotListenError(interface, port, OSError(98, "Address already in use"))


class StartupErrorTests(SynchronousTestCase):
    """
    What goes wrong at start-up is one clear line and exit status 1: no traceback, no
    pages of usage.
    """

    def test_shortUsageAfterBadOption(self) -> None:
        """
        After a bad option, the usage (which twistd prints before the error) is one line
        pointing to C{--help}; before, and for C{--help}, it is the whole usage.
        """
        options = Options()
        self.assertIn("--min-se", options.getUsage())
        self.assertRaises(UsageError, options.parseOptions, ["--min-se", "10"])
        self.assertEqual(options.getUsage(), "Run 'twistd sst --help' for the options.")

    def test_busyPort(self) -> None:
        """
        A C{--listen} address that is taken stops start-up with L{StartupError} (a
        C{SystemExit}, status 1) naming the address and the reason, and closes the ports
        already bound.
        """
        reactor = _BusyTCPReactor()
        service = SIPService(parsed("--listen", "udp:127.0.0.1:5099", "--listen",
                                    "tcp:127.0.0.1:5099", "--state", "none"), reactor)
        failure = self.assertRaises(StartupError, service.startService)
        self.assertEqual(failure.code,
                         "sst: cannot listen on tcp:127.0.0.1:5099: Address already in use")
        self.assertIsInstance(failure, SystemExit)
        self.assertEqual(service.ports, [])
        self.assertEqual([port.stopped for port in reactor.udpPorts], [True])

    def test_twistdBusyPort(self) -> None:
        """
        Through twistd, a busy port gives the one line on standard error and exit status
        1, with no traceback.
        """
        taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(taken.close)
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        result = _twistd("--listen", "udp:127.0.0.1:%d" % (port,), "--http", "none",
                         "--state", "none")
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        output = result.stdout + result.stderr
        self.assertEqual(output.count("sst: cannot listen on udp:127.0.0.1:%d: Address "
                                      "already in use" % (port,)), 1, output)
        self.assertNotIn("Traceback", output)

    def test_twistdBadOption(self) -> None:
        """
        Through twistd, a bad option prints a few lines ending with the error, exit
        status 1.
        """
        result = _twistd("--min-se", "10")
        self.assertEqual(result.returncode, 1)
        output = result.stdout + result.stderr
        self.assertLessEqual(len(output.splitlines()), 4, output)
        self.assertIn("Min-SE must be at least 90", output)


class WorkersStartupErrorTests(SynchronousTestCase):
    """
    With C{--workers}, the parent binds: what goes wrong is the same one line.
    """

    def test_twistdBusyPort(self) -> None:
        """
        A port taken by another process gives the one line and exit status 1, with no
        traceback.
        """
        taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(taken.close)
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        result = _twistd("--workers", "2", "--listen", "udp:127.0.0.1:%d" % (port,),
                         "--http", "none", "--state", "none")
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        output = result.stdout + result.stderr
        self.assertEqual(output.count("sst: cannot listen on udp:127.0.0.1:%d: Address "
                                      "already in use" % (port,)), 1, output)
        self.assertNotIn("Traceback", output)

    def test_sharedGroupRefused(self) -> None:
        """
        A port that another process's C{SO_REUSEPORT} group listens on is refused too, not
        joined.
        """
        from sst.address import Address
        from sst.workers import bindShared

        group = bindShared(Address("udp", "127.0.0.1", 0), 2)
        for sock in group:
            self.addCleanup(sock.close)
        port = group[0].getsockname()[1]
        self.assertEqual([s.getsockname()[1] for s in group], [port, port])
        error = self.assertRaises(OSError, bindShared, Address("udp", "127.0.0.1", port), 2)
        self.assertEqual(error.errno, errno.EADDRINUSE)
