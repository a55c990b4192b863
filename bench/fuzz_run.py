#!/usr/bin/env python3
"""
Long mutation-fuzz run through the whole proxy (transport, parser, transactions, proxy core,
session-timer hook, dialogs), on a Clock with an in-memory wire.

Feeds N mutated inputs (default 1,000,000): each is a seed message of sst.test._fuzzing (the
torture corpus' valid messages, a standard INVITE, 200, BYE, UPDATE and re-INVITE, with the
exchange around them) with 1 to 4 random mutations (byte flips, inserted and deleted ranges,
duplicated, removed and swapped header lines, numbers made huge, negative or non-ASCII,
truncation, case changes in header names). The clock then runs 200 s on, so that every
transaction ends; the harness is rebuilt every --rebuild inputs to bound memory.

Reports inputs/s, unhandled exceptions (goal 0: exceptions that escape the transport, errors
logged by any layer, "internal_errors", and requests or status lines sent that do not parse
again), the first few with tracebacks and reproducers, and the summed stats counters.

    python bench/fuzz_run.py                    # 1,000,000 inputs, seed 1
    python bench/fuzz_run.py -n 200000 --seed 7

Run by hand only; never from the test suite. Exit status 1 when anything went wrong.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections import Counter
from random import Random
from typing import Any, Optional, cast

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from twisted.logger import ILogObserver, globalLogBeginner  # noqa: E402

from sst.test._fuzzing import (  # noqa: E402
    SEEDS,
    Mutation,
    Seed,
    TortureHarness,
    mutateAll,
    randomMutation,
    runScenario,
    settle,
)

#: The proxy options each rebuilt harness takes in turn.
OPTIONS = [[], ["--min-se", "90", "--session-expires", "90"], ["--bye-on-expiry"]]


class Problems:
    """
    What went wrong, by kind, with the first few cases in detail.

    Unhandled exceptions are exceptions that escape the transport, errors logged by any
    layer (each layer logs what it catches unexpectedly) and "internal_errors" counted.
    Unparsable messages sent are requests, or responses with a bad status line, that the
    proxy sent and that do not parse again: not exceptions, but worth knowing.
    """

    UNHANDLED = ("escaped exception", "logged error", "internal_errors counted")

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.counts: Counter[str] = Counter()
        self.inputs: Counter[str] = Counter()
        self.details: list[str] = []
        self.current = ""
        self._seen: set[str] = set()

    def startInput(self, description: str) -> None:
        self.current = description
        self._seen = set()

    def add(self, kind: str, detail: str) -> None:
        self.counts[kind] += 1
        if kind not in self._seen:
            self._seen.add(kind)
            self.inputs[kind] += 1
            if len(self.details) < self.keep:
                self.details.append("%s while running %s\n%s" % (kind, self.current, detail))

    def observe(self, event: dict[str, Any]) -> None:
        """
        A log observer: every logged failure is an unhandled exception caught by a layer.
        """
        failure = event.get("log_failure")
        if failure is not None:
            self.add("logged error", failure.getTraceback())

    def total(self, kinds: tuple[str, ...]) -> int:
        return sum(self.counts[kind] for kind in kinds)

    def summary(self, kinds: tuple[str, ...]) -> str:
        found = {kind: (self.counts[kind], self.inputs[kind]) for kind in kinds if self.counts[kind]}
        return ", ".join("%s: %d in %d inputs" % (kind, n, i) for kind, (n, i) in found.items())


def describe(index: int, seed: Seed, mutations: list[Mutation], options: list[str]) -> str:
    return "input %d: seed %r, options %r, mutations %r" % (index, seed.name, options, mutations)


def run(count: int, seedValue: int, rebuild: int, keep: int, progress: float) -> int:
    rng = Random(seedValue)
    problems = Problems(keep)
    observer = cast(ILogObserver, problems.observe)
    globalLogBeginner.beginLoggingTo([observer], discardBuffer=True, redirectStandardIO=False)
    totals: Counter[str] = Counter()
    h: Optional[TortureHarness] = None
    options: list[str] = []
    started = time.perf_counter()
    lastReport = started
    for i in range(count):
        if i % rebuild == 0:
            if h is not None:
                totals.update(h.stats.snapshot())
            options = OPTIONS[(i // rebuild) % len(OPTIONS)]
            h = TortureHarness(list(options))
        assert h is not None
        seed = SEEDS[rng.randrange(len(SEEDS))]
        mutations = [randomMutation(rng) for _ in range(rng.randint(1, 4))]
        problems.startInput(describe(i, seed, mutations, options))
        internal = h.stats.get("internal_errors")
        try:
            runScenario(h, seed, lambda data: mutateAll(data, mutations), n=i)
            settle(h, 200)
        except Exception:
            problems.add("escaped exception", traceback.format_exc())
        if h.stats.get("internal_errors") != internal:
            problems.add("internal_errors counted", "")
        for data, address, error in h.sentGarbage():
            problems.add("unparsable message sent", "%r to %s: %s" % (data[:300], address, error.reason))
        # Only the current input's messages are needed: keep the lookups short.
        del h.sent[:], h.wire[:], h.unparsable[:]
        now = time.perf_counter()
        if progress and now - lastReport >= progress:
            lastReport = now
            print("  %d inputs, %.0f/s, %d unhandled exceptions, %d unparsable messages sent"
                  % (i + 1, (i + 1) / (now - started), problems.total(Problems.UNHANDLED),
                     problems.total(("unparsable message sent",))), flush=True)
    elapsed = time.perf_counter() - started
    if h is not None:
        totals.update(h.stats.snapshot())
    print("inputs:               %d" % (count,))
    print("seed:                 %d" % (seedValue,))
    print("elapsed:              %.1f s" % (elapsed,))
    print("rate:                 %.0f inputs/s" % (count / elapsed,))
    unhandled = problems.total(Problems.UNHANDLED)
    print("unhandled exceptions: %d %s" % (unhandled, problems.summary(Problems.UNHANDLED)))
    garbage = ("unparsable message sent",)
    print("unparsable messages sent: %d %s" % (problems.total(garbage), problems.summary(garbage)))
    print("stats counters (summed over %d harnesses):" % ((count + rebuild - 1) // rebuild,))
    for name, value in sorted(totals.items()):
        print("  %-24s %d" % (name, value))
    for detail in problems.details:
        print("-" * 78)
        print(detail)
    return 1 if sum(problems.counts.values()) else 0


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--inputs", type=int, default=1_000_000, help="how many inputs (default 1000000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--rebuild", type=int, default=10_000, help="inputs per harness (default 10000)")
    parser.add_argument("--show", type=int, default=5, help="problems shown in full (default 5)")
    parser.add_argument("--progress", type=float, default=30.0,
                        help="seconds between progress lines, 0 for none (default 30)")
    args = parser.parse_args(argv)
    return run(args.inputs, args.seed, args.rebuild, args.show, args.progress)


if __name__ == "__main__":
    sys.exit(main())
