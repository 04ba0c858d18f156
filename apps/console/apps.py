from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """Browser pages for admins: the routing policy, its simulator and replay."""

    name = "apps.console"
    label = "console"
