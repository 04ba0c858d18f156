from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from apps.analytics.views import metrics

from .api import api, management_api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("v1/", api.urls),
    path("api/v1/", management_api.urls),
    path("metrics", metrics, name="metrics"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/",
        auth_views.PasswordChangeView.as_view(success_url="/chat/"),
        name="password_change",
    ),
    path("policy/", include("apps.console.urls")),
    path("chat/", include("apps.chat.urls")),
    path("budgets/", include("apps.budgets.urls")),
    path("analytics/", include("apps.analytics.urls")),
    path("", RedirectView.as_view(url="/chat/", permanent=False)),
]
