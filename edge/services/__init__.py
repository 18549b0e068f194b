"""Circulation, sessions, security writes and gate logic."""
