#!/usr/bin/env python3
"""
Call-rate benchmark: SIPp UAC -> twistd sst -> SIPp UAS, on loopback.

Runs a bounded number of calls at a given rate and prints calls attempted/ok/failed,
retransmissions, and the proxy's CPU milliseconds per call (utime+stime from /proc).

    python bench/proxy_bench.py --rate 500 --calls 5000
    python bench/proxy_bench.py --rate 200 --calls 2000 -- --min-se 90     # extra twistd sst options

With --hold SECONDS the calls stay up that long (memory run): the proxy's RSS is sampled once
every call is established and transaction state has gone, and the bytes per held dialog printed.

Run by hand only; never from the test suite.
"""
from __future__ import annotations

import argparse
import csv
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SCENARIOS = os.path.join(HERE, "..", "sst", "test", "scenarios")
TICKS = os.sysconf("SC_CLK_TCK")


def freePort() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpuTimes(pid: int) -> tuple[float, float]:
    """
    @return: (user, system) CPU seconds of process C{pid}.
    """
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICKS, int(fields[12]) / TICKS


def cpuSeconds(pid: int) -> float:
    return sum(cpuTimes(pid))


def rssBytes(pid: int) -> int:
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def shutdown(processes: list["subprocess.Popen[bytes]"], workdir: str) -> None:
    """
    Stop C{processes} (SIGTERM, then SIGKILL after 10 s) and remove C{workdir}, unless
    C{KEEP_BENCH_DIR} is set.
    """
    for p in processes:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in processes:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
    if os.environ.get("KEEP_BENCH_DIR"):
        print("workdir", workdir)
    else:
        shutil.rmtree(workdir, ignore_errors=True)


def sippStats(workdir: str) -> dict[str, str]:
    files = glob.glob(os.path.join(workdir, "uac*_.csv")) + glob.glob(os.path.join(workdir, "*.csv"))
    for path in files:
        with open(path) as f:
            rows = list(csv.reader(f, delimiter=";"))
        if len(rows) >= 2:
            return dict(zip(rows[0], rows[-1]))
    return {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200.0, help="calls per second")
    parser.add_argument("--calls", type=int, default=2000, help="number of calls (bounded)")
    parser.add_argument("--transport", choices=["udp", "tcp"], default="udp")
    parser.add_argument("--hold", type=float, default=0.0, help="seconds each call is held (memory run)")
    parser.add_argument("--limit", type=int, default=0, help="sipp -l: max simultaneous calls")
    parser.add_argument("--t1", type=float, default=0.5)
    parser.add_argument("extra", nargs="*", help="extra twistd sst options (after --)")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="sst-bench-")
    proxyPort, uasPort, uacPort = freePort(), freePort(), freePort()
    t = "u1" if args.transport == "udp" else "t1"
    twistd = os.path.join(os.path.dirname(sys.executable), "twistd")
    profiling = ["--profile=%s" % os.environ["SST_PROFILE"], "--profiler=cprofile", "--savestats"] if os.environ.get("SST_PROFILE") else []
    proxyCmd = [twistd, "-n", "--pidfile=", "--logfile=%s/proxy.log" % workdir] + profiling + ["sst",
                "--listen", "%s:127.0.0.1:%d" % (args.transport, proxyPort),
                "--next-hop", "sip:127.0.0.1:%d;transport=%s" % (uasPort, args.transport),
                "--t1", str(args.t1), "--http", "none"] + args.extra
    proxy = subprocess.Popen(proxyCmd, cwd=workdir)
    uas = subprocess.Popen(["sipp", "-sf", os.path.join(SCENARIOS, "uas.xml"), "-i", "127.0.0.1",
                            "-p", str(uasPort), "-t", t, "-nostdin",
                            "-max_socket", "60000"],
                           cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    try:
        cpu0 = cpuSeconds(proxy.pid)
        user0, sys0 = cpuTimes(proxy.pid)
        rss0 = rssBytes(proxy.pid)
        scenario = "uac_hold.xml" if args.hold else "uac.xml"
        uacCmd = ["sipp", "-sf", os.path.join(SCENARIOS, scenario), "-i", "127.0.0.1", "-p", str(uacPort),
                  "-t", t, "-nostdin", "-r", str(args.rate), "-m", str(args.calls), "-s", "bob",
                  "-key", "callee", "127.0.0.1:%d" % (uasPort,), "-d", str(int(args.hold * 1000)),
                  "-trace_stat", "-stf", os.path.join(workdir, "uac_stats.csv"), "-fd", "1", "-trace_err", "-error_file", os.path.join(workdir, "uac_err.log"),
                  "-timeout", "%ds" % (int(args.calls / args.rate + args.hold + 120),), "-timeout_error",
                  "127.0.0.1:%d" % (proxyPort,)]
        if args.limit:
            uacCmd += ["-l", str(args.limit)]
        started = time.time()
        uac = subprocess.Popen(uacCmd, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        heldRss = None
        if args.hold:
            ramp = args.calls / args.rate
            # Every call established and their transactions gone (Timer L/M = 64*T1).
            time.sleep(ramp + 64 * args.t1 + 3)
            if args.hold > ramp + 64 * args.t1 + 3:
                heldRss = rssBytes(proxy.pid)
        uac.wait()
        elapsed = time.time() - started
        time.sleep(0.5)
        cpu1 = cpuSeconds(proxy.pid)
        user1, sys1 = cpuTimes(proxy.pid)
        stats = sippStats(workdir)
        ok = int(stats.get("SuccessfulCall(C)", "0"))
        failed = int(stats.get("FailedCall(C)", "0"))
        created = int(stats.get("TotalCallCreated", "0") or stats.get("OutgoingCall(C)", "0"))
        retrans = int(stats.get("Retransmissions(C)", "0"))
        cpu = cpu1 - cpu0
        print("transport            %s" % args.transport)
        print("rate (calls/s)       %.0f" % args.rate)
        print("calls attempted      %d" % created)
        print("calls ok             %d" % ok)
        print("calls failed         %d" % failed)
        print("retransmissions      %d (UAC side)" % retrans)
        print("wall time (s)        %.1f" % elapsed)
        print("proxy CPU (s)        %.2f" % cpu)
        print("proxy CPU per call   %.3f ms (user %.3f + system %.3f)" % (
            1000 * cpu / max(created, 1), 1000 * (user1 - user0) / max(created, 1),
            1000 * (sys1 - sys0) / max(created, 1)))
        if heldRss is not None:
            print("held calls           %d" % args.calls)
            print("RSS before / held    %.1f MB / %.1f MB" % (rss0 / 1e6, heldRss / 1e6))
            print("bytes per held call  %.0f" % ((heldRss - rss0) / args.calls))
        return 0 if failed == 0 and ok == args.calls else 1
    finally:
        shutdown([proxy, uas], workdir)


if __name__ == "__main__":
    sys.exit(main())
