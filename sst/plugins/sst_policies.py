"""
The session-timer policies that ship with sst.
"""
from sst.policies import DefaultPolicyFactory, NetworkPolicyFactory

default = DefaultPolicyFactory()
networks = NetworkPolicyFactory()
