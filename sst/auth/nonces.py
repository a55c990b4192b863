# -*- test-case-name: sst.test.test_auth -*-
"""
Nonces bound to this server, kept by no table until used, and the replay check of their
C{nc} counts.

A nonce is C{base64url(issued + salt + HMAC-SHA256(key, issued + salt + realm))}: C{issued}
the issuing time in milliseconds (8 bytes, big-endian), C{salt} 8 random bytes so that two
clients challenged in the same millisecond get different nonces (their C{nc} counts are
tracked apart). Only a server holding C{key} makes nonces that verify: the key is made at
start-up (L{os.urandom}) or read from C{--auth-nonce-key}, so that nonces outlive a restart
and are shared by the processes of one deployment.

A nonce older than the lifetime is I{stale} (RFC 7616 section 3.3: the client retries with
a new nonce, without asking its user again). Each C{nc} a client sends with a nonce must be
larger than the last one accepted (RFC 7616 section 3.4: replay protection); the highest is
kept per nonce until the nonce expires, at most L{NonceService.maxTracked} of them.

@see: U{https://www.rfc-editor.org/rfc/rfc7616#section-5.4}
"""
from __future__ import annotations

import base64
import binascii
import heapq
import hmac
import os
import struct
from enum import Enum
from hashlib import sha256

from twisted.internet.interfaces import IReactorTime

__all__ = ["NonceService", "NonceState", "MIN_KEY_SIZE"]

#: The fewest bytes a nonce key may have.
MIN_KEY_SIZE = 16

_ISSUED = struct.Struct(">Q")
_SALT_SIZE = 8
_MAC_SIZE = 16
_SIZE = _ISSUED.size + _SALT_SIZE + _MAC_SIZE


class NonceState(Enum):
    """
    What L{NonceService.check} found.
    """

    #: Made by this server (with its key) for this realm, and not expired.
    VALID = "valid"
    #: Made by this server for this realm, but expired: the client may retry at once.
    STALE = "stale"
    #: Not made by this server for this realm (forged, damaged, another realm's).
    INVALID = "invalid"


class NonceService:
    """
    Issues and checks nonces, and keeps the highest C{nc} accepted with each nonce.

    @ivar lifetime: seconds a nonce stays valid.
    @ivar maxTracked: the most nonces whose C{nc} is remembered; past it, the nonce that
        expires first is forgotten, and any nonce issued as early becomes stale.
    """

    def __init__(self, clock: IReactorTime, key: bytes, lifetime: float = 300.0,
                 maxTracked: int = 100000) -> None:
        """
        @param clock: tells the time.
        @param key: the HMAC key (at least L{MIN_KEY_SIZE} bytes).
        @raise ValueError: when C{key} is too short.
        """
        if len(key) < MIN_KEY_SIZE:
            raise ValueError("the nonce key must have at least %d bytes" % (MIN_KEY_SIZE,))
        self.clock = clock
        self._key = key
        self.lifetime = lifetime
        self.maxTracked = maxTracked
        #: The highest C{nc} accepted, by nonce.
        self._counts: dict[str, int] = {}
        #: (expiry in milliseconds, nonce) of every nonce in L{_counts}.
        self._expiries: list[tuple[int, str]] = []
        #: Nonces that expire at or before this (milliseconds) are stale: their counts may
        #: have been forgotten to keep within L{maxTracked}.
        self._floor = 0

    def _now(self) -> int:
        return int(self.clock.seconds() * 1000)

    def _mac(self, head: bytes, realm: str) -> bytes:
        return hmac.new(self._key, head + realm.encode("utf-8"), sha256).digest()[:_MAC_SIZE]

    def issue(self, realm: str) -> str:
        """
        @return: a new nonce for C{realm}.
        """
        head = _ISSUED.pack(self._now()) + os.urandom(_SALT_SIZE)
        return base64.urlsafe_b64encode(head + self._mac(head, realm)).decode("ascii")

    def _issued(self, nonce: str, realm: str) -> int:
        """
        @return: when C{nonce} was issued for C{realm}, in milliseconds, or -1 when this
            server did not issue it.
        """
        if len(nonce) != 4 * ((_SIZE + 2) // 3):
            return -1
        try:
            raw = base64.urlsafe_b64decode(nonce.encode("ascii"))
        except (binascii.Error, ValueError, UnicodeEncodeError):
            return -1
        if len(raw) != _SIZE:
            return -1
        head, mac = raw[: -_MAC_SIZE], raw[-_MAC_SIZE:]
        if not hmac.compare_digest(mac, self._mac(head, realm)):
            return -1
        return int(_ISSUED.unpack(head[: _ISSUED.size])[0])

    def check(self, nonce: str, realm: str) -> NonceState:
        """
        Whether C{nonce} is one this server issued for C{realm}, and still valid.
        """
        issued = self._issued(nonce, realm)
        if issued < 0:
            return NonceState.INVALID
        expires = issued + int(self.lifetime * 1000)
        if expires <= self._now() or expires <= self._floor:
            return NonceState.STALE
        return NonceState.VALID

    def useCount(self, nonce: str, nc: int) -> bool:
        """
        Accept C{nc} for C{nonce} (which L{check} found valid) only when it is larger than
        every count accepted before with it, and remember it.

        @return: whether it was accepted (L{False}: a replay).
        """
        now = self._now()
        self._forget(now)
        last = self._counts.get(nonce)
        if last is not None:
            if nc <= last:
                return False
            self._counts[nonce] = nc
            return True
        issued = int(_ISSUED.unpack(base64.urlsafe_b64decode(nonce)[: _ISSUED.size])[0])
        expires = issued + int(self.lifetime * 1000)
        if expires <= self._floor:
            return False
        if len(self._counts) >= self.maxTracked:
            dropped, old = heapq.heappop(self._expiries)
            del self._counts[old]
            self._floor = max(self._floor, dropped)
            if expires <= self._floor:
                return False
        self._counts[nonce] = nc
        heapq.heappush(self._expiries, (expires, nonce))
        return True

    def _forget(self, now: int) -> None:
        """
        Drop the counts of the nonces expired by C{now}.
        """
        expiries = self._expiries
        while expiries and expiries[0][0] <= now:
            _, nonce = heapq.heappop(expiries)
            del self._counts[nonce]

    def __len__(self) -> int:
        """
        @return: how many nonces' counts are remembered.
        """
        return len(self._counts)
