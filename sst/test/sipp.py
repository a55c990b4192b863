"""
Run SIPp scenarios from trial tests, without blocking the reactor.

Integration tests run the proxy in-process, in the trial reactor, so SIPp
must run as a child process driven by that same reactor: L{runSipp} and
L{startSipp} spawn C{sipp} with L{IReactorProcess.spawnProcess} and return
a L{Deferred} that fires with a L{SippResult} once the process has exited.
They never block and never errback because SIPp failed: a test asserts on
the result, typically with L{sippExitOK} and L{SippResult.successful}.

Every run writes its SIPp files (message trace, error log, statistics,
final screens) into the C{workdir} the test passes (usually
C{self.mktemp()}, created with C{os.makedirs}), under a name unique to
the run.

Scenarios live in C{sst/test/scenarios/}; L{scenarioPath} finds them by
name.  A scenario that needs generic keywords (C{[callee]},
C{[contact_port]}, ...) gets them through the C{keys} argument, which
becomes C{-key NAME VALUE} options.

Facts about SIPp 3.6.1 this module relies on:

  - It is run in the foreground with C{-nostdin} (not C{-bg}); its
    screens go to standard output, which is collected but not parsed.
  - Call counts come from the last line of the C{-trace_stat} CSV file
    (columns C{SuccessfulCall(C)} and C{FailedCall(C)}), which SIPp writes
    when it exits, timeouts included.  The C{-trace_screen} file is the
    fallback.
  - Exit status 0 means every call succeeded, 1 that at least one failed,
    255 a fatal error, including the global C{-timeout} when
    C{-timeout_error} is given (which it always is here).
  - C{-timeout} only has whole-second resolution: a fractional timeout is
    rounded up.
"""

from __future__ import annotations

import csv
import itertools
import math
import os
import re
import shutil
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.error import ProcessDone, ProcessExitedAlready, ProcessTerminated
from twisted.internet.interfaces import (
    IDelayedCall,
    IProcessTransport,
    IReactorProcess,
    IReactorTime,
)
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.task import deferLater
from twisted.python.failure import Failure

__all__ = [
    "KILL_GRACE",
    "SippResult",
    "freePort",
    "runSipp",
    "scenarioPath",
    "sippAvailable",
    "sippExitOK",
    "startSipp",
    "waitForListening",
]

KILL_GRACE = 10.0
"""
Seconds a SIPp process may outlive its own C{-timeout} before it is killed
with C{SIGKILL}.
"""

_SCENARIO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scenarios")

_TRANSPORT_MODES = {"udp": "u1", "tcp": "t1"}

_runCounter = itertools.count(1)


def sippAvailable() -> bool:
    """
    Tell whether the C{sipp} executable can be found on C{PATH}.

    @return: C{True} if C{sipp} is installed.
    """
    return shutil.which("sipp") is not None


def scenarioPath(name: str) -> str:
    """
    Find one of the bundled SIPp scenarios.

    @param name: The scenario name, without directory or C{.xml} suffix,
        for instance C{"uac"}.

    @return: The absolute path of C{sst/test/scenarios/<name>.xml}.

    @raise FileNotFoundError: If there is no such scenario.
    """
    path = os.path.join(_SCENARIO_DIR, name + ".xml")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no SIPp scenario named {name!r} ({path})")
    return path


def freePort(transport: str = "udp") -> int:
    """
    Find a port on 127.0.0.1 that is free at the time of the call.

    The port is found by binding a socket of the right type to port 0 and
    closing it again, so another process may still take it before it is
    used; on loopback in a test run that is unlikely enough.

    @param transport: C{"udp"} or C{"tcp"}.

    @return: The port number.
    """
    kind = _socketType(transport)
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@dataclass
class SippResult:
    """
    What one SIPp run did.

    @ivar exitCode: The exit status of C{sipp}: 0 when every call
        succeeded, 1 when some failed, 255 on a fatal error or on the
        global timeout.  If the process was killed by a signal, the
        negated signal number (C{-9} for C{SIGKILL}).
    @ivar stdout: Everything SIPp wrote on its standard output (its
        screens, with terminal escape sequences).
    @ivar stderr: Everything SIPp wrote on its standard error.
    @ivar successful: Number of successful calls (cumulative), from the
        final statistics; 0 if SIPp died before writing them.
    @ivar failed: Number of failed calls (cumulative), likewise.
    @ivar messages: The C{-trace_msg} log: every SIP message sent and
        received, each preceded by a separator line saying which.
    @ivar errors: The C{-trace_err} log: unexpected messages and other
        errors, empty if there were none.
    """

    exitCode: int
    stdout: str
    stderr: str
    successful: int
    failed: int
    messages: str
    errors: str = ""

    def summary(self) -> str:
        """
        Describe the run briefly, for assertion messages.

        @return: The exit code, the call counts, and the end of the error
            log and standard error.
        """
        return (
            f"sipp exit code {self.exitCode}, {self.successful} successful, "
            f"{self.failed} failed call(s)\n"
            f"--- errors (tail) ---\n{self.errors[-2000:]}\n"
            f"--- stderr (tail) ---\n{self.stderr[-2000:]}"
        )


def sippExitOK(result: SippResult) -> bool:
    """
    Tell whether SIPp considered the run a success.

    @param result: The result of a run.

    @return: C{True} if SIPp exited with status 0, which it only does when
        every call it handled was successful.
    """
    return result.exitCode == 0


def runSipp(
    reactor: IReactorProcess,
    scenario: str,
    target: str | None,
    *,
    localPort: int,
    transport: str = "udp",
    calls: int = 1,
    rate: float = 10,
    extraArgs: Sequence[str] = (),
    keys: Mapping[str, str] = {},
    timeout: float = 60,
    workdir: str,
    service: str | None = None,
) -> Deferred[SippResult]:
    """
    Run a SIPp scenario to completion.

    @param reactor: The reactor to spawn C{sipp} with; it must also
        provide L{IReactorTime}.
    @param scenario: A bundled scenario name (see L{scenarioPath}), or the
        path of a scenario file (anything ending in C{.xml}).
    @param target: C{"host:port"} to send to (the proxy), or C{None} for a
        scenario that starts by receiving (a UAS).
    @param localPort: The port SIPp listens on, on 127.0.0.1 (see
        L{freePort}).
    @param transport: C{"udp"} (C{-t u1}) or C{"tcp"} (C{-t t1}).
    @param calls: Number of calls after which SIPp exits (C{-m}).
    @param rate: Calls started per second (C{-r}).
    @param extraArgs: More command-line arguments, appended last.
    @param keys: Values for the scenario's generic keywords, passed as
        C{-key NAME VALUE}.
    @param timeout: Global timeout in seconds (C{-timeout}, rounded up to
        whole seconds, with C{-timeout_error}); the process is killed if
        it outlives it by L{KILL_GRACE} seconds.
    @param workdir: An existing directory for SIPp's files.
    @param service: The username SIPp puts in C{[service]} (C{-s}), if
        not the default C{"service"}.

    @return: A L{Deferred} that fires with the L{SippResult} once the
        process has exited, whatever its exit status.  Cancelling it kills
        the process.
    """
    _, done = startSipp(
        reactor,
        scenario,
        target,
        localPort=localPort,
        transport=transport,
        calls=calls,
        rate=rate,
        extraArgs=extraArgs,
        keys=keys,
        timeout=timeout,
        workdir=workdir,
        service=service,
    )
    return done


def startSipp(
    reactor: IReactorProcess,
    scenario: str,
    target: str | None,
    *,
    localPort: int,
    transport: str = "udp",
    calls: int = 1,
    rate: float = 10,
    extraArgs: Sequence[str] = (),
    keys: Mapping[str, str] = {},
    timeout: float = 60,
    workdir: str,
    service: str | None = None,
) -> tuple[IProcessTransport, Deferred[SippResult]]:
    """
    Start a SIPp scenario in the background, typically a UAS, to be
    awaited later.

    The arguments are those of L{runSipp}.  SIPp needs a moment to open
    its socket: wait for L{waitForListening} before sending to it (over
    TCP a caller started too early fails to connect).  Always await the
    returned L{Deferred} before the test ends, so that no process is left
    behind.

    @return: The process transport (to send it a signal, say) and a
        L{Deferred} that fires with the L{SippResult} once the process has
        exited.
    """
    executable = shutil.which("sipp")
    if executable is None:
        raise FileNotFoundError("sipp is not installed")
    clock = IReactorTime(reactor)
    path = scenario if scenario.endswith(".xml") else scenarioPath(scenario)
    stem = os.path.splitext(os.path.basename(path))[0]
    prefix = os.path.join(
        os.path.abspath(workdir), f"{stem}-{localPort}-{next(_runCounter)}"
    )
    files = _SippFiles(
        messages=prefix + "-messages.log",
        errors=prefix + "-errors.log",
        statistics=prefix + "-stats.csv",
        screens=prefix + "-screens.log",
    )
    args = _sippArguments(
        executable,
        path,
        target,
        localPort=localPort,
        transport=transport,
        calls=calls,
        rate=rate,
        extraArgs=extraArgs,
        keys=keys,
        timeout=timeout,
        service=service,
        files=files,
    )
    with open(prefix + "-command.txt", "w", encoding="utf-8") as commandFile:
        commandFile.write(" ".join(args) + "\n")
    protocol = _SippProcessProtocol(files)
    process = reactor.spawnProcess(
        protocol,
        executable,
        args,
        env=dict(os.environ),
        path=os.path.abspath(workdir),
    )
    protocol.watch(process, clock, timeout + KILL_GRACE)
    return process, protocol.done


def waitForListening(
    reactor: IReactorTime,
    port: int,
    transport: str = "udp",
    timeout: float = 5.0,
) -> Deferred[None]:
    """
    Wait until something listens on a local port, without touching it.

    Looks the port up in C{/proc/net/udp} or C{/proc/net/tcp} (for TCP, in
    the LISTEN state) every few milliseconds, so the SIPp process being
    waited for sees no traffic.  Where there is no C{/proc/net}, it just
    waits half a second.

    @param reactor: The reactor whose clock paces the polling.
    @param port: The port to wait for.
    @param transport: C{"udp"} or C{"tcp"}.
    @param timeout: Seconds to wait before giving up.

    @return: A L{Deferred} that fires with C{None} once the port is
        bound, or fails with L{TimeoutError}.
    """
    _socketType(transport)
    table = f"/proc/net/{transport.lower()}"

    async def poll() -> None:
        if not os.path.exists(table):
            await deferLater(reactor, 0.5, lambda: None)
            return
        deadline = reactor.seconds() + timeout
        while not _portBound(table, port, transport.lower() == "tcp"):
            if reactor.seconds() > deadline:
                raise TimeoutError(
                    f"nothing listening on {transport} port {port} "
                    f"after {timeout} s"
                )
            await deferLater(reactor, 0.01, lambda: None)

    return Deferred.fromCoroutine(poll())


@dataclass
class _SippFiles:
    """
    Where one SIPp run writes its logs.

    @ivar messages: The C{-message_file}.
    @ivar errors: The C{-error_file}.
    @ivar statistics: The C{-stf} statistics file.
    @ivar screens: The C{-screen_file}.
    """

    messages: str
    errors: str
    statistics: str
    screens: str


def _socketType(transport: str) -> int:
    """
    Map a transport name to a socket type.

    @param transport: C{"udp"} or C{"tcp"}, in any case.

    @return: C{SOCK_DGRAM} or C{SOCK_STREAM}.

    @raise ValueError: For any other transport.
    """
    kinds = {"udp": socket.SOCK_DGRAM, "tcp": socket.SOCK_STREAM}
    try:
        return kinds[transport.lower()]
    except KeyError:
        raise ValueError(f"unsupported transport {transport!r}") from None


def _sippArguments(
    executable: str,
    path: str,
    target: str | None,
    *,
    localPort: int,
    transport: str,
    calls: int,
    rate: float,
    extraArgs: Sequence[str],
    keys: Mapping[str, str],
    timeout: float,
    service: str | None,
    files: _SippFiles,
) -> list[str]:
    """
    Build the C{sipp} command line.

    @param executable: The C{sipp} executable, as C{argv[0]}.
    @param path: The scenario file.
    @param target: C{"host:port"}, or C{None} for none.
    @param localPort: See L{runSipp}.
    @param transport: See L{runSipp}.
    @param calls: See L{runSipp}.
    @param rate: See L{runSipp}.
    @param extraArgs: See L{runSipp}.
    @param keys: See L{runSipp}.
    @param timeout: See L{runSipp}.
    @param service: See L{runSipp}.
    @param files: Where the logs go.

    @return: The argument list, starting with C{executable}.
    """
    _socketType(transport)
    args = [executable, "-sf", path]
    if target is not None:
        args.append(target)
    args += [
        "-i", "127.0.0.1",
        "-p", str(localPort),
        "-m", str(calls),
        "-r", f"{rate:g}",
        "-t", _TRANSPORT_MODES[transport.lower()],
        "-nostdin",
        "-timeout", f"{max(1, math.ceil(timeout))}s",
        "-timeout_error",
        "-trace_msg", "-message_file", files.messages,
        "-trace_err", "-error_file", files.errors,
        "-trace_stat", "-stf", files.statistics,
        "-trace_screen", "-screen_file", files.screens,
    ]  # fmt: skip
    if service is not None:
        args += ["-s", service]
    for name, value in keys.items():
        args += ["-key", name, value]
    args += list(extraArgs)
    return args


def _portBound(table: str, port: int, listening: bool) -> bool:
    """
    Look a local port up in a C{/proc/net} socket table.

    @param table: C{/proc/net/udp} or C{/proc/net/tcp}.
    @param port: The local port.
    @param listening: Whether the socket must be in the LISTEN state.

    @return: C{True} if a matching socket is there.
    """
    wanted = f":{port:04X}"
    with open(table, encoding="ascii") as lines:
        next(lines, None)
        for line in lines:
            fields = line.split()
            if len(fields) < 4 or not fields[1].endswith(wanted):
                continue
            if not listening or fields[3] == "0A":
                return True
    return False


def _readText(path: str) -> str:
    """
    Read a SIPp log file if it exists.

    @param path: The file.

    @return: Its content, or C{""} if SIPp did not write it.
    """
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def _callCounts(files: _SippFiles) -> tuple[int, int]:
    """
    Find the final successful and failed call counts of a run.

    @param files: The run's files.

    @return: C{(successful, failed)}, from the last line of the statistics
        file, else from the last statistics screen, else C{(0, 0)}.
    """
    try:
        with open(files.statistics, newline="", encoding="utf-8", errors="replace") as f:
            rows = list(csv.DictReader(f, delimiter=";"))
        if rows:
            last = rows[-1]
            return int(last["SuccessfulCall(C)"]), int(last["FailedCall(C)"])
    except (FileNotFoundError, KeyError, ValueError, TypeError):
        pass
    screens = _readText(files.screens)
    successful = re.findall(r"Successful call\s*\|\s*\d+\s*\|\s*(\d+)", screens)
    failed = re.findall(r"Failed call\s*\|\s*\d+\s*\|\s*(\d+)", screens)
    if successful and failed:
        return int(successful[-1]), int(failed[-1])
    return 0, 0


class _SippProcessProtocol(ProcessProtocol):
    """
    Collect the output of one C{sipp} process and report how it ended.

    @ivar done: Fires with the L{SippResult} when the process has exited.
    """

    def __init__(self, files: _SippFiles) -> None:
        """
        @param files: Where the run writes its logs, read once it exits.
        """
        self._files = files
        self._stdout: list[bytes] = []
        self._stderr: list[bytes] = []
        self._process: IProcessTransport | None = None
        self._killer: IDelayedCall | None = None
        self.done: Deferred[SippResult] = Deferred(self._cancel)

    def watch(self, process: IProcessTransport, clock: IReactorTime, limit: float) -> None:
        """
        Start enforcing the time limit.

        @param process: The spawned process.
        @param clock: Schedules the kill.
        @param limit: Seconds after which the process is killed.
        """
        self._process = process
        if self.done.called:
            return
        self._killer = clock.callLater(limit, self._kill)

    def connectionMade(self) -> None:
        """
        Close SIPp's standard input: it runs with C{-nostdin}.
        """
        if self.transport is not None:
            self.transport.closeStdin()

    def outReceived(self, data: bytes) -> None:
        """
        Keep SIPp's standard output.

        @param data: Some output.
        """
        self._stdout.append(data)

    def errReceived(self, data: bytes) -> None:
        """
        Keep SIPp's standard error.

        @param data: Some output.
        """
        self._stderr.append(data)

    def processEnded(self, reason: Failure) -> None:
        """
        Build the result and fire L{done}.

        @param reason: L{ProcessDone} or L{ProcessTerminated}.
        """
        if self._killer is not None and self._killer.active():
            self._killer.cancel()
        self._killer = None
        exitCode = -1
        value = reason.value
        if isinstance(value, ProcessDone):
            exitCode = 0
        elif isinstance(value, ProcessTerminated):
            if value.exitCode is not None:
                exitCode = value.exitCode
            elif value.signal is not None:
                exitCode = -value.signal
        successful, failed = _callCounts(self._files)
        result = SippResult(
            exitCode=exitCode,
            stdout=b"".join(self._stdout).decode("utf-8", "replace"),
            stderr=b"".join(self._stderr).decode("utf-8", "replace"),
            successful=successful,
            failed=failed,
            messages=_readText(self._files.messages),
            errors=_readText(self._files.errors),
        )
        if not self.done.called:
            self.done.callback(result)

    def _kill(self) -> None:
        """
        Kill the process with C{SIGKILL}, if it is still running.
        """
        self._killer = None
        if self._process is None:
            return
        try:
            self._process.signalProcess("KILL")
        except ProcessExitedAlready:
            pass

    def _cancel(self, deferred: Deferred[SippResult]) -> None:
        """
        Kill the process when L{done} is cancelled.

        @param deferred: L{done}.
        """
        if self._killer is not None and self._killer.active():
            self._killer.cancel()
        self._kill()


def killedAtCleanup(test: Any, process: IProcessTransport,
                    done: Deferred[SippResult]) -> Deferred[SippResult]:
    """
    Have C{test} kill a SIPp started with L{startSipp} at its end, if it is still running,
    and wait for it.

    @param test: a trial test case (anything with C{addCleanup}).
    @return: C{done}.
    """

    def kill() -> Deferred[SippResult]:
        if not done.called:
            try:
                process.signalProcess("KILL")
            except Exception:
                pass  # exited meanwhile
        return done

    test.addCleanup(kill)
    return done
