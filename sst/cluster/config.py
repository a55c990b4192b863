# -*- test-case-name: sst.test.test_cluster_config -*-
"""
The C{--store} option's Redis URL, and the default C{--node-id}.
"""
from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Optional
from urllib.parse import unquote, urlsplit

__all__ = ["RedisURL", "parseRedisURL", "defaultNodeId"]


@dataclass(frozen=True)
class RedisURL:
    """
    Where the shared dialog table is.

    @ivar host: the server's host name or address.
    @ivar port: its port.
    @ivar db: the database number.
    @ivar username: the ACL user (Redis 6 and later), or L{None}.
    @ivar password: the password, or L{None}.
    @ivar tls: whether to connect with TLS (C{rediss://}).
    """

    host: str
    port: int = 6379
    db: int = 0
    username: Optional[str] = None
    password: Optional[str] = None
    tls: bool = False

    def __str__(self) -> str:
        scheme = "rediss" if self.tls else "redis"
        secret = "***@" if self.password is not None else ""
        host = "[%s]" % (self.host,) if ":" in self.host else self.host
        return "%s://%s%s:%d/%d" % (scheme, secret, host, self.port, self.db)


def parseRedisURL(text: str) -> RedisURL:
    """
    Read C{redis://[[user]:password@]host[:port][/db]} (C{rediss://} for TLS).

    @param text: the URL.
    @return: what it says.
    @raise ValueError: with the reason, when it is not such a URL.
    """
    parts = urlsplit(text)
    if parts.scheme not in ("redis", "rediss"):
        raise ValueError("%r is not a redis:// or rediss:// URL" % (text,))
    if parts.query or parts.fragment:
        raise ValueError("%r: a Redis URL takes no query or fragment" % (text,))
    try:
        port = parts.port
    except ValueError as e:
        raise ValueError("%r: bad port: %s" % (text, e)) from e
    host = parts.hostname
    if not host:
        raise ValueError("%r names no host" % (text,))
    path = parts.path.strip("/")
    if path and not path.isdigit():
        raise ValueError("%r: the database must be a number, not %r" % (text, path))
    db = int(path) if path else 0
    if db > 65535:
        raise ValueError("%r: database %d is out of range" % (text, db))
    password = unquote(parts.password) if parts.password is not None else None
    username = unquote(parts.username) if parts.username else None
    if username is not None and password is None:
        # redis://secret@host: a password alone, as most clients read it.
        username, password = None, username
    return RedisURL(host, 6379 if port is None else port, db, username, password,
                    parts.scheme == "rediss")


def defaultNodeId(port: int) -> str:
    """
    @param port: the node's SIP port.
    @return: the default C{--node-id}: the host name and the SIP port.
    """
    return "%s:%d" % (socket.gethostname(), port)
