"""
A C{redis-server} of the suite's own, on a free loopback port, in a temporary directory.
"""
from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import BinaryIO, Optional, Union

from twisted.trial.unittest import SkipTest

__all__ = ["RedisServer", "Reply", "requireRedis"]

#: A Redis reply as L{RedisServer.query} reads it.
Reply = Union[bytes, int, None, list["Reply"]]


def requireRedis() -> str:
    """
    @return: the path of C{redis-server}.
    @raise SkipTest: when it is not installed (C{.ci/run} installs it).
    """
    path = shutil.which("redis-server")
    if path is None:
        raise SkipTest("redis-server is not installed (Debian package redis-server)")
    return path


def _freePort() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """
    One C{redis-server} process, started and stopped by a test.

    @ivar port: its port on 127.0.0.1, kept across restarts.
    """

    def __init__(self, port: Optional[int] = None) -> None:
        self.binary = requireRedis()
        self.port = port if port is not None else _freePort()
        self.directory = tempfile.mkdtemp(prefix="sst-redis-")
        self.process: Optional[subprocess.Popen[bytes]] = None

    @property
    def url(self) -> str:
        """
        The C{--store} URL of this server.
        """
        return "redis://127.0.0.1:%d/0" % (self.port,)

    def start(self) -> None:
        """
        Start the server (empty: no persistence) and wait until it answers, for 10 s at
        most.
        """
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.directory, "--protected-mode", "no",
             "--loglevel", "warning", "--enable-debug-command", "local"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("redis-server exited with %s" % (self.process.returncode,))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("redis-server did not answer on port %d" % (self.port,))

    def command(self, *args: str | bytes) -> bytes:
        """
        Run one command over a blocking connection (for set-up and checks).

        @return: the raw reply.
        """
        raw = [a if isinstance(a, bytes) else a.encode() for a in args]
        payload = b"*%d\r\n" % len(raw) + b"".join(
            b"$%d\r\n%s\r\n" % (len(a), a) for a in raw)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(payload)
            data = b""
            while not data.endswith(b"\r\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            return data

    def query(self, *args: str | bytes) -> Reply:
        """
        Run one command over a blocking connection and read its whole reply.

        @return: the reply: bytes (status or bulk string), an int, L{None}, or a list.
        @raise RuntimeError: on an error reply.
        """
        raw = [a if isinstance(a, bytes) else a.encode() for a in args]
        payload = b"*%d\r\n" % len(raw) + b"".join(
            b"$%d\r\n%s\r\n" % (len(a), a) for a in raw)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(payload)
            reader = s.makefile("rb")
            try:
                return _readReply(reader)
            finally:
                reader.close()

    def stop(self) -> None:
        """
        Kill the server (at once: nothing to save) and wait for it.
        """
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        self.process = None

    def cleanup(self) -> None:
        """
        Stop the server and remove its directory.
        """
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def _readReply(reader: BinaryIO) -> Reply:
    """
    Read one RESP reply.
    """
    line = reader.readline()
    if not line.endswith(b"\r\n"):
        raise RuntimeError("connection closed in a reply")
    kind, body = line[:1], line[1:-2]
    if kind == b"+":
        return body
    if kind == b"-":
        raise RuntimeError(body.decode("utf-8", "replace"))
    if kind == b":":
        return int(body)
    if kind == b"$":
        size = int(body)
        if size < 0:
            return None
        data = reader.read(size + 2)
        return data[:-2]
    if kind == b"*":
        count = int(body)
        if count < 0:
            return None
        return [_readReply(reader) for _ in range(count)]
    raise RuntimeError("unknown reply %r" % (line,))
