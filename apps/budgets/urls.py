from django.urls import path

from . import views

app_name = "budgets"

urlpatterns = [
    path("", views.budgets_page, name="page"),
    path("save/", views.budget_save, name="save"),
    path("<uuid:code>/delete/", views.budget_remove, name="delete"),
    path("<uuid:code>/top-up/", views.budget_add_money, name="top_up"),
    path("<uuid:code>/override/", views.budget_override_set, name="override"),
    path("sidebar/", views.sidebar, name="sidebar"),
]
