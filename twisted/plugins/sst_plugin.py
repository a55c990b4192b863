"""
twistd plugin for sst: C{twistd sst}.
"""
from twisted.application.service import ServiceMaker

sstService = ServiceMaker(
    "sst SIP session-timer proxy",
    "sst.tap",
    "A stateful SIP proxy / B2BUA with RFC 4028 session timers.",
    "sst",
)
