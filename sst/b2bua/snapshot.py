# -*- test-case-name: sst.test.test_b2bua_restore -*-
"""
What a B2BUA call is after a restart: L{CallSnapshot}, one value for the whole call, kept in
the C{extra} of both legs' dialog-table entries (under L{SNAPSHOT}) so that either entry alone
is enough to route, refresh and end the call.

It is saved by the dialog stores through L{CallSnapshot.toJSON} and L{CallSnapshot.fromJSON}
(see L{sst.store.encodeExtra}). Bodies are kept as Latin-1 text, which maps every byte to one
character and back.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from sst.values import DialogId

if TYPE_CHECKING:
    from sst.b2bua.call import Call, Leg

__all__ = ["SNAPSHOT", "LegSnapshot", "CallSnapshot", "snapshotOf"]

#: The key of a leg's table entry C{extra} under which its call's snapshot is kept.
SNAPSHOT = "b2bua_call"


@dataclass(frozen=True)
class LegSnapshot:
    """
    One leg of a call, as it was when saved: its UA dialog (RFC 3261 section 12) and its
    session timer (RFC 4028).

    @ivar callId: the leg's Call-ID.
    @ivar localTag: sst's tag.
    @ivar remoteTag: the peer's tag.
    @ivar localParty: the From value of sst's requests (its tag included).
    @ivar remoteParty: the To value of sst's requests (the peer's tag included).
    @ivar routeSet: the route set, as Route header values in sending order.
    @ivar remoteTarget: the peer's Contact URI; with the route set, where (and over which
        transport, by its C{transport} parameter) the UA core reaches the peer.
    @ivar localCSeq: the CSeq number of sst's last request (a lower bound: not every request
        is saved).
    @ivar remoteCSeq: the CSeq number of the peer's last request seen when saved, or L{None}.
    @ivar isUAC: whether sst sent the INVITE that made the dialog (the B-leg).
    @ivar contact: sst's Contact header value on the leg.
    @ivar peerAllow: the methods of the peer's last Allow (whether it takes UPDATE), or
        L{None} when it sent none.
    @ivar peerSupported: the option tags of the peer's last Supported.
    @ivar interval: the session interval, or L{None} for an untimed leg.
    @ivar weRefresh: whether sst refreshes the leg.
    @ivar minSE: the largest Min-SE seen on the leg.
    @ivar localMin: sst's own minimum for the peer's refreshes.
    @ivar localBody: the SDP sst last sent on the leg (resent by a re-INVITE refresh).
    @ivar localType: its Content-Type, or L{None}.
    @ivar remoteBody: the SDP the peer last sent (to tell a pure refresh from an offer).
    @ivar nextRefresh: when sst refreshes next, in clock seconds, or L{None}.
    @ivar noUpdate: whether the peer refused an UPDATE refresh (sst refreshes by re-INVITE).
    """

    callId: str
    localTag: str
    remoteTag: str
    localParty: str
    remoteParty: str
    routeSet: tuple[str, ...]
    remoteTarget: str
    localCSeq: int
    remoteCSeq: Optional[int]
    isUAC: bool
    contact: str
    peerAllow: Optional[frozenset[str]]
    peerSupported: frozenset[str]
    interval: Optional[int]
    weRefresh: bool
    minSE: int
    localMin: int
    localBody: bytes
    localType: Optional[str]
    remoteBody: bytes
    nextRefresh: Optional[float]
    noUpdate: bool

    @property
    def tableId(self) -> DialogId:
        """
        The leg's identifier in the dialog table (caller's tag first).
        """
        if self.isUAC:
            return DialogId(self.callId, self.localTag, self.remoteTag)
        return DialogId(self.callId, self.remoteTag, self.localTag)

    @classmethod
    def of(cls, leg: "Leg") -> "LegSnapshot":
        """
        Take the snapshot of a leg that has a UA dialog.

        @raise ValueError: if the leg has no UA dialog.
        """
        dialog = leg.dialog
        if dialog is None:
            raise ValueError("leg %s has no dialog" % (leg.name,))
        return cls(
            callId=dialog.callId, localTag=dialog.localTag, remoteTag=dialog.remoteTag,
            localParty=dialog.localParty, remoteParty=dialog.remoteParty,
            routeSet=tuple(dialog.routeSet), remoteTarget=dialog.remoteTarget,
            localCSeq=dialog.localCSeq, remoteCSeq=dialog.remoteCSeq, isUAC=dialog.isUAC,
            contact=dialog.contact, peerAllow=dialog.peerAllow,
            peerSupported=dialog.peerSupported, interval=leg.interval,
            weRefresh=leg.weRefresh, minSE=leg.minSE, localMin=leg.localMin,
            localBody=leg.localBody, localType=leg.localType, remoteBody=leg.remoteBody,
            nextRefresh=leg.nextRefresh, noUpdate=leg.noUpdate)

    def toJSON(self) -> dict[str, object]:
        """
        @return: the leg as a JSON object.
        """
        return {
            "call_id": self.callId, "local_tag": self.localTag, "remote_tag": self.remoteTag,
            "local_party": self.localParty, "remote_party": self.remoteParty,
            "route_set": list(self.routeSet), "remote_target": self.remoteTarget,
            "local_cseq": self.localCSeq, "remote_cseq": self.remoteCSeq,
            "uac": self.isUAC, "contact": self.contact,
            "peer_allow": None if self.peerAllow is None else sorted(self.peerAllow),
            "peer_supported": sorted(self.peerSupported),
            "interval": self.interval, "we_refresh": self.weRefresh, "min_se": self.minSE,
            "local_min": self.localMin, "local_body": self.localBody.decode("latin-1"),
            "local_type": self.localType, "remote_body": self.remoteBody.decode("latin-1"),
            "next_refresh": self.nextRefresh, "no_update": self.noUpdate,
        }

    @classmethod
    def fromJSON(cls, document: object) -> "LegSnapshot":
        """
        Rebuild a leg from L{toJSON}'s object.

        @raise ValueError: if C{document} is not such an object.
        """
        d = _Reader(document)
        peerAllow = d.optional("peer_allow", list)
        return cls(
            callId=d.text("call_id"), localTag=d.text("local_tag"),
            remoteTag=d.text("remote_tag"), localParty=d.text("local_party"),
            remoteParty=d.text("remote_party"), routeSet=tuple(d.texts("route_set")),
            remoteTarget=d.text("remote_target"), localCSeq=d.integer("local_cseq"),
            remoteCSeq=d.optional("remote_cseq", int), isUAC=d.flag("uac"),
            contact=d.text("contact"),
            peerAllow=None if peerAllow is None else frozenset(d.texts("peer_allow")),
            peerSupported=frozenset(d.texts("peer_supported")),
            interval=d.optional("interval", int), weRefresh=d.flag("we_refresh"),
            minSE=d.integer("min_se"), localMin=d.integer("local_min"),
            localBody=d.text("local_body").encode("latin-1"),
            localType=d.optional("local_type", str),
            remoteBody=d.text("remote_body").encode("latin-1"),
            nextRefresh=d.number("next_refresh"), noUpdate=d.flag("no_update"))


@dataclass(frozen=True)
class CallSnapshot:
    """
    A whole call of the B2BUA, as it was when saved.

    @ivar key: the call's key in L{B2BUA.calls<sst.b2bua.core.B2BUA.calls>}.
    @ivar a: the A-leg (with the caller; sst is the UAS).
    @ivar b: the B-leg (with the callee; sst is the UAC).
    """

    key: str
    a: LegSnapshot
    b: LegSnapshot

    @property
    def callId(self) -> str:
        """
        The A-leg Call-ID (the call's, as C{/dialogs} shows it).
        """
        return self.a.callId

    @property
    def bCallId(self) -> str:
        """
        The B-leg Call-ID.
        """
        return self.b.callId

    def leg(self, tableId: DialogId) -> Optional[str]:
        """
        @return: C{"a"} or C{"b"}, the leg whose table identifier is C{tableId}, or L{None}.
        """
        for name, leg in (("a", self.a), ("b", self.b)):
            if leg.tableId == tableId:
                return name
        return None

    def toJSON(self) -> dict[str, object]:
        """
        @return: the call as a JSON object.
        """
        return {"key": self.key, "a": self.a.toJSON(), "b": self.b.toJSON()}

    @classmethod
    def fromJSON(cls, document: object) -> "CallSnapshot":
        """
        Rebuild a call from L{toJSON}'s object.

        @raise ValueError: if C{document} is not such an object.
        """
        d = _Reader(document)
        return cls(d.text("key"), LegSnapshot.fromJSON(d.value("a")),
                   LegSnapshot.fromJSON(d.value("b")))


def snapshotOf(call: "Call") -> Optional[CallSnapshot]:
    """
    Take the snapshot of a call whose two legs have UA dialogs.

    @return: the snapshot, or L{None} when a leg has no UA dialog (not up yet, or ended).
    """
    if call.a.dialog is None or call.b.dialog is None:
        return None
    return CallSnapshot(call.key, LegSnapshot.of(call.a), LegSnapshot.of(call.b))


class _Reader:
    """
    Reads the members of a JSON object, raising L{ValueError} on a missing or mistyped one.
    """

    def __init__(self, document: object) -> None:
        if not isinstance(document, dict):
            raise ValueError("expected a JSON object, not %r" % (document,))
        self._document: dict[str, Any] = document

    def value(self, name: str) -> object:
        if name not in self._document:
            raise ValueError("missing %r" % (name,))
        return self._document[name]

    def _typed(self, name: str, kind: type) -> Any:
        value = self.value(name)
        # bool is an int in Python, but not an integer here.
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise ValueError("%r must be %s, not %r" % (name, kind.__name__, value))
        return value

    def text(self, name: str) -> str:
        return self._typed(name, str)  # type: ignore[no-any-return]

    def integer(self, name: str) -> int:
        return self._typed(name, int)  # type: ignore[no-any-return]

    def flag(self, name: str) -> bool:
        return self._typed(name, bool)  # type: ignore[no-any-return]

    def optional(self, name: str, kind: type) -> Any:
        if self.value(name) is None:
            return None
        return self._typed(name, kind)

    def number(self, name: str) -> Optional[float]:
        value = self.value(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError("%r must be a number, not %r" % (name, value))
        return float(value)

    def texts(self, name: str) -> list[str]:
        values = self._typed(name, list)
        if not all(isinstance(v, str) for v in values):
            raise ValueError("%r must be a list of strings, not %r" % (name, values))
        return list(values)
