from django.urls import path

from . import views

app_name = "analytics"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("me/", views.me, name="me"),
    path("review/", views.review_page, name="review"),
    path("review/<str:code>/", views.signals, name="signals"),
]
