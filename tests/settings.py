"""Test settings: the project's settings with a fixed key and fast hashing."""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-not-secret")
os.environ.setdefault("HYBRIDHUB_PRELOAD_LOCAL_MODELS", "false")
os.environ.setdefault("HYBRIDHUB_RETRY_BASE_SECONDS", "0.01")
os.environ.setdefault("HYBRIDHUB_CATALOG_TTL_SECONDS", "0")

from hybridhub.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
