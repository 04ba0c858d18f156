from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from .api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("v1/", api.urls),
    # The team chat takes this place; until then the front page is the admin.
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]
