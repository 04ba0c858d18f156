"""Settings: every knob comes from the environment (documented in .env.example).

Defaults give a working single machine: SQLite and the in-memory channel layer.
``DATABASE_URL`` and ``REDIS_URL`` switch to PostgreSQL and Redis.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
import phonenumbers
from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv

BASE_DIR = Path(__file__).resolve().parent.parent
load_dotenv(BASE_DIR / ".env")  # real environment variables win over the file


def envbool(name: str, default: str) -> bool:
    return os.getenv(name, default).strip().lower() in ("1", "true", "yes", "on")


def envint(name: str, default: str) -> int:
    return int(os.getenv(name, default))


def envfloat(name: str, default: str) -> float:
    return float(os.getenv(name, default))


def envswitch(name: str, default: str) -> str:
    """One of auto, on or off (on and off also as true/false, yes/no, 1/0)."""
    value = os.getenv(name, default).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return "on"
    if value in ("0", "false", "no", "off"):
        return "off"
    if value == "auto":
        return value
    raise ImproperlyConfigured(f"{name} must be auto, on or off, not {value!r}.")


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.getenv(name, default).split(",") if item.strip()]


DEBUG = envbool("DEBUG", "false")
SECRET_KEY = os.getenv("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Set SECRET_KEY (or DEBUG=true for a throwaway dev key).")
    SECRET_KEY = "insecure-debug-only-key"

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", "")
SITE_NAME = os.getenv("SITE_NAME", "HybridHub")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "ninja",
    "django_htmx",
    "axes",
    "apps.core",
    "apps.accounts",
    "apps.providers",
    "apps.policy",
    "apps.budgets",
    "apps.gateway",
    "apps.api",
    "apps.chat",
    "apps.console",
    "apps.analytics",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "servestatic.middleware.ServeStaticMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "apps.core.handlers.content_security_policy",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]

# /v1/ (bearer-token API) skips the browser's middleware: see apps/core/handlers.py.
API_PATH_PREFIX = "/v1/"
API_MIDDLEWARE = [
    "apps.core.handlers.api_security_headers",
    "apps.api.middleware.api_json_errors",  # JSON 404/405 and the Host check on /v1/
]
# A client that announces a body must send all of it within this many seconds
# (both handlers; answered 408), so it cannot hold a worker socket forever.
HYBRIDHUB_BODY_READ_TIMEOUT_SECONDS = envfloat("HYBRIDHUB_BODY_READ_TIMEOUT_SECONDS", "30")
# Requests with more headers, or more header bytes, are answered 431.
HYBRIDHUB_MAX_HEADER_COUNT = envint("HYBRIDHUB_MAX_HEADER_COUNT", "100")
HYBRIDHUB_MAX_HEADER_BYTES = envint("HYBRIDHUB_MAX_HEADER_BYTES", "65536")

ROOT_URLCONF = "hybridhub.urls"
ASGI_APPLICATION = "hybridhub.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.getenv("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}"),
        conn_max_age=envint("DB_CONN_MAX_AGE", "60"),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the writer; IMMEDIATE takes the write lock
    # up front so concurrent writers queue instead of failing mid-transaction.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.getenv("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out account or address before any password is hashed.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Login throttling (django-axes): after this many failures in a row, for an
# account or from a client address, that account or address waits out the cool-off.
AXES_FAILURE_LIMIT = envint("HYBRIDHUB_LOGIN_FAILURE_LIMIT", "5")
AXES_COOLOFF_TIME = timedelta(minutes=envfloat("HYBRIDHUB_LOGIN_COOLOFF_MINUTES", "15"))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# The address the ASGI server gives (uvicorn rewrites it from X-Forwarded-For
# only for proxies it is told to trust: see docs/security.md).
AXES_CLIENT_IP_CALLABLE = "apps.core.handlers.client_address"
AXES_ENABLE_ACCESS_FAILURE_LOG = False
AXES_DISABLE_ACCESS_LOG = True  # failures are what throttling needs; no row per login
AXES_VERBOSE = False
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/chat/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.getenv("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.getenv("STATIC_ROOT", str(BASE_DIR / "var" / "staticfiles")))
# Serve straight from the finders: nothing to collect for a single machine.
SERVESTATIC_USE_FINDERS = True
SERVESTATIC_AUTOREFRESH = DEBUG

# A whole chat request (all messages) must fit in this many bytes.
DATA_UPLOAD_MAX_MEMORY_SIZE = envint("HYBRIDHUB_MAX_REQUEST_BYTES", str(4 * 1024 * 1024))

# Bearer token for Prometheus at /metrics; empty: the endpoint is off (404).
HYBRIDHUB_METRICS_TOKEN = os.getenv("HYBRIDHUB_METRICS_TOKEN", "")

# --- HTTPS and deployment hardening (docs/security.md) ------------------------
# SECURE_HTTPS=true when served over HTTPS: redirect to HTTPS, HSTS, secure cookies.
SECURE_HTTPS = envbool("SECURE_HTTPS", "false")
SECURE_SSL_REDIRECT = SECURE_HTTPS
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", "31536000") if SECURE_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", "true")
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", "false")
if not SECURE_HSTS_PRELOAD:
    # Preloading is a promise to browsers that outlives this server: opt in.
    SILENCED_SYSTEM_CHECKS = ["security.W021"]
SESSION_COOKIE_SECURE = SECURE_HTTPS or envbool("SECURE_COOKIES", "false")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# Behind a reverse proxy that terminates TLS: trust its X-Forwarded-Proto.
# Off by default: a client could otherwise claim HTTPS. (X-Forwarded-For is
# the ASGI server's job: uvicorn --proxy-headers --forwarded-allow-ips.)
if envbool("BEHIND_PROXY", "false"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"
# Every page: scripts and styles only from our own origin (htmx and its SSE
# extension are vendored in static/), no inline script, no framing.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

# --- HybridHub ---------------------------------------------------------------
# How long the in-process provider catalogue is trusted before it is re-read.
HYBRIDHUB_CATALOG_TTL_SECONDS = envfloat("HYBRIDHUB_CATALOG_TTL_SECONDS", "5")
# With REDIS_URL: how often, at most, a process asks whether another one changed
# the catalogue or published a policy (one Redis GET each).
HYBRIDHUB_SNAPSHOT_CHECK_SECONDS = envfloat("HYBRIDHUB_SNAPSHOT_CHECK_SECONDS", "0.25")
# Load local models at server start (keep them warm) rather than on first use.
HYBRIDHUB_PRELOAD_LOCAL_MODELS = envbool("HYBRIDHUB_PRELOAD_LOCAL_MODELS", "true")
# Cap on a cloud retry's wait, whatever Retry-After asks for.
HYBRIDHUB_MAX_RETRY_WAIT_SECONDS = envfloat("HYBRIDHUB_MAX_RETRY_WAIT_SECONDS", "20")
HYBRIDHUB_RETRY_BASE_SECONDS = envfloat("HYBRIDHUB_RETRY_BASE_SECONDS", "0.5")
# Names and addresses by an on-prem NER model (the "ner" extra, part of `make
# install`): auto uses it wherever the extra is installed, on also warns at
# start where it is not, off runs the rule tier alone (decision 0005).
HYBRIDHUB_NER = envswitch("HYBRIDHUB_NER", "auto")
# Where the NER model's int8 graph, derived from the shipped one on first load
# (or by `manage.py ner_derive`), is kept; empty: run the shipped 4-bit graph.
_ner_cache_dir = os.getenv("HYBRIDHUB_NER_CACHE_DIR", str(BASE_DIR / "var" / "ner"))
HYBRIDHUB_NER_CACHE_DIR = Path(_ner_cache_dir) if _ner_cache_dir else None
# The derived graph is a student of the shipped six-layer NER model: its first
# three layers, retrained to label as all six do (about 40 % less CPU per word
# piece; decision 0005, sixth round); off: the six layers.
HYBRIDHUB_NER_STUDENT = envbool("HYBRIDHUB_NER_STUDENT", "on")
# A long NER scan runs half of its windows on a second thread while no other
# scan runs in the process (about 1.4x faster on an idle two-core machine,
# the same labels); off: every scan on its own thread only.
HYBRIDHUB_NER_SECOND_CORE = envbool("HYBRIDHUB_NER_SECOND_CORE", "on")
# Countries (ISO 3166 codes) whose national phone formats ("020 7946 0958",
# "(415) 555-0132") the phone detector accepts without a "+"; in this order.
HYBRIDHUB_PHONE_REGIONS = [
    code.upper() for code in envlist("HYBRIDHUB_PHONE_REGIONS", "US,GB,DE,FR,ES,IT,NL,CA,AU,IN")
]
if set(HYBRIDHUB_PHONE_REGIONS) - phonenumbers.SUPPORTED_REGIONS:
    raise ImproperlyConfigured(
        "HYBRIDHUB_PHONE_REGIONS: unknown region codes "
        + ", ".join(sorted(set(HYBRIDHUB_PHONE_REGIONS) - phonenumbers.SUPPORTED_REGIONS))
    )
# CPython's GIL switch interval for the server process (default 5 ms there).
HYBRIDHUB_SWITCH_INTERVAL_MS = envfloat("HYBRIDHUB_SWITCH_INTERVAL_MS", "0.5")
# Which environment variables may hold provider keys (apps/providers/guards.py).
HYBRIDHUB_PROVIDER_KEY_PREFIX = os.getenv(
    "HYBRIDHUB_PROVIDER_KEY_PREFIX", "HYBRIDHUB_PROVIDER_KEY_"
)
HYBRIDHUB_PROVIDER_KEY_ALLOW = envlist("HYBRIDHUB_PROVIDER_KEY_ALLOW", "OPENAI_API_KEY")
# Provider URLs on loopback (a local vLLM) or link-local/metadata addresses.
HYBRIDHUB_PROVIDER_ALLOW_LOOPBACK = envbool("HYBRIDHUB_PROVIDER_ALLOW_LOOPBACK", "false")
HYBRIDHUB_PROVIDER_ALLOW_LINK_LOCAL = envbool("HYBRIDHUB_PROVIDER_ALLOW_LINK_LOCAL", "false")
# Where local model files (*.gguf) are looked for by the models page.
HYBRIDHUB_MODELS_DIR = Path(os.getenv("HYBRIDHUB_MODELS_DIR") or BASE_DIR / "var" / "models")
# Budgets: calendar periods (day/week/month) reset at midnight in this zone.
HYBRIDHUB_ORG_TIME_ZONE = os.getenv("HYBRIDHUB_ORG_TIME_ZONE") or TIME_ZONE
# A reservation outliving this many seconds belongs to a request that died
# (crash, kill -9): it is released. Keep it above the longest request.
HYBRIDHUB_BUDGET_RESERVATION_TTL_SECONDS = envint("HYBRIDHUB_BUDGET_RESERVATION_TTL_SECONDS", "900")
# How often each process looks for such reservations, at most.
HYBRIDHUB_BUDGET_SWEEP_SECONDS = envfloat("HYBRIDHUB_BUDGET_SWEEP_SECONDS", "30")
# Each process leases slices of block budgets' headroom and
# reserves requests from them in memory (apps/budgets/leases.py, decision 0011).
HYBRIDHUB_BUDGET_LEASES = envbool("HYBRIDHUB_BUDGET_LEASES", "true")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.getenv("LOG_LEVEL", "INFO")},
    "loggers": {
        "httpx": {"level": "WARNING"},
        "openai": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}
