"""Test settings: the project's settings with a fixed key and fast hashing."""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "tests-only-not-secret")
os.environ.setdefault("HYBRIDHUB_PRELOAD_LOCAL_MODELS", "false")
os.environ.setdefault("HYBRIDHUB_RETRY_BASE_SECONDS", "0.01")
os.environ.setdefault("HYBRIDHUB_CATALOG_TTL_SECONDS", "0")
os.environ.setdefault("MOCKAI_API_KEY", "sk-mock-test")

from hybridhub.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# A file, not SQLite's shared in-memory database: the live ASGI server answers
# from its own threads, and a file with WAL lets them read while tests write.
DATABASES["default"]["TEST"] = {  # noqa: F405
    "NAME": os.path.join(tempfile.gettempdir(), f"hybridhub-test-{os.getpid()}.sqlite3")
}
