"""What a failed login costs before and after the lockout (docs/security.md).

    .venv/bin/python bench/login_throttle.py

Uses the production password hasher (PBKDF2) on a throwaway SQLite database:
median time of a wrong-password login while the account is not yet locked,
and of any login once it is (refused before a hasher runs).
"""

from __future__ import annotations

import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

workdir = Path(tempfile.mkdtemp(prefix="hybridhub-login-"))
os.environ.update(
    DJANGO_SETTINGS_MODULE="hybridhub.settings",
    SECRET_KEY="bench-only",
    DATABASE_URL=f"sqlite:///{workdir / 'db.sqlite3'}",
    LOG_LEVEL="ERROR",
    HYBRIDHUB_LOGIN_FAILURE_LIMIT="5",
)

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402


def timed(client: Client, address: str, password: str) -> tuple[float, int]:
    started = time.perf_counter()
    response = client.post(
        "/accounts/login/", {"username": "admin", "password": password}, REMOTE_ADDR=address
    )
    return (time.perf_counter() - started) * 1000, response.status_code


def main() -> None:
    logging.disable(logging.WARNING)  # axes warns on every locked-out attempt
    setup_test_environment()
    call_command("migrate", verbosity=0)
    User.objects.create_user("admin", password="correct horse battery staple")
    client = Client()
    before = [timed(client, f"10.0.0.{i}", "wrong") for i in range(4)]
    timed(client, "10.0.0.9", "wrong")  # the fifth failure locks the account
    after = [timed(client, f"10.0.1.{i}", "correct horse battery staple") for i in range(50)]
    assert all(status == 429 for _, status in after)
    print(f"failed login, not locked:  median {statistics.median(t for t, _ in before):.1f} ms")
    print(f"any login, account locked: median {statistics.median(t for t, _ in after):.1f} ms")


if __name__ == "__main__":
    main()
