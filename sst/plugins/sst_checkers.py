"""
The digest-authentication checkers that ship with sst.
"""
from sst.auth.checkers import FileCheckerFactory

file = FileCheckerFactory()
