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

Run by hand only; never from the test suite.
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from load import Result, clean, run  # noqa: E402


def step(workers: int, rate: float, args: argparse.Namespace) -> tuple[Result, bool]:
    """
    One run of the load at C{rate} with C{workers}.
    """
    calls = int(rate * args.seconds)
    namespace = argparse.Namespace(
        mode=args.mode, held=args.held, held_rate=args.held_rate, calls=calls, rate=rate,
        no_kamailio=True, profile="", pyspy="", extra=["--workers", str(workers)])
    result = run("sst-" + args.mode, namespace)
    ok = clean(result, namespace)
    print("workers %d  rate %5.0f/s  new ok/failed %d/%d  held failed %d  retrans %s  "
          "CPU %.3f ms/call  %s" % (
              workers, rate, result.ok, result.failed, result.heldFailed,
              sum(result.retransmissions.values()), result.msPerCall,
              "clean" if ok else "NOT clean"), flush=True)
    return result, ok


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
    args = parser.parse_args()
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
