# -*- test-case-name: sst.test.test_tap -*-
"""
C{twistd sst}: the command line and the service tree.
"""
from __future__ import annotations

import ipaddress
import os
import re
import socket
import sys
from importlib import metadata
from typing import IO, TYPE_CHECKING, Any, Optional, Sequence

from twisted.copyright import version as twistedVersion

from twisted.application import service, strports
from twisted.web.server import Site
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IListeningPort, IProtocolFactory, IResolver
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.logger import Logger
from twisted.names.client import createResolver
from twisted.python import usage

from sst.address import Address
from sst.auth.options import AUTH_FLAGS, AUTH_PARAMETERS, authSettingsFrom
from sst.b2bua.settings import B2BUASettings, REFRESH_METHODS, REFRESHERS
from sst.build import describeBuild
from sst.floodlimit import FLOOD_ACTIONS, FloodLimits
from sst.gctuning import CollectorTuning, GCPauseMonitor
from sst.handoff import WorkerLink
from sst.headers import SIPParseError, parseURI
from sst.interfaces import ISessionTimerPolicy
from sst.message import DEFAULT_MAX_SIZE
from sst.ownership import SINGLE, Ownership
from sst.policies import findPolicies
from sst.protocol import SIPDatagramProtocol, SIPStreamFactory, TransportLayer
from sst.proxy.core import Proxy
from sst.relay import IPNetwork
from sst.routing import LazyResolver
from sst.sessiontimer import PolicySettings
from sst.stack import buildStack
from sst.store import DialogStore, checkStatePath
from sst.timers import MIN_SE_FLOOR, TimerConfig
from sst.tls import TLS_FLAGS, TLS_PARAMETERS, TLSContexts, TLSError, loadTLS, tlsSettingsFrom
from sst.web import makeResource
from sst.workerspec import WorkerSpec

if TYPE_CHECKING:
    from sst.cluster.store import ClusterStore

__all__ = ["Options", "makeService", "SIPService", "StartupError", "parseListen", "sstVersion",
           "tlsContextsFor"]


def sstVersion() -> str:
    """
    @return: sst's version, from its package metadata; C{"unknown"} when sst runs from a
        source tree that was never installed.
    """
    try:
        return metadata.version("sst")
    except metadata.PackageNotFoundError:
        return "unknown"


_LISTEN_USAGE = "--listen wants udp:HOST:PORT, tcp:HOST:PORT or tls:HOST:PORT, not %r"


def parseListen(text: str) -> Address:
    """
    Parse C{udp:HOST:PORT}, C{tcp:HOST:PORT} or C{tls:HOST:PORT} (IPv6 hosts in brackets).

    @raise usage.UsageError: on anything else.
    """
    transport, _, rest = text.partition(":")
    transport = transport.lower()
    if transport not in ("udp", "tcp", "tls") or not rest:
        raise usage.UsageError(_LISTEN_USAGE % (text,))
    if rest.startswith("["):
        end = rest.find("]")
        host, portText = rest[1:end], rest[end + 2 :] if end > 0 else ""
    else:
        host, _, portText = rest.rpartition(":")
    if not host or not portText.isdigit() or int(portText) > 65535:
        raise usage.UsageError(_LISTEN_USAGE % (text,))
    return Address(transport, host, int(portText))


def _positive(name: str, value: str, minimum: float = 0.0, integer: bool = False) -> float:
    try:
        number = int(value) if integer else float(value)
    except ValueError:
        raise usage.UsageError("--%s wants a number, not %r" % (name, value))
    if number <= minimum:
        raise usage.UsageError("--%s must be greater than %s" % (name, minimum))
    return number


def _network(name: str, value: str) -> IPNetwork:
    """
    Parse the CIDR network of option C{--name}.

    @raise usage.UsageError: when C{value} is not one.
    """
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError as e:
        raise usage.UsageError("--%s wants a network such as 192.0.2.0/24: %s" % (name, e))


class Options(usage.Options):
    """
    Options of C{twistd sst}.
    """

    synopsis = "[options]"
    longdesc = "A stateful SIP proxy or B2BUA with RFC 4028 session timers."

    optParameters = [
        ["next-hop", None, None, "Send every initial request to this SIP URI (sip:HOST:PORT)."],
        ["dialog-timeout", None, "43200", "Lifetime in seconds of an untimed dialog."],
        ["t1", None, "0.5", "RFC 3261 T1 in seconds."],
        ["t2", None, "4", "RFC 3261 T2 in seconds."],
        ["t4", None, "5", "RFC 3261 T4 in seconds."],
        ["max-size", None, str(DEFAULT_MAX_SIZE), "Largest SIP message accepted, in bytes."],
        ["max-transactions", None, "100000", "Live transactions above which new INVITEs get 503."],
        ["max-dialogs", None, "200000", "Dialogs above which new INVITEs get 503."],
        ["min-se", None, "1800", "Smallest session interval accepted, seconds (the seed's min_se; >= 90)."],
        ["session-expires", None, "1800", "Session interval inserted into INVITEs without one (>= min-se)."],
        ["max-se", None, None, "Largest session interval accepted, seconds; a larger "
         "Session-Expires is lowered to it (b2bua: on the A-leg; default: no cap)."],
        ["policy", None, "default", "Session-timer policy plugin (see --help-policies)."],
        ["http", None, "tcp:8080:interface=127.0.0.1", "Management HTTP endpoint (strports), or 'none'."],
        ["http-token-file", None, None, "File holding the bearer token that state-changing HTTP calls need."],
        ["mode", None, "proxy", "proxy (stateful proxy) or b2bua (back-to-back UA, timers per leg)."],
        ["state", None, "sst-state.sqlite", "SQLite file that keeps dialogs (b2bua: calls) across "
         "restarts, or 'none'."],
        ["b-session-expires", None, None, "b2bua: Session-Expires of the B-leg INVITE (default: as the A-leg)."],
        ["b-min-se", None, None, "b2bua: Min-SE of the B-leg INVITE (default: as the A-leg; >= 90)."],
        ["refresher", None, "uac", "b2bua: A-leg refresher when the caller supports timers and names "
         "none: uac, uas, or local (sst refreshes)."],
        ["flood-limit", None, None, "Block a source address that sends more than this many "
         "requests within --flood-window (like Kamailio's pike; default: no limit)."],
        ["flood-window", None, "2", "Sliding window of --flood-limit, in seconds."],
        ["flood-ban", None, "60", "How long a source over --flood-limit stays blocked, in seconds."],
        ["flood-action", None, "drop", "What a blocked source's requests get: drop, or 503 "
         "(with Retry-After)."],
        ["store", None, None, "Keep dialogs in Redis, shared by every node of a cluster: "
         "redis://[:PASSWORD@]HOST[:PORT][/DB], or rediss:// for TLS (default: the --state "
         "file; see doc/cluster.md)."],
        ["advertise", None, None, "HOST[:PORT] this node writes in Record-Route (proxy) or "
         "Contact (b2bua) and takes for its own: the address a cluster shares (virtual IP, "
         "SRV name, dispatcher), so in-dialog requests may reach any node."],
        ["node-id", None, None, "This node's name in the cluster (--store redis://...); "
         "default: the host name and the SIP port."],
        ["workers", None, "1", "Worker processes sharing the load, each owning the calls "
         "whose Call-ID hashes to it; 'auto' for one per CPU (see doc/operations.md)."],
        ["refresh-method", None, "auto", "b2bua: refresh with update, invite, or auto (UPDATE when "
         "the peer allows it)."],
    ] + AUTH_PARAMETERS + TLS_PARAMETERS

    optFlags = [
        ["no-reject-too-small", None, "Forward a too-small Session-Expires instead of answering 422 "
         "(the seed's reject_to_small=0)."],
        ["no-stats", None, "Keep no statistics (the seed's enable_stats=0)."],
        ["bye-on-expiry", None, "proxy: send BYE to both parties when a session timer expires "
         "(RFC 4028 section 8.3 says a proxy must not; this makes sst act as an SBC). Refused "
         "in b2bua mode, which always does."],
        ["help-policies", None, "List the session-timer policy plugins and exit."],
        ["no-gc-tuning", None, "Leave CPython's garbage collector as it is: no freezing of "
         "long-lived objects, default thresholds (the gc_* pause metrics remain)."],
    ] + AUTH_FLAGS + TLS_FLAGS

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        #: Where C{--version} prints.
        self.stdout: IO[str] = sys.stdout
        self["listen"] = []
        self["domain"] = []
        self["policy-option"] = {}
        self["relay-network"] = []
        self["trusted-network"] = []
        self["auth-checker-option"] = {}

    #: Set when parsing failed: the usage twistd prints before the error is then one line.
    _parseFailed = False

    def parseOptions(self, options: Optional[Sequence[str]] = None) -> None:
        """
        Parse the command line; on a bad option, remember it, so that twistd prints the
        error with a pointer to C{--help} rather than the whole usage before it.
        """
        #: The options as given: what C{--workers} hands each worker to parse again.
        self.argv = list(sys.argv[1:] if options is None else options)
        try:
            super().parseOptions(options)  # type: ignore[no-untyped-call]
        except usage.UsageError:
            self._parseFailed = True
            raise

    def getUsage(self, width: Optional[int] = None) -> str:
        """
        @return: the full usage; after a bad option, one line that points to C{--help}.
        """
        if self._parseFailed:
            return "Run 'twistd sst --help' for the options."
        return str(super().getUsage(width))

    def opt_version(self) -> None:
        """
        Print sst's version (and Twisted's) and exit.
        """
        print("sst %s" % (sstVersion(),), file=self.stdout)
        print("Twisted %s" % (twistedVersion,), file=self.stdout)
        raise SystemExit(0)

    def opt_relay_network(self, value: str) -> None:
        """
        Forward requests for any domain from sources in this CIDR network (repeatable; default
        none: only our domains, Route headers and --next-hop are relayed).
        """
        self["relay-network"].append(_network("relay-network", value))

    def opt_trusted_network(self, value: str) -> None:
        """
        A source network (CIDR, repeatable) never blocked by --flood-limit nor challenged.
        """
        self["trusted-network"].append(_network("trusted-network", value))

    def opt_policy_option(self, value: str) -> None:
        """
        KEY=VALUE handed to the policy plugin (repeatable).
        """
        key, eq, val = value.partition("=")
        if not eq or not key.strip():
            raise usage.UsageError("--policy-option wants KEY=VALUE, not %r" % (value,))
        self["policy-option"][key.strip()] = val.strip()

    def opt_auth_checker_option(self, value: str) -> None:
        """
        KEY=VALUE handed to the --auth-checker plugin (repeatable).
        """
        key, eq, val = value.partition("=")
        if not eq or not key.strip():
            raise usage.UsageError("--auth-checker-option wants KEY=VALUE, not %r" % (value,))
        self["auth-checker-option"][key.strip()] = val.strip()

    def opt_listen(self, value: str) -> None:
        """
        Listen on udp:HOST:PORT, tcp:HOST:PORT or tls:HOST:PORT (repeatable; default udp
        and tcp on 127.0.0.1:5060; tls needs --tls-cert and --tls-key).
        """
        self["listen"].append(parseListen(value))

    def opt_domain(self, value: str) -> None:
        """
        A domain this proxy's registrar serves (repeatable).
        """
        self["domain"].append(value.lower())

    def postOptions(self) -> None:
        if not self["listen"]:
            self["listen"] = [Address("udp", "127.0.0.1", 5060), Address("tcp", "127.0.0.1", 5060)]
        if self["next-hop"] is not None:
            try:
                uri = parseURI(self["next-hop"])
            except SIPParseError as e:
                raise usage.UsageError("--next-hop: %s" % (e.reason,))
            if not uri.isSIP:
                raise usage.UsageError("--next-hop must be a sip: or sips: URI")
            self["next-hop"] = uri
        self["dialog-timeout"] = _positive("dialog-timeout", self["dialog-timeout"])
        self["max-size"] = int(_positive("max-size", self["max-size"], 200, integer=True))
        self["max-transactions"] = int(_positive("max-transactions", self["max-transactions"], integer=True))
        self["max-dialogs"] = int(_positive("max-dialogs", self["max-dialogs"], integer=True))
        self._sessionTimerOptions()
        self._b2buaOptions()
        self._stateOptions()
        self._clusterOptions()
        self._advertiseOption()
        self._floodOptions()
        self._workerOptions()
        self["auth"] = authSettingsFrom(self, self["listen"], self["trusted-network"])
        self["tls"] = tlsSettingsFrom(self, self["listen"])
        values = [_positive(name, self[name]) for name in ("t1", "t2", "t4")]
        try:
            self["timers"] = TimerConfig(*values)
        except ValueError as e:
            raise usage.UsageError(str(e))


    def _floodOptions(self) -> None:
        """
        Check the C{--flood-*} options into C{self["flood-limits"]} (L{None} without
        C{--flood-limit}).
        """
        window = _positive("flood-window", self["flood-window"])
        ban = _positive("flood-ban", self["flood-ban"])
        if self["flood-action"] not in FLOOD_ACTIONS:
            raise usage.UsageError("--flood-action must be drop or 503, not %r"
                                   % (self["flood-action"],))
        if self["flood-limit"] is None:
            self["flood-limits"] = None
            return
        limit = int(_positive("flood-limit", self["flood-limit"], integer=True))
        self["flood-limits"] = FloodLimits(limit, window, ban, self["flood-action"],
                                           tuple(self["trusted-network"]))

    def _workerOptions(self) -> None:
        """
        Check C{--workers} into a number (C{auto}: the CPUs this process may use).
        """
        text = self["workers"]
        if text == "auto":
            self["workers"] = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                                  else (os.cpu_count() or 1))
            return
        workers = int(_positive("workers", text, integer=True))
        if workers > 64:
            raise usage.UsageError("--workers must be at most 64, not %d" % (workers,))
        self["workers"] = workers

    def _clusterOptions(self) -> None:
        """
        Check C{--store} into C{self["redis"]} (a L{RedisURL}, or L{None} for the SQLite
        file), and C{--node-id}.  With Redis there is no C{--state} file.
        """
        text = self["store"]
        if text is None or text == "sqlite":
            self["redis"] = None
            if self["node-id"] is not None:
                raise usage.UsageError("--node-id names a node of a cluster: it needs "
                                       "--store redis://...")
            return
        from sst.cluster.config import defaultNodeId, parseRedisURL

        try:
            self["redis"] = parseRedisURL(text)
        except ValueError as e:
            raise usage.UsageError("--store: %s" % (e,))
        self["state"] = None
        node = self["node-id"]
        if node is None:
            node = defaultNodeId(self["listen"][0].port)
        elif not node or any(c.isspace() for c in node) or len(node) > 200:
            raise usage.UsageError("--node-id must be 1 to 200 characters without spaces, "
                                   "not %r" % (node,))
        self["node-id"] = node

    def _advertiseOption(self) -> None:
        """
        Check C{--advertise} into a (host, port) pair, or L{None}.
        """
        text = self["advertise"]
        if text is None:
            return
        match = _HOSTPORT.fullmatch(text)
        port = int(match.group(3)) if match is not None and match.group(3) else 5060
        if match is None or not 0 < port < 65536:
            raise usage.UsageError("--advertise must be HOST[:PORT] (an IPv6 address in "
                                   "brackets), not %r" % (text,))
        self["advertise"] = (match.group(1) or match.group(2), port)

    def _stateOptions(self) -> None:
        """
        Check that C{--state} can be written (without creating it), or map C{none} to L{None}.
        """
        if self["state"] == "none":
            self["state"] = None
            return
        try:
            checkStatePath(self["state"])
        except ValueError as e:
            raise usage.UsageError("--state: %s" % (e,))

    def _b2buaOptions(self) -> None:
        if self["mode"] not in ("proxy", "b2bua"):
            raise usage.UsageError("--mode must be proxy or b2bua, not %r" % (self["mode"],))
        if self["mode"] == "b2bua" and self["bye-on-expiry"]:
            raise usage.UsageError("--bye-on-expiry is for the proxy only: in --mode b2bua sst "
                                   "always sends BYE on both legs when a session timer expires")
        if self["refresher"] not in REFRESHERS:
            raise usage.UsageError("--refresher must be one of %s, not %r"
                                   % (", ".join(REFRESHERS), self["refresher"]))
        if self["refresh-method"] not in REFRESH_METHODS:
            raise usage.UsageError("--refresh-method must be one of %s, not %r"
                                   % (", ".join(REFRESH_METHODS), self["refresh-method"]))
        bMinSE: Optional[int] = None
        if self["b-min-se"] is not None:
            bMinSE = int(_positive("b-min-se", self["b-min-se"], integer=True))
            if bMinSE < MIN_SE_FLOOR:
                raise usage.UsageError("--b-min-se must be at least %d (RFC 4028 section 5), not %d"
                                       % (MIN_SE_FLOOR, bMinSE))
        bSessionExpires: Optional[int] = None
        if self["b-session-expires"] is not None:
            bSessionExpires = int(_positive("b-session-expires", self["b-session-expires"],
                                            integer=True))
            floor = bMinSE if bMinSE is not None else self["min-se"]
            if bSessionExpires < floor:
                raise usage.UsageError("--b-session-expires (%d) must not be below the B-leg "
                                       "Min-SE (%d)" % (bSessionExpires, floor))
        self["b-min-se"] = bMinSE
        self["b-session-expires"] = bSessionExpires
        self["b2bua-settings"] = B2BUASettings(
            refresher=self["refresher"], refreshMethod=self["refresh-method"],
            bSessionExpires=bSessionExpires, bMinSE=bMinSE, maxSE=self["max-se"])

    def _sessionTimerOptions(self) -> None:
        policies = findPolicies()
        if self["help-policies"]:
            for name, plugin in sorted(policies.items()):
                print("%-12s %s" % (name, plugin.description))
            raise SystemExit(0)
        minSE = int(_positive("min-se", self["min-se"], integer=True))
        if minSE < MIN_SE_FLOOR:
            raise usage.UsageError("Min-SE must be at least %d (RFC 4028 section 5), not %d"
                                   % (MIN_SE_FLOOR, minSE))
        sessionExpires = int(_positive("session-expires", self["session-expires"], integer=True))
        if sessionExpires < minSE:
            raise usage.UsageError("--session-expires (%d) must not be below --min-se (%d)"
                                   % (sessionExpires, minSE))
        self["min-se"] = minSE
        self["session-expires"] = sessionExpires
        if self["max-se"] is not None:
            maxSE = int(_positive("max-se", self["max-se"], integer=True))
            if maxSE < sessionExpires:
                raise usage.UsageError("--max-se (%d) must not be below --session-expires (%d)"
                                       % (maxSE, sessionExpires))
            self["max-se"] = maxSE
        settings = PolicySettings(minSE, sessionExpires, not self["no-reject-too-small"],
                                  dict(self["policy-option"]))
        chosen = policies.get(self["policy"])
        if chosen is None:
            raise usage.UsageError("unknown --policy %r; found: %s"
                                   % (self["policy"], ", ".join(sorted(policies)) or "none"))
        try:
            policy = chosen.buildPolicy(settings)
        except ValueError as e:
            raise usage.UsageError("--policy %s: %s" % (self["policy"], e))
        if not ISessionTimerPolicy.providedBy(policy):
            raise usage.UsageError("--policy %s did not build an ISessionTimerPolicy" % (self["policy"],))
        self["session-timer-policy"] = policy
        if self["http"] == "none":
            self["http"] = None
        if self["http-token-file"] is not None:
            try:
                with open(self["http-token-file"], "rb") as f:
                    token = f.read().strip()
            except OSError as e:
                raise usage.UsageError("--http-token-file: %s" % (e.strerror,))
            if not token:
                raise usage.UsageError("--http-token-file %s is empty" % (self["http-token-file"],))
            if _TOKEN.fullmatch(token) is None:
                raise usage.UsageError("--http-token-file %s: the token must be visible ASCII "
                                       "characters only, with no spaces" % (self["http-token-file"],))
            self["http-token"] = token
        else:
            self["http-token"] = None
        if self["http"] is not None:
            _checkEndpoint(self["http"])


#: HOST[:PORT] or [IPv6][:PORT].
_HOSTPORT = re.compile(r"(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9._-]+))(?::([0-9]{1,5}))?")

#: A bearer token as an HTTP header can carry it (RFC 6750 section 2.1).
_TOKEN = re.compile(rb"[\x21-\x7e]+")


def _checkEndpoint(description: str) -> None:
    """
    Parse a C{--http} endpoint description without binding anything.

    @raise usage.UsageError: when it is not a server endpoint description.
    """
    from twisted.internet import reactor
    from twisted.internet.endpoints import serverFromString

    try:
        serverFromString(reactor, description)  # type: ignore[no-untyped-call]
    except Exception as e:
        raise usage.UsageError("--http %r is not an endpoint description such as "
                               "tcp:8080:interface=127.0.0.1, or none: %s"
                               % (description, str(e) or type(e).__name__))


def tlsContextsFor(config: Any) -> Optional[TLSContexts]:
    """
    Read the C{--tls-*} files of C{config}.

    @return: the TLS contexts, or L{None} when no TLS option was given (outgoing TLS then
        trusts the platform's store).
    @raise StartupError: when a file cannot be read or used (one line, exit status 1).
    """
    settings = config.get("tls")
    if settings is None:
        return None
    if settings.certFile is None and settings.caFile is None and settings.verify:
        return None
    try:
        contexts = loadTLS(settings)
    except TLSError as e:
        raise StartupError("sst: %s" % (e,))
    if not settings.verify:
        SIPService._log.warn("--tls-no-verify: the certificates of TLS servers sst connects to "
                             "are NOT verified; anyone in the path can read and change calls")
    return contexts


class StartupError(SystemExit):
    """
    sst cannot start (a busy port): its message is one line, and twistd exits with status
    1 after printing it, with no traceback.
    """


class SIPService(service.Service):
    """
    The SIP stack: transport, transactions, dialogs, registrar and proxy, listening on the
    configured addresses once started.
    """

    _log = Logger()

    def __init__(self, config: Options, reactor: Any, resolver: Optional[IResolver] = None,
                 transport: Optional[TransportLayer] = None,
                 worker: Optional[WorkerSpec] = None) -> None:
        """
        @param config: the parsed options.
        @param reactor: the reactor (or a test's clock) the stack runs on.
        @param resolver: the DNS resolver; by default the system's, read on first use.
        @param transport: the transport layer (see L{buildStack}); by default one over
            C{reactor}.
        @param worker: with C{--workers}, what the parent handed this worker: it adopts the
            sockets the parent bound instead of listening, and links to the other workers.
        """
        self.config = config
        self.worker = worker
        self.ownership = SINGLE if worker is None else Ownership(worker.index, worker.workers)
        config["ownership"] = self.ownership
        #: The TLS certificate, key and trust roots, read at once (L{StartupError} when
        #: they cannot be).
        self.tls = tlsContextsFor(config)
        config["tls-contexts"] = self.tls
        self.reactor = reactor
        #: The resolver this service made, and stops when it stops.
        self._ownResolver: Optional[LazyResolver] = None
        if resolver is None:
            resolver = self._ownResolver = LazyResolver(createResolver)
        stack = buildStack(config, reactor, resolver, transport)
        self.stack = stack
        self.stats = stack.stats
        #: Every deadline of the stack, in one heap over the reactor.
        self.timers = stack.timers
        self.transport = stack.transport
        self.transactions = stack.transactions
        self.dialogs = stack.dialogs
        self.locations = stack.locations
        self.registrar = stack.registrar
        self.hook = stack.hook
        self._proxy = stack.proxy
        self.ua = stack.ua
        self.b2bua = stack.b2bua
        #: Times every garbage collection; installed while the service runs.
        self.gcMonitor = GCPauseMonitor()
        #: Keeps garbage collections short while the service runs (none with --no-gc-tuning).
        self.gcTuning: Optional[CollectorTuning] = None
        if not config.get("no-gc-tuning", False):
            self.gcTuning = CollectorTuning(self.timers)
        self.ports: list[IListeningPort] = []
        #: The C{--state} store, open while the service runs.
        self.store: Optional[DialogStore] = None
        #: The C{--store redis://} link to the cluster, while the service runs.
        self.cluster: Optional[ClusterStore] = None

    def startService(self) -> None:
        super().startService()  # type: ignore[no-untyped-call]
        worker = self.worker
        listen = ([(address, -1) for address in self.config["listen"]] if worker is None
                  else worker.listen)
        for address, fd in listen:
            port = self._listen(address) if fd < 0 else self._adopt(address, fd)
            bound = Address(address.transport, address.host, getattr(port.getHost(), "port"))
            self.ports.append(port)
            self.transport.listensAt(bound)
            self.addLocalAddress(bound.host, bound.port)
            self._log.info("Listening on {transport}:{hostport}", transport=bound.transport,
                           hostport=bound.hostport())
        self._log.info("Build: {build}", build=describeBuild())
        if worker is not None:
            self._link(worker)
        advertised = self.config.get("advertise")
        if advertised is not None:
            if self._proxy is not None:
                self._proxy.advertise(*advertised)
            if self.ua is not None:
                self.ua.advertise(*advertised)
        self._openStore()
        # Last, once everything start-up builds exists: the tuning freezes it all.  The monitor
        # comes after, so that the long start-up collection is not reported as a pause.
        if self.gcTuning is not None:
            self.gcTuning.start()
        self.gcMonitor.install()

    def _listen(self, address: Address) -> IListeningPort:
        """
        Listen on one C{--listen} address.

        @raise StartupError: when the address cannot be bound (in use, not ours, no
            permission): one line that says which and why, after the ports already bound
            are closed.
        """
        try:
            if address.transport == "udp":
                return self.reactor.listenUDP(  # type: ignore[no-any-return]
                    address.port, SIPDatagramProtocol(self.transport, address.family),
                    interface=address.host)
            return self.reactor.listenTCP(  # type: ignore[no-any-return]
                address.port, self._streamFactory(address), interface=address.host)
        except CannotListenError as e:
            for port in self.ports:
                port.stopListening()
            self.ports = []
            reason = getattr(e.socketError, "strerror", None) or str(e.socketError)
            message = "sst: cannot listen on %s:%s: %s" % (address.transport,
                                                          address.hostport(), reason)
            raise StartupError(message)

    def _adopt(self, address: Address, fd: int) -> IListeningPort:
        """
        Take over a socket the parent bound to C{address} for this worker.
        """
        family = socket.AF_INET6 if address.family == "6" else socket.AF_INET
        try:
            if address.transport == "udp":
                return self.reactor.adoptDatagramPort(  # type: ignore[no-any-return]
                    fd, family, SIPDatagramProtocol(self.transport, address.family))
            return self.reactor.adoptStreamPort(  # type: ignore[no-any-return]
                fd, family, self._streamFactory(address))
        finally:
            os.close(fd)  # The reactor holds its own duplicate.

    def _streamFactory(self, address: Address) -> IProtocolFactory:
        """
        @return: the factory of the connections accepted on a C{tcp} or C{tls} address:
            for TLS, the stream factory under a TLS layer with our certificate.
        """
        if address.transport != "tls":
            return SIPStreamFactory(self.transport)
        assert self.tls is not None and self.tls.serverOptions is not None
        return TLSMemoryBIOFactory(self.tls.serverOptions, False,
                                   SIPStreamFactory(self.transport, "tls"))

    def _link(self, worker: WorkerSpec) -> None:
        """
        Link this worker to the others: hand-offs in and out, shared registrations.
        """
        inbox = socket.socket(fileno=worker.inbox)
        outboxes = [socket.socket(fileno=fd) for fd in worker.outboxes]
        link = WorkerLink(self.ownership, inbox, outboxes, self.reactor, self.stats,
                          self.config["max-size"])
        self.transport.link = link
        link.start(self.transport, self.locations)

    def _openStore(self) -> None:
        """
        Open the C{--state} store, restore its dialogs and keep it up to date; or join the
        cluster of C{--store redis://}.
        """
        if self.config.get("redis") is not None:
            self._joinCluster()
            return
        path = self.config.get("state")
        if path is None:
            return
        self.store = DialogStore(path, self.reactor, prompt=self.worker is not None)
        self.dialogs.addObserver(self.store)
        restored, expired = self.store.load(self.dialogs, self.ownership.owns)
        self.store.start()
        self._log.info("Restored {restored} dialogs from {path} ({expired} expired while down)",
                       restored=restored, expired=expired, path=path)

    def _joinCluster(self) -> None:
        """
        Keep the dialogs in Redis with the other nodes (see L{sst.cluster.store}).
        """
        from sst.cluster.link import RedisLink
        from sst.cluster.store import ClusterStore

        url = self.config["redis"]
        node = self.config["node-id"]
        if self.worker is not None:
            node = "%s/%d" % (node, self.worker.index)
        link = RedisLink(url, self.reactor)
        self.cluster = ClusterStore(link, self.dialogs, self.reactor, node, self.stats,
                                    takeOver=self.b2bua is not None)
        self.cluster.start()
        self._log.info("Node {node} keeps its dialogs in {url}", node=node, url=str(url))

    def stopService(self) -> Any:
        super().stopService()  # type: ignore[no-untyped-call]
        leaving: list[Any] = []
        if self.cluster is not None:
            leaving.append(self.cluster.stop())
            self.cluster = None
        if self.transport.link is not None:
            self.transport.link.stop()
        self.gcMonitor.uninstall()
        if self.gcTuning is not None:
            self.gcTuning.stop()
        if self.store is not None:
            self.dialogs.removeObserver(self.store)
            self.store.close()
            self.store = None
        self.transactions.stop()
        self.locations.clear()
        if self._ownResolver is not None:
            self._ownResolver.stop()
        # Dialogs still up keep their state (in the store, when there is one), not timers.
        self.timers.stop()
        ports, self.ports = self.ports, []
        from twisted.internet.defer import gatherResults, maybeDeferred

        return gatherResults([maybeDeferred(p.stopListening) for p in ports] + leaving)

    @property
    def proxy(self) -> Proxy:
        """
        The proxy core.

        @raise AttributeError: in b2bua mode, which has none (see L{b2bua}).
        """
        if self._proxy is None:
            raise AttributeError("sst runs as a B2BUA: there is no proxy core")
        return self._proxy

    def addLocalAddress(self, host: str, port: int) -> None:
        """
        Declare an address this service listens on, to the proxy or the UA core.
        """
        if self._proxy is not None:
            self._proxy.addLocalAddress(host, port)
        if self.ua is not None:
            self.ua.addLocalAddress(host, port)

    def gauges(self) -> dict[str, object]:
        """
        @return: live values for the management API: transactions, registrations and the
            garbage collector's pauses (L{GCPauseMonitor.snapshot}, plus C{gc_freezes} unless
            C{--no-gc-tuning}).
        """
        gauges: dict[str, object] = {
            "server_transactions": len(self.transactions.servers),
            "client_transactions": len(self.transactions.clients),
            "registrations": len(self.locations),
        }
        if self.b2bua is not None:
            gauges["calls"] = len(self.b2bua.calls)
        limiter = self.transport.limiter
        if limiter is not None:
            gauges["flood_blocked_sources"] = limiter.blockedNow()
        if self.cluster is not None:
            gauges.update(self.cluster.gauges())
        gauges.update(self.gcMonitor.snapshot())
        if self.gcTuning is not None:
            gauges["gc_freezes"] = self.gcTuning.freezes
        return gauges

    def boundAddress(self, transport: str) -> Address:
        """
        @return: the address actually bound for C{transport} (useful with port 0).
        """
        return self.transport.localAddress(transport)


def makeService(config: Options, reactor: Optional[Any] = None) -> service.MultiService:
    """
    Build the service tree for C{twistd sst}.
    """
    if reactor is None:
        from twisted.internet import reactor as globalReactor

        reactor = globalReactor
    top = service.MultiService()  # type: ignore[no-untyped-call]
    if config["workers"] > 1:
        _workerServices(config, reactor, top)
        return top
    sip = SIPService(config, reactor)
    sip.setName("sip")  # type: ignore[no-untyped-call]
    sip.setServiceParent(top)  # type: ignore[no-untyped-call]
    if config["http"] is not None:
        resource = makeResource(sip.stats, sip.dialogs, reactor, token=config["http-token"],
                                extra=sip.gauges,
                                onDelete=sip.b2bua.onDelete if sip.b2bua is not None else None)
        http = strports.service(config["http"], Site(resource), reactor=reactor)  # type: ignore[no-untyped-call]
        http.setName("http")  # type: ignore[no-untyped-call]
        http.setServiceParent(top)  # type: ignore[no-untyped-call]
    return top


def _workerServices(config: Options, reactor: Any, top: service.MultiService) -> None:
    """
    The services of C{--workers N}: the pool of workers, and the management API that
    gathers theirs.
    """
    from sst.workers import WorkerPool

    pool = WorkerPool(config, reactor, config["workers"])
    pool.setName("workers")  # type: ignore[no-untyped-call]
    pool.setServiceParent(top)  # type: ignore[no-untyped-call]
    if config["http"] is not None:
        from sst.workerweb import makeAggregateResource

        resource = makeAggregateResource(pool.managementSockets, reactor,
                                         token=config["http-token"], extra=pool.gauges)
        http = strports.service(config["http"], Site(resource), reactor=reactor)  # type: ignore[no-untyped-call]
        http.setName("http")  # type: ignore[no-untyped-call]
        http.setServiceParent(top)  # type: ignore[no-untyped-call]
