"""Test support: private brokers, pcscd, pty pairs and leak tracking."""
