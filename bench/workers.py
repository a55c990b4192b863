#!/usr/bin/env python3
"""
The highest clean call rate of sst with --workers 1 and with --workers 2, in the production
shape (bench/load.py: timed calls held in the background, short timed calls in the
foreground), and the CPU per call of both at one rate both carry.

For each worker count, the foreground rate climbs through --rates until a run is not clean
(a failed call, held or new, or a retransmission); the last clean rate is the highest. Each
step runs --seconds of calls. Then both run --compare-rate once more, for the CPU per call.

    python bench/workers.py --held 2000 --rates 400,600,800,1000,1200,1400,1600,1800,2000
    python bench/workers.py --mode b2bua --held 2000 --rates 200,400,600,800,1000

With --control RATE it measures, instead, where the CPU per call of --workers 2 goes: RATE
through one process, RATE/2 through one process, RATE through two independent sst processes
at the same time (RATE/2 each, each with its own SIPp: no hand-off at all), and RATE through
--workers 2, --repeat times, interleaved. One process at RATE/2 against RATE is what a
lighter load costs per call (fewer messages per reactor wake-up); two processes at RATE/2
against one is what two busy processes cost each other on the machine; --workers 2 against
the two processes is the hand-off. SIPp's own CPU per call is printed too: on a 2-core
machine it bounds the rate any number of workers can reach.

    python bench/workers.py --control 1000 --held 0 --repeat 3

Run by hand only; never from the test suite.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from load import Result, clean, run  # noqa: E402


def loadOptions(workers: int, rate: float, args: argparse.Namespace) -> argparse.Namespace:
    """
    @return: the options of one bench/load.py run at C{rate} with C{workers}.
    """
    return argparse.Namespace(
        mode=args.mode, held=args.held, held_rate=args.held_rate,
        calls=int(rate * args.seconds), rate=rate, no_kamailio=True, profile="", pyspy="",
        redis=False, fg_pause=0, repeat=1, extra=["--workers", str(workers)] + args.extra)


def step(workers: int, rate: float, args: argparse.Namespace) -> tuple[Result, bool]:
    """
    One run of the load at C{rate} with C{workers}.
    """
    namespace = loadOptions(workers, rate, args)
    result = run("sst-" + args.mode, namespace)
    ok = clean(result, namespace)
    print("workers %d  rate %5.0f/s  new ok/failed %d/%d  held failed %d  retrans %s  "
          "CPU %.3f ms/call  %s" % (
              workers, rate, result.ok, result.failed, result.heldFailed,
              sum(result.retransmissions.values()), result.msPerCall,
              "clean" if ok else "NOT clean"), flush=True)
    return result, ok


def cpuPerCall(results: list[Result]) -> tuple[float, float]:
    """
    @return: the CPU per call (ms) of sst and of SIPp over C{results} together.
    """
    calls = max(sum(r.calls for r in results), 1)
    return (1000 * sum(r.cpuUser + r.cpuSystem for r in results) / calls,
            1000 * sum(r.sippCpu for r in results) / calls)


def control(args: argparse.Namespace) -> int:
    """
    One process, two independent processes, and --workers 2, at the same total rate.
    """
    rate = args.control
    rows: dict[str, list[tuple[float, float, bool]]] = {
        "one": [], "half": [], "two": [], "workers": []}

    def measure(key: str, workers: int, perProcess: float, processes: int = 1) -> None:
        options = loadOptions(workers, perProcess, args)
        results: list[Result] = []
        threads = [threading.Thread(target=lambda: results.append(
            run("sst-" + args.mode, options))) for _ in range(processes)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        rows[key].append(cpuPerCall(results) + (all(clean(r, options) for r in results),))

    for _ in range(args.repeat):
        measure("one", 1, rate)
        measure("half", 1, rate / 2)
        measure("two", 1, rate / 2, processes=2)
        measure("workers", 2, rate)
    names = {"one": "one process at %.0f/s" % (rate,),
             "half": "one process at %.0f/s" % (rate / 2,),
             "two": "two independent processes at %.0f/s each" % (rate / 2,),
             "workers": "--workers 2 at %.0f/s" % (rate,)}
    for key, name in names.items():
        print("== %-42s sst %s ms/call; SIPp %s ms/call%s" % (
            name, " / ".join("%.3f" % (r[0],) for r in rows[key]),
            " / ".join("%.3f" % (r[1],) for r in rows[key]),
            "" if all(r[2] for r in rows[key]) else " (NOT clean)"))
    mean = {key: sum(r[0] for r in rows[key]) / len(rows[key]) for key in rows}
    print("== --workers 2 / one process: %.2f = lighter load %.2f x two busy processes %.2f "
          "x hand-off %.2f" % (
              mean["workers"] / mean["one"], mean["half"] / mean["one"],
              mean["two"] / mean["half"], mean["workers"] / mean["two"]))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["proxy", "b2bua"], default="proxy")
    parser.add_argument("--held", type=int, default=2000)
    parser.add_argument("--held-rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=8.0,
                        help="seconds of foreground calls at each rate")
    parser.add_argument("--rates", default="400,600,800,1000,1200,1400,1600,1800,2000,2400")
    parser.add_argument("--compare-rate", type=float, default=600.0)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--control", type=float, default=0.0,
                        help="measure one process, two processes and --workers 2 at this "
                        "rate instead (see above)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, with --control")
    parser.add_argument("extra", nargs="*", help="extra twistd sst options (after --)")
    args = parser.parse_args()
    if args.control:
        return control(args)
    rates = [float(r) for r in args.rates.split(",")]
    highest: dict[int, float] = {}
    perCall: dict[int, float] = {}
    for workers in [int(w) for w in args.workers.split(",")]:
        highest[workers] = 0.0
        for rate in rates:
            _, ok = step(workers, rate, args)
            if not ok:
                break
            highest[workers] = rate
        result, _ = step(workers, args.compare_rate, args)
        perCall[workers] = result.msPerCall
    print("== highest clean rate: " + ", ".join(
        "workers %d: %.0f/s" % item for item in highest.items()))
    print("== CPU per call at %.0f/s: " % (args.compare_rate,) + ", ".join(
        "workers %d: %.3f ms" % item for item in perCall.items()))
    if 1 in highest and 2 in highest and highest[1]:
        print("== rate ratio 2/1: %.2f; CPU per call ratio 2/1: %.2f" % (
            highest[2] / highest[1], perCall[2] / max(perCall[1], 1e-9)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
