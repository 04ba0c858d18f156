from django.apps import AppConfig


class ChatConfig(AppConfig):
    """The team chat: conversations in the browser, answers streamed as they come."""

    name = "apps.chat"
    label = "chat"
