# -*- test-case-name: sst.test.test_policies -*-
"""
Tests for L{sst.policies}: the session-timer policy plugins and how they are found. The
command-line checks of C{--policy} are in L{sst.test.test_tap}.
"""
from __future__ import annotations

from twisted.plugin import IPlugin
from twisted.trial.unittest import SynchronousTestCase

from sst.interfaces import ISessionTimerPolicy, ISessionTimerPolicyFactory
from sst.policies import DefaultPolicyFactory, NetworkPolicy, NetworkPolicyFactory, findPolicies
from sst.sessiontimer import PolicySettings
from sst.test._support import assertProvides


class ProvidesTests(SynchronousTestCase):
    """
    The shipped plugins and the policies they build provide their interfaces.
    """

    def test_pluginsFound(self) -> None:
        """
        L{findPolicies} finds the two shipped plugins, each an L{IPlugin} and an
        L{ISessionTimerPolicyFactory}.
        """
        found = findPolicies()
        self.assertIsInstance(found["default"], DefaultPolicyFactory)
        self.assertIsInstance(found["networks"], NetworkPolicyFactory)
        for plugin in (found["default"], found["networks"]):
            assertProvides(self, IPlugin, plugin)
            assertProvides(self, ISessionTimerPolicyFactory, plugin)

    def test_policiesBuilt(self) -> None:
        """
        What each plugin builds is an L{ISessionTimerPolicy}; C{networks} builds a
        L{NetworkPolicy}.
        """
        settings = PolicySettings(90, 1800, True, {"networks": "10.0.0.0/8"})
        assertProvides(self, ISessionTimerPolicy, DefaultPolicyFactory().buildPolicy(settings))
        policy = NetworkPolicyFactory().buildPolicy(settings)
        self.assertIsInstance(policy, NetworkPolicy)
        assertProvides(self, ISessionTimerPolicy, policy)
