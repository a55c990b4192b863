# -*- test-case-name: sst.test.test_cluster_store -*-
"""
How a dialog is kept in Redis: L{Keys} names the keys, L{saveArguments} turns a
L{Dialog} into the fields of its hash, and L{SavedDialog} reads a hash back.

A dialog's hash (C{<prefix>d:<Call-ID> <From tag> <To tag>}) has the fields:

  - C{c}, C{f}, C{t}: the Call-ID and the caller's and callee's tags;
  - C{s}: C{early} or C{confirmed};
  - C{i}, C{r}: the session interval and refresher (C{uac} or C{uas}), empty when untimed;
  - C{ca}, C{ea}: when it was created and when it expires, in wall-clock seconds;
  - C{x}: L{Dialog.extra} as L{encodeExtra<sst.store.encodeExtra>} saves it: with
    C{--bye-on-expiry} the tags, CSeqs, route sets and contacts BYE needs, and in B2BUA
    mode both legs of the call;
  - C{o}: the node that owns it;
  - C{g}: in B2BUA mode, the key of the set of the call's dialogs (C{<prefix>g:<A-leg
    Call-ID>}), so that a sweeper takes both legs over together.

Strings are sent as UTF-8 (any character the parser produced, each octet of the message
read as Latin-1, comes back unchanged).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

from sst.dialogs import Dialog, DialogId, DialogState
from sst.store import decodeExtra, encodeExtra

__all__ = ["Keys", "SavedDialog", "saveArguments", "nextAction"]


class Keys:
    """
    The names of the cluster's keys, under one prefix.

    @ivar prefix: the prefix of every key (C{sst:} by default).
    @ivar deadlines: the sorted set of deadlines.
    @ivar alive: the prefix of the liveness keys; a node's is this and its name.
    @ivar nodes: the prefix of the node sets (the keys of the dialogs each node owns).
    """

    def __init__(self, prefix: str = "sst:") -> None:
        self.prefix = prefix
        self._dialog = prefix + "d:"
        self.deadlines = (prefix + "deadlines").encode("utf-8")
        self.alive = (prefix + "alive:").encode("utf-8")
        self.nodes = (prefix + "n:").encode("utf-8")

    def dialogName(self, callId: str, fromTag: str, toTag: str) -> str:
        """
        @return: the key of a dialog's hash, as text.
        """
        return "%s%s %s %s" % (self._dialog, callId, fromTag, toTag)

    def groupName(self, name: str) -> str:
        """
        @return: the key of the set of a group's dialogs (a B2BUA call's legs).
        """
        return "%sg:%s" % (self.prefix, name)

    def dialog(self, callId: str, fromTag: str, toTag: str) -> bytes:
        """
        @return: the key of a dialog's hash.
        """
        return self.dialogName(callId, fromTag, toTag).encode("utf-8")

    def aliveKey(self, node: str) -> bytes:
        """
        @return: the liveness key of C{node}.
        """
        return self.alive + node.encode("utf-8")


def nextAction(dialog: Dialog) -> float:
    """
    When the owner of C{dialog} must act next: its expiry, or the B2BUA's next refresh of
    the leg when sooner.  The deadline set scores the dialog with it, so that the sweepers
    take over a dead node's call in time to refresh it.
    """
    extra = dialog.extra
    if extra:
        refresh = extra.get("next_refresh")
        if isinstance(refresh, (int, float)) and refresh < dialog.expiresAt:
            return float(refresh)
    return dialog.expiresAt


def saveArguments(keys: Keys, dialog: Dialog) -> list[str]:
    """
    @return: one save of L{sst.cluster.scripts.WRITE}: the key, the score, the fields and
        the group (the A-leg Call-ID of a B2BUA leg, C{extra["call"]}).
    """
    dialogId = dialog.id
    interval = dialog.interval
    extra = dialog.extra
    group = extra.get("call") if extra else None
    return [
        keys.dialogName(dialogId.callId, dialogId.fromTag, dialogId.toTag),
        repr(nextAction(dialog)),
        dialogId.callId,
        dialogId.fromTag,
        dialogId.toTag,
        dialog.state.value,
        "" if interval is None else str(interval),
        dialog.refresher or "",
        repr(dialog.createdAt),
        repr(dialog.expiresAt),
        encodeExtra(extra) or "" if extra else "",
        keys.groupName(group) if isinstance(group, str) else "",
    ]


@dataclass
class SavedDialog:
    """
    A dialog as Redis holds it.
    """

    id: DialogId
    state: DialogState
    interval: Optional[int]
    refresher: Optional[str]
    createdAt: float
    expiresAt: float
    extra: Optional[dict[str, Any]]
    owner: str

    @classmethod
    def fromHash(cls, flat: Sequence[bytes]) -> "SavedDialog":
        """
        Read a hash as C{HGETALL} returns it (field, value, field, value...).

        @raise ValueError: when a field is missing or unreadable.
        """
        fields = {flat[n]: flat[n + 1] for n in range(0, len(flat) - 1, 2)}
        try:
            dialogId = DialogId(fields[b"c"].decode("utf-8"), fields[b"f"].decode("utf-8"),
                                fields[b"t"].decode("utf-8"))
            state = DialogState(fields[b"s"].decode("ascii"))
            interval = int(fields[b"i"]) if fields[b"i"] else None
            refresher = fields[b"r"].decode("ascii") or None
            createdAt = float(fields[b"ca"])
            expiresAt = float(fields[b"ea"])
            extra = decodeExtra(fields[b"x"].decode("utf-8")) if fields[b"x"] else None
            owner = fields[b"o"].decode("utf-8")
        except (KeyError, UnicodeDecodeError) as e:
            raise ValueError("unreadable dialog hash: %s" % (e,)) from e
        if state is DialogState.TERMINATED:
            raise ValueError("a terminated dialog in Redis")
        if interval is not None and interval <= 0 or refresher not in (None, "uac", "uas"):
            raise ValueError("bad session timer %r/%r" % (interval, refresher))
        return cls(dialogId, state, interval, refresher, createdAt, expiresAt, extra, owner)
