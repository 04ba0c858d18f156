"""Budgets in the Django admin: to look at only. Every change goes through
the budgets page, the management API or ``budget_set`` (services.py), which
keep the running totals right and write the budget log with who and why; the
log itself and the holds are never edited or deleted by hand."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import Budget, BudgetEvent, Reservation


class ViewOnly(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # and so no "delete selected" action


@admin.register(Budget)
class BudgetAdmin(ViewOnly):
    list_display = ["__str__", "limit_micros", "period", "on_limit", "spent_micros",
                     "reserved_micros"]  # fmt: skip
    list_filter = ["scope", "period", "on_limit"]


@admin.register(Reservation)
class ReservationAdmin(ViewOnly):
    list_display = ["hold", "budget", "amount_micros", "created_at", "expires_at"]


@admin.register(BudgetEvent)
class BudgetEventAdmin(ViewOnly):
    list_display = ["created_at", "kind", "budget_label", "actor", "reason"]
    list_filter = ["kind"]
