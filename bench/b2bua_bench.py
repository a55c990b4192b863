#!/usr/bin/env python3
"""
Call-rate benchmark of the B2BUA: SIPp UAC -> twistd sst --mode b2bua -> SIPp UAS, on loopback.

Runs a bounded number of calls at a given rate and prints calls attempted/ok/failed and the
B2BUA's CPU milliseconds per call (utime+stime from /proc). Each call is two dialogs: the
A-leg INVITE/200/ACK/BYE/200 and the B-leg ones, with session timers on both legs.

    python bench/b2bua_bench.py --rate 200 --calls 2000
    python bench/b2bua_bench.py --rate 100 --calls 1000 -- --refresher local   # more sst options

Run by hand only; never from the test suite. The budget is 1.0 ms of CPU per call.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from proxy_bench import SCENARIOS, cpuSeconds, freePort, shutdown, sippStats  # noqa: E402

BUDGET_MS = 1.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200.0, help="calls per second")
    parser.add_argument("--calls", type=int, default=2000, help="number of calls (bounded)")
    parser.add_argument("--t1", type=float, default=0.5)
    parser.add_argument("extra", nargs="*", help="extra twistd sst options (after --)")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="sst-b2bua-bench-")
    sstPort, uasPort, uacPort = freePort(), freePort(), freePort()
    twistd = os.path.join(os.path.dirname(sys.executable), "twistd")
    sstCmd = [twistd, "-n", "--pidfile=", "--logfile=%s/sst.log" % workdir, "sst",
              "--mode", "b2bua", "--http", "none",
              "--listen", "udp:127.0.0.1:%d" % (sstPort,),
              "--next-hop", "sip:127.0.0.1:%d" % (uasPort,),
              "--t1", str(args.t1)] + args.extra
    b2bua = subprocess.Popen(sstCmd, cwd=workdir)
    uas = subprocess.Popen(["sipp", "-sf", os.path.join(SCENARIOS, "uas.xml"), "-i", "127.0.0.1",
                            "-p", str(uasPort), "-t", "u1", "-nostdin"],
                           cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    try:
        cpu0 = cpuSeconds(b2bua.pid)
        uacCmd = ["sipp", "-sf", os.path.join(SCENARIOS, "uac.xml"), "-i", "127.0.0.1",
                  "-p", str(uacPort), "-t", "u1", "-nostdin", "-r", str(args.rate),
                  "-m", str(args.calls), "-s", "bob", "-key", "callee", "127.0.0.1:%d" % (uasPort,),
                  "-trace_stat", "-stf", os.path.join(workdir, "uac_stats.csv"), "-fd", "1",
                  "-timeout", "%ds" % (int(args.calls / args.rate + 120),), "-timeout_error",
                  "127.0.0.1:%d" % (sstPort,)]
        started = time.time()
        uac = subprocess.Popen(uacCmd, cwd=workdir, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        uac.wait()
        elapsed = time.time() - started
        time.sleep(0.5)
        cpu = cpuSeconds(b2bua.pid) - cpu0
        stats = sippStats(workdir)
        ok = int(stats.get("SuccessfulCall(C)", "0"))
        failed = int(stats.get("FailedCall(C)", "0"))
        created = int(stats.get("TotalCallCreated", "0") or stats.get("OutgoingCall(C)", "0"))
        retrans = int(stats.get("Retransmissions(C)", "0"))
        perCall = 1000 * cpu / max(created, 1)
        print("mode                 b2bua (udp)")
        print("rate (calls/s)       %.0f" % args.rate)
        print("calls attempted      %d" % created)
        print("calls ok             %d" % ok)
        print("calls failed         %d" % failed)
        print("retransmissions      %d (UAC side)" % retrans)
        print("wall time (s)        %.1f" % elapsed)
        print("b2bua CPU (s)        %.2f" % cpu)
        print("b2bua CPU per call   %.3f ms (budget %.1f ms: %s)"
              % (perCall, BUDGET_MS, "ok" if perCall <= BUDGET_MS else "OVER"))
        return 0 if failed == 0 and ok == args.calls else 1
    finally:
        shutdown([b2bua, uas], workdir)


if __name__ == "__main__":
    sys.exit(main())
