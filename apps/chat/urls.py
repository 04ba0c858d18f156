from django.urls import path

from . import views

app_name = "chat"

urlpatterns = [
    path("", views.chat_home, name="home"),
    path("new/", views.conversation_new, name="new"),
    path("team/", views.team_choose, name="team"),
    path("search/", views.conversation_search, name="search"),
    path("preview/", views.preview, name="preview"),
    path("c/<uuid:code>/", views.conversation_page, name="conversation"),
    path("c/<uuid:code>/send/", views.send, name="send"),
    path("c/<uuid:code>/regenerate/", views.regenerate, name="regenerate"),
    path("c/<uuid:code>/edit/", views.edit_last, name="edit"),
    path("c/<uuid:code>/rename/", views.conversation_rename, name="rename"),
    path("c/<uuid:code>/delete/", views.conversation_delete, name="delete"),
    path("c/<uuid:code>/settings/", views.conversation_settings, name="settings"),
    path("answers/<int:pk>/stream/", views.answer_stream, name="stream"),
    path("answers/<int:pk>/stop/", views.stop, name="stop"),
    path("answers/<int:pk>/feedback/", views.feedback, name="feedback"),
    path("answers/<int:pk>/escalation/", views.escalation, name="escalation"),
    path("answers/<int:pk>/escalate/", views.escalate, name="escalate"),
    path("keys/", views.api_keys, name="keys"),
    path("keys/<uuid:code>/revoke/", views.api_key_revoke, name="key_revoke"),
]
