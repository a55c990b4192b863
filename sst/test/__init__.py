"""
Tests for L{sst}.
"""
