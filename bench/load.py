#!/usr/bin/env python3
"""
The production-shaped load: timed calls held in the background while short timed calls
arrive in the foreground, through sst (proxy or B2BUA mode) and, in the same run, through
Kamailio with dialog + sst (../shared/bench/kamailio.cfg), for the ratio.

Every call is timed: the caller sends "Supported: timer" and "Session-Expires: 1800", and
the callee answers "Session-Expires: 1800;refresher=uac" with "Require: timer"
(scenarios/timed_uac.xml and timed_uas.xml). The background calls (--held, at --held-rate)
stay up while the foreground calls (--calls at --rate: INVITE/180/200/ACK/BYE) run, then
end with BYE, so a dialog that sst lost fails its call.

    python bench/load.py --held 10000 --calls 3000 --rate 300
    python bench/load.py --held 50000 --held-rate 1000 --calls 3000 --rate 300
    python bench/load.py --calls 8000 --rate 1000
    python bench/load.py --mode b2bua --held 10000 --calls 3000 --rate 300
    python bench/load.py --no-kamailio --profile /tmp/sst.prof --calls 3000 --rate 300
    python bench/load.py --held 10000 --calls 3000 --rate 300 -- --workers 2
    python bench/load.py --redis --repeat 3 --fg-pause 200 --held 10000 --calls 3000 --rate 300

It prints, for each system: calls ok/failed in both groups, retransmissions (both callers
and the callee), CPU per foreground call (the window of the foreground only), RSS per held
dialog (sampled once the held calls' transactions have ended) and, for sst, the longest
garbage-collector pause it reports. Then the ratio of sst's CPU per call to Kamailio's.

With --redis, sst runs twice in the same run: as usual, then with --store redis:// on a
redis-server of the bench's own; the difference is the CPU per call the cluster store adds
(redis-server's own CPU per call is printed beside it).

Run by hand only; never from the test suite.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (  # noqa: E402
    BENCH_SCENARIOS,
    KAMAILIO_CFG,
    REPO,
    children,
    cpuTimes,
    freePort,
    getJSON,
    rssBytes,
    shutdown,
    sippStats,
    stop,
    treeCpuTimes,
    twistd,
    waitForPort,
)


@dataclass
class Result:
    """
    What one system did under the load.
    """

    system: str
    heldOk: int = 0
    heldFailed: int = 0
    ok: int = 0
    failed: int = 0
    retransmissions: dict[str, int] = field(default_factory=dict)
    cpuUser: float = 0.0
    cpuSystem: float = 0.0
    #: With --workers: the CPU seconds of each process (the parent first) in the window.
    cpuByProcess: list[float] = field(default_factory=list)
    #: The CPU seconds of SIPp (the foreground caller and the callee) in the window.
    sippCpu: float = 0.0
    calls: int = 0
    wall: float = 0.0
    rssPerHeld: Optional[float] = None
    rssMarginal: Optional[float] = None
    gcPauseMax: Optional[float] = None
    extra: dict[str, object] = field(default_factory=dict)
    redisCpu: Optional[float] = None
    #: What sst's log said of its build (compiled modules, or pure Python).
    build: str = ""

    @property
    def msPerCall(self) -> float:
        return 1000 * (self.cpuUser + self.cpuSystem) / max(self.calls, 1)


#: With --pin: the CPU SIPp runs on, and the CPU the system under test runs on.
PINS: dict[str, int] = {}


def pinned(role: str) -> Optional[Callable[[], None]]:
    """
    @return: what a child process of C{role} (C{"sipp"} or C{"system"}) runs before it
        starts, to stay on its CPU with --pin; L{None} without it.
    """
    cpu = PINS.get(role)
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def sipp(scenario: str, port: int, target: str, workdir: str, name: str,
         extra: list[str]) -> "subprocess.Popen[bytes]":
    """
    Start a SIPp on 127.0.0.1:C{port} playing C{scenario}, its statistics in
    C{workdir}/C{name}.csv.
    """
    command = ["sipp", "-sf", os.path.join(BENCH_SCENARIOS, scenario), "-i", "127.0.0.1",
               "-p", str(port), "-t", "u1", "-nostdin", "-trace_stat",
               "-stf", os.path.join(workdir, name + ".csv"), "-fd", "1",
               "-trace_err", "-error_file", os.path.join(workdir, name + "_err.log")] + extra
    if target:
        command.append(target)
    return subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, preexec_fn=pinned("sipp"))


def startSystem(system: str, port: int, uasPort: int, httpPort: int, workdir: str,
                args: argparse.Namespace) -> tuple["subprocess.Popen[bytes]", bool]:
    """
    Start the system under test.

    @return: the process, and whether its CPU is that of a process tree (Kamailio's
        workers) rather than of one process.
    """
    if system == "kamailio":
        command = ["kamailio", "-DD", "-E", "-m", "1024", "-M", "32", "-n", "1",
                   "-f", KAMAILIO_CFG, "-A", "LISTEN=udp:127.0.0.1:%d" % (port,),
                   "-A", 'UAS_URI="sip:127.0.0.1:%d"' % (uasPort,),
                   "-A", 'CTL_SOCK="unix:%s/ctl.sock"' % (workdir,)]
        log = open(os.path.join(workdir, "kamailio.log"), "wb")
        return subprocess.Popen(command, cwd=workdir, stdout=log, stderr=log,
                                preexec_fn=pinned("system")), True
    mode = system.split("-", 1)[1].split("+")[0]
    store: list[str] = []
    if system.endswith("+redis"):
        store = ["--store", args.redisURL, "--node-id", "bench"]
    profiling: list[str] = []
    if args.profile:
        profiling = ["--profile=%s" % (args.profile,), "--profiler=cprofile", "--savestats"]
    command = [twistd(), "-n", "--pidfile=", "--logfile=%s/sst.log" % (workdir,)] + profiling + [
        "sst", "--mode", mode, "--state", "none",
        "--listen", "udp:127.0.0.1:%d" % (port,),
        "--next-hop", "sip:127.0.0.1:%d" % (uasPort,),
        "--http", "tcp:%d:interface=127.0.0.1" % (httpPort,)] + store + args.extra
    # The checkout under test, whatever is installed; with --installed, the sst installed
    # beside this Python (a non-editable install is compiled: setup.py).
    env = dict(os.environ) if args.installed else dict(
        os.environ, PYTHONPATH=os.pathsep.join([REPO] + [
            p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    # With --workers, the CPU is that of the parent and its workers.
    return (subprocess.Popen(command, cwd=workdir, env=env, preexec_fn=pinned("system")),
            "--workers" in args.extra)


def processCpu(pid: int) -> dict[int, float]:
    """
    @return: the CPU seconds of C{pid} and of each of its children, by process id.
    """
    seconds: dict[int, float] = {}
    for p in [pid] + children(pid):
        try:
            seconds[p] = sum(cpuTimes(p))
        except OSError:
            continue
    return seconds


def run(system: str, args: argparse.Namespace) -> Result:
    """
    Put the load through one system and measure it.
    """
    workdir = tempfile.mkdtemp(prefix="sst-load-%s-" % (system,))
    port, uasPort, heldPort, fgPort, httpPort = (freePort() for _ in range(5))
    result = Result(system)
    uas = sipp("timed_uas.xml", uasPort, "", workdir, "uas", [])
    proc, tree = startSystem(system, port, uasPort, httpPort, workdir, args)
    processes = [proc, uas]
    target = "127.0.0.1:%d" % (port,)

    def cpu() -> tuple[float, float]:
        return treeCpuTimes(proc.pid) if tree else cpuTimes(proc.pid)

    def rss() -> int:
        if not tree or system == "kamailio":
            return rssBytes(proc.pid)
        return sum(rssBytes(p) for p in [proc.pid] + children(proc.pid))

    try:
        waitForPort(port)
        time.sleep(1.0)
        rss0 = rss()
        ramp = args.held / args.held_rate if args.held else 0.0
        settle = 64 * 0.5 + 3  # the held calls' transactions end (Timer L/M = 64*T1)
        foreground = args.calls / args.rate
        hold = ramp + settle + foreground + 20
        held = None
        if args.held:
            held = sipp("timed_uac.xml", heldPort, target, workdir, "held",
                        ["-m", str(args.held), "-r", str(args.held_rate), "-s", "bob",
                         "-key", "callee", "127.0.0.1:%d" % (uasPort,),
                         "-d", str(int(hold * 1000)),
                         "-timeout", "%ds" % (int(hold + 2 * ramp + 120),), "-timeout_error"])
            processes.append(held)
            if ramp >= 80:
                # Two samples while the held calls build up, once the transactions that
                # linger 32 s after each call have reached their steady number: the slope is
                # what a held dialog costs, without that working set.
                time.sleep(40)
                rssA = rss()
                time.sleep(ramp - 40)
                result.rssMarginal = (rss() - rssA) / ((ramp - 40) * args.held_rate)
                time.sleep(settle)
            else:
                time.sleep(ramp + settle)
            result.rssPerHeld = (rss() - rss0) / args.held
        user0, sys0 = cpu()
        tree0 = processCpu(proc.pid) if tree else {}
        redis0 = cpuTimes(args.redisPid) if system.endswith("+redis") else (0.0, 0.0)
        # SIPp's own CPU: the callee's as it runs, the foreground caller's when it ends.
        uas0 = sum(cpuTimes(uas.pid))
        started = time.time()
        fg = sipp("timed_uac.xml", fgPort, target, workdir, "fg",
                  ["-m", str(args.calls), "-r", str(args.rate), "-s", "bob",
                   "-key", "callee", "127.0.0.1:%d" % (uasPort,), "-d", str(args.fg_pause),
                   "-timeout", "%ds" % (int(foreground + 120),), "-timeout_error"])
        processes.append(fg)
        perf = None
        if args.perf:
            perf = subprocess.Popen(["perf", "record", "-q", "-F", "2000", "-p", str(proc.pid),
                                     "-o", os.path.join(args.perf, system + ".data"),
                                     "--", "sleep", str(int(foreground))],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        spy = None
        if args.pyspy and system != "kamailio":
            spy = subprocess.Popen(["py-spy", "record", "--pid", str(proc.pid), "--rate", "250",
                                    "--format", "raw", "--output", args.pyspy,
                                    "--duration", str(int(foreground))],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(fg.pid, 0)
        fg.returncode = os.waitstatus_to_exitcode(status)
        result.sippCpu = sum(cpuTimes(uas.pid)) - uas0 + usage.ru_utime + usage.ru_stime
        if spy is not None:
            spy.wait()
        if perf is not None:
            perf.wait()
        result.wall = time.time() - started
        time.sleep(0.5)
        user1, sys1 = cpu()
        result.cpuUser, result.cpuSystem = user1 - user0, sys1 - sys0
        if tree:
            tree1 = processCpu(proc.pid)
            result.cpuByProcess = [tree1[p] - tree0.get(p, 0.0) for p in tree1]
        if system.endswith("+redis"):
            redis1 = cpuTimes(args.redisPid)
            result.redisCpu = sum(redis1) - sum(redis0)
        if system != "kamailio":
            stats = getJSON("http://127.0.0.1:%d/stats" % (httpPort,)) or {}
            pause = stats.get("gc_pause_max_ms")
            result.gcPauseMax = float(pause) if isinstance(pause, (int, float)) else None
            result.extra = {k: stats.get(k) for k in (
                "gc_gen0_pause_max_ms", "gc_gen1_pause_max_ms", "gc_gen2_pause_max_ms",
                "gc_collections", "active_dialogs", "redis_errors", "redis_commands",
                "handoffs_out", "requests_in", "responses_in")
                if k in stats}
        stats = sippStats(os.path.join(workdir, "fg.csv"))
        result.ok = int(stats.get("SuccessfulCall(C)", "0"))
        result.failed = int(stats.get("FailedCall(C)", "0"))
        result.calls = int(stats.get("TotalCallCreated", "0") or args.calls)
        result.retransmissions["caller"] = int(stats.get("Retransmissions(C)", "0"))
        if held is not None:
            held.wait()
            stats = sippStats(os.path.join(workdir, "held.csv"))
            result.heldOk = int(stats.get("SuccessfulCall(C)", "0"))
            result.heldFailed = int(stats.get("FailedCall(C)", "0"))
            result.retransmissions["held caller"] = int(stats.get("Retransmissions(C)", "0"))
        time.sleep(1.0)
        stop([uas])
        stats = sippStats(os.path.join(workdir, "uas.csv"))
        result.retransmissions["callee"] = int(stats.get("Retransmissions(C)", "0"))
        result.build = buildOf(os.path.join(workdir, "sst.log"))
        return result
    finally:
        shutdown(processes, workdir)


def buildOf(logFile: str) -> str:
    """
    @return: the build sst's log names at start-up (L{sst.build.describeBuild}), if any.
    """
    try:
        with open(logFile, errors="replace") as log:
            for line in log:
                if "Build: " in line:
                    return line.split("Build: ", 1)[1].strip()
    except OSError:
        pass
    return ""


def report(result: Result, args: argparse.Namespace) -> None:
    print("== %s" % (result.system,))
    if result.build:
        print("  build                     %s" % (result.build,))
    if args.held:
        print("  held calls ok/failed      %d / %d (of %d)" % (result.heldOk, result.heldFailed,
                                                            args.held))
    print("  new calls ok/failed       %d / %d (of %d at %.0f/s, %.1f s)" % (
        result.ok, result.failed, args.calls, args.rate, result.wall))
    print("  retransmissions           %s" % (
        ", ".join("%s %d" % item for item in result.retransmissions.items()),))
    print("  CPU per new call          %.3f ms (user %.3f, system %.3f)" % (
        result.msPerCall, 1000 * result.cpuUser / max(result.calls, 1),
        1000 * result.cpuSystem / max(result.calls, 1)))
    print("  SIPp CPU per new call     %.3f ms (caller and callee)" % (
        1000 * result.sippCpu / max(result.calls, 1),))
    if len(result.cpuByProcess) > 1 and not result.system.startswith("kamailio"):
        print("  CPU per call by process   " + ", ".join(
            "%s %.3f ms" % ("parent" if k == 0 else "worker %d" % (k - 1,),
                            1000 * seconds / max(result.calls, 1))
            for k, seconds in enumerate(result.cpuByProcess)))
    if result.rssPerHeld is not None and result.system != "kamailio":
        print("  RSS per held dialog       %.0f B (RSS growth / held calls, lingering "
              "transactions of the ramp included)" % (result.rssPerHeld,))
    if result.rssMarginal is not None and result.system != "kamailio":
        print("  RSS per held dialog       %.0f B (marginal: slope while held calls build up)"
              % (result.rssMarginal,))
    if result.redisCpu is not None:
        print("  redis-server CPU per call %.3f ms" % (
            1000 * result.redisCpu / max(result.calls, 1),))
    if result.gcPauseMax is not None:
        print("  longest GC pause          %.1f ms (%s)" % (result.gcPauseMax, ", ".join(
            "%s %s" % (k.replace("gc_", "").replace("_pause_max_ms", ""),
                       round(v, 1) if isinstance(v, float) else v)
            for k, v in result.extra.items())))


def clean(result: Result, args: argparse.Namespace) -> bool:
    return (result.failed == 0 and result.ok == args.calls and result.heldFailed == 0
            and result.heldOk == args.held and not any(result.retransmissions.values()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["proxy", "b2bua"], default="proxy")
    parser.add_argument("--held", type=int, default=0, help="timed calls held in the background")
    parser.add_argument("--held-rate", type=float, default=500.0,
                        help="calls per second while the background builds up")
    parser.add_argument("--calls", type=int, default=3000, help="foreground calls (bounded)")
    parser.add_argument("--rate", type=float, default=300.0, help="foreground calls per second")
    parser.add_argument("--no-kamailio", action="store_true",
                        help="do not run the load through Kamailio first")
    parser.add_argument("--profile", default="",
                        help="run sst under cProfile and save the statistics there")
    parser.add_argument("--installed", action="store_true",
                        help="run the sst installed beside this Python (compiled when built"
                             " by pip install .) instead of this checkout's sources")
    parser.add_argument("--perf", default="",
                        help="record each system with perf (its threads, during the foreground)"
                             " into this directory, as <system>.data")
    parser.add_argument("--py-spy", default="", dest="pyspy",
                        help="sample sst with py-spy during the foreground; collapsed stacks there")
    parser.add_argument("--redis", action="store_true",
                        help="also run sst with --store redis:// (a redis-server of its own)")
    parser.add_argument("--fg-pause", type=int, default=0,
                        help="ms each foreground call stays up between ACK and BYE (with "
                        "--redis, longer than the 10 ms write window, so every call is "
                        "written and deleted)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run sst (and sst with --redis) this many times, alternating")
    parser.add_argument("--pin", action="store_true",
                        help="run SIPp on the first CPU and the system under test (Kamailio, "
                        "sst) on the second, so that neither evicts the other's caches")
    parser.add_argument("extra", nargs="*", help="extra twistd sst options (after --)")
    args = parser.parse_args()
    if args.pin:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            parser.error("--pin needs two CPUs")
        PINS.update(sipp=cpus[0], system=cpus[1])
    redis = None
    if args.redis:
        redisPort = freePort()
        redisDir = tempfile.mkdtemp(prefix="sst-load-redis-")
        redis = subprocess.Popen(["redis-server", "--port", str(redisPort), "--bind",
                                  "127.0.0.1", "--save", "", "--appendonly", "no",
                                  "--dir", redisDir], stdout=subprocess.DEVNULL)
        args.redisPid = redis.pid
        args.redisURL = "redis://127.0.0.1:%d/0" % (redisPort,)
        waitForPort(redisPort, "tcp")

    results = []
    if not args.no_kamailio:
        if shutil.which("kamailio") and os.path.exists(KAMAILIO_CFG):
            results.append(run("kamailio", args))
            report(results[-1], args)
        else:
            print("(kamailio or %s missing: no ratio)" % (KAMAILIO_CFG,))
    added: list[float] = []
    try:
        for _ in range(args.repeat):
            results.append(run("sst-" + args.mode, args))
            report(results[-1], args)
            plain = results[-1]
            if redis is not None:
                results.append(run("sst-%s+redis" % (args.mode,), args))
                report(results[-1], args)
                added.append(results[-1].msPerCall - plain.msPerCall)
    finally:
        if redis is not None:
            redis.kill()
            redis.wait()
    if results[0].system == "kamailio":
        for ours in results[1:]:
            print("== ratio %s / kamailio: %.2f (CPU per new call)" % (
                ours.system, ours.msPerCall / max(results[0].msPerCall, 1e-9)))
    if added:
        print("== added by --store redis: %s ms per new call (median %.3f)" % (
            ", ".join("%.3f" % a for a in added), sorted(added)[len(added) // 2]))
    ok = all(clean(ours, args) for ours in results if ours.system != "kamailio")
    print("== sst runs %s" % ("clean" if ok else "NOT clean"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
