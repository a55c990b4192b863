# -*- test-case-name: sst.test.test_stats -*-
"""
Counters for operators: messages in and out, parse errors, dialogs, session timers.

The seed module's C{enable_stats} parameter maps to L{Stats.enabled}: when off, nothing is
counted and L{Stats.snapshot} says so.

Every counter is registered here, in L{COUNTERS} with its L{DESCRIPTIONS} line; a name that
is not (a typo, or a counter a change forgot to register) is rejected with L{UnknownCounter}
rather than silently creating a series nobody documents.
"""
from __future__ import annotations

from typing import Mapping

__all__ = ["Stats", "COUNTERS", "DESCRIPTIONS", "UnknownCounter"]

#: Every counter, always present in a snapshot, so that consumers see zeros rather than gaps.
COUNTERS = (
    "requests_in",
    "requests_out",
    "responses_in",
    "responses_out",
    "bytes_in",
    "bytes_out",
    "parse_errors",
    "dropped",
    "send_errors",
    "internal_errors",
    "retransmissions",
    "transactions_timed_out",
    "expired_sst",
    "rejected_422",
    "dialogs_created",
    "dialogs_terminated",
    "dialogs_expired",
    "overload_rejected",
    "expiry_byes",
    "relay_denied",
    "options_answered",
    "flood_offenders",
    "flood_blocked",
    "refreshes_sent",
    "refreshes_received",
    "refreshes_failed",
    "b2bua_422_retried",
    "b2bua_422_given_up",
    "handoffs_out",
    "handoffs_in",
    "handoff_dropped",
    "auth_challenges",
    "auth_ok",
    "auth_failures",
    "auth_stale",
    "auth_replays",
    "auth_forbidden",
    "redis_errors",
    "cluster_loaded",
    "cluster_claimed",
    "cluster_rearmed",
    "cluster_handed_over",
    "cluster_local_expiries",
)

#: What each counter in L{COUNTERS} counts, for exports such as Prometheus C{HELP} lines.
DESCRIPTIONS: Mapping[str, str] = {
    "requests_in": "SIP requests received and parsed",
    "requests_out": "SIP requests sent, retransmissions included",
    "responses_in": "SIP responses received and parsed",
    "responses_out": "SIP responses sent",
    "bytes_in": "Bytes of SIP received",
    "bytes_out": "Bytes of SIP sent",
    "parse_errors": "SIP messages that could not be parsed",
    "dropped": "SIP messages dropped without an answer",
    "send_errors": "SIP messages that could not be sent",
    "internal_errors": "Unexpected errors while handling SIP messages",
    "retransmissions": "SIP messages retransmitted by a transaction",
    "transactions_timed_out": "SIP transactions that timed out",
    "expired_sst": "Dialogs with a session timer that expired without a refresh",
    "rejected_422": "Requests rejected with 422 Session Interval Too Small",
    "dialogs_created": "Dialogs created",
    "dialogs_terminated": "Dialogs terminated",
    "dialogs_expired": "Dialogs that expired",
    "overload_rejected": "Requests or dialogs refused because sst was overloaded",
    "expiry_byes": "BYE requests sent because a session timer expired (--bye-on-expiry)",
    "relay_denied": "Requests refused (403) or ACKs dropped because sst does not relay for "
                    "that domain (see --relay-network)",
    "handoffs_out": "SIP messages this worker received and handed to the worker that owns "
                    "their Call-ID (--workers)",
    "handoffs_in": "SIP messages another worker received and handed to this one (--workers)",
    "handoff_dropped": "Messages to another worker lost because its inbox was full "
                       "(--workers; SIP retransmits them)",
    "flood_offenders": "Sources blocked for sending more requests than --flood-limit allows",
    "flood_blocked": "Requests dropped or answered 503 because their source was blocked "
                     "(--flood-limit)",
    "options_answered": "OPTIONS requests for the proxy itself answered 200 (health checks)",
    "refreshes_sent": "Session refreshes the B2BUA sent on either leg",
    "refreshes_received": "Session refreshes the B2BUA received and answered on either leg",
    "refreshes_failed": "Session refreshes the B2BUA sent that failed (the call was ended)",
    "b2bua_422_retried": "B-leg INVITEs the B2BUA retried after a 422 with a larger Min-SE",
    "b2bua_422_given_up": "B-leg INVITEs the B2BUA gave up on after repeated 422s",
    "auth_challenges": "Digest challenges sent (401 or 407), stale ones included",
    "auth_ok": "Requests whose digest credentials were accepted",
    "auth_failures": "Digest credentials refused: unknown user, wrong response, forged "
                     "nonce or unusable credentials (answered with a new challenge)",
    "auth_stale": "Correct digest credentials with an expired nonce (challenged with "
                  "stale=true)",
    "auth_replays": "Digest credentials whose nc was not above the last one seen with their "
                    "nonce (challenged with stale=true)",
    "auth_forbidden": "Requests answered 403 because the authenticated user is not the "
                      "address of record they speak for, or that is not in our domains",
    "redis_errors": "Commands to Redis (--store redis) that failed: no connection, no reply "
    "in time, or an error",
    "cluster_loaded": "Dialogs another node made, read from Redis for an in-dialog request "
    "this node took",
    "cluster_claimed": "Overdue dialogs of dead nodes this node took over",
    "cluster_rearmed": "Expiry timers re-armed because another node refreshed the dialog",
    "cluster_handed_over": "Dialogs dropped from memory at their timer because they ended "
    "on another node or a live node owns them",
    "cluster_local_expiries": "Dialogs expired without asking Redis, which was unreachable",
}


class UnknownCounter(KeyError):
    """
    A counter name that is not registered in L{COUNTERS}.
    """

    def __str__(self) -> str:
        return "unknown counter %r: register it in sst.stats.COUNTERS" % (self.args[0],)


class Stats:
    """
    A set of named integer counters.

    A hot path adds to L{counters} in place (C{stats.counters["bytes_in"] += n}), which
    costs no call; elsewhere L{increment} does the same with a clearer error.
    """

    __slots__ = ("_enabled", "_counters", "counters")

    def __init__(self, enabled: bool = True) -> None:
        self._counters: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        #: The counters to add to in place: the live ones when enabled, else a scratch
        #: copy that nothing reads. Only the names in L{COUNTERS} are keys, so any other
        #: raises C{KeyError}.
        self.counters: dict[str, int] = self._counters
        self.enabled = enabled

    @property
    def enabled(self) -> bool:
        """
        Whether counting is on (the seed's C{enable_stats}).
        """
        return self._enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        self._enabled = value
        self.counters = self._counters if value else dict.fromkeys(COUNTERS, 0)

    def increment(self, name: str, amount: int = 1) -> None:
        """
        Add C{amount} to counter C{name}, when enabled.

        @raise UnknownCounter: when C{name} is not in L{COUNTERS}.
        """
        try:
            self.counters[name] += amount
        except KeyError:
            raise UnknownCounter(name) from None

    def get(self, name: str) -> int:
        """
        @return: the value of counter C{name} (0 when never incremented or disabled).
        @raise UnknownCounter: when C{name} is not in L{COUNTERS}.
        """
        try:
            return self._counters[name]
        except KeyError:
            raise UnknownCounter(name) from None

    def snapshot(self) -> dict[str, int]:
        """
        @return: a copy of every counter.
        """
        return dict(self._counters)
