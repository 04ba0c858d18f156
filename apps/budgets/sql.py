"""Running the request path's few budget statements.

On PostgreSQL each runs as a prepared statement (server-side binding): the
server parses and plans it once per connection instead of on every request.
Django's own cursors bind parameters on the client, so they cannot; the
statements are written so that their text does not change from request to
request (arrays rather than lists of ids). On SQLite, Django's cursor.
"""

from __future__ import annotations

from typing import Any

from django.db import connection


def fetch_all(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    """Run one statement and return its rows (none for a statement without)."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else []
    import psycopg  # the postgres extra; only reached on PostgreSQL

    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, prepare=True)
        return cursor.fetchall() if cursor.description else []
