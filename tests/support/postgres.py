"""The tests' private PostgreSQL server: it lives in ``smartlib_demo.postgres`` (``smartlib
soak`` uses it too); re-exported here for the tests' fixtures and the benches."""

from smartlib_demo.postgres import (
    INSTALL_HINT,
    PostgresUnavailable,
    PrivatePostgres,
    pg_bin,
    private_postgres,
)

__all__ = ["INSTALL_HINT", "PostgresUnavailable", "PrivatePostgres", "pg_bin", "private_postgres"]
