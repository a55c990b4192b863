#!/usr/bin/env python3
"""
Overload benchmark: SIPp UAC -> twistd sst -> SIPp UAS on loopback, offered about twice what
the proxy sustains, with a small --max-dialogs so that sst sheds the excess with
503 Service Unavailable + Retry-After.

Three phases, each bounded:

  1. capacity: short runs at increasing call rates against a proxy with the default limits;
     the capacity is the highest rate whose calls all succeed, with at most 1% INVITE/BYE
     retransmissions, the proxy using under 85% of one CPU and the run not lagging (skipped
     with --capacity N);
  2. overload: a fresh proxy with --max-dialogs = accept-fraction x capacity x hold; the UAC
     (sst/test/scenarios/uac_overload.xml) offers factor x capacity calls/s for
     overload-seconds; a 503 ends a call as failed, after its ACK;
  3. recovery: right after, the same proxy gets a normal rate (half of what --max-dialogs
     admits, --recovery-load) for recovery-seconds, and must complete every call.  The
     margin matters: a full garbage collection of the proxy's heap after the overload
     stalls it for up to ~0.75 s, and the calls that pile up meanwhile can reach the limit.

The proxy's RSS (from /proc) and its /stats gauges (dialogs, transactions, overload_rejected)
are sampled every second during phases 2 and 3.

    python bench/overload_bench.py                     # measure capacity, then overload
    python bench/overload_bench.py --capacity 400      # skip the measurement
    python bench/overload_bench.py --series out.csv -- --max-transactions 20000

Exit status 0 when the proxy answered 503 during the overload and the recovery phase had no
failure.  Run by hand only; never from the test suite.
"""
from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Optional

HERE = os.path.dirname(os.path.abspath(__file__))
SCENARIOS = os.path.join(HERE, "..", "sst", "test", "scenarios")
TICKS = os.sysconf("SC_CLK_TCK")

#: SIPp's socket buffers, as large as sst's (the kernel default of about 200 KB overflows
#: when SIPp is starved of CPU, and the losses would be blamed on the proxy).
SIPP_BUFFER = 4 * 1024 * 1024


def freePort(kind: int = socket.SOCK_DGRAM) -> int:
    """
    @return: a port of 127.0.0.1 free for now.
    """
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpuSeconds(pid: int) -> float:
    """
    @return: user + system CPU seconds of process C{pid}.
    """
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rssBytes(pid: int) -> int:
    """
    @return: the resident set size of process C{pid}, 0 once it has gone.
    """
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def lastRow(path: str) -> dict[str, str]:
    """
    @return: the last row of a SIPp ';'-separated CSV file, by column name.
    """
    with open(path) as f:
        rows = list(csv.reader(f, delimiter=";"))
    return dict(zip(rows[0], rows[-1])) if len(rows) >= 2 else {}


def number(row: dict[str, str], *names: str) -> int:
    """
    @return: the sum of the integer columns C{names} of C{row} (missing ones count 0).
    """
    return sum(int(row.get(name) or 0) for name in names)


class Proxy:
    """
    A C{twistd sst} process with its management API on a free loopback port.
    """

    def __init__(self, workdir: str, transport: str, uasPort: int, extra: list[str]) -> None:
        os.makedirs(workdir)
        self.port = freePort()
        self.httpPort = freePort(socket.SOCK_STREAM)
        twistd = os.path.join(os.path.dirname(sys.executable), "twistd")
        command = [twistd, "-n", "--pidfile=", "--logfile=%s/proxy.log" % (workdir,), "sst",
                   "--listen", "%s:127.0.0.1:%d" % (transport, self.port),
                   "--next-hop", "sip:127.0.0.1:%d;transport=%s" % (uasPort, transport),
                   "--http", "tcp:%d:interface=127.0.0.1" % (self.httpPort,)] + extra
        self.command = command
        self.process = subprocess.Popen(command, cwd=workdir)
        deadline = time.time() + 15
        while self.stats() is None:
            if self.process.poll() is not None or time.time() > deadline:
                raise SystemExit("sst did not start: %s" % (" ".join(command),))
            time.sleep(0.2)

    @property
    def pid(self) -> int:
        """
        The proxy's process id.
        """
        return self.process.pid

    def stats(self, timeout: float = 1.0) -> Optional[dict[str, int]]:
        """
        @return: C{GET /stats}, or L{None} when it does not answer in time.
        """
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/stats" % (self.httpPort,),
                                        timeout=timeout) as response:
                document: dict[str, int] = json.load(response)
                return document
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        """
        Stop the proxy (SIGTERM, then SIGKILL after 10 s).
        """
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Sample:
    """
    One second of the proxy's life.
    """

    t: float
    phase: str
    rss: int
    stats: Optional[dict[str, int]]


@dataclass
class Sampler:
    """
    Samples the proxy's RSS and C{/stats} every second in a thread.
    """

    proxy: Proxy
    phase: str = "idle"
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        """
        Start sampling.
        """
        self._t0 = time.time()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.time()
            rss = rssBytes(self.proxy.pid)
            stats = self.proxy.stats(timeout=0.8)
            self.samples.append(Sample(round(began - self._t0, 1), self.phase, rss, stats))
            self._stop.wait(max(0.0, 1.0 - (time.time() - began)))

    def stop(self) -> None:
        """
        Stop sampling.
        """
        self._stop.set()
        self._thread.join()

    def of(self, phase: str) -> list[Sample]:
        """
        @return: the samples taken during C{phase}.
        """
        return [s for s in self.samples if s.phase == phase]


@dataclass
class Run:
    """
    The outcome of one SIPp UAC run.
    """

    rate: float
    calls: int
    created: int
    ok: int
    failed: int
    rejected503: int
    retransmissions: int
    elapsed: float
    cpu: float

    @property
    def realFailures(self) -> int:
        """
        Failed calls that did not end on a 503.
        """
        return self.failed - self.rejected503


def runUAC(workdir: str, name: str, proxy: Proxy, transport: str, uasPort: int, rate: float,
           calls: int, hold: float) -> Run:
    """
    Run C{calls} calls of C{uac_overload.xml} at C{rate} calls/s through C{proxy}.
    """
    directory = os.path.join(workdir, name)
    os.makedirs(directory)
    command = ["sipp", "-sf", os.path.join(SCENARIOS, "uac_overload.xml"),
               "-i", "127.0.0.1", "-p", str(freePort()), "-t", "u1" if transport == "udp" else "t1",
               "-nostdin", "-buff_size", str(SIPP_BUFFER), "-r", "%g" % (rate,), "-rp", "1000",
               "-m", str(calls), "-s", "bob",
               "-key", "callee", "127.0.0.1:%d" % (uasPort,), "-d", str(int(hold * 1000)),
               # A call aborted after its 503 sends no BYE.
               "-default_behaviors", "all,-bye",
               "-trace_stat", "-stf", os.path.join(directory, "stats.csv"), "-fd", "1",
               "-trace_counts", "-trace_err", "-error_file", os.path.join(directory, "errors.log"),
               "-timeout", "%ds" % (int(calls / rate + hold + 60),), "-timeout_error",
               "127.0.0.1:%d" % (proxy.port,)]
    cpu0, started = cpuSeconds(proxy.pid), time.time()
    subprocess.run(command, cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.time() - started
    cpu = cpuSeconds(proxy.pid) - cpu0
    stats = lastRow(os.path.join(directory, "stats.csv"))
    countFiles = glob.glob(os.path.join(directory, "*_counts.csv"))
    counts = lastRow(countFiles[0]) if countFiles else {}
    rejected = number(counts, *[k for k in counts if k.endswith("_999_Timeout")])
    retrans = number(counts, *[k for k in counts if k.endswith(("_INVITE_Retrans", "_BYE_Retrans"))])
    return Run(rate, calls, number(stats, "TotalCallCreated"), number(stats, "SuccessfulCall(C)"),
               number(stats, "FailedCall(C)"), rejected, retrans, elapsed, cpu)


def measureCapacity(args: argparse.Namespace, workdir: str, uasPort: int) -> float:
    """
    Phase 1: the highest probe rate the proxy sustains.
    """
    proxy = Proxy(os.path.join(workdir, "probe-proxy"), args.transport, uasPort, args.extra)
    capacity = 0.0
    try:
        print("phase 1: capacity (%g s per rate, hold %g s)" % (args.probe_seconds, args.hold))
        print("  %6s %6s %6s %6s %8s %8s %6s" % ("rate", "calls", "ok", "failed", "retrans",
                                                "wall s", "CPU"))
        for rate in args.probe_rates:
            calls = int(rate * args.probe_seconds)
            run = runUAC(workdir, "probe-%g" % (rate,), proxy, args.transport, uasPort, rate,
                         calls, args.hold)
            busy = run.cpu / max(run.elapsed - args.hold, 0.1)
            print("  %6g %6d %6d %6d %8d %8.1f %5.0f%%" % (rate, run.created, run.ok, run.failed,
                                                           run.retransmissions, run.elapsed,
                                                           100 * busy))
            sustained = (run.ok == calls and run.failed == 0
                         and run.retransmissions <= 0.01 * calls and busy < 0.85
                         and run.elapsed <= calls / rate + args.hold + 3)
            if not sustained:
                break
            capacity = rate
            time.sleep(1)
    finally:
        proxy.stop()
    if not capacity:
        raise SystemExit("the proxy sustained none of the probe rates %s" % (args.probe_rates,))
    print("  capacity: %g calls/s" % (capacity,))
    return capacity


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--capacity", type=float, default=0.0,
                        help="sustainable calls/s (default: measure it)")
    parser.add_argument("--probe-rates", type=lambda s: [float(r) for r in s.split(",")],
                        default=[100, 200, 300, 400, 500, 600, 800, 1000],
                        help="comma-separated rates tried in phase 1, lowest first")
    parser.add_argument("--probe-seconds", type=float, default=4.0)
    parser.add_argument("--factor", type=float, default=2.0,
                        help="offered load in phase 2, as a multiple of the capacity")
    parser.add_argument("--overload-seconds", type=float, default=15.0)
    parser.add_argument("--recovery-seconds", type=float, default=10.0)
    parser.add_argument("--hold", type=float, default=1.0, help="seconds each call is held")
    parser.add_argument("--accept-fraction", type=float, default=0.5,
                        help="--max-dialogs as a fraction of capacity x hold")
    parser.add_argument("--recovery-load", type=float, default=0.5,
                        help="phase 3 rate as a fraction of --max-dialogs / hold")
    parser.add_argument("--max-dialogs", type=int, default=0,
                        help="the proxy's --max-dialogs in phases 2 and 3 (default: computed)")
    parser.add_argument("--transport", choices=["udp", "tcp"], default="udp")
    parser.add_argument("--series", help="write the per-second samples to this CSV file")
    parser.add_argument("extra", nargs="*", help="extra twistd sst options (after --)")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="sst-overload-")
    # Other processes competing for the CPUs skew every figure: say how busy the machine was.
    print("load average at start     %.2f %.2f %.2f (%d CPUs)" % (os.getloadavg() + (os.cpu_count() or 0,)))
    uasPort = freePort()
    uas = subprocess.Popen(["sipp", "-sf", os.path.join(SCENARIOS, "uas.xml"), "-i", "127.0.0.1",
                            "-p", str(uasPort), "-t", "u1" if args.transport == "udp" else "t1",
                            "-nostdin", "-max_socket", "60000", "-buff_size", str(SIPP_BUFFER)],
                           cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proxy: Optional[Proxy] = None
    sampler: Optional[Sampler] = None
    try:
        time.sleep(1)
        capacity = args.capacity or measureCapacity(args, workdir, uasPort)
        maxDialogs = args.max_dialogs or max(10, int(args.accept_fraction * capacity * args.hold))
        offered = args.factor * capacity
        normal = args.recovery_load * maxDialogs / args.hold
        proxy = Proxy(os.path.join(workdir, "proxy"), args.transport, uasPort,
                      ["--max-dialogs", str(maxDialogs)] + args.extra)
        sampler = Sampler(proxy)
        sampler.start()
        time.sleep(1.5)
        print("phase 2: overload at %g calls/s (%gx capacity) for %g s, --max-dialogs %d"
              % (offered, args.factor, args.overload_seconds, maxDialogs))
        sampler.phase = "overload"
        before = proxy.stats() or {}
        overload = runUAC(workdir, "overload", proxy, args.transport, uasPort, offered,
                          int(offered * args.overload_seconds), args.hold)
        after = proxy.stats() or {}
        sampler.phase = "gap"
        time.sleep(2)
        print("phase 3: recovery at %.0f calls/s for %g s" % (normal, args.recovery_seconds))
        sampler.phase = "recovery"
        recovery = runUAC(workdir, "recovery", proxy, args.transport, uasPort, normal,
                          int(normal * args.recovery_seconds), args.hold)
        final = proxy.stats() or {}
        sampler.phase = "end"
        time.sleep(1.5)
        sampler.stop()

        def peak(phase: str, key: str) -> int:
            values = [s.stats.get(key, 0) for s in sampler.of(phase) if s.stats]
            return max(values, default=0)

        def rss(phase: str) -> int:
            return max((s.rss for s in sampler.of(phase)), default=0)

        unanswered = sum(1 for s in sampler.of("overload") if s.stats is None)
        print()
        print("capacity (calls/s)        %g" % (capacity,))
        print("--max-dialogs             %d" % (maxDialogs,))
        print("offered load (calls/s)    %g for %g s (%d calls, hold %g s)"
              % (offered, args.overload_seconds, overload.calls, args.hold))
        print("overload: calls created   %d in %.1f s" % (overload.created, overload.elapsed))
        print("overload: calls ok        %d" % (overload.ok,))
        print("overload: calls 503       %d (proxy overload_rejected +%d)"
              % (overload.rejected503, after.get("overload_rejected", 0)
                 - before.get("overload_rejected", 0)))
        print("overload: calls failed    %d (other than 503)" % (overload.realFailures,))
        created = after.get("dialogs_created", 0) - before.get("dialogs_created", 0)
        print("overload: dialogs made    %d for %d calls ok (%d admitted calls found the table "
              "full at their 1xx/2xx and went untracked)"
              % (created, overload.ok, max(0, overload.ok - created)))
        print("overload: retransmissions %d (INVITE and BYE, UAC side)" % (overload.retransmissions,))
        print("overload: proxy CPU       %.1f s of %.1f s wall (%.0f%%)"
              % (overload.cpu, overload.elapsed, 100 * overload.cpu / max(overload.elapsed, 0.1)))
        print("overload: peak dialogs    %d, peak transactions %d (server) + %d (client)"
              % (peak("overload", "active_dialogs"), peak("overload", "server_transactions"),
                 peak("overload", "client_transactions")))
        print("overload: /stats timeouts %d of %d samples" % (unanswered, len(sampler.of("overload"))))
        print("RSS (MB)                  start %.1f, max overload %.1f, max recovery %.1f, end %.1f"
              % (sampler.samples[0].rss / 1e6, rss("overload") / 1e6, rss("recovery") / 1e6,
                 sampler.samples[-1].rss / 1e6))
        print("recovery: rate (calls/s)  %.0f for %g s" % (normal, args.recovery_seconds))
        print("recovery: calls           %d created, %d ok, %d 503, %d failed otherwise"
              % (recovery.created, recovery.ok, recovery.rejected503, recovery.realFailures))
        recovered = (recovery.failed == 0 and recovery.ok == recovery.calls
                     and final.get("overload_rejected", 0) == after.get("overload_rejected", 0))
        print("recovery                  %s" % ("OK: every call completed, no 503"
                                                if recovered else "FAILED"))
        print("load average at end       %.2f %.2f %.2f" % os.getloadavg())
        if args.series:
            with open(args.series, "w", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(["t", "phase", "rss_bytes", "active_dialogs", "server_transactions",
                                 "client_transactions", "overload_rejected"])
                for s in sampler.samples:
                    st = s.stats or {}
                    writer.writerow([s.t, s.phase, s.rss, st.get("active_dialogs"),
                                     st.get("server_transactions"), st.get("client_transactions"),
                                     st.get("overload_rejected")])
        return 0 if overload.rejected503 > 0 and recovered else 1
    finally:
        if sampler is not None and sampler._thread.is_alive():
            sampler.stop()
        if proxy is not None:
            proxy.stop()
        if uas.poll() is None:
            uas.send_signal(signal.SIGTERM)
            try:
                uas.wait(10)
            except subprocess.TimeoutExpired:
                uas.kill()
        if os.environ.get("KEEP_BENCH_DIR"):
            print("workdir", workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
