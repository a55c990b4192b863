"""
sst: a Twisted SIP proxy and back-to-back user agent built around SIP Session Timers (RFC 4028).
"""
__all__: list[str] = []
