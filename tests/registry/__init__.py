"""Tests of shipyard.registry."""
