# -*- test-case-name: sst.test.test_fuzz -*-
"""
Mutated messages through the whole receive path: bytes into L{ProxyHarness} (transport,
parser, transaction layer, proxy core, session-timer hook, dialogs), then the clock run on
past every transaction timer. Whatever the bytes, nothing may raise: no logged error, no
C{internal_errors}, every transaction ends, and what the proxy forwards parses again.

The seeds are the valid messages of the torture corpus and a standard INVITE, 200, BYE,
UPDATE and re-INVITE (each with the exchange around it); the mutations are those of
L{sst.test._fuzzing}. The Hypothesis profile is the derandomized C{ci} one; for a long
random run, see C{bench/fuzz_run.py}.
"""
from __future__ import annotations

from hypothesis import given, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from sst.test import _hypothesis  # noqa: F401  (loads the Hypothesis profile)
from sst.test._fuzzing import (
    INSERTS,
    NUMBERS,
    SEEDS,
    Mutation,
    Seed,
    TortureHarness,
    mutateAll,
    runScenario,
    settle,
)

_positions = st.integers(0, 1 << 16)

_mutation = st.one_of(
    st.builds(Mutation, st.just("flip"), _positions, st.just(0), st.binary(min_size=1, max_size=1)),
    st.builds(Mutation, st.just("insert"), _positions, st.just(0),
              st.sampled_from(INSERTS) | st.binary(min_size=1, max_size=8)),
    st.builds(Mutation, st.just("delete"), _positions, st.integers(0, 63)),
    st.builds(Mutation, st.sampled_from(["duplicate", "remove", "truncate"]), _positions),
    st.builds(Mutation, st.just("swap"), _positions, _positions),
    st.builds(Mutation, st.just("number"), _positions, st.just(0), st.sampled_from(NUMBERS)),
    st.builds(Mutation, st.just("case"), _positions, st.integers(0, (1 << 60) - 1)),
)

_mutations = st.lists(_mutation, min_size=1, max_size=4)

#: Proxy options to run under: defaults, a low minimum, and BYE on expiry.
_options = st.sampled_from([[], ["--min-se", "90", "--session-expires", "90"], ["--bye-on-expiry"]])


def _seeds(*kinds: str) -> st.SearchStrategy[Seed]:
    return st.sampled_from([seed for seed in SEEDS if seed.kind in kinds])


class MutationTests(SynchronousTestCase):
    """
    L{Mutation} itself.
    """

    def test_kinds(self) -> None:
        """
        Each kind of mutation makes the change it describes.
        """
        message = b"INVITE sip:a@b SIP/2.0\r\nVia: v1\r\nCSeq: 12 INVITE\r\nTo: t\r\n\r\nbody 7"
        cases = [
            (Mutation("flip", 0, data=b"X"), message.replace(b"INVITE", b"XNVITE", 1)),
            (Mutation("insert", 6, data=b"!"), message.replace(b"INVITE", b"INVITE!", 1)),
            (Mutation("delete", 0, 2), message[3:]),
            (Mutation("duplicate", 0), message.replace(b"Via: v1\r\n", b"Via: v1\r\nVia: v1\r\n")),
            (Mutation("remove", 1), message.replace(b"CSeq: 12 INVITE\r\n", b"")),
            (Mutation("swap", 0, 2), message.replace(b"Via: v1", b"Via: t").replace(b"To: t", b"To: v1")),
            (Mutation("number", 3, data=b"-1"), message.replace(b"12", b"-1")),
            (Mutation("number", 4, data=b"99"), message.replace(b"7", b"99")),
            (Mutation("number", 5, data=b"99"), message.replace(b"SIP/2", b"SIP/99")),
            (Mutation("truncate", 10), message[:10]),
            (Mutation("case", 2, 0b101), message.replace(b"To:", b"to:")),
        ]
        for mutation, expected in cases:
            self.assertEqual(mutation.apply(message), expected, mutation)

    def test_anyIntegers(self) -> None:
        """
        Positions and indices beyond the message wrap around; an empty message stays
        empty or gets the inserted bytes.
        """
        for kind in ("flip", "delete", "duplicate", "remove", "swap", "number", "truncate", "case"):
            self.assertEqual(Mutation(kind, 10**9, 10**9, b"Z").apply(b""), b"")
        self.assertEqual(Mutation("insert", 10**9, data=b"Z").apply(b""), b"Z")


class HarnessTests(SynchronousTestCase):
    """
    The harness the fuzz and torture tests run on.
    """

    def test_resetCallDoesNotBlock(self) -> None:
        """
        A timer reset to a later time (as dialogs and Timer C are) does not hold back the
        timers that are due before it; L{settle} runs each on time.
        """
        h = TortureHarness()
        fired: list[tuple[str, float]] = []
        late = h.clock.callLater(10, lambda: fired.append(("late", h.clock.seconds())))
        h.clock.callLater(20, lambda: fired.append(("due", h.clock.seconds())))
        late.reset(100)
        h.clock.advance(30)
        self.assertEqual(fired, [("due", 30.0)])
        h.clock.callLater(5, lambda: h.clock.callLater(5, lambda: fired.append(("chained", h.clock.seconds()))))
        settle(h, 100)
        self.assertEqual(fired, [("due", 30.0), ("chained", 40.0), ("late", 100.0)])
        self.assertEqual(h.clock.seconds(), 130.0)

    def test_noDNS(self) -> None:
        """
        An in-dialog request for a host name is sent to that name: the harness never asks
        DNS (nor opens a socket for it).
        """
        h = TortureHarness()
        h.fromCaller(h.inDialog("OPTIONS").replace("sip:bob@127.0.0.1:5070", "sip:bob@far.example.com"))
        self.assertEqual(h.requests()[-1][1].host, "far.example.com")


class FullPathFuzzTests(SynchronousTestCase):
    """
    Mutated messages through the whole proxy never raise.
    """

    def run_(self, seed: Seed, mutations: list[Mutation], options: list[str]) -> None:
        """
        Run one mutated scenario on a fresh proxy and check that nothing went wrong.
        """
        h = TortureHarness(options)
        runScenario(h, seed, lambda data: mutateAll(data, mutations))
        settle(h, 600)
        self.assertEqual(self.flushLoggedErrors(), [])
        self.assertEqual(h.stats.get("internal_errors"), 0)
        transactions = h.service.transactions
        self.assertEqual((transactions.servers, transactions.clients), ({}, {}))
        # A response may carry on a broken header it was given (RFC 3261 section 16.3 step
        # 1); anything else the proxy sends parses again.
        self.assertEqual(h.sentGarbage(), [])

    @given(_seeds("request"), _mutations, _options)
    def test_corpusRequests(self, seed: Seed, mutations: list[Mutation], options: list[str]) -> None:
        """
        Mutated corpus requests from the caller (and the 200 to whatever is forwarded) raise
        nothing.
        """
        self.run_(seed, mutations, options)

    @given(_seeds("response", "ok"), _mutations, _options)
    def test_responses(self, seed: Seed, mutations: list[Mutation], options: list[str]) -> None:
        """
        Mutated responses from the callee, stray or to a forwarded INVITE with session
        timers, raise nothing.
        """
        self.run_(seed, mutations, options)

    @given(_seeds("invite"), _mutations, _options)
    def test_initialInvite(self, seed: Seed, mutations: list[Mutation], options: list[str]) -> None:
        """
        Mutated initial INVITEs with Session-Expires and Min-SE raise nothing, through the
        session-timer hook and the 2xx that follows.
        """
        self.run_(seed, mutations, options)

    @given(_seeds("bye", "update", "reinvite"), _mutations, _options)
    def test_inDialog(self, seed: Seed, mutations: list[Mutation], options: list[str]) -> None:
        """
        Mutated BYE, UPDATE and re-INVITE requests in an established timed dialog raise
        nothing.
        """
        self.run_(seed, mutations, options)
