"""The private PostgreSQL server of the ledger tests: it lives in ``smartlib_demo.postgres``
(``smartlib soak`` uses it too); re-exported here for the tests and benches."""

from smartlib_demo.postgres import PostgresUnavailable, pg_bin, private_postgres

__all__ = ["PostgresUnavailable", "pg_bin", "private_postgres"]
