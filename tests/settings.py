"""Test settings: the project's settings with a fixed key and fast hashing."""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "tests-only-not-secret")
os.environ.setdefault("HYBRIDHUB_PRELOAD_LOCAL_MODELS", "false")
os.environ.setdefault("HYBRIDHUB_RETRY_BASE_SECONDS", "0.01")
os.environ.setdefault("HYBRIDHUB_CATALOG_TTL_SECONDS", "0")
os.environ.setdefault("MOCKAI_API_KEY", "sk-mock-test")
# The loopback mock vendor: its key variable and its 127.0.0.1 URL are allowed
# explicitly, as a deployment with a local vLLM would (apps/providers/guards.py).
os.environ.setdefault("HYBRIDHUB_PROVIDER_KEY_ALLOW", "OPENAI_API_KEY,MOCKAI_API_KEY")
os.environ.setdefault("HYBRIDHUB_PROVIDER_ALLOW_LOOPBACK", "true")
# The shipped NER graph: nothing derived into var/ner by a test run; the tests
# of the derived graph derive it into a temporary directory.
os.environ.setdefault("HYBRIDHUB_NER_CACHE_DIR", "")
# The rule tier, unless a test switches the model on (tests/policy/test_ner.py,
# and tests/api/test_privacy_spy.py with the default "auto"): the suite's other
# expectations are the rules', and the model's milliseconds add up over it.
os.environ.setdefault("HYBRIDHUB_NER", "off")

from hybridhub.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# A file, not SQLite's shared in-memory database: the live ASGI server answers
# from its own threads, and a file with WAL lets them read while tests write.
DATABASES["default"]["TEST"] = {  # noqa: F405
    "NAME": os.path.join(tempfile.gettempdir(), f"hybridhub-test-{os.getpid()}.sqlite3")
}
