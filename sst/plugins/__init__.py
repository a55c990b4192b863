"""
Session-timer policy plugins for sst, found with L{twisted.plugin.getPlugins}.
"""
from twisted.plugin import pluginPackagePaths

__path__.extend(pluginPackagePaths(__name__))  # type: ignore[no-untyped-call]
__all__: list[str] = []
