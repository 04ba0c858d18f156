"""Running the request path's few budget statements.

On PostgreSQL each runs as a prepared statement (server-side binding): the
server parses and plans it once per connection instead of on every request.
Django's own cursors bind parameters on the client, so they cannot; the
statements are written so that their text does not change from request to
request (arrays rather than lists of ids).

On SQLite they run on the sqlite3 connection itself, and a write is one
``BEGIN IMMEDIATE`` … ``COMMIT``: Django's cursor wrappers and ``atomic()``
bookkeeping cost about five times the CPU of such a transaction. Inside a
transaction Django opened (``atomic``), its savepoint is used as usual.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from django.db import connection, transaction


def fetch_all(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    """Run one statement and return its rows (none for a statement without)."""
    vendor = connection.vendor
    if vendor == "sqlite":
        with connection.wrap_database_errors:
            return list(_raw().execute(_qmark(sql), params).fetchall())
    if vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else []
    import psycopg  # the postgres extra; only reached on PostgreSQL

    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, prepare=True)
        return cursor.fetchall() if cursor.description else []


@contextmanager
def write_transaction() -> Iterator[None]:
    """One short write transaction: on SQLite (outside any atomic block) it
    takes the write lock from its first statement, like Django's
    ``transaction_mode=IMMEDIATE``; an exception rolls it back and goes on."""
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        with transaction.atomic():
            yield
        return
    raw = _raw()
    with connection.wrap_database_errors:
        raw.execute("BEGIN IMMEDIATE")
    try:
        yield
        with connection.wrap_database_errors:
            raw.execute("COMMIT")
    except BaseException:
        if raw.in_transaction:
            raw.execute("ROLLBACK")
        raise


def _raw() -> Any:
    connection.ensure_connection()
    return connection.connection


@lru_cache(maxsize=64)
def _qmark(sql: str) -> str:
    """Django's ``%s`` placeholders as sqlite3's ``?`` (the statements hold no literal %)."""
    return sql.replace("%s", "?")
