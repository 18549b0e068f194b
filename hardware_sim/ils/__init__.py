"""The demo ILS: a SIP2 server over its own SQLite database."""
