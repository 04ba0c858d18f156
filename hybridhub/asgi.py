"""ASGI entry point: Django for HTTP, Channels for WebSockets (none routed yet).

Lifespan events, which Django ignores, warm the local models at start-up and
free them at shutdown while their native libraries are still loaded.
"""

import logging
import os
import sys
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hybridhub.settings")
django.setup(set_prefix=False)  # what get_asgi_application() does, before our handler

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from apps.core.handlers import APIHandler, BoundedASGIHandler  # noqa: E402

django_asgi_app = BoundedASGIHandler()
api_asgi_app = APIHandler()


async def http(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """API calls to the lean handler, everything else to Django's usual one."""
    app = api_asgi_app if scope["path"].startswith(settings.API_PATH_PREFIX) else django_asgi_app
    await app(scope, receive, send)


logger = logging.getLogger("hybridhub")

# Local models generate in worker threads that take the GIL back after every
# token. With CPython's default 5 ms switch interval, a busy event loop makes
# each token wait for it: ctransformers ran at 74% of its own speed behind the
# server, 100% at 0.5 ms (bench/local_engine.py, docs/decisions/0001).
sys.setswitchinterval(settings.HYBRIDHUB_SWITCH_INTERVAL_MS / 1000)


async def lifespan(scope: dict[str, Any], receive: Any, send: Any) -> None:
    from asgiref.sync import sync_to_async

    from apps.chat.services import answers_interrupted_mark
    from apps.gateway.budgeting import leases_return
    from apps.gateway.services import local_models_warm
    from apps.providers.adapters import adapters_close
    from apps.providers.adapters.json_post import json_posts_close

    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            # Answers that were streaming when the last server stopped end now.
            await sync_to_async(answers_interrupted_mark)()
            if settings.HYBRIDHUB_PRELOAD_LOCAL_MODELS:
                try:
                    await local_models_warm()
                except Exception:  # a broken catalogue must not stop the server
                    logger.exception("Warming local models failed")
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            # Budget leases go back now, not when their rows expire (when an
            # abandoned lease counts as spent in full): requests have ended.
            await sync_to_async(leases_return, thread_sensitive=False)(idle_seconds=0)
            await json_posts_close()  # vendor connections of non-streamed calls
            adapters_close()
            await send({"type": "lifespan.shutdown.complete"})
            return


application = ProtocolTypeRouter(
    {
        "http": http,
        "websocket": AllowedHostsOriginValidator(URLRouter([])),
        "lifespan": lifespan,
    }
)
