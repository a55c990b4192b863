# -*- test-case-name: sst.test.test_workers -*-
"""
One worker process of C{twistd sst --workers N}: C{python -m sst.worker SPEC}.

The parent (L{sst.workers.WorkerPool}) starts it with the sockets it bound and a
L{WorkerSpec} in JSON.  The worker parses the same options as the parent, runs the whole SIP
stack on the sockets it inherits (L{SIPService} with C{worker=spec}), serves its management
API on a unix socket for the parent to gather, logs one line per event to its standard
output (the parent logs each line, prefixed with the worker), stops on C{SIGTERM}, and stops
by itself when the parent is gone.
"""
from __future__ import annotations

import os
import sys
from typing import Any, Optional, Sequence, TextIO

from twisted.internet.task import LoopingCall
from twisted.logger import ILogObserver, LogLevel, formatEvent, globalLogBeginner
from twisted.web.server import Site
from zope.interface import provider

from sst.tap import Options, SIPService, StartupError
from sst.web import makeResource
from sst.workerspec import WorkerSpec

__all__ = ["main", "lineObserver"]


def lineObserver(stream: TextIO, minimum: LogLevel = LogLevel.info) -> ILogObserver:
    """
    @return: an observer writing each event of at least C{minimum} level as one line,
        C{LEVEL namespace: message}, with a failure's traceback after it.
    """

    @provider(ILogObserver)
    def observe(event: dict[str, Any]) -> None:
        level = event.get("log_level", LogLevel.info)
        if level < minimum:
            return
        text = formatEvent(event)
        failure = event.get("log_failure")
        if failure is not None:
            text += "\n" + failure.getTraceback()
        for line in text.splitlines() or [""]:
            stream.write("%s %s: %s\n" % (level.name, event.get("log_namespace", "-"), line))
        stream.flush()

    return observe  # type: ignore[no-any-return]


def _watchParent(reactor: Any, parent: int) -> LoopingCall:
    """
    Stop the reactor once the parent process is gone (the worker is then re-parented).
    """

    def check() -> None:
        if os.getppid() != parent:
            reactor.stop()

    loop = LoopingCall(check)
    loop.clock = reactor
    loop.start(1.0, now=False)
    return loop


def main(argv: Optional[Sequence[str]] = None, reactor: Any = None) -> int:
    """
    Run one worker until it is told to stop.

    @param argv: C{[program, spec-as-JSON]}.
    @return: the exit status.
    """
    argv = list(sys.argv if argv is None else argv)
    if len(argv) != 2:
        sys.stderr.write("usage: python -m sst.worker SPEC (started by twistd sst --workers)\n")
        return 2
    spec = WorkerSpec.fromJSON(argv[1])
    if reactor is None:
        from twisted.internet import reactor as globalReactor

        reactor = globalReactor
    globalLogBeginner.beginLoggingTo([lineObserver(sys.stdout)], redirectStandardIO=False)
    config = Options()
    config.parseOptions(spec.argv)
    sip = SIPService(config, reactor, worker=spec)
    status = [0]

    def start() -> None:
        try:
            sip.startService()
            resource = makeResource(sip.stats, sip.dialogs, reactor,
                                    token=config["http-token"], extra=sip.gauges,
                                    onDelete=sip.b2bua.onDelete if sip.b2bua is not None else None)
            reactor.listenUNIX(spec.management, Site(resource),  # type: ignore[no-untyped-call]
                              mode=0o600)
        except StartupError as e:
            sys.stdout.write("error sst.worker: %s\n" % (e.code,))
            status[0] = 1
            reactor.stop()
        except Exception:
            import traceback

            sys.stdout.write("error sst.worker: start-up failed\n%s" % (traceback.format_exc(),))
            status[0] = 1
            reactor.stop()

    def stop() -> Any:
        if sip.running:
            return sip.stopService()
        return None

    reactor.callWhenRunning(start)
    reactor.addSystemEventTrigger("before", "shutdown", stop)
    _watchParent(reactor, os.getppid())
    profile = os.environ.get("SST_WORKER_PROFILE")
    if profile:
        # For benchmarks (bench/load.py --profile with --workers): cProfile statistics of
        # each worker, in PROFILE.<index>.
        import cProfile

        cProfile.runctx("reactor.run()", {}, {"reactor": reactor},
                        "%s.%d" % (profile, spec.index))
    else:
        reactor.run()
    return status[0]


if __name__ == "__main__":
    sys.exit(main())
