# -*- test-case-name: sst.test.test_workers -*-
"""
What the parent tells a worker it starts (C{--workers N}): the command line, which worker it
is, the sockets it inherits and where it serves its management API.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from sst.address import Address

__all__ = ["WorkerSpec"]


@dataclass
class WorkerSpec:
    """
    One worker's start-up description, passed as JSON on its command line.

    @ivar index: the worker's number, from 0.
    @ivar workers: how many workers there are.
    @ivar argv: the C{twistd sst} options, as given to the parent.
    @ivar listen: the SIP sockets the worker inherits: each listen address (its port the
        one bound) and the descriptor of this worker's socket bound to it.
    @ivar inbox: the descriptor the worker reads hand-offs from.
    @ivar outboxes: the descriptors of every worker's inbox, by index.
    @ivar management: the unix socket path of the worker's management API.
    """

    index: int
    workers: int
    argv: list[str]
    listen: list[tuple[Address, int]] = field(default_factory=list)
    inbox: int = -1
    outboxes: list[int] = field(default_factory=list)
    management: str = ""

    def descriptors(self) -> list[int]:
        """
        @return: every descriptor the worker inherits.
        """
        return [fd for _, fd in self.listen] + [self.inbox] + self.outboxes

    def toJSON(self) -> str:
        """
        @return: the spec as JSON text.
        """
        return json.dumps({
            "index": self.index, "workers": self.workers, "argv": self.argv,
            "listen": [[a.transport, a.host, a.port, fd] for a, fd in self.listen],
            "inbox": self.inbox, "outboxes": self.outboxes, "management": self.management,
        })

    @classmethod
    def fromJSON(cls, text: str) -> "WorkerSpec":
        """
        @return: the spec L{toJSON} wrote.
        @raise ValueError: when C{text} is not one.
        """
        try:
            data = json.loads(text)
            return cls(
                int(data["index"]), int(data["workers"]), [str(a) for a in data["argv"]],
                [(Address(str(t), str(h), int(p)), int(fd)) for t, h, p, fd in data["listen"]],
                int(data["inbox"]), [int(fd) for fd in data["outboxes"]],
                str(data["management"]))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError("not a worker spec: %s" % (e,))
